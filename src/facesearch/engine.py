"""The facade: enroll, identify, verify, erase, with policy checked first and every use audited.

The work lives in services the engine composes, each given the one
:class:`~facesearch.governance.context.Context` it needs (who acts, the store, the pipeline and
index, the audit record, the lock and the permission check), never the engine itself: enrollment,
search and administration (:mod:`facesearch.operations`) behind the verbs below, and the rest
reached through properties (``accounts``, ``purposes``, ``retention``, ``opt_outs``, ``cases``,
``collections``).

Each public method checks policy before doing any work, computes what it can outside any
transaction, then changes the gallery and appends its audit event in one transaction, and only
then brings the vector index up to date. A refused or failed call leaves gallery, index and audit
chain exactly as they were; an index left behind by a crash is detected by its generation and
rebuilt from the gallery.
"""

from __future__ import annotations

import copy
import getpass
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from facesearch.clustering.collections import CollectionService
from facesearch.config import Settings
from facesearch.errors import InputError
from facesearch.evaluation.extract import EmbeddingCache
from facesearch.gallery import GalleryStore
from facesearch.governance import audit
from facesearch.governance.accounts import AccountService
from facesearch.governance.attempts import Unattributed
from facesearch.governance.audit import AuditAction
from facesearch.governance.casework import CaseService
from facesearch.governance.context import Context
from facesearch.governance.optout import OptOutService
from facesearch.governance.policy import Permission
from facesearch.governance.purposes import PurposeService
from facesearch.governance.retention import RetentionService
from facesearch.governance.signin import SignInService
from facesearch.governance.sweeps import CollectionSweep
from facesearch.governance.users import User
from facesearch.index.base import IndexInfo
from facesearch.index.keeper import keeper_for
from facesearch.operations.administer import AdministrationService
from facesearch.operations.enroll import EnrollService
from facesearch.operations.move import MoveService, target_spec
from facesearch.operations.search import SearchService
from facesearch.operations.sweep import SweepService
from facesearch.pipeline.decode import PhotoInput
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.models import EmbedderSpec, Models, RegisteredModel
from facesearch.pipeline.video import VideoFile
from facesearch.reports.transparency import TransparencyReport, period_bounds, read_report
from facesearch.scoring.calibration import OVERALL, Calibration
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
    ModelMoveResult,
    SearchRequest,
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
        pipeline = FacePipeline(settings, models, spec)  # spec: the gallery's recipe (see lifecycle)
        keeper = keeper_for(home.index_dir, pipeline.spec, settings.index_backend, store, **settings.index_options())
        self._context = Context(
            actor=(actor or "").strip() or getpass.getuser(),
            home=home,
            store=store,
            settings=settings,
            pipeline=pipeline,
            keeper=keeper,
        )
        self._owns_store = True

    @property
    def actor(self) -> str:
        """Who acts: the user every check, refusal and audit event of this engine names."""
        return self._context.actor

    @property
    def home(self) -> Home:
        """The gallery's home folder."""
        return self._context.home

    @property
    def store(self) -> GalleryStore:
        """The gallery's metadata store."""
        return self._context.store

    @property
    def gallery_id(self) -> str:
        """The gallery's own random id (it names the gallery's data key; the CLI files each user's
        token under it)."""
        cipher = self.store.cipher
        assert cipher is not None, "an open engine's gallery is sealed"
        return cipher.gallery_id

    @property
    def settings(self) -> Settings:
        """The settings this engine was opened with."""
        return self._context.settings

    @property
    def pipeline(self) -> FacePipeline:
        """The face pipeline (detect, align, quality, embed) this gallery's templates are made with."""
        return self._context.pipeline

    @property
    def spec(self) -> EmbedderSpec:
        """The recipe of this gallery's templates: model id, dimension and metric."""
        return self._context.spec

    def close(self) -> None:
        """Close the gallery (if this engine opened it), writing the refused attempts counted first."""
        if self._owns_store:
            try:
                self._context.flush_attempts()
            finally:
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
        nothing is stored (the refused photo is audited, ``photo.refused``). A photo already
        enrolled for this subject is reported, not stored twice.
        """
        return EnrollService(self._context).enroll(
            photos, subject=subject, source=source, basis=basis, retain_until=retain_until
        )

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

        ``workers`` processes analyse photos in parallel, or with ``settings.ray_address`` that many
        Ray workers of the cluster (below 1: one per CPU of the cluster), a photo lost with its worker
        rejected as ``analysis-lost``; faces are committed here in batches of
        ``settings.enroll_batch_faces``. Photos already enrolled for their subject (same bytes) are
        skipped before any analysis, so rerunning after a crash or a kill finishes the job with no
        photo enrolled twice. Photos of opted-out people are rejected as ``opted-out``. The photos
        skipped as unusable are audited in one ``photo.refused`` event counting them by reason.
        """
        return EnrollService(self._context).enroll_directory(
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
        probe: PhotoInput | VideoFile,
        request: SearchRequest | None = None,
        *,
        purpose: str | None = None,
        case: str | None = None,
        authorisation: str | None = None,
        top_k: int | None = None,
    ) -> IdentifyResult:
        """1:N search: for each face in the probe photo, the top-k candidate subjects, best first.

        A probe video (MP4/MOV, MKV/WebM, AVI: a path, its bytes, or a
        :class:`~facesearch.pipeline.video.VideoFile`) is searched per track: each person's face is
        followed across its sampled frames, and the track's sharpest, most frontal views are averaged
        into the template searched; each face of the answer cites the time of its frame
        (``seen_at``). The video's SHA-256 stands for the probe in the audit.

        Why it is run is given as one :class:`~facesearch.SearchRequest` or as its fields (purpose,
        case, authorisation, top_k), not both. Purpose and case are required, the purpose must be
        one the gallery allows, and some purposes require an authorisation reference; all are
        recorded in the audit log. A subject's score is that of its best face;
        ``clears_threshold`` says whether it reaches the operating threshold. Faces matching the
        opt-out list are never returned; the audit event counts how many were withheld, naming no one.
        """
        wanted = SearchRequest.of(request, purpose, case, authorisation, top_k)
        return SearchService(self._context).identify(probe, wanted)

    def identify_cluster(
        self,
        cluster_id: int,
        request: SearchRequest | None = None,
        *,
        purpose: str | None = None,
        case: str | None = None,
        authorisation: str | None = None,
        top_k: int | None = None,
    ) -> ClusterSearchResult:
        """1:N search of a collection's cluster: its faces fused into one template (the mean of
        their unit vectors) and searched like a probe face, under the same purpose binding, quotas,
        opt-out screen and audit as :meth:`identify`; its candidates can be nominated the same way."""
        wanted = SearchRequest.of(request, purpose, case, authorisation, top_k)
        return SearchService(self._context).identify_cluster(cluster_id, wanted)

    def identify_collection(
        self,
        collection: str,
        request: SearchRequest | None = None,
        *,
        purpose: str | None = None,
        case: str | None = None,
        authorisation: str | None = None,
        top_k: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> CollectionSweep:
        """1:N search of every cluster of a collection in one step (a face no other joined is a
        cluster of one), each searched as :meth:`identify_cluster` searches one: its own identify
        search, under the same purpose binding, case membership, opt-out screen and audit, plus one
        ``collection.sweep`` event. The request must name the collection's own case: the candidates
        are kept in it per cluster, listed by its view (``cases.sweeps``) and its export, and
        nominated from their cluster's search (``SweptCluster.search_seq``) like any candidate.

        Each cluster's search counts as one against the user's search quota; a sweep that would pass
        it is refused whole before any search runs. ``on_progress(done, total)`` is called after
        each cluster. Everything commits together, or nothing does.
        """
        wanted = SearchRequest.of(request, purpose, case, authorisation, top_k)
        return SweepService(self._context).identify_collection(collection, wanted, on_progress=on_progress)

    def verify(
        self,
        photo_a: PhotoInput,
        photo_b: PhotoInput,
        request: SearchRequest | None = None,
        *,
        purpose: str | None = None,
        case: str | None = None,
        authorisation: str | None = None,
    ) -> VerifyResult:
        """1:1 comparison of the main face of each photo (see :func:`facesearch.pipeline.faces.main_face`).

        ``score``: higher is more alike; ``same_person`` is ``score >= threshold.score``, a
        likelihood, not proof. Bound to an allowed purpose and a case like :meth:`identify`.
        """
        wanted = SearchRequest.of(request, purpose, case, authorisation)
        return SearchService(self._context).verify(photo_a, photo_b, wanted)

    # --- subjects and erasure ---------------------------------------------------------

    def subjects(self, *, search: str = "", limit: int | None = None, offset: int = 0) -> list[SubjectSummary]:
        """The enrolled subjects by name, with image and face counts and the earliest retain-until:
        all of them, or those whose name holds ``search`` (any case) or whose id starts with it,
        ``limit`` of them from ``offset`` (a page of a list of any length)."""
        self._context.authorize(Permission.MANAGE_GALLERY, Permission.ENROLL, Permission.READ_REPORTS)
        if (limit is not None and limit < 1) or offset < 0:
            raise InputError("a page of subjects needs a limit of at least 1 and an offset of at least 0")
        with self.store.transaction() as session:
            self.store.state(session)
            return self.store.subject_summaries(session, search=search, limit=limit, offset=offset)

    def erase(self, subject: str, *, reason: str) -> ErasureResult:
        """Physically remove a subject: rows, templates, crops and index entries.

        The audit event names the subject's opaque id and the counts removed, never biometric data.
        """
        with self._context.ruled():
            return AdministrationService(self._context).erase(subject, reason)

    def subject_report(self, subject: str) -> SubjectReport:
        """Everything held about a subject and every search that returned them (admins and
        auditors); making the report is itself audited."""
        return AdministrationService(self._context).subject_report(subject)

    def face_thumbnail(self, face_id: int) -> bytes | None:
        """The JPEG crop kept of an enrolled face (setting ``keep_crops``), or None if none was kept,
        for review screens: operators, verifiers and admins; every view is audited (``face.view``)."""
        return AdministrationService(self._context).face_thumbnail(face_id)

    # --- audit and index --------------------------------------------------------------

    def audit_verify(self) -> ChainReport:
        """Recompute the audit hash chain; ``ok`` is False at the first event that was altered."""
        self._context.authorize(Permission.READ_AUDIT, Permission.MANAGE_GALLERY)
        with self.store.transaction() as session:
            return audit.verify(session)

    def audit_events(
        self,
        *,
        action: str | None = None,
        case: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditEvent]:
        """The audit log's events, oldest first (or newest first), optionally of one action or
        case, only those numbered below ``before`` and above ``after``, at most ``limit`` of them
        (auditors). Paging newest first: pass the last page's smallest number as ``before``;
        oldest first, its largest as ``after``."""
        self._context.authorize(Permission.READ_AUDIT)
        if (limit is not None and limit < 1) or (before is not None and before < 1) or (after or 0) < 0:
            raise InputError(
                "a page of audit events needs a limit and a 'before' of at least 1, an 'after' of 0 or more"
            )
        with self.store.transaction() as session:
            return audit.events(
                session, action=action, case=case, before=before, after=after, limit=limit, newest_first=newest_first
            )

    # --- calibration ----------------------------------------------------------------------

    def calibrate(
        self,
        dataset: Path,
        *,
        target_fmr: float,
        workers: int = 1,
        cache: EmbeddingCache | None = None,
        progress: Callable[[int, int], None] | None = None,
        groups: Sequence[str] = (),
        rule: str = OVERALL,
    ) -> Calibration:
        """Set the operating threshold from impostor scores measured on a labelled dataset.

        DATASET/<identity>/<photo> is embedded with this gallery's recipe; the threshold is the lowest
        score that at most ``target_fmr`` of its impostor pairs reach. It is stored with the dataset's
        hash, the model id and the date, audited, and used by identify and verify from then on.
        Raises CalibrationError when the dataset has too few impostor pairs for the target.

        ``groups`` label the dataset's photos (``LABEL=FILE`` or ``FILE`` of ``name,label`` lines);
        the calibration then reports each group's FMR and FNMR at its threshold. ``rule`` is
        ``"overall"`` (the whole dataset meets ``target_fmr``) or ``"worst-group"`` (the threshold
        is raised until every group with enough pairs meets it on its own; ``fnmr_cost`` says how
        many more genuine pairs that leaves below it). Groups come from labelled data only: no
        group is ever inferred for an enrolled or searched face.
        """
        return AdministrationService(self._context).calibrate(
            dataset, target_fmr=target_fmr, workers=workers, cache=cache, progress=progress, groups=groups, rule=rule
        )

    def register_model(self, file: str | Path, **options: Any) -> RegisteredModel:
        """Register an ArcFace-class ONNX model from a local file in this gallery's home (admins
        only; audited as ``model.register``), for galleries created with it afterwards. ``options``:
        name, licence, threshold, threshold_source (required), colour_order, mean, std, metric,
        mirror_average (see :func:`facesearch.pipeline.recognizers.registered.register_model`). A
        file that is not ONNX or takes another input shape is refused and nothing changes."""
        return AdministrationService(self._context).register_model(Path(file), **options)

    def move_model(self, photos: str | Path, *, to: str, accept_losses: bool = False) -> ModelMoveResult:
        """Make every template of the gallery again with the recognizer named ``to`` (``sface``,
        ``dlib`` or a registered model), from the photos they came from, and destroy the old
        model's templates physically (admins; audited as ``model.move``).

        PHOTOS: a folder searched, at any depth, for each enrolled image by the SHA-256 recorded at
        enrollment. A subject moves whole or not at all: if any of its photos is missing, no longer
        decodes, or no longer shows its enrolled face to the new detector, the move is refused
        (PhotosMissingError, naming every such subject) and nothing changes; with
        ``accept_losses=True`` those subjects are erased instead, each audited as an erasure. The
        new templates are made first and switched in with one transaction and one new gallery
        generation, so a failure leaves the gallery as it was. Afterwards the threshold is the new
        model's (its newest calibration, else its published point): the old model's calibrations
        no longer apply. Refused while the do-not-enroll list holds the old model's templates
        (OptOutsNotMovableError); InputError for an unknown model, the model the gallery has, or a
        PHOTOS that is not a folder. This engine, and every view of it, works with the new model
        from then on; another process that has the gallery open is refused until it reopens it.
        """
        context = self._context
        with context.ruled():
            context.authorize(Permission.MANAGE_GALLERY)
            service = MoveService(context, target_spec(context, to))
            result = service.move(Path(photos), accept_losses=accept_losses)
        context.adopt(service.pipeline, service.keeper)
        return result

    def calibration(self) -> Calibration | None:
        """The calibration in force for this gallery's model, or None (the published threshold is used)."""
        self._context.authorize(*Permission)  # any user
        with self.store.transaction() as session:
            return self.store.latest_calibration(session, self.spec.model_id)

    def index_info(self) -> IndexInfo:
        """The vector index in use, brought in step with the gallery first (rebuilt if stale)."""
        self._context.authorize(Permission.MANAGE_GALLERY, Permission.READ_REPORTS)
        with self._context.writing() as session:
            return self._context.keeper.synced(session, self.store).info

    def rebuild_index(self) -> IndexInfo:
        """Rebuild the vector index from the gallery's stored embeddings, whatever its state."""
        self._context.authorize(Permission.MANAGE_GALLERY)
        with self._context.writing() as session:
            return self._context.keeper.rebuild(session, self.store).info

    # --- who acts ------------------------------------------------------------------------

    @property
    def accounts(self) -> AccountService:
        """Users, activation codes and tokens (admin only)."""
        return AccountService(self._context)

    @property
    def purposes(self) -> PurposeService:
        """The search purposes this gallery allows (admins declare them)."""
        return PurposeService(self._context)

    @property
    def retention(self) -> RetentionService:
        """Retention period, purge and legal holds."""
        return RetentionService(self._context)

    @property
    def opt_outs(self) -> OptOutService:
        """The do-not-enroll list (enrollers record it)."""
        return OptOutService(self._context)

    @property
    def collections(self) -> CollectionService:
        """Collections of unknown faces, their clusters, and people's corrections to them."""
        return CollectionService(self._context)

    @property
    def cases(self) -> CaseService:
        """Nominations, their two separate confirmations, and export of confirmed identifications."""
        return CaseService(self._context)

    @property
    def signin(self) -> SignInService:
        """A person's own credentials: redeem an activation code, rotate a token, web sessions."""
        return SignInService(self._context)

    def authenticate(self, token: str) -> User:
        """The user an API token belongs to; AuthenticationError, audited, if it is unknown, wrong,
        revoked or expired, or its user disabled (CredentialExpiredError when expired)."""
        return self.signin.authenticate(token).user

    def signed_in(self, token: str) -> Engine:
        """This engine, acting from now on for the user TOKEN belongs to (checked as by
        :meth:`authenticate`, a failure audited). How the CLI turns a person's token into who acts."""
        user = self.authenticate(token)
        self._context = self._context.for_actor(user.name)
        return self

    def acting_as(self, actor: str) -> Engine:
        """This engine for another actor (a service acts for each request's user): the same gallery,
        index, models and lock; closing it leaves the original open."""
        view = copy.copy(self)
        view._context = self._context.for_actor(actor)
        view._owns_store = False
        return view

    def count_attempt(self, reason: Unattributed) -> None:
        """Count a refused request that names no one (no credential, a token, code or session the
        gallery never issued, a cross-site form): not audited, published by reason in the
        transparency report (see :mod:`facesearch.governance.attempts`). Front ends call it for the
        refusals they make themselves; the core counts those it makes."""
        self._context.count_attempt(reason)

    def authorize(self, *permissions: Permission) -> None:
        """Go on if the actor's role grants any of ``permissions``; else audit the refusal and raise
        PermissionDeniedError (front ends ask before showing a page of one role's work)."""
        self._context.authorize(*permissions)

    # --- transparency -----------------------------------------------------------------------

    def transparency_report(self, start: date, end: date) -> TransparencyReport:
        """How the gallery was used over the days START through END (UTC, both included), in
        aggregates fit to publish: searches by purpose, review of candidates, erasures, purges,
        holds, opt-outs, refusals (audited ones, and the counts of attempts naming no one) and anomaly
        flags; never who searched or whom (see
        :mod:`facesearch.reports.transparency`). Admins and auditors; making it is audited. InputError if
        END precedes START."""
        self._context.authorize(Permission.READ_REPORTS, Permission.MANAGE_GALLERY)
        period_bounds(start, end)  # a reversed period is refused before the lock is taken
        self._context.flush_attempts()  # this process's counts; other processes' within their flush interval
        with self._context.writing() as session:
            report = read_report(session, start, end)
            period = {"from": start.isoformat(), "to": end.isoformat()}
            self._context.record(session, AuditAction.TRANSPARENCY_REPORT, details=period)
        return report
