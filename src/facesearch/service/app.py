"""The FastAPI application: one engine for the gallery, shared by every request, which acts for the
request's authenticated user."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from facesearch import __version__, lifecycle
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.service import problems
from facesearch.service.api import routes as api
from facesearch.service.auth import CredentialsFirst, TokenCache
from facesearch.service.uploads import BodyLimit, request_limit, video_limits
from facesearch.service.web import admin as web_admin
from facesearch.service.web import casework as web_casework
from facesearch.service.web import clusters as web_clusters
from facesearch.service.web import gallery as web_gallery
from facesearch.service.web import pages as web
from facesearch.service.web import search as web_search
from facesearch.service.web import signin as web_signin

SERVICE_ACTOR = "facesearch-service"

DESCRIPTION = (
    "Accountable face search. Every request acts for the user of its bearer token, under that "
    "user's role; cookies are not read under /api/. Each user gets their token by redeeming the "
    "one-time activation code an admin gave them (POST /api/activate); no one else ever sees it. "
    "Searches need a purpose the gallery allows and a case; they answer with candidates, not "
    "identifications: two separate confirmations are required before any action. "
    "Errors are application/problem+json bodies that name the problem."
)


def create_app(
    home: str | Path,
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
) -> FastAPI:
    """The service for the gallery in HOME. The gallery is opened when the application starts and
    closed when it stops; pass ``engine`` to serve one that is already open (it is left open). The
    service acts for no one: each request is served by the engine acting for its own user, and what
    the service does before it knows who that is (a credential refused) is done as ``facesearch-service``."""
    settings = settings or (engine.settings if engine is not None else Settings.load(Path(home)))
    if engine is not None:
        engine = engine.acting_as(SERVICE_ACTOR)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = engine is None
        app.state.engine = engine or lifecycle.open_engine(home, actor=SERVICE_ACTOR, settings=settings)
        try:
            yield
        finally:
            if own:
                app.state.engine.close()

    app = FastAPI(
        title="facesearch",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    if engine is not None:
        app.state.engine = engine  # usable before (or without) the lifespan, as by in-process test clients
    app.state.tokens = TokenCache()
    app.add_middleware(BodyLimit, max_bytes=request_limit(settings), larger=video_limits(settings))
    # outermost: anonymous bodies are not even counted (but redeeming a code takes no token)
    app.add_middleware(CredentialsFirst, open_paths=frozenset({"/api/activate"}))
    problems.install(app)
    app.include_router(api.router, prefix="/api")
    app.include_router(web_signin.router)
    app.include_router(web_search.router)
    app.include_router(web_admin.router)
    app.include_router(web_casework.router)
    app.include_router(web_clusters.router)
    app.include_router(web_gallery.router)
    app.include_router(web.router)
    return app


SERVE_ENV = "FACESEARCH_SERVE"  # {"home": ..., "overrides": {...}} for worker processes


def from_environment() -> FastAPI:
    """The application each of uvicorn's worker processes builds (``facesearch serve --workers N``):
    the gallery and setting overrides come from ``$FACESEARCH_SERVE``; each worker opens its own
    engine. Processes share a gallery as CLI processes do (the home's lock, the index re-synced
    from disk, or PostgreSQL's advisory lock)."""
    spec = json.loads(os.environ[SERVE_ENV])
    home = Path(spec["home"])
    return create_app(home, Settings.load(home).replace(**spec.get("overrides", {})))
