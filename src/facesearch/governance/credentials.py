"""API tokens, one-time activation codes and web sessions: credentials that only their owner sees.

- **Activation codes.** An admin never sees a user's token. They issue a code (:func:`issue_code`),
  good for one redemption within :data:`ACTIVATION_LIFETIME` (72 hours), and give it to the user,
  who exchanges it (:func:`redeem`) for a token shown only to them. A later code for the same user
  withdraws an unused earlier one. A code reads ``fsa_<id>_<secret>``; only its SHA-256 is stored
  (its secret is 192 random bits: there is nothing to guess, so no slow hash is needed). A code
  already used says so when its user tries it, so an intercepted code is noticed.
- **Tokens** read ``fs_<id>_<secret>``; only a salted Argon2 hash of the whole token is stored
  (argon2-cffi), so a copy of the database yields no usable token. Each is valid until its expiry
  (setting ``token_days``) unless revoked first; its owner rotates it (:func:`rotate`), which
  revokes it and makes a new one.
- **Web sessions.** Signing in to the web UI with a token starts a session (:func:`start_session`):
  the browser's cookie holds a random secret, the gallery only its SHA-256. A session ends at its
  expiry (setting ``session_hours``, never after its token's), at sign-out, when its token is
  revoked (or rotated) and when its user is disabled.

These functions work inside the caller's transaction and audit nothing; the services that call
them (:mod:`facesearch.governance.accounts`, :mod:`facesearch.governance.signin`) audit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from facesearch.errors import ActivationError, AuthenticationError, CredentialExpiredError, InputError
from facesearch.gallery.schema import ActivationCodeRow, TokenRow, WebSessionRow
from facesearch.governance.users import User, find_user
from facesearch.types import Serialisable

if TYPE_CHECKING:
    from argon2 import PasswordHasher

TOKEN_PREFIX = "fs"
CODE_PREFIX = "fsa"
SESSION_PREFIX = "fss"
ACTIVATION_LIFETIME = timedelta(hours=72)

NOT_VALID = "authentication failed: the token is not valid"


@dataclasses.dataclass(frozen=True)
class IssuedToken(Serialisable):
    """A new token for its owner: ``token`` is shown once, to them, and never stored."""

    id: str
    user: str
    token: str
    expires_at: datetime


@dataclasses.dataclass(frozen=True)
class ActivationCode(Serialisable):
    """A one-time code for ``user`` to exchange for their own token before ``expires_at``."""

    id: str
    user: str
    code: str
    expires_at: datetime


@dataclasses.dataclass(frozen=True)
class TokenInfo(Serialisable):
    """A token as admins see it: never its secret."""

    id: str
    user: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    revoked_at: datetime | None


@dataclasses.dataclass(frozen=True)
class Credential:
    """What a checked token proves: who holds it, which token it is, until when it is good."""

    user: User
    token_id: str
    expires_at: datetime


@dataclasses.dataclass(frozen=True)
class WebSession:
    """A new web sign-in: ``secret`` goes into the browser's cookie only; ``id`` names it in the audit log."""

    id: str
    user: str
    secret: str = dataclasses.field(repr=False)
    token_id: str
    expires_at: datetime


def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


def _now() -> datetime:
    return datetime.now(UTC)


def _parts(value: str, prefix: str) -> tuple[str, str] | None:
    """(id, whole value) of ``<prefix>_<id>_<secret>``, or None when it is not of that form."""
    parts = value.strip().split("_", 2)
    if len(parts) == 3 and parts[0] == prefix and parts[1] and parts[2]:
        return parts[1], value.strip()
    return None


def _matches(stored_hash: str, value: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(stored_hash, value))
    except (VerificationError, InvalidHashError):
        return False


def _digest(secret: str) -> str:
    """The SHA-256 kept of a random secret (an activation code, a web session's cookie)."""
    return hashlib.sha256(secret.strip().encode("utf-8")).hexdigest()


def _enabled_user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None or user.disabled:
        raise InputError(f"no enabled user named {name!r}")
    return user


# --- tokens -------------------------------------------------------------------------------------


def issue_token(session: Session, name: str, by: str, lifetime: timedelta) -> IssuedToken:
    """A new token for the enabled user ``name``. Only its owner may be shown it: callers are
    redemption, rotation and the creation of a gallery by its first admin."""
    _enabled_user(session, name)
    token_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    now = _now()
    row = TokenRow(
        id=token_id,
        user_name=name,
        secret_hash=_hasher().hash(token),
        created_at=now,
        created_by=by,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return IssuedToken(token_id, name, token, row.expires_at)


def authenticate(session: Session, token: str) -> Credential:
    """The enabled user a live token belongs to. AuthenticationError otherwise, whose ``reason``
    (unknown, wrong-secret, revoked, expired, disabled-user) is for the audit log; the message says
    only that the token is not valid, or, to its holder, that it expired."""
    parts = _parts(token, TOKEN_PREFIX)
    row = session.get(TokenRow, parts[0]) if parts else None
    if parts is None or row is None:
        raise AuthenticationError(NOT_VALID, reason="unknown")
    if not _matches(row.secret_hash, parts[1]):
        raise AuthenticationError(NOT_VALID, reason="wrong-secret")
    return _live(session, row)


def _live(session: Session, row: TokenRow) -> Credential:
    if row.revoked_at is not None:
        raise AuthenticationError(NOT_VALID, reason="revoked")
    expires_at = row.expires_at
    if expires_at <= _now():
        raise CredentialExpiredError(
            f"authentication failed: the token expired at {expires_at:%Y-%m-%d %H:%M} UTC; ask an admin "
            "for a new activation code",
            reason="expired",
        )
    user = find_user(session, row.user_name)
    if user is None or user.disabled:
        raise AuthenticationError(NOT_VALID, reason="disabled-user")
    return Credential(user, row.id, expires_at)


def revalidate(session: Session, token: str, name: str) -> Credential | None:
    """The credential of a token whose hash was already verified for ``name``, re-read without the
    (deliberately slow) hash check; None if it has since been revoked or expired, or its user disabled."""
    parts = _parts(token, TOKEN_PREFIX)
    row = session.get(TokenRow, parts[0]) if parts else None
    if row is None or row.user_name != name:
        return None
    try:
        return _live(session, row)
    except AuthenticationError:
        return None


def revoke_token(session: Session, token_id: str) -> tuple[str, int]:
    """Revoke a token by its id and end its web sessions; (its user's name, sessions ended)."""
    row = session.get(TokenRow, token_id.strip())
    if row is None:
        raise InputError(f"no token with id {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = _now()
    return row.user_name, end_sessions(session, token_id=row.id)


def revoke_tokens_of(session: Session, name: str) -> int:
    """Revoke every live token of a user (their web sessions end with them); how many were live."""
    live = session.scalars(select(TokenRow).where(TokenRow.user_name == name, TokenRow.revoked_at.is_(None))).all()
    for row in live:
        row.revoked_at = _now()
    session.flush()
    return len(live)


def list_tokens(session: Session) -> list[TokenInfo]:
    """Every token, newest first, without secrets."""
    rows = session.scalars(select(TokenRow).order_by(TokenRow.created_at.desc(), TokenRow.id))
    return [
        TokenInfo(
            r.id,
            r.user_name,
            r.created_at,
            r.created_by,
            r.expires_at,
            r.revoked_at,
        )
        for r in rows
    ]


def rotate(session: Session, token: str, lifetime: timedelta) -> tuple[IssuedToken, Credential, int]:
    """Check ``token``, revoke it (ending its web sessions) and make its owner a new one:
    (the new token, the old credential, sessions ended). AuthenticationError if it is not valid."""
    old = authenticate(session, token)
    _, ended = revoke_token(session, old.token_id)
    return issue_token(session, old.user.name, old.user.name, lifetime), old, ended


# --- activation codes ---------------------------------------------------------------------------


def issue_code(session: Session, name: str, by: str) -> tuple[ActivationCode, int]:
    """A one-time activation code for the enabled user ``name``, withdrawing their unused earlier
    ones: (the code, how many were withdrawn)."""
    _enabled_user(session, name)
    withdrawn = withdraw_codes_of(session, name)
    code_id = secrets.token_hex(8)
    code = f"{CODE_PREFIX}_{code_id}_{secrets.token_urlsafe(24)}"
    now = _now()
    row = ActivationCodeRow(
        id=code_id,
        user_name=name,
        code_hash=_digest(code),
        created_at=now,
        created_by=by,
        expires_at=now + ACTIVATION_LIFETIME,
    )
    session.add(row)
    session.flush()
    return ActivationCode(code_id, name, code, row.expires_at), withdrawn


def withdraw_codes_of(session: Session, name: str) -> int:
    """Spend a user's unused activation codes without a token; how many there were."""
    result = session.execute(
        update(ActivationCodeRow)
        .where(ActivationCodeRow.user_name == name, ActivationCodeRow.used_at.is_(None))
        .values(used_at=_now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def code_id_of(code: str) -> str | None:
    """The public id of something shaped like an activation code (for the audit of a failure)."""
    parts = _parts(code, CODE_PREFIX)
    return parts[0][:32] if parts else None


def redeem(session: Session, code: str, lifetime: timedelta) -> tuple[IssuedToken, str]:
    """Spend an activation code on a new token for its user: (the token, the code's id).
    ActivationError, with its ``reason`` (unknown, wrong-secret, used, withdrawn, expired,
    disabled-user), for a code that cannot be spent; nothing changes then."""
    parts = _parts(code, CODE_PREFIX)
    row = session.get(ActivationCodeRow, parts[0], with_for_update=True) if parts else None
    not_valid = "activation failed: the code is not valid (check it, or ask your admin for a new one)"
    if parts is None or row is None:
        raise ActivationError(not_valid, reason="unknown")
    if not hmac.compare_digest(row.code_hash, _digest(parts[1])):
        raise ActivationError(not_valid, reason="wrong-secret")
    if row.used_at is not None and row.token_id is not None:
        raise ActivationError(
            "activation failed: this code has already been used. If you did not use it, tell your "
            "admin at once: someone else may hold a token in your name",
            reason="used",
        )
    if row.used_at is not None:
        raise ActivationError(
            "activation failed: this code was withdrawn (a newer code was issued, or the user disabled)",
            reason="withdrawn",
        )
    if row.expires_at <= _now():
        raise ActivationError(
            f"activation failed: the code expired at {row.expires_at:%Y-%m-%d %H:%M} UTC (codes last "
            f"{ACTIVATION_LIFETIME.total_seconds() / 3600:.0f} hours); ask your admin for a new one",
            reason="expired",
        )
    user = find_user(session, row.user_name)
    if user is None or user.disabled:
        raise ActivationError(not_valid, reason="disabled-user")
    issued = issue_token(session, row.user_name, row.user_name, lifetime)
    row.used_at = _now()
    row.token_id = issued.id
    session.flush()
    return issued, row.id


# --- web sessions -------------------------------------------------------------------------------


def start_session(session: Session, credential: Credential, lifetime: timedelta) -> WebSession:
    """A new web session for a checked token, ending after ``lifetime`` or with the token, whichever
    is first. Its secret is random (256 bits), so a plain SHA-256 of it is what is kept."""
    secret = f"{SESSION_PREFIX}_{secrets.token_urlsafe(32)}"
    now = _now()
    over = WebSessionRow.ended_at.is_not(None) | (WebSessionRow.expires_at < now)
    session.execute(delete(WebSessionRow).where(over))  # their start and end are in the audit log
    row = WebSessionRow(
        id=secrets.token_hex(8),
        secret_hash=_digest(secret),
        user_name=credential.user.name,
        token_id=credential.token_id,
        created_at=now,
        expires_at=min(now + lifetime, credential.expires_at),
    )
    session.add(row)
    session.flush()
    return WebSession(row.id, row.user_name, secret, row.token_id, row.expires_at)


def session_user(session: Session, secret: str) -> tuple[User, str]:
    """The user of a live web session and the session's id; AuthenticationError (with its reason:
    unknown-session, session-ended, session-expired, token-revoked, disabled-user) otherwise."""
    row = session.scalar(select(WebSessionRow).where(WebSessionRow.secret_hash == _digest(secret)))
    again = "your session is not valid: sign in again"
    if row is None:
        raise AuthenticationError(again, reason="unknown-session")
    if row.ended_at is not None:
        raise AuthenticationError(again, reason="session-ended")
    if row.expires_at <= _now():
        raise CredentialExpiredError("your session has expired: sign in again", reason="session-expired")
    token = session.get(TokenRow, row.token_id)
    if token is None or token.revoked_at is not None or token.expires_at <= _now():
        raise AuthenticationError(again, reason="token-revoked")
    user = find_user(session, row.user_name)
    if user is None or user.disabled:
        raise AuthenticationError(again, reason="disabled-user")
    return user, row.id


def end_session(session: Session, secret: str) -> tuple[str, str] | None:
    """End the live web session with this secret: (its user, its id); None if there is none."""
    row = session.scalar(select(WebSessionRow).where(WebSessionRow.secret_hash == _digest(secret)))
    if row is None or row.ended_at is not None:
        return None
    row.ended_at = _now()
    session.flush()
    return row.user_name, row.id


def end_sessions(session: Session, *, token_id: str | None = None, user: str | None = None) -> int:
    """End the live web sessions of a token or of a user; how many there were."""
    live: list[ColumnElement[bool]] = [WebSessionRow.ended_at.is_(None)]
    if token_id is not None:
        live.append(WebSessionRow.token_id == token_id)
    if user is not None:
        live.append(WebSessionRow.user_name == user)
    result = session.execute(update(WebSessionRow).where(*live).values(ended_at=_now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
