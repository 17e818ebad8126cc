"""Names, purposes and cases are stored as the text they are (issue 17, item 10): NFC-normalised,
so one name typed on two systems is one subject, and refused, naming the field, when they hold a
control character or run past their length limit, whichever front end they come through."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from facesearch.engine import Engine
from facesearch.errors import InvalidTextError
from facesearch.governance.policy import NAME_MAX_CHARS, clean_text

from helpers import snapshot


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Ada\nLovelace", "U+000A"),
        ("Ada\rLovelace", "U+000D"),
        ("Ada\x1b]0;owned\x07", "U+001B"),
        ("Ada\u2028Lovelace", "U+2028"),
        ("\u2066Ada\u2069", "U+2066"),
        ("x" * (NAME_MAX_CHARS + 1), f"over the limit of {NAME_MAX_CHARS}"),
    ],
)
def test_clean_text_refuses_naming_the_field(text: str, words: str) -> None:
    with pytest.raises(InvalidTextError, match="case") as caught:
        clean_text(text, "case")
    assert words in caught.value.message and caught.value.code == "invalid-text"


def test_clean_text_keeps_names_of_every_script() -> None:
    for name in ("Zoë Ångström", "李小龍", "محمد علي", "O'Brien-Smith, Jr.", "Al_Gore[i][/i]", "नमस्ते\u200d"):
        assert clean_text(f"  {name} ", "subject name") == unicodedata.normalize("NFC", name)
    assert clean_text("Jose\u0301", "subject name") == "José"  # decomposed (as macOS names files) to composed
    assert clean_text("Ada\r\n", "subject name") == "Ada"  # whitespace around is trimmed, not refused


@pytest.mark.model
def test_a_name_typed_decomposed_or_composed_is_one_subject(engine: Engine, photos: dict[str, Path]) -> None:
    enroller = engine.acting_as("enroller")
    enroller.enroll(photos["astronaut"], subject="Jose\u0301", source="s", basis="consent")
    again = enroller.enroll(photos["probe"], subject="José", source="s", basis="consent")
    assert [s.name for s in engine.subjects()] == ["José"] and again.subject == "José"


@pytest.mark.model
def test_enroll_dir_rejects_a_folder_whose_name_is_not_a_subject_name(
    engine: Engine, photos: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "staff"
    for folder, photo in (("Eileen Collins", "astronaut"), ("Grace\x1bHopper", "hopper")):
        (root / folder).mkdir(parents=True)
        (root / folder / "1.jpg").write_bytes(photos[photo].read_bytes())
    result = engine.acting_as("enroller").enroll_directory(root, source="s", basis="consent")
    assert [s.name for s in engine.subjects()] == ["Eileen Collins"]
    [rejected] = result.rejected
    assert rejected.reason == "bad-subject-name" and "U+001B" in rejected.message


def test_purposes_users_references_and_reasons_are_checked_too(engine: Engine) -> None:
    before = snapshot(engine)
    attempts = {
        "purpose": lambda: engine.purposes.add("access review\n[injected]"),
        "user name": lambda: engine.accounts.add_user("eve\x1b[2J", "operator"),
        "reason": lambda: engine.retention.purge(reason="r" * 10_000),
    }
    for field, attempt in attempts.items():
        with pytest.raises(InvalidTextError, match=field):
            attempt()
    assert snapshot(engine) == before
