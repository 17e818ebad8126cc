"""Who a request acts for. The API takes a bearer token only: a browser's cookie is ignored under
``/api/``, so a page of another site cannot make a signed-in browser act through the API (it cannot
set the Authorization header of a cross-site request). The web UI's cookie holds a server-side
session (:mod:`facesearch.governance.signin`), never a token, and is read only by the UI's pages,
which refuse cross-site POSTs. Each request gets the engine acting for its user, so the core's role
matrix, audit and refusals apply exactly as in the CLI. A request refused for having no credential
names no one: it is counted (``no-credential``), not audited (see
:mod:`facesearch.governance.attempts`)."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from facesearch.engine import Engine
from facesearch.errors import AuthenticationError
from facesearch.governance import credentials
from facesearch.governance.attempts import Unattributed
from facesearch.governance.users import User

COOKIE = "facesearch_session"  # the web UI's session secret; the API never reads it
bearer = HTTPBearer(
    auto_error=False,
    description="Your own API token: redeem the activation code an admin gave you ('facesearch activate', "
    "POST /api/activate or the web UI's /activate).",
)
AUTH_REQUIRED = "authentication required: send 'Authorization: Bearer <token>'"


class TokenCache:
    """Argon2 makes checking a token deliberately slow (tens of ms). A token whose hash was verified
    is remembered, by its SHA-256, for ``ttl`` seconds; every request still re-reads the token's row
    and its user, so a revoked or expired token or a disabled user is refused at once."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._verified: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def user(self, engine: Engine, token: str) -> User:
        key = hashlib.sha256(token.strip().encode()).hexdigest()
        with self._lock:
            hit = self._verified.get(key)
        if hit is not None and time.monotonic() - hit[1] < self.ttl:
            with engine.store.transaction() as session:
                credential = credentials.revalidate(session, token, hit[0])
            if credential is not None:
                return credential.user
        user = engine.authenticate(token)  # audits a failure
        with self._lock:
            self._verified[key] = (user.name, time.monotonic())
        return user


def engine_of(request: Request) -> Engine:
    """The service's engine (acting as the service itself; use :func:`acting` in routes)."""
    engine: Engine = request.app.state.engine
    return engine


def token_of(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The request's bearer token; None without one. Cookies are not credentials of the API."""
    if credentials is not None and credentials.scheme.lower() == "bearer" and credentials.credentials.strip():
        return credentials.credentials
    return None


def no_credential(request: Request) -> AuthenticationError:
    """The refusal of a request without a token, counted (it names no one, so it is not audited)."""
    engine_of(request).count_attempt(Unattributed.NO_CREDENTIAL)
    refusal = AuthenticationError(AUTH_REQUIRED, reason="no-token")
    refusal.audited = True  # accounted for: counted
    return refusal


def presented_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """The bearer token itself (to rotate it); 401 without one (counted)."""
    token = token_of(credentials)
    if not token:
        raise no_credential(request)
    return token


def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    """The authenticated user; 401 problem otherwise: audited as ``auth.failed`` for a token the
    gallery issued, counted for none or one it never issued."""
    token = token_of(credentials)
    if not token:
        raise no_credential(request)
    cache: TokenCache = request.app.state.tokens
    return cache.user(engine_of(request), token)


def acting(request: Request, user: Annotated[User, Depends(current_user)]) -> Engine:
    """The engine acting for the request's user: every core call is checked and audited as them."""
    return engine_of(request).acting_as(user.name)


CurrentUser = Annotated[User, Depends(current_user)]
Acting = Annotated[Engine, Depends(acting)]


class CredentialsFirst:
    """ASGI middleware: an API request that carries a body but no Authorization header is answered
    401 before its body is read. FastAPI parses a request's form, spooling its uploads, before it
    resolves dependencies such as :func:`current_user`; this keeps anonymous clients from making the
    service receive photos; the refusal is counted (``no-credential``). Whether credentials are
    valid is still for :func:`current_user` to decide (and audit or count). ``open_paths`` are the
    API's routes that take no token (redeeming an activation code: the code is the credential)."""

    def __init__(self, app: ASGIApp, prefix: str = "/api/", open_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.prefix = prefix
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and path.startswith(self.prefix)
            and path not in self.open_paths
            and _has_body(scope)
        ):
            request = Request(scope)
            if not request.headers.get("authorization", "").strip():
                from facesearch.service.problems import problem

                engine: Engine | None = getattr(getattr(scope.get("app"), "state", None), "engine", None)
                if engine is not None:  # the application's engine (this middleware may wrap another app)
                    engine.count_attempt(Unattributed.NO_CREDENTIAL)
                await problem(401, AuthenticationError.code, AUTH_REQUIRED, rule=AuthenticationError.rule)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers", []))
    length = headers.get(b"content-length", b"0")
    return b"transfer-encoding" in headers or (length.isdigit() and int(length) > 0)
