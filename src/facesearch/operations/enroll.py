"""Enrollment: photos in, faces stored with their provenance, retention and audit events, index updated.

:class:`EnrollService` enrolls the photos of one subject, or a folder of subjects' photos analysed in
parallel and committed in batches, resumably. The engine's public methods are the entry points and
carry the documentation; a photo becomes an enrollable face in :mod:`facesearch.pipeline.prepare`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from facesearch.errors import (
    AnalysisLostError,
    DuplicateImageError,
    InputError,
    OptedOutError,
)
from facesearch.gallery import ImageRecord, SubjectRef
from facesearch.governance import optout, policy
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission
from facesearch.pipeline.decode import PhotoInput
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.prepare import PreparedFace, collect_directory, prepare, prepare_many
from facesearch.types import (
    EnrollDirectoryResult,
    EnrolledImage,
    EnrollProgress,
    EnrollResult,
    EnrollStatus,
    Rejection,
)

if TYPE_CHECKING:
    from facesearch.governance.context import Context

Batch = list[tuple[str, PreparedFace]]
Commit = Callable[[Batch, list[Rejection]], Sequence[tuple[SubjectRef, EnrolledImage]]]
Work = list[tuple[str, Path]]


def pending(work: Work, enrolled: set[tuple[str, str]]) -> Work:
    """The (subject, photo) pairs whose photo bytes are not yet enrolled for that subject."""
    todo = []
    for name, path in work:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            todo.append((name, path))  # analysing it reports the problem
            continue
        if (name, digest) not in enrolled:
            todo.append((name, path))
    return todo


def _named(work: Work, rejected: list[Rejection]) -> tuple[Work, list[Rejection]]:
    """The photos under folders whose name is a valid subject name (NFC, as enrollment stores it);
    those under another folder are rejected ('bad-subject-name') with the reason."""
    named: Work = []
    for folder, path in work:
        try:
            named.append((policy.require_subject_name(folder), path))
        except InputError as exc:
            rejected.append(Rejection(str(path), "bad-subject-name", f"{path}: {exc.message}"))
    return named, rejected


def _walk_directory(
    root: Path,
    *,
    pipeline: FacePipeline,
    enrolled: set[tuple[str, str]],
    commit: Commit,
    batch_faces: int,
    workers: int = 1,
    ray_address: str = "",
    on_progress: Callable[[EnrollProgress], None] | None = None,
) -> EnrollDirectoryResult:
    """Analyse ROOT/<subject>/<photo> in ``workers`` processes (or Ray workers of the cluster at
    ``ray_address``) and commit every ``batch_faces`` faces: the walk over a folder, resumable after a
    crash or a kill, here or of a worker (its photos come back 'analysis-lost', for a rerun).

    Photos in ``enrolled`` (subject name, sha256) are counted as already enrolled without analysis.
    """
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    work, rejected = _named(*collect_directory(root))
    if not work:
        raise InputError(f"{root}: no photos found in sub-folders (expected DIR/<subject>/<photo>)")
    todo = pending(work, enrolled)
    already = done = len(work) - len(todo)
    if on_progress:
        on_progress(EnrollProgress(done=done, total=len(work), current=""))
    enrolled_now = 0
    batch: Batch = []
    outcomes = prepare_many([path for _, path in todo], pipeline, workers, ray_address)
    for (name, path), (prepared, rejection) in zip(todo, outcomes, strict=True):
        done += 1
        if prepared is not None:
            batch.append((name, prepared))
        if rejection is not None:
            rejected.append(rejection)
        if len(batch) >= batch_faces or done == len(work):
            results = commit(batch, rejected)
            enrolled_now += sum(1 for _, r in results if r.status is EnrollStatus.ENROLLED)
            already += sum(1 for _, r in results if r.status is EnrollStatus.ALREADY_ENROLLED)
            batch = []
        if on_progress:
            on_progress(EnrollProgress(done=done, total=len(work), current=str(path)))
    subjects = len({name for name, _ in work})
    return EnrollDirectoryResult(subjects, enrolled_now, already, tuple(rejected))


class EnrollService:
    """Enrollment for the acting user (enrollers): one subject's photos, or a folder of subjects."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def enroll(
        self,
        photos: PhotoInput | Iterable[PhotoInput],
        *,
        subject: str,
        source: str,
        basis: str,
        retain_until: date | str | None = None,
    ) -> EnrollResult:
        """See :meth:`facesearch.engine.Engine.enroll`."""
        context = self._context
        with context.ruled():
            provenance = _provenance(context, source, basis, retain_until)
            name = policy.require_subject_name(subject)
            items = [(name, _prepared(context, photo)) for photo in _as_list(photos)]
            images = _commit(context, items, provenance, reject_duplicates=None)
        ref_id = images[0][0].subject_id if images else ""
        return EnrollResult(subject=name, subject_id=ref_id, images=tuple(img for _, img in images))

    def enroll_directory(
        self,
        directory: str | Path,
        *,
        source: str,
        basis: str,
        retain_until: date | str | None = None,
        on_progress: Callable[[EnrollProgress], None] | None = None,
        workers: int = 1,
    ) -> EnrollDirectoryResult:
        """See :meth:`facesearch.engine.Engine.enroll_directory`."""
        context = self._context
        with context.ruled():
            provenance = _provenance(context, source, basis, retain_until)
        with context.store.transaction() as session:
            enrolled = context.store.enrolled_images(session)
        result = _walk_directory(
            Path(directory),
            pipeline=context.pipeline,
            enrolled=enrolled,
            commit=lambda batch, rejected: _commit(context, batch, provenance, reject_duplicates=rejected),
            batch_faces=context.settings.enroll_batch_faces,
            workers=workers,
            ray_address=context.settings.ray_address,
            on_progress=on_progress,
        )
        _audit_skipped(context, result.rejected)
        return result


def _prepared(context: Context, photo: PhotoInput) -> PreparedFace:
    """The photo's face to enroll; a photo refused as bad input is audited (``photo.refused``)."""
    with context.photo_checked("enroll", photo):
        return prepare(photo, context.pipeline)


def _audit_skipped(context: Context, rejected: Sequence[Rejection]) -> None:
    """One ``photo.refused`` event for a folder's photos skipped as unusable, counted by reason (not one
    event per file: a folder of a million broken files makes one event). Opt-outs are left out:
    they are audited as ``policy.refused`` where they are found; so are photos whose analysis was lost
    with a worker (nothing was refused: a rerun enrolls them)."""
    by_reason = Counter(r.reason for r in rejected if r.reason not in (OptedOutError.code, AnalysisLostError.code))
    if by_reason:
        details = {
            "request": "enroll-dir",
            "photos": sum(by_reason.values()),
            "by_reason": dict(sorted(by_reason.items())),
        }
        with context.writing() as session:
            context.record(session, AuditAction.PHOTO_REFUSED, details=details)


def _provenance(context: Context, source: str, basis: str, retain_until: date | str | None) -> policy.Provenance:
    """The actor may enroll, and the photos' provenance and retention meet the gallery's rules."""
    with context.guarded(Permission.ENROLL) as session:
        days = context.store.state(session).retention_days
        return policy.require_provenance(source, basis, retain_until, days)


def _commit(
    context: Context,
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
    with context.locked():
        with context.store.transaction() as session:
            index = context.keeper.synced(session, context.store)
            generation = context.store.state(session).generation + 1  # taken only if a face is stored
            screen = optout.Screen.load(
                session, context.store, context.spec, context.score_meaning(session).threshold.score
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
                    ref, image = _store_face(context, session, name, prepared, provenance, generation)
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
                context.record_at(session, AuditAction.REFUSED, generation - 1, details=optout.refusal_details(refused))
            if new_ids:
                context.store.bump_generation(session)
            state_hash = context.store.state(session).content_hash
            if new_ids:  # a database index takes the vectors in this transaction, with the faces
                ids, vectors = np.array(new_ids, dtype=np.int64), np.stack(new_vectors)
                context.keeper.stage_add(session, index, ids, vectors)
                context.keeper.stage_stamp(session, index, generation, state_hash)
        if new_ids:
            context.keeper.added(index, ids, vectors, generation, state_hash)
    return out


def _store_face(
    context: Context,
    session: Session,
    name: str,
    prepared: PreparedFace,
    provenance: policy.Provenance,
    generation: int,
) -> tuple[SubjectRef, EnrolledImage]:
    """Store one prepared face under subject NAME and audit it, or report it already enrolled."""
    image = prepared.image
    if any(s.name != name for s in context.store.image_subjects(session, image.sha256)):
        raise DuplicateImageError(f"{image.name}: this file is already enrolled under another subject")
    ref = context.store.ensure_subject(session, name)
    face_id = context.store.face_of_image(session, ref.subject_id, image.sha256)
    if face_id is not None:
        return ref, EnrolledImage(image.name, image.sha256, EnrollStatus.ALREADY_ENROLLED, face_id)
    record = ImageRecord(
        sha256=image.sha256,
        filename=Path(image.name).name,
        source=provenance.source,
        lawful_basis=provenance.basis.value,
        enrolled_by=context.actor,
        retain_until=provenance.retain_until,
        width=image.width,
        height=image.height,
    )
    face_id = context.store.add_face(
        session, ref, observation=prepared.face, image=record, crop_jpeg=prepared.crop_jpeg
    )
    context.record_at(
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
