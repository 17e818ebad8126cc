"""1:N candidate ranking and 1:1 scoring. Scores are always *higher means more alike*."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from facesearch.errors import ModelMismatchError
from facesearch.index.base import VectorIndex
from facesearch.models import EmbedderSpec
from facesearch.types import Candidate, Embedding, Metric, Threshold

SubjectLookup = Callable[[list[int]], Mapping[int, tuple[str, str]]]  # face id -> (subject id, name)


def published_threshold(spec: EmbedderSpec) -> Threshold:
    return Threshold(score=spec.published_threshold, meaning=spec.threshold_meaning, source="published")


def compare(a: Embedding, b: Embedding) -> float:
    """Score of two embeddings of the same model; raises ModelMismatchError otherwise."""
    a.require_same_model(b)
    va, vb = a.vector.astype(np.float64), b.vector.astype(np.float64)
    if a.metric is Metric.COSINE:
        norms = float(np.linalg.norm(va) * np.linalg.norm(vb))
        return float(va @ vb) / max(norms, 1e-12)
    return float(1.0 - np.linalg.norm(va - vb))


def rank_subjects(
    index: VectorIndex, probe: Embedding, k: int, threshold: Threshold, lookup: SubjectLookup
) -> tuple[Candidate, ...]:
    """The k best subjects for one probe face; a subject's score is that of its best face.

    Asks the index for more faces until k distinct subjects are found or the index is exhausted.
    """
    if probe.model_id != index.info.model_id:
        raise ModelMismatchError(
            f"cannot search an index of model {index.info.model_id!r} with an embedding of {probe.model_id!r}"
        )
    total = len(index)
    n_faces = max(1, min(total, max(4 * k, 32)))
    while True:
        hits = index.search(probe.vector, n_faces)
        found = hits.ids[0] >= 0
        ids = [int(i) for i in hits.ids[0][found]]
        subjects = lookup(ids)
        best: dict[str, tuple[float, int, str]] = {}
        for face_id, score in zip(ids, hits.scores[0][found], strict=True):
            if face_id in subjects:
                subject_id, name = subjects[face_id]
                if subject_id not in best:
                    best[subject_id] = (float(score), face_id, name)
        if len(best) >= k or n_faces >= total:
            break
        n_faces = min(total, n_faces * 4)
    ranked = sorted(best.items(), key=lambda item: -item[1][0])[:k]
    return tuple(
        Candidate(
            rank=rank,
            subject=name,
            subject_id=subject_id,
            score=round(score, 6),
            clears_threshold=score >= threshold.score,
            face_id=face_id,
        )
        for rank, (subject_id, (score, face_id, name)) in enumerate(ranked, start=1)
    )
