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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from sqlalchemy.orm import Session

from facesearch import accounts, audit, ingest, optout, policy, purposes, reports, retention, usage
from facesearch.accounts import AccountService, User
from facesearch.audit import AuditAction
from facesearch.calibration import Calibration
from facesearch.casework import CaseService
from facesearch.config import Settings
from facesearch.decode import PhotoInput, decode
from facesearch.enrollment import PreparedFace, describe_issues, prepare
from facesearch.errors import (
    AuthenticationError,
    DuplicateImageError,
    InputError,
    NoFaceError,
    OptedOutError,
    PermissionDeniedError,
    PolicyError,
)
from facesearch.evaluation.calibrate import measure_calibration
from facesearch.evaluation.extract import EmbeddingCache
from facesearch.gallery import GalleryStore, ImageRecord, SubjectRef
from facesearch.home import Home
from facesearch.index.base import IndexInfo
from facesearch.index.keeper import IndexKeeper
from facesearch.models import DlibModels
from facesearch.optout import OptOutService
from facesearch.pipeline import FacePipeline, main_face
from facesearch.policy import Permission
from facesearch.purposes import PurposeService
from facesearch.retention import RetentionService
from facesearch.search import ScoreMeaning, compare, rank_subjects, score_meaning
from facesearch.transparency import TransparencyReport, period_bounds, read_report
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
        self._keeper = IndexKeeper(home.index_dir, self.spec, settings.index_backend, **settings.index_options())
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
        with self.ruled():
            provenance = self._provenance(source, basis, retain_until)
            name = policy.require_subject_name(subject)
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
        photo enrolled twice. Photos of opted-out people are rejected as ``opted-out``.
        """
        with self.ruled():
            provenance = self._provenance(source, basis, retain_until)
        with self.store.transaction() as session:
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

    def _provenance(self, source: str, basis: str, retain_until: date | str | None) -> policy.Provenance:
        """The actor may enroll, and the photos' provenance and retention meet the gallery's rules."""
        with self.guarded(Permission.ENROLL) as session:
            days = self.store.state(session).retention_days
            return policy.require_provenance(source, basis, retain_until, days)

    def _commit(
        self,
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
        with self._locked():
            with self.store.transaction() as session:
                index = self._keeper.synced(session, self.store)
                generation = self.store.state(session).generation + 1  # taken only if a face is stored
                screen = optout.Screen.load(
                    session, self.store, self.spec, self._score_meaning(session).threshold.score
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
                        ref, image = self._store_face(session, name, prepared, provenance, generation)
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
                    self._audit(session, AuditAction.REFUSED, generation - 1, details=optout.refusal_details(refused))
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

    def identify(
        self,
        probe: PhotoInput,
        *,
        purpose: str,
        case: str,
        authorisation: str | None = None,
        top_k: int | None = None,
    ) -> IdentifyResult:
        """1:N search: for each face in the probe photo, the top-k candidate subjects, best first.

        purpose and case are required, the purpose must be one the gallery allows, and some
        purposes require an authorisation reference; all are recorded in the audit log. A
        subject's score is that of its best face; ``clears_threshold`` says whether it reaches the
        operating threshold. Faces matching the opt-out list are never returned; the audit event
        counts how many were withheld, naming no one.
        """
        with self.ruled():
            stated = self._search_allowed(Permission.IDENTIFY, purpose, case, authorisation)
            k = top_k if top_k is not None else self.settings.top_k
            if k < 1:
                raise InputError(f"top-k must be at least 1, not {k}")
            image = decode(probe, self.settings)
            observations = self.pipeline.analyze(image)
            if not observations:
                raise NoFaceError(f"{image.name}: no face found in the probe photo")
            with self._writing() as session:
                index = self._keeper.synced(session, self.store)
                meaning = self._score_meaning(session)
                threshold = meaning.threshold
                screen = optout.Screen.load(session, self.store, self.spec, threshold.score)
                lookup = screen.lookup(session, self.store)
                faces = tuple(
                    ProbeFace(
                        box=obs.box,
                        quality=obs.quality,
                        warnings=describe_issues(obs.quality, self.settings),
                        candidates=rank_subjects(index, obs.embedding, k, meaning, lookup),
                    )
                    for obs in observations
                )
                seq = self._searched(
                    session,
                    AuditAction.IDENTIFY,
                    stated,
                    image.sha256,
                    {
                        "authorisation": stated.authorisation,
                        "top_k": k,
                        "threshold": threshold.score,
                        "threshold_source": threshold.source,
                        "model_id": self.spec.model_id,
                        "gallery_faces": len(index),
                        "suppressed": screen.suppressed,
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
            authorisation=stated.authorisation,
        )

    def verify(
        self,
        photo_a: PhotoInput,
        photo_b: PhotoInput,
        *,
        purpose: str,
        case: str,
        authorisation: str | None = None,
    ) -> VerifyResult:
        """1:1 comparison of the main face of each photo (see :func:`facesearch.pipeline.main_face`).

        ``score``: higher is more alike; ``same_person`` is ``score >= threshold.score``, a
        likelihood, not proof. Bound to an allowed purpose and a case like :meth:`identify`.
        """
        with self.ruled():
            stated = self._search_allowed(Permission.VERIFY, purpose, case, authorisation)
            face_a, warn_a, sha_a = self._main_face(photo_a, "first")
            face_b, warn_b, sha_b = self._main_face(photo_b, "second")
            score = compare(face_a.embedding, face_b.embedding)
            with self._writing() as session:
                meaning = self._score_meaning(session)
                threshold = meaning.threshold
                same = score >= threshold.score
                fmr, fmr_meaning = meaning.expected_fmr(score)
                seq = self._searched(
                    session,
                    AuditAction.VERIFY,
                    stated,
                    sha_a,
                    {
                        "authorisation": stated.authorisation,
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

    def _search_allowed(
        self, permission: Permission, purpose: str | None, case: str | None, authorisation: str | None
    ) -> policy.SearchPurpose:
        """The actor may search, for a purpose the gallery allows, with the fields it requires."""
        with self.guarded(permission) as session:
            stated = purposes.bind(session, purpose, case, authorisation)
            usage.check_quota(session, self.actor, self.settings, datetime.now(UTC))
            return stated

    def _searched(
        self,
        session: Session,
        action: AuditAction,
        stated: policy.SearchPurpose,
        probe_sha256: str,
        details: dict[str, Any],
    ) -> int:
        """Record a search, in the transaction that ran it: the actor's quota is checked again
        (under the lock, so concurrent searches cannot slip past it), and each anomaly the search
        shows (a burst, a probe searched again and again, a search out of hours) is flagged for the
        auditors in an event of its own. Returns the search's audit number."""
        now = datetime.now(UTC)
        usage.check_quota(session, self.actor, self.settings, now)
        flags = usage.anomaly_flags(session, self.actor, probe_sha256, self.settings, now)
        seq = self.record(
            session, action, purpose=stated.purpose, case=stated.case, probe_sha256=probe_sha256, details=details
        )
        for flag in flags:
            self.record(
                session,
                AuditAction.FLAGGED,
                case=stated.case,
                details={"flag": flag.name, "detail": flag.detail, "search_seq": seq},
            )
        return seq

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
        self.authorize(Permission.MANAGE_GALLERY, Permission.ENROLL, Permission.READ_REPORTS)
        with self.store.transaction() as session:
            self.store.state(session)
            return self.store.subject_summaries(session)

    def erase(self, subject: str, *, reason: str) -> ErasureResult:
        """Physically remove a subject: rows, templates, crops and index entries.

        The audit event names the subject's opaque id and the counts removed, never biometric data.
        """
        with self.ruled():
            return self._erase(subject, reason)

    def _erase(self, subject: str, reason: str) -> ErasureResult:
        self.authorize(Permission.ERASE)
        why = policy.require_reason(reason, "erasure")
        with self._locked():
            with self.store.transaction() as session:
                index = self._keeper.synced(session, self.store)
                ref = self.store.require_subject(session, subject)
                retention.require_not_held(session, ref.subject_id, ref.name)
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
        self.authorize(Permission.READ_REPORTS, Permission.MANAGE_GALLERY)
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
        self.authorize(Permission.READ_AUDIT, Permission.MANAGE_GALLERY)
        with self.store.transaction() as session:
            return audit.verify(session)

    def audit_events(self, *, action: str | None = None, case: str | None = None) -> list[AuditEvent]:
        """The audit log's events, oldest first, optionally of one action or case (auditors)."""
        self.authorize(Permission.READ_AUDIT)
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
        self.authorize(Permission.MANAGE_GALLERY)
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
        self.authorize(*Permission)  # any user
        with self.store.transaction() as session:
            return self.store.latest_calibration(session, self.spec.model_id)

    def index_info(self) -> IndexInfo:
        """The vector index in use, brought in step with the gallery first (rebuilt if stale)."""
        self.authorize(Permission.MANAGE_GALLERY, Permission.READ_REPORTS)
        with self._writing() as session:
            return self._keeper.synced(session, self.store).info

    def rebuild_index(self) -> IndexInfo:
        """Rebuild the vector index from the gallery's stored embeddings, whatever its state."""
        self.authorize(Permission.MANAGE_GALLERY)
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

    @property
    def purposes(self) -> PurposeService:
        """The search purposes this gallery allows (admins declare them)."""
        return PurposeService(self)

    @property
    def retention(self) -> RetentionService:
        """Retention period, purge and legal holds."""
        return RetentionService(self)

    @property
    def opt_outs(self) -> OptOutService:
        """The do-not-enroll list (enrollers record it)."""
        return OptOutService(self)

    @property
    def cases(self) -> CaseService:
        """Nominations, their two separate confirmations, and export of confirmed identifications."""
        return CaseService(self)

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
    def guarded(self, *permissions: Permission) -> Iterator[Session]:
        """A locked transaction for this engine's actor, if the role matrix grants any of
        ``permissions``; otherwise the refusal is audited and PermissionDeniedError raised. A
        refusal under any other rule that escapes the block is audited too (see :meth:`ruled`)."""
        with self.ruled():
            with self._writing() as session:
                refusal = self._refusal(session, permissions)
                if refusal is None:
                    yield session
                    return
            self._refuse(refusal, permissions)

    @contextmanager
    def ruled(self) -> Iterator[None]:
        """Audit, once, a refusal under a rule of accountable use (a PolicyError) that escapes the
        block: a search outside the gallery's purposes, an opted-out face, a held subject. Use it
        outside any transaction of this engine: the refusal is written after the block's own work
        has been rolled back."""
        try:
            yield
        except PolicyError as exc:
            if not exc.audited:
                with self._writing() as session:
                    details = {"rule": exc.rule, "code": exc.code, "reason": exc.message}
                    self.record(session, AuditAction.REFUSED, details=details)
                exc.audited = True
            raise

    def acting_as(self, actor: str) -> Engine:
        """This engine for another actor (a service acts for each request's user): the same gallery,
        index and models; closing it leaves the original open."""
        view = copy.copy(self)
        view.actor = actor.strip()
        view._owns_store = False
        return view

    def authorize(self, *permissions: Permission) -> None:
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
            permission = " or ".join(p.value for p in permissions)
            details = {"rule": refusal.rule, "permission": permission, "reason": refusal.message}
            self.record(session, AuditAction.REFUSED, details=details)
        refusal.audited = True
        raise refusal

    def record(self, session: Session, action: AuditAction, **fields: Any) -> int:
        """Audit an event of this engine's actor at the gallery's current generation."""
        return self._audit(session, action, self.store.state(session).generation, **fields)

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._locked(), self.store.transaction() as session:
            yield session

    # --- transparency -----------------------------------------------------------------------

    def transparency_report(self, start: date, end: date) -> TransparencyReport:
        """How the gallery was used over the days START through END (UTC, both included), in
        aggregates fit to publish: searches by purpose, review of candidates, erasures, purges,
        holds, opt-outs, refusals and anomaly flags; never who searched or whom (see
        :mod:`facesearch.transparency`). Admins and auditors; making it is audited. InputError if
        END precedes START."""
        self.authorize(Permission.READ_REPORTS, Permission.MANAGE_GALLERY)
        period_bounds(start, end)  # a reversed period is refused before the lock is taken
        with self._writing() as session:
            report = read_report(session, start, end)
            period = {"from": start.isoformat(), "to": end.isoformat()}
            self.record(session, AuditAction.TRANSPARENCY_REPORT, details=period)
        return report


def _as_list(photos: PhotoInput | Iterable[PhotoInput]) -> list[PhotoInput]:
    if isinstance(photos, str | Path | bytes):
        return [photos]
    items = list(photos)
    if not items:
        raise InputError("no photos given")
    return items
