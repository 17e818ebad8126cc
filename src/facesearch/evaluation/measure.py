"""Measure a calibration: impostor and genuine scores of a labelled dataset under a gallery's recipe."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from facesearch.evaluation.dataset import dataset_digest, file_digests, load_dataset
from facesearch.evaluation.extract import EmbeddingCache, Progress, extract
from facesearch.evaluation.protocols import MAX_IMPOSTOR_PAIRS, genuine_pairs, impostor_pairs
from facesearch.pipeline.faces import FacePipeline
from facesearch.scoring.calibration import Calibration, calibrate_from_scores


def measure_calibration(
    dataset_dir: Path,
    pipeline: FacePipeline,
    target_fmr: float,
    *,
    cache: EmbeddingCache | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    max_impostor_pairs: int = MAX_IMPOSTOR_PAIRS,
) -> Calibration:
    """The threshold at ``target_fmr`` on DATASET/<identity>/<photo>, embedded by ``pipeline``'s recipe."""
    dataset = load_dataset(dataset_dir)
    digests = file_digests(dataset.paths)
    extraction = extract(dataset.paths, digests, pipeline.settings, cache, workers, progress, pipeline)
    metric = pipeline.spec.metric
    genuine = genuine_pairs(extraction.vectors, dataset.identity_of, metric)
    impostor, _ = impostor_pairs(extraction.vectors, dataset.identity_of, metric, limit=max_impostor_pairs)
    return calibrate_from_scores(
        genuine.scores,
        impostor.scores,
        target_fmr,
        model_id=pipeline.spec.model_id,
        dataset=str(Path(dataset_dir)),
        dataset_sha256=dataset_digest(dataset, digests),
        created_at=datetime.now(UTC),
    )
