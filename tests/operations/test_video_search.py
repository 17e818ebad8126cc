"""Searching a video (issue 20): candidates per track of a face, cited by the time of its frame,
under every rule a photo's search is under (purpose and case, role, case membership, quota,
opt-outs, audit with the video's SHA-256). The videos are made by the tests from real photos."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

import facesearch
from facesearch.engine import Engine
from facesearch.errors import (
    CaseMembershipError,
    NoFaceError,
    PermissionDeniedError,
    PurposeNotAllowedError,
    QuotaExceededError,
)
from facesearch.pipeline.decode import NamedPhoto
from facesearch.pipeline.models import DlibModels

from helpers import write_video

pytestmark = pytest.mark.model

WHY = {"purpose": "missing person search", "case": "MP-50"}


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """Grace Hopper, then a cut to Eileen Collins (her photo mirrored: other pixels than enrolled)."""
    astronaut = Image.open(photos["astronaut"]).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    hopper = Image.open(photos["hopper"]).convert("RGB")
    return write_video(tmp_path_factory.mktemp("footage") / "cctv.mkv", [(hopper, 2), (astronaut, 2)])


@pytest.fixture(scope="module")
def empty_room(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    cat = Image.open(photos["cat"]).convert("RGB")
    return write_video(tmp_path_factory.mktemp("room") / "room.mp4", [(cat, 1)])


def test_a_video_is_searched_per_track_and_audited_by_its_sha256(enrolled: Engine, footage: Path) -> None:
    result = enrolled.acting_as("operator").identify(footage, **WHY)
    assert result.video and result.probe_sha256 == hashlib.sha256(footage.read_bytes()).hexdigest()
    assert [face.candidates[0].subject for face in result.faces] == ["Grace Hopper", "Eileen Collins"]
    assert all(face.candidates[0].clears_threshold for face in result.faces)
    hopper, collins = result.faces
    assert hopper.seen_at is not None and hopper.seen_at.startswith("00:00:0")
    assert hopper.start_s == 0.0 and 2.0 <= collins.start_s <= collins.time_s <= collins.end_s  # type: ignore[operator]
    [event] = enrolled.acting_as("auditor").audit_events(action="search.identify")
    assert (event.probe_sha256, event.case) == (result.probe_sha256, WHY["case"])
    assert [track["track"] for track in event.details["video"]] == [1, 2]
    # The same video given as its bytes (an upload's) is the same probe.
    again = enrolled.acting_as("operator").identify(NamedPhoto(footage.read_bytes(), "cctv.mkv"), **WHY)
    assert again.probe_sha256 == result.probe_sha256 and len(again.faces) == 2


def test_a_video_search_is_refused_as_a_photos_is(enrolled: Engine, footage: Path, empty_room: Path) -> None:
    with pytest.raises(PermissionDeniedError):
        enrolled.acting_as("verifier").identify(footage, **WHY)
    with pytest.raises(PurposeNotAllowedError):
        enrolled.acting_as("operator").identify(footage, purpose="curiosity", case="MP-50")
    enrolled.acting_as("operator").identify(footage, **WHY)  # the case is now the operator's
    enrolled.accounts.add_user("operator-2", "operator")
    with pytest.raises(CaseMembershipError):
        enrolled.acting_as("operator-2").identify(footage, **WHY)
    with pytest.raises(NoFaceError, match="no usable face found in the probe video"):
        enrolled.acting_as("operator").identify(empty_room, **WHY)
    [refused] = enrolled.acting_as("auditor").audit_events(action="photo.refused")
    assert refused.details["code"] == "no-face"
    assert refused.details["sha256"] == hashlib.sha256(empty_room.read_bytes()).hexdigest()
    assert [e.actor for e in enrolled.acting_as("auditor").audit_events(action="search.identify")] == ["operator"]


def test_opted_out_faces_are_withheld_from_a_videos_candidates(
    enrolled: Engine, footage: Path, photos: dict[str, Path]
) -> None:
    enrolled.acting_as("enroller").opt_outs.record(photos["astronaut"], request_ref="REQ-20")
    result = enrolled.acting_as("operator").identify(footage, **WHY)
    assert "Eileen Collins" not in {c.subject for face in result.faces for c in face.candidates}
    assert enrolled.acting_as("auditor").audit_events(action="search.identify")[-1].details["suppressed"] >= 1


def test_a_video_search_counts_against_the_quota(enrolled: Engine, footage: Path, models: DlibModels) -> None:
    tight = enrolled.settings.replace(search_quota_per_hour=1)
    with facesearch.open(enrolled.home.root, actor="operator", settings=tight, models=models) as operator:
        operator.identify(footage, **WHY)
        with pytest.raises(QuotaExceededError):
            operator.identify(footage, **WHY)
