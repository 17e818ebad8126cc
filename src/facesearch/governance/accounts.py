"""Users, roles and their credentials, as admins manage them.

A user has one role of :data:`facesearch.governance.policy.ROLE_MATRIX`. Admins add and disable
users, issue one-time activation codes, list and revoke tokens; they never see a token: each user
exchanges their code for a token shown only to them (:mod:`facesearch.governance.credentials`,
:mod:`facesearch.governance.signin`). The functions work inside the caller's transaction; the
service checks the actor's permission and audits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.errors import InputError
from facesearch.gallery.schema import UserRow
from facesearch.governance import credentials, policy
from facesearch.governance.audit import AuditAction
from facesearch.governance.credentials import ActivationCode, TokenInfo
from facesearch.governance.policy import Permission, Role
from facesearch.governance.users import User, user_of

if TYPE_CHECKING:
    from facesearch.governance.context import Context

T = TypeVar("T")

# Names facesearch itself acts under in the audit log (the open-time purge, the service, the CLI
# before it knows who you are): no user may take one, or those acts would carry a user's role.
RESERVED_NAMES = frozenset({"facesearch", "facesearch-service", "facesearch-cli"})


def add_user(session: Session, name: str, role: str | Role, by: str) -> User:
    name = policy.clean_text(name, "user name")
    if not name:
        raise InputError("name the user to add")
    if name.lower() in RESERVED_NAMES:
        raise InputError(f"{name!r} is a name facesearch itself acts under; choose another")
    if session.get(UserRow, name) is not None:
        raise InputError(f"user {name!r} already exists")
    row = UserRow(name=name, role=policy.require_role(role).value, disabled=False, created_at=_now(), created_by=by)
    session.add(row)
    session.flush()
    return user_of(row)


def list_users(session: Session) -> list[User]:
    return [user_of(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]


def disable_user(session: Session, name: str) -> dict[str, int]:
    """Disable the user, revoke their tokens, end their web sessions and withdraw their unused
    activation codes; how many of each."""
    row = session.get(UserRow, name)
    if row is None:
        raise InputError(f"no user named {name!r}")
    row.disabled = True
    return {
        "tokens_revoked": credentials.revoke_tokens_of(session, name),
        "sessions_ended": credentials.end_sessions(session, user=name),
        "codes_withdrawn": credentials.withdraw_codes_of(session, name),
    }


def _now() -> datetime:
    return datetime.now(UTC)


# --- the service the front ends call (through Engine.accounts) --------------------------------------


class AccountService:
    """User and credential management for the acting user: every call is checked against the role
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
        """Disable a user: their tokens are revoked, their web sessions end and their unused
        activation codes are withdrawn. Returns how many tokens were revoked."""
        counts = self._act(
            Permission.MANAGE_USERS,
            AuditAction.USER_DISABLE,
            lambda s: disable_user(s, name),
            lambda counts: {"user": name, **counts},
        )
        return counts["tokens_revoked"]

    def invite(self, name: str) -> ActivationCode:
        """A one-time activation code for user NAME, valid 72 hours, to give them: they exchange it
        for a token only they see (``facesearch activate``, ``POST /api/activate``, the web UI's
        /activate). Withdraws their unused earlier codes. Only its hash is kept."""
        actor = self._context.actor

        def work(session: Session) -> tuple[ActivationCode, int]:
            return credentials.issue_code(session, name, actor)

        code, _ = self._act(
            Permission.MANAGE_TOKENS,
            AuditAction.ACTIVATION_ISSUE,
            work,
            lambda issued: {
                "user": issued[0].user,
                "code_id": issued[0].id,
                "expires_at": issued[0].expires_at.isoformat(),
                "codes_withdrawn": issued[1],
            },
        )
        return code

    def tokens(self) -> list[TokenInfo]:
        """Every token, newest first: whose, made when and by whom, expiry, revocation; never a secret."""
        with self._context.guarded(Permission.MANAGE_TOKENS) as session:
            return credentials.list_tokens(session)

    def revoke_token(self, token_id: str) -> str:
        """Revoke a token (its web sessions end with it); returns its user's name."""
        user, _ = self._act(
            Permission.MANAGE_TOKENS,
            AuditAction.TOKEN_REVOKE,
            lambda s: credentials.revoke_token(s, token_id),
            lambda done: {"user": done[0], "token_id": token_id.strip(), "sessions_ended": done[1]},
        )
        return user
