"""The facade: enroll, identify, verify, erase, with policy checked first and every use audited.

Each public method checks policy before doing any work, computes what it can outside any
transaction, then changes the gallery and appends its audit event in one transaction, and only
then brings the vector index up to date. A refused or failed call leaves gallery, index and audit
chain exactly as they were; an index left behind by a crash is detected by its generation and
rebuilt from the gallery.
"""

from __future__ import annotations

import copy
import dataclasses
import getpass
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from sqlalchemy.orm import Session

from facesearch import accounts, audit, ingest, policy, reports
from facesearch.accounts import AccountService, User
from facesearch.audit import AuditAction
from facesearch.calibration import Calibration
from facesearch.config import Settings
from facesearch.decode import PhotoInput, decode
from facesearch.enrollment import PreparedFace, describe_issues, prepare
from facesearch.errors import (
    AuthenticationError,
    DuplicateImageError,
    InputError,
    NoFaceError,
    PermissionDeniedError,
)
from facesearch.evaluation.calibrate import measure_calibration
from facesearch.evaluation.extract import EmbeddingCache
from facesearch.gallery import GalleryStore, ImageRecord, SubjectRef
from facesearch.home import Home
from facesearch.index.base import IndexInfo
from facesearch.index.keeper import IndexKeeper
from facesearch.models import DlibModels
from facesearch.pipeline import FacePipeline, main_face
from facesearch.policy import Permission
from facesearch.search import ScoreMeaning, compare, rank_subjects, score_meaning
from facesearch.types import (
    AuditEvent,
    ChainReport,
    EnrollDirectoryResult,
    EnrolledImage,
    EnrollProgress,
    EnrollResult,
    EnrollStatus,
    ErasureResult,
    FaceObservation,
    IdentifyResult,
    ProbeFace,
    Rejection,
    SubjectReport,
    SubjectSummary,
    VerifyResult,
)


class Engine:
    """One gallery in one home folder. Obtain it with :func:`facesearch.open` or :func:`facesearch.init`."""

    def __init__(
        self,
        home: Home,
        store: GalleryStore,
        settings: Settings,
        actor: str | None = None,
        models: DlibModels | None = None,
    ) -> None:
        self.home = home
        self.store = store
        self.settings = settings
        self.actor = (actor or "").strip() or getpass.getuser()
        self.pipeline = FacePipeline(settings, models)
        self.spec = self.pipeline.spec
        self._keeper = IndexKeeper(
            home.index_dir, self.spec, settings.index_backend, cipher=store.cipher, **settings.index_options()
        )
        self._thread_lock = threading.RLock()
        self._owns_store = True

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- enrollment -------------------------------------------------------------------

    def enroll(
        self,
        photos: PhotoInput | Iterable[PhotoInput],
        *,
        subject: str,
        source: str,
        basis: str,
        retain_until: date | str | None = None,
    ) -> EnrollResult:
        """Enroll one or more photos of one subject, each with exactly one usable face.

        source: where the photos came from (required). basis: the lawful basis, one of
        :class:`facesearch.LawfulBasis` (required). All photos are checked first: if any is refused,
        nothing is stored. A photo already enrolled for this subject is reported, not stored twice.
        """
        self._authorize(Permission.ENROLL)
        name = policy.require_subject_name(subject)
        provenance = policy.require_provenance(source, basis, retain_until)
        items = [(name, prepare(photo, self.pipeline)) for photo in _as_list(photos)]
        images = self._commit(items, provenance, reject_duplicates=None)
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
        """Enroll every photo under DIRECTORY/<subject name>/; photos that fail are reported, not fatal.

        ``workers`` processes analyse photos in parallel; faces are committed in batches of
        ``settings.enroll_batch_faces``. Photos already enrolled for their subject (same bytes) are
        skipped before any analysis, so rerunning after a crash or a kill finishes the job with no
        photo enrolled twice.
        """
        self._authorize(Permission.ENROLL)
        provenance = policy.require_provenance(source, basis, retain_until)
        with self.store.transaction() as session:
            self.store.state(session)
            enrolled = self.store.enrolled_images(session)
        return ingest.enroll_directory(
            Path(directory),
            pipeline=self.pipeline,
            enrolled=enrolled,
            commit=lambda batch, rejected: self._commit(batch, provenance, reject_duplicates=rejected),
            batch_faces=self.settings.enroll_batch_faces,
            workers=workers,
            on_progress=on_progress,
        )

    def _commit(
        self,
        items: Sequence[tuple[str, PreparedFace]],
        provenance: policy.Provenance,
        reject_duplicates: list[Rejection] | None,
    ) -> list[tuple[SubjectRef, EnrolledImage]]:
        """Store prepared faces in one transaction with their audit events, then update the index.

        A file already enrolled under another subject raises DuplicateImageError (nothing stored),
        or, when ``reject_duplicates`` is a list, is appended to it and skipped.
        """
        out: list[tuple[SubjectRef, EnrolledImage]] = []
        if not items:
            return out
        new_ids: list[int] = []
        new_vectors: list[np.ndarray] = []
        with self._locked():
            with self.store.transaction() as session:
                index = self._keeper.synced(session, self.store)
                generation = self.store.state(session).generation + 1  # taken only if a face is stored
                for name, prepared in items:
                    try:
                        ref, image = self._store_face(session, name, prepared, provenance, generation)
                    except DuplicateImageError as exc:
                        if reject_duplicates is None:
                            raise
                        reject_duplicates.append(Rejection(prepared.image.name, exc.code, exc.message))
                        continue
                    out.append((ref, image))
                    if image.status is EnrollStatus.ENROLLED and image.face_id is not None:
                        new_ids.append(image.face_id)
                        new_vectors.append(prepared.face.embedding.vector)
                if new_ids:
                    self.store.bump_generation(session)
                state_hash = self.store.state(session).content_hash
            if new_ids:
                ids = np.array(new_ids, dtype=np.int64)
                self._keeper.added(index, ids, np.stack(new_vectors), generation, state_hash)
        return out

    def _store_face(
        self, session: Session, name: str, prepared: PreparedFace, provenance: policy.Provenance, generation: int
    ) -> tuple[SubjectRef, EnrolledImage]:
        """Store one prepared face under subject NAME and audit it, or report it already enrolled."""
        image = prepared.image
        if any(s.name != name for s in self.store.image_subjects(session, image.sha256)):
            raise DuplicateImageError(f"{image.name}: this file is already enrolled under another subject")
        ref = self.store.ensure_subject(session, name)
        face_id = self.store.face_of_image(session, ref.subject_id, image.sha256)
        if face_id is not None:
            return ref, EnrolledImage(image.name, image.sha256, EnrollStatus.ALREADY_ENROLLED, face_id)
        record = ImageRecord(
            sha256=image.sha256,
            filename=Path(image.name).name,
            source=provenance.source,
            lawful_basis=provenance.basis.value,
            enrolled_by=self.actor,
            retain_until=provenance.retain_until,
            width=image.width,
            height=image.height,
        )
        face_id = self.store.add_face(
            session, ref, observation=prepared.face, image=record, crop_jpeg=prepared.crop_jpeg
        )
        self._audit(
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

    # --- search -----------------------------------------------------------------------

    def identify(self, probe: PhotoInput, *, purpose: str, case: str, top_k: int | None = None) -> IdentifyResult:
        """1:N search: for each face in the probe photo, the top-k candidate subjects, best first.

        purpose and case are required and recorded in the audit log. A subject's score is that of
        its best face; ``clears_threshold`` says whether it reaches the operating threshold.
        """
        self._authorize(Permission.IDENTIFY)
        stated = policy.require_search_purpose(purpose, case)
        k = top_k if top_k is not None else self.settings.top_k
        if k < 1:
            raise InputError(f"top-k must be at least 1, not {k}")
        image = decode(probe, self.settings)
        observations = self.pipeline.analyze(image)
        if not observations:
            raise NoFaceError(f"{image.name}: no face found in the probe photo")
        with self._writing() as session:
            index = self._keeper.synced(session, self.store)
            generation = self.store.state(session).generation
            meaning = self._score_meaning(session)
            threshold = meaning.threshold

            def lookup(face_ids: list[int]) -> Mapping[int, tuple[str, str]]:
                refs = self.store.subjects_of_faces(session, face_ids)
                return {f: (r.subject_id, r.name) for f, r in refs.items()}

            faces = tuple(
                ProbeFace(
                    box=obs.box,
                    quality=obs.quality,
                    warnings=describe_issues(obs.quality, self.settings),
                    candidates=rank_subjects(index, obs.embedding, k, meaning, lookup),
                )
                for obs in observations
            )
            seq = self._audit(
                session,
                AuditAction.IDENTIFY,
                generation,
                purpose=stated.purpose,
                case=stated.case,
                probe_sha256=image.sha256,
                details={
                    "top_k": k,
                    "threshold": threshold.score,
                    "threshold_source": threshold.source,
                    "model_id": self.spec.model_id,
                    "gallery_faces": len(index),
                    "faces": [
                        [{"rank": c.rank, "subject_id": c.subject_id, "score": c.score} for c in f.candidates]
                        for f in faces
                    ],
                },
            )
        return IdentifyResult(
            probe_sha256=image.sha256,
            model_id=self.spec.model_id,
            threshold=threshold,
            purpose=stated.purpose,
            case=stated.case,
            gallery_size=len(index),
            faces=faces,
            audit_seq=seq,
        )

    def verify(
        self, photo_a: PhotoInput, photo_b: PhotoInput, *, purpose: str | None = None, case: str | None = None
    ) -> VerifyResult:
        """1:1 comparison of the main face of each photo (see :func:`facesearch.pipeline.main_face`).

        ``score``: higher is more alike; ``same_person`` is ``score >= threshold.score``, a
        likelihood, not proof. purpose and case are optional here and audited when given.
        """
        self._authorize(Permission.VERIFY)
        face_a, warn_a, sha_a = self._main_face(photo_a, "first")
        face_b, warn_b, sha_b = self._main_face(photo_b, "second")
        score = compare(face_a.embedding, face_b.embedding)
        with self._writing() as session:
            meaning = self._score_meaning(session)
            threshold = meaning.threshold
            same = score >= threshold.score
            fmr, fmr_meaning = meaning.expected_fmr(score)
            seq = self.record(
                session,
                AuditAction.VERIFY,
                purpose=(purpose or "").strip() or None,
                case=(case or "").strip() or None,
                probe_sha256=sha_a,
                details={
                    "other_sha256": sha_b,
                    "score": round(score, 6),
                    "threshold": threshold.score,
                    "threshold_source": threshold.source,
                    "same_person": same,
                    "model_id": self.spec.model_id,
                },
            )
        return VerifyResult(
            score=round(score, 6),
            threshold=threshold,
            same_person=same,
            model_id=self.spec.model_id,
            a_sha256=sha_a,
            b_sha256=sha_b,
            warnings=warn_a + warn_b,
            audit_seq=seq,
            expected_fmr=fmr,
            fmr_meaning=fmr_meaning,
        )

    def _main_face(self, photo: PhotoInput, which: str) -> tuple[FaceObservation, tuple[str, ...], str]:
        image = decode(photo, self.settings)
        observations = self.pipeline.analyze(image)
        if not observations:
            raise NoFaceError(f"{image.name}: no face found in the {which} photo")
        main = main_face(observations, image.width, image.height)
        assert main is not None
        warnings = tuple(f"{which} photo: {w}" for w in describe_issues(main.quality, self.settings))
        usable = sum(1 for o in observations if o.quality.usable)
        if usable > 1:
            warnings += (f"{which} photo: {usable} usable faces found; compared the most central large one",)
        return main, warnings, image.sha256

    # --- subjects and erasure ---------------------------------------------------------

    def subjects(self) -> list[SubjectSummary]:
        """Every enrolled subject with image and face counts and the earliest retain-until."""
        self._authorize(Permission.MANAGE_GALLERY, Permission.ENROLL, Permission.READ_REPORTS)
        with self.store.transaction() as session:
            self.store.state(session)
            return self.store.subject_summaries(session)

    def erase(self, subject: str, *, reason: str) -> ErasureResult:
        """Physically remove a subject: rows, templates, crops and index entries.

        The audit event names the subject's opaque id and the counts removed, never biometric data.
        """
        self._authorize(Permission.ERASE)
        why = policy.require_reason(reason, "erasure")
        with self._locked():
            with self.store.transaction() as session:
                index = self._keeper.synced(session, self.store)
                ref = self.store.require_subject(session, subject)
                face_ids = np.array(self.store.subject_face_ids(session, ref.subject_id), dtype=np.int64)
                in_index = int(np.isin(face_ids, index.ids()).sum())
                images, faces = self.store.delete_subject(session, ref.subject_id)
                generation = self.store.bump_generation(session)
                state_hash = self.store.state(session).content_hash
                seq = self._audit(
                    session,
                    AuditAction.ERASE,
                    generation,
                    details={
                        "subject_id": ref.subject_id,
                        "images_removed": images,
                        "faces_removed": faces,
                        "index_entries_removed": in_index,
                        "reason": why,
                    },
                )
            removed = self._keeper.removed(index, face_ids, generation, state_hash)
        return ErasureResult(ref.subject_id, images, faces, removed, seq)

    def subject_report(self, subject: str) -> SubjectReport:
        """Everything held about a subject and every search that returned them (admins and
        auditors); making the report is itself audited."""
        self._authorize(Permission.READ_REPORTS, Permission.MANAGE_GALLERY)
        with self._writing() as session:
            report = reports.subject_report(session, self.store, subject)
            details = {
                "subject_id": report.subject_id,
                "images": len(report.images),
                "appearances": len(report.appearances),
            }
            seq = self.record(session, AuditAction.SUBJECT_REPORT, details=details)
        return dataclasses.replace(report, audit_seq=seq)

    # --- audit and index --------------------------------------------------------------

    def audit_verify(self) -> ChainReport:
        """Recompute the audit hash chain; ``ok`` is False at the first event that was altered."""
        self._authorize(Permission.READ_AUDIT, Permission.MANAGE_GALLERY)
        with self.store.transaction() as session:
            return audit.verify(session)

    def audit_events(self, *, action: str | None = None, case: str | None = None) -> list[AuditEvent]:
        """The audit log's events, oldest first, optionally of one action or case (auditors)."""
        self._authorize(Permission.READ_AUDIT)
        with self.store.transaction() as session:
            return audit.events(session, action=action, case=case)

    # --- calibration ----------------------------------------------------------------------

    def calibrate(
        self,
        dataset: Path,
        *,
        target_fmr: float,
        workers: int = 1,
        cache: EmbeddingCache | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Calibration:
        """Set the operating threshold from impostor scores measured on a labelled dataset.

        DATASET/<identity>/<photo> is embedded with this gallery's recipe; the threshold is the lowest
        score that at most ``target_fmr`` of its impostor pairs reach. It is stored with the dataset's
        hash, the model id and the date, audited, and used by identify and verify from then on.
        Raises CalibrationError when the dataset has too few impostor pairs for the target.
        """
        self._authorize(Permission.MANAGE_GALLERY)
        calibration = measure_calibration(
            dataset, self.pipeline, target_fmr, cache=cache, workers=workers, progress=progress
        )
        with self._writing() as session:
            self.store.add_calibration(session, calibration, self.actor)
            seq = self.record(
                session,
                AuditAction.CALIBRATE,
                details=calibration.audit_details(),
            )
        return dataclasses.replace(calibration, audit_seq=seq)

    def calibration(self) -> Calibration | None:
        """The calibration in force for this gallery's model, or None (the published threshold is used)."""
        self._authorize(*Permission)  # any user
        with self.store.transaction() as session:
            return self.store.latest_calibration(session, self.spec.model_id)

    def index_info(self) -> IndexInfo:
        """The vector index in use, brought in step with the gallery first (rebuilt if stale)."""
        self._authorize(Permission.MANAGE_GALLERY, Permission.READ_REPORTS)
        with self._writing() as session:
            return self._keeper.synced(session, self.store).info

    def rebuild_index(self) -> IndexInfo:
        """Rebuild the vector index from the gallery's stored embeddings, whatever its state."""
        self._authorize(Permission.MANAGE_GALLERY)
        with self._writing() as session:
            return self._keeper.rebuild(session, self.store).info

    def _score_meaning(self, session: Session) -> ScoreMeaning:
        return score_meaning(self.spec, self.store.latest_calibration(session, self.spec.model_id))

    def _audit(self, session: Session, action: AuditAction, generation: int, **fields: Any) -> int:
        """Append this engine's actor's event to the audit chain, in the caller's transaction."""
        return audit.append(session, actor=self.actor, action=action, gallery_generation=generation, **fields)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialises gallery-plus-index changes across threads and processes. If anything fails
        inside, the in-memory index is dropped and re-synced from disk or the gallery next time."""
        with self._thread_lock, self.home.locked():
            try:
                yield
            except BaseException:
                self._keeper.forget()
                raise

    # --- who acts ------------------------------------------------------------------------

    @property
    def accounts(self) -> AccountService:
        """Users and API tokens (admin only)."""
        return AccountService(self)

    def authenticate(self, token: str) -> User:
        """The user an API token belongs to; AuthenticationError, audited, if it is not valid."""
        try:
            with self.store.transaction() as session:
                return accounts.authenticate(session, token)
        except AuthenticationError as exc:
            with self._writing() as session:
                self.record(session, AuditAction.AUTH_FAILED, details={"reason": exc.code})
            raise

    @contextmanager
    def guarded(self, permission: Permission) -> Iterator[Session]:
        """A locked transaction for this engine's actor, if the role matrix allows ``permission``;
        otherwise the refusal is audited and PermissionDeniedError raised."""
        with self._writing() as session:
            refusal = self._refusal(session, (permission,))
            if refusal is None:
                yield session
                return
        self._refuse(refusal, (permission,))

    def acting_as(self, actor: str) -> Engine:
        """This engine for another actor (a service acts for each request's user): the same gallery,
        index and models; closing it leaves the original open."""
        view = copy.copy(self)
        view.actor = actor.strip()
        view._owns_store = False
        return view

    def _authorize(self, *permissions: Permission) -> None:
        """Go on if the actor's role grants any of ``permissions``; else audit the refusal and raise."""
        with self.store.transaction() as session:
            refusal = self._refusal(session, permissions)
        if refusal is not None:
            self._refuse(refusal, permissions)

    def _refusal(self, session: Session, permissions: Sequence[Permission]) -> PermissionDeniedError | None:
        try:
            accounts.authorize(session, self.actor, *permissions)
        except PermissionDeniedError as exc:
            return exc
        return None

    def _refuse(self, refusal: PermissionDeniedError, permissions: Sequence[Permission]) -> NoReturn:
        with self._writing() as session:
            details = {"permission": " or ".join(p.value for p in permissions), "reason": refusal.message}
            self.record(session, AuditAction.REFUSED, details=details)
        raise refusal

    def record(self, session: Session, action: AuditAction, **fields: Any) -> int:
        """Audit an event of this engine's actor at the gallery's current generation."""
        return self._audit(session, action, self.store.state(session).generation, **fields)

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._locked(), self.store.transaction() as session:
            yield session


def _as_list(photos: PhotoInput | Iterable[PhotoInput]) -> list[PhotoInput]:
    if isinstance(photos, str | Path | bytes):
        return [photos]
    items = list(photos)
    if not items:
        raise InputError("no photos given")
    return items
