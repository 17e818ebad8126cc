"""The facade: enroll, identify, verify, erase, with policy checked first and every use audited.

The work lives beside it: :mod:`~facesearch.operations.enroll`, :mod:`~facesearch.operations.search` and
:mod:`~facesearch.operations.administer` for the entry points below, and services reached through
properties for the rest (``accounts``, ``purposes``, ``retention``, ``opt_outs``, ``cases``). This
module keeps what they share: who acts and what they may do, refusals audited once, the audit
record, the lock that keeps gallery and index in step.

Each public method checks policy before doing any work, computes what it can outside any
transaction, then changes the gallery and appends its audit event in one transaction, and only
then brings the vector index up to date. A refused or failed call leaves gallery, index and audit
chain exactly as they were; an index left behind by a crash is detected by its generation and
rebuilt from the gallery.
"""

from __future__ import annotations

import copy
import getpass
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from facesearch.clustering.collections import CollectionService
from facesearch.config import Settings
from facesearch.errors import (
    AuthenticationError,
    PermissionDeniedError,
    PolicyError,
)
from facesearch.evaluation.extract import EmbeddingCache
from facesearch.gallery import GalleryStore
from facesearch.governance import accounts, audit
from facesearch.governance.accounts import AccountService, User
from facesearch.governance.audit import AuditAction
from facesearch.governance.casework import CaseService
from facesearch.governance.optout import OptOutService
from facesearch.governance.policy import Permission
from facesearch.governance.purposes import PurposeService
from facesearch.governance.retention import RetentionService
from facesearch.index.base import IndexInfo
from facesearch.index.keeper import keeper_for
from facesearch.operations import administer as administration
from facesearch.operations import enroll as enrolling
from facesearch.operations import search as searching
from facesearch.pipeline.decode import PhotoInput
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.models import EmbedderSpec, Models
from facesearch.reports.transparency import TransparencyReport, period_bounds, read_report
from facesearch.scoring.calibration import Calibration
from facesearch.scoring.scores import ScoreMeaning, score_meaning
from facesearch.storage.home import Home
from facesearch.types import (
    AuditEvent,
    ChainReport,
    ClusterSearchResult,
    EnrollDirectoryResult,
    EnrollProgress,
    EnrollResult,
    ErasureResult,
    IdentifyResult,
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
        models: Models | None = None,
        spec: EmbedderSpec | None = None,
    ) -> None:
        self.home = home
        self.store = store
        self.settings = settings
        self.actor = (actor or "").strip() or getpass.getuser()
        self.pipeline = FacePipeline(settings, models, spec)  # spec: the gallery's recipe (see lifecycle)
        self.spec = self.pipeline.spec
        self.keeper = keeper_for(home.index_dir, self.spec, settings.index_backend, store, **settings.index_options())
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
        return enrolling.enroll(self, photos, subject=subject, source=source, basis=basis, retain_until=retain_until)

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
        return enrolling.enroll_directory(
            self,
            directory,
            source=source,
            basis=basis,
            retain_until=retain_until,
            on_progress=on_progress,
            workers=workers,
        )

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
        return searching.identify(self, probe, purpose=purpose, case=case, authorisation=authorisation, top_k=top_k)

    def identify_cluster(
        self,
        cluster_id: int,
        *,
        purpose: str,
        case: str,
        authorisation: str | None = None,
        top_k: int | None = None,
    ) -> ClusterSearchResult:
        """1:N search of a collection's cluster: its faces fused into one template (the mean of
        their unit vectors) and searched like a probe face, under the same purpose binding, quotas,
        opt-out screen and audit as :meth:`identify`; its candidates can be nominated the same way."""
        return searching.identify_cluster(
            self, cluster_id, purpose=purpose, case=case, authorisation=authorisation, top_k=top_k
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
        """1:1 comparison of the main face of each photo (see :func:`facesearch.pipeline.faces.main_face`).

        ``score``: higher is more alike; ``same_person`` is ``score >= threshold.score``, a
        likelihood, not proof. Bound to an allowed purpose and a case like :meth:`identify`.
        """
        return searching.verify(self, photo_a, photo_b, purpose=purpose, case=case, authorisation=authorisation)

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
            return administration.erase(self, subject, reason)

    def subject_report(self, subject: str) -> SubjectReport:
        """Everything held about a subject and every search that returned them (admins and
        auditors); making the report is itself audited."""
        return administration.subject_report(self, subject)

    def face_thumbnail(self, face_id: int) -> bytes | None:
        """The JPEG crop kept of an enrolled face (setting ``keep_crops``), or None if none was kept,
        for review screens: operators, verifiers and admins; every view is audited (``face.view``)."""
        return administration.face_thumbnail(self, face_id)

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
        return administration.calibrate(
            self, dataset, target_fmr=target_fmr, workers=workers, cache=cache, progress=progress
        )

    def calibration(self) -> Calibration | None:
        """The calibration in force for this gallery's model, or None (the published threshold is used)."""
        self.authorize(*Permission)  # any user
        with self.store.transaction() as session:
            return self.store.latest_calibration(session, self.spec.model_id)

    def index_info(self) -> IndexInfo:
        """The vector index in use, brought in step with the gallery first (rebuilt if stale)."""
        self.authorize(Permission.MANAGE_GALLERY, Permission.READ_REPORTS)
        with self.writing() as session:
            return self.keeper.synced(session, self.store).info

    def rebuild_index(self) -> IndexInfo:
        """Rebuild the vector index from the gallery's stored embeddings, whatever its state."""
        self.authorize(Permission.MANAGE_GALLERY)
        with self.writing() as session:
            return self.keeper.rebuild(session, self.store).info

    def score_meaning(self, session: Session) -> ScoreMeaning:
        return score_meaning(self.spec, self.store.latest_calibration(session, self.spec.model_id))

    def audit_at(self, session: Session, action: AuditAction, generation: int, **fields: Any) -> int:
        """Append this engine's actor's event to the audit chain, in the caller's transaction."""
        return audit.append(session, actor=self.actor, action=action, gallery_generation=generation, **fields)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialises gallery-plus-index changes across threads and processes. If anything fails
        inside, the in-memory index is dropped and re-synced from disk or the gallery next time."""
        with self._thread_lock, self.home.locked():
            try:
                yield
            except BaseException:
                self.keeper.forget()
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
    def collections(self) -> CollectionService:
        """Collections of unknown faces, their clusters, and people's corrections to them."""
        return CollectionService(self)

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
            with self.writing() as session:
                self.record(session, AuditAction.AUTH_FAILED, details={"reason": exc.code})
            raise

    @contextmanager
    def guarded(self, *permissions: Permission) -> Iterator[Session]:
        """A locked transaction for this engine's actor, if the role matrix grants any of
        ``permissions``; otherwise the refusal is audited and PermissionDeniedError raised. A
        refusal under any other rule that escapes the block is audited too (see :meth:`ruled`)."""
        with self.ruled():
            with self.writing() as session:
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
                with self.writing() as session:
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
        with self.writing() as session:
            permission = " or ".join(p.value for p in permissions)
            details = {"rule": refusal.rule, "permission": permission, "reason": refusal.message}
            self.record(session, AuditAction.REFUSED, details=details)
        refusal.audited = True
        raise refusal

    def record(self, session: Session, action: AuditAction, **fields: Any) -> int:
        """Audit an event of this engine's actor at the gallery's current generation."""
        return self.audit_at(session, action, self.store.state(session).generation, **fields)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        with self.locked(), self.store.transaction() as session:
            yield session

    # --- transparency -----------------------------------------------------------------------

    def transparency_report(self, start: date, end: date) -> TransparencyReport:
        """How the gallery was used over the days START through END (UTC, both included), in
        aggregates fit to publish: searches by purpose, review of candidates, erasures, purges,
        holds, opt-outs, refusals and anomaly flags; never who searched or whom (see
        :mod:`facesearch.reports.transparency`). Admins and auditors; making it is audited. InputError if
        END precedes START."""
        self.authorize(Permission.READ_REPORTS, Permission.MANAGE_GALLERY)
        period_bounds(start, end)  # a reversed period is refused before the lock is taken
        with self.writing() as session:
            report = read_report(session, start, end)
            period = {"from": start.isoformat(), "to": end.isoformat()}
            self.record(session, AuditAction.TRANSPARENCY_REPORT, details=period)
        return report
