"""Who works a case: the operator who opened it, and the operators its owner or an admin added.

A case is opened by the first search (identify, verify, a cluster search or a clustering run) or
nomination that names it; whoever ran that owns it and is its first member. From then on only its
members search under it, nominate from its searches, read its nominations, export it, and read and
correct the collections clustered for it; anyone else is refused under the rule ``case``
(:class:`~facesearch.errors.CaseMembershipError`) and the refusal is audited. A new case reference
therefore always opens a case of one's own, and an existing one needs its owner (or an admin) to add
you (``case.add_member``). Admins and auditors read every case's nominations, members and
collections (their oversight), and auditors never export. Verifiers are not members of anything:
they decide the nominations in their queue whatever the case, as the independent check; no
verifier, admin or auditor can be made a member.

How long a case lives: the probe faces it keeps for review (:mod:`facesearch.governance.probes`)
are retained until ``cases.retain_until``, which is the gallery's retention period counted from the
case's latest search, nomination, decision or export; each of those extends it, never shortens it.
A case nobody has worked for a whole retention period is dormant: a purge destroys its probe faces
and counts them in its certificate. The case's record, members and nominations stay (they hold no
biometric data, and the record keeps the case reference from being opened afresh by someone else).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.errors import CaseMembershipError, CaseNotFoundError, InputError
from facesearch.gallery.schema import CaseMemberRow, CaseRow
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import ROLE_MATRIX, Permission
from facesearch.governance.users import User, find_user
from facesearch.types import Serialisable

if TYPE_CHECKING:
    from facesearch.governance.context import Context


@dataclasses.dataclass(frozen=True)
class CaseMember(Serialisable):
    user: str
    added_by: str
    added_at: datetime


@dataclasses.dataclass(frozen=True)
class CaseFile(Serialisable):
    """A case's owner and members, and until when it keeps its probe faces (None: the gallery has no
    retention period, and keeps none)."""

    case: str
    owner: str
    opened_at: datetime
    retain_until: date | None
    members: tuple[CaseMember, ...]


def find(session: Session, case: str) -> CaseRow | None:
    return session.get(CaseRow, case)


def is_member(session: Session, case: str, user: str) -> bool:
    return session.get(CaseMemberRow, (case, user)) is not None


def oversees(user: User) -> bool:
    """Admins and auditors read every case."""
    granted = ROLE_MATRIX[user.role]
    return Permission.MANAGE_GALLERY in granted or Permission.READ_AUDIT in granted


def _refusal(actor: str, case: str, doing: str) -> CaseMembershipError:
    return CaseMembershipError(
        f"refused: {actor!r} is not a member of case {case!r} and may not {doing}; its owner or an admin adds "
        "members ('facesearch cases add-member')",
        case=case,
    )


def check_entry(session: Session, actor: str, case: str, doing: str) -> None:
    """Refuse, before any work, an actor who is not a member of an existing case; a case nobody has
    named yet may be opened by anyone allowed to search."""
    if find(session, case) is not None and not is_member(session, case, actor):
        raise _refusal(actor, case, doing)


def enter(session: Session, context: Context, case: str, doing: str) -> CaseRow:
    """The case, for the acting user to work in it, in the caller's transaction: opened and owned by
    them (audited, ``case.open``) if nobody has named it before, otherwise only if they are a member
    (CaseMembershipError). Working it extends its retention."""
    row = find(session, case)
    if row is None:
        now = datetime.now(UTC)
        row = CaseRow(id=case, owner=context.actor, opened_at=now, retain_until=None)
        session.add(row)
        session.flush()  # the case before its first member (no relationship orders the two)
        session.add(CaseMemberRow(case_id=case, user_name=context.actor, added_at=now, added_by=context.actor))
        session.flush()
        context.record(session, AuditAction.CASE_OPEN, case=case, details={"owner": context.actor})
    elif not is_member(session, case, context.actor):
        raise _refusal(context.actor, case, doing)
    touch(session, context, case)
    return row


def touch(session: Session, context: Context, case: str) -> None:
    """Extend the case's retention to the gallery's period from today (a search, nomination,
    decision or export happened in it); never shortens it. A case with no record is left alone."""
    row = find(session, case)
    days = context.store.state(session).retention_days
    if row is None or days is None:
        return
    until = datetime.now(UTC).date() + timedelta(days=days)
    if row.retain_until is None or row.retain_until < until:
        row.retain_until = until
        session.flush()


def require_member(session: Session, actor: str, case: str, doing: str) -> None:
    if not is_member(session, case, actor):
        raise _refusal(actor, case, doing)


def require_reader(session: Session, actor: str, case: str, doing: str) -> None:
    """Members read a case; admins and auditors read every case."""
    user = find_user(session, actor)
    if user is not None and oversees(user):
        return
    require_member(session, actor, case, doing)


def case_file(session: Session, case: str) -> CaseFile:
    row = find(session, case)
    if row is None:
        raise CaseNotFoundError(f"there is no case {case!r}: a search naming it opens it")
    members = session.scalars(
        select(CaseMemberRow).where(CaseMemberRow.case_id == case).order_by(CaseMemberRow.added_at)
    )
    return CaseFile(
        row.id,
        row.owner,
        row.opened_at,
        row.retain_until,
        tuple(CaseMember(m.user_name, m.added_by, m.added_at) for m in members),
    )


def readable_cases(session: Session, actor: str, *, limit: int, offset: int = 0) -> list[CaseFile]:
    """The cases ACTOR reads, most recently opened first: every case for admins and auditors, the
    cases they are a member of for anyone else; LIMIT of them from OFFSET."""
    user = find_user(session, actor)
    query = select(CaseRow).order_by(CaseRow.opened_at.desc(), CaseRow.id)
    if user is None or not oversees(user):
        mine = select(CaseMemberRow.case_id).where(CaseMemberRow.user_name == actor)
        query = query.where(CaseRow.id.in_(mine))
    rows = list(session.scalars(query.limit(limit).offset(offset)))
    members: dict[str, list[CaseMember]] = {r.id: [] for r in rows}
    if rows:
        found = session.scalars(
            select(CaseMemberRow).where(CaseMemberRow.case_id.in_(members)).order_by(CaseMemberRow.added_at)
        )
        for m in found:
            members[m.case_id].append(CaseMember(m.user_name, m.added_by, m.added_at))
    return [CaseFile(r.id, r.owner, r.opened_at, r.retain_until, tuple(members[r.id])) for r in rows]


def add_member(session: Session, context: Context, case: str, user: str) -> CaseFile:
    """Add USER, an enabled operator, to CASE: its owner or an admin only; audited."""
    actor = find_user(session, context.actor)
    row = find(session, case)
    admin = actor is not None and Permission.MANAGE_GALLERY in ROLE_MATRIX[actor.role]
    if not admin and (row is None or row.owner != context.actor):
        raise CaseMembershipError(f"refused: only the owner of case {case!r} or an admin adds members to it", case=case)
    if row is None:
        raise CaseNotFoundError(f"there is no case {case!r}: a search naming it opens it")
    name = user.strip()
    member = find_user(session, name)
    if member is None or member.disabled:
        raise InputError(f"{name!r} is not an enabled user of this gallery")
    if Permission.NOMINATE not in ROLE_MATRIX[member.role]:
        raise InputError(
            f"{name!r} is a {member.role.value}: only operators work cases (admins and auditors read every "
            "case; verifiers decide nominations whatever the case, independently)"
        )
    if is_member(session, case, name):
        raise InputError(f"{name!r} is already a member of case {case!r}")
    session.add(CaseMemberRow(case_id=case, user_name=name, added_at=datetime.now(UTC), added_by=context.actor))
    session.flush()
    context.record(session, AuditAction.CASE_ADD_MEMBER, case=case, details={"member": name})
    return case_file(session, case)
