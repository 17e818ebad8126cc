"""The CLI as a user runs it: a real process, real photos, exit codes and messages."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import facesearch
from facesearch.pipeline.models import DLIB_RESNET_V1_MIRRORED
from facesearch.pipeline.recognizers.sface import SFACE_MIRRORED

from helpers import PURPOSES, STAFF, staffed, token_for

pytestmark = pytest.mark.model


ACTOR_FOR = {
    "enroll": "enroller",
    "enroll-dir": "enroller",
    "opt-out": "enroller",
    "identify": "operator",
    "verify": "operator",
    "nominate": "operator",
    "nominations": "operator",
    "sweeps": "operator",
    "export": "operator",
    "queue": "verifier",
    "confirm": "verifier",
    "reject": "verifier",
    "report": "auditor",
    "cluster": "operator",
    "clusters": "operator",
    "cases": "operator",
}


TOKENS: dict[Path, dict[str, str]] = {}  # home -> user -> their own token (the admin's is in their credentials file)


def run(home: Path, *args: str | Path, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a new process, run by the user whose role the command needs (see helpers.STAFF)
    with that user's own token, or by USER; cli-tester, who ran init, is the admin, whose token
    init saved in the test's credentials file."""
    env = os.environ | {"FACESEARCH_HOME": str(home), "COLUMNS": "200"}
    command = str(args[0]) if args else ""
    user = user or ("auditor" if args[:2] == ("audit", "show") else ACTOR_FOR.get(command, "cli-tester"))
    if user in TOKENS.get(home, {}):
        env["FACESEARCH_TOKEN"] = TOKENS[home][user]
    elif user != "cli-tester":  # someone with no token of their own: not the admin's credentials file
        env["FACESEARCH_CREDENTIALS"] = str(home.parent / f"no-credentials-of-{user}.toml")
    return subprocess.run(
        [sys.executable, "-m", "facesearch", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def staff_tokens(home: Path, *names: str) -> None:
    """Give each user their own token, as they would get it (a code from the admin, redeemed)."""
    with facesearch.open(home, actor="cli-tester") as admin:
        TOKENS.setdefault(home, {}).update({name: token_for(admin, name) for name in names})


@pytest.fixture
def home(tmp_path: Path, photos: dict[str, Path]) -> Iterator[Path]:
    place = tmp_path / "home"
    made = run(place, "--actor", "cli-tester", "init")
    assert made.returncode == 0, made.stderr
    with facesearch.open(place, actor="cli-tester") as admin:  # the Python API, as the host's own code
        staffed(admin)
    staff_tokens(place, *STAFF)
    enrolled = run(
        place,
        "enroll",
        photos["astronaut"],
        "--subject",
        "Eileen Collins",
        "--source",
        "scikit-image sample",
        "--basis",
        "consent",
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert "enrolled" in enrolled.stdout
    yield place
    TOKENS.pop(place, None)


def test_identify_json_lists_candidates_per_face(home: Path, photos: dict[str, Path]) -> None:
    done = run(
        home,
        "identify",
        photos["probe"],
        "--purpose",
        "missing person search",
        "--case",
        "MP-1",
        "--top",
        "3",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [face] = result["faces"]
    [top] = face["candidates"]
    assert (top["subject"], top["rank"]) == ("Eileen Collins", 1)
    assert top["score"] > result["threshold"]["score"]
    assert result["model_id"] == SFACE_MIRRORED.model_id  # a new gallery's recognizer
    assert "candidates" in result["notice"]


def test_identify_human_output_says_candidates(home: Path, photos: dict[str, Path]) -> None:
    done = run(home, "identify", photos["probe"], "--purpose", "p", "--case", "c")
    assert done.returncode == 0
    assert "not identifications" in done.stdout and "Eileen Collins" in done.stdout
    words = " ".join(done.stdout.split())  # what the threshold means at this gallery's size
    assert "1:N threshold 0.3650 for a search of this gallery's 1 face:" in words and "1:1 threshold" in words


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["enroll", "{hopper}", "--subject", "G", "--basis", "consent"], 4, "--source"),
        (["enroll", "{hopper}", "--subject", "G", "--source", "s"], 4, "--basis"),
        (["identify", "{probe}", "--case", "c"], 4, "--purpose"),
        (["identify", "{probe}", "--purpose", "p"], 4, "--case"),
        (["enroll", "{cat}", "--subject", "G", "--source", "s", "--basis", "consent"], 3, "no face"),
        (["identify", "{missing}", "--purpose", "p", "--case", "c"], 3, "no such file"),
        (["erase", "Nobody", "--reason", "r"], 5, "no subject"),
        (["erase", "Eileen Collins"], 4, "--reason"),
    ],
)
def test_refusals_exit_non_zero_with_a_clear_message(
    home: Path, photos: dict[str, Path], tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    names = {k: str(v) for k, v in photos.items()} | {"missing": str(tmp_path / "missing.jpg")}
    done = run(home, *[a.format(**names) for a in args])
    assert done.returncode == code, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_verify_subjects_erase_and_audit(home: Path, photos: dict[str, Path]) -> None:
    compared = run(
        home, "verify", photos["astronaut"], photos["hopper"], "--purpose", "check", "--case", "C-1", "--json"
    )
    verdict = json.loads(compared.stdout)
    assert verdict["same_person"] is False and verdict["score"] < verdict["threshold"]["score"]
    [subject] = json.loads(run(home, "subjects", "--json").stdout)
    assert (subject["name"], subject["faces"]) == ("Eileen Collins", 1)
    erased = run(home, "erase", "Eileen Collins", "--reason", "request DSR-1")
    assert erased.returncode == 0 and subject["subject_id"] in erased.stdout
    assert json.loads(run(home, "subjects", "--json").stdout) == []
    checked = run(home, "audit", "verify")
    assert checked.returncode == 0 and "intact" in checked.stdout
    events = json.loads(run(home, "audit", "show", "--json").stdout)
    staff = ["user.add"] * 4  # one user of each other role
    rules = ["gallery.retention"] + ["purpose.add"] * (len(PURPOSES) + 1)
    activations = ["activation.issue", "activation.redeem"] * len(STAFF)  # each redeems their own code
    assert [e["action"] for e in events] == [
        "gallery.init",
        "user.add",  # cli-tester, who made the gallery, as its admin
        "token.issue",  # ... with their own token
        *staff,
        *rules,
        *activations,
        "face.enroll",
        "case.open",  # the first search naming C-1 opens it, owned by the operator
        "search.verify",
        "subject.erase",
    ]
    assert [e["actor"] for e in events if e["action"] == "activation.redeem"] == list(STAFF)
    by_action = {e["action"]: e["actor"] for e in events if e["action"] != "activation.redeem"}
    assert by_action == {
        "gallery.init": "cli-tester",
        "user.add": "cli-tester",
        "token.issue": "cli-tester",
        "activation.issue": "cli-tester",
        "gallery.retention": "cli-tester",
        "purpose.add": "cli-tester",
        "face.enroll": "enroller",
        "case.open": "operator",
        "search.verify": "operator",
        "subject.erase": "cli-tester",
    }


def test_audit_verify_fails_on_tampering(home: Path) -> None:
    import sqlite3

    with sqlite3.connect(home / "gallery.sqlite3") as db:
        db.execute("UPDATE audit_events SET actor = 'nobody' WHERE seq = 2")
    done = run(home, "audit", "verify")
    assert done.returncode == 1
    assert "#2" in done.stderr


def test_enroll_dir_shows_summary_by_reason(home: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "dir"
    (root / "Grace Hopper").mkdir(parents=True)
    (root / "Grace Hopper" / "hopper.jpg").write_bytes(photos["hopper"].read_bytes())
    (root / "Grace Hopper" / "notes.txt").write_text("not a photo")
    done = run(home, "enroll-dir", root, "--source", "archive", "--basis", "public-task")
    assert done.returncode == 0, done.stderr
    assert "1 faces enrolled for 1 subjects" in done.stdout
    assert "not-an-image" in done.stdout
    assert "2/2" in done.stderr  # the progress bar's count


def test_concurrent_processes_keep_gallery_index_and_chain_consistent(home: Path, photos: dict[str, Path]) -> None:
    base = [sys.executable, "-m", "facesearch"]
    jobs = [
        [
            *base,
            "enroll",
            str(photos["hopper"]),
            "--subject",
            "Grace Hopper",
            "--source",
            "s",
            "--basis",
            "consent",
        ],
        [*base, "identify", str(photos["probe"]), "--purpose", "p", "--case", "c"],
        [
            *base,
            "enroll",
            str(photos["small_face"]),
            "--subject",
            "E",
            "--source",
            "s",
            "--basis",
            "consent",
        ],
    ]
    users = ["enroller", "operator", "enroller"]
    envs = [os.environ | {"FACESEARCH_HOME": str(home), "FACESEARCH_TOKEN": TOKENS[home][u]} for u in users]
    procs = [
        subprocess.Popen(job, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for job, env in zip(jobs, envs, strict=True)
    ]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0, 3]  # the small face is refused; the others succeed side by side
    assert run(home, "audit", "verify").returncode == 0
    names = {s["name"] for s in json.loads(run(home, "subjects", "--json").stdout)}
    assert names == {"Eileen Collins", "Grace Hopper"}
    found = json.loads(run(home, "identify", photos["hopper"], "--purpose", "p", "--case", "c", "--json").stdout)
    assert found["gallery_size"] == 2 and found["faces"][0]["candidates"][0]["subject"] == "Grace Hopper"


def test_evaluate_calibrate_and_model_card(home: Path, labelled_dataset: Path, tmp_path: Path) -> None:
    cache = ["--workers", "1", "--cache", tmp_path / "cache.sqlite3"]
    evaluated = run(
        home, "evaluate", labelled_dataset, "--report", tmp_path / "report", "--bootstrap", "10", "--json", *cache
    )
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert (report["photos"], report["failures_to_acquire"]) == (9, {"no-face": 1})
    sized = run(home, "evaluate", labelled_dataset, "--bootstrap", "0", "--gallery-size", "10000", *cache)
    assert sized.returncode == 0 and "by gallery size" in sized.stdout and "10,000" in sized.stdout
    zero = run(home, "evaluate", labelled_dataset, "--gallery-size", "0", *cache)
    assert zero.returncode == 2 and "--gallery-size" in zero.stderr  # a usage error
    assert (tmp_path / "report" / "evaluation.html").is_file()
    # every evaluation's report is also kept in the home, where the web UI's evaluation page finds it
    assert len(list((home / "evaluations").glob("*/evaluation.html"))) == 2

    card = run(home, "model-card", "--json")
    assert card.returncode == 0, card.stderr
    data = json.loads(card.stdout)
    assert data["latest_evaluation"]["dataset_sha256"] == report["dataset_sha256"]
    assert "Apache-2.0" in data["embedder"]["licence"] and "scraped" in data["embedder"]["training"]  # sface's
    assert data["calibration"] is None

    refused = run(home, "calibrate", labelled_dataset, "--target-fmr", "1e-4", *cache)
    assert refused.returncode == 3 and "cannot measure an FMR of 0.0001" in refused.stderr
    groups = tmp_path / "groups.csv"
    groups.write_text("Eileen_Collins_0001.jpg,a\nEileen_Collins_0002.jpg,a\nGrace_Hopper_0001.jpg,b\n")
    unfair = run(
        home, "calibrate", labelled_dataset, "--target-fmr", "0.2", "--groups", groups, "--worst-group", *cache
    )
    assert unfair.returncode == 3 and "in any one group" in unfair.stderr  # one person a group: nothing to measure
    no_groups = run(home, "calibrate", labelled_dataset, "--target-fmr", "0.2", "--worst-group", *cache)
    assert no_groups.returncode == 3 and "needs labelled groups" in no_groups.stderr
    calibrated = run(home, "calibrate", labelled_dataset, "--target-fmr", "0.2", "--groups", groups, *cache)
    assert calibrated.returncode == 0, calibrated.stderr
    assert "operating threshold" in calibrated.stdout and "rule: overall" in calibrated.stdout
    assert "insufficient data" in calibrated.stdout  # the groups' figures, where their pairs cannot show one
    assert "identify (1:N) at this gallery's 1 faces" in " ".join(calibrated.stdout.split())

    found = json.loads(
        run(
            home,
            "identify",
            labelled_dataset / "Eileen Collins" / "Eileen_Collins_0002.jpg",
            "--purpose",
            "p",
            "--case",
            "c",
            "--json",
        ).stdout
    )
    assert found["threshold"]["source"] == "calibrated"
    assert found["faces"][0]["candidates"][0]["expected_fmr"] is not None
    assert json.loads(run(home, "model-card", "--json").stdout)["calibration"]["target_fmr"] == 0.2
    assert run(home, "audit", "verify").returncode == 0

    missing = run(home, "evaluate", tmp_path / "no-such-folder")
    assert missing.returncode == 3 and "does not exist" in missing.stderr


def test_index_status_and_rebuild(home: Path) -> None:
    status = run(home, "index", "status")
    assert status.returncode == 0 and "exact index of 1 faces" in status.stdout
    (home / "index" / "exact.idx").write_bytes(b"garbage")
    rebuilt = run(home, "index", "rebuild")
    assert rebuilt.returncode == 0 and "rebuilt the exact index: 1 faces" in rebuilt.stdout
    assert (home / "index" / "exact.idx").read_bytes()[:8] == b"FSSEALED"  # rebuilt, and sealed


def test_a_gallery_moves_to_another_model_from_the_command_line(
    home: Path, photos: dict[str, Path], tmp_path: Path
) -> None:
    back = tmp_path / "photos back"
    (back / "unrelated").mkdir(parents=True)
    (back / "unrelated" / "hopper.jpg").write_bytes(photos["hopper"].read_bytes())  # not an enrolled photo
    move = ("models", "move", back, "--to", "dlib")
    for args, user, code, words in [
        (move, "operator", 4, "may not manage the gallery"),
        (move, "nobody", 4, "no token"),
        (("models", "move", tmp_path / "nowhere", "--to", "dlib"), None, 3, "not a directory"),
        (("models", "move", back, "--to", "sface"), None, 3, "already"),
        (move, None, 3, "photos-missing"),
    ]:
        refused = run(home, *args, user=user)
        assert refused.returncode == code and words in refused.stderr, (args, user, refused.stderr)
    assert "Eileen Collins (photo-not-found)" in refused.stderr and "--accept-losses" in refused.stderr
    (back / "a" / "b").mkdir(parents=True)
    (back / "a" / "b" / "IMG_0001.JPG").write_bytes(photos["astronaut"].read_bytes())
    moved = run(home, *move)
    assert moved.returncode == 0, moved.stderr
    assert (
        "moved 1 subject(s), 1 face(s) re-embedded" in moved.stdout and DLIB_RESNET_V1_MIRRORED.model_id in moved.stdout
    )
    assert f"threshold now {DLIB_RESNET_V1_MIRRORED.published_threshold:g} (published" in moved.stdout
    found = run(home, "identify", photos["probe"], "--purpose", "p", "--case", "c", "--json")
    result = json.loads(found.stdout)
    assert result["model_id"] == DLIB_RESNET_V1_MIRRORED.model_id
    assert result["faces"][0]["candidates"][0]["subject"] == "Eileen Collins"
    assert run(home, "audit", "verify").returncode == 0
    shown = json.loads(run(home, "audit", "show", "--action", "model.move", "--json").stdout)
    assert [e["details"]["to_model"] for e in shown] == [DLIB_RESNET_V1_MIRRORED.model_id]


def test_enroll_dir_killed_mid_run_finishes_on_rerun(home: Path, labelled_dataset: Path, tmp_path: Path) -> None:
    root = tmp_path / "dir"
    for person in ("Eileen Collins", "Grace Hopper"):
        (root / person).mkdir(parents=True)
        for photo in sorted((labelled_dataset / person).iterdir()):
            for angle in (0, 4, -4):  # 12 photos per person, each with its own bytes
                image = Image.open(photo).rotate(angle)
                image.save(root / person / f"{photo.stem}_{angle}.jpg", quality=90)
    (home / "facesearch.toml").write_text("enroll_batch_faces = 2\n")
    args = ["enroll-dir", root, "--source", "archive", "--basis", "public-task", "--workers", "1"]
    env = os.environ | {"FACESEARCH_HOME": str(home), "FACESEARCH_TOKEN": TOKENS[home]["enroller"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "facesearch", *map(str, args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def faces() -> int:
        with sqlite3.connect(home / "gallery.sqlite3", timeout=30) as db:
            return int(db.execute("SELECT count(*) FROM faces").fetchone()[0])

    deadline = time.monotonic() + 240
    while faces() < 5 and time.monotonic() < deadline:  # the first batches are committed
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    at_kill = faces()
    assert 5 <= at_kill < 25, "the kill must land mid-run"

    done = run(home, *args)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(home / "gallery.sqlite3") as db:
        rows = db.execute("SELECT s.name, i.sha256 FROM images i JOIN subjects s ON s.id = i.subject_id").fetchall()
    assert len(rows) == len(set(rows)) == 25  # 24 photos + the fixture's astronaut, none twice
    assert run(home, "audit", "verify").returncode == 0
    assert "exact index of 25 faces" in run(home, "index", "status").stdout


def test_users_and_tokens_from_the_command_line(home: Path) -> None:
    admin = "cli-tester"  # run() acts as cli-tester, who ran init
    added = run(home, "users", "add", "olga", "--role", "operator")
    assert added.returncode == 0 and "added user olga (operator)" in added.stdout
    listed = json.loads(run(home, "users", "list", "--json").stdout)
    staff = {name: name for name in ("enroller", "operator", "verifier", "auditor")}  # the fixture's
    assert {u["name"]: u["role"] for u in listed} == {admin: "admin", "olga": "operator", **staff}
    invited = run(home, "users", "invite", "olga")
    code = invited.stdout.strip().splitlines()[-1]
    assert invited.returncode == 0 and code.startswith("fsa_") and "give it to olga only" in invited.stdout
    assert "fs_" not in invited.stdout.replace(code, "")  # the admin sees a code, never a token
    activated = run(home, "--credentials", home.parent / "olga.toml", "activate", code, user="olga")
    assert activated.returncode == 0, activated.stderr
    assert "activated: you are olga" in activated.stdout and "fs_" not in activated.stdout
    olga = home.parent / "olga.toml"
    refused = run(home, "--credentials", olga, "users", "add", "mallory", "--role", "admin", user="olga")
    assert refused.returncode == 4 and "the operator role may not manage users" in refused.stderr
    [listed_token] = [t for t in json.loads(run(home, "tokens", "list", "--json").stdout) if t["user"] == "olga"]
    assert listed_token["revoked_at"] is None and "token" not in listed_token
    assert run(home, "tokens", "revoke", listed_token["id"]).returncode == 0
    after = run(home, "--credentials", olga, "whoami", user="olga")
    assert after.returncode == 4 and "not valid" in after.stderr
    assert "0 token(s) revoked" in run(home, "users", "disable", "olga").stdout  # revoked already
    assert run(home, "audit", "verify").returncode == 0


def test_subject_report_from_the_command_line(home: Path, photos: dict[str, Path]) -> None:
    assert (
        run(home, "identify", photos["probe"], "--purpose", "missing person search", "--case", "MP-9").returncode == 0
    )
    report = json.loads(run(home, "subject-report", "Eileen Collins", "--json").stdout)
    assert [i["source"] for i in report["images"]] == ["scikit-image sample"]
    assert [(a["case"], a["rank"], a["actor"]) for a in report["appearances"]] == [("MP-9", 1, "operator")]
    shown = run(home, "subject-report", "Eileen Collins")
    assert shown.returncode == 0 and "returned as a candidate by 1 search(es)" in shown.stdout
    refused = run(home, "subject-report", "Eileen Collins", user="operator")
    assert refused.returncode == 4


def test_a_candidate_is_nominated_confirmed_twice_and_exported(
    home: Path, photos: dict[str, Path], tmp_path: Path
) -> None:
    assert run(home, "users", "add", "verifier-2", "--role", "verifier").returncode == 0
    refused = run(home, "identify", photos["probe"], "--purpose", "curiosity", "--case", "MP-5")
    assert refused.returncode == 4 and "not a purpose this gallery allows" in refused.stderr
    found = run(home, "identify", photos["probe"], "--purpose", "missing person search", "--case", "MP-5", "--json")
    search = json.loads(found.stdout)["audit_seq"]
    nominated = run(home, "nominate", str(search), "Eileen Collins")
    assert nominated.returncode == 0 and "nomination #1" in nominated.stdout
    assert "Eileen Collins" in run(home, "queue").stdout
    assert run(home, "confirm", "1", "--note", "same scar").returncode == 0
    unconfirmed = run(home, "export", "MP-5")
    assert unconfirmed.returncode == 4 and "no identification confirmed by 2 verifiers" in unconfirmed.stderr
    twice = run(home, "confirm", "1")
    assert twice.returncode == 4 and "already decided" in twice.stderr
    staff_tokens(home, "verifier-2")
    assert run(home, "confirm", "1", user="verifier-2").returncode == 0
    exported = json.loads(run(home, "export", "MP-5").stdout)
    [item] = exported["identifications"]
    assert item["nomination"]["subject"] == "Eileen Collins"
    assert [c["verifier"] for c in item["confirmations"]] == ["verifier", "verifier-2"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    report = run(home, "report", "--from", today, "--to", today, "--out", tmp_path / "report", "--json")
    assert report.returncode == 0, report.stderr
    published = json.loads(report.stdout)
    assert "Eileen" not in report.stdout and (tmp_path / "report" / "transparency.html").exists()
    review = published["review"]
    assert (review["nominations"], review["confirm_decisions"], review["reached_confirmed"]) == (1, 2, 1)
    assert run(home, "audit", "verify").returncode == 0


def test_case_members_from_the_command_line(home: Path, photos: dict[str, Path]) -> None:
    assert run(home, "users", "add", "operator-2", "--role", "operator").returncode == 0
    staff_tokens(home, "operator-2")
    found = run(home, "identify", photos["probe"], "--purpose", "missing person search", "--case", "MP-6", "--json")
    search = json.loads(found.stdout)["audit_seq"]
    assert run(home, "nominate", str(search), "Eileen Collins").returncode == 0
    queue = run(home, "queue")
    assert "kept" in queue.stdout and "/queue" in queue.stdout and "/api/nominations/N/probe" in queue.stdout
    assert json.loads(run(home, "queue", "--json").stdout)[0]["probe_kept"] is True
    shown = run(home, "cases", "members", "MP-6")
    assert shown.returncode == 0 and "owner operator" in shown.stdout

    refusals = {
        ("nominations", "MP-6"): "may not read its nominations",
        ("export", "MP-6"): "may not export it",
        ("cases", "members", "MP-6"): "may not read its members",
        ("cases", "add-member", "MP-6", "operator-2"): "only the owner of case 'MP-6'",
        ("nominate", str(search), "Eileen Collins"): "may not nominate from its searches",
    }
    for args, message in refusals.items():
        refused = run(home, *args, user="operator-2")
        assert refused.returncode == 4 and "(not-a-case-member)" in refused.stderr and message in refused.stderr, args
        assert "Traceback" not in refused.stderr
    wrong_role = run(home, "cases", "add-member", "MP-6", "operator-2", user="verifier")
    assert wrong_role.returncode == 4 and "permission-denied" in wrong_role.stderr
    assert run(home, "cases", "add-member", "MP-6", "verifier").returncode == 3  # only operators work cases
    assert run(home, "cases", "add-member", "MP-6").returncode == 2  # usage: the user is missing
    stranger = run(home, "cases", "add-member", "MP-6", "operator-2", user="nobody")  # no token: no one
    assert stranger.returncode == 4 and "no token of yours" in stranger.stderr
    assert run(home, "cases", "add-member", "NO-SUCH", "operator-2", user="cli-tester").returncode == 5

    added = run(home, "cases", "add-member", "MP-6", "operator-2")
    assert added.returncode == 0 and "operator-2 is now a member of case MP-6" in added.stdout
    assert run(home, "nominations", "MP-6", user="operator-2").returncode == 0
    members = json.loads(run(home, "cases", "members", "MP-6", "--json", user="auditor").stdout)
    assert [m["user"] for m in members["members"]] == ["operator", "operator-2"]
    events = json.loads(run(home, "audit", "show", "--case", "MP-6", "--json").stdout)
    assert [e["actor"] for e in events if e["action"] == "policy.refused"] == ["operator-2"] * 5  # with the case
    assert run(home, "audit", "verify").returncode == 0


def test_holds_purge_and_opt_outs_from_the_command_line(home: Path, photos: dict[str, Path]) -> None:
    assert "3650 days" in run(home, "retention", "show").stdout
    assert run(home, "hold", "Eileen Collins", "--reference", "order 5").returncode == 0
    held = run(home, "erase", "Eileen Collins", "--reason", "request")
    assert held.returncode == 4 and "legal hold 'order 5'" in held.stderr
    certificate = json.loads(run(home, "purge", "--json").stdout)
    assert (certificate["images_removed"], certificate["held_images_kept"]) == (0, 0)
    assert run(home, "release", "Eileen Collins", "--reference", "order 5").returncode == 0
    assert run(home, "erase", "Eileen Collins", "--reason", "request").returncode == 0
    assert run(home, "opt-out", photos["astronaut"], "--request", "REQ-1").returncode == 0
    again = run(home, "enroll", photos["probe"], "--subject", "E", "--source", "s", "--basis", "consent")
    assert again.returncode == 4 and "do-not-enroll list" in again.stderr
    listed = json.loads(run(home, "opt-outs", "--json").stdout)
    assert [o["request_ref"] for o in listed] == ["REQ-1"] and "template" not in listed[0]


def test_a_collection_is_clustered_named_and_shown_from_the_command_line(
    home: Path, photos: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "seized"
    folder.mkdir()
    for name in ("astronaut", "probe", "hopper"):
        (folder / f"{name}.jpg").write_bytes(photos[name].read_bytes())
    astronaut = Image.open(photos["astronaut"])
    astronaut.resize((astronaut.width // 2, astronaut.height // 2)).save(folder / "astronaut-small.jpg", quality=60)
    why = ("--purpose", "missing person search", "--case", "MP-8")
    done = run(home, "cluster", folder, *why, "--json", "--report", tmp_path / "sheet")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [pair] = result["clusters"]  # min-size 2: the astronaut and her probe; Grace Hopper is a singleton
    assert sorted(pair["photos"]) == ["astronaut.jpg", "probe.jpg"] and result["singletons"] == 1
    assert result["photos_copied"] == [["astronaut-small.jpg", "astronaut.jpg"]]  # analysed once, as one face
    sheet = (tmp_path / "sheet" / "index.html").read_text()
    assert sheet.count("<img") == 2 and "also as 1 copy: astronaut-small.jpg" in sheet
    assert run(home, "clusters", "name", str(pair["cluster_id"]), "person A").returncode == 0
    listed = json.loads(run(home, "clusters", "list", "seized", "--min-size", "2", "--json").stdout)
    assert [c["label"] for c in listed] == ["person A"]
    assert "astronaut.jpg (copies: astronaut-small.jpg)" in run(home, "clusters", "list", "seized").stdout
    refused = run(home, "cluster", folder, "--purpose", "curiosity", "--case", "X")
    assert refused.returncode == 4 and "not a purpose this gallery allows" in refused.stderr


def test_enroll_dir_on_a_ray_cluster(
    home: Path, photos: dict[str, Path], tmp_path: Path, ray_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "dir"
    (root / "Grace Hopper").mkdir(parents=True)
    (root / "Grace Hopper" / "hopper.jpg").write_bytes(photos["hopper"].read_bytes())
    (root / "Grace Hopper" / "notes.txt").write_text("not a photo")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # the test cluster listens on 127.0.0.1 only
    done = run(
        home, "enroll-dir", root, "--source", "archive", "--basis", "public-task", "--ray", ray_cluster, "--json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["enrolled"], summary["rejected_by_reason"]) == (1, {"not-an-image": 1})


def test_a_ray_cluster_nobody_runs_is_a_configuration_error(
    home: Path, photos: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "dir"
    (root / "Grace Hopper").mkdir(parents=True)
    (root / "Grace Hopper" / "hopper.jpg").write_bytes(photos["hopper"].read_bytes())
    done = run(home, "enroll-dir", root, "--source", "archive", "--basis", "public-task", "--ray", "127.0.0.1:9")
    assert done.returncode == 6, done.stderr
    assert "(ray-cluster): no Ray cluster answers at '127.0.0.1:9'" in done.stderr or "(missing-extra)" in done.stderr


@pytest.mark.model
def test_a_video_is_identified_and_clustered_per_track(home: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    from helpers import write_video

    drive = tmp_path / "drive"
    drive.mkdir()
    astronaut = Image.open(photos["astronaut"]).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    clip = write_video(drive / "clip.avi", [(astronaut, 2)], codec="mpeg4")
    why = ("--purpose", PURPOSES[0], "--case", "CLI-V")
    shown = run(home, "identify", clip, *why)
    assert shown.returncode == 0, shown.stderr
    assert "seen at 00:00:0" in shown.stdout and "Eileen Collins" in shown.stdout
    as_json = json.loads(run(home, "identify", clip, *why, "--json").stdout)
    assert as_json["video"] is True and as_json["faces"][0]["seen_at"].startswith("00:00:0")
    clustered = run(home, "cluster", drive, *why, "--min-size", "1")
    assert clustered.returncode == 0, clustered.stderr
    assert "clip.avi at 00:00:0" in clustered.stdout
    # Refused: a role that may not search, and a broken video, each with its own exit code and message.
    denied = run(home, "identify", clip, *why, user="verifier")
    assert denied.returncode == 4 and "Traceback" not in denied.stderr
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:2000])
    refused = run(home, "identify", broken, *why)
    assert refused.returncode == 3 and "broken.mp4" in refused.stderr and "Traceback" not in refused.stderr


def test_a_whole_collection_is_searched_in_one_step_from_the_command_line(
    home: Path, photos: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "seized"
    folder.mkdir()
    for name in ("astronaut", "probe", "hopper"):
        (folder / f"{name}.jpg").write_bytes(photos[name].read_bytes())
    why = ("--purpose", "missing person search", "--case", "MP-9")
    assert run(home, "cluster", folder, *why, "--min-size", "1").returncode == 0
    shown = run(home, "clusters", "search-all", "seized", *why)
    assert shown.returncode == 0, shown.stderr
    assert "not identifications" in shown.stdout and "2 clusters searched" in shown.stdout
    assert "Eileen Collins" in shown.stdout and "facesearch nominate SEARCH SUBJECT" in shown.stdout
    [sweep] = json.loads(run(home, "sweeps", "MP-9", "--json").stdout)
    assert len(sweep["clusters"]) == 2 and sweep["collection"] == "seized"
    astronaut = next(c for c in sweep["clusters"] if c["faces"] == 2)  # the astronaut and her probe
    nominated = run(home, "nominate", str(astronaut["search_seq"]), "Eileen Collins")
    assert nominated.returncode == 0, nominated.stderr
    assert "Eileen Collins" in run(home, "sweeps", "MP-9").stdout
    # Refused, each with its exit code and the core's words, and no search run.
    (home / "facesearch.toml").write_text("search_quota_per_hour = 3\n")  # 2 used: a sweep needs 2 more
    for args, user, code, words in (
        (("seized", *why), "verifier", 4, "role"),
        (("seized", *why), "nobody", 4, "no token of yours"),
        (("seized", "--purpose", "missing person search", "--case", "MP-10"), "operator", 4, "serves case 'MP-9'"),
        (("seized", "--case", "MP-9"), "operator", 4, "--purpose"),
        (("no-such", *why), "operator", 3, "there is no collection"),
        (("seized", *why), "operator", 4, "none was run"),
    ):
        refused = run(home, "clusters", "search-all", *args, user=user)
        assert refused.returncode == code and words in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    assert len(json.loads(run(home, "sweeps", "MP-9", "--json").stdout)) == 1
