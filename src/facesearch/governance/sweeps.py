"""A collection swept in one step, kept in its case: the candidates each cluster's search found.

A sweep searches every cluster of a collection (a face no other face joined is a cluster of one)
as :meth:`facesearch.engine.Engine.identify_cluster` searches one, each an identify search of its
own with its own audit event, plus one ``collection.sweep`` event naming them all. What each search
found is kept here, in the case, beside the search's audit number: the case's view and its export
list the candidates per cluster, and a candidate is nominated from its cluster's search exactly as
from any search (:meth:`facesearch.governance.casework.CaseService.nominate`, face 0), under the
same two-person confirmation. A candidate row goes with its subject when the subject is erased; a
sweep goes with its collection and with its case.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.gallery.schema import (
    CollectionRow,
    CollectionSweepCandidateRow,
    CollectionSweepClusterRow,
    CollectionSweepRow,
    SubjectRow,
)
from facesearch.types import Candidate, ClusterSearchResult, SearchAnswer, SearchRequest, Serialisable, Threshold


@dataclasses.dataclass(frozen=True)
class SweptCluster(Serialisable):
    """One cluster a sweep searched, as it stood then: its candidates, best first, found by identify
    search ``search_seq`` (nominate one from that search, face 0)."""

    cluster_id: int
    label: str | None
    faces: int  # fused into the one template searched
    search_seq: int
    candidates: tuple[Candidate, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CollectionSweep(SearchAnswer):
    """Every cluster of a collection searched against the gallery in one step, kept in its case:
    candidates per cluster, never an identity. ``audit_seq`` is the sweep's own event
    (``collection.sweep``); each cluster's search has its own (``SweptCluster.search_seq``)."""

    sweep_id: int
    collection_id: str
    collection: str
    swept_by: str
    swept_at: datetime
    clusters: tuple[SweptCluster, ...]


def keep(
    session: Session,
    collection: CollectionRow,
    request: SearchRequest,
    searched: Sequence[tuple[str | None, ClusterSearchResult]],
    *,
    actor: str,
    at: datetime,
    audit_seq: int,
) -> int:
    """Store a sweep's searches (each cluster's name then, and what its search found) and their
    candidates in its case; returns the sweep's number."""
    first = searched[0][1]
    sweep = CollectionSweepRow(
        collection_id=collection.id,
        case_id=request.case,
        purpose=request.purpose,
        authorisation=request.authorisation,
        swept_by=actor,
        swept_at=at,
        model_id=first.model_id,
        gallery_faces=first.gallery_size,
        threshold=json.dumps(first.threshold.to_dict()),
        audit_seq=audit_seq,
    )
    session.add(sweep)
    session.flush()
    for label, result in searched:
        swept = CollectionSweepClusterRow(
            sweep_id=sweep.id,
            cluster_id=result.cluster_id,
            label=label,
            faces=result.faces,
            search_seq=result.audit_seq,
        )
        session.add(swept)
        session.flush()
        session.add_all(
            CollectionSweepCandidateRow(
                swept_cluster_id=swept.id,
                rank=c.rank,
                subject_id=c.subject_id,
                score=c.score,
                clears_threshold=c.clears_threshold,
                face_id=c.face_id,
                expected_fmr=c.expected_fmr,
                fmr_meaning=c.fmr_meaning,
            )
            for c in result.candidates
        )
    session.flush()
    return sweep.id


def of_case(session: Session, case_id: str, *, sweep_id: int | None = None) -> list[CollectionSweep]:
    """The sweeps kept in a case (or the one numbered ``sweep_id``), oldest first, each cluster's
    candidates with their subject's name as it is now; an erased subject is no longer listed."""
    query = (
        select(CollectionSweepRow, CollectionRow.name)
        .join(CollectionRow, CollectionRow.id == CollectionSweepRow.collection_id)
        .where(CollectionSweepRow.case_id == case_id)
        .order_by(CollectionSweepRow.id)
    )
    if sweep_id is not None:
        query = query.where(CollectionSweepRow.id == sweep_id)
    found = session.execute(query).all()
    if not found:
        return []
    clusters = session.scalars(
        select(CollectionSweepClusterRow)
        .where(CollectionSweepClusterRow.sweep_id.in_([row.id for row, _ in found]))
        .order_by(CollectionSweepClusterRow.id)
    ).all()
    candidates: dict[int, list[Candidate]] = {}
    if clusters:
        rows = session.execute(
            select(CollectionSweepCandidateRow, SubjectRow.name)
            .join(SubjectRow, SubjectRow.id == CollectionSweepCandidateRow.subject_id)
            .where(CollectionSweepCandidateRow.swept_cluster_id.in_([c.id for c in clusters]))
            .order_by(CollectionSweepCandidateRow.swept_cluster_id, CollectionSweepCandidateRow.rank)
        ).all()
        for c, name in rows:
            candidates.setdefault(c.swept_cluster_id, []).append(
                Candidate(
                    c.rank, name, c.subject_id, c.score, c.clears_threshold, c.face_id, c.expected_fmr, c.fmr_meaning
                )
            )
    by_sweep: dict[int, list[SweptCluster]] = {}
    for swept in clusters:
        by_sweep.setdefault(swept.sweep_id, []).append(
            SweptCluster(
                swept.cluster_id, swept.label, swept.faces, swept.search_seq, tuple(candidates.get(swept.id, ()))
            )
        )
    return [
        CollectionSweep(
            sweep_id=row.id,
            collection_id=row.collection_id,
            collection=name,
            swept_by=row.swept_by,
            swept_at=row.swept_at,
            clusters=tuple(by_sweep.get(row.id, ())),
            model_id=row.model_id,
            threshold=Threshold(**json.loads(row.threshold)),
            purpose=row.purpose,
            case=row.case_id,
            gallery_size=row.gallery_faces,
            audit_seq=row.audit_seq,
            authorisation=row.authorisation,
        )
        for row, name in found
    ]
