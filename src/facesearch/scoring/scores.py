"""What a score means (the threshold in force, the false-match rate at any score) and 1:1 scoring.
Scores are always *higher means more alike*; 1:N ranking is :mod:`facesearch.operations.ranking`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.pipeline.models import EmbedderSpec
from facesearch.scoring.calibration import Calibration, FmrCurve, reference_curve
from facesearch.types import Embedding, Metric, Threshold

SubjectLookup = Callable[[list[int]], Mapping[int, tuple[str, str]]]  # face id -> (subject id, name)


def published_threshold(spec: EmbedderSpec) -> Threshold:
    return Threshold(score=spec.published_threshold, meaning=spec.threshold_meaning, source="published")


@dataclasses.dataclass(frozen=True)
class ScoreMeaning:
    """The threshold in force and the FMR curve that says what any score means (None: unmeasured)."""

    threshold: Threshold
    curve: FmrCurve | None

    def expected_fmr(self, score: float) -> tuple[float | None, str]:
        if self.curve is None:
            return None, "no false-match rate measured for this model"
        return self.curve.fmr_at(score), self.curve.describe(score)


def score_meaning(spec: EmbedderSpec, calibration: Calibration | None) -> ScoreMeaning:
    """The gallery's calibration if it has one; else the published threshold and the reference curve."""
    if calibration is not None:
        c = calibration
        meaning = (
            f"{spec.metric.value} score, higher is more alike; threshold {c.threshold:.4f} set on "
            f"{c.created_at:%Y-%m-%d} from {c.impostor_pairs:,} impostor pairs of dataset {c.dataset_sha256[:12]} "
            f"for a false-match rate of {c.target_fmr:g} (a different person reaches it about 1 time in "
            f"{round(1 / c.target_fmr):,}); {c.fnmr_at_threshold:.1%} of same-person pairs there fell below it"
        )
        return ScoreMeaning(Threshold(c.threshold, meaning, "calibrated", c.target_fmr), c.curve)
    published = published_threshold(spec)
    curve = reference_curve(spec)
    if curve is None:
        return ScoreMeaning(published, None)
    fmr = curve.fmr_at(published.score)
    meaning = (
        f"{published.meaning} Not calibrated on this gallery ('facesearch calibrate'): expected false-match "
        f"rates come from facesearch's reference measurement on LFW ({fmr:.2g} at this threshold)."
    )
    return ScoreMeaning(dataclasses.replace(published, meaning=meaning, fmr=fmr), curve)


def compare(a: Embedding, b: Embedding) -> float:
    """Score of two embeddings of the same model; raises ModelMismatchError otherwise."""
    a.require_same_model(b)
    va, vb = (e.vector.astype(np.float64)[None, :] for e in (a, b))
    return float(paired_scores(va, vb, a.metric)[0])


def paired_scores(
    a: npt.ArrayLike, b: npt.ArrayLike, metric: Metric, *, unit: bool = False
) -> npt.NDArray[np.floating[Any]]:
    """Row-by-row scores of two (n, d) matrices of one model's embeddings (``compare``, vectorised),
    computed in the inputs' precision: float32 rows are scored as the vector index scores them.
    ``unit=True`` says every row already has length 1 (as cosine indexes store them): no norms."""
    va, vb = np.asarray(a), np.asarray(b)
    dtype = np.result_type(va, vb, np.float32)
    va, vb = va.astype(dtype, copy=False), vb.astype(dtype, copy=False)
    if metric is Metric.COSINE:
        scores: npt.NDArray[np.floating[Any]] = np.einsum("ij,ij->i", va, vb)
        if not unit:
            scores /= np.maximum(np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1), 1e-12)
    else:
        diff = va - vb
        scores = 1.0 - np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return scores


def score_matrix(a: npt.ArrayLike, b: npt.ArrayLike, metric: Metric) -> npt.NDArray[np.float64]:
    """Scores of every row of ``a`` (n, d) against every row of ``b`` (m, d): an (n, m) matrix."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if metric is Metric.COSINE:
        va = va / np.maximum(np.linalg.norm(va, axis=1, keepdims=True), 1e-12)
        vb = vb / np.maximum(np.linalg.norm(vb, axis=1, keepdims=True), 1e-12)
        scores: npt.NDArray[np.float64] = va @ vb.T
        return scores
    sq = np.einsum("ij,ij->i", va, va)[:, None] + np.einsum("ij,ij->i", vb, vb)[None, :] - 2 * (va @ vb.T)
    scores = 1.0 - np.sqrt(np.maximum(sq, 0.0))
    return scores
