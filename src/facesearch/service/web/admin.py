"""The admin's pages: users, their activation codes and tokens; the purposes searches may serve;
the retention period, purge and legal holds; the opt-out list (recorded by enrollers).

Like every page they hold no rules: each calls the engine verb the API's route calls, acting as the
signed-in user, and the engine checks the role and audits. A page's list is read through the core
too, so a role that may not read it gets the core's refusal (403, audited) rather than an empty page.
An admin never sees a user's token: issuing an activation code shows the code, once, for the admin
to hand over; the user redeems it at ``/activate`` for a token only they see.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from facesearch.errors import FacesearchError, InputError, PolicyError
from facesearch.governance.policy import Permission, Role
from facesearch.service.problems import status_of
from facesearch.service.uploads import read_photo
from facesearch.service.web.pages import Signed, Viewer, WebRoute, error_page, problem_of, render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

Text = Annotated[str, Form()]


def _failed(request: Request, exc: FacesearchError, again: Any, **form: Any) -> Response:
    """A refusal under a rule is shown alone (the page's list may not be theirs to read); any other
    problem re-renders the page with the core's words and what was typed."""
    if isinstance(exc, PolicyError):
        return error_page(request, exc)
    result: Response = again(error=problem_of(exc), status=status_of(exc), form=form)
    return result


# --- users, activation codes, tokens --------------------------------------------------------


def _users_page(request: Request, v: Viewer, **context: Any) -> Response:
    status = context.pop("status", 200)
    context.setdefault("form", {})
    users = v.engine.accounts.users()
    tokens = v.engine.accounts.tokens()
    roles = [r.value for r in Role]
    return render(request, "admin_users.html", status=status, users=users, tokens=tokens, roles=roles, **context)


@router.get("/admin/users")
def users(request: Request, v: Signed) -> Response:
    return _users_page(request, v)


@router.post("/admin/users")
def add_user(request: Request, v: Signed, name: Text = "", role: Text = "") -> Response:
    try:
        if not role.strip():
            raise InputError("choose the new user's role")
        user = v.engine.accounts.add_user(name, role)
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _users_page(request, v, **c), name=name, role=role)
    return _users_page(request, v, added=user)


@router.post("/admin/users/invite")
def invite(request: Request, v: Signed, name: Text = "") -> Response:
    """A one-time activation code for the user, shown here once for the admin to hand over."""
    try:
        code = v.engine.accounts.invite(name)
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _users_page(request, v, **c))
    return _users_page(request, v, code=code)


@router.post("/admin/users/disable")
def disable_user(request: Request, v: Signed, name: Text = "", confirm: Text = "") -> Response:
    try:
        if not confirm:
            raise InputError(f"{name.strip()!r} not disabled: tick the box to confirm")
        revoked = v.engine.accounts.disable_user(name)
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _users_page(request, v, **c))
    return _users_page(request, v, disabled={"user": name.strip(), "tokens_revoked": revoked})


@router.post("/admin/tokens/revoke")
def revoke_token(request: Request, v: Signed, token_id: Text = "") -> Response:
    try:
        user = v.engine.accounts.revoke_token(token_id)
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _users_page(request, v, **c))
    return _users_page(request, v, revoked={"token_id": token_id.strip(), "user": user})


# --- purposes -------------------------------------------------------------------------------


def _purposes_page(request: Request, v: Viewer, **context: Any) -> Response:
    status = context.pop("status", 200)
    context.setdefault("form", {})
    v.engine.authorize(Permission.MANAGE_GALLERY)  # any role reads the list (to search); admins change it
    return render(request, "admin_purposes.html", status=status, purposes=v.engine.purposes.list(), **context)


@router.get("/admin/purposes")
def purposes(request: Request, v: Signed) -> Response:
    return _purposes_page(request, v)


@router.post("/admin/purposes")
def add_purpose(request: Request, v: Signed, name: Text = "", require_authorisation: Text = "") -> Response:
    try:
        added = v.engine.purposes.add(name, require_authorisation=bool(require_authorisation))
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _purposes_page(request, v, **c), name=name)
    return _purposes_page(request, v, added=added)


@router.post("/admin/purposes/remove")
def remove_purpose(request: Request, v: Signed, name: Text = "") -> Response:
    try:
        v.engine.purposes.remove(name)
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _purposes_page(request, v, **c))
    return _purposes_page(request, v, removed=name.strip())


# --- retention, purge, legal holds ----------------------------------------------------------


def _retention_page(request: Request, v: Viewer, **context: Any) -> Response:
    status = context.pop("status", 200)
    context.setdefault("form", {})
    holds = v.engine.retention.holds()  # admins and auditors; anyone else is refused here
    period = v.engine.retention.period()
    return render(request, "admin_retention.html", status=status, holds=holds, period=period, **context)


@router.get("/admin/retention")
def retention(request: Request, v: Signed) -> Response:
    return _retention_page(request, v)


@router.post("/admin/retention")
def set_retention(request: Request, v: Signed, days: Text = "") -> Response:
    try:
        if not days.strip().isdigit():
            raise InputError(f"a retention period is a whole number of days, not {days.strip()!r}")
        dated = v.engine.retention.set_period(int(days))
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _retention_page(request, v, **c), days=days)
    return _retention_page(request, v, period_set={"days": int(days), "images_dated": dated})


@router.post("/admin/purge")
def purge(request: Request, v: Signed, reason: Text = "", confirm: Text = "") -> Response:
    try:
        if not confirm:
            raise InputError("purge not run: tick the box to confirm that expired data is to be destroyed now")
        certificate = v.engine.retention.purge(reason=reason.strip() or "retention period expired")
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _retention_page(request, v, **c), reason=reason)
    return _retention_page(request, v, purged=certificate)


@router.post("/admin/holds")
def place_hold(request: Request, v: Signed, subject: Text = "", reference: Text = "") -> Response:
    try:
        hold = v.engine.retention.hold(subject, reference=reference)
    except FacesearchError as exc:
        form = {"subject": subject, "reference": reference}
        return _failed(request, exc, lambda **c: _retention_page(request, v, **c), **form)
    return _retention_page(request, v, held=hold)


@router.post("/admin/holds/release")
def release_hold(request: Request, v: Signed, subject: Text = "", reference: Text = "") -> Response:
    try:
        v.engine.retention.release(subject, reference=reference)
    except FacesearchError as exc:
        return _failed(request, exc, lambda **c: _retention_page(request, v, **c))
    return _retention_page(request, v, released={"subject": subject, "reference": reference.strip()})


# --- opt-outs -------------------------------------------------------------------------------


def _opt_outs_page(request: Request, v: Viewer, **context: Any) -> Response:
    status = context.pop("status", 200)
    context.setdefault("form", {})
    return render(request, "opt_outs.html", status=status, opt_outs=v.engine.opt_outs.list(), **context)


@router.get("/opt-outs")
def opt_outs(request: Request, v: Signed) -> Response:
    return _opt_outs_page(request, v)


@router.post("/opt-outs")
async def record_opt_out(
    request: Request,
    v: Signed,
    photo: Annotated[UploadFile | None, File()] = None,
    request_ref: Text = "",
) -> Response:
    """Put the person in the photo on the do-not-enroll list (enrollers; the photo is not kept)."""
    try:
        if photo is None or not photo.filename:
            raise InputError("choose a photo of the person who asked to opt out")
        data = await read_photo(photo, v.settings, "photo")
        recorded = await run_in_threadpool(lambda: v.engine.opt_outs.record(data, request_ref=request_ref))
    except FacesearchError as exc:
        failed = exc
        return await run_in_threadpool(
            lambda: _failed(request, failed, lambda **c: _opt_outs_page(request, v, **c), request_ref=request_ref)
        )
    return await run_in_threadpool(lambda: _opt_outs_page(request, v, recorded=recorded))
