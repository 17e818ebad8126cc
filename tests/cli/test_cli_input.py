"""Hostile input at the command line: malformed photos, names that try to pass for others, a full
disk. Each is refused with its exit status and a one-line message naming the problem, never a
traceback, and leaves the gallery as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import facesearch

from helpers import init_staffed, snapshot

pytestmark = pytest.mark.model


def cli(home: Path, actor: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"FACESEARCH_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "facesearch", "--actor", actor, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    place = tmp_path / "home"
    init_staffed(place, actor="cli-tester").close()
    return place


def test_photos_pillow_fails_on_exit_3_naming_the_problem(
    home: Path, malformed_files: dict[str, tuple[Path, str]]
) -> None:
    with facesearch.open(home, actor="cli-tester") as engine:
        before = snapshot(engine)
    for name in ("jpeg-head.jpg", "webp-half.webp"):
        path, code = malformed_files[name]
        done = cli(home, "operator", "identify", path, "--purpose", "p", "--case", "c")
        assert done.returncode == 3, done.stderr
        assert f"({code})" in done.stderr and str(path) in done.stderr
        assert "Traceback" not in done.stderr
        done = cli(home, "enroller", "enroll", path, "--subject", "Ada", "--source", "s", "--basis", "consent")
        assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    with facesearch.open(home, actor="cli-tester") as engine:
        assert snapshot(engine) == before


def test_names_print_as_the_text_they_are(home: Path, photos: dict[str, Path]) -> None:
    with facesearch.open(home, actor="enroller") as engine:
        engine.enroll(photos["astronaut"], subject="Al_Gore[i][/i] :smile:", source="s", basis="consent")
    listed = cli(home, "cli-tester", "subjects")
    assert listed.returncode == 0, listed.stderr
    assert "Al_Gore[i][/i] :smile:" in listed.stdout  # Rich once printed "Al_Gore 😄"


def test_a_name_with_a_control_character_exits_3_naming_the_field(home: Path, photos: dict[str, Path]) -> None:
    name = "Grace\x1b[2JHopper"  # an escape sequence that clears the screen
    done = cli(home, "enroller", "enroll", photos["hopper"], "--subject", name, "--source", "s", "--basis", "consent")
    assert done.returncode == 3, done.stderr
    assert "(invalid-text)" in done.stderr and "subject name" in done.stderr and "\x1b" not in done.stderr


def test_erase_takes_a_bare_reference_as_a_name_and_refuses_an_ambiguous_one(
    home: Path, photos: dict[str, Path]
) -> None:
    with facesearch.open(home, actor="enroller") as engine:
        first = engine.enroll(photos["astronaut"], subject="123", source="s", basis="consent").subject_id
        second = engine.enroll(photos["hopper"], subject=first, source="s", basis="consent").subject_id
    refused = cli(home, "cli-tester", "erase", first, "--reason", "r")
    assert refused.returncode == 3 and "(ambiguous-subject)" in refused.stderr, refused.stderr
    report = cli(home, "cli-tester", "subject-report", f"id:{second}")
    assert report.returncode == 0 and f"subject {second}" in report.stdout, report.stderr
    erased = cli(home, "cli-tester", "erase", f"id:{first}", "--reason", "r")
    assert erased.returncode == 0 and f"erased subject id:{first}" in erased.stdout, erased.stderr
    with facesearch.open(home, actor="cli-tester") as engine:
        assert [s.name for s in engine.subjects()] == [first]
