"""The error-rate arithmetic against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facesearch.scoring import error_rates as m

TENTHS = np.round(np.arange(1, 11) / 10, 2)  # 0.1, 0.2, ... 1.0


def test_fmr_and_fnmr_count_a_score_equal_to_the_threshold_as_a_match() -> None:
    assert m.fmr_at(TENTHS, 0.9) == pytest.approx(0.2)  # 0.9 and 1.0
    assert m.fnmr_at(np.array([0.85, 0.95, 0.6, 0.99]), 0.95) == pytest.approx(0.5)  # 0.85, 0.6


@pytest.mark.parametrize(("target", "threshold", "fmr"), [(0.2, 0.9, 0.2), (0.25, 0.9, 0.2), (0.1, 1.0, 0.1)])
def test_threshold_for_fmr_is_the_lowest_impostor_score_within_the_target(
    target: float, threshold: float, fmr: float
) -> None:
    t = m.threshold_for_fmr(TENTHS, target)
    assert t == threshold
    assert m.fmr_at(TENTHS, t) == pytest.approx(fmr)


def test_threshold_for_fmr_goes_above_every_impostor_when_one_would_be_too_many() -> None:
    t = m.threshold_for_fmr(TENTHS, 0.05)
    assert t > 1.0 and t == np.nextafter(1.0, 2.0)
    assert m.fmr_at(TENTHS, t) == 0.0


def test_threshold_for_fmr_never_splits_tied_scores() -> None:
    tied = np.array([0.5, 0.5, 0.5, 0.1])
    t = m.threshold_for_fmr(tied, 0.5)  # admitting the 0.5s would be FMR 0.75
    assert t > 0.5 and m.fmr_at(tied, t) == 0.0
    assert m.threshold_for_fmr(tied, 0.75) == 0.5


def test_weights_count_a_comparison_that_many_times() -> None:
    weights = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 3.0])  # the 1.0 impostor drawn three times
    assert m.fmr_at(TENTHS, 1.0, weights) == pytest.approx(3 / 12)
    assert m.threshold_for_fmr(TENTHS, 0.25, weights) == 1.0
    assert m.threshold_for_fmr(TENTHS, 0.2, weights) > 1.0


def test_tar_at_far_and_whether_the_impostors_support_it() -> None:
    genuine = np.array([0.85, 0.95, 0.6, 0.99, 1.0])
    point = m.operating_point(genuine, TENTHS, 0.1)
    assert point.threshold == 1.0
    assert point.fmr == pytest.approx(0.1)
    assert point.tar == pytest.approx(0.2)  # only the genuine 1.0 reaches it
    assert not point.supported  # 10 impostors x 0.1 = 1 expected error < 3
    assert m.operating_point(genuine, np.tile(TENTHS, 3), 0.1).supported


def test_equal_error_rate_where_the_rates_cross() -> None:
    genuine = np.array([0.6, 0.7, 0.8, 0.9])
    impostor = np.array([0.1, 0.2, 0.3, 0.65])
    assert m.equal_error_rate(genuine, impostor) == (0.25, 0.65)
    assert m.equal_error_rate(np.array([0.9, 1.0]), np.array([0.1, 0.2]))[0] == 0.0


def test_det_curve_runs_from_strict_to_lenient() -> None:
    rng = np.random.default_rng(1)
    genuine, impostor = rng.normal(0.7, 0.1, 2000), rng.normal(0.2, 0.1, 20000)
    curve = m.det_curve(genuine, impostor, max_points=100)
    assert 2 <= len(curve) <= 100
    thresholds = [p.threshold for p in curve]
    assert thresholds == sorted(thresholds, reverse=True)
    assert all(a.fmr <= b.fmr and a.fnmr >= b.fnmr for a, b in zip(curve, curve[1:], strict=False))
    # the curve reaches down to the single highest impostor score
    assert min(p.fmr for p in curve if p.fmr > 0) == pytest.approx(1 / 20000)
    for p in curve[::10]:
        assert p.fmr == pytest.approx(m.fmr_at(impostor, p.threshold))
        assert p.fnmr == pytest.approx(m.fnmr_at(genuine, p.threshold))


def test_kfold_accuracy_fits_each_fold_on_the_others() -> None:
    # fold 0 separates at 0.5, fold 1 at 0.5 too except one genuine pair at 0.45
    scores = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.45, 0.3, 0.2])
    same = np.array([True, True, False, False, True, True, False, False])
    fold = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    result = m.kfold_accuracy(scores, same, fold)
    # fold 0 is tested at a threshold fit on fold 1 (between 0.3 and 0.45): all 4 right;
    # fold 1 at one fit on fold 0 (between 0.2 and 0.8, the midpoint 0.5): 3 of 4 right
    assert result.fold_accuracies == (1.0, 0.75)
    assert result.mean == pytest.approx(0.875)
    assert result.fold_thresholds[0] == pytest.approx(0.375)
    assert result.fold_thresholds[1] == pytest.approx(0.5)


def test_kfold_accuracy_counts_a_missing_face_as_different() -> None:
    scores = np.array([0.9, -np.inf, 0.1, 0.2])
    same = np.array([True, True, False, False])
    result = m.kfold_accuracy(scores, same, np.zeros(4, dtype=np.int64))
    assert result.mean == 0.75


def test_cmc_counts_mates_within_each_rank() -> None:
    ranks = np.array([1, 1, 2, 5, 60])
    assert m.cmc(ranks, [1, 5, 10, 50, 100]) == {1: 0.4, 5: 0.8, 10: 0.8, 50: 0.8, 100: 1.0}


def test_fnir_at_fpir_on_a_worked_example() -> None:
    nonmated_top = TENTHS
    ranks = np.array([1, 1, 2, 1])
    mate_scores = np.array([1.0, 0.95, 1.0, 1.2])
    point = m.identification_point(ranks, mate_scores, nonmated_top, 0.1)
    assert point.threshold == 1.0 and point.fpir == pytest.approx(0.1)
    # misses: the mate at 0.95 (below threshold) and the one at rank 2
    assert point.fnir == pytest.approx(0.5)
    assert not point.supported


def test_bootstrap_is_reproducible_and_brackets_the_value() -> None:
    per_identity = np.repeat([0.0, 1.0], 50)  # 100 identities, half of them always wrong

    def mean_error(multiplicity: np.ndarray) -> float:
        return float(np.average(per_identity, weights=multiplicity))

    a = m.bootstrap_identities(mean_error, 100, replicates=400, seed=7)
    b = m.bootstrap_identities(mean_error, 100, replicates=400, seed=7)
    assert a == b
    assert a.value == 0.5
    # the binomial standard error is 0.05, so the 95% interval is about 0.40 .. 0.60
    assert a.low == pytest.approx(0.40, abs=0.03) and a.high == pytest.approx(0.60, abs=0.03)
    constant = m.bootstrap_identities(lambda w: 0.25, 10, replicates=20)
    assert (constant.low, constant.high) == (0.25, 0.25)


def test_supported_is_the_rule_of_three() -> None:
    assert m.supported(30_000, 1e-4)
    assert not m.supported(29_999, 1e-4)
    assert math.isnan(m.threshold_for_fmr(np.array([]), 0.1))
