"""Hostile input at the command line: malformed photos, names that try to pass for others, a full
disk. Each is refused with its exit status and a one-line message naming the problem, never a
traceback, and leaves the gallery as it was."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import facesearch

from helpers import init_staffed, refused_photos_since, snapshot, token_for

pytestmark = pytest.mark.model


TOKENS: dict[tuple[Path, str], str] = {}  # (home, user) -> the user's own token


def token(home: Path, user: str) -> str:
    """USER's own token for the gallery in HOME, as they would get it (cli-tester, its admin, issues
    an activation code and the user redeems it); made once, before any test fills the disk."""
    if (home, user) not in TOKENS:
        with facesearch.open(home, actor="cli-tester") as admin:
            TOKENS[home, user] = token_for(admin, user)
    return TOKENS[home, user]


def cli(home: Path, user: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI as a new process, run by USER with their own token."""
    env = os.environ | {"FACESEARCH_HOME": str(home), "COLUMNS": "200", "FACESEARCH_TOKEN": token(home, user)}
    return subprocess.run(
        [sys.executable, "-m", "facesearch", *map(str, args)],
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
    token(home, "operator"), token(home, "enroller")
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
        codes = [code for _, code in (malformed_files[n] for n in ("jpeg-head.jpg", "webp-half.webp"))]
        assert refused_photos_since(engine, before) == [c for code in codes for c in (code, code)]


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


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB file system (tmpfs), mounted for the test and unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; tests/operations/test_full_disk.py covers a full database")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def _fill(disk: Path, leave_bytes: int) -> Path:
    """Fill DISK with one file until the file system refuses more, then give back LEAVE_BYTES."""
    filler = disk / "filler"
    # unbuffered: a last write that only partly fits must not leave bytes for close() to fail on
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(filler, filler.stat().st_size - leave_bytes)
    return filler


def test_enroll_dir_on_a_full_file_system_exits_7_and_a_rerun_finishes(
    small_disk: Path, labelled_dataset: Path
) -> None:
    home = small_disk / "home"
    init_staffed(home, actor="cli-tester").close()
    (home / "facesearch.toml").write_text("enroll_batch_faces = 1\n")
    token(home, "enroller")  # issued while there is room
    filler = _fill(small_disk, leave_bytes=48 * 1024)
    args = ("enroll-dir", labelled_dataset, "--source", "HR archive", "--basis", "contract", "--workers", "1")
    full = cli(home, "enroller", *args)
    assert full.returncode == 7, full.stderr
    assert "(storage-full)" in full.stderr and "Traceback" not in full.stderr and "sqlalchemy" not in full.stderr

    filler.unlink()
    with facesearch.open(home, actor="cli-tester") as engine:  # consistent: chain intact, index = gallery
        assert engine.audit_verify().ok
        stored = sum(s.images for s in engine.subjects())
        assert engine.index_info().size == sum(s.faces for s in engine.subjects())
    again = cli(home, "enroller", *args)
    assert again.returncode == 0, again.stderr
    with facesearch.open(home, actor="cli-tester") as engine:
        assert {s.name: s.images for s in engine.subjects()} == {"Eileen Collins": 4, "Grace Hopper": 4}
        assert engine.index_info().size == 8 and engine.audit_verify().ok
    assert f"{8 - stored} faces enrolled" in again.stdout
