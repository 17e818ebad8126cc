"""Who a user is and what their role lets them do, read from the gallery in the caller's transaction.

Managing users and their tokens is :mod:`facesearch.governance.accounts`; this is the check every
act of every service starts with (see :meth:`facesearch.governance.context.Context.authorize`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.orm import Session

from facesearch.gallery.schema import UserRow
from facesearch.governance import policy
from facesearch.governance.policy import Permission, Role


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "role": self.role.value, "created_at": self.created_at.isoformat()}


def user_of(row: UserRow) -> User:
    return User(row.name, Role(row.role), row.disabled, row.created_at, row.created_by)


def find_user(session: Session, name: str) -> User | None:
    row = session.get(UserRow, name)
    return user_of(row) if row is not None else None


def authorize(session: Session, actor: str, *permissions: Permission) -> User:
    """The acting user, if enabled and allowed any of ``permissions``; PermissionDeniedError otherwise."""
    user = find_user(session, actor)
    policy.require_permission(actor, user.role if user else None, bool(user and user.disabled), *permissions)
    assert user is not None
    return user
