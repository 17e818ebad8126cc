"""Signing in to the web UI, activating an account, signing out.

A user signs in with their own API token (``/login``), or activates their account with the
one-time code an admin gave them (``/activate``): the code becomes a token shown once on that page,
to them alone. Either way the browser gets a cookie holding the secret of a server-side session
(HttpOnly, SameSite=Strict, expiring with the session), never the token; the gallery keeps only the
secret's SHA-256. Signing out ends the session in the gallery, not only in the browser. Every step
is audited by the core (``session.start``, ``session.end``, ``activation.redeem``, failures of a
credential the gallery issued); an empty form or a credential it never issued is only counted.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from facesearch.errors import AuthenticationError, FacesearchError, PolicyError
from facesearch.governance.attempts import Unattributed
from facesearch.governance.credentials import WebSession
from facesearch.service.auth import COOKIE, engine_of
from facesearch.service.web.pages import WebRoute, render

router = APIRouter(include_in_schema=False, route_class=WebRoute)


def _error(exc: FacesearchError) -> dict[str, object]:
    return {"code": exc.code, "message": exc.message, "refused": isinstance(exc, PolicyError)}


def _keep(response: Response, request: Request, started: WebSession) -> Response:
    """Give the browser the session's secret, in a cookie no script can read, sent only to this
    site, dropped by the browser when the session expires."""
    response.set_cookie(
        COOKIE,
        started.secret,
        expires=started.expires_at,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return render(request, "login.html")


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Check the user's API token and start a session for them."""
    try:
        if not token.strip():
            engine_of(request).count_attempt(Unattributed.NO_CREDENTIAL)
            raise AuthenticationError("paste your API token (you get it by activating your account)")
        started = engine_of(request).signin.start_session(token)
    except AuthenticationError as exc:
        return render(request, "login.html", status=401, error=_error(exc))
    return _keep(RedirectResponse("/", status_code=303), request, started)


@router.get("/activate")
def activate_form(request: Request) -> Response:
    return render(request, "activate.html")


@router.post("/activate")
def activate(request: Request, code: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Exchange a one-time activation code for the user's own token, show it once, and sign them in."""
    engine = engine_of(request)
    try:
        if not code.strip():
            engine.count_attempt(Unattributed.NO_CREDENTIAL)
            raise AuthenticationError("paste the activation code your admin gave you")
        issued = engine.signin.redeem(code)
        started = engine.signin.start_session(issued.token)
        request.state.user = engine.signin.session_user(started.secret)
    except AuthenticationError as exc:
        return render(request, "activate.html", status=401, error=_error(exc))
    page = render(request, "activated.html", issued=issued, session_expires=started.expires_at)
    return _keep(page, request, started)


@router.api_route("/logout", methods=["GET", "POST"])
def logout(request: Request) -> Response:
    """End the session in the gallery, and drop the cookie."""
    secret = request.cookies.get(COOKIE)
    if secret:
        engine_of(request).signin.end_session(secret)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
