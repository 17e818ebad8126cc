"""facesearch serve: the REST API and web UI over this gallery."""

from __future__ import annotations

from typing import Annotated

import typer

from facesearch.cli.common import app, current_settings, err, handled, open_engine, opts


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; keep 127.0.0.1 behind a TLS proxy.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API (under /api/, described at /openapi.json) and the web UI. Requests
    authenticate with API tokens from 'facesearch tokens issue USER'."""
    import uvicorn

    from facesearch.service import create_app

    with handled():
        engine = open_engine()  # fail here, with the CLI's message, if the gallery cannot open
    try:
        application = create_app(opts.home, current_settings(), engine=engine.acting_as("facesearch-service"))
        err.print(f"facesearch serving {opts.home} on http://{host}:{port}/ (API docs at /api/docs)", highlight=False)
        uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)
    finally:
        engine.close()
