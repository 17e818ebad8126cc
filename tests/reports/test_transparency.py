"""The transparency report: each aggregate from real audit events, the period's edges, no names,
who may make it, and the command that writes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import facesearch
from facesearch.engine import Engine
from facesearch.errors import InputError, PermissionDeniedError
from facesearch.gallery.schema import LegalHoldRow
from facesearch.governance import attempts, audit
from facesearch.governance.audit import AuditAction
from facesearch.reports.transparency import (
    HTML_NAME,
    JSON_NAME,
    GalleryCounts,
    OversightCounts,
    RemovalCounts,
    ReviewCounts,
    SearchCounts,
    build_report,
    to_json,
    write_report,
)

from helpers import as_user, init_staffed

START, END = date(2024, 3, 1), date(2024, 3, 31)
FIRST = datetime(2024, 3, 1, tzinfo=UTC)  # the period's first instant
LAST = datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)  # and its last
MID = datetime(2024, 3, 15, 10, 30, tzinfo=UTC)
ACTOR = "agent-smith-7"
SUBJECT = "5f3c9a0e1b2d4c6e8f7a9b0c1d2e3f40"
OTHER_SUBJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PROBE = "9e" * 32
CASE = "CASE-ALPHA-1"
SECRETS = [SUBJECT, OTHER_SUBJECT, PROBE, CASE, "CASE-BETA-2", "WARRANT-77", "COURT-ORDER-12", "REQ-SECRET-9"]
SECRETS += ["Jane Doe", "John Roe", "expired under policy P-4", ACTOR]
ODD_PURPOSE = "<script>alert(1)</script> & more"

FACES = [[{"rank": 1, "subject_id": SUBJECT, "score": 0.71}, {"rank": 2, "subject_id": OTHER_SUBJECT, "score": 0.4}]]

# (when, action, purpose, case, details) for a month of use, plus events just outside it.
EVENTS: list[tuple[datetime, AuditAction, str | None, str | None, dict[str, Any]]] = [
    (FIRST - timedelta(microseconds=1), AuditAction.IDENTIFY, "missing person", CASE, {"faces": FACES}),
    (
        FIRST,
        AuditAction.IDENTIFY,
        "missing person",
        CASE,
        {"faces": FACES, "authorisation": "WARRANT-77", "suppressed": 2},
    ),
    (MID, AuditAction.IDENTIFY, "missing person", "CASE-BETA-2", {"authorisation": None}),
    (MID, AuditAction.IDENTIFY, ODD_PURPOSE, CASE, {"suppressed": 1, "faces": FACES}),
    (LAST, AuditAction.IDENTIFY, ODD_PURPOSE, CASE, {}),
    (MID, AuditAction.VERIFY, "access review", "CASE-BETA-2", {"score": 0.8}),
    (MID, AuditAction.VERIFY, None, None, {}),
    (MID, AuditAction.NOMINATE, None, CASE, {"nomination_id": 1, "search_seq": 3, "subject_id": SUBJECT, "score": 0.7}),
    (MID, AuditAction.NOMINATE, None, CASE, {"nomination_id": 2, "search_seq": 3, "subject_id": OTHER_SUBJECT}),
    (MID, AuditAction.CONFIRM, None, CASE, {"nomination_id": 1, "status_after": "pending"}),
    (MID, AuditAction.CONFIRM, None, CASE, {"nomination_id": 1, "status_after": "confirmed"}),
    (MID, AuditAction.REJECT, None, CASE, {"nomination_id": 2, "status_after": "rejected"}),
    (MID, AuditAction.EXPORT, None, CASE, {"nominations": [1], "count": 1}),
    (
        MID,
        AuditAction.ERASE,
        None,
        None,
        {
            "subject_id": SUBJECT,
            "images_removed": 2,
            "faces_removed": 3,
            "index_entries_removed": 3,
            "reason": "asked by Jane Doe",
        },
    ),
    (
        MID,
        AuditAction.PURGE,
        None,
        None,
        {
            "reason": "expired under policy P-4",
            "images_removed": 5,
            "faces_removed": 6,
            "subjects_removed": 3,
            "held_images_kept": 1,
            "retention_days": 30,
        },
    ),
    (MID, AuditAction.PURGE, None, None, {}),  # an event lacking every optional key counts, as nothing
    (MID, AuditAction.HOLD_PLACE, None, None, {"subject_id": OTHER_SUBJECT, "reference": "COURT-ORDER-12"}),
    (MID, AuditAction.HOLD_RELEASE, None, None, {"subject_id": OTHER_SUBJECT, "reference": "COURT-ORDER-12"}),
    (MID, AuditAction.OPT_OUT, None, None, {"opt_out_id": 1, "request_ref": "REQ-SECRET-9"}),
    (MID, AuditAction.REFUSED, None, None, {"permission": "identify", "reason": "the verifier role may not identify"}),
    (MID, AuditAction.REFUSED, None, None, {"permission": "identify", "reason": "..."}),
    (MID, AuditAction.REFUSED, None, None, {"rule": "quota", "reason": "search refused: agent-smith-7 has run 3"}),
    (MID, AuditAction.REFUSED, None, None, {"rule": "purpose", "reason": "not an allowed purpose"}),
    (MID, AuditAction.REFUSED, None, None, {}),
    (MID, AuditAction.AUTH_FAILED, None, None, {"reason": "authentication-failed"}),
    (MID, AuditAction.FLAGGED, None, None, {"flag": "burst", "search_seq": 4}),
    (MID, AuditAction.FLAGGED, None, None, {"flag": "burst", "search_seq": 5}),
    (MID, AuditAction.FLAGGED, None, None, {"flag": "off-hours", "search_seq": 5}),
    (MID, AuditAction.SUBJECT_REPORT, None, None, {"subject_id": SUBJECT, "images": 1, "appearances": 2}),
    (
        MID,
        AuditAction.PHOTO_REFUSED,
        "missing person",
        CASE,
        {"request": "identify", "code": "truncated-image", "sha256": PROBE, "bytes": 1234},
    ),
    (MID, AuditAction.PHOTO_REFUSED, None, None, {"request": "verify", "code": "no-face", "reason": "no-face"}),
    (
        MID,
        AuditAction.PHOTO_REFUSED,
        None,
        None,
        {"request": "enroll-dir", "photos": 3, "by_reason": {"not-an-image": 2, "no-face": 1}},
    ),
    (LAST + timedelta(microseconds=1), AuditAction.ERASE, None, None, {"subject_id": SUBJECT, "images_removed": 9}),
    (LAST + timedelta(days=3), AuditAction.VERIFY, "access review", None, {}),
]
IN_PERIOD = len(EVENTS) - 3


@pytest.fixture
def gallery(tmp_path: Path) -> Engine:
    """A gallery (admin: founder; one user of every other role) whose log holds EVENTS."""
    engine = init_staffed(tmp_path / "home", actor="founder")
    with engine.store.transaction() as session:
        for when, action, purpose, case, details in EVENTS:
            audit.append(
                session,
                actor=ACTOR,
                action=action,
                gallery_generation=0,
                purpose=purpose,
                case=case,
                probe_sha256=PROBE if action in (AuditAction.IDENTIFY, AuditAction.VERIFY) else None,
                details=details,
                ts=when,
            )
        # refused requests that named no one: counted per day, not audited
        attempts.add(
            session,
            {
                (MID.date(), "no-credential"): 5,
                (MID.date(), "unknown-token"): 2,
                (START, "unknown-token"): 1,
                (START - timedelta(days=1), "no-credential"): 7,  # outside the period
                (END + timedelta(days=1), "cross-site-request"): 1,
            },
        )
        held = engine.store.ensure_subject(session, "Jane Doe")  # held data appears only as counts
        released = engine.store.ensure_subject(session, "John Roe")
        for ref, until in ((held, None), (released, MID)):
            session.add(
                LegalHoldRow(
                    subject_id=ref.subject_id,
                    reference="COURT-ORDER-12",
                    placed_at=FIRST,
                    placed_by="founder",
                    released_at=until,
                    released_by=until and "founder",
                )
            )
    return engine


def test_events_can_be_read_for_a_half_open_time_range(gallery: Engine) -> None:
    with gallery.store.transaction() as session:
        found = audit.events(session, since=FIRST, until=LAST + timedelta(microseconds=1))
        assert len(found) == IN_PERIOD and min(e.ts for e in found) == FIRST and max(e.ts for e in found) == LAST
        assert [e.ts for e in audit.events(session, since=FIRST, until=FIRST)] == []
        assert [e.action for e in audit.events(session, until=FIRST)][-1] == "search.identify"
        assert len(audit.events(session, action="search.identify", since=FIRST, until=MID)) == 1
        with pytest.raises(ValueError, match="no time zone"):
            audit.events(session, since=datetime(2024, 3, 1))
    assert gallery.audit_verify().ok  # events placed at chosen times still chain


def test_every_aggregate_counts_the_period(gallery: Engine) -> None:
    report = gallery.acting_as("auditor").transparency_report(START, END)
    assert (report.start, report.end, report.events) == (START, END, IN_PERIOD)
    assert report.identify == SearchCounts(
        total=4,
        by_purpose={ODD_PURPOSE: 2, "missing person": 2},
        cases=2,
        with_authorisation=1,
        suppressed_candidates=3,
    )
    assert report.verify == SearchCounts(total=2, by_purpose={"(none stated)": 1, "access review": 1}, cases=1)
    assert report.review == ReviewCounts(
        nominations=2,
        nominated_cases=1,
        confirm_decisions=2,
        reject_decisions=1,
        reached_confirmed=1,
        reached_rejected=1,
        exports=1,
        exported_identifications=1,
    )
    assert report.removals == RemovalCounts(
        erasures=1,
        erased_images=2,
        erased_faces=3,
        purges=2,
        purged_subjects=3,
        purged_images=5,
        purged_faces=6,
        held_images_kept=1,
        holds_placed=1,
        holds_released=1,
        opt_outs_recorded=1,
    )
    assert report.oversight == OversightCounts(
        refusals=5,
        refusals_by_permission={"identify": 2},
        refusals_by_rule={"purpose": 1, "quota": 1, "unspecified": 1},
        failed_authentications=1,
        failed_authentications_by_reason={"authentication-failed": 1},
        photos_refused=5,
        photos_refused_by_reason={"no-face": 2, "not-an-image": 2, "truncated-image": 1},
        flags_by_kind={"burst": 2, "off-hours": 1},
        subject_access_reports=1,
        unattributed_refusals=8,
        unattributed_by_reason={"no-credential": 5, "unknown-token": 3},
    )
    assert report.gallery == GalleryCounts(subjects=2, images=0, faces=0, subjects_on_hold=1, opt_outs=0)


def test_the_pure_builder_ignores_events_outside_the_period(gallery: Engine) -> None:
    everything = gallery.acting_as("auditor").audit_events()
    now = datetime.now(UTC)
    report = build_report(everything, START, END, generated_at=now)
    assert report.events == IN_PERIOD and report.removals.erasures == 1 and report.gallery is None
    one_day = build_report(everything, END, END, generated_at=now)
    assert (one_day.events, one_day.identify.total, one_day.verify.total) == (1, 1, 0)
    later = build_report(everything, date(2024, 4, 1), date(2024, 4, 30), generated_at=now)
    assert (later.events, later.removals.erased_images, later.verify.total) == (2, 9, 1)


def test_the_report_names_no_one(gallery: Engine, tmp_path: Path) -> None:
    report = gallery.acting_as("auditor").transparency_report(START, END)
    html_path, json_path = write_report(report, tmp_path / "out")
    assert (html_path.name, json_path.name) == (HTML_NAME, JSON_NAME)
    page, data = html_path.read_text(encoding="utf-8"), json_path.read_text(encoding="utf-8")
    assert json.loads(data) == json.loads(to_json(report))
    for secret in SECRETS:
        assert secret not in page and secret not in data, secret
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "Aggregates only" in page and "never names a subject" in json.loads(data)["note"]


def test_making_the_report_is_audited(gallery: Engine) -> None:
    gallery.transparency_report(START, END)  # the admin may, as well as the auditor
    [made] = gallery.acting_as("auditor").audit_events(action="report.transparency")
    assert made.actor == "founder" and made.details == {"from": "2024-03-01", "to": "2024-03-31"}
    assert gallery.audit_verify().ok


@pytest.mark.parametrize("role", ["operator", "enroller", "verifier"])
def test_roles_without_reporting_rights_are_refused_and_audited(gallery: Engine, role: str) -> None:
    with pytest.raises(PermissionDeniedError, match=f"the {role} role may not"):
        gallery.acting_as(role).transparency_report(START, END)
    log = gallery.acting_as("auditor").audit_events()
    assert log[-1].action == "policy.refused" and log[-1].actor == role
    assert log[-1].details["permission"] == "read reports or manage the gallery"
    assert not any(e.action == "report.transparency" for e in log)


def test_a_period_ending_before_it_starts_is_refused(gallery: Engine) -> None:
    before = len(gallery.acting_as("auditor").audit_events())
    with pytest.raises(InputError, match="ends .* before it starts"):
        gallery.acting_as("auditor").transparency_report(END, START)
    assert len(gallery.acting_as("auditor").audit_events()) == before


def _cli(home: Path, cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI as a new process running this checkout's code, in folder CWD, with ENV (a user's token)."""
    src = str(Path(facesearch.__file__).resolve().parents[1])
    env = os.environ | {"FACESEARCH_HOME": str(home), "COLUMNS": "200", "PYTHONPATH": src} | env
    return subprocess.run(
        [sys.executable, "-m", "facesearch", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_the_command_writes_html_and_json(gallery: Engine, tmp_path: Path) -> None:
    home = gallery.home.root
    auditor, operator = as_user(gallery, "auditor"), as_user(gallery, "operator")
    gallery.close()
    made = _cli(home, tmp_path, "report", "--from", "2024-03-01", "--to", "2024-03-31", env=auditor)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "transparency-2024-03-01-2024-03-31"
    assert json.loads((folder / JSON_NAME).read_text())["identify"]["total"] == 4
    assert "transparency report, 2024-03-01 to 2024-03-31" in (folder / HTML_NAME).read_text()
    assert "wrote" in made.stdout

    printed = _cli(
        home,
        tmp_path,
        "report",
        "--from",
        "2024-03-31",
        "--to",
        "2024-03-31",
        "--out",
        str(tmp_path / "one-day"),
        "--json",
        env=auditor,
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["identify"]["total"] == 1 and (tmp_path / "one-day" / HTML_NAME).exists()

    refused = _cli(home, tmp_path, "report", "--from", "2024-03-01", "--to", "2024-03-31", env=operator)
    assert refused.returncode == 4 and "may not" in refused.stderr
    for bad in (("--from", "2024-13-01", "--to", "2024-03-31"), ("--from", "2024-03-31", "--to", "2024-03-01")):
        wrong = _cli(home, tmp_path, "report", *bad, env=auditor)
        assert wrong.returncode == 3, wrong.stderr
