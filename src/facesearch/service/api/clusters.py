"""Collections of unknown faces: their clusters, people's corrections to them, and a cluster (or
every cluster at once) searched against the gallery like a probe. Clustering a collection reads a
folder of photos on the server, so it stays a command ('facesearch cluster'), not a route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from facesearch.clustering.rows import ClusterSummary, CollectionSummary
from facesearch.governance.sweeps import CollectionSweep
from facesearch.service.api.schemas import (
    MAX_ID,
    CannotLink,
    ClusterLabel,
    ClusterMerge,
    ClusterSearch,
    ClusterSplit,
    CollectionDeleted,
    Reason,
)
from facesearch.service.auth import Acting
from facesearch.types import ClusterSearchResult, SearchRequest

router = APIRouter(tags=["collections"])

ClusterId = Annotated[int, Path(ge=1, le=MAX_ID, description="The cluster's number.")]


@router.get(
    "/collections",
    summary="The collections you read, newest first",
    description="Operators: those clustered for the cases they are a member of; auditors: every collection. "
    "'limit' and 'offset' page through them.",
)
def collections(
    engine: Acting,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many collections.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Skip this many collections first.")] = 0,
) -> list[CollectionSummary]:
    return engine.collections.collections(limit=limit, offset=offset)


@router.get(
    "/collections/{collection}/clusters",
    summary="A collection's clusters, largest first",
    description="Operators and auditors.",
)
def clusters(
    engine: Acting,
    collection: str,
    min_size: Annotated[int, Query(ge=1, le=1_000_000, description="Only clusters of at least this many faces.")] = 1,
) -> list[ClusterSummary]:
    return engine.collections.clusters(collection, min_size=min_size)


@router.post(
    "/clusters/{cluster_id}/identify",
    summary="Search a cluster against the gallery: its faces fused into one template",
    description="Candidates, not identifications, under the same purpose binding, quotas, opt-out screen and "
    "audit as identify; its candidates can be nominated the same way. Operators.",
)
def identify_cluster(engine: Acting, cluster_id: ClusterId, body: ClusterSearch) -> ClusterSearchResult:
    return engine.identify_cluster(cluster_id, SearchRequest(body.purpose, body.case, body.authorisation, body.top_k))


@router.post(
    "/collections/{collection}/identify",
    summary="Search every cluster of a collection against the gallery in one step",
    description="Each cluster (a face no other joined is a cluster of one) is searched as "
    "/clusters/{cluster_id}/identify searches one: its own identify search, under the same purpose binding, "
    "quota, opt-out screen and audit, plus one collection.sweep event. The case must be the collection's own: "
    "the candidates are kept in it per cluster (GET /cases/{case}/sweeps, and the case's export), and "
    "nominated from their cluster's search_seq like any candidate. Each cluster's search counts against your "
    "search quota; a sweep that would pass it is refused (403, quota-exceeded) before any search runs. "
    "Operators who are members of the collection's case.",
)
def identify_collection(engine: Acting, collection: str, body: ClusterSearch) -> CollectionSweep:
    wanted = SearchRequest(body.purpose, body.case, body.authorisation, body.top_k)
    return engine.identify_collection(collection, wanted)


@router.post("/clusters/merge", summary="Merge two clusters (a person's correction)", description="Operators.")
def merge(engine: Acting, body: ClusterMerge) -> ClusterSummary:
    return engine.collections.merge(body.cluster_a, body.cluster_b)


@router.post(
    "/clusters/{cluster_id}/split",
    summary="Split faces out of a cluster into a new one (a person's correction)",
    description="Operators.",
)
def split(engine: Acting, cluster_id: ClusterId, body: ClusterSplit) -> ClusterSummary:
    return engine.collections.split(cluster_id, body.faces)


@router.put("/clusters/{cluster_id}/label", summary="Name a cluster", description="Operators.")
def label(engine: Acting, cluster_id: ClusterId, body: ClusterLabel) -> ClusterSummary:
    return engine.collections.name(cluster_id, body.label)


@router.post(
    "/cannot-link",
    summary="Record that two faces are different people: no clustering puts them together again",
    description="Operators.",
    status_code=204,
)
def cannot_link(engine: Acting, body: CannotLink) -> None:
    engine.collections.cannot_link(body.face_a, body.face_b)


@router.post(
    "/collections/{collection}/delete",
    summary="Erase a collection physically: its faces, crops, clusters and decisions",
    description="Admins.",
)
def delete(engine: Acting, collection: str, body: Reason) -> CollectionDeleted:
    return CollectionDeleted(
        collection=collection, faces_removed=engine.collections.delete(collection, reason=body.reason)
    )
