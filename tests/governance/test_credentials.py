"""Credentials only their owner sees (issue 17, item 2): an admin issues a one-time activation code,
the user exchanges it for a token no one else is shown; tokens expire and their owner rotates them;
web sessions are kept in the gallery, hashed, and end when they should. Each attack is refused,
audited (or, naming no credential the gallery issued, counted), and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import facesearch
from facesearch import lifecycle
from facesearch.engine import Engine
from facesearch.errors import ActivationError, AuthenticationError, CredentialExpiredError, InputError
from facesearch.gallery import GalleryStore
from facesearch.governance.credentials import ACTIVATION_LIFETIME
from facesearch.governance.policy import Role


@pytest.fixture
def gallery(tmp_path: Path) -> Engine:
    """A gallery created by 'founder' (its admin) with one user of every other role."""
    engine = facesearch.init(tmp_path / "home", actor="founder")
    for role in Role:
        if role is not Role.ADMIN:
            engine.accounts.add_user(f"{role.value}-1", role)
    return engine


def events(gallery: Engine, action: str) -> list[dict[str, object]]:
    return [e.to_dict() for e in gallery.acting_as("auditor-1").audit_events(action=action)]


def counted(gallery: Engine) -> dict[str, int]:
    """Today's refused requests that named no one, by reason, as the transparency report shows them."""
    today = datetime.now(UTC).date()
    return dict(gallery.acting_as("auditor-1").transparency_report(today, today).oversight.unattributed_by_reason)


def tokens_in(gallery: Engine) -> int:
    with gallery.store.engine.connect() as db:
        return int(db.exec_driver_sql("SELECT count(*) FROM tokens").scalar_one())


def backdate(gallery: Engine, table: str, row_id: str, column: str = "expires_at") -> None:
    with gallery.store.transaction() as session:
        session.execute(
            sa.text(f"UPDATE {table} SET {column} = :when WHERE id = :id"),
            {"when": datetime.now(UTC) - timedelta(minutes=1), "id": row_id},
        )


def test_the_admin_is_shown_a_code_never_the_users_token(gallery: Engine) -> None:
    code = gallery.accounts.invite("verifier-1")
    assert code.code.startswith(f"fsa_{code.id}_") and not hasattr(code, "token")
    assert timedelta(hours=71) < code.expires_at - datetime.now(UTC) <= ACTIVATION_LIFETIME
    issued = gallery.signin.redeem(code.code)
    assert issued.user == "verifier-1" and gallery.authenticate(issued.token).name == "verifier-1"
    assert timedelta(days=89) < issued.expires_at - datetime.now(UTC) <= timedelta(days=90)  # setting token_days
    database = gallery.home.database.read_bytes()
    for secret in (code.code, code.code.split("_", 2)[2], issued.token, issued.token.split("_", 2)[2]):
        assert secret.encode() not in database
    log = str([e.to_dict() for e in gallery.acting_as("auditor-1").audit_events()])
    assert code.code not in log and issued.token not in log
    [issue] = events(gallery, "activation.issue")
    [redeem] = events(gallery, "activation.redeem")
    assert issue["actor"] == "founder" and issue["details"]["code_id"] == code.id  # type: ignore[index]
    assert redeem["actor"] == "verifier-1"  # the user's own act, not the admin's
    assert redeem["details"] == {  # what the auditor needs to tie the token to the code
        "code_id": code.id,
        "token_id": issued.id,
        "expires_at": issued.expires_at.isoformat(),
    }
    listed = {t.id: t for t in gallery.accounts.tokens()}
    assert listed[issued.id].created_by == "verifier-1" and "token" not in listed[issued.id].to_dict()


def test_a_code_works_once_and_a_second_use_says_so(gallery: Engine) -> None:
    code = gallery.accounts.invite("verifier-1")
    issued = gallery.signin.redeem(code.code)  # say the admin kept a copy and used it first
    with pytest.raises(ActivationError, match="already been used.*tell your admin") as refused:
        gallery.signin.redeem(code.code)  # the real user notices
    assert refused.value.reason == "used" and refused.value.code == "activation-failed"
    assert tokens_in(gallery) == 1 and gallery.authenticate(issued.token).name == "verifier-1"
    [failed] = events(gallery, "activation.failed")
    assert failed["details"] == {"code": "activation-failed", "reason": "used", "code_id": code.id}
    assert gallery.audit_verify().ok


@pytest.mark.parametrize(
    "attack, reason",
    [
        ("expired", "expired"),
        ("withdrawn by a newer code", "withdrawn"),
        ("withdrawn by disabling the user", "withdrawn"),
        ("wrong secret", "wrong-secret"),
        ("unknown id", "unknown"),
        ("malformed", "unknown"),
        ("a token instead of a code", "unknown"),
        ("empty", "unknown"),
    ],
)
def test_a_code_that_cannot_be_spent_is_refused_audited_and_changes_nothing(
    gallery: Engine, attack: str, reason: str
) -> None:
    code = gallery.accounts.invite("operator-1")
    presented = code.code
    if attack == "expired":
        backdate(gallery, "activation_codes", code.id)
    elif attack == "withdrawn by a newer code":
        gallery.accounts.invite("operator-1")
    elif attack == "withdrawn by disabling the user":
        gallery.accounts.disable_user("operator-1")
    elif attack == "wrong secret":
        presented = f"fsa_{code.id}_{'A' * 32}"
    elif attack == "unknown id":
        presented = "fsa_0000000000000000_" + code.code.split("_", 2)[2]
    elif attack == "malformed":
        presented = "fsa_\n\x00" + "x" * 500
    elif attack == "a token instead of a code":
        presented = "fs_" + code.code.split("_", 1)[1]
    else:
        presented = ""
    before = tokens_in(gallery)
    with pytest.raises(ActivationError) as refused:
        gallery.signin.redeem(presented)
    assert refused.value.reason == reason and code.code not in refused.value.message
    assert tokens_in(gallery) == before
    if reason == "unknown":  # a code the gallery never issued names no one: counted, not audited
        assert events(gallery, "activation.failed") == []
        assert counted(gallery) == {"unknown-code": 1}
    else:
        [failed] = events(gallery, "activation.failed")
        assert failed["actor"] == "founder" and failed["details"]["reason"] == reason  # type: ignore[index]
        assert counted(gallery) == {}
    assert gallery.audit_verify().ok


def test_codes_are_for_enabled_users_only(gallery: Engine) -> None:
    gallery.accounts.disable_user("auditor-1")
    for name in ("auditor-1", "nobody", ""):
        with pytest.raises(InputError, match="no enabled user"):
            gallery.accounts.invite(name)


def test_an_expired_token_is_refused_and_says_so(gallery: Engine) -> None:
    issued = gallery.signin.redeem(gallery.accounts.invite("operator-1").code)
    backdate(gallery, "tokens", issued.id)
    with pytest.raises(CredentialExpiredError, match="expired .* new activation code") as refused:
        gallery.authenticate(issued.token)
    assert refused.value.code == "credential-expired"
    with pytest.raises(CredentialExpiredError):
        gallery.signin.rotate(issued.token)  # too late to rotate: it takes a new code
    assert [e["details"]["reason"] for e in events(gallery, "auth.failed")] == ["expired", "expired"]  # type: ignore[index]


def test_the_owner_rotates_a_token_and_the_old_one_stops_working(gallery: Engine) -> None:
    old = gallery.signin.redeem(gallery.accounts.invite("verifier-1").code)
    session = gallery.signin.start_session(old.token)
    new = gallery.signin.rotate(old.token)
    assert new.user == "verifier-1" and new.id != old.id and new.token != old.token
    assert gallery.authenticate(new.token).name == "verifier-1"
    with pytest.raises(AuthenticationError):
        gallery.authenticate(old.token)
    with pytest.raises(AuthenticationError):
        gallery.signin.session_user(session.secret)  # the sessions begun with the old token ended
    with pytest.raises(AuthenticationError):
        gallery.signin.rotate(old.token)  # a revoked token cannot be rotated back to life
    [rotated] = events(gallery, "token.rotate")
    assert rotated["actor"] == "verifier-1"
    assert rotated["details"]["token_id"] == old.id and rotated["details"]["new_token_id"] == new.id  # type: ignore[index]
    assert rotated["details"]["sessions_ended"] == 1  # type: ignore[index]


def test_rotating_another_users_token_is_rotating_it_for_them(gallery: Engine) -> None:
    """Rotation acts for whoever the token belongs to, never for the engine's actor: an admin engine
    handed a verifier's token makes a token for the verifier, audited as the verifier's act."""
    mine = gallery.signin.redeem(gallery.accounts.invite("verifier-1").code)
    rotated = gallery.signin.rotate(mine.token)  # the engine acts as founder
    assert rotated.user == "verifier-1" and gallery.authenticate(rotated.token).role is Role.VERIFIER
    assert events(gallery, "token.rotate")[0]["actor"] == "verifier-1"


def test_a_web_session_is_kept_hashed_and_ends_when_it_should(gallery: Engine) -> None:
    token = gallery.signin.redeem(gallery.accounts.invite("operator-1").code)
    started = gallery.signin.start_session(token.token)
    assert started.secret.startswith("fss_") and started.secret not in repr(started)
    assert started.expires_at - datetime.now(UTC) <= timedelta(hours=8)  # setting session_hours
    assert started.secret.encode() not in gallery.home.database.read_bytes()
    assert gallery.signin.session_user(started.secret).name == "operator-1"
    assert gallery.signin.end_session(started.secret) is True
    with pytest.raises(AuthenticationError) as ended:
        gallery.signin.session_user(started.secret)
    assert ended.value.reason == "session-ended"
    assert gallery.signin.end_session(started.secret) is False

    expired = gallery.signin.start_session(token.token)
    backdate(gallery, "web_sessions", expired.id)
    with pytest.raises(CredentialExpiredError):
        gallery.signin.session_user(expired.secret)

    revoked = gallery.signin.start_session(token.token)
    gallery.accounts.revoke_token(token.id)
    with pytest.raises(AuthenticationError):
        gallery.signin.session_user(revoked.secret)

    other = gallery.signin.redeem(gallery.accounts.invite("operator-1").code)
    disabled = gallery.signin.start_session(other.token)
    gallery.accounts.disable_user("operator-1")
    with pytest.raises(AuthenticationError):
        gallery.signin.session_user(disabled.secret)
    with pytest.raises(AuthenticationError):
        gallery.signin.session_user("fss_forged")

    [disable] = events(gallery, "user.disable")
    assert disable["details"] == {  # type: ignore[comparison-overlap]
        "user": "operator-1",
        "tokens_revoked": 1,
        "sessions_ended": 1,
        "codes_withdrawn": 0,
    }
    assert [e["actor"] for e in events(gallery, "session.start")] == ["operator-1"] * 4
    [end] = events(gallery, "session.end")
    assert end["actor"] == "operator-1" and end["details"]["session_id"] == started.id  # type: ignore[index]
    assert [e["details"]["sessions_ended"] for e in events(gallery, "token.revoke")] == [1]  # type: ignore[index]
    assert gallery.audit_verify().ok


def test_a_session_never_outlives_its_token(tmp_path: Path) -> None:
    settings = facesearch.Settings(token_days=1, session_hours=48)
    with facesearch.init(tmp_path / "home", actor="founder", settings=settings) as gallery:
        gallery.accounts.add_user("op", "operator")
        token = gallery.signin.redeem(gallery.accounts.invite("op").code)
        started = gallery.signin.start_session(token.token)
        assert started.expires_at == token.expires_at


def test_the_first_admin_gets_a_token_when_the_gallery_is_made_and_only_then(tmp_path: Path) -> None:
    engine, issued = lifecycle.bootstrap(tmp_path / "home", actor="founder")
    with engine:
        assert issued is not None and engine.authenticate(issued.token).role is Role.ADMIN
        with engine.store.engine.connect() as db:
            logged = db.exec_driver_sql("SELECT actor, details FROM audit_events WHERE action = 'token.issue'").all()
        assert [(actor, issued.id in details) for actor, details in logged] == [("founder", True)]
    again, none = lifecycle.bootstrap(tmp_path / "home", actor="someone-else")
    with again:
        assert none is None  # a gallery that exists gives no one a token
        assert {u.name for u in again.acting_as("founder").accounts.users()} == {"founder"}


def test_open_with_a_token_acts_for_its_user(gallery: Engine) -> None:
    issued = gallery.signin.redeem(gallery.accounts.invite("verifier-1").code)
    with lifecycle.open_engine(gallery.home.root, actor="facesearch-cli", token=issued.token) as engine:
        assert engine.actor == "verifier-1"
    with pytest.raises(AuthenticationError):
        lifecycle.open_engine(gallery.home.root, actor="facesearch-cli", token=issued.token + "x")
    [failed] = events(gallery, "auth.failed")
    assert failed["actor"] == "facesearch-cli" and failed["details"]["reason"] == "wrong-secret"  # type: ignore[index]


def test_tokens_from_before_activation_codes_expire_30_days_after_the_upgrade(tmp_path: Path) -> None:
    store = GalleryStore.open_sqlite(tmp_path / "old.sqlite3")
    try:
        store.migrate("0007")
        with store.engine.begin() as db:
            db.exec_driver_sql("INSERT INTO users VALUES ('ann', 'operator', 0, '2026-11-01 00:00:00', 'admin')")
            db.exec_driver_sql(
                "INSERT INTO tokens (id, user_name, secret_hash, created_at, created_by) "
                "VALUES ('t1', 'ann', 'x', '2026-11-01 00:00:00', 'admin')"
            )
        store.migrate()
        with store.engine.connect() as db:
            expires = db.exec_driver_sql("SELECT expires_at FROM tokens WHERE id = 't1'").scalar_one()
        left = datetime.fromisoformat(str(expires)).replace(tzinfo=UTC) - datetime.now(UTC)
        assert timedelta(days=29) < left <= timedelta(days=30)
    finally:
        store.close()
