"""Administration of the gallery's content: erasure, subject access reports, calibration.

The functions take the :class:`~facesearch.engine.Engine` they act for; the engine's public methods
are the entry points and carry the documentation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facesearch.evaluation.extract import EmbeddingCache
from facesearch.evaluation.measure import measure_calibration
from facesearch.governance import policy, retention
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission
from facesearch.reports import subject_access as reports
from facesearch.scoring.calibration import Calibration
from facesearch.types import (
    ErasureResult,
    SubjectReport,
)

if TYPE_CHECKING:
    from facesearch.engine import Engine


def erase(engine: Engine, subject: str, reason: str) -> ErasureResult:
    engine.authorize(Permission.ERASE)
    why = policy.require_reason(reason, "erasure")
    with engine.locked():
        with engine.store.transaction() as session:
            index = engine.keeper.synced(session, engine.store)
            ref = engine.store.require_subject(session, subject)
            retention.require_not_held(session, ref.subject_id, ref.name)
            face_ids = np.array(engine.store.subject_face_ids(session, ref.subject_id), dtype=np.int64)
            in_index = engine.keeper.present(session, index, face_ids)
            engine.keeper.stage_remove(session, index, face_ids)  # a database index: in this transaction
            images, faces = engine.store.delete_subject(session, ref.subject_id)
            generation = engine.store.bump_generation(session)
            state_hash = engine.store.state(session).content_hash
            engine.keeper.stage_stamp(session, index, generation, state_hash)
            seq = engine.audit_at(
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
        removed = engine.keeper.removed(index, face_ids, generation, state_hash)
    engine.keeper.settle()  # a database index's VACUUM, outside the locks: nobody waits for it
    return ErasureResult(ref.subject_id, images, faces, removed, seq)


def subject_report(engine: Engine, subject: str) -> SubjectReport:
    """See :meth:`facesearch.engine.Engine.subject_report`."""
    engine.authorize(Permission.READ_REPORTS, Permission.MANAGE_GALLERY)
    with engine.writing() as session:
        report = reports.subject_report(session, engine.store, subject)
        details = {
            "subject_id": report.subject_id,
            "images": len(report.images),
            "appearances": len(report.appearances),
        }
        seq = engine.record(session, AuditAction.SUBJECT_REPORT, details=details)
    return dataclasses.replace(report, audit_seq=seq)


def face_thumbnail(engine: Engine, face_id: int) -> bytes | None:
    with engine.guarded(Permission.IDENTIFY, Permission.CONFIRM, Permission.MANAGE_GALLERY) as session:
        crop = engine.store.face_crop(session, face_id)
        if crop is not None:
            engine.record(session, AuditAction.FACE_VIEW, details={"face": face_id})
        return crop


def calibrate(
    engine: Engine,
    dataset: Path,
    *,
    target_fmr: float,
    workers: int = 1,
    cache: EmbeddingCache | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """See :meth:`facesearch.engine.Engine.calibrate`."""
    engine.authorize(Permission.MANAGE_GALLERY)
    calibration = measure_calibration(
        dataset, engine.pipeline, target_fmr, cache=cache, workers=workers, progress=progress
    )
    with engine.writing() as session:
        engine.store.add_calibration(session, calibration, engine.actor)
        seq = engine.record(
            session,
            AuditAction.CALIBRATE,
            details=calibration.audit_details(),
        )
    return dataclasses.replace(calibration, audit_seq=seq)
