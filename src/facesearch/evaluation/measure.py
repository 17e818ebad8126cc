"""Measure a calibration: impostor and genuine scores of a labelled dataset under a gallery's recipe."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from facesearch.evaluation.dataset import dataset_digest, file_digests, load_dataset, read_groups
from facesearch.evaluation.extract import EmbeddingCache, Progress, extract
from facesearch.evaluation.protocols import MAX_IMPOSTOR_PAIRS, genuine_pairs, impostor_pairs
from facesearch.pipeline.faces import FacePipeline
from facesearch.scoring import error_rates as metrics
from facesearch.scoring.calibration import OVERALL, Calibration, GroupScores, OneToN, calibrate_from_scores
from facesearch.scoring.scores import fpir_threshold, identify_meaning, score_meaning


def measure_calibration(
    dataset_dir: Path,
    pipeline: FacePipeline,
    target_fmr: float,
    *,
    cache: EmbeddingCache | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    max_impostor_pairs: int = MAX_IMPOSTOR_PAIRS,
    group_files: Sequence[str] = (),
    rule: str = OVERALL,
    gallery_faces: int | None = None,
    target_fpir: float = 0.01,
) -> Calibration:
    """The threshold at ``target_fmr`` on DATASET/<identity>/<photo>, embedded by ``pipeline``'s recipe.

    ``group_files`` (``LABEL=FILE`` or ``FILE`` of ``name,label`` lines, as ``evaluate --groups``
    takes them) label photos for per-group figures; under ``rule="worst-group"`` the threshold is
    raised until every measurable group keeps to the target (see
    :func:`facesearch.scoring.calibration.calibrate_from_scores`). With ``gallery_faces`` the
    calibration also reports identify's threshold for ``target_fpir`` at that gallery size and the
    dataset's genuine pairs below it (:class:`~facesearch.scoring.calibration.OneToN`)."""
    dataset = load_dataset(dataset_dir)
    digests = file_digests(dataset.paths)
    extraction = extract(dataset.paths, digests, pipeline.settings, cache, workers, progress, pipeline)
    metric = pipeline.spec.metric
    genuine = genuine_pairs(extraction.vectors, dataset.identity_of, metric)
    impostor, _ = impostor_pairs(extraction.vectors, dataset.identity_of, metric, limit=max_impostor_pairs)
    labels, _ = read_groups(group_files) if group_files else ({}, frozenset())
    groups = []
    for group in sorted(set(labels.values())):
        members = np.asarray([i for i, p in enumerate(dataset.paths) if labels.get(p.name) == group], dtype=np.int64)
        gen = genuine_pairs(extraction.vectors, dataset.identity_of, metric, among=members)
        imp, _ = impostor_pairs(
            extraction.vectors, dataset.identity_of, metric, among=members, limit=max_impostor_pairs
        )
        groups.append(GroupScores(group, gen.scores, imp.scores))
    calibration = calibrate_from_scores(
        genuine.scores,
        impostor.scores,
        target_fmr,
        model_id=pipeline.spec.model_id,
        dataset=str(Path(dataset_dir)),
        dataset_sha256=dataset_digest(dataset, digests),
        created_at=datetime.now(UTC),
        groups=groups,
        rule=rule,
    )
    if gallery_faces is None:
        return calibration
    one_to_n = identify_meaning(score_meaning(pipeline.spec, calibration), gallery_faces, target_fpir).threshold
    return dataclasses.replace(
        calibration,
        one_to_n=OneToN(
            gallery_faces=gallery_faces,
            target_fpir=target_fpir,
            threshold=one_to_n.score,
            expected_fpir=one_to_n.fpir if one_to_n.fpir is not None else 1.0,
            fnmr=metrics.fnmr_at(genuine.scores, one_to_n.score),
            measurable=fpir_threshold(calibration.curve, gallery_faces, target_fpir).measurable,
        ),
    )
