"""Reports about the gallery's use, built from the gallery and its audit log."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.gallery import GalleryStore
from facesearch.gallery.schema import AuditEventRow, FaceRow, ImageRow, LegalHoldRow, NominationRow, SubjectRow
from facesearch.governance import audit
from facesearch.governance.audit import AuditAction
from facesearch.types import Appearance, HeldImage, HeldLegalHold, HeldNomination, SubjectReport


def subject_report(session: Session, store: GalleryStore, subject: str) -> SubjectReport:
    """What is held about SUBJECT (name or id): each image with its source, lawful basis,
    enrollment and retention, every identify search that listed the subject as a candidate (who
    searched, when, for what purpose and case, at what rank and score), every nomination of them
    with its status, and legal holds on their data."""
    ref = store.require_subject(session, subject)
    created = session.scalar(select(SubjectRow.created_at).where(SubjectRow.id == ref.subject_id))
    rows = session.execute(
        select(ImageRow, func.count(FaceRow.id))
        .outerjoin(FaceRow, FaceRow.image_id == ImageRow.id)
        .where(ImageRow.subject_id == ref.subject_id)
        .group_by(ImageRow.id)
        .order_by(ImageRow.enrolled_at)
    ).all()
    # The models of each image's faces, in a query of its own: aggregating strings differs between
    # databases (SQLite's group_concat, PostgreSQL's string_agg) and this needs neither.
    models: dict[int, set[str]] = {}
    for image_id, model_id in session.execute(
        select(FaceRow.image_id, FaceRow.model_id)
        .join(ImageRow, FaceRow.image_id == ImageRow.id)
        .where(ImageRow.subject_id == ref.subject_id)
        .distinct()
    ):
        models.setdefault(int(image_id), set()).add(str(model_id))
    images = tuple(
        HeldImage(
            sha256=image.sha256,
            filename=image.filename,
            source=image.source,
            lawful_basis=image.lawful_basis,
            enrolled_at=image.enrolled_at,
            enrolled_by=image.enrolled_by,
            retain_until=image.retain_until,
            width=image.width,
            height=image.height,
            faces=int(faces),
            model_ids=tuple(sorted(models.get(image.id, ()))),
        )
        for image, faces in rows
    )
    appearances = []
    # Only events whose stored (canonical) JSON names the subject are parsed: the filter runs in the
    # database, not in Python over every search ever made.
    named = select(AuditEventRow).where(
        AuditEventRow.action == AuditAction.IDENTIFY.value,
        AuditEventRow.details.contains(f'"subject_id":"{ref.subject_id}"', autoescape=True),
    )
    for event in (audit.as_event(row) for row in session.scalars(named.order_by(AuditEventRow.seq))):
        for probe_face, candidates in enumerate(event.details.get("faces", [])):
            for candidate in candidates:
                if candidate.get("subject_id") == ref.subject_id:
                    appearances.append(
                        Appearance(
                            event.seq,
                            event.ts,
                            event.actor,
                            event.purpose,
                            event.case,
                            probe_face,
                            int(candidate["rank"]),
                            float(candidate["score"]),
                        )
                    )
    nominations = tuple(
        HeldNomination(n.id, n.case_id, n.purpose, n.search_seq, n.nominated_by, n.nominated_at, n.status)
        for n in session.scalars(
            select(NominationRow).where(NominationRow.subject_id == ref.subject_id).order_by(NominationRow.id)
        )
    )
    holds = tuple(
        HeldLegalHold(h.reference, h.placed_at, h.placed_by, h.released_at)
        for h in session.scalars(
            select(LegalHoldRow).where(LegalHoldRow.subject_id == ref.subject_id).order_by(LegalHoldRow.id)
        )
    )
    assert created is not None
    return SubjectReport(ref.subject_id, ref.name, created, images, tuple(appearances), nominations, holds)
