"""Casework pages: the verifier's queue (confirm or reject, blind), the cases a user works and
each case's nominations, collection sweeps (candidates per cluster, to nominate from), members and
export. The engine decides who may read or act on what."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from facesearch.errors import CaseNotFoundError, FacesearchError, InputError, PolicyError
from facesearch.governance.membership import CaseFile
from facesearch.service.problems import status_of
from facesearch.service.web.pages import Page, Signed, Viewer, WebRoute, error_page, problem_of, render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

CASE_ROWS = 50  # cases per page


# --- the verifier queue ---------------------------------------------------------------------


def _queue_page(request: Request, v: Viewer, **context: Any) -> Response:
    status = context.pop("status", 200)
    return render(request, "queue.html", status=status, items=v.engine.cases.queue(), **context)


@router.get("/queue")
def queue(request: Request, v: Signed) -> Response:
    return _queue_page(request, v)


@router.post("/queue/{nomination_id}/confirm")
def confirm(request: Request, v: Signed, nomination_id: int, note: Annotated[str, Form()] = "") -> Response:
    try:
        d = v.engine.cases.confirm(nomination_id, note=note.strip() or None)
    except FacesearchError as exc:
        return _queue_page(request, v, error=problem_of(exc), status=status_of(exc))
    return _queue_page(request, v, done=d)


@router.post("/queue/{nomination_id}/reject")
def reject(request: Request, v: Signed, nomination_id: int, reason: Annotated[str, Form()] = "") -> Response:
    try:
        d = v.engine.cases.reject(nomination_id, reason=reason)
    except FacesearchError as exc:
        return _queue_page(request, v, error=problem_of(exc), status=status_of(exc))
    return _queue_page(request, v, done=d)


# --- cases ----------------------------------------------------------------------------------


@router.get("/cases")
def cases(request: Request, v: Signed, case: str = "", page: Page = 1) -> Response:
    """The cases the user reads (their own; every case for admins and auditors), newest first, a
    page at a time; or open one by its reference."""
    if case.strip():
        return RedirectResponse(f"/cases/{quote(case.strip(), safe='')}", status_code=303)
    found = v.engine.cases.cases(limit=CASE_ROWS + 1, offset=(page - 1) * CASE_ROWS)
    return render(
        request, "cases.html", cases=found[:CASE_ROWS], page=page, more=len(found) > CASE_ROWS, rows=CASE_ROWS
    )


def _case_page(request: Request, v: Viewer, case: str, **context: Any) -> Response:
    """The case's nominations, collection sweeps and members; the core refuses (and audits) anyone who
    may not read them."""
    status = context.pop("status", 200)
    items = v.engine.cases.case(case)
    sweeps = v.engine.cases.sweeps(case)
    try:
        file: CaseFile | None = v.engine.cases.members(case)
    except CaseNotFoundError:  # admins and auditors may look up a case nobody has opened
        file = None
    return render(
        request,
        "case.html",
        status=status,
        case=case,
        items=items,
        sweeps=sweeps,
        file=file,
        thumbnails=v.settings.keep_crops,
        **context,
    )


@router.get("/cases/{case:path}")
def case_page(request: Request, v: Signed, case: str, nominated: int | None = None) -> Response:
    return _case_page(request, v, case, nominated=nominated)


@router.post("/case-members")
def add_case_member(
    request: Request, v: Signed, case: Annotated[str, Form()] = "", user: Annotated[str, Form()] = ""
) -> Response:
    """Add an operator to a case (its owner or an admin; the core decides and audits)."""
    try:
        if not user.strip():
            raise InputError("name the operator to add to the case")
        file = v.engine.cases.add_member(case, user)
    except PolicyError as exc:  # not the owner nor an admin: the refusal alone (they may not read the case)
        return error_page(request, exc)
    except FacesearchError as exc:
        return _case_page(request, v, case, error=problem_of(exc), status=status_of(exc), member_form={"user": user})
    return _case_page(request, v, file.case, added=user.strip())


@router.post("/export")
def export(request: Request, v: Signed, case: Annotated[str, Form()] = "") -> Response:
    """The case's confirmed identifications as a JSON download (operators; audited)."""
    try:
        result = v.engine.cases.export(case)
    except FacesearchError as exc:
        return _case_page(request, v, case, error=problem_of(exc), status=status_of(exc))
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in case.strip()) or "case"
    body = json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="facesearch-{name}-export.json"'},
    )
