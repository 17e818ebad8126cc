"""A private PostgreSQL server (with pgvector) for a benchmark run: started by scripts/postgres.sh in
a temporary folder, tuned, and stopped when the run ends.

The tuning is what a 1M-face HNSW graph needs on this machine, and is printed with the results:
``maintenance_work_mem`` large enough that CREATE INDEX builds the graph in memory (pgvector
warns and slows down by an order of magnitude once the graph outgrows it: about 1.2 GB at 1M
128-d vectors), and ``shared_buffers`` large enough to keep table and graph cached.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres.sh"
TUNING = {
    "shared_buffers": "4GB",
    "maintenance_work_mem": "4GB",
    "max_parallel_maintenance_workers": "1",  # two cores, shared: one helper beside the leader
    "work_mem": "64MB",
}


@contextmanager
def private_server(tuning: dict[str, str] | None = None) -> Iterator[str]:
    """The URL of database "facesearch" (vector extension created) on a server of our own."""
    root = Path(tempfile.mkdtemp(prefix="facesearch-bench-pg-"))
    root.chmod(0o755)  # the server runs as 'postgres' when we are root
    data = root / "data"

    def run(*args: str) -> str:
        done = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/postgres.sh {args[0]} failed: {done.stderr.strip()}")
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    try:
        url = run("start", str(data))
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                for name, value in (tuning or TUNING).items():
                    connection.execute(text(f"ALTER SYSTEM SET {name} = '{value}'"))
        finally:
            admin.dispose()
        run("stop", str(data))  # shared_buffers needs a restart
        url = run("start", str(data))
        yield url
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(data)], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
