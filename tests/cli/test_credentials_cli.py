"""The CLI acts as the person whose token it is given, never as whoever a flag names (issue 17,
item 1): each command that acts on a gallery takes the user's own token, from $FACESEARCH_TOKEN or
their private credentials file; '--actor' only names a new gallery's first admin. Reproduced: one
shell can no longer confirm a nomination as two verifiers."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import facesearch
from facesearch.engine import Engine

from helpers import init_staffed, token_for


def cli(
    home: Path, *args: str | Path, token: str | None = None, credentials: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in a new process, with TOKEN in $FACESEARCH_TOKEN or CREDENTIALS as the credentials file."""
    env = os.environ | {"FACESEARCH_HOME": str(home), "COLUMNS": "200"}
    env.pop("FACESEARCH_TOKEN", None)
    if token is not None:
        env["FACESEARCH_TOKEN"] = token
    if credentials is not None:
        env["FACESEARCH_CREDENTIALS"] = str(credentials)
    return subprocess.run(
        [sys.executable, "-m", "facesearch", *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture
def gallery(tmp_path: Path) -> Engine:
    """A gallery made by 'tester' (its admin, through the Python API) with one user of each role."""
    return init_staffed(tmp_path / "home", actor="tester")


def actions(engine: Engine, action: str) -> list[dict[str, object]]:
    return [e.to_dict() for e in engine.acting_as("auditor").audit_events(action=action)]


def test_init_makes_the_first_admin_and_files_their_token_privately(tmp_path: Path, credentials_file: Path) -> None:
    home = tmp_path / "home"
    made = cli(home, "--actor", "founder", "init")
    assert made.returncode == 0, made.stderr
    assert "you are its admin, founder" in made.stdout and "fs_" not in made.stdout
    assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials_file.parent.stat().st_mode) == 0o700
    [(gallery_id, entry)] = tomllib.loads(credentials_file.read_text())["galleries"].items()
    with facesearch.open(home, actor="facesearch-cli") as engine:
        assert engine.gallery_id == gallery_id and engine.authenticate(entry["token"]).name == "founder"
    me = cli(home, "whoami")
    assert me.returncode == 0 and me.stdout.startswith(f"founder (admin); token {entry['token_id']}")
    again = cli(home, "init")  # an existing gallery gives no one a token
    assert again.returncode == 0 and "token" not in again.stdout
    assert tomllib.loads(credentials_file.read_text())["galleries"] == {gallery_id: entry}


@pytest.mark.parametrize(
    "args",
    [
        ["users", "add", "x", "--role", "admin"],
        ["users", "invite", "operator"],
        ["users", "disable", "operator"],
        ["tokens", "list"],
        ["tokens", "revoke", "0000000000000000"],
        ["tokens", "rotate"],
        ["whoami"],
        ["confirm", "1"],
        ["reject", "1", "--reason", "r"],
        ["nominate", "1", "X"],
        ["export", "c"],
        ["identify", "nothing.jpg", "--purpose", "p", "--case", "c"],
        ["verify", "a.jpg", "b.jpg", "--purpose", "p", "--case", "c"],
        ["enroll", "nothing.jpg", "--subject", "X", "--source", "s", "--basis", "consent"],
        ["erase", "X", "--reason", "r"],
        ["hold", "X", "--reference", "r"],
        ["purge"],
        ["subjects"],
        ["audit", "verify"],
        ["model-card"],
        ["gallery", "delete", "--confirm"],
    ],
)
def test_every_command_that_acts_needs_your_own_token(gallery: Engine, args: list[str]) -> None:
    before = len(gallery.acting_as("auditor").audit_events())
    done = cli(gallery.home.root, *args)
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert "no token of yours" in done.stderr and "facesearch activate" in done.stderr
    assert len(gallery.acting_as("auditor").audit_events()) == before and gallery.home.root.exists()


def test_actor_is_no_identity(gallery: Engine) -> None:
    operator = token_for(gallery, "operator")
    for args in (["--actor", "tester", "users", "add", "x", "--role", "admin"], ["--actor", "verifier", "queue"]):
        claimed = cli(gallery.home.root, *args, token=operator)
        assert claimed.returncode == 2 and "--actor only names a new gallery's first admin" in claimed.stderr
    assert {u.name for u in gallery.accounts.users()} == {"tester", "enroller", "operator", "verifier", "auditor"}


@pytest.mark.model
def test_one_shell_cannot_confirm_as_two_verifiers(enrolled: Engine, photos: dict[str, Path], tmp_path: Path) -> None:
    """The quickstart used to confirm one nomination as two verifiers from one shell. Now the second
    confirmation takes the second verifier's own token, which the first never sees."""
    gallery, home = enrolled, enrolled.home.root
    gallery.accounts.add_user("verifier-2", "verifier")
    operator = gallery.acting_as("operator")
    found = operator.identify(photos["probe"], purpose="p", case="C-1")
    nomination = operator.cases.nominate(found.audit_seq, "Eileen Collins").nomination_id
    mine = token_for(gallery, "verifier")
    assert cli(home, "confirm", str(nomination), token=mine).returncode == 0
    claimed = cli(home, "--actor", "verifier-2", "confirm", str(nomination), token=mine)
    assert claimed.returncode == 2  # naming someone else is not being them
    twice = cli(home, "confirm", str(nomination), token=mine)
    assert twice.returncode == 4 and "already decided" in twice.stderr
    guessed = "_".join(mine.split("_", 2)[:2]) + "_" + "A" * 43  # a real token's id, a guessed secret
    forged = cli(home, "confirm", str(nomination), token=guessed)
    assert forged.returncode == 4 and "not valid" in forged.stderr
    [failed] = actions(gallery, "auth.failed")
    assert failed["actor"] == "facesearch-cli" and failed["details"]["reason"] == "wrong-secret"  # type: ignore[index]
    invented = cli(home, "confirm", str(nomination), token="fs_0123456789abcdef_" + "A" * 43)
    assert invented.returncode == 4 and "not valid" in invented.stderr
    assert len(actions(gallery, "auth.failed")) == 1  # a token never issued names no one: counted, not audited
    today = datetime.now(UTC).date()
    assert gallery.acting_as("auditor").transparency_report(today, today).oversight.unattributed_by_reason == {
        "unknown-token": 1
    }
    assert operator.cases.case("C-1")[0].status != "confirmed"

    code = gallery.accounts.invite("verifier-2").code  # the admin hands verifier-2 a code ...
    theirs = tmp_path / "verifier-2" / "credentials.toml"
    assert cli(home, "activate", code, credentials=theirs).returncode == 0  # ... which only they redeem
    second = cli(home, "confirm", str(nomination), credentials=theirs)
    assert second.returncode == 0, second.stderr
    [item] = operator.cases.export("C-1").identifications
    assert [c.verifier for c in item.confirmations] == ["verifier", "verifier-2"]


def test_activate_files_the_token_and_the_code_works_once(gallery: Engine, tmp_path: Path) -> None:
    home, mine = gallery.home.root, tmp_path / "mine.toml"
    code = gallery.accounts.invite("operator").code
    done = cli(home, "activate", code, credentials=mine)
    assert done.returncode == 0, done.stderr
    assert "activated: you are operator" in done.stdout and "fs_" not in done.stdout + done.stderr
    assert stat.S_IMODE(mine.stat().st_mode) == 0o600
    [entry] = tomllib.loads(mine.read_text())["galleries"].values()
    assert entry["user"] == "operator" and gallery.authenticate(entry["token"]).name == "operator"
    assert cli(home, "whoami", credentials=mine).stdout.startswith("operator (operator)")
    again = cli(home, "activate", code, credentials=tmp_path / "thief.toml")
    assert again.returncode == 4 and "already been used" in again.stderr
    assert not (tmp_path / "thief.toml").exists()
    for bad in ("", "fsa_nope", "fs_" + code.split("_", 1)[1], "x" * 1000):
        refused = cli(home, "activate", bad, credentials=tmp_path / "thief.toml")
        assert refused.returncode == 4 and "activation-failed" in refused.stderr, bad
    # the code already used is audited; the four codes the gallery never issued name no one: counted
    assert [e["details"]["reason"] for e in actions(gallery, "activation.failed")] == ["used"]  # type: ignore[index]
    today = datetime.now(UTC).date()
    counted = gallery.acting_as("auditor").transparency_report(today, today).oversight.unattributed_by_reason
    assert counted == {"unknown-code": 4}


def test_a_credentials_file_others_can_read_is_refused(gallery: Engine, tmp_path: Path) -> None:
    home, mine = gallery.home.root, tmp_path / "mine.toml"
    assert cli(home, "activate", gallery.accounts.invite("auditor").code, credentials=mine).returncode == 0
    mine.chmod(0o644)
    refused = cli(home, "audit", "verify", credentials=mine)
    assert refused.returncode == 6 and "may be read or changed by others" in refused.stderr
    assert "chmod 600" in refused.stderr
    code = gallery.accounts.invite("auditor").code
    kept = cli(home, "activate", code, credentials=mine)
    assert kept.returncode == 6  # refused before the code is spent ...
    mine.chmod(0o600)
    assert cli(home, "activate", code, credentials=mine).returncode == 0  # ... so it still works
    (tmp_path / "garbled.toml").write_text("galleries = [")
    (tmp_path / "garbled.toml").chmod(0o600)
    assert cli(home, "whoami", credentials=tmp_path / "garbled.toml").returncode == 6


def test_a_token_is_for_its_own_gallery_only(gallery: Engine, tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    assert cli(gallery.home.root, "activate", gallery.accounts.invite("auditor").code, credentials=mine).returncode == 0
    with init_staffed(tmp_path / "other", actor="tester") as other:
        elsewhere = cli(other.home.root, "audit", "verify", credentials=mine)
        assert elsewhere.returncode == 4 and "no token of yours" in elsewhere.stderr
        token = tomllib.loads(mine.read_text())["galleries"][gallery.gallery_id]["token"]
        assert cli(other.home.root, "audit", "verify", token=token).returncode == 4  # not valid there
        assert actions(other, "auth.failed") == []  # a token it never issued names no one there: counted
        today = datetime.now(UTC).date()
        counted = other.acting_as("auditor").transparency_report(today, today).oversight.unattributed_by_reason
        assert counted == {"unknown-token": 1}


def test_the_owner_rotates_their_token(gallery: Engine, tmp_path: Path) -> None:
    home, mine = gallery.home.root, tmp_path / "mine.toml"
    assert cli(home, "activate", gallery.accounts.invite("auditor").code, credentials=mine).returncode == 0
    old = tomllib.loads(mine.read_text())["galleries"][gallery.gallery_id]["token"]
    rotated = cli(home, "tokens", "rotate", credentials=mine)
    assert rotated.returncode == 0 and "token rotated for auditor" in rotated.stdout and "fs_" not in rotated.stdout
    new = tomllib.loads(mine.read_text())["galleries"][gallery.gallery_id]["token"]
    assert new != old and gallery.authenticate(new).name == "auditor"
    assert cli(home, "audit", "verify", token=old).returncode == 4
    by_env = cli(home, "tokens", "rotate", token=new)  # a token kept in the environment: the new one is shown
    assert by_env.returncode == 0 and "FACESEARCH_TOKEN" in by_env.stdout
    newest = by_env.stdout.strip().splitlines()[-1]
    assert gallery.authenticate(newest).name == "auditor"
    assert [e["actor"] for e in actions(gallery, "token.rotate")] == ["auditor", "auditor"]


def test_an_expired_token_says_so(gallery: Engine) -> None:
    token = token_for(gallery, "auditor")
    with gallery.store.engine.begin() as db:
        db.exec_driver_sql(
            "UPDATE tokens SET expires_at = ? WHERE id = ?",
            ((datetime.now(UTC) - timedelta(seconds=1)).isoformat(" "), token.split("_")[1]),
        )
    done = cli(gallery.home.root, "audit", "verify", token=token)
    assert done.returncode == 4 and "credential-expired" in done.stderr and "activation code" in done.stderr


def test_only_admins_invite_list_and_revoke(gallery: Engine) -> None:
    operator = token_for(gallery, "operator")
    for args in (["users", "invite", "verifier"], ["tokens", "list"], ["tokens", "revoke", operator.split("_")[1]]):
        refused = cli(gallery.home.root, *args, token=operator)
        assert refused.returncode == 4 and "the operator role may not manage tokens" in refused.stderr
    assert gallery.authenticate(operator).name == "operator"
    admin = token_for(gallery, "tester")
    listed = json.loads(cli(gallery.home.root, "tokens", "list", "--json", token=admin).stdout)
    assert {t["user"] for t in listed} == {"operator", "tester"} and "fs_" not in json.dumps(listed)
    unknown = cli(gallery.home.root, "users", "invite", "nobody", token=admin)
    assert unknown.returncode == 3 and "no enabled user" in unknown.stderr
