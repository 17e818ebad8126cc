"""Calibration and evaluation on real photos: what a score means, and the threshold in force."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facesearch.engine import Engine
from facesearch.errors import CalibrationError
from facesearch.evaluation import EmbeddingCache, EvaluationOptions, evaluate
from facesearch.pipeline.recognizers.sface import SFACE_MIRRORED
from facesearch.reports.evaluation import write_report
from facesearch.scoring import error_rates
from facesearch.scoring.calibration import (
    OVERALL,
    WORST_GROUP,
    FmrCurve,
    GroupScores,
    calibrate_from_scores,
    reference_curve,
)

from helpers import snapshot


def test_fmr_curve_reads_the_share_of_impostors_at_or_above_a_score() -> None:
    impostor = np.arange(1, 100_001) / 100_000  # 0.00001 .. 1.0, evenly
    curve = FmrCurve.from_impostor_scores(impostor)
    for score in (0.5, 0.9, 0.99, 0.999):
        assert curve.fmr_at(score) == pytest.approx(1 - score + 1e-5, rel=0.02)
    assert curve.fmr_at(1.5) == 1e-5  # above every impostor: only bounded, by 1 / pairs
    assert curve.fmr_at(-1.0) == 1.0
    assert curve.describe(0.99996) == "a different person scores this high about 1 time in 20,000"
    assert "fewer than 1 in 100,000" in curve.describe(2.0)
    assert FmrCurve.from_json(curve.to_json()) == curve


def test_calibration_refuses_a_target_the_impostors_cannot_measure() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(CalibrationError, match=r"1,000 impostor pairs cannot measure an FMR of 0.0001.*30,000"):
        calibrate_from_scores(
            rng.random(100),
            rng.random(1000),
            1e-4,
            model_id="m",
            dataset="d",
            dataset_sha256="0" * 64,
            created_at=None,  # type: ignore[arg-type]
        )


def _calibrate(genuine: np.ndarray, impostor: np.ndarray, rule: str, groups: list[GroupScores]):  # type: ignore[no-untyped-def]
    return calibrate_from_scores(
        genuine,
        impostor,
        1e-3,
        model_id="m",
        dataset="d",
        dataset_sha256="0" * 64,
        created_at=None,
        groups=groups,
        rule=rule,  # type: ignore[arg-type]
    )


def test_the_worst_group_rule_keeps_every_measurable_group_to_the_target() -> None:
    rng = np.random.default_rng(7)
    # Group "a" draws its impostor scores higher than group "b": at the overall threshold it bears
    # more than its share of false matches, as women did under the stronger models on LFW.
    a = GroupScores("a", rng.normal(0.8, 0.05, 2_000), rng.normal(0.35, 0.1, 20_000))
    b = GroupScores("b", rng.normal(0.8, 0.05, 2_000), rng.normal(0.25, 0.1, 20_000))
    small = GroupScores("c", rng.normal(0.8, 0.05, 50), rng.normal(0.3, 0.1, 500))  # too few to measure 1e-3
    genuine = np.concatenate([a.genuine, b.genuine, small.genuine])
    impostor = np.concatenate([a.impostor, b.impostor, small.impostor, rng.normal(0.3, 0.1, 20_000)])

    overall = _calibrate(genuine, impostor, OVERALL, [a, b, small])
    fair = _calibrate(genuine, impostor, WORST_GROUP, [a, b, small])

    assert overall.rule == OVERALL and overall.threshold == error_rates.threshold_for_fmr(impostor, 1e-3)
    by_group = {g.group: g for g in overall.groups}
    assert by_group["a"].fmr is not None and by_group["a"].fmr > 1e-3  # the differential, reported
    assert by_group["c"].fmr is None and by_group["c"].own_threshold is None  # 500 pairs cannot show 1e-3

    assert fair.rule == WORST_GROUP and fair.overall_threshold == overall.threshold
    assert fair.threshold == by_group["a"].own_threshold > overall.threshold
    for g in fair.groups:
        assert g.fmr is None or g.fmr <= 1e-3
    assert fair.fnmr_cost == pytest.approx(fair.fnmr_at_threshold - overall.fnmr_at_threshold)
    assert fair.fnmr_cost is not None and fair.fnmr_cost >= 0
    assert fair.audit_details()["groups"][0]["group"] == "a"


def test_the_worst_group_rule_needs_a_group_that_can_measure_the_target() -> None:
    rng = np.random.default_rng(1)
    genuine, impostor = rng.normal(0.8, 0.05, 100), rng.normal(0.3, 0.1, 10_000)
    with pytest.raises(CalibrationError, match="needs labelled groups"):
        _calibrate(genuine, impostor, WORST_GROUP, [])
    tiny = [GroupScores("x", genuine[:10], impostor[:100]), GroupScores("y", genuine[10:20], impostor[100:200])]
    with pytest.raises(CalibrationError, match="100 impostor pairs cannot measure an FMR of 0.001 in any one group"):
        _calibrate(genuine, impostor, WORST_GROUP, tiny)
    with pytest.raises(CalibrationError, match="not a calibration rule"):
        _calibrate(genuine, impostor, "fairest", tiny)


@pytest.mark.model
def test_evaluate_a_small_real_dataset_end_to_end(
    labelled_dataset: Path, tmp_path: Path, engine: Engine, bad_files: dict[str, Path]
) -> None:
    dataset = tmp_path / "dataset"
    shutil.copytree(labelled_dataset, dataset)
    for name in ("truncated-image", "empty-file"):  # broken files are counted, not fatal
        (dataset / name).mkdir()
        (dataset / name / f"{name}_0001.jpg").write_bytes(bad_files[name].read_bytes())
    groups = tmp_path / "groups.csv"
    groups.write_text("Eileen_Collins_0001.jpg,x\nGrace_Hopper_0001.jpg,y\n")
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    options = EvaluationOptions(bootstrap=20, holdout=0.0, gallery_sizes=(1000,))
    report = evaluate(dataset, engine.settings, group_files=[str(groups)], cache=cache, options=options)

    assert (report.photos, report.identities) == (11, 5)
    assert report.failures_to_acquire == {"empty-file": 1, "no-face": 1, "truncated-image": 1}
    assert report.model_id == engine.spec.model_id == SFACE_MIRRORED.model_id
    v = report.verification
    assert (v.genuine_pairs, v.impostor_pairs) == (2 * 6, 4 * 4)
    assert v.eer == 0.0  # every same-person pair scores above every different-person pair
    assert all(p.tar.value == 1.0 for p in v.tar_at_far)
    assert not any(p.supported for p in v.tar_at_far)  # 16 impostor pairs measure no FAR below 3 / 16
    ident = report.identification
    assert ident is not None and ident.gallery_size == 2 and ident.mated_searches == 6
    assert ident.rank1.value == 1.0
    # identify's threshold at the evaluation's own gallery size and at the 1,000 faces asked for
    own, large = ident.at_gallery_sizes
    assert (own.gallery_faces, large.gallery_faces) == (2, 1000) and own.threshold <= large.threshold
    assert not large.measurable  # 16 impostor pairs cannot measure 1e-5 a comparison
    assert own.measured_fpir is None  # holdout 0: no search of a person not enrolled to measure it on
    assert report.groups is not None and {g.group for g in report.groups.groups} == {"x", "y"}
    assert report.photos_embedded == 11

    json_path, html_path = write_report(report, tmp_path / "report")
    data = json.loads(json_path.read_text())
    assert data["verification"]["genuine_pairs"] == 12 and data["dataset_sha256"] == report.dataset_sha256
    page = html_path.read_text()
    assert "Identify's threshold by gallery size" in page and "1,000" in page
    assert page.count("data:image/png;base64,") >= 4  # DET, CMC, score histograms overall and per group
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched

    again = evaluate(dataset, engine.settings, cache=cache, options=options)
    assert again.photos_embedded == 0  # every photo, failures included, read back from the cache
    assert again.verification.tar_at_far == report.verification.tar_at_far


@pytest.mark.model
def test_calibration_sets_the_threshold_and_scores_carry_their_fmr(
    labelled_dataset: Path, engine: Engine, photos: dict[str, Path]
) -> None:
    engine.acting_as("enroller").enroll(
        [photos["astronaut"]], subject="Eileen Collins", source="NASA", basis="public-task"
    )
    before = engine.acting_as("operator").identify(photos["probe"], purpose="check", case="C-1")
    assert before.threshold.source == "published"
    shipped = reference_curve(engine.spec)  # without one, FMRs are unmeasured until calibration
    assert (before.faces[0].candidates[0].expected_fmr is None) == (shipped is None)

    unchanged = snapshot(engine)
    with pytest.raises(CalibrationError, match="cannot measure an FMR of 0.0001"):
        engine.calibrate(labelled_dataset, target_fmr=1e-4)
    assert snapshot(engine) == unchanged  # refused: no calibration stored, nothing audited

    calibration = engine.calibrate(labelled_dataset, target_fmr=0.2)
    assert calibration.impostor_pairs == 16 and calibration.fnmr_at_threshold == 0.0
    stored = engine.calibration()
    assert stored is not None and stored.created_at == calibration.created_at
    assert (stored.threshold, stored.curve) == (calibration.threshold, calibration.curve)
    [event] = engine.acting_as("auditor").audit_events(action="gallery.calibrate")
    assert event.seq == calibration.audit_seq
    assert event.details["dataset_sha256"] == calibration.dataset_sha256
    assert event.details["threshold"] == calibration.threshold
    # what it means for identify at the gallery's size: one face, so the 1:1 threshold is the stricter
    assert calibration.one_to_n is not None and calibration.one_to_n.gallery_faces == 1
    assert calibration.one_to_n.threshold == calibration.threshold and calibration.one_to_n.fnmr == 0.0
    assert event.details["one_to_n"] == calibration.one_to_n.to_dict()

    groups = labelled_dataset.parent / "groups.csv"
    groups.write_text("".join(f"{p.name},{p.parent.name[0]}\n" for p in labelled_dataset.rglob("*.jpg")))
    unchanged = snapshot(engine)
    with pytest.raises(CalibrationError, match="in any one group"):  # each group holds one person
        engine.calibrate(labelled_dataset, target_fmr=0.2, groups=[str(groups)], rule=WORST_GROUP)
    assert snapshot(engine) == unchanged
    grouped = engine.calibrate(labelled_dataset, target_fmr=0.2, groups=[str(groups)])
    assert grouped.threshold == calibration.threshold and grouped.groups
    assert all(g.fmr is None for g in grouped.groups)  # one person a group: no impostor pair within
    again = engine.calibration()
    assert again is not None and (again.rule, again.groups, again.fnmr_cost) == (OVERALL, grouped.groups, 0.0)
    calibration = grouped

    after = engine.acting_as("operator").identify(photos["probe"], purpose="check", case="C-1")
    assert after.threshold.source == "calibrated"
    assert after.threshold.score == calibration.threshold
    assert after.threshold.fmr == 0.2
    top = after.faces[0].candidates[0]
    assert top.subject == "Eileen Collins" and top.clears_threshold
    assert top.expected_fmr is not None and top.expected_fmr <= 1 / 16
    assert "fewer than 1 in 16" in top.fmr_meaning
    verdict = engine.acting_as("operator").verify(photos["astronaut"], photos["hopper"], purpose="check", case="C-1")
    assert verdict.threshold.source == "calibrated" and verdict.expected_fmr is not None
