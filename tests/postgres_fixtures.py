"""A real PostgreSQL server for the tests, and one empty database per test.

The server is ``$FACESEARCH_TEST_POSTGRES_URL`` when set (a database on it that the tests may create
databases beside), else a private cluster that ``scripts/postgres.sh start`` runs for the session
and stops at its end. When neither can be had, tests that need PostgreSQL skip with the reason;
with ``FACESEARCH_REQUIRE_POSTGRES=1`` (CI) they fail instead, so a broken server is never a quiet
skip.

``FACESEARCH_TEST_DATABASE=postgresql`` puts every gallery the tests create through
:meth:`facesearch.Settings.load` on PostgreSQL (one database per test), to run the engine's own tests
there; settings a test passes explicitly keep SQLite. ``FACESEARCH_TEST_INDEX=pgvector`` with it
also indexes those galleries with pgvector (where their settings keep the default exact index).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from facesearch.config import Settings

from helpers import server_missing

URL_ENV = "FACESEARCH_TEST_POSTGRES_URL"
REQUIRE_ENV = "FACESEARCH_REQUIRE_POSTGRES"
DATABASE_ENV = "FACESEARCH_TEST_DATABASE"
INDEX_ENV = "FACESEARCH_TEST_INDEX"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres.sh"


def _unavailable(reason: str) -> None:
    server_missing(
        REQUIRE_ENV,
        f"PostgreSQL is required ({REQUIRE_ENV}=1) but {reason}",
        f"no PostgreSQL server: {reason} (run 'scripts/postgres.sh install', or set {URL_ENV})",
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a database on a running PostgreSQL server with pgvector available."""
    if os.environ.get(URL_ENV):
        yield os.environ[URL_ENV]
        return
    if shutil.which("runuser") is None and os.geteuid() == 0:
        _unavailable("runuser is missing (needed to run the server as 'postgres')")
    # Not under pytest's tmp folder: that is private to the user running the tests (root in CI),
    # and the server runs as 'postgres'.
    root = Path(tempfile.mkdtemp(prefix="facesearch-pg-"))
    root.chmod(0o755)
    data = root / "data"
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(data)], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"scripts/postgres.sh start failed: {exc}")
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        last = (started.stderr.strip().splitlines() or ["(no output)"])[-1]
        _unavailable(f"scripts/postgres.sh start exited {started.returncode}: {last}")
    if "pgvector is not installed" in started.stderr:
        subprocess.run(["bash", str(SCRIPT), "stop", str(data)], check=False)
        shutil.rmtree(root, ignore_errors=True)
        _unavailable("the server has no pgvector extension")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(data)], check=False, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database (with the vector extension) for one test; dropped after it."""
    server = make_url(postgres_server)
    name = f"t_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = server.set(database=name)
        database = create_engine(url)
        try:
            with database.begin() as connection:
                connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        finally:
            database.dispose()
        yield url.render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(autouse=True)
def gallery_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """With FACESEARCH_TEST_DATABASE=postgresql, galleries whose settings come from their home folder
    keep their tables in this test's PostgreSQL database."""
    if os.environ.get(DATABASE_ENV, "sqlite") != "postgresql":
        return
    url: str = request.getfixturevalue("postgres_url")
    load = Settings.load.__func__  # type: ignore[attr-defined]

    def on_postgres(cls: type[Settings], home: Path) -> Settings:
        settings: Settings = load(cls, home)
        if settings.database_url:
            return settings
        if os.environ.get(INDEX_ENV) == "pgvector" and settings.index_backend == "exact":
            return settings.replace(database_url=url, index_backend="pgvector")
        return settings.replace(database_url=url)

    monkeypatch.setattr(Settings, "load", classmethod(on_postgres))
