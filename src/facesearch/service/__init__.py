"""The service front end: a REST API under ``/api/`` and a web UI, over the same core as the CLI.

Create the application with :func:`create_app`; ``facesearch serve`` runs it under uvicorn. Like
the CLI, it holds no rules: it authenticates the request's user, calls the engine acting for that
user, and renders what comes back (errors as JSON problem bodies, never a stack trace).
"""

from __future__ import annotations

from facesearch.extras import require

require("server", "facesearch's service (the REST API and web UI)")

from facesearch.service.app import create_app  # noqa: E402  (after the check: it imports FastAPI)

__all__ = ["create_app"]
