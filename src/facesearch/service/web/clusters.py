"""Collections of unknown faces in the web UI: the collections a user reads, each as a contact sheet
of its clusters, one cluster's faces, people's corrections (merge, split, cannot-link, name), and a
cluster, or every cluster at once (a sweep, kept in the case), searched against the gallery under a
purpose and a case.

Clustering a folder of photos stays a command (``facesearch cluster``): it reads the server's
disk. Like every page these hold no rules: each calls the engine verb the API's route calls, acting
as the signed-in user; the engine checks the role and the case (a collection is read and corrected
by its case's members; admins' and auditors' oversight reads every one) and audits, down to each
face crop shown (``collection.face_view``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from facesearch.errors import CaseMembershipError, FacesearchError, InputError, PermissionDeniedError
from facesearch.service.api.schemas import MAX_ID
from facesearch.service.problems import status_of
from facesearch.service.web.pages import Page, Signed, Viewer, WebRoute, error_page, problem_of, render
from facesearch.types import SearchRequest

router = APIRouter(include_in_schema=False, route_class=WebRoute)

COLLECTION_ROWS = 50  # collections per page
CLUSTER_ROWS = 20  # clusters per page of a collection's contact sheet
FACES_SHOWN = 8  # faces of each cluster on the collection's sheet (the cluster's page shows them all)
FACE_ROWS = 60  # faces per page of a cluster

ClusterId = Annotated[int, Path(ge=1, le=MAX_ID)]
Number = Annotated[int, Form(ge=1, le=MAX_ID)]
Text = Annotated[str, Form()]


def link(collection_id: str, cluster_id: int | None = None) -> str:
    """The page of a collection, or of one of its clusters."""
    page = f"/collections/{quote(collection_id, safe='')}"
    return page if cluster_id is None else f"{page}/clusters/{cluster_id}"


def _failed(request: Request, exc: FacesearchError, again: Any, **form: Any) -> Response:
    """A refusal of the role or the case is shown alone (the page is not theirs to read either);
    any other problem, a search's purpose refused too, re-renders the page with the core's words
    and what was typed."""
    if isinstance(exc, PermissionDeniedError | CaseMembershipError):
        return error_page(request, exc)
    result: Response = again(error=problem_of(exc), status=status_of(exc), form=form)
    return result


# --- collections ----------------------------------------------------------------------------


@router.get("/collections")
def collections(request: Request, v: Signed, page: Page = 1) -> Response:
    """The collections the user reads, newest first, a page at a time."""
    found = v.engine.collections.collections(limit=COLLECTION_ROWS + 1, offset=(page - 1) * COLLECTION_ROWS)
    more = len(found) > COLLECTION_ROWS
    shown = found[:COLLECTION_ROWS]
    return render(request, "collections.html", collections=shown, page=page, more=more, rows=COLLECTION_ROWS)


def _collection_page(
    request: Request, v: Viewer, collection: str, *, page: int = 1, min_size: int = 1, **context: Any
) -> Response:
    """A page of the collection's clusters, largest first, each with its first faces."""
    status = context.pop("status", 200)
    about = v.engine.collections.collection(collection)
    context.setdefault("form", {"case": about.case})  # a sweep serves the collection's own case
    clusters = v.engine.collections.clusters(about.collection_id, min_size=min_size)
    start = (page - 1) * CLUSTER_ROWS
    return render(
        request,
        "collection.html",
        status=status,
        about=about,
        clusters=clusters[start : start + CLUSTER_ROWS],
        shown=len(clusters),
        page=page,
        more=len(clusters) > start + CLUSTER_ROWS,
        rows=CLUSTER_ROWS,
        min_size=min_size,
        faces_shown=FACES_SHOWN,
        purposes=v.engine.purposes.list(),
        base=link(about.collection_id),
        **context,
    )


@router.get("/collections/{collection}")
def collection(
    request: Request, v: Signed, collection: str, page: Page = 1, min_size: Annotated[int, Query(ge=1, le=1000)] = 1
) -> Response:
    return _collection_page(request, v, collection, page=page, min_size=min_size)


def _cluster_page(
    request: Request, v: Viewer, collection: str, cluster_id: int, *, page: int = 1, **context: Any
) -> Response:
    """One cluster's faces (a page of them), the corrections and the search its role may make."""
    status = context.pop("status", 200)
    context.setdefault("form", {})
    about = v.engine.collections.collection(collection)
    cluster = v.engine.collections.cluster_summary(about.collection_id, cluster_id)
    start = (page - 1) * FACE_ROWS
    return render(
        request,
        "cluster.html",
        status=status,
        about=about,
        cluster=cluster,
        faces=cluster.face_ids[start : start + FACE_ROWS],
        page=page,
        more=len(cluster.face_ids) > start + FACE_ROWS,
        purposes=v.engine.purposes.list(),
        base=link(about.collection_id, cluster.cluster_id),
        **context,
    )


@router.get("/collections/{collection}/clusters/{cluster_id}")
def cluster(request: Request, v: Signed, collection: str, cluster_id: ClusterId, page: Page = 1) -> Response:
    return _cluster_page(request, v, collection, cluster_id, page=page)


@router.get("/collection-faces/{face_id}/crop")
def face_crop(face_id: Annotated[int, Path(ge=1, le=MAX_ID)], v: Signed) -> Response:
    """A collection face's crop, for its collection's readers (the engine audits the view)."""
    crop = v.engine.collections.face_crop(face_id)
    if crop is None:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    return Response(crop, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


# --- corrections ----------------------------------------------------------------------------


@router.post("/clusters/merge")
def merge(request: Request, v: Signed, collection: Text, cluster_a: Number, cluster_b: Number) -> Response:
    """Clusters A and B show one person: B's faces join A (operators of the case)."""
    try:
        merged = v.engine.collections.merge(cluster_a, cluster_b)
    except FacesearchError as exc:
        again = lambda **c: _collection_page(request, v, collection, **c)  # noqa: E731
        return _failed(request, exc, again, cluster_a=cluster_a, cluster_b=cluster_b)
    return _cluster_page(request, v, collection, merged.cluster_id, merged={"into": merged, "from": cluster_b})


@router.post("/clusters/{cluster_id}/name")
def name(request: Request, v: Signed, cluster_id: ClusterId, collection: Text, label: Text = "") -> Response:
    try:
        named = v.engine.collections.name(cluster_id, label)
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _cluster_page(request, v, collection, cluster_id, **c), label=label)
    return _cluster_page(request, v, collection, cluster_id, named=named)


@router.post("/clusters/{cluster_id}/split")
def split(
    request: Request,
    v: Signed,
    cluster_id: ClusterId,
    collection: Text,
    faces: Annotated[list[Annotated[int, Form(ge=1, le=MAX_ID)]] | None, Form()] = None,
) -> Response:
    """The ticked faces of a cluster are another person: they become a cluster of their own."""
    try:
        if not faces:
            raise InputError("tick the faces that show another person to split them off")
        new = v.engine.collections.split(cluster_id, faces)
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _cluster_page(request, v, collection, cluster_id, **c))
    return _cluster_page(request, v, collection, cluster_id, split_off=new)


@router.post("/cannot-link")
def cannot_link(request: Request, v: Signed, collection: Text, face_a: Number, face_b: Number) -> Response:
    """Faces A and B are different people: no clustering puts them together again."""
    try:
        v.engine.collections.cannot_link(face_a, face_b)
    except FacesearchError as exc:
        again = lambda **c: _collection_page(request, v, collection, **c)  # noqa: E731
        return _failed(request, exc, again, face_a=face_a, face_b=face_b)
    return _collection_page(request, v, collection, kept_apart={"face_a": face_a, "face_b": face_b})


# --- a cluster searched against the gallery -------------------------------------------------


@router.post("/clusters/{cluster_id}/search")
async def search(
    request: Request,
    v: Signed,
    cluster_id: ClusterId,
    collection: Text,
    purpose: Text = "",
    case: Text = "",
    authorisation: Text = "",
) -> Response:
    """The cluster's faces fused into one template, searched like a probe (operators; bound to a
    purpose and a case, audited); its candidates are nominated like a search's."""
    form = {"purpose": purpose, "case": case, "authorisation": authorisation}
    try:
        wanted = SearchRequest(purpose, case, authorisation.strip() or None)
        result = await run_in_threadpool(lambda: v.engine.identify_cluster(cluster_id, wanted))
    except FacesearchError as exc:
        failed = exc
        return await run_in_threadpool(
            lambda: _failed(request, failed, lambda **c: _cluster_page(request, v, collection, cluster_id, **c), **form)
        )
    about = await run_in_threadpool(lambda: v.engine.collections.cluster_summary(collection, cluster_id))
    return render(
        request,
        "cluster_result.html",
        result=result,
        cluster=about,
        shown=about.face_ids[:FACES_SHOWN],
        base=link(result.collection_id, cluster_id),
        thumbnails=v.settings.keep_crops,
    )


@router.post("/collections/{collection}/search-all")
async def search_all(
    request: Request, v: Signed, collection: str, purpose: Text = "", case: Text = "", authorisation: Text = ""
) -> Response:
    """Every cluster of the collection searched in one step, each as one search (operators of its
    case; bound to a purpose and the collection's case, within quota, audited): the candidates per
    cluster, kept in the case, each above the line with its nominate button."""
    form = {"purpose": purpose, "case": case, "authorisation": authorisation}
    try:
        wanted = SearchRequest(purpose, case, authorisation.strip() or None)
        result = await run_in_threadpool(lambda: v.engine.identify_collection(collection, wanted))
    except FacesearchError as exc:
        failed = exc
        return await run_in_threadpool(
            lambda: _failed(request, failed, lambda **c: _collection_page(request, v, collection, **c), **form)
        )
    above = sum(1 for c in result.clusters if any(x.clears_threshold for x in c.candidates))
    return render(request, "sweep_result.html", result=result, above=above, thumbnails=v.settings.keep_crops)
