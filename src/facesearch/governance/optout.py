"""The do-not-enroll list: people who asked never to be enrolled or found.

An opt-out keeps only the person's template (from one photo) and the request's reference, no name
and no photo. Enrolling a face that matches a template is refused; a search never returns a face
that matches one, and its audit event counts the faces withheld without naming anyone. "Matches"
means scoring at or above the operating threshold in force, the same rule by which a candidate
clears it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.errors import InputError
from facesearch.gallery import GalleryStore
from facesearch.gallery.schema import OptOutRow
from facesearch.gallery.store import OPT_OUT_CONTEXT
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission, clean_text
from facesearch.pipeline.decode import PhotoInput
from facesearch.pipeline.models import EmbedderSpec
from facesearch.pipeline.prepare import prepare
from facesearch.scoring.scores import SubjectLookup, score_matrix
from facesearch.types import Serialisable

if TYPE_CHECKING:
    from facesearch.governance.context import Context


@dataclasses.dataclass(frozen=True)
class OptOut(Serialisable):
    """One entry of the list, as people may see it: never the template."""

    opt_out_id: int
    request_ref: str
    recorded_at: datetime
    recorded_by: str
    audit_seq: int | None = None


class Screen:
    """The opt-out templates of one model, held against the threshold in force."""

    def __init__(self, templates: npt.NDArray[np.float32], spec: EmbedderSpec, threshold: float) -> None:
        self.templates = templates
        self.spec = spec
        self.threshold = threshold
        self._withheld: set[int] = set()

    @classmethod
    def load(cls, session: Session, store: GalleryStore, spec: EmbedderSpec, threshold: float) -> Screen:
        rows = session.scalars(select(OptOutRow.template).where(OptOutRow.model_id == spec.model_id)).all()
        vectors = [np.frombuffer(store.unseal(bytes(t), context=OPT_OUT_CONTEXT), dtype="<f4") for t in rows]
        matrix = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, spec.dimension), np.float32)
        return cls(matrix, spec, threshold)

    @property
    def suppressed(self) -> int:
        """Distinct gallery faces withheld from the searches this screen served."""
        return len(self._withheld)

    def matches(self, vectors: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """For each row of ``vectors`` (n, d): does it match any opt-out template?"""
        rows = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if len(self.templates) == 0:
            return np.zeros(len(rows), dtype=bool)
        matched: npt.NDArray[np.bool_] = (
            score_matrix(rows, self.templates, self.spec.metric).max(axis=1) >= self.threshold
        )
        return matched

    def lookup(self, session: Session, store: GalleryStore) -> SubjectLookup:
        """A face-to-subject lookup for :func:`facesearch.operations.ranking.rank_subjects` that leaves out every
        face matching an opt-out, so the ranking goes on to the next subjects."""

        def plain(face_ids: list[int]) -> Mapping[int, tuple[str, str]]:
            refs = store.subjects_of_faces(session, face_ids)
            return {f: (r.subject_id, r.name) for f, r in refs.items()}

        if len(self.templates) == 0:
            return plain

        def screened(face_ids: list[int]) -> Mapping[int, tuple[str, str]]:
            found = plain(face_ids)
            vectors = store.face_vectors(session, list(found))
            if not vectors:
                return found
            ids = list(vectors)
            hit = self.matches(np.stack([vectors[i] for i in ids]))
            withheld = {i for i, h in zip(ids, hit, strict=True) if h}
            self._withheld |= withheld
            return {f: ref for f, ref in found.items() if f not in withheld}

        return screened


class OptOutService:
    """Recording and listing opt-outs for the acting user (enrollers record them)."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def record(self, photo: PhotoInput, *, request_ref: str) -> OptOut:
        """Put the person in PHOTO (exactly one usable face) on the do-not-enroll list."""
        context = self._context
        reference = clean_text(request_ref, "request reference")
        with context.ruled():
            context.authorize(Permission.RECORD_OPT_OUT)
            if not reference:
                raise InputError("an opt-out needs the reference of the person's request (--request)")
            prepared = prepare(photo, context.pipeline)
            vector = prepared.face.embedding.vector.astype("<f4").tobytes()
            with context.writing() as session:  # the actor was authorised above, before the costly analysis
                row = OptOutRow(
                    request_ref=reference,
                    model_id=prepared.face.embedding.model_id,
                    template=context.store.seal(vector, context=OPT_OUT_CONTEXT),
                    recorded_at=datetime.now(UTC),
                    recorded_by=context.actor,
                )
                session.add(row)
                session.flush()
                seq = context.record(
                    session, AuditAction.OPT_OUT, details={"opt_out_id": row.id, "request_ref": reference}
                )
        return OptOut(row.id, reference, row.recorded_at, row.recorded_by, seq)

    def list(self) -> list[OptOut]:
        with self._context.guarded(Permission.RECORD_OPT_OUT, Permission.MANAGE_GALLERY, Permission.READ_REPORTS) as s:
            rows = s.scalars(select(OptOutRow).order_by(OptOutRow.id))
            return [OptOut(r.id, r.request_ref, r.recorded_at, r.recorded_by) for r in rows]


def refusal_details(count: int) -> dict[str, Any]:
    return {"rule": "opt-out", "code": "opted-out", "photos_refused": count}
