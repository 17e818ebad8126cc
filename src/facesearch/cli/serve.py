"""facesearch serve: the REST API and web UI over this gallery."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from facesearch.cli.common import app, current_settings, err, handled, open_gallery, opts
from facesearch.extras import require


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; keep 127.0.0.1 behind a TLS proxy.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes. Face detection runs on one core per process (dlib's models are not "
            "safe to share between threads), so use about one per core.",
        ),
    ] = 1,
) -> None:
    """Serve the REST API (under /api/, described at /openapi.json) and the web UI. Serving acts for
    no one and needs no token: each request carries its user's own (a bearer token for the API, a
    session for the web UI, signed in at /login or /activate)."""
    with handled():
        require("server", "facesearch serve")
    import uvicorn

    from facesearch.service import create_app
    from facesearch.service.app import SERVE_ENV

    with handled():
        engine = open_gallery()  # fail here, with the CLI's message, if the gallery cannot open
    err.print(
        f"facesearch serving {opts.home} on http://{host}:{port}/ (API docs at /api/docs), {workers} worker(s)",
        highlight=False,
    )
    if workers > 1:
        engine.close()  # each worker process opens its own
        os.environ[SERVE_ENV] = json.dumps({"home": str(opts.home), "overrides": opts.overrides})
        uvicorn.run(
            "facesearch.service.app:from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
        )
        return
    try:
        application = create_app(opts.home, current_settings(), engine=engine)
        uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)
    finally:
        engine.close()
