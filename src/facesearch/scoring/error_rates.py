"""Biometric error rates in the terms of ISO/IEC 19795-1 and NIST's face recognition tests.

Pure numpy over score arrays; nothing here knows about images, models or galleries.

Conventions, used everywhere in facesearch:

- scores are *higher means more alike*; a comparison is a **match** when ``score >= threshold``;
- 1:1: FMR(t) is the share of impostor comparisons (different people) with ``score >= t``; FNMR(t)
  the share of genuine comparisons (same person) with ``score < t``; TAR = 1 - FNMR;
- 1:N: FPIR(t) is the share of non-mated searches (the person is not in the gallery) whose best
  candidate has ``score >= t``; FNIR(t) the share of mated searches whose mate is not the rank-1
  candidate with ``score >= t`` (NIST's FNIR at rank 1); the CMC at rank r is the share of mated
  searches whose mate is within the first r candidates, at any score;
- every rate may be *weighted* (an array of non-negative weights, one per comparison or search):
  this is how the bootstrap over identities resamples without copying scores;
- a rate is **supported** by n comparisons when ``n * rate >= 3``: with fewer, observing no error
  would still leave the true rate's 95% upper bound (3/n, the rule of three) above it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]
Weights = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

RULE_OF_THREE = 3.0


def supported(n: float, rate: float) -> bool:
    """Whether ``n`` comparisons can measure a rate as small as ``rate`` (the rule of three)."""
    return n * rate >= RULE_OF_THREE


def _weights(scores: Scores, weights: Weights | None) -> Weights:
    return np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)


def _share(mask: npt.NDArray[np.bool_], weights: Weights) -> float:
    total = float(weights.sum())
    return float(weights[mask].sum()) / total if total > 0 else float("nan")


def fmr_at(impostor: Scores, threshold: float, weights: Weights | None = None) -> float:
    """False match rate: the (weighted) share of impostor scores ``>= threshold``."""
    return _share(np.asarray(impostor) >= threshold, _weights(impostor, weights))


def fnmr_at(genuine: Scores, threshold: float, weights: Weights | None = None) -> float:
    """False non-match rate: the (weighted) share of genuine scores ``< threshold``."""
    return _share(np.asarray(genuine) < threshold, _weights(genuine, weights))


def threshold_for_fmr(
    impostor: Scores, target: float, weights: Weights | None = None, *, descending: bool = False
) -> float:
    """The lowest threshold whose FMR is at most ``target``.

    It is always one of the impostor scores (so ``score >= t`` admits exactly that share), or just
    above the highest one when even a single impostor would exceed the target. ``descending=True``
    says the scores (and weights) are already sorted highest first, which saves the sort when one
    set of scores is asked many times (the bootstrap).
    """
    return thresholds_for_fmrs(impostor, [target], weights, descending=descending)[0]


def thresholds_for_fmrs(
    impostor: Scores, targets: Sequence[float], weights: Weights | None = None, *, descending: bool = False
) -> list[float]:
    """:func:`threshold_for_fmr` for several targets, sorting and summing the scores once."""
    scores = np.asarray(impostor, dtype=np.float64)
    w = _weights(scores, weights)
    if len(scores) == 0 or w.sum() <= 0:
        return [float("nan")] * len(targets)
    if not descending:
        order = np.argsort(-scores, kind="stable")
        scores, w = scores[order], w[order]
    cum = np.cumsum(w) / w.sum()
    last_of_value = np.append(scores[1:] != scores[:-1], True)  # FMR at t = this score counts all ties
    out = []
    for target in targets:
        # cum is non-decreasing: the admissible positions are a prefix; take its last end-of-ties
        end = int(np.searchsorted(cum, target + 1e-12, side="right"))
        ok = np.flatnonzero(last_of_value[:end])
        out.append(float(scores[ok[-1]]) if len(ok) else float(np.nextafter(scores[0], np.inf)))
    return out


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """One point of a DET curve: at ``threshold``, these rates."""

    threshold: float
    fmr: float
    fnmr: float
    supported: bool  # enough impostor comparisons to measure ``fmr`` (the rule of three)

    @property
    def tar(self) -> float:
        return 1.0 - self.fnmr


def operating_point(
    genuine: Scores,
    impostor: Scores,
    target_fmr: float,
    genuine_weights: Weights | None = None,
    impostor_weights: Weights | None = None,
) -> OperatingPoint:
    """TAR at FAR: the threshold for ``target_fmr`` and the rates measured there."""
    return operating_points(genuine, impostor, [target_fmr], genuine_weights, impostor_weights)[0]


def operating_points(
    genuine: Scores,
    impostor: Scores,
    target_fmrs: Sequence[float],
    genuine_weights: Weights | None = None,
    impostor_weights: Weights | None = None,
    *,
    descending: bool = False,
) -> list[OperatingPoint]:
    """:func:`operating_point` for several targets, sorting the impostor scores once (or never,
    with ``descending=True`` for scores and weights already sorted highest first)."""
    thresholds = thresholds_for_fmrs(impostor, target_fmrs, impostor_weights, descending=descending)
    n = float(_weights(impostor, impostor_weights).sum())
    return [
        OperatingPoint(
            threshold=t,
            fmr=fmr_at(impostor, t, impostor_weights),
            fnmr=fnmr_at(genuine, t, genuine_weights),
            supported=supported(n, target),
        )
        for target, t in zip(target_fmrs, thresholds, strict=True)
    ]


def det_curve(genuine: Scores, impostor: Scores, max_points: int = 400) -> list[OperatingPoint]:
    """FMR and FNMR at thresholds spread over the score range, from strict to lenient.

    Thresholds are the impostor scores at log-spaced FMRs (the tail matters most) plus evenly spaced
    genuine scores, at most ``max_points`` in all.
    """
    imp, gen = np.sort(np.asarray(impostor, dtype=np.float64)), np.sort(np.asarray(genuine, dtype=np.float64))
    if len(imp) == 0 or len(gen) == 0:
        return []
    half = max_points // 2
    ranks = np.unique(np.geomspace(1, len(imp), half).astype(np.int64))
    picks = np.concatenate([imp[len(imp) - ranks], gen[np.linspace(0, len(gen) - 1, half).astype(np.int64)]])
    thresholds = np.unique(picks)[::-1]
    fmr = (len(imp) - np.searchsorted(imp, thresholds, "left")) / len(imp)
    fnmr = np.searchsorted(gen, thresholds, "left") / len(gen)
    return [
        OperatingPoint(float(t), float(a), float(b), supported(len(imp), float(a)) or a == 0.0)
        for t, a, b in zip(thresholds, fmr, fnmr, strict=True)
    ]


def equal_error_rate(genuine: Scores, impostor: Scores) -> tuple[float, float]:
    """(EER, threshold): the rate where FMR and FNMR cross, as their mean at the closest threshold."""
    gen, imp = np.sort(np.asarray(genuine, np.float64)), np.sort(np.asarray(impostor, np.float64))
    if len(gen) == 0 or len(imp) == 0:
        return float("nan"), float("nan")
    thresholds = np.unique(np.concatenate([gen, imp]))
    fmr = (len(imp) - np.searchsorted(imp, thresholds, "left")) / len(imp)
    fnmr = np.searchsorted(gen, thresholds, "left") / len(gen)
    best = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[best] + fnmr[best]) / 2), float(thresholds[best])


# --- the LFW protocol: accuracy with the threshold chosen on the other folds -------------------------


def best_accuracy_threshold(scores: Scores, same: npt.NDArray[np.bool_]) -> float:
    """The threshold (match when ``score >= t``) with the highest accuracy on these pairs; it is a
    midpoint between neighbouring distinct scores (or just outside their range)."""
    finite = scores[np.isfinite(scores)]
    u = np.unique(finite)
    if len(u) == 0:
        return 0.0
    cands = np.concatenate(([u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]))
    pos, neg = np.sort(scores[same]), np.sort(scores[~same])
    correct = (len(pos) - np.searchsorted(pos, cands, "left")) + np.searchsorted(neg, cands, "left")
    return float(cands[int(np.argmax(correct))])


@dataclasses.dataclass(frozen=True)
class FoldAccuracy:
    mean: float
    std: float
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]


def kfold_accuracy(scores: Scores, same: npt.NDArray[np.bool_], fold_of: Labels) -> FoldAccuracy:
    """Each fold is scored at the threshold that maximises accuracy on all other folds (LFW View 2).

    A pair whose score is ``-inf`` (no face found) is predicted "different". One fold alone is fit
    on itself (an optimistic figure, for quick checks only).
    """
    folds = np.unique(fold_of)
    accs, thresholds = [], []
    for f in folds:
        test = fold_of == f
        train = ~test if len(folds) > 1 else test
        t = best_accuracy_threshold(scores[train], same[train])
        accs.append(float(np.mean((scores[test] >= t) == same[test])))
        thresholds.append(t)
    return FoldAccuracy(float(np.mean(accs)), float(np.std(accs)), tuple(accs), tuple(thresholds))


# --- 1:N ----------------------------------------------------------------------------------------


def cmc(ranks: Labels, at: Sequence[int], weights: Weights | None = None) -> dict[int, float]:
    """Cumulative match characteristic: the share of mated searches with the mate at rank <= r."""
    r = np.asarray(ranks)
    w = _weights(r.astype(np.float64), weights)
    return {int(k): _share(r <= k, w) for k in at}


def fpir_at(nonmated_top: Scores, threshold: float, weights: Weights | None = None) -> float:
    """False positive identification rate: non-mated searches whose best score is ``>= threshold``."""
    return fmr_at(nonmated_top, threshold, weights)


def fnir_at(ranks: Labels, mate_scores: Scores, threshold: float, weights: Weights | None = None) -> float:
    """False negative identification rate at rank 1: mated searches whose mate is not the top
    candidate or scores below ``threshold``."""
    hit = (np.asarray(ranks) == 1) & (np.asarray(mate_scores) >= threshold)
    return _share(~hit, _weights(np.asarray(mate_scores, np.float64), weights))


@dataclasses.dataclass(frozen=True)
class IdentificationPoint:
    """FNIR at a target FPIR, with the threshold that gives it."""

    target_fpir: float
    threshold: float
    fpir: float
    fnir: float
    supported: bool  # enough non-mated searches to measure ``target_fpir``


def identification_point(
    ranks: Labels,
    mate_scores: Scores,
    nonmated_top: Scores,
    target_fpir: float,
    mated_weights: Weights | None = None,
    nonmated_weights: Weights | None = None,
) -> IdentificationPoint:
    t = threshold_for_fmr(nonmated_top, target_fpir, nonmated_weights)
    n = float(_weights(np.asarray(nonmated_top, np.float64), nonmated_weights).sum())
    return IdentificationPoint(
        target_fpir=target_fpir,
        threshold=t,
        fpir=fpir_at(nonmated_top, t, nonmated_weights),
        fnir=fnir_at(ranks, mate_scores, t, mated_weights),
        supported=supported(n, target_fpir),
    )


# --- bootstrap over identities ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Interval:
    """A figure with its 95% bootstrap interval (percentile method, resampling identities)."""

    value: float
    low: float
    high: float
    replicates: int


Statistic = Callable[[npt.NDArray[np.float64]], float]  # identity multiplicities -> figure
Statistics = Callable[[npt.NDArray[np.float64]], npt.ArrayLike]  # identity multiplicities -> figures


def bootstrap_identities(
    statistic: Statistic, n_identities: int, replicates: int = 200, seed: int = 0, level: float = 0.95
) -> Interval:
    """Resample identities with replacement ``replicates`` times and recompute ``statistic``.

    ``statistic`` receives one multiplicity per identity (how often the replicate drew it; all ones
    for the observed data) and turns them into weights for its comparisons: a genuine comparison or
    a search weighs its identity's multiplicity, an impostor comparison the product of both.
    """
    return bootstrap_many(lambda m: [statistic(m)], n_identities, replicates, seed, level)[0]


def bootstrap_many(
    statistics: Statistics, n_identities: int, replicates: int = 200, seed: int = 0, level: float = 0.95
) -> list[Interval]:
    """:func:`bootstrap_identities` for several figures computed together from one replicate."""
    values = np.atleast_1d(np.asarray(statistics(np.ones(n_identities)), dtype=np.float64))
    rng = np.random.default_rng(seed)
    draws = np.empty((replicates, len(values)))
    for r in range(replicates):
        counts = np.bincount(rng.integers(0, n_identities, n_identities), minlength=n_identities)
        draws[r] = np.asarray(statistics(counts.astype(np.float64)), dtype=np.float64)
    tail = (1 - level) / 2 * 100
    out = []
    for k, value in enumerate(values):
        finite = draws[:, k][np.isfinite(draws[:, k])]
        if len(finite) == 0:
            out.append(Interval(float(value), float("nan"), float("nan"), replicates))
            continue
        low, high = np.percentile(finite, [tail, 100 - tail])
        out.append(Interval(float(value), float(low), float(high), replicates))
    return out
