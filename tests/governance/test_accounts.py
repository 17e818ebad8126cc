"""Users, roles and tokens: each rule is attacked and must refuse, audited, changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import facesearch
from facesearch.engine import Engine
from facesearch.errors import AuthenticationError, InputError, PermissionDeniedError
from facesearch.governance.policy import ROLE_MATRIX, Permission, Role

# The words, as the table the code must implement.
SPEC = {
    Role.ADMIN: {
        "manage users",
        "manage tokens",
        "manage the gallery",
        "set retention",
        "erase subjects",
        "purge expired data",
        "place or release legal holds",  # retention's companion: suspends destruction
    },
    Role.ENROLLER: {"enroll", "record opt-outs"},
    Role.OPERATOR: {"identify", "verify", "cluster", "nominate candidates", "export confirmed identifications"},
    Role.VERIFIER: {"confirm or reject nominations"},
    Role.AUDITOR: {"read the audit log", "read reports"},
}


def test_role_matrix_is_the_specified_one() -> None:
    assert {role: {p.value for p in granted} for role, granted in ROLE_MATRIX.items()} == SPEC
    assert set(Permission) == {p for granted in ROLE_MATRIX.values() for p in granted}  # none unassigned


@pytest.fixture
def gallery(tmp_path: Path) -> Engine:
    """A gallery created by 'founder' (its admin) with one user of every role."""
    engine = facesearch.init(tmp_path / "home", actor="founder")
    for role in Role:
        if role is not Role.ADMIN:
            engine.accounts.add_user(f"{role.value}-1", role)
    return engine


def as_user(gallery: Engine, name: str) -> Engine:
    return facesearch.open(gallery.home.root, actor=name)


def test_the_creator_of_a_gallery_is_its_admin(gallery: Engine) -> None:
    users = {u.name: u.role for u in gallery.accounts.users()}
    assert users == {"founder": Role.ADMIN, **{f"{r.value}-1": r for r in Role if r is not Role.ADMIN}}
    added = gallery.acting_as("auditor-1").audit_events(action="user.add")
    assert [e.details["user"] for e in added] == ["founder", "enroller-1", "operator-1", "verifier-1", "auditor-1"]
    assert all(e.actor == "founder" for e in added)


MANAGEMENT: list[tuple[str, Callable[[Engine], Any]]] = [
    ("add a user", lambda e: e.accounts.add_user("newcomer", "operator")),
    ("list users", lambda e: e.accounts.users()),
    ("disable a user", lambda e: e.accounts.disable_user("operator-1")),
    ("issue an activation code", lambda e: e.accounts.invite("operator-1")),
    ("list tokens", lambda e: e.accounts.tokens()),
    ("revoke a token", lambda e: e.accounts.revoke_token("0000000000000000")),
]


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
@pytest.mark.parametrize("what, act", MANAGEMENT, ids=[m[0] for m in MANAGEMENT])
def test_only_an_admin_manages_users_and_tokens(
    gallery: Engine, role: Role, what: str, act: Callable[[Engine], Any]
) -> None:
    before = gallery.accounts.users()
    with pytest.raises(PermissionDeniedError, match=f"the {role.value} role may not"):
        act(as_user(gallery, f"{role.value}-1"))
    assert gallery.accounts.users() == before
    [refusal] = gallery.acting_as("auditor-1").audit_events(action="policy.refused")
    assert refusal.actor == f"{role.value}-1" and refusal.details["permission"].startswith("manage")
    assert gallery.audit_verify().ok


@pytest.mark.parametrize("actor", ["stranger", "disabled-one"])
def test_unknown_and_disabled_actors_are_refused(gallery: Engine, actor: str) -> None:
    gallery.accounts.add_user("disabled-one", "admin")
    gallery.accounts.disable_user("disabled-one")
    with pytest.raises(PermissionDeniedError, match="not a user" if actor == "stranger" else "disabled"):
        as_user(gallery, actor).accounts.users()
    assert gallery.acting_as("auditor-1").audit_events(action="policy.refused")[-1].actor == actor


def test_tokens_are_stored_only_as_salted_hashes_and_authenticate(gallery: Engine) -> None:
    first = gallery.signin.redeem(gallery.accounts.invite("operator-1").code)
    second = gallery.signin.redeem(gallery.accounts.invite("operator-1").code)
    assert first.token != second.token and first.token.startswith(f"fs_{first.id}_")
    database = gallery.home.database.read_bytes()
    assert first.token.encode() not in database and first.token.split("_", 2)[2].encode() not in database
    assert gallery.authenticate(first.token).name == "operator-1"
    issued = gallery.acting_as("auditor-1").audit_events(action="activation.redeem")
    assert [e.details["token_id"] for e in issued] == [first.id, second.id]
    assert all(first.token not in str(e.to_dict()) for e in gallery.acting_as("auditor-1").audit_events())


def test_wrong_malformed_revoked_and_disabled_tokens_are_refused(gallery: Engine) -> None:
    good = gallery.signin.redeem(gallery.accounts.invite("operator-1").code)
    other = gallery.signin.redeem(gallery.accounts.invite("verifier-1").code)
    wrong_secret = good.token[:-4] + ("AAAA" if not good.token.endswith("AAAA") else "BBBB")
    swapped = f"fs_{other.id}_" + good.token.split("_", 2)[2]  # one token's secret under another's id
    for token in (wrong_secret, "fs_nothing", "", "Bearer " + good.token, swapped):
        with pytest.raises(AuthenticationError):
            gallery.authenticate(token)
    gallery.accounts.revoke_token(good.id)
    with pytest.raises(AuthenticationError):
        gallery.authenticate(good.token)
    assert gallery.authenticate(other.token).name == "verifier-1"
    gallery.accounts.disable_user("verifier-1")
    with pytest.raises(AuthenticationError):
        gallery.authenticate(other.token)  # disabling revoked it
    # audited: the wrong secrets, the revoked and the disabled user's token, credentials the gallery issued;
    # "fs_nothing", "" and "Bearer ..." name no token it issued: counted, not audited
    assert len(gallery.acting_as("auditor-1").audit_events(action="auth.failed")) == 4
    today = datetime.now(UTC).date()
    report = gallery.acting_as("auditor-1").transparency_report(today, today)
    assert report.oversight.unattributed_by_reason == {"unknown-token": 3}
    assert gallery.audit_verify().ok


def test_bad_management_requests_name_the_problem(gallery: Engine) -> None:
    with pytest.raises(InputError, match="not a role"):
        gallery.accounts.add_user("x", "superuser")
    with pytest.raises(InputError, match="already exists"):
        gallery.accounts.add_user("operator-1", "operator")
    with pytest.raises(InputError, match="no enabled user"):
        gallery.accounts.invite("nobody")
    for reserved in ("facesearch", "facesearch-service", "Facesearch-CLI"):
        with pytest.raises(InputError, match="facesearch itself acts under"):
            gallery.accounts.add_user(reserved, "admin")
    with pytest.raises(InputError, match="no token"):
        gallery.accounts.revoke_token("feedfacefeedface")


TODAY = date.today()

# Every core entry point against every role: who may call it, per the matrix.
ENTRY_POINTS: list[tuple[str, set[Role], Callable[[Engine, Path], Any]]] = [
    ("enroll", {Role.ENROLLER}, lambda e, p: e.enroll(p, subject="X", source="s", basis="consent")),
    ("enroll-dir", {Role.ENROLLER}, lambda e, p: e.enroll_directory(p.parent, source="s", basis="consent")),
    ("identify", {Role.OPERATOR}, lambda e, p: e.identify(p, purpose="p", case="c")),
    ("verify", {Role.OPERATOR}, lambda e, p: e.verify(p, p, purpose="p", case="c")),
    ("erase", {Role.ADMIN}, lambda e, p: e.erase("Nobody", reason="r")),
    ("calibrate", {Role.ADMIN}, lambda e, p: e.calibrate(p.parent, target_fmr=0.1)),
    ("rebuild index", {Role.ADMIN}, lambda e, p: e.rebuild_index()),
    ("index status", {Role.ADMIN, Role.AUDITOR}, lambda e, p: e.index_info()),
    ("list subjects", {Role.ADMIN, Role.ENROLLER, Role.AUDITOR}, lambda e, p: e.subjects()),
    ("read the audit log", {Role.AUDITOR}, lambda e, p: e.audit_events()),
    ("check the audit chain", {Role.ADMIN, Role.AUDITOR}, lambda e, p: e.audit_verify()),
    ("subject report", {Role.ADMIN, Role.AUDITOR}, lambda e, p: e.subject_report("Nobody")),
    ("allow a purpose", {Role.ADMIN}, lambda e, p: e.purposes.add("new purpose")),
    ("withdraw a purpose", {Role.ADMIN}, lambda e, p: e.purposes.remove("p")),
    ("set retention", {Role.ADMIN}, lambda e, p: e.retention.set_period(30)),
    ("purge", {Role.ADMIN}, lambda e, p: e.retention.purge()),
    ("place a legal hold", {Role.ADMIN}, lambda e, p: e.retention.hold("Nobody", reference="r")),
    ("release a legal hold", {Role.ADMIN}, lambda e, p: e.retention.release("Nobody", reference="r")),
    ("list legal holds", {Role.ADMIN, Role.AUDITOR}, lambda e, p: e.retention.holds()),
    ("record an opt-out", {Role.ENROLLER}, lambda e, p: e.opt_outs.record(p, request_ref="r")),
    ("list opt-outs", {Role.ADMIN, Role.ENROLLER, Role.AUDITOR}, lambda e, p: e.opt_outs.list()),
    ("nominate", {Role.OPERATOR}, lambda e, p: e.cases.nominate(1, "Nobody")),
    ("verifier queue", {Role.VERIFIER}, lambda e, p: e.cases.queue()),
    ("confirm", {Role.VERIFIER}, lambda e, p: e.cases.confirm(1)),
    ("reject", {Role.VERIFIER}, lambda e, p: e.cases.reject(1, reason="r")),
    ("a case's nominations", {Role.ADMIN, Role.OPERATOR, Role.AUDITOR}, lambda e, p: e.cases.case("c")),
    ("who decided what", {Role.AUDITOR}, lambda e, p: e.cases.decisions(1)),
    ("export a case", {Role.OPERATOR}, lambda e, p: e.cases.export("c")),
    ("transparency report", {Role.ADMIN, Role.AUDITOR}, lambda e, p: e.transparency_report(TODAY, TODAY)),
    ("cluster a collection", {Role.OPERATOR}, lambda e, p: e.collections.cluster(p.parent, purpose="p", case="c")),
    ("list clusters", {Role.OPERATOR, Role.AUDITOR}, lambda e, p: e.collections.clusters("c")),
    ("merge clusters", {Role.OPERATOR}, lambda e, p: e.collections.merge(1, 2)),
    ("split a cluster", {Role.OPERATOR}, lambda e, p: e.collections.split(1, [1])),
    ("cannot-link faces", {Role.OPERATOR}, lambda e, p: e.collections.cannot_link(1, 2)),
    ("name a cluster", {Role.OPERATOR}, lambda e, p: e.collections.name(1, "x")),
    ("delete a collection", {Role.ADMIN}, lambda e, p: e.collections.delete("c", reason="r")),
    ("search a cluster", {Role.OPERATOR}, lambda e, p: e.identify_cluster(1, purpose="p", case="c")),
    ("contact sheet", {Role.OPERATOR, Role.AUDITOR}, lambda e, p: e.collections.contact_sheet("c", p.parent)),
    ("list collections", {Role.OPERATOR, Role.AUDITOR}, lambda e, p: e.collections.collections()),
    ("read a collection", {Role.OPERATOR, Role.AUDITOR}, lambda e, p: e.collections.collection("c")),
    ("read a cluster", {Role.OPERATOR, Role.AUDITOR}, lambda e, p: e.collections.cluster_summary("c", 1)),
    ("a collection face's crop", {Role.OPERATOR, Role.AUDITOR}, lambda e, p: e.collections.face_crop(1)),
    ("an enrolled face's thumbnail", {Role.ADMIN, Role.OPERATOR, Role.VERIFIER}, lambda e, p: e.face_thumbnail(1)),
]
REFUSALS = [(what, role, act) for what, allowed, act in ENTRY_POINTS for role in Role if role not in allowed]


@pytest.mark.parametrize("what, role, act", REFUSALS, ids=[f"{w}-by-{r.value}" for w, r, _ in REFUSALS])
def test_each_entry_point_refuses_roles_without_its_permission(
    gallery: Engine, tmp_path: Path, what: str, role: Role, act: Callable[[Engine, Path], Any]
) -> None:
    photo = tmp_path / "people" / "X" / "photo.jpg"  # never read: the refusal comes first
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"not looked at")
    actor = "founder" if role is Role.ADMIN else f"{role.value}-1"
    events = len(gallery.acting_as("auditor-1").audit_events())
    with pytest.raises(PermissionDeniedError, match=f"the {role.value} role may not"):
        act(gallery.acting_as(actor), photo)
    after = gallery.acting_as("auditor-1").audit_events()
    assert len(after) == events + 1 and after[-1].action == "policy.refused" and after[-1].actor == actor
    assert gallery.subjects() == [] and gallery.audit_verify().ok


def test_acting_as_another_user_shares_the_gallery_and_leaves_it_open(gallery: Engine) -> None:
    view = gallery.acting_as("auditor-1")
    with view:
        assert view.actor == "auditor-1" and view.audit_events()
    assert gallery.subjects() == []  # the original's store is still open
