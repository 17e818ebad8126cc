"""On real labelled faces (LFW, outside the repository): people are found at rank 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesearch.engine import Engine
from facesearch.errors import MultipleFacesError

from helpers import require_lfw

pytestmark = [pytest.mark.model, pytest.mark.lfw]

PEOPLE = [
    "Ariel_Sharon",
    "Colin_Powell",
    "Donald_Rumsfeld",
    "Gerhard_Schroeder",
    "Hugo_Chavez",
    "Jean_Chretien",
    "John_Ashcroft",
    "Junichiro_Koizumi",
    "Serena_Williams",
    "Tony_Blair",
]


def test_each_person_is_found_at_rank_one(engine: Engine) -> None:
    lfw = require_lfw()
    probes: dict[str, Path] = {}
    for name in PEOPLE:
        photos = sorted((lfw / "images" / name).glob("*.jpg"))
        enrolled = 0
        while enrolled < 2:  # photos showing more than one clear face are refused; take the next
            photo = photos.pop(0)
            try:
                engine.acting_as("enroller").enroll(
                    photo, subject=name, source="LFW (evaluation only)", basis="legitimate-interest"
                )
                enrolled += 1
            except MultipleFacesError:
                continue
        probes[name] = photos[0]
    for name, probe in probes.items():
        result = engine.acting_as("operator").identify(probe, purpose="accuracy test", case="LFW")
        main = max(result.faces, key=lambda f: f.box.width * f.box.height)
        assert main.candidates[0].subject == name
        assert main.candidates[0].clears_threshold


def test_worst_group_calibration_keeps_women_and_men_to_the_target(engine: Engine, tmp_path: Path) -> None:
    """On LFW's sex labels (used to measure error rates only, never inferred), the worst-group rule
    raises the threshold until each group's within-group FMR keeps to the target."""
    lfw = require_lfw()
    dataset, lists = tmp_path / "dataset", []
    for label in ("female", "male"):
        names = (lfw / f"{label}_names.txt").read_text().split()
        people = sorted({n.rsplit("_", 1)[0] for n in names})
        chosen = [p for p in people if len(list((lfw / "images" / p).glob("*.jpg"))) >= 2][:60]
        for person in chosen:
            (dataset / person).mkdir(parents=True)
            for photo in sorted((lfw / "images" / person).glob("*.jpg"))[:2]:
                (dataset / person / photo.name).symlink_to(photo)
        lists.append(f"{label}={lfw / f'{label}_names.txt'}")
    fair = engine.calibrate(dataset, target_fmr=1e-3, groups=lists, rule="worst-group", workers=2)
    assert {g.group for g in fair.groups} == {"female", "male"}
    assert fair.overall_threshold is not None and fair.threshold >= fair.overall_threshold
    for group in fair.groups:
        assert group.impostor_pairs >= 3_000 and group.fmr is not None and group.fmr <= 1e-3
    assert fair.fnmr_cost is not None and fair.fnmr_cost >= 0
