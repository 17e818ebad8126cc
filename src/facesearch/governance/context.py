"""What every service of one gallery needs, handed to it by the engine that composes them.

A service (accounts, purposes, retention, opt-outs, cases, collections, enrollment, search,
administration) receives a :class:`Context`, never the :class:`~facesearch.engine.Engine` facade:
who acts, the gallery's store and settings, its face pipeline and vector index, and the plumbing
of accountable use that they all share:

- the permission check against the role matrix, its refusals audited once (:meth:`authorize`,
  :meth:`guarded`), and refusals under any other rule audited once too (:meth:`ruled`);
- the audit record, in the caller's transaction (:meth:`record`), and the count of refused
  attempts that name no one, which are not audited (:meth:`count_attempt`);
- the lock that keeps gallery and index in step across threads and processes (:meth:`writing`).

The facade builds one context per gallery and one view of it per acting user (:meth:`for_actor`);
the views share the store, the index, the models and the lock.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from facesearch.config import Settings
from facesearch.errors import FaceRefusedError, InputError, PermissionDeniedError, PolicyError, StorageFullError
from facesearch.gallery import GalleryStore
from facesearch.governance import attempts, audit, users
from facesearch.governance.attempts import Unattributed
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission
from facesearch.index.keeper import Keeper
from facesearch.pipeline.decode import PhotoInput, photo_facts
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.models import EmbedderSpec
from facesearch.pipeline.video import VideoFile, video_facts
from facesearch.scoring.scores import ScoreMeaning, score_meaning
from facesearch.storage.full import storage_full_reason
from facesearch.storage.home import Home

log = logging.getLogger("facesearch")


class _Recipe:
    """The pipeline and index a gallery's views share: replaced together when it moves model."""

    def __init__(self, pipeline: FacePipeline, keeper: Keeper) -> None:
        self.pipeline = pipeline
        self.keeper = keeper


class Context:
    """One acting user's view of one gallery: its store, settings, pipeline and index, and the
    plumbing of accountable use (permission checks, audited refusals, the audit record, the lock)."""

    def __init__(
        self,
        *,
        actor: str,
        home: Home,
        store: GalleryStore,
        settings: Settings,
        pipeline: FacePipeline,
        keeper: Keeper,
    ) -> None:
        self.actor = actor
        self.home = home
        self.store = store
        self.settings = settings
        self._recipe = _Recipe(pipeline, keeper)  # one per gallery: every view sees a model move
        self._thread_lock = threading.RLock()
        self.attempts = attempts.Tally()  # shared by every actor's view, like the lock

    @property
    def pipeline(self) -> FacePipeline:
        """The face pipeline this gallery's templates are made with."""
        return self._recipe.pipeline

    @property
    def keeper(self) -> Keeper:
        """The keeper of this gallery's vector index."""
        return self._recipe.keeper

    @property
    def spec(self) -> EmbedderSpec:
        """The recipe this gallery's templates are made with: model id, dimension, metric."""
        return self.pipeline.spec

    def adopt(self, pipeline: FacePipeline, keeper: Keeper) -> None:
        """Work from now on with another model's pipeline and index (after the gallery moved to it,
        see :mod:`facesearch.operations.move`), in this view and every other view of the gallery."""
        self._recipe.pipeline, self._recipe.keeper = pipeline, keeper

    def for_actor(self, actor: str) -> Context:
        """The same gallery, index, models and lock, acting for ``actor``."""
        view = copy.copy(self)
        view.actor = actor.strip()
        return view

    # --- the lock and the audit record ------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialises gallery-plus-index changes across threads and processes. If anything fails
        inside, the in-memory index is dropped and re-synced from disk or the gallery next time; a
        full disk, whichever file or database reports it, is raised as StorageFullError."""
        with self._thread_lock, self.home.locked():
            try:
                yield
            except BaseException as exc:
                self.keeper.forget()
                reason = storage_full_reason(exc)
                if reason is None or isinstance(exc, StorageFullError):
                    raise
                raise StorageFullError(
                    f"the gallery's storage is full ({reason}). The gallery stays consistent: a change that "
                    "could not be written whole was rolled back, and an index left behind is rebuilt from the "
                    "gallery. Free space and run the command again (enroll-dir skips photos already enrolled)"
                ) from exc

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A transaction under the lock: what it writes to the gallery and the audit chain commits together."""
        with self.locked(), self.store.transaction() as session:
            yield session

    def record(self, session: Session, action: AuditAction, **fields: Any) -> int:
        """Audit an event of the acting user at the gallery's current generation; returns its number."""
        return self.record_at(session, action, self.store.state(session).generation, **fields)

    def record_at(self, session: Session, action: AuditAction, generation: int, **fields: Any) -> int:
        """Audit an event of the acting user at ``generation`` (the one a change has just made)."""
        return audit.append(session, actor=self.actor, action=action, gallery_generation=generation, **fields)

    def count_attempt(self, reason: Unattributed) -> None:
        """Count a refused request that names no one (see :mod:`facesearch.governance.attempts`);
        the counts are written when due. A failure to write them is logged, never the request's."""
        if self.attempts.count(reason):
            try:
                self.flush_attempts()
            except Exception:  # the counts stay pending; the refusal itself must still be answered
                log.exception("could not write the counts of refused attempts")

    def flush_attempts(self) -> int:
        """Write the refused attempts counted in memory to the gallery; returns how many."""
        taken = self.attempts.take()
        if not taken:
            return 0
        try:
            with self.writing() as session:
                attempts.add(session, taken)
        except BaseException:
            self.attempts.restore(taken)
            raise
        return sum(taken.values())

    def score_meaning(self, session: Session) -> ScoreMeaning:
        """What a score means in this gallery now: the threshold in force and the FMR at any score."""
        return score_meaning(self.spec, self.store.latest_calibration(session, self.spec.model_id))

    # --- who may do what ----------------------------------------------------------------------

    def authorize(self, *permissions: Permission) -> None:
        """Go on if the actor's role grants any of ``permissions``; else audit the refusal and raise."""
        with self.store.transaction() as session:
            refusal = self._refusal(session, permissions)
        if refusal is not None:
            self._refuse(refusal, permissions)

    @contextmanager
    def guarded(self, *permissions: Permission) -> Iterator[Session]:
        """A locked transaction for the acting user, if the role matrix grants any of
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
        outside any transaction of this context: the refusal is written after the block's own work
        has been rolled back."""
        try:
            yield
        except PolicyError as exc:
            if not exc.audited:
                with self.writing() as session:
                    details = {"rule": exc.rule, "code": exc.code, "reason": exc.message}
                    case = getattr(exc, "case", None)  # a refusal about a case names it, for the auditors
                    self.record(session, AuditAction.REFUSED, case=case, details=details)
                exc.audited = True
            raise

    @contextmanager
    def photo_checked(
        self,
        request: str,
        photo: PhotoInput | VideoFile,
        *,
        purpose: str | None = None,
        case: str | None = None,
        which: str | None = None,
    ) -> Iterator[None]:
        """Audit, as ``photo.refused``, a photo of the acting user's REQUEST (identify, verify,
        enroll) refused as bad input inside the block (an InputError: malformed, a bomb, too large,
        no usable face): the refusal's code, the purpose and case, the photo's SHA-256 and size,
        never the photo. Use it outside any transaction of this context, once the request's
        permission and rules have been checked (those refusals are audited by :meth:`guarded`)."""
        try:
            yield
        except InputError as exc:
            details: dict[str, Any] = {"request": request, "code": exc.code}
            if isinstance(exc, FaceRefusedError):
                details["reason"] = exc.reason
            if which:
                details["photo"] = which
            if isinstance(photo, VideoFile):
                details.update(video_facts(photo, self.settings))
            else:
                details.update(photo_facts(photo, self.settings))
            with self.writing() as session:
                self.record(session, AuditAction.PHOTO_REFUSED, purpose=purpose, case=case, details=details)
            raise

    def _refusal(self, session: Session, permissions: Sequence[Permission]) -> PermissionDeniedError | None:
        try:
            users.authorize(session, self.actor, *permissions)
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
