"""Enrollment: photos in, faces stored with their provenance, retention and audit events, index updated.

The functions take the :class:`~facesearch.engine.Engine` they act for; the engine's public methods
are the entry points and carry the documentation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from facesearch.errors import (
    DuplicateImageError,
    InputError,
    OptedOutError,
)
from facesearch.gallery import ImageRecord, SubjectRef
from facesearch.governance import optout, policy
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission
from facesearch.operations import ingest
from facesearch.pipeline.decode import PhotoInput
from facesearch.pipeline.prepare import PreparedFace, prepare
from facesearch.types import (
    EnrollDirectoryResult,
    EnrolledImage,
    EnrollProgress,
    EnrollResult,
    EnrollStatus,
    Rejection,
)

if TYPE_CHECKING:
    from facesearch.engine import Engine


def enroll(
    engine: Engine,
    photos: PhotoInput | Iterable[PhotoInput],
    *,
    subject: str,
    source: str,
    basis: str,
    retain_until: date | str | None = None,
) -> EnrollResult:
    """See :meth:`facesearch.engine.Engine.enroll`."""
    with engine.ruled():
        provenance = _provenance(engine, source, basis, retain_until)
        name = policy.require_subject_name(subject)
        items = [(name, prepare(photo, engine.pipeline)) for photo in _as_list(photos)]
        images = _commit(engine, items, provenance, reject_duplicates=None)
    ref_id = images[0][0].subject_id if images else ""
    return EnrollResult(subject=name, subject_id=ref_id, images=tuple(img for _, img in images))


def enroll_directory(
    engine: Engine,
    directory: str | Path,
    *,
    source: str,
    basis: str,
    retain_until: date | str | None = None,
    on_progress: Callable[[EnrollProgress], None] | None = None,
    workers: int = 1,
) -> EnrollDirectoryResult:
    """See :meth:`facesearch.engine.Engine.enroll_directory`."""
    with engine.ruled():
        provenance = _provenance(engine, source, basis, retain_until)
    with engine.store.transaction() as session:
        enrolled = engine.store.enrolled_images(session)
    return ingest.enroll_directory(
        Path(directory),
        pipeline=engine.pipeline,
        enrolled=enrolled,
        commit=lambda batch, rejected: _commit(engine, batch, provenance, reject_duplicates=rejected),
        batch_faces=engine.settings.enroll_batch_faces,
        workers=workers,
        on_progress=on_progress,
    )


def _provenance(engine: Engine, source: str, basis: str, retain_until: date | str | None) -> policy.Provenance:
    """The actor may enroll, and the photos' provenance and retention meet the gallery's rules."""
    with engine.guarded(Permission.ENROLL) as session:
        days = engine.store.state(session).retention_days
        return policy.require_provenance(source, basis, retain_until, days)


def _commit(
    engine: Engine,
    items: Sequence[tuple[str, PreparedFace]],
    provenance: policy.Provenance,
    reject_duplicates: list[Rejection] | None,
) -> list[tuple[SubjectRef, EnrolledImage]]:
    """Store prepared faces in one transaction with their audit events, then update the index.

    A file already enrolled under another subject raises DuplicateImageError, and a face on
    the opt-out list OptedOutError (nothing stored); or, when ``reject_duplicates`` is a
    list, the photo is appended to it and skipped (opt-outs counted in one refusal event).
    """
    out: list[tuple[SubjectRef, EnrolledImage]] = []
    if not items:
        return out
    new_ids: list[int] = []
    new_vectors: list[np.ndarray] = []
    with engine.locked():
        with engine.store.transaction() as session:
            index = engine.keeper.synced(session, engine.store)
            generation = engine.store.state(session).generation + 1  # taken only if a face is stored
            screen = optout.Screen.load(
                session, engine.store, engine.spec, engine.score_meaning(session).threshold.score
            )
            opted_out = screen.matches(np.stack([p.face.embedding.vector for _, p in items]))
            refused = 0
            for (name, prepared), excluded in zip(items, opted_out, strict=True):
                try:
                    if excluded:
                        refused += 1
                        raise OptedOutError(
                            f"{prepared.image.name}: this face matches a person on the do-not-enroll list; "
                            "it may not be enrolled"
                        )
                    ref, image = _store_face(engine, session, name, prepared, provenance, generation)
                except (DuplicateImageError, OptedOutError) as exc:
                    if reject_duplicates is None:
                        raise
                    reject_duplicates.append(Rejection(prepared.image.name, exc.code, exc.message))
                    continue
                out.append((ref, image))
                if image.status is EnrollStatus.ENROLLED and image.face_id is not None:
                    new_ids.append(image.face_id)
                    new_vectors.append(prepared.face.embedding.vector)
            if refused and reject_duplicates is not None:
                engine.audit_at(session, AuditAction.REFUSED, generation - 1, details=optout.refusal_details(refused))
            if new_ids:
                engine.store.bump_generation(session)
            state_hash = engine.store.state(session).content_hash
            if new_ids:  # a database index takes the vectors in this transaction, with the faces
                ids, vectors = np.array(new_ids, dtype=np.int64), np.stack(new_vectors)
                engine.keeper.stage_add(session, index, ids, vectors)
                engine.keeper.stage_stamp(session, index, generation, state_hash)
        if new_ids:
            engine.keeper.added(index, ids, vectors, generation, state_hash)
    return out


def _store_face(
    engine: Engine, session: Session, name: str, prepared: PreparedFace, provenance: policy.Provenance, generation: int
) -> tuple[SubjectRef, EnrolledImage]:
    """Store one prepared face under subject NAME and audit it, or report it already enrolled."""
    image = prepared.image
    if any(s.name != name for s in engine.store.image_subjects(session, image.sha256)):
        raise DuplicateImageError(f"{image.name}: this file is already enrolled under another subject")
    ref = engine.store.ensure_subject(session, name)
    face_id = engine.store.face_of_image(session, ref.subject_id, image.sha256)
    if face_id is not None:
        return ref, EnrolledImage(image.name, image.sha256, EnrollStatus.ALREADY_ENROLLED, face_id)
    record = ImageRecord(
        sha256=image.sha256,
        filename=Path(image.name).name,
        source=provenance.source,
        lawful_basis=provenance.basis.value,
        enrolled_by=engine.actor,
        retain_until=provenance.retain_until,
        width=image.width,
        height=image.height,
    )
    face_id = engine.store.add_face(session, ref, observation=prepared.face, image=record, crop_jpeg=prepared.crop_jpeg)
    engine.audit_at(
        session,
        AuditAction.ENROLL,
        generation,
        details={
            "subject_id": ref.subject_id,
            "image_sha256": image.sha256,
            "face_id": face_id,
            "source": provenance.source,
            "lawful_basis": provenance.basis.value,
            "retain_until": provenance.retain_until.isoformat() if provenance.retain_until else None,
            "model_id": prepared.face.embedding.model_id,
        },
    )
    return ref, EnrolledImage(image.name, image.sha256, EnrollStatus.ENROLLED, face_id)


def _as_list(photos: PhotoInput | Iterable[PhotoInput]) -> list[PhotoInput]:
    if isinstance(photos, str | Path | bytes):
        return [photos]
    items = list(photos)
    if not items:
        raise InputError("no photos given")
    return items
