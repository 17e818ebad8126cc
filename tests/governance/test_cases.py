"""Cases have members, and verifiers see the probe face: each rule attacked from the Python API,
on real photos. Only a case's members search under it, nominate from its searches, read and export
it; the probe face a nomination was made for is kept sealed with its case, shown to the verifiers
beside the candidate's enrolled faces, every view audited, and purged with the case."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

import facesearch
from facesearch.engine import Engine
from facesearch.errors import (
    CaseMembershipError,
    CaseNotFoundError,
    ConfirmationError,
    InputError,
    PermissionDeniedError,
    TamperedDataError,
)
from facesearch.pipeline.models import DlibModels

from helpers import RETENTION_DAYS

pytestmark = pytest.mark.model

PURPOSE = "missing person search"


def events(engine: Engine, action: str) -> list[facesearch.AuditEvent]:
    return engine.acting_as("auditor").audit_events(action=action)


def assert_case_refusal(engine: Engine, actor: str, case: str) -> None:
    """The last event is the refusal, under the rule 'case', naming the case; the chain holds."""
    event = engine.acting_as("auditor").audit_events()[-1]
    assert (event.action, event.actor, event.case) == ("policy.refused", actor, case)
    assert (event.details["rule"], event.details["code"]) == ("case", "not-a-case-member")
    assert engine.audit_verify().ok


@pytest.fixture
def searched(enrolled: Engine, photos: dict[str, Path]) -> tuple[Engine, int, int]:
    """A second operator and a second verifier; the operator searched the probe under MP-9 and
    nominated Eileen Collins. Returns the engine, the search and the nomination."""
    enrolled.accounts.add_user("operator-2", "operator")
    enrolled.accounts.add_user("verifier-2", "verifier")
    result = enrolled.acting_as("operator").identify(photos["probe"], purpose=PURPOSE, case="MP-9")
    nomination = enrolled.acting_as("operator").cases.nominate(result.audit_seq, "Eileen Collins")
    return enrolled, result.audit_seq, nomination.nomination_id


# --- who works a case ------------------------------------------------------------------------


def test_the_first_search_opens_the_case_and_only_its_members_work_it(
    searched: tuple[Engine, int, int], photos: dict[str, Path]
) -> None:
    engine, search, nid = searched
    case = engine.acting_as("operator").cases.members("MP-9")
    assert (case.owner, [m.user for m in case.members]) == ("operator", ["operator"])
    assert case.retain_until == datetime.now(UTC).date() + timedelta(days=RETENTION_DAYS)
    [opened] = events(engine, "case.open")
    assert (opened.actor, opened.case) == ("operator", "MP-9")

    other = engine.acting_as("operator-2")
    attempts = [
        ("search under it", lambda: other.identify(photos["probe"], purpose=PURPOSE, case="MP-9")),
        ("search under it", lambda: other.verify(photos["probe"], photos["astronaut"], purpose=PURPOSE, case="MP-9")),
        ("read its nominations", lambda: other.cases.case("MP-9")),
        ("read its members", lambda: other.cases.members(" MP-9 ")),
        ("export it", lambda: other.cases.export("MP-9")),
        ("nominate from its searches", lambda: other.cases.nominate(search, "Grace Hopper")),
    ]
    for doing, attempt in attempts:
        with pytest.raises(
            CaseMembershipError, match=f"'operator-2' is not a member of case 'MP-9' and may not {doing}"
        ):
            attempt()
        assert_case_refusal(engine, "operator-2", "MP-9")
    assert [e.actor for e in events(engine, "search.identify")] == ["operator"]  # the refused search never ran
    assert events(engine, "search.verify") == [] and len(events(engine, "candidate.nominate")) == 1

    # A case nobody has named is opened by whoever searches under it, and is theirs.
    other.identify(photos["probe"], purpose=PURPOSE, case="MP-10")
    assert other.cases.members("MP-10").owner == "operator-2"
    with pytest.raises(CaseMembershipError):
        engine.acting_as("operator").cases.case("MP-10")

    # Admins and auditors keep their oversight reads; auditors (and admins) never export.
    for overseer in ("tester", "auditor"):
        assert [n.nomination_id for n in engine.acting_as(overseer).cases.case("MP-9")] == [nid]
        assert engine.acting_as(overseer).cases.members("MP-9").owner == "operator"
        with pytest.raises(PermissionDeniedError, match="may not export"):
            engine.acting_as(overseer).cases.export("MP-9")
    assert engine.acting_as("auditor").cases.case("NEVER-OPENED") == []
    with pytest.raises(CaseNotFoundError):
        engine.acting_as("auditor").cases.members("NEVER-OPENED")
    with pytest.raises(CaseMembershipError):  # an operator cannot tell an unknown case from another's
        other.cases.case("NEVER-OPENED")

    # Verifiers are no members of anything: they decide whatever the case.
    engine.acting_as("verifier").cases.confirm(nid)
    engine.acting_as("verifier-2").cases.confirm(nid)
    [item] = engine.acting_as("operator").cases.export("MP-9").identifications
    assert item.nomination.nomination_id == nid


def test_the_owner_or_an_admin_adds_members(searched: tuple[Engine, int, int], photos: dict[str, Path]) -> None:
    engine, search, nid = searched
    engine.accounts.add_user("operator-3", "operator")
    owner, other = engine.acting_as("operator"), engine.acting_as("operator-2")
    with pytest.raises(CaseMembershipError, match="only the owner of case 'MP-9' or an admin adds members"):
        other.cases.add_member("MP-9", "operator-2")
    assert_case_refusal(engine, "operator-2", "MP-9")
    with pytest.raises(CaseMembershipError):  # no case there either: the same refusal, no oracle
        other.cases.add_member("NO-SUCH-CASE", "operator-2")
    for role_user in ("verifier", "auditor", "enroller"):
        with pytest.raises(PermissionDeniedError):
            engine.acting_as(role_user).cases.add_member("MP-9", "operator-2")

    added = owner.cases.add_member("MP-9", " operator-2 ")
    assert [m.user for m in added.members] == ["operator", "operator-2"]
    assert added.members[1].added_by == "operator"
    # A member works the case like its owner: reads it, searches under it, nominates, exports.
    assert [n.nomination_id for n in other.cases.case("MP-9")] == [nid]
    again = other.identify(photos["probe"], purpose=PURPOSE, case="MP-9")
    other.cases.nominate(search, "Grace Hopper")
    assert len(other.cases.case("MP-9")) == 2 and again.case == "MP-9"
    with pytest.raises(CaseMembershipError, match="only the owner"):  # a member is not the owner
        other.cases.add_member("MP-9", "operator-3")

    assert engine.cases.add_member("MP-9", "operator-3").members[-1].added_by == "tester"  # an admin
    for bad, message in (
        ("verifier", "only operators work cases"),
        ("auditor", "only operators work cases"),
        ("nobody", "not an enabled user"),
        ("operator-3", "already a member"),
    ):
        with pytest.raises(InputError, match=message):
            engine.cases.add_member("MP-9", bad)
    engine.accounts.add_user("operator-4", "operator")
    engine.accounts.disable_user("operator-4")
    with pytest.raises(InputError, match="not an enabled user"):
        engine.cases.add_member("MP-9", "operator-4")
    with pytest.raises(CaseNotFoundError):
        engine.cases.add_member("NO-SUCH-CASE", "operator-2")
    assert [(e.actor, e.details["member"]) for e in events(engine, "case.add_member")] == [
        ("operator", "operator-2"),
        ("tester", "operator-3"),
    ]
    assert engine.audit_verify().ok


# --- the probe face beside the enrolled faces --------------------------------------------------


def test_the_verifier_sees_the_probe_face_beside_the_enrolled_faces(searched: tuple[Engine, int, int]) -> None:
    engine, search, nid = searched
    [item] = engine.acting_as("verifier").cases.queue()
    assert item.probe_kept and item.face_ids  # enrolled crops are kept by default now
    assert item.status is None  # still blind
    probe = engine.acting_as("verifier").cases.probe_face(nid)
    assert probe is not None and Image.open(io.BytesIO(probe)).size == (150, 150)  # the aligned chip
    enrolled_face = engine.acting_as("verifier").face_thumbnail(item.face_ids[0])
    assert enrolled_face is not None and Image.open(io.BytesIO(enrolled_face)).size == (150, 150)
    [view] = events(engine, "probe.view")
    assert (view.actor, view.case, view.details) == (
        "verifier",
        "MP-9",
        {"nomination_id": nid, "search_seq": search, "face_index": 0},
    )
    assert probe[200:300] not in engine.home.database.read_bytes()  # sealed in the database

    # The case's members and admins see it too; nobody else.
    assert engine.acting_as("operator").cases.probe_face(nid) == probe
    assert engine.cases.probe_face(nid) == probe
    with pytest.raises(CaseMembershipError, match="may not see its probe faces"):
        engine.acting_as("operator-2").cases.probe_face(nid)
    assert_case_refusal(engine, "operator-2", "MP-9")
    with pytest.raises(PermissionDeniedError):
        engine.acting_as("auditor").cases.probe_face(nid)
    assert [e.actor for e in events(engine, "probe.view")] == ["verifier", "operator", "tester"]

    # A verifier sees the probe faces of the nominations awaiting their decision, and no others.
    engine.acting_as("verifier").cases.reject(nid, reason="different ear shape")
    for verifier in ("verifier", "verifier-2"):
        with pytest.raises(ConfirmationError, match="not awaiting your decision"):
            engine.acting_as(verifier).cases.probe_face(nid)


def test_a_probe_face_moved_to_another_search_is_refused(
    searched: tuple[Engine, int, int], photos: dict[str, Path]
) -> None:
    engine, search, nid = searched
    other = engine.acting_as("operator-2").identify(photos["hopper"], purpose=PURPOSE, case="MP-10")
    with engine.store.engine.begin() as conn:  # an insider copies another case's sealed crop over this one
        conn.exec_driver_sql(
            "UPDATE probe_faces SET crop_jpeg = (SELECT crop_jpeg FROM probe_faces WHERE search_seq = ?) "
            "WHERE search_seq = ?",
            (other.audit_seq, search),
        )
    with pytest.raises(TamperedDataError):
        engine.acting_as("verifier").cases.probe_face(nid)


def _date_case(engine: Engine, case: str, until: date) -> None:
    with engine.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE cases SET retain_until = ? WHERE id = ?", (until.isoformat(), case))


def test_probe_faces_live_as_long_as_their_case(
    searched: tuple[Engine, int, int], photos: dict[str, Path], models: DlibModels
) -> None:
    engine, search, nid = searched
    today = datetime.now(UTC).date()
    engine.acting_as("operator-2").identify(photos["hopper"], purpose=PURPOSE, case="MP-10")
    # Work in a case extends it: a decision dates it from today again.
    _date_case(engine, "MP-9", today)
    engine.acting_as("verifier").cases.confirm(nid)
    assert engine.cases.members("MP-9").retain_until == today + timedelta(days=RETENTION_DAYS)

    # A case nobody worked for a whole retention period: its probe faces go on the next open.
    _date_case(engine, "MP-9", today - timedelta(days=1))
    crop_head = engine.cases.probe_face(nid)
    assert crop_head is not None
    with facesearch.open(engine.home.root, actor="auditor", models=models) as reopened:
        [certificate] = reopened.audit_events(action="gallery.purge")
    assert (certificate.actor, certificate.details["trigger"]) == ("facesearch", "open")
    assert (certificate.details["probe_faces_removed"], certificate.details["probe_cases"]) == (1, ["MP-9"])
    assert certificate.details["faces_removed"] == 0  # the gallery's own faces are not touched
    [item] = engine.acting_as("verifier-2").cases.queue()
    assert not item.probe_kept and engine.acting_as("verifier-2").cases.probe_face(nid) is None
    # The case, its members and nominations stay: nobody else can open "MP-9" afresh.
    assert engine.cases.members("MP-9").owner == "operator"
    assert [n.nomination_id for n in engine.acting_as("operator").cases.case("MP-9")] == [nid]
    with pytest.raises(CaseMembershipError):
        engine.acting_as("operator-2").identify(photos["probe"], purpose=PURPOSE, case="MP-9")
    # The other case is untouched, and a purge with nothing expired destroys nothing.
    assert engine.retention.purge().probe_faces_removed == 0
    with engine.store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT case_id FROM probe_faces").scalars().all() == ["MP-10"]
    assert engine.transparency_report(today, today).removals.purged_probe_faces == 1


def test_a_gallery_without_a_retention_period_keeps_no_probe_face(
    tmp_path: Path, models: DlibModels, photos: dict[str, Path]
) -> None:
    with facesearch.init(tmp_path / "home", actor="admin", models=models) as engine:
        engine.accounts.add_user("operator", "operator")
        engine.purposes.add(PURPOSE)
        engine.acting_as("operator").identify(photos["probe"], purpose=PURPOSE, case="C-1")
        assert engine.cases.members("C-1").retain_until is None
        with engine.store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM probe_faces").scalar() == 0
