"""The web UI: server-rendered pages over the same core as the API and the CLI.

Like them it holds no rules. A page authenticates the user from the HttpOnly cookie set at
``/login`` or ``/activate`` (:mod:`facesearch.service.web.signin`): the secret of a server-side
session, never a token. It calls the engine acting for them and renders what comes back.
The engine checks every role and audits every refusal; the UI uses the role matrix only to decide
which links and forms to show. Core errors re-render the page with the core's code and message;
a page asked for without a valid cookie redirects to ``/login``.

Probe photos are never stored nor served by URL: the result page carries the photo inline (a
``data:`` URI in an inline SVG, with each face boxed). Enrolled face crops are served, to
authenticated users whose role allows it, by ``/faces/{id}/thumbnail``, and the crop of the probe
face a nomination was made for (the only part of a probe kept, sealed, with its case) by
``/nominations/{id}/probe``, side by side on the verifier's queue; the engine audits every view.

Cross-site requests: the cookie is ``SameSite=Strict``, and a POST whose ``Origin`` (or, without
one, ``Referer``) names another host is refused before it reaches the core.

This module holds what every page shares (the route class, who is looking, rendering and its
filters), the images, the audit log and the evaluation; the pages of each job live beside it:
:mod:`~facesearch.service.web.search` (identify, verify, nominate), :mod:`~facesearch.service.web.casework`
(the queue, cases), :mod:`~facesearch.service.web.clusters` (collections, their clusters and
corrections, a cluster searched), :mod:`~facesearch.service.web.gallery` (subjects),
:mod:`~facesearch.service.web.admin` (users and tokens, purposes, retention and holds, opt-outs) and
:mod:`~facesearch.service.web.signin`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import AuthenticationError, FacesearchError, PolicyError
from facesearch.evaluation import history
from facesearch.governance.attempts import Unattributed
from facesearch.governance.audit import AuditAction
from facesearch.governance.policy import ROLE_MATRIX, Permission
from facesearch.governance.users import User
from facesearch.reports.model_card import build_model_card
from facesearch.reports.rendering import STYLESHEET
from facesearch.service.auth import COOKIE, engine_of
from facesearch.service.problems import status_of

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")

CANDIDATE_NOTICE = "candidate — not an identification; two separate confirmations are required before any action"
PREVIEW_SIDE = 640  # the inline probe preview's longer side, in pixels (shown at most 280 px wide)
AUDIT_ROWS = 50  # events per page of the audit log

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


class LoginRequired(Exception):
    """A page was asked for without a valid session cookie."""


def _same_origin(request: Request) -> bool:
    """False when the request's Origin (or, lacking one, its Referer) names another host than the
    one it was sent to. Requests with neither header are let through (the cookie is SameSite=Strict)."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    host = request.headers.get("host", "")
    return bool(host) and urlsplit(claimed).netloc.lower() == host.lower()


def _to_login(request: Request, *, clear: bool) -> Response:
    if request.url.path.startswith(
        ("/faces/", "/nominations/", "/collection-faces/")
    ):  # an image: no page to go back to
        response: Response = Response(status_code=401, headers={"Cache-Control": "no-store"})
    else:
        response = RedirectResponse("/login", status_code=303)
    if clear:
        response.delete_cookie(COOKIE, path="/")
    return response


class WebRoute(APIRoute):
    """A page route: cross-site POSTs refused, no session sent to /login, core errors and invalid
    forms rendered as a page naming the problem (never a trace), safe headers on every response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            if request.method == "POST" and not _same_origin(request):
                engine_of(request).count_attempt(Unattributed.CROSS_SITE)  # names no one: counted
                response = render(
                    request,
                    "error.html",
                    status=403,
                    code="cross-site-request",
                    message="refused: this form was sent from another site",
                )
            else:
                try:
                    response = await handler(request)
                except LoginRequired:
                    return _to_login(request, clear=False)
                except AuthenticationError:
                    return _to_login(request, clear=True)
                except FacesearchError as exc:
                    response = error_page(request, exc)
                except RequestValidationError as exc:
                    problems = "; ".join(
                        f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}" for e in exc.errors()
                    )
                    response = render(request, "error.html", status=422, code="invalid-request", message=problems)
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return route


router = APIRouter(include_in_schema=False, route_class=WebRoute)


# --- who is looking -------------------------------------------------------------------------


def web_user(request: Request) -> User:
    """The user of the session cookie: LoginRequired without one, AuthenticationError (audited by
    the engine) for a session that is not, or no longer, live."""
    secret = request.cookies.get(COOKIE)
    if not secret:
        raise LoginRequired()
    user = engine_of(request).signin.session_user(secret)
    request.state.user = user
    return user


@dataclasses.dataclass(frozen=True)
class Viewer:
    """The signed-in user and the engine acting for them."""

    user: User
    engine: Engine

    @property
    def settings(self) -> Settings:
        return self.engine.settings


def viewer(request: Request, user: Annotated[User, Depends(web_user)]) -> Viewer:
    return Viewer(user, engine_of(request).acting_as(user.name))


Signed = Annotated[Viewer, Depends(viewer)]
Page = Annotated[int, Query(ge=1, le=1_000_000)]  # the page number of a list shown a page at a time


def permissions(user: User | None) -> set[str]:
    """The names of the permissions the user's role grants (``IDENTIFY``, ``CONFIRM``...): the
    templates decide from them which links and forms to show; the engine decides what is allowed."""
    return set() if user is None else {p.name for p in ROLE_MATRIX[user.role]}


# The pages whose link a role sees: those whose main call its permissions may make.
PAGES: dict[str, set[str]] = {
    "search": {"IDENTIFY"},
    "verify": {"VERIFY"},
    "queue": {"CONFIRM"},
    "cases": {"NOMINATE", "EXPORT", "MANAGE_GALLERY", "READ_AUDIT"},
    "collections": {"CLUSTER", "READ_REPORTS"},
    "subjects": {"MANAGE_GALLERY", "ENROLL", "READ_REPORTS"},
    "opt_outs": {"RECORD_OPT_OUT", "MANAGE_GALLERY", "READ_REPORTS"},
    "users": {"MANAGE_USERS"},
    "purposes": {"MANAGE_GALLERY"},
    "retention": {"HOLD", "READ_REPORTS"},
    "audit": {"READ_AUDIT"},
    "evaluation": {"READ_REPORTS", "MANAGE_GALLERY"},
}


# --- rendering ------------------------------------------------------------------------------


def render(request: Request, name: str, *, status: int = 200, **context: Any) -> Response:
    user: User | None = getattr(request.state, "user", None)
    can = permissions(user)
    pages = {page: bool(can & needs) for page, needs in PAGES.items()}
    context.update(user=user, can=can, pages=pages, candidate_notice=CANDIDATE_NOTICE)
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status)


def error_page(request: Request, exc: FacesearchError) -> Response:
    refused = isinstance(exc, PolicyError)
    return render(request, "error.html", status=status_of(exc), code=exc.code, message=exc.message, refused=refused)


def problem_of(exc: FacesearchError) -> dict[str, Any]:
    """A core error as a form shows it: its code, its words, whether it is a refusal."""
    return {"code": exc.code, "message": exc.message, "refused": isinstance(exc, PolicyError)}


def _json(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False, default=str)


TEMPLATES.env.filters["json"] = _json


def tidy(value: Any) -> Any:
    """VALUE with every float in it (in dicts and lists too) rounded to 4 significant figures, for
    pages that show measured figures (0.9833333333333333 reads 0.9833); kept files keep them whole."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, Mapping):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [tidy(v) for v in value]
    return value


TEMPLATES.env.filters["tidy"] = tidy


def _score(value: float) -> str:
    return f"{value:.4f}"


TEMPLATES.env.filters["score"] = _score


def one_in(rate: float | None) -> str:
    """A rate in one format everywhere on the pages: "1 in 250,000" (two significant figures),
    "6 in 10" from one in ten up, "never measured" for none (None or 0)."""
    if rate is None or rate <= 0:
        return "never measured"
    if rate >= 0.1:
        return f"{min(10, round(rate * 10))} in 10"
    odds = 1 / rate
    digits = max(0, len(str(int(odds))) - 2)
    return f"1 in {int(round(odds, -digits)):,}"


TEMPLATES.env.filters["one_in"] = one_in


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


TEMPLATES.env.filters["when"] = _when


def readable(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An audit event's details as (label, value) lines: words for keys, lists by their length,
    hashes (64 hex characters) shortened; the event itself keeps everything."""
    lines = []
    for key, value in details.items():
        if isinstance(value, list | tuple):
            simple = len(value) <= 3 and not any(isinstance(v, Mapping | list | tuple) for v in value)
            shown = ", ".join(str(v) for v in value) if simple else f"{len(value)} item{'s' * (len(value) != 1)}"
        elif isinstance(value, str) and len(value) == 64:
            shown = value[:12] + "…"
        elif isinstance(value, Mapping):
            shown = json.dumps(value, ensure_ascii=False, default=str)
        elif value is None:
            shown = "-"
        else:
            shown = str(value)
        lines.append((key.replace("_", " "), shown))
    return lines


TEMPLATES.env.filters["readable"] = readable


@router.get("/static/facesearch.css")
def stylesheet() -> Response:
    return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/")
def home(request: Request, v: Signed) -> Response:
    return render(request, "home.html", role_permissions=sorted(p.value for p in ROLE_MATRIX[v.user.role]))


# --- images the pages show --------------------------------------------------------------


@router.get("/faces/{face_id}/thumbnail")
def thumbnail(face_id: int, v: Signed) -> Response:
    """An enrolled face's kept crop (operators, verifiers, admins; the engine audits the view)."""
    crop = v.engine.face_thumbnail(face_id)
    if crop is None:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    return Response(crop, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.get("/nominations/{nomination_id}/probe")
def probe_face(nomination_id: int, v: Signed) -> Response:
    """The kept crop of the probe face a nomination was made for (verifiers for their queue, the
    case's members, admins; the engine audits the view)."""
    crop = v.engine.cases.probe_face(nomination_id)
    if crop is None:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    return Response(crop, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


# --- audit, evaluation, model card ----------------------------------------------------------


@router.get("/audit")
def audit(
    request: Request,
    v: Signed,
    action: Annotated[str, Query(max_length=64)] = "",
    case: Annotated[str, Query(max_length=200)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The audit log newest first, a page at a time (``before``: the page starts below this event
    number), optionally of one action or case, under the hash chain's status."""
    # Recomputing the chain reads the whole log: done for the newest page, not again for each older one.
    chain = v.engine.audit_verify() if before is None else None
    events = v.engine.audit_events(
        action=action.strip() or None, case=case.strip() or None, before=before, limit=AUDIT_ROWS + 1, newest_first=True
    )
    shown = events[:AUDIT_ROWS]
    older = shown[-1].seq if len(events) > AUDIT_ROWS else None
    return render(
        request,
        "audit.html",
        chain=chain,
        events=shown,
        older=older,
        before=before,
        actions=[a.value for a in AuditAction],
        action=action,
        case=case,
    )


def _newest(paths: Iterable[Path]) -> Path | None:
    found = [p for p in paths if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def _report_file(engine: Engine) -> Path | None:
    """The newest HTML evaluation report kept in the home's evaluations folder, if any."""
    folder = engine.home.evaluations_dir
    return _newest(folder.rglob("*.html")) if folder.is_dir() else None


@router.get("/evaluation")
def evaluation(request: Request, v: Signed) -> Response:
    """The latest evaluation's figures, its HTML report when kept, and the model card."""
    v.engine.authorize(Permission.READ_REPORTS, Permission.MANAGE_GALLERY)
    latest = history.latest(v.engine.home.evaluations_dir, v.engine.spec.model_id)
    card = build_model_card(v.engine.spec, latest_evaluation=latest, calibration=v.engine.calibration())
    return render(request, "evaluation.html", card=card.to_dict(), latest=latest, report_file=_report_file(v.engine))


@router.get("/evaluation/report")
def evaluation_report(v: Signed) -> Response:
    v.engine.authorize(Permission.READ_REPORTS, Permission.MANAGE_GALLERY)
    path = _report_file(v.engine)
    if path is None:
        return Response("no HTML evaluation report is kept in this home", status_code=404, media_type="text/plain")
    # The report is self-contained: inline styles, figures as data: PNGs, no scripts.
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
    return FileResponse(path, media_type="text/html", headers={"Content-Security-Policy": policy})
