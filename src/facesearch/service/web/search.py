"""Searching from the web UI: 1:N identify (a probe against the gallery) and 1:1 verify (two
photos against each other), both bound to a purpose and a case, and nominating a candidate.

The engine decides and audits everything; these pages only show its answers in plain words first
(the line a candidate must reach, how often someone not enrolled reaches it) with the technical
detail folded away. The probe is shown inline (a ``data:`` URI), never stored nor served by URL.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from PIL import Image

from facesearch.config import Settings
from facesearch.errors import FacesearchError, InputError
from facesearch.governance.policy import Permission
from facesearch.pipeline.decode import decode_bytes
from facesearch.service.problems import status_of
from facesearch.service.uploads import read_photo
from facesearch.service.web.pages import Signed, Viewer, WebRoute, problem_of, render
from facesearch.types import IdentifyResult, SearchRequest, VerifyResult

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PREVIEW_SIDE = 640  # the inline preview's longer side, in pixels (the probe is shown at most 280 px wide)


@dataclasses.dataclass(frozen=True)
class Preview:
    """The probe as the result page shows it: a downscaled JPEG inline, in the photo's own
    coordinates (``width`` x ``height``, those of the face boxes)."""

    data_uri: str
    width: int
    height: int


def preview_of(data: bytes, settings: Settings) -> Preview:
    """The probe re-encoded small, EXIF orientation applied and metadata dropped, as a data: URI."""
    decoded = decode_bytes(data, "probe", settings)
    image = Image.fromarray(decoded.pixels)
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Preview(f"data:image/jpeg;base64,{encoded}", decoded.width, decoded.height)


# --- 1:N identify ---------------------------------------------------------------------------


def _purpose_form(request: Request, v: Viewer, template: str, **context: Any) -> Response:
    """A search form (identify's or verify's) offering the gallery's purposes."""
    status = context.pop("status", 200)
    return render(request, template, status=status, purposes=v.engine.purposes.list(), **context)


def _search_page(request: Request, v: Viewer, **context: Any) -> Response:
    return _purpose_form(request, v, "search.html", **context)


@router.get("/search")
def search_form(request: Request, v: Signed) -> Response:
    v.engine.authorize(Permission.IDENTIFY)  # a refusal page, audited, for roles that may not search
    return _search_page(request, v, form={})


@router.post("/search")
async def search(
    request: Request,
    v: Signed,
    probe: Annotated[UploadFile | None, File()] = None,
    purpose: Annotated[str, Form()] = "",
    case: Annotated[str, Form()] = "",
    authorisation: Annotated[str, Form()] = "",
) -> Response:
    form = {"purpose": purpose, "case": case, "authorisation": authorisation}
    try:
        if probe is None:
            raise InputError("choose the probe photo to search")
        data = await read_photo(probe, v.settings, "probe")
        result: IdentifyResult = await run_in_threadpool(
            lambda: v.engine.identify(data, SearchRequest(purpose, case, authorisation.strip() or None))
        )
        preview = await run_in_threadpool(preview_of, data, v.settings)
    except FacesearchError as exc:
        error, status = problem_of(exc), status_of(exc)
        return await run_in_threadpool(lambda: _search_page(request, v, form=form, error=error, status=status))
    return render(
        request,
        "search_result.html",
        result=result,
        preview=preview,
        thumbnails=v.settings.keep_crops,
    )


@router.post("/nominate")
def nominate(
    request: Request,
    v: Signed,
    search: Annotated[int, Form()],
    subject: Annotated[str, Form()],
    face: Annotated[int, Form()] = 0,
) -> Response:
    """Nominate a candidate of a search (operators); the case page then shows it pending."""
    n = v.engine.cases.nominate(search, subject, face_index=face)
    return RedirectResponse(f"/cases/{quote(n.case, safe='')}?nominated={n.nomination_id}", status_code=303)


# --- 1:1 verify -----------------------------------------------------------------------------


def _verify_page(request: Request, v: Viewer, **context: Any) -> Response:
    return _purpose_form(request, v, "verify.html", **context)


@router.get("/verify")
def verify_form(request: Request, v: Signed) -> Response:
    v.engine.authorize(Permission.VERIFY)  # a refusal page, audited, for roles that may not compare
    return _verify_page(request, v, form={})


@router.post("/verify")
async def verify(
    request: Request,
    v: Signed,
    photo_a: Annotated[UploadFile | None, File()] = None,
    photo_b: Annotated[UploadFile | None, File()] = None,
    purpose: Annotated[str, Form()] = "",
    case: Annotated[str, Form()] = "",
    authorisation: Annotated[str, Form()] = "",
) -> Response:
    """Compare the main face of two photos (operators; bound to a purpose and a case, audited)."""
    form = {"purpose": purpose, "case": case, "authorisation": authorisation}
    try:
        if photo_a is None or photo_b is None or not photo_a.filename or not photo_b.filename:
            raise InputError("choose both photos to compare")
        a = await read_photo(photo_a, v.settings, "first photo")
        b = await read_photo(photo_b, v.settings, "second photo")
        result: VerifyResult = await run_in_threadpool(
            lambda: v.engine.verify(a, b, SearchRequest(purpose, case, authorisation.strip() or None))
        )
        previews = await run_in_threadpool(lambda: (preview_of(a, v.settings), preview_of(b, v.settings)))
    except FacesearchError as exc:
        error, status = problem_of(exc), status_of(exc)
        return await run_in_threadpool(lambda: _verify_page(request, v, form=form, error=error, status=status))
    return render(request, "verify_result.html", result=result, previews=previews, form=form)
