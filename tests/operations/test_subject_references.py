"""A subject is reached by its name, or by its id only when marked as one (``id:6eb6a3...``), and a
reference that could mean two subjects is refused (issue 17, item 6: with a subject named "123"
whose id was 6eb6a36764f4145c and another subject named "6eb6a36764f4145c", ``erase
6eb6a36764f4145c`` erased "123"). The rule is the core's, so the CLI, the API and the web UI agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesearch.engine import Engine
from facesearch.errors import AmbiguousSubjectError, InvalidTextError, SubjectNotFoundError

from helpers import snapshot

pytestmark = pytest.mark.model


@pytest.fixture
def impostor(engine: Engine, photos: dict[str, Path]) -> tuple[Engine, str, str]:
    """A gallery of "123" and a second subject named after the first one's id: (engine, id of
    "123", id of the subject named so)."""
    enroller = engine.acting_as("enroller")
    first = enroller.enroll(photos["astronaut"], subject="123", source="s", basis="consent").subject_id
    second = enroller.enroll(photos["hopper"], subject=first, source="s", basis="consent").subject_id
    return engine, first, second


def test_a_name_that_is_another_subjects_id_is_refused_as_ambiguous(impostor: tuple[Engine, str, str]) -> None:
    engine, first, second = impostor
    before = snapshot(engine)
    for attempt in (lambda: engine.erase(first, reason="r"), lambda: engine.acting_as("auditor").subject_report(first)):
        with pytest.raises(AmbiguousSubjectError) as caught:
            attempt()
        assert f"id:{first}" in caught.value.message and f"id:{second}" in caught.value.message
    assert snapshot(engine) == before


def test_ids_are_taken_only_when_marked(impostor: tuple[Engine, str, str]) -> None:
    engine, first, second = impostor
    with pytest.raises(SubjectNotFoundError, match=f"write id:{second}"):
        engine.acting_as("auditor").subject_report(second)  # a bare id is not a name
    assert engine.acting_as("auditor").subject_report(f"id:{second}").name == first
    erased = engine.erase(f"id:{first}", reason="erasure request")
    assert erased.subject_id == first
    assert [(s.name, s.subject_id) for s in engine.subjects()] == [(first, second)]  # the other one stays
    assert engine.acting_as("auditor").subject_report(first).subject_id == second  # no longer ambiguous


def test_a_subject_name_may_not_look_like_an_id_reference(engine: Engine, photos: dict[str, Path]) -> None:
    with pytest.raises(InvalidTextError, match="marks a subject's id"):
        engine.acting_as("enroller").enroll(photos["astronaut"], subject="ID:123", source="s", basis="consent")
