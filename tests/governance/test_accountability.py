"""The rules of accountable use, each attacked: purpose binding, two-person confirmation,
retention with legal holds, and the opt-out list. Every refusal is named and audited."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import facesearch
from facesearch.engine import Engine
from facesearch.errors import (
    ConfirmationError,
    InputError,
    LegalHoldError,
    MissingAuthorisationError,
    NoRetentionPolicyError,
    NotConfirmedError,
    OptedOutError,
    PermissionDeniedError,
    PurposeNotAllowedError,
    QuotaExceededError,
    RetentionError,
)
from facesearch.pipeline.models import DlibModels
from facesearch.pipeline.prepare import prepare

from helpers import RETENTION_DAYS, index_bytes, index_form_bytes, sealed_bytes, snapshot, vector_bytes

pytestmark = pytest.mark.model


def last_event(engine: Engine) -> facesearch.AuditEvent:
    return engine.acting_as("auditor").audit_events()[-1]


def assert_refusal_audited(engine: Engine, actor: str, rule: str) -> None:
    event = last_event(engine)
    assert (event.action, event.actor, event.details["rule"]) == ("policy.refused", actor, rule)
    assert engine.audit_verify().ok


# --- purpose binding ---------------------------------------------------------------------------


def test_a_search_outside_the_allowed_purposes_is_refused_and_audited(
    enrolled: Engine, photos: dict[str, Path]
) -> None:
    operator = enrolled.acting_as("operator")
    _, index_before, audit_before, subjects_before = snapshot(enrolled)
    with pytest.raises(PurposeNotAllowedError, match="'curiosity' is not a purpose this gallery allows"):
        operator.identify(photos["probe"], purpose="curiosity", case="X-1")
    _, index_after, audit_after, subjects_after = snapshot(enrolled)
    assert (index_after, audit_after[:-1], subjects_after) == (index_before, audit_before, subjects_before)
    assert_refusal_audited(enrolled, "operator", "purpose")
    with pytest.raises(PurposeNotAllowedError):
        operator.verify(photos["probe"], photos["astronaut"], purpose="curiosity", case="X-1")
    assert_refusal_audited(enrolled, "operator", "purpose")


def test_a_purpose_may_require_an_authorisation_reference(enrolled: Engine, photos: dict[str, Path]) -> None:
    operator = enrolled.acting_as("operator")
    with pytest.raises(MissingAuthorisationError, match="must carry an authorisation reference"):
        operator.identify(photos["probe"], purpose="warrant search", case="W-1")
    assert_refusal_audited(enrolled, "operator", "purpose")
    result = operator.identify(photos["probe"], purpose="Warrant Search", case="W-1", authorisation="WARRANT 77/26")
    assert (result.purpose, result.authorisation) == ("warrant search", "WARRANT 77/26")
    event = last_event(enrolled)
    assert (event.action, event.details["authorisation"]) == ("search.identify", "WARRANT 77/26")


def test_a_gallery_with_no_declared_purpose_answers_no_search(tmp_path: Path, models: DlibModels) -> None:
    with facesearch.init(tmp_path / "home", actor="admin", models=models) as admin:
        admin.accounts.add_user("operator", "operator")
        with pytest.raises(PurposeNotAllowedError, match="declares no search purposes"):
            admin.acting_as("operator").identify(b"never decoded", purpose="anything", case="C")
        admin.purposes.add("missing person search")
        with pytest.raises(InputError, match="already an allowed purpose"):
            admin.purposes.add("Missing Person Search")
        admin.purposes.remove("missing person search")
        assert admin.purposes.list() == []


# --- two separate confirmations ------------------------------------------------------------------


@pytest.fixture
def nominated(enrolled: Engine, photos: dict[str, Path]) -> tuple[Engine, int]:
    """A second verifier, and Eileen Collins nominated from a search of the probe."""
    enrolled.accounts.add_user("verifier-2", "verifier")
    result = enrolled.acting_as("operator").identify(photos["probe"], purpose="missing person search", case="MP-9")
    assert result.faces[0].candidates[0].subject == "Eileen Collins"
    nomination = enrolled.acting_as("operator").cases.nominate(result.audit_seq, "Eileen Collins")
    return enrolled, nomination.nomination_id


def test_two_separate_confirmations_make_an_identification_exportable(nominated: tuple[Engine, int]) -> None:
    engine, nid = nominated
    operator, first, second = (engine.acting_as(n) for n in ("operator", "verifier", "verifier-2"))
    assert [n.nomination_id for n in first.cases.queue()] == [nid]
    first.cases.confirm(nid, note="same scar on the chin")
    assert [n.status for n in operator.cases.case("MP-9")] == ["pending"]
    with pytest.raises(NotConfirmedError, match="no identification confirmed by 2 verifiers"):
        operator.cases.export("MP-9")
    assert_refusal_audited(engine, "operator", "confirmation")
    assert first.cases.queue() == []  # decided: it leaves their queue
    second.cases.confirm(nid)
    assert [n.status for n in operator.cases.case("MP-9")] == ["confirmed"]
    exported = operator.cases.export("MP-9")
    [item] = exported.identifications
    assert item.nomination.subject == "Eileen Collins"
    assert [c.verifier for c in item.confirmations] == ["verifier", "verifier-2"]
    # every time in the export is in UTC, as exported_at is (SQLite keeps no zone; it used to read back naive)
    times = [exported.exported_at, item.nomination.nominated_at, *(c.decided_at for c in item.confirmations)]
    assert [t.utcoffset() for t in times] == [timedelta(0)] * len(times)
    held = engine.subject_report("Eileen Collins")  # the subject may learn of it (GDPR art. 15)
    assert [(n.nomination_id, n.case, n.status) for n in held.nominations] == [(nid, "MP-9", "confirmed")]
    steps = [(e.action, e.actor) for e in engine.acting_as("auditor").audit_events() if e.case == "MP-9"]
    assert steps == [
        ("case.open", "operator"),  # the first search naming the case opened it, owned by its operator
        ("search.identify", "operator"),
        ("candidate.nominate", "operator"),
        ("candidate.confirm", "verifier"),
        ("candidate.confirm", "verifier-2"),
        ("case.export", "operator"),
    ]
    assert engine.audit_verify().ok


def test_verifiers_decide_blind(nominated: tuple[Engine, int]) -> None:
    engine, nid = nominated
    first, second = engine.acting_as("verifier"), engine.acting_as("verifier-2")
    seen_before = second.cases.queue()
    assert [n.status for n in seen_before] == [None]  # no status, no one else's decision
    first.cases.reject(nid, reason="different ear shape")
    assert second.cases.queue() == []  # one rejection ends it; nothing is left to decide
    for peek in (lambda: second.cases.decisions(nid), lambda: second.cases.case("MP-9")):
        with pytest.raises(PermissionDeniedError):
            peek()
        assert_refusal_audited(engine, "verifier-2", "role")
    with pytest.raises(ConfirmationError, match="already rejected"):
        second.cases.confirm(nid)
    assert_refusal_audited(engine, "verifier-2", "confirmation")
    decisions = engine.acting_as("auditor").cases.decisions(nid)
    assert [(d.verifier, d.decision.value, d.note) for d in decisions] == [
        ("verifier", "reject", "different ear shape")
    ]


def test_a_second_verifier_sees_the_same_queue_whatever_the_first_decided(nominated: tuple[Engine, int]) -> None:
    engine, nid = nominated
    before = engine.acting_as("verifier-2").cases.queue()
    engine.acting_as("verifier").cases.confirm(nid)
    assert engine.acting_as("verifier-2").cases.queue() == before


def test_one_verifier_cannot_confirm_twice(nominated: tuple[Engine, int]) -> None:
    engine, nid = nominated
    verifier = engine.acting_as("verifier")
    verifier.cases.confirm(nid)
    with pytest.raises(ConfirmationError, match="already decided"):
        verifier.cases.confirm(nid)
    assert_refusal_audited(engine, "verifier", "confirmation")
    assert [n.status for n in engine.acting_as("operator").cases.case("MP-9")] == ["pending"]


def test_the_operator_cannot_confirm_their_own_nomination(nominated: tuple[Engine, int]) -> None:
    engine, nid = nominated
    with pytest.raises(PermissionDeniedError, match="the operator role may not confirm"):
        engine.acting_as("operator").cases.confirm(nid)
    assert_refusal_audited(engine, "operator", "role")
    # Even if the operator later became a verifier, their own nomination is not theirs to decide.
    with engine.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE users SET role = 'verifier' WHERE name = 'operator'")
    with pytest.raises(ConfirmationError, match="nominated this candidate"):
        engine.acting_as("operator").cases.confirm(nid)
    assert_refusal_audited(engine, "operator", "confirmation")
    assert engine.acting_as("operator").cases.queue() == []


def test_only_confirmed_nominations_are_exported(nominated: tuple[Engine, int]) -> None:
    engine, nid = nominated
    operator = engine.acting_as("operator")
    with pytest.raises(NotConfirmedError, match=f"nomination #{nid} is pending"):
        operator.cases.export("MP-9", nominations=[nid])
    assert_refusal_audited(engine, "operator", "confirmation")
    search = engine.acting_as("auditor").audit_events(action="search.identify")[-1].seq
    with pytest.raises(InputError, match="there is no face 4"):
        operator.cases.nominate(search, "Eileen Collins", face_index=3)
    with pytest.raises(InputError, match="already nominated"):
        operator.cases.nominate(search, "Eileen Collins")


# --- retention, purge and legal holds ---------------------------------------------------------


def test_a_gallery_takes_no_enrollment_before_it_has_a_retention_period(
    tmp_path: Path, models: DlibModels, photos: dict[str, Path]
) -> None:
    with facesearch.init(tmp_path / "home", actor="admin", models=models) as admin:
        admin.accounts.add_user("enroller", "enroller")
        admin.accounts.add_user("auditor", "auditor")
        enroller = admin.acting_as("enroller")
        with pytest.raises(NoRetentionPolicyError, match="no retention period"):
            enroller.enroll(photos["astronaut"], subject="E", source="s", basis="consent")
        assert_refusal_audited(admin, "enroller", "retention")
        admin.retention.set_period(30)
        with pytest.raises(RetentionError, match="beyond this gallery's retention period of 30 days"):
            enroller.enroll(photos["astronaut"], subject="E", source="s", basis="consent", retain_until="2099-01-01")
        enroller.enroll(photos["astronaut"], subject="E", source="s", basis="consent")
        [summary] = admin.subjects()
        assert summary.retain_until is not None and (summary.retain_until - summary.created_at.date()).days == 30


def _face_id(engine: Engine, subject: str) -> int:
    with engine.store.engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT f.id FROM faces f JOIN images i ON f.image_id = i.id JOIN subjects s ON i.subject_id = s.id "
                "WHERE s.name = ?",
                (subject,),
            ).scalar_one()
        )


def _expire(engine: Engine, subject: str) -> None:
    """As if the subject's photos had reached their retain-until date long ago."""
    with engine.store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE images SET retain_until = '2001-01-01' WHERE subject_id = (SELECT id FROM subjects WHERE name = ?)",
            (subject,),
        )


def test_expired_data_is_destroyed_on_open_and_held_data_survives(enrolled: Engine, models: DlibModels) -> None:
    collins, hopper = (_face_id(enrolled, name) for name in ("Eileen Collins", "Grace Hopper"))
    # The templates as the database file holds them (sealed; a row with its crop may run over into
    # overflow pages, so the first 64 bytes, which include the random nonce, stand for the whole),
    # and as the index holds them (decrypted).
    collins_bytes, hopper_bytes = sealed_bytes(enrolled, collins)[:64], sealed_bytes(enrolled, hopper)[:64]
    collins_forms = [index_form_bytes(enrolled, collins), vector_bytes(enrolled, collins)]  # index file, add log
    assert collins_bytes in enrolled.home.database.read_bytes()
    assert any(form in index_bytes(enrolled) for form in collins_forms)
    enrolled.retention.hold("Grace Hopper", reference="court order 12/26")
    _expire(enrolled, "Eileen Collins")
    _expire(enrolled, "Grace Hopper")
    with facesearch.open(enrolled.home.root, actor="auditor", models=models) as reopened:  # purges on open
        [certificate] = reopened.audit_events(action="gallery.purge")
    assert certificate.actor == "facesearch" and certificate.details["trigger"] == "open"
    assert (certificate.details["images_removed"], certificate.details["faces_removed"]) == (1, 1)
    assert (certificate.details["subjects_removed"], certificate.details["held_images_kept"]) == (1, 1)
    assert certificate.details["reason"] == "retention period expired"
    assert not any(isinstance(v, list) and v and isinstance(v[0], float) for v in certificate.details.values())
    assert [s.name for s in enrolled.subjects()] == ["Grace Hopper"]
    assert collins_bytes not in enrolled.home.database.read_bytes()
    assert not any(form in index_bytes(enrolled) for form in collins_forms)
    with pytest.raises(LegalHoldError, match="court order 12/26"):
        enrolled.erase("Grace Hopper", reason="erasure request")
    assert_refusal_audited(enrolled, "tester", "legal-hold")
    [hold] = enrolled.subject_report("Grace Hopper").legal_holds
    assert (hold.reference, hold.released_at) == ("court order 12/26", None)
    enrolled.retention.release("Grace Hopper", reference="court order 12/26")
    certificate = enrolled.retention.purge()
    assert (certificate.images_removed, certificate.subjects_removed, certificate.held_images_kept) == (1, 1, 0)
    assert enrolled.subjects() == [] and hopper_bytes not in enrolled.home.database.read_bytes()
    assert enrolled.audit_verify().ok


def test_nothing_is_purged_before_its_date(enrolled: Engine) -> None:
    certificate = enrolled.retention.purge()
    assert (certificate.images_removed, certificate.faces_removed) == (0, 0)
    assert len(enrolled.subjects()) == 2
    assert enrolled.retention.period() == RETENTION_DAYS


# --- the opt-out list --------------------------------------------------------------------------


def test_an_opted_out_face_is_not_enrolled(engine: Engine, photos: dict[str, Path], tmp_path: Path) -> None:
    engine.acting_as("enroller").opt_outs.record(photos["probe"], request_ref="REQ-2026-4")
    enroller = engine.acting_as("enroller")
    with pytest.raises(OptedOutError, match="do-not-enroll list"):
        enroller.enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
    assert_refusal_audited(engine, "enroller", "opt-out")
    assert "Eileen" not in str(last_event(engine).details)
    folder = tmp_path / "people"
    for name, photo in (("Eileen Collins", "astronaut"), ("Grace Hopper", "hopper")):
        (folder / name).mkdir(parents=True)
        (folder / name / "1.jpg").write_bytes(photos[photo].read_bytes())
    result = enroller.enroll_directory(folder, source="s", basis="consent")
    assert result.enrolled == 1 and [r.reason for r in result.rejected] == ["opted-out"]
    assert [s.name for s in engine.subjects()] == ["Grace Hopper"]
    assert engine.acting_as("auditor").audit_events(action="policy.refused")[-1].details["photos_refused"] == 1


def test_a_search_never_returns_an_opted_out_face(enrolled: Engine, photos: dict[str, Path]) -> None:
    operator = enrolled.acting_as("operator")
    before = operator.identify(photos["probe"], purpose="missing person search", case="MP-1")
    assert before.faces[0].candidates[0].subject == "Eileen Collins"
    enrolled.acting_as("enroller").opt_outs.record(photos["astronaut"], request_ref="REQ-9")
    after = operator.identify(photos["probe"], purpose="missing person search", case="MP-1")
    assert [c.subject for c in after.faces[0].candidates] == ["Grace Hopper"]
    event = last_event(enrolled)
    assert event.details["suppressed"] == 1
    subject_ids = {s.subject_id for s in enrolled.subjects()}
    collins_id = next(c.subject_id for c in before.faces[0].candidates if c.subject == "Eileen Collins")
    assert collins_id in subject_ids and collins_id not in str(event.details)
    assert [o.request_ref for o in enrolled.opt_outs.list()] == ["REQ-9"]
    template = prepare(photos["astronaut"], enrolled.pipeline).face.embedding.vector.astype("<f4").tobytes()
    assert template not in enrolled.home.database.read_bytes()  # the opt-out template is sealed too


# --- quotas and anomaly flags ------------------------------------------------------------------


def test_a_search_over_quota_is_refused_and_a_repeated_probe_is_flagged(
    enrolled: Engine, photos: dict[str, Path], models: DlibModels
) -> None:
    tight = enrolled.settings.replace(search_quota_per_hour=2, repeat_probe_searches=2)
    with facesearch.open(enrolled.home.root, actor="operator", settings=tight, models=models) as operator:
        first = operator.identify(photos["probe"], purpose="missing person search", case="MP-3")
        second = operator.identify(photos["probe"], purpose="missing person search", case="MP-3")
        with pytest.raises(QuotaExceededError, match="search_quota_per_hour"):
            operator.identify(photos["probe"], purpose="missing person search", case="MP-3")
    assert_refusal_audited(enrolled, "operator", "quota")
    flags = enrolled.acting_as("auditor").audit_events(action="search.flagged")
    assert [(f.details["flag"], f.details["search_seq"]) for f in flags] == [("repeated-probe", second.audit_seq)]
    assert first.audit_seq < second.audit_seq
