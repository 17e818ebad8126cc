"""A whole collection searched against the gallery in one step, its candidates kept in its case.

Built on the one verb that searches a cluster (:meth:`SearchService.cluster_searched`), so every
rule applies to each of its searches: the purpose binding and the case membership, the quota, the
opt-out screen, the anomaly flags, the audit (each cluster's search is a ``search.identify`` event
of its own), and the probe face kept for the verifiers. A sweep adds three rules of its own:

- it serves the collection's own case: its candidates land in that case, so a sweep asked for under
  another case is refused (CollectionCaseError), even for a member of both;
- quota: each cluster's search counts as one search. The sweep asks for all of them at once, under
  the lock, before it runs any, and is refused whole (QuotaExceededError, audited as a refusal) if
  they would pass the user's hourly or daily quota: never stopped half-way with half a case;
- it runs in one transaction: the searches, the ``collection.sweep`` event that names them, and the
  candidates kept in the case (:mod:`facesearch.governance.sweeps`) commit together, or none does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from facesearch.clustering import rows
from facesearch.errors import CollectionCaseError, InputError
from facesearch.governance import membership, sweeps, usage
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import Permission
from facesearch.governance.sweeps import CollectionSweep
from facesearch.operations.search import SearchService
from facesearch.types import ClusterSearchResult, SearchRequest

if TYPE_CHECKING:
    from facesearch.governance.context import Context

Progress = Callable[[int, int], None]  # (clusters searched, clusters in all)


class SweepService:
    """Sweeps of whole collections for the acting user (operators of the collection's case)."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def identify_collection(
        self, collection: str, request: SearchRequest, *, on_progress: Progress | None = None
    ) -> CollectionSweep:
        """See :meth:`facesearch.engine.Engine.identify_collection`."""
        context = self._context
        searches = SearchService(context)
        with context.ruled():
            bound = searches.allowed(Permission.IDENTIFY, request)
            with context.writing() as session:
                row = rows.require_collection(session, collection)
                membership.require_member(session, context.actor, row.case_id, "search its collections")
                if row.case_id != bound.case:
                    raise CollectionCaseError(
                        f"collection {row.name!r} serves case {row.case_id!r}; its sweep lands in that case: "
                        f"search it under case {row.case_id!r}, not {bound.case!r}",
                        case=row.case_id,
                    )
                clusters = rows.cluster_summaries(rows.collection_faces(session, row.id), session)
                if not clusters:
                    raise InputError(f"collection {row.name!r} has no face to search")
                now = datetime.now(UTC)
                usage.check_quota(session, context.actor, context.settings, now, searches=len(clusters))
                ranking = searches.ranking(session)
                searched: list[tuple[str | None, ClusterSearchResult]] = []
                for summary in clusters:
                    found = searches.cluster_searched(session, bound, summary.cluster_id, ranking)
                    searched.append((summary.label, found))
                    if on_progress is not None:
                        on_progress(len(searched), len(clusters))
                details = {
                    "collection_id": row.id,
                    "authorisation": bound.authorisation,
                    "clusters": len(searched),
                    "faces": sum(s.size for s in clusters),
                    "searches": [found.audit_seq for _, found in searched],
                    "candidates_above_threshold": sum(
                        1 for _, found in searched for c in found.candidates if c.clears_threshold
                    ),
                }
                seq = context.record(
                    session, AuditAction.COLLECTION_SWEEP, purpose=bound.purpose, case=bound.case, details=details
                )
                sweep_id = sweeps.keep(session, row, bound, searched, actor=context.actor, at=now, audit_seq=seq)
                [kept] = sweeps.of_case(session, bound.case, sweep_id=sweep_id)
        return kept
