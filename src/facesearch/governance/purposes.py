"""Purpose binding: each gallery declares the purposes its searches may serve and whether a search
for a purpose must also carry an authorisation reference (a warrant, an approval number).

A search naming any other purpose, or lacking a required field, is refused before any work is
done, and the refusal is audited (see :meth:`facesearch.engine.Engine.ruled`).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.errors import InputError, MissingAuthorisationError, PurposeNotAllowedError
from facesearch.gallery.schema import SearchPurposeRow
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission, clean_text, require_search_purpose
from facesearch.types import SearchRequest, Serialisable

if TYPE_CHECKING:
    from facesearch.governance.context import Context


@dataclasses.dataclass(frozen=True)
class AllowedPurpose(Serialisable):
    name: str
    require_authorisation: bool
    added_at: datetime
    added_by: str


def _row(session: Session, name: str) -> SearchPurposeRow | None:
    wanted = name.strip().casefold()
    for row in session.scalars(select(SearchPurposeRow)):
        if row.name.casefold() == wanted:
            return row
    return None


def allowed(session: Session) -> list[AllowedPurpose]:
    rows = session.scalars(select(SearchPurposeRow).order_by(SearchPurposeRow.name))
    return [AllowedPurpose(r.name, r.require_authorisation, r.added_at, r.added_by) for r in rows]


def bind(session: Session, request: SearchRequest) -> SearchRequest:
    """The search request as the gallery allows it (its purpose named as declared, its
    authorisation trimmed or None); else refuse."""
    stated = require_search_purpose(request)
    row = _row(session, stated.purpose)
    if row is None:
        names = ", ".join(repr(p.name) for p in allowed(session))
        if not names:
            raise PurposeNotAllowedError(
                "search refused: this gallery declares no search purposes yet (an admin adds them with "
                "'facesearch purposes add')"
            )
        raise PurposeNotAllowedError(
            f"search refused: {stated.purpose!r} is not a purpose this gallery allows (allowed: {names})"
        )
    reference = stated.authorisation
    if row.require_authorisation and reference is None:
        raise MissingAuthorisationError(
            f"search refused: searches for {row.name!r} must carry an authorisation reference (--authorisation)"
        )
    return dataclasses.replace(stated, purpose=row.name, authorisation=reference)


class PurposeService:
    """The purposes of the gallery: admins declare them; anyone may read them."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def add(self, name: str, *, require_authorisation: bool = False) -> AllowedPurpose:
        text = clean_text(name, "purpose")
        if not text:
            raise InputError("name the purpose")
        context = self._context
        with context.guarded(Permission.MANAGE_GALLERY) as session:
            if _row(session, text) is not None:
                raise InputError(f"{text!r} is already an allowed purpose")
            row = SearchPurposeRow(
                name=text,
                require_authorisation=require_authorisation,
                added_at=datetime.now(UTC),
                added_by=context.actor,
            )
            session.add(row)
            context.record(
                session,
                AuditAction.PURPOSE_ADD,
                purpose=text,
                details={"purpose": text, "require_authorisation": require_authorisation},
            )
        return AllowedPurpose(row.name, row.require_authorisation, row.added_at, row.added_by)

    def remove(self, name: str) -> None:
        context = self._context
        with context.guarded(Permission.MANAGE_GALLERY) as session:
            row = _row(session, name)
            if row is None:
                raise InputError(f"{name.strip()!r} is not an allowed purpose")
            session.delete(row)
            context.record(session, AuditAction.PURPOSE_REMOVE, purpose=row.name, details={"purpose": row.name})

    def list(self) -> list[AllowedPurpose]:
        with self._context.guarded(*Permission) as session:
            return allowed(session)
