"""Errors as RFC 9457 problem bodies (``application/problem+json``) naming the problem; never a
stack trace."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facesearch.errors import (
    AuthenticationError,
    CaseNotFoundError,
    ConfigError,
    FacesearchError,
    GalleryError,
    ImageTooLargeError,
    InputError,
    NominationNotFoundError,
    PolicyError,
    QuotaExceededError,
    StorageFullError,
    SubjectNotFoundError,
)

log = logging.getLogger("facesearch.service")

PROBLEM_JSON = "application/problem+json"

# The most specific class first.
STATUS: list[tuple[type[FacesearchError], int]] = [
    (AuthenticationError, 401),
    (QuotaExceededError, 429),
    (PolicyError, 403),
    (ImageTooLargeError, 413),
    (InputError, 422),
    (SubjectNotFoundError, 404),
    (NominationNotFoundError, 404),
    (StorageFullError, 507),
    (CaseNotFoundError, 404),
    (GalleryError, 409),
    (ConfigError, 500),
]


def status_of(exc: FacesearchError) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 400)


def problem(status: int, code: str, detail: str, *, title: str | None = None, **extra: Any) -> JSONResponse:
    """A problem response: ``type`` names the problem (``urn:facesearch:problem:<code>``), ``detail``
    says what went wrong in words a user can act on."""
    body = {
        "type": f"urn:facesearch:problem:{code}",
        "title": title or code.replace("-", " "),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def facesearch_problem(exc: FacesearchError) -> JSONResponse:
    extra: dict[str, Any] = {}
    if isinstance(exc, PolicyError):
        extra["rule"] = exc.rule
    response = problem(status_of(exc), exc.code, exc.message, **extra)
    if isinstance(exc, QuotaExceededError) and exc.retry_at is not None:
        wait = math.ceil((exc.retry_at - datetime.now(UTC)).total_seconds())
        response.headers["Retry-After"] = str(max(wait, 1))
    return response


def install(app: FastAPI) -> None:
    """Translate core errors, HTTP errors, validation errors and anything unexpected into problems."""

    @app.exception_handler(FacesearchError)
    async def _core(_: Request, exc: FacesearchError) -> JSONResponse:
        return facesearch_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not-found", 405: "method-not-allowed", 413: "request-too-large"}
        code = codes.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['where']}: {e['problem']}" for e in errors) or "the request is not valid"
        return problem(422, "invalid-request", detail, errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")  # the trace goes to the server's log, never to the client
        return problem(500, "internal-error", "the service failed unexpectedly; the event was logged")
