"""Who a request acts for: a bearer token (API) or the same token kept in an HttpOnly cookie (web
UI), checked against the gallery's users and tokens. Each request gets the engine acting for its
user, so the core's role matrix, audit and refusals apply exactly as in the CLI."""

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
from facesearch.governance import accounts
from facesearch.governance.users import User

COOKIE = "facesearch_token"
bearer = HTTPBearer(auto_error=False, description="An API token from 'facesearch tokens issue USER'.")


class TokenCache:
    """Argon2 makes checking a token deliberately slow (tens of ms). A token whose hash was verified
    is remembered, by its SHA-256, for ``ttl`` seconds; every request still re-reads the token's row
    and its user, so a revoked token or a disabled user is refused at once."""

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
                user = accounts.revalidate(session, token, hit[0])
            if user is not None:
                return user
        user = engine.authenticate(token)  # audits a failure
        with self._lock:
            self._verified[key] = (user.name, time.monotonic())
        return user


def engine_of(request: Request) -> Engine:
    """The service's engine (acting as the service itself; use :func:`acting` in routes)."""
    engine: Engine = request.app.state.engine
    return engine


def token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return credentials.credentials
    return request.cookies.get(COOKIE)


def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    """The authenticated user; 401 problem (audited as ``auth.failed``) otherwise."""
    token = token_of(request, credentials)
    if not token:
        raise AuthenticationError("authentication required: send 'Authorization: Bearer <token>'")
    cache: TokenCache = request.app.state.tokens
    return cache.user(engine_of(request), token)


def acting(request: Request, user: Annotated[User, Depends(current_user)]) -> Engine:
    """The engine acting for the request's user: every core call is checked and audited as them."""
    return engine_of(request).acting_as(user.name)


CurrentUser = Annotated[User, Depends(current_user)]
Acting = Annotated[Engine, Depends(acting)]


class CredentialsFirst:
    """ASGI middleware: an API request that carries a body but no credentials at all (no bearer
    header, no session cookie) is answered 401 before its body is read. FastAPI parses a request's
    form, spooling its uploads, before it resolves dependencies such as :func:`current_user`; this
    keeps anonymous clients from making the service receive photos. Whether credentials are valid
    is still for :func:`current_user` to decide (and audit)."""

    def __init__(self, app: ASGIApp, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix) and _has_body(scope):
            request = Request(scope)
            if not request.headers.get("authorization", "").strip() and not request.cookies.get(COOKIE):
                from facesearch.service.problems import problem

                detail = "authentication required: send 'Authorization: Bearer <token>'"
                await problem(401, AuthenticationError.code, detail, rule=AuthenticationError.rule)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers", []))
    length = headers.get(b"content-length", b"0")
    return b"transfer-encoding" in headers or (length.isdigit() and int(length) > 0)
