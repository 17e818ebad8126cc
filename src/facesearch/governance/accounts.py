"""Users, roles and API tokens: who may act on a gallery.

A user has one role of :data:`facesearch.governance.policy.ROLE_MATRIX`. An API token reads
``fs_<id>_<secret>``: the id finds its row, and only a salted Argon2 hash of the whole token is
stored (argon2-cffi), so a copy of the database yields no usable token. These functions work
inside the caller's transaction; the engine checks the actor's permission and audits.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.errors import AuthenticationError, InputError
from facesearch.gallery.schema import TokenRow, UserRow
from facesearch.governance import policy
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission, Role
from facesearch.governance.users import User, find_user, user_of

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from facesearch.governance.context import Context

TOKEN_PREFIX = "fs"
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is shown once and never stored."""

    id: str
    user: str
    token: str


def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


def add_user(session: Session, name: str, role: str | Role, by: str) -> User:
    name = policy.clean_text(name, "user name")
    if not name:
        raise InputError("name the user to add")
    if session.get(UserRow, name) is not None:
        raise InputError(f"user {name!r} already exists")
    row = UserRow(name=name, role=policy.require_role(role).value, disabled=False, created_at=_now(), created_by=by)
    session.add(row)
    session.flush()
    return user_of(row)


def list_users(session: Session) -> list[User]:
    return [user_of(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]


def disable_user(session: Session, name: str) -> int:
    """Disable the user and revoke their tokens; returns how many tokens were revoked."""
    row = session.get(UserRow, name)
    if row is None:
        raise InputError(f"no user named {name!r}")
    row.disabled = True
    live = session.scalars(select(TokenRow).where(TokenRow.user_name == name, TokenRow.revoked_at.is_(None))).all()
    for token in live:
        token.revoked_at = _now()
    session.flush()
    return len(live)


def issue_token(session: Session, name: str, by: str) -> IssuedToken:
    user = find_user(session, name)
    if user is None or user.disabled:
        raise InputError(f"no enabled user named {name!r}")
    token_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    session.add(
        TokenRow(id=token_id, user_name=name, secret_hash=_hasher().hash(token), created_at=_now(), created_by=by)
    )
    session.flush()
    return IssuedToken(token_id, name, token)


def revoke_token(session: Session, token_id: str) -> str:
    """Revoke a token by its id; returns its user's name."""
    row = session.get(TokenRow, token_id.strip())
    if row is None:
        raise InputError(f"no token with id {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = _now()
        session.flush()
    return row.user_name


def authenticate(session: Session, token: str) -> User:
    """The enabled user a live token belongs to; AuthenticationError (saying only that it failed)
    for a malformed, unknown, revoked or wrong token or a disabled user."""
    from argon2.exceptions import InvalidHashError, VerificationError

    parts = token.strip().split("_", 2)
    row = session.get(TokenRow, parts[1]) if len(parts) == 3 and parts[0] == TOKEN_PREFIX else None
    refused = AuthenticationError("authentication failed: the token is not valid")
    if row is None or row.revoked_at is not None:
        raise refused
    try:
        _hasher().verify(row.secret_hash, token.strip())
    except (VerificationError, InvalidHashError):
        raise refused from None
    user = find_user(session, row.user_name)
    if user is None or user.disabled:
        raise refused
    return user


def revalidate(session: Session, token: str, name: str) -> User | None:
    """The user of a token whose hash was already verified for ``name``, re-read without the
    (deliberately slow) hash check; None if it has since been revoked or its user disabled."""
    parts = token.strip().split("_", 2)
    row = session.get(TokenRow, parts[1]) if len(parts) == 3 and parts[0] == TOKEN_PREFIX else None
    if row is None or row.revoked_at is not None or row.user_name != name:
        return None
    user = find_user(session, name)
    return None if user is None or user.disabled else user


def _now() -> datetime:
    return datetime.now(UTC)


# --- the service the front ends call (through Engine.accounts) --------------------------------------


class AccountService:
    """User and token management for the acting user: every call is checked against the role
    matrix and audited; a refusal is audited too, in its own transaction, before it is raised."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def _act(
        self,
        permission: Permission,
        action: AuditAction,
        work: Callable[[Session], T],
        details: Callable[[T], dict[str, object]],
    ) -> T:
        context = self._context
        with context.guarded(permission) as session:
            result = work(session)
            context.record(session, action, details=details(result))
        return result

    def add_user(self, name: str, role: str | Role) -> User:
        actor = self._context.actor
        return self._act(
            Permission.MANAGE_USERS,
            AuditAction.USER_ADD,
            lambda s: add_user(s, name, role, actor),
            lambda u: {"user": u.name, "role": u.role.value},
        )

    def users(self) -> list[User]:
        with self._context.guarded(Permission.MANAGE_USERS) as session:
            return list_users(session)

    def disable_user(self, name: str) -> int:
        return self._act(
            Permission.MANAGE_USERS,
            AuditAction.USER_DISABLE,
            lambda s: disable_user(s, name),
            lambda revoked: {"user": name, "tokens_revoked": revoked},
        )

    def issue_token(self, name: str) -> IssuedToken:
        actor = self._context.actor
        return self._act(
            Permission.MANAGE_TOKENS,
            AuditAction.TOKEN_ISSUE,
            lambda s: issue_token(s, name, actor),
            lambda t: {"user": t.user, "token_id": t.id},
        )

    def revoke_token(self, token_id: str) -> str:
        return self._act(
            Permission.MANAGE_TOKENS,
            AuditAction.TOKEN_REVOKE,
            lambda s: revoke_token(s, token_id),
            lambda user: {"user": user, "token_id": token_id.strip()},
        )
