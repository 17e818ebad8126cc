"""1:N operating points: identify's threshold is set for a false-positive identification rate (FPIR)
at the gallery's size, verify keeps its 1:1 threshold."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import facesearch
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.pipeline.models import DlibModels
from facesearch.scoring.calibration import FmrCurve
from facesearch.scoring.scores import ScoreMeaning, fpir_threshold, identify_meaning
from facesearch.types import Threshold

ONE_TO_ONE = Threshold(0.30, "1:1 threshold of the recipe.", "published", fmr=None)


def _curve(rng: np.random.Generator, pairs: int = 2_000_000) -> FmrCurve:
    return FmrCurve.from_impostor_scores(rng.normal(0.0, 0.1, pairs))


def test_the_threshold_keeps_searches_of_people_not_enrolled_near_the_target_fpir() -> None:
    """Simulated non-mated searches of galleries of 100 and 1,000 faces, each a maximum over fresh
    impostor scores of the measured distribution, clear the threshold in about 1% of searches."""
    rng = np.random.default_rng(7)
    curve = _curve(rng)
    meaning = ScoreMeaning(ONE_TO_ONE, curve)
    searches = 4000
    for n in (100, 1000):  # 2M impostor pairs measure FMRs down to 1.5e-6: 1% FPIR up to ~6,700 faces
        threshold = identify_meaning(meaning, n, 0.01).threshold
        assert threshold.scope == "1:N" and threshold.gallery_faces == n and threshold.target_fpir == 0.01
        assert threshold.source == "reference FPIR"  # set for its FPIR, above the 1:1 threshold
        assert threshold.fpir == pytest.approx(0.01, rel=0.05)
        best = np.array([rng.normal(0.0, 0.1, n).max() for _ in range(searches)])
        cleared = int(np.count_nonzero(best >= threshold.score))
        assert 20 <= cleared <= 65, f"{cleared} of {searches} searches cleared it at N = {n}"  # 40 expected


def test_the_threshold_rises_with_the_gallery_and_never_falls_below_the_1_to_1_threshold() -> None:
    curve = _curve(np.random.default_rng(1))
    meaning = ScoreMeaning(dataclasses.replace(ONE_TO_ONE, score=0.35), curve)
    scores = [identify_meaning(meaning, n, 0.01).threshold for n in (1, 10, 1000, 3000, 100_000)]
    assert [t.score for t in scores] == sorted(t.score for t in scores)
    small = scores[0]  # one face: an FMR of 0.01 per comparison would allow 0.23; the 1:1 threshold applies
    assert small.score == 0.35 and small.source == "published" and "1:1 threshold (0.3500) is stricter" in small.meaning
    assert small.fpir is not None and small.fpir < 0.01
    assert scores[2].score > 0.35 and "a candidate above it in about 1% of searches" in scores[2].meaning


def test_a_target_the_measurement_cannot_support_is_said_and_not_pretended() -> None:
    curve = _curve(np.random.default_rng(2), 100_000)  # measures FMRs down to 3e-5
    at = fpir_threshold(curve, 1_000_000, 0.01)  # would need 1e-8 per comparison
    assert not at.measurable and at.per_comparison_fmr == pytest.approx(1.005e-8, rel=1e-3)
    assert at.score == pytest.approx(curve.score_at(3e-5))
    assert at.fpir > 0.99  # what the threshold where the measurement stops gives, not the target
    threshold = identify_meaning(ScoreMeaning(ONE_TO_ONE, curve), 1_000_000, 0.01).threshold
    assert threshold.fpir == at.fpir and "lower than 100,000 impostor pairs can measure" in threshold.meaning


def test_without_a_measured_curve_the_1_to_1_threshold_applies_and_the_fpir_is_unknown() -> None:
    threshold = identify_meaning(ScoreMeaning(ONE_TO_ONE, None), 5000, 0.01).threshold
    assert (threshold.score, threshold.fpir, threshold.scope, threshold.gallery_faces) == (0.30, None, "1:N", 5000)
    assert "how often a person who is not enrolled gets a candidate above it is unknown" in threshold.meaning


def test_the_curve_inverse_reads_back_its_own_rates() -> None:
    curve = _curve(np.random.default_rng(3), 500_000)
    for fmr in (1e-5, 3.3e-4, 0.01, 0.2):
        assert curve.fmr_at(curve.score_at(fmr)) == pytest.approx(fmr, rel=1e-6)


def test_settings_refuse_a_target_fpir_outside_0_to_1() -> None:
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(facesearch.errors.ConfigError, match="target_fpir"):
            Settings(target_fpir=bad)


@pytest.mark.model
def test_identify_answers_with_the_1_to_n_threshold_and_verify_with_the_1_to_1(
    enrolled: Engine, photos: dict[str, Path], models: DlibModels
) -> None:
    operator = enrolled.acting_as("operator")
    one_to_one = operator.verify(photos["astronaut"], photos["probe"], purpose="missing person search", case="MP-7")
    assert one_to_one.threshold.scope == "1:1" and one_to_one.threshold.score == enrolled.spec.published_threshold
    found = operator.identify(photos["probe"], purpose="missing person search", case="MP-7")
    assert found.threshold.scope == "1:N" and found.threshold.gallery_faces == found.gallery_size == 2
    # two faces at the default 1% FPIR: sface's 1:1 threshold (FMR 0.0012 on LFW) is the stricter
    assert found.threshold.score == one_to_one.threshold.score and found.threshold.fpir is not None
    assert found.threshold.fpir < 0.01 and "'verify' compares two photos once" in found.threshold.meaning

    strict = dataclasses.replace(enrolled.settings, target_fpir=1e-5)
    with facesearch.open(enrolled.home.root, actor="tester", settings=strict, models=models) as engine:
        operator = engine.acting_as("operator")
        found = operator.identify(photos["probe"], purpose="missing person search", case="MP-7")
        verified = operator.verify(photos["astronaut"], photos["probe"], purpose="missing person search", case="MP-7")
        [event] = engine.acting_as("auditor").audit_events(action="search.identify")[-1:]
    t = found.threshold
    assert t.source == "reference FPIR" and t.score > enrolled.spec.published_threshold and t.target_fpir == 1e-5
    assert t.fpir == pytest.approx(1e-5, rel=0.05)
    assert verified.threshold.score == enrolled.spec.published_threshold  # verify is not moved by FPIR
    [face] = found.faces
    assert face.candidates[0].subject == "Eileen Collins"
    assert all(c.clears_threshold == (c.score >= t.score) for c in face.candidates)
    assert (event.details["threshold"], event.details["target_fpir"]) == (t.score, 1e-5)
    assert event.details["expected_fpir"] == t.fpir and event.details["threshold_source"] == "reference FPIR"
