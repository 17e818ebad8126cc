"""The probe faces kept for review: what the verifiers compare the candidate's enrolled faces with.

An identify search keeps the crop of each face it searched (the aligned face chip, the same
geometry as an enrolled face's crop), sealed under the gallery's data key and bound to its case,
its search and its place in the probe (:func:`facesearch.gallery.seals.probe_crop_context`), so a
crop moved to another case's row fails its check. Nothing else of the probe photo is kept. The
crops live as long as their case (see :mod:`facesearch.governance.membership`): a purge destroys
those of every case past its ``retain_until`` and counts them in its destruction certificate. A
gallery with no retention period keeps none (it cannot hold enrolled faces either).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from facesearch.gallery import GalleryStore
from facesearch.gallery.schema import CaseRow, ProbeFaceRow
from facesearch.gallery.seals import probe_crop_context


def keep(session: Session, store: GalleryStore, case: str, search_seq: int, crops: Sequence[bytes]) -> int:
    """Keep the JPEG crop of each face of search ``search_seq`` (in probe order) for its case, sealed,
    in the caller's transaction, when the case has a retention date; returns how many were kept."""
    row = session.get(CaseRow, case)
    if row is None or row.retain_until is None:
        return 0
    now = datetime.now(UTC)
    session.add_all(
        ProbeFaceRow(
            case_id=case,
            search_seq=search_seq,
            face_index=i,
            crop_jpeg=store.seal(crop, context=probe_crop_context(case, search_seq, i)),
            kept_at=now,
        )
        for i, crop in enumerate(crops)
    )
    session.flush()
    return len(crops)


def crop(session: Session, store: GalleryStore, search_seq: int, face_index: int) -> bytes | None:
    """The kept crop of face ``face_index`` of search ``search_seq``, unsealed; None if none is kept."""
    row = session.scalars(
        select(ProbeFaceRow).where(ProbeFaceRow.search_seq == search_seq, ProbeFaceRow.face_index == face_index)
    ).first()
    if row is None:
        return None
    return store.unseal(row.crop_jpeg, context=probe_crop_context(row.case_id, row.search_seq, row.face_index))


def kept(session: Session, searches: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of the (search, face) pairs have a kept crop."""
    seqs = {seq for seq, _ in searches}
    if not seqs:
        return set()
    rows = session.execute(
        select(ProbeFaceRow.search_seq, ProbeFaceRow.face_index).where(ProbeFaceRow.search_seq.in_(seqs))
    ).all()
    return {(int(seq), int(face)) for seq, face in rows} & set(searches)


def purge_expired(session: Session, today: date) -> tuple[list[str], int]:
    """Destroy the probe faces of every case retained until before TODAY; returns those cases and how
    many faces were destroyed."""
    dormant = select(CaseRow.id).where(CaseRow.retain_until < today)
    counts = session.execute(
        select(ProbeFaceRow.case_id, func.count())
        .where(ProbeFaceRow.case_id.in_(dormant))
        .group_by(ProbeFaceRow.case_id)
        .order_by(ProbeFaceRow.case_id)
    ).all()
    if not counts:
        return [], 0
    session.execute(
        delete(ProbeFaceRow).where(ProbeFaceRow.case_id.in_(dormant)).execution_options(synchronize_session=False)
    )
    return [str(case) for case, _ in counts], sum(int(n) for _, n in counts)
