"""The gallery's pages: subjects a page at a time with a search, enrolling photos with their
provenance, erasing a subject with a reason, and the subject access report."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from facesearch.errors import FacesearchError, InputError
from facesearch.governance.policy import FACE_VIEWERS, ROLE_MATRIX
from facesearch.service.problems import status_of
from facesearch.service.uploads import read_photo
from facesearch.service.web.pages import Page, Signed, Viewer, WebRoute, problem_of, render
from facesearch.types import LawfulBasis

router = APIRouter(include_in_schema=False, route_class=WebRoute)

SUBJECT_ROWS = 50  # subjects per page


# --- subjects -------------------------------------------------------------------------------


def _subjects_page(request: Request, v: Viewer, *, q: str = "", page: int = 1, **context: Any) -> Response:
    """A page of the subjects (those matching Q), each with one enrolled face where the gallery keeps
    crops and the role may see them, the retention period, and the forms the role may use."""
    status = context.pop("status", 200)
    context.setdefault("form", {})
    found = v.engine.subjects(search=q, limit=SUBJECT_ROWS + 1, offset=(page - 1) * SUBJECT_ROWS)
    return render(
        request,
        "subjects.html",
        status=status,
        subjects=found[:SUBJECT_ROWS],
        q=q,
        page=page,
        more=len(found) > SUBJECT_ROWS,
        rows=SUBJECT_ROWS,
        retention_days=v.engine.retention.period(),
        bases=[b.value for b in LawfulBasis],
        thumbnails=v.settings.keep_crops and bool(ROLE_MATRIX[v.user.role] & set(FACE_VIEWERS)),
        keep_crops=v.settings.keep_crops,
        **context,
    )


@router.get("/subjects")
def subjects(
    request: Request,
    v: Signed,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Page = 1,
    enroll: Annotated[str, Query(max_length=200)] = "",
    erase: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """``enroll`` and ``erase`` fill the forms in with a subject picked from the list."""
    return _subjects_page(request, v, q=q, page=page, form={"subject": enroll}, erase_form={"subject": erase})


@router.post("/subjects/enroll")
async def enroll(
    request: Request,
    v: Signed,
    photos: Annotated[list[UploadFile] | None, File()] = None,
    subject: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "",
    basis: Annotated[str, Form()] = "",
    retain_until: Annotated[str, Form()] = "",
) -> Response:
    form = {"subject": subject, "source": source, "basis": basis, "retain_until": retain_until}
    try:
        chosen = [p for p in photos or [] if p.filename]
        if not chosen:
            raise InputError("choose at least one photo of the subject to enroll")
        data = [await read_photo(p, v.settings, f"photo {p.filename}") for p in chosen]
        result = await run_in_threadpool(
            lambda: v.engine.enroll(
                data, subject=subject, source=source, basis=basis, retain_until=retain_until.strip() or None
            )
        )
    except FacesearchError as exc:
        error, status = problem_of(exc), status_of(exc)
        return await run_in_threadpool(lambda: _subjects_page(request, v, form=form, error=error, status=status))
    return await run_in_threadpool(lambda: _subjects_page(request, v, enrolled=result))


@router.post("/subjects/erase")
def erase(
    request: Request,
    v: Signed,
    subject: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    try:
        if not confirm:
            raise InputError("erasure not done: tick the box to confirm that the subject is to be erased for good")
        result = v.engine.erase(subject, reason=reason)
    except FacesearchError as exc:
        erase_form = {"subject": subject, "reason": reason}
        return _subjects_page(request, v, erase_form=erase_form, error=problem_of(exc), status=status_of(exc))
    return _subjects_page(request, v, erased=result)


@router.get("/subjects/{subject}/report")
def subject_report(request: Request, v: Signed, subject: str, format: str = "html") -> Response:
    """A subject access report (admins, auditors; making it is audited); ``?format=json`` downloads it."""
    report = v.engine.subject_report(subject)
    if format == "json":
        body = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
        disposition = f'attachment; filename="subject-{report.subject_id}.json"'
        return Response(body, media_type="application/json", headers={"Content-Disposition": disposition})
    return render(request, "subject_report.html", report=report)
