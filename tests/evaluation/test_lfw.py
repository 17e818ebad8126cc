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
