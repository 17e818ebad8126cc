"""A new user's first search, as the README tells it (issue 18): the admin's one scripted
``facesearch init`` sets the retention period, a purpose and the first users with their activation
codes; each user redeems their code and acts with their own token: an operator's first search is
then three commands in all (init, activate, identify), and no rule is relaxed on the way."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

PURPOSE = "building access review"


def _run(home: Path, credentials: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI as a new process run by the person whose credentials file is CREDENTIALS."""
    env = os.environ | {"FACESEARCH_HOME": str(home), "FACESEARCH_CREDENTIALS": str(credentials), "COLUMNS": "200"}
    env.pop("FACESEARCH_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "facesearch", *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def _codes(output: str) -> dict[str, str]:
    """The activation code init printed for each user it added."""
    found = re.findall(r"added (\S+) \(\w+\); their activation code.*?\n(fsa_\S+)", output, flags=re.DOTALL)
    return dict(found)


def test_three_commands_to_a_first_search(tmp_path: Path, photos: dict[str, Path]) -> None:
    home, admin, clerk, analyst = (tmp_path / n for n in ("home", "admin.toml", "clerk.toml", "analyst.toml"))
    made = _run(
        home,
        admin,
        "--actor",
        "admin-1",
        "init",
        "--retention-days",
        "730",
        "--purpose",
        PURPOSE,
        "--user",
        "hr-clerk:enroller",
        "--user",
        "analyst-7:operator",
    )
    assert made.returncode == 0, made.stderr
    assert "retention period: 730 days" in made.stdout and f"searches may serve {PURPOSE!r}" in made.stdout
    codes = _codes(made.stdout)
    assert sorted(codes) == ["analyst-7", "hr-clerk"]

    # the enroller: their code becomes their own token, then the gallery's first photo
    assert _run(home, clerk, "activate", codes["hr-clerk"]).returncode == 0
    enrolled = _run(
        home,
        clerk,
        "enroll",
        photos["astronaut"],
        "--subject",
        "Eileen Collins",
        "--source",
        "NASA",
        "--basis",
        "consent",
    )
    assert enrolled.returncode == 0, enrolled.stderr

    # the operator: two commands after init
    assert _run(home, analyst, "activate", codes["analyst-7"]).returncode == 0
    found = _run(home, analyst, "identify", photos["probe"], "--purpose", PURPOSE, "--case", "SEC-14")
    assert found.returncode == 0, found.stderr
    assert "Eileen Collins" in found.stdout and "not identifications" in found.stdout

    # the admin never saw a token but their own; the users' tokens live only in their own files
    clerk_token = re.search(r'token = "([^"]+)"', clerk.read_text()).group(1)  # type: ignore[union-attr]
    assert clerk_token not in made.stdout + admin.read_text()
    assert admin.stat().st_mode & 0o777 == 0o600 and clerk.stat().st_mode & 0o777 == 0o600

    # the rules hold: the admin may not search, and the refusal says who may and how they are added
    refused = _run(home, admin, "identify", photos["probe"], "--purpose", PURPOSE, "--case", "SEC-14")
    assert refused.returncode == 4
    assert "facesearch users add NAME --role operator" in " ".join(refused.stderr.split())
    # a search for a purpose init did not allow is refused
    assert _run(home, analyst, "identify", photos["probe"], "--purpose", "curiosity", "--case", "X").returncode == 4


def test_init_run_again_sets_up_as_the_admin_of_the_token(tmp_path: Path) -> None:
    home, admin, other = tmp_path / "home", tmp_path / "admin.toml", tmp_path / "other.toml"
    assert _run(home, admin, "--actor", "admin-1", "init").returncode == 0
    again = _run(home, admin, "init", "--purpose", PURPOSE, "--user", "v1:verifier")
    assert again.returncode == 0, again.stderr
    assert list(_codes(again.stdout)) == ["v1"]
    # someone without the admin's token cannot set anything up by running init, whatever --actor says
    claimed = _run(home, other, "--actor", "admin-1", "init", "--user", "mallory:admin")
    assert claimed.returncode == 4 and "mallory" not in claimed.stdout


def test_a_bad_user_flag_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for flag, words in (("x:boss", "is not a role"), ("nobody", "NAME:ROLE")):
        refused = _run(home, tmp_path / "admin.toml", "init", "--user", flag)
        assert refused.returncode == 3 and words in refused.stderr
    assert not (home / "gallery.sqlite3").exists()


def test_init_at_a_terminal_asks_for_the_rules_and_people(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import facesearch
    from facesearch.cli import app, start

    monkeypatch.setattr(start, "at_terminal", lambda: True)
    home = tmp_path / "home"
    answers = "a year\n365\n" + f"{PURPOSE}\n\n" + "hr-clerk:enroller\nanalyst-7:boss\nanalyst-7:operator\n\n"
    result = CliRunner().invoke(app, ["--home", str(home), "--actor", "admin-1", "init"], input=answers)
    assert result.exit_code == 0, result.output
    assert sorted(_codes(result.output)) == ["analyst-7", "hr-clerk"]
    assert "not 'a year'" in result.output and "'boss' is not a role" in result.output  # and asked again
    with facesearch.open(home, actor="admin-1") as engine:
        assert engine.retention.period() == 365
        assert [p.name for p in engine.purposes.list()] == [PURPOSE]
        assert {u.name: u.role.value for u in engine.accounts.users()} == {
            "admin-1": "admin",
            "analyst-7": "operator",
            "hr-clerk": "enroller",
        }
    # --no-input asks nothing, at a terminal too
    again = CliRunner().invoke(app, ["--home", str(tmp_path / "other"), "init", "--no-input"], input="")
    assert again.exit_code == 0 and "Set up the gallery" not in again.output
