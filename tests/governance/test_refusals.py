"""Every refusal gives a clear, named error and leaves gallery, index and audit chain as they were."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from facesearch.engine import Engine
from facesearch.errors import FacesearchError, PolicyError

from helpers import snapshot

pytestmark = pytest.mark.model

Attempt = Callable[[Engine, dict[str, Path], dict[str, Path]], object]

GOOD = {"subject": "Ada", "source": "staff badge photos", "basis": "contract"}


def _enroll(photo: str, bad: bool = False, **changes: str) -> Attempt:
    def attempt(engine: Engine, photos: dict[str, Path], bad_files: dict[str, Path]) -> object:
        path = bad_files[photo] if bad else photos[photo]
        return engine.acting_as("enroller").enroll(path, **(GOOD | changes))

    return attempt


def _identify(photo: str = "probe", bad: bool = False, **changes: str) -> Attempt:
    def attempt(engine: Engine, photos: dict[str, Path], bad_files: dict[str, Path]) -> object:
        path = bad_files[photo] if bad else photos[photo]
        return engine.acting_as("operator").identify(
            path, **({"purpose": "missing person search", "case": "MP-1"} | changes)
        )

    return attempt


REFUSALS: dict[str, tuple[Attempt, str, str]] = {
    "no source": (_enroll("probe", source=""), "missing-source", "source"),
    "blank source": (_enroll("probe", source="   "), "missing-source", "source"),
    "no basis": (_enroll("probe", basis=""), "missing-lawful-basis", "lawful basis"),
    "unknown basis": (_enroll("probe", basis="because"), "missing-lawful-basis", "not a lawful basis"),
    "retention in the past": (_enroll("probe", retain_until="2001-01-01"), "bad-retention", "past"),
    "retention not a date": (_enroll("probe", retain_until="next year"), "bad-retention", "YYYY-MM-DD"),
    "no subject": (_enroll("probe", subject=""), "bad-input", "subject"),
    "no purpose": (_identify(purpose=""), "missing-purpose", "purpose"),
    "no case": (_identify(case=""), "missing-case", "case"),
    "enroll not an image": (_enroll("not-an-image", bad=True), "not-an-image", "not an image"),
    "enroll truncated": (_enroll("truncated-image", bad=True), "truncated-image", "truncated"),
    "enroll empty": (_enroll("empty-file", bad=True), "empty-file", "empty"),
    "enroll oversized header": (_enroll("image-too-large", bad=True), "image-too-large", "400000000 pixels"),
    "enroll no face": (_enroll("cat"), "no-face", "no face"),
    "enroll two faces": (_enroll("two_faces"), "multiple-faces", "exactly one"),
    "identify not an image": (_identify("not-an-image", bad=True), "not-an-image", "not an image"),
    "identify truncated": (_identify("truncated-image", bad=True), "truncated-image", "truncated"),
    "identify empty": (_identify("empty-file", bad=True), "empty-file", "empty"),
    "identify oversized header": (_identify("image-too-large", bad=True), "image-too-large", "pixels"),
    # names, purposes and cases are one line of printable text of sane length (issue 17, item 10)
    "subject with a newline": (_enroll("probe", subject="Ada\nLovelace"), "invalid-text", "subject name"),
    "subject with an escape sequence": (_enroll("probe", subject="Ada\x1b[31m"), "invalid-text", "U+001B"),
    "subject with a bidi override": (_enroll("probe", subject="Ada\u202eecalevoL"), "invalid-text", "U+202E"),
    "subject of 10 kB": (_enroll("probe", subject="A" * 10_000), "invalid-text", "over the limit of 200"),
    "source of 10 kB": (_enroll("probe", source="s" * 10_000), "invalid-text", "source"),
    "purpose with a newline": (_identify(purpose="missing person search\nx"), "invalid-text", "purpose"),
    "case with a control character": (_identify(case="MP-1\x00"), "invalid-text", "case"),
    "case of 10 kB": (_identify(case="C" * 10_000), "invalid-text", "case is 10000 characters"),
    "authorisation with a newline": (_identify(authorisation="W-1\nW-2"), "invalid-text", "authorisation"),
}


# Photos refused as bad input: audited as photo.refused, with the code, the photo's SHA-256 and size.
PHOTO_REFUSALS = {"not-an-image", "truncated-image", "empty-file", "image-too-large", "no-face", "multiple-faces"}
PURPOSE = "missing person search"


def photo_of(code: str, photos: dict[str, Path], bad_files: dict[str, Path]) -> bytes:
    """The bytes of the photo refused with CODE: a malformed file is named by its code."""
    return (bad_files.get(code) or photos[{"no-face": "cat", "multiple-faces": "two_faces"}[code]]).read_bytes()


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusal_is_named_and_changes_nothing(
    enrolled: Engine, photos: dict[str, Path], bad_files: dict[str, Path], case: str
) -> None:
    attempt, code, words = REFUSALS[case]
    _, index_before, audit_before, subjects_before = before = snapshot(enrolled)
    with pytest.raises(FacesearchError) as caught:
        attempt(enrolled, photos, bad_files)
    assert caught.value.code == code
    assert words in caught.value.message
    if isinstance(caught.value, PolicyError):  # a refused rule is audited, and nothing else changes
        _, index_after, audit_after, subjects_after = snapshot(enrolled)
        assert (index_after, audit_after[:-1], subjects_after) == (index_before, audit_before, subjects_before)
        refusal = enrolled.acting_as("auditor").audit_events()[-1]
        assert refusal.action == "policy.refused" and refusal.details["code"] == code
    elif code in PHOTO_REFUSALS:  # a refused photo is audited (issue 17, item 12), and nothing else changes
        _, index_after, audit_after, subjects_after = snapshot(enrolled)
        assert (index_after, audit_after[:-1], subjects_after) == (index_before, audit_before, subjects_before)
        refusal = enrolled.acting_as("auditor").audit_events()[-1]
        request = "enroll" if case.startswith("enroll") else "identify"
        assert refusal.action == "photo.refused" and refusal.details["code"] == code
        assert refusal.actor == ("enroller" if request == "enroll" else "operator")
        assert refusal.details["request"] == request
        assert (refusal.purpose, refusal.case) == ((None, None) if request == "enroll" else (PURPOSE, "MP-1"))
        assert refusal.details["sha256"] == hashlib.sha256(photo_of(code, photos, bad_files)).hexdigest()
        assert refusal.details["bytes"] == len(photo_of(code, photos, bad_files))
    else:  # any other bad input (a name, a field) leaves no trace at all
        assert snapshot(enrolled) == before
    assert enrolled.audit_verify().ok


def test_a_folders_unusable_photos_are_audited_in_one_event_by_reason(
    engine: Engine, photos: dict[str, Path], bad_files: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "people"
    (folder / "Eileen Collins").mkdir(parents=True)
    (folder / "Eileen Collins" / "good.jpg").write_bytes(photos["astronaut"].read_bytes())
    (folder / "Eileen Collins" / "cat.jpg").write_bytes(photos["cat"].read_bytes())
    for code in ("truncated-image", "not-an-image"):
        for n in range(2):
            (folder / "Eileen Collins" / f"{code}-{n}.jpg").write_bytes(bad_files[code].read_bytes())
    result = engine.acting_as("enroller").enroll_directory(folder, source="s", basis="consent")
    assert result.enrolled == 1 and len(result.rejected) == 5
    [event] = engine.acting_as("auditor").audit_events(action="photo.refused")
    assert event.actor == "enroller"
    assert event.details == {
        "request": "enroll-dir",
        "photos": 5,
        "by_reason": {"no-face": 1, "not-an-image": 2, "truncated-image": 2},
    }
    assert engine.audit_verify().ok
