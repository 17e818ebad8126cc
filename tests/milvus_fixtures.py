"""A real Milvus server for the tests, and one collection name per test.

The server is ``$FACESEARCH_TEST_MILVUS_URL`` when set (its files are then out of reach: the erasure
measurement skips), else a private server that ``scripts/milvus.sh start`` runs for the session and
stops at its end. Milvus binds every interface, so the script starts it only in a network namespace
whose sole interface is loopback: run the tests under ``scripts/milvus.sh isolated`` (CI does).
When no server can be had, tests that need Milvus skip with the reason; with
``FACESEARCH_REQUIRE_MILVUS=1`` (CI) they fail instead, so a broken server is never a quiet skip.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import server_missing

URL_ENV = "FACESEARCH_TEST_MILVUS_URL"
REQUIRE_ENV = "FACESEARCH_REQUIRE_MILVUS"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "milvus.sh"
# The garbage collection docs/scale-out.md (Milvus: erasure) asks of a deployment, in seconds here so
# that a test can watch a compacted segment's old files go.
ERASURE_CONFIG = "dataCoord.gc.interval=5 dataCoord.gc.dropTolerance=5"


@dataclasses.dataclass(frozen=True)
class MilvusServer:
    """A running server: its address, and the folder of its files when the tests started it."""

    url: str
    folder: Path | None


def unavailable(reason: str) -> None:
    server_missing(
        REQUIRE_ENV,
        f"Milvus is required ({REQUIRE_ENV}=1) but {reason}",
        f"no Milvus server: {reason} (run 'scripts/milvus.sh install', then the tests under "
        f"'scripts/milvus.sh isolated', or set {URL_ENV})",
    )


def check_settings(*settings: str) -> subprocess.CompletedProcess[str]:
    """``scripts/milvus.sh settings``: SETTINGS (KEY=VALUE) checked against the installed server's
    milvus.yaml, as ``start`` checks them; a skip (a failure in CI) when no server is installed."""
    env = {k: v for k, v in os.environ.items() if k != "FACESEARCH_MILVUS_CONFIG"}
    if subprocess.run(["bash", str(SCRIPT), "settings"], env=env, capture_output=True, timeout=60).returncode:
        unavailable("the server is not installed")
    return subprocess.run(
        ["bash", str(SCRIPT), "settings", *settings], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _only_loopback() -> bool:
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return all(line.split(":")[0].strip() == "lo" for line in lines)


@pytest.fixture(scope="session")
def milvus_server() -> Iterator[MilvusServer]:
    """A running Milvus server (standalone), started once for the session."""
    from facesearch.errors import MissingExtraError
    from facesearch.extras import require

    try:
        require("milvus", "the Milvus tests")
    except MissingExtraError as exc:
        unavailable(exc.message)
    if os.environ.get(URL_ENV):
        yield MilvusServer(os.environ[URL_ENV], None)
        return
    if not _only_loopback():
        unavailable("these tests do not run in a private network namespace, and Milvus binds every interface")
    root = Path(tempfile.mkdtemp(prefix="facesearch-milvus-"))
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(root / "server")],
            env={**os.environ, "FACESEARCH_MILVUS_CONFIG": ERASURE_CONFIG},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"scripts/milvus.sh start failed: {exc}")
    if started.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop", str(root / "server")], check=False, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
        last = (started.stderr.strip().splitlines() or ["(no output)"])[-1]
        unavailable(f"scripts/milvus.sh start exited {started.returncode}: {last}")
    try:
        yield MilvusServer(started.stdout.strip().splitlines()[-1], root / "server")
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(root / "server")], check=False, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def milvus_url(milvus_server: MilvusServer) -> str:
    return milvus_server.url


@pytest.fixture
def milvus_collection(milvus_server: MilvusServer) -> Iterator[str]:
    """A collection name of this test's own; its collections are dropped after it."""
    from facesearch.index.milvus import connect, pymilvus_module

    name = f"t_{secrets.token_hex(6)}"
    yield name
    utility = pymilvus_module().utility
    alias = connect(milvus_server.url)
    for found in utility.list_collections(using=alias):
        if found.startswith(name):
            utility.drop_collection(found, using=alias)
