"""Retention: how long the gallery keeps a photo (and a collection of unknown faces), its
physical destruction when that time is up, and legal holds that suspend destruction.

A gallery takes no enrollment before it has a retention period; each image gets a retain-until
date (the one given, at most the period, or the whole period). :meth:`RetentionService.purge`
destroys every image past its date, with its face, template, crop and index entry, and writes a
destruction certificate to the audit log: what (counts, the subjects' opaque ids), when, why, by
whom, never biometric data. It runs on every open of the context. A subject under a legal hold
keeps everything until the hold is released, and cannot be erased meanwhile. The same purge
destroys the probe faces kept for review of every case nobody has worked for a whole retention
period (see :mod:`facesearch.governance.membership`), and counts them in the certificate.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from facesearch.errors import InputError, LegalHoldError
from facesearch.gallery.schema import (
    CollectionCopyRow,
    CollectionFaceRow,
    CollectionRow,
    FaceRow,
    ImageRow,
    LegalHoldRow,
    SubjectRow,
)
from facesearch.governance import audit, probes
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission, clean_text, require_reason
from facesearch.types import Serialisable

if TYPE_CHECKING:
    from facesearch.governance.context import Context

SYSTEM_ACTOR = "facesearch"  # who acts when the engine purges on open
MAX_RETENTION_DAYS = 100 * 366


@dataclasses.dataclass(frozen=True)
class PurgeCertificate(Serialisable):
    """What a purge destroyed: counts and opaque ids only."""

    cutoff: date  # images retained until before this day were destroyed
    reason: str
    trigger: str  # "manual" or "open"
    images_removed: int
    faces_removed: int
    subjects_removed: int
    index_entries_removed: int
    held_images_kept: int
    subject_ids: tuple[str, ...]
    audit_seq: int | None
    collections_removed: int = 0  # collections of unknown faces past their retain-until
    collection_faces_removed: int = 0
    probe_faces_removed: int = 0  # searched faces kept for review, of cases past their retain-until
    probe_cases: tuple[str, ...] = ()  # those cases
    collection_copies_removed: int = 0  # files of those collections that were copies of another's picture


@dataclasses.dataclass(frozen=True)
class LegalHold(Serialisable):
    hold_id: int
    subject_id: str
    subject: str
    reference: str
    placed_at: datetime
    placed_by: str


def active_hold(session: Session, subject_id: str) -> LegalHoldRow | None:
    return session.scalars(
        select(LegalHoldRow).where(LegalHoldRow.subject_id == subject_id, LegalHoldRow.released_at.is_(None)).limit(1)
    ).first()


def require_not_held(session: Session, subject_id: str, subject: str) -> None:
    hold = active_hold(session, subject_id)
    if hold is not None:
        raise LegalHoldError(
            f"refused: {subject!r} is under legal hold {hold.reference!r} (since {hold.placed_at:%Y-%m-%d}); "
            "its data may not be destroyed until an admin releases the hold"
        )


def _held_subjects() -> Select[Any]:
    held: Select[Any] = select(LegalHoldRow.subject_id).where(LegalHoldRow.released_at.is_(None))
    return held


class RetentionService:
    """The retention period, purge and legal holds of the gallery (admins)."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def period(self) -> int | None:
        """The gallery's retention period in days, or None if it has none yet (any user may read it)."""
        context = self._context
        with context.guarded(*Permission) as session:
            return context.store.state(session).retention_days

    def set_period(self, days: int) -> int:
        """Set the retention period. Photos enrolled before a period existed are kept for it from
        their enrollment day; photos that already have a retain-until keep it. Returns how many
        photos got a retain-until."""
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise InputError(f"a retention period is 1 to {MAX_RETENTION_DAYS} days, not {days}")
        context = self._context
        with context.guarded(Permission.SET_RETENTION) as session:
            state = context.store.state(session)
            previous = state.retention_days
            state.retention_days = days
            undated = session.scalars(select(ImageRow).where(ImageRow.retain_until.is_(None))).all()
            for image in undated:
                image.retain_until = image.enrolled_at.date() + timedelta(days=days)
            context.record(
                session,
                AuditAction.RETENTION_SET,
                details={"retention_days": days, "previous_days": previous, "images_dated": len(undated)},
            )
        return len(undated)

    def purge(self, *, reason: str = "retention period expired", trigger: str = "manual") -> PurgeCertificate:
        """Destroy every image retained until before today (not of held subjects), its faces and
        index entries, and subjects left with no image; audit the destruction certificate.

        ``trigger="open"`` is the engine's own purge on opening: it needs no permission, acts as
        ``facesearch`` and writes a certificate only when it destroyed something.
        """
        context = self._context
        why = require_reason(reason, "purge")
        if trigger == "manual":
            context.authorize(Permission.PURGE)
        today = datetime.now(UTC).date()
        expired = (ImageRow.retain_until < today) & ImageRow.subject_id.not_in(_held_subjects())
        with context.locked():  # gallery and index change together
            with context.store.transaction() as session:
                held_kept = session.scalar(
                    select(func.count())
                    .select_from(ImageRow)
                    .where(ImageRow.retain_until < today, ImageRow.subject_id.in_(_held_subjects()))
                )
                doomed = session.execute(
                    select(FaceRow.id, ImageRow.subject_id)
                    .join(ImageRow, FaceRow.image_id == ImageRow.id)
                    .where(expired)
                ).all()
                touched = sorted({str(r[1]) for r in doomed})
                images = faces = subjects = 0
                collections, collection_faces, collection_copies = _purge_expired_collections(session, today)
                probe_cases, probe_faces = probes.purge_expired(session, today)
                if doomed or collections or probe_faces or trigger == "manual":
                    index = context.keeper.synced(session, context.store)
                    face_ids = np.array([int(r[0]) for r in doomed], dtype=np.int64)
                    in_index = context.keeper.present(session, index, face_ids) if doomed else 0
                    if doomed:  # a database index: its rows go in this transaction, before the faces
                        context.keeper.stage_remove(session, index, face_ids)
                    images, faces = context.store.delete_images(session, expired)
                    empty = select(SubjectRow.id).where(SubjectRow.id.in_(touched), ~SubjectRow.images.any())
                    gone = [str(s) for s in session.scalars(empty)]
                    if gone:
                        session.execute(delete(SubjectRow).where(SubjectRow.id.in_(gone)))
                    subjects = len(gone)
                    generation = (
                        context.store.bump_generation(session) if faces else context.store.state(session).generation
                    )
                    state_hash = context.store.state(session).content_hash
                    if faces:
                        context.keeper.stage_stamp(session, index, generation, state_hash)
                    details = {
                        "reason": why,
                        "trigger": trigger,
                        "cutoff": today.isoformat(),
                        "retention_days": context.store.state(session).retention_days,
                        "images_removed": images,
                        "faces_removed": faces,
                        "subjects_removed": subjects,
                        "index_entries_removed": in_index,
                        "held_images_kept": int(held_kept or 0),
                        "subject_ids": touched,
                        "collections_removed": len(collections),
                        "collection_faces_removed": collection_faces,
                        "collection_copies_removed": collection_copies,
                        "collection_ids": collections,
                        "probe_faces_removed": probe_faces,
                        "probe_cases": probe_cases,
                    }
                    actor = context.actor if trigger == "manual" else SYSTEM_ACTOR
                    seq: int | None = audit.append(
                        session, actor=actor, action=AuditAction.PURGE, gallery_generation=generation, details=details
                    )
                else:
                    seq, in_index = None, 0
            if faces:
                context.keeper.removed(index, face_ids, generation, state_hash)
        if faces:
            context.keeper.settle()  # a database index's VACUUM, outside the locks: nobody waits for it
        return PurgeCertificate(
            today,
            why,
            trigger,
            images,
            faces,
            subjects,
            in_index,
            int(held_kept or 0),
            tuple(touched),
            seq,
            len(collections),
            collection_faces,
            probe_faces,
            tuple(probe_cases),
            collection_copies,
        )

    def hold(self, subject: str, *, reference: str) -> LegalHold:
        """Place a legal hold on a subject: purge and erasure leave its data alone until released."""
        context = self._context
        ref_text = clean_text(reference, "reference")
        if not ref_text:
            raise InputError("a legal hold needs its reference (--reference), for example a court order number")
        with context.guarded(Permission.HOLD) as session:
            who = context.store.require_subject(session, subject)
            row = LegalHoldRow(
                subject_id=who.subject_id, reference=ref_text, placed_at=datetime.now(UTC), placed_by=context.actor
            )
            session.add(row)
            session.flush()
            context.record(
                session, AuditAction.HOLD_PLACE, details={"subject_id": who.subject_id, "reference": ref_text}
            )
        return LegalHold(row.id, who.subject_id, who.name, ref_text, row.placed_at, row.placed_by)

    def release(self, subject: str, *, reference: str) -> int:
        """Release the subject's holds with this reference; returns how many were released."""
        context = self._context
        ref_text = clean_text(reference, "reference")
        with context.guarded(Permission.HOLD) as session:
            who = context.store.require_subject(session, subject)
            result = session.execute(
                update(LegalHoldRow)
                .where(
                    LegalHoldRow.subject_id == who.subject_id,
                    LegalHoldRow.reference == ref_text,
                    LegalHoldRow.released_at.is_(None),
                )
                .values(released_at=datetime.now(UTC), released_by=context.actor)
            )
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]
            if count == 0:
                raise InputError(f"{who.name!r} has no active hold with reference {ref_text!r}")
            context.record(
                session, AuditAction.HOLD_RELEASE, details={"subject_id": who.subject_id, "reference": ref_text}
            )
        return count

    def holds(self) -> list[LegalHold]:
        """Active legal holds (admins and auditors)."""
        with self._context.guarded(Permission.HOLD, Permission.READ_REPORTS) as session:
            rows = session.execute(
                select(LegalHoldRow, SubjectRow.name)
                .join(SubjectRow, LegalHoldRow.subject_id == SubjectRow.id)
                .where(LegalHoldRow.released_at.is_(None))
                .order_by(LegalHoldRow.id)
            ).all()
            return [LegalHold(h.id, h.subject_id, name, h.reference, h.placed_at, h.placed_by) for h, name in rows]


def _purge_expired_collections(session: Session, today: date) -> tuple[list[str], int, int]:
    """Delete every collection of unknown faces retained until before TODAY (its faces, copies,
    clusters and links go with it); returns their ids and how many faces and copies were removed."""
    ids = list(session.scalars(select(CollectionRow.id).where(CollectionRow.retain_until < today)))
    faces = session.scalar(select(func.count()).where(CollectionFaceRow.collection_id.in_(ids))) or 0
    copies = session.scalar(select(func.count()).where(CollectionCopyRow.collection_id.in_(ids))) or 0
    for collection_id in ids:
        session.execute(delete(CollectionRow).where(CollectionRow.id == collection_id))
    return ids, faces, copies
