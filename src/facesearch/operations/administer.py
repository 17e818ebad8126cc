"""Administration of the gallery's content: erasure, subject access reports, calibration, models.

The functions take the :class:`~facesearch.engine.Engine` they act for; the engine's public methods
are the entry points and carry the documentation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from facesearch.evaluation.extract import EmbeddingCache
from facesearch.evaluation.measure import measure_calibration
from facesearch.governance import policy, retention
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import FACE_VIEWERS, Permission
from facesearch.index.base import VectorIndex
from facesearch.pipeline.models import RegisteredModel
from facesearch.pipeline.recognizers import registered
from facesearch.reports import subject_access as reports
from facesearch.scoring.calibration import OVERALL, Calibration
from facesearch.types import (
    ErasureResult,
    SubjectReport,
)

if TYPE_CHECKING:
    from facesearch.governance.context import Context


class AdministrationService:
    """Erasure, subject access reports, face crops for review and calibration, for the acting user."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def erase(self, subject: str, reason: str) -> ErasureResult:
        context = self._context
        context.authorize(Permission.ERASE)
        why = policy.require_reason(reason, "erasure")
        with context.locked():
            with context.store.transaction() as session:
                index = context.keeper.synced(session, context.store)
                erased = erase_in(context, session, index, subject, why)
            removed = context.keeper.removed(index, erased.face_ids, erased.generation, erased.state_hash)
        context.keeper.settle()  # a database index's VACUUM, outside the locks: nobody waits for it
        return dataclasses.replace(erased.proof, index_entries_removed=removed)

    def subject_report(self, subject: str) -> SubjectReport:
        """See :meth:`facesearch.engine.Engine.subject_report`."""
        context = self._context
        context.authorize(Permission.READ_REPORTS, Permission.MANAGE_GALLERY)
        with context.writing() as session:
            report = reports.subject_report(session, context.store, subject)
            details = {
                "subject_id": report.subject_id,
                "images": len(report.images),
                "appearances": len(report.appearances),
            }
            seq = context.record(session, AuditAction.SUBJECT_REPORT, details=details)
        return dataclasses.replace(report, audit_seq=seq)

    def face_thumbnail(self, face_id: int) -> bytes | None:
        context = self._context
        with context.guarded(*FACE_VIEWERS) as session:
            crop = context.store.face_crop(session, face_id)
            if crop is not None:
                context.record(session, AuditAction.FACE_VIEW, details={"face": face_id})
            return crop

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
        """See :meth:`facesearch.engine.Engine.calibrate`."""
        context = self._context
        context.authorize(Permission.MANAGE_GALLERY)
        with context.store.transaction() as session:
            gallery_faces = context.store.face_count(session)
        calibration = measure_calibration(
            dataset,
            context.pipeline,
            target_fmr,
            cache=cache,
            workers=workers,
            progress=progress,
            group_files=groups,
            rule=rule,
            gallery_faces=gallery_faces,
            target_fpir=context.settings.target_fpir,
        )
        with context.writing() as session:
            context.store.add_calibration(session, calibration, context.actor)
            seq = context.record(
                session,
                AuditAction.CALIBRATE,
                details=calibration.audit_details(),
            )
        return dataclasses.replace(calibration, audit_seq=seq)

    def register_model(self, file: Path, **options: Any) -> RegisteredModel:
        """Register an ONNX face model in the gallery's home (admins); audited as ``model.register``
        with its model id, SHA-256, dimension, threshold and licence statement. A refused file or
        option writes nothing, the audit log included."""
        context = self._context
        with context.guarded(Permission.MANAGE_GALLERY) as session:
            model = registered.register_model(context.home.models_dir, file, by=context.actor, **options)
            details = {k: getattr(model, k) for k in ("name", "sha256", "dimension", "licence", "threshold")}
            context.record(session, AuditAction.MODEL_REGISTER, details={"model_id": model.model_id, **details})
        return model


@dataclasses.dataclass(frozen=True)
class Erased:
    """A subject erased in a transaction not yet committed: its proof, and what the index still
    has to drop once it commits (``face_ids``, at ``generation`` and ``state_hash``)."""

    proof: ErasureResult
    face_ids: npt.NDArray[np.int64]
    generation: int
    state_hash: str


def erase_in(context: Context, session: Session, index: VectorIndex, subject: str, why: str) -> Erased:
    """Erase SUBJECT in the caller's transaction (the erasure path of :meth:`AdministrationService.erase`,
    and of the subjects a model move loses): refused under a legal hold; its rows deleted, a new
    generation, the index's staged removal and stamp, and one ``subject.erase`` event."""
    ref = context.store.require_subject(session, subject)
    retention.require_not_held(session, ref.subject_id, ref.name)
    face_ids = np.array(context.store.subject_face_ids(session, ref.subject_id), dtype=np.int64)
    in_index = context.keeper.present(session, index, face_ids)
    context.keeper.stage_remove(session, index, face_ids)  # a database index: in this transaction
    images, faces = context.store.delete_subject(session, ref.subject_id)
    generation = context.store.bump_generation(session)
    state_hash = context.store.state(session).content_hash
    context.keeper.stage_stamp(session, index, generation, state_hash)
    seq = context.record_at(
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
    return Erased(ErasureResult(ref.subject_id, images, faces, in_index, seq), face_ids, generation, state_hash)
