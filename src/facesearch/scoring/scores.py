"""What a score means (the threshold in force, the false-match rate at any score) and 1:1 scoring.
Scores are always *higher means more alike*; 1:N ranking is :mod:`facesearch.operations.ranking`.

A 1:1 comparison and a 1:N search need different thresholds. ``verify`` compares two faces once, so
its threshold is read at a false-match rate (FMR) per comparison. ``identify`` compares the probe
with every face of the gallery, so a person who is not enrolled gets *some* candidate above a
threshold far more often than one comparison would: the false-positive identification rate
(FPIR) at N faces is ``1 - (1 - FMR)^N``, about N times the FMR while that is small. The 1:N
threshold is therefore set for a target FPIR at the gallery's current size (:func:`identify_meaning`),
from the same impostor measurement, and it rises as the gallery grows. It never falls below the 1:1
threshold: identify marks no candidate that verify would call a different person.
"""

from __future__ import annotations

import dataclasses
import math
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


def comparison_fmr_for_fpir(target_fpir: float, gallery_faces: int) -> float:
    """The false-match rate per comparison at which a search of ``gallery_faces`` faces returns
    someone above the threshold with probability ``target_fpir`` (comparisons taken as independent)."""
    return -math.expm1(math.log1p(-target_fpir) / max(1, gallery_faces))


def fpir_for_comparison_fmr(fmr: float, gallery_faces: int) -> float:
    """The share of searches of ``gallery_faces`` faces, for a person not enrolled, that return
    someone above a threshold whose false-match rate per comparison is ``fmr``."""
    if fmr >= 1.0:
        return 1.0
    return -math.expm1(max(1, gallery_faces) * math.log1p(-fmr))


@dataclasses.dataclass(frozen=True)
class FpirThreshold:
    """The threshold at which a search of ``gallery_faces`` faces returns someone above it for about
    ``target_fpir`` of people not enrolled, from an FMR curve (no 1:1 floor applied)."""

    gallery_faces: int
    target_fpir: float
    per_comparison_fmr: float  # the rate each comparison must keep to
    score: float
    fpir: float  # predicted at ``score`` (above ``target_fpir`` where not ``measurable``)
    measurable: bool  # the curve's impostor pairs can measure ``per_comparison_fmr`` (rule of three)


def fpir_threshold(curve: FmrCurve, gallery_faces: int, target_fpir: float) -> FpirThreshold:
    """Where the curve cannot measure the per-comparison rate the target needs, the threshold stops
    at the lowest rate it can measure, and the FPIR predicted there is reported instead."""
    n = max(1, gallery_faces)
    per_comparison = comparison_fmr_for_fpir(target_fpir, n)
    floor = curve.lowest_supported_fmr()
    score = curve.score_at(max(per_comparison, floor))
    fpir = fpir_for_comparison_fmr(curve.fmr_at(score), n)
    return FpirThreshold(gallery_faces, target_fpir, per_comparison, score, fpir, per_comparison >= floor)


def identify_meaning(meaning: ScoreMeaning, gallery_faces: int, target_fpir: float) -> ScoreMeaning:
    """The 1:N threshold for a search of ``gallery_faces`` faces, set for ``target_fpir`` from the
    FMR curve of ``meaning`` (the gallery's calibration, else the shipped reference), and never below
    the 1:1 threshold of ``meaning``. Where the curve cannot measure the per-comparison rate the target
    needs (rule of three), the threshold stops at the lowest rate it can, and the answer says what
    FPIR that gives. Without a curve the 1:1 threshold stands, and the answer says the FPIR is unknown.
    """
    one = meaning.threshold
    n = max(1, gallery_faces)
    curve = meaning.curve
    if curve is None:
        text = (
            f"{one.meaning} 1:N: no false-match rate is measured for this model, so the 1:1 threshold applies to "
            f"each of the gallery's {_faces(gallery_faces)}, and how often a person who is not enrolled gets a "
            "candidate above it is unknown."
        )
        unknown = dataclasses.replace(
            one, meaning=text, scope="1:N", target_fpir=target_fpir, gallery_faces=gallery_faces
        )
        return ScoreMeaning(unknown, None)
    fitted_at = fpir_threshold(curve, n, target_fpir)
    fitted = fitted_at.score
    measured_by = (
        "this gallery's calibration"
        if one.source == "calibrated"
        else "facesearch's reference measurement on LFW (LFW's population, not this gallery's)"
    )
    score = max(fitted, one.score)
    fmr = one.fmr if fitted <= one.score and one.fmr is not None else curve.fmr_at(score)
    fpir = fpir_for_comparison_fmr(fmr, n)
    text = (
        f"1:N threshold {score:.4f} for a search of this gallery's {_faces(gallery_faces)}: a person who is not "
        f"enrolled gets a candidate above it in about {_share(fpir)} of searches (target {target_fpir:g}), from "
        f"{measured_by}, {curve.impostor_pairs:,} impostor pairs."
    )
    if fitted <= one.score:
        text += (
            f" At this size the target would allow a lower threshold; the 1:1 threshold ({one.score:.4f}) "
            "is stricter and applies, so no candidate that 'verify' would call a different person clears it."
        )
    elif not fitted_at.measurable:
        text += (
            f" The target needs a false-match rate of {fitted_at.per_comparison_fmr:.1g} per comparison, lower "
            f"than {curve.impostor_pairs:,} impostor pairs can measure ({curve.lowest_supported_fmr():.1g}): the "
            "threshold stops there. "
            "Calibrate on a larger dataset, or expect more false candidates than the target."
        )
    text += f" 'verify' compares two photos once, at the 1:1 threshold {one.score:.4f}."
    if fitted <= one.score:
        source = one.source
    else:
        source = "calibrated FPIR" if one.source == "calibrated" else "reference FPIR"
    threshold = Threshold(score, text, source, fmr, "1:N", target_fpir, fpir, gallery_faces)
    return ScoreMeaning(threshold, curve)


def _faces(n: int) -> str:
    return "1 face" if n == 1 else f"{n:,} faces"


def _share(rate: float) -> str:
    """A rate as a share in words: 1.0% ; 0.02% ; 45%."""
    if rate >= 0.1:
        return f"{rate:.0%}"
    return f"{rate:.2g}" if rate < 1e-4 else f"{rate * 100:.2g}%"


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
