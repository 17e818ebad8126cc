"""A bounded load test of the service: concurrent clients identifying over HTTP on loopback.

Builds (or reuses, under ``bench/out/load-<faces>/``) a gallery of N faces the way
bench/identify.py does: the two sample photos enrolled through the engine, N - 2 synthetic
templates inserted in bulk. The gallery's search quotas are lifted (``search_quota_per_hour = 0``
and ``search_quota_per_day = 0`` in its facesearch.toml), else the load test would be refused
after 120 searches, as any user would be.

Then, in the same run:

- the ceiling: the same identify done in process, ``Engine.identify`` called sequentially, for
  --seconds / 3 seconds (before the server starts, so the two do not compete);
- the service, once per --workers value (``facesearch serve --workers W``, default 1 then 2):
  started as a subprocess on 127.0.0.1 at a free port, each worker warmed up, and
  --clients concurrent clients (asyncio, one httpx connection each) posting the probe to
  ``POST /api/identify`` with an operator's token for --seconds seconds.

Prints requests, throughput, p50, p99 and max latency and the error count; exits 1 if any request
failed. Results also go to ``bench/out/load.json``.

    nice -n 10 python bench/load.py [--faces 100000] [--clients 20] [--seconds 30] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

import facesearch
from identify import fill, sample_photos  # bench/identify.py: the same gallery

OUT = Path(__file__).resolve().parent / "out"
PURPOSE, CASE = "load test", "LOAD-1"
OPERATOR = "analyst"  # the operator bench/identify.py's fill adds


def gallery(faces: int, seed: int) -> Path:
    """The home of a gallery with ``faces`` faces, built once and reused."""
    home = OUT / f"load-{faces}" / "home"
    photos = home.parent / "photos"
    if not (home / "ready").exists():
        if home.exists():
            raise SystemExit(f"{home} is a half-built gallery (no 'ready' file): delete {home.parent} and rerun")
        sample_photos(photos)
        with facesearch.init(home, actor="bench") as engine:  # bench administers the gallery
            engine.retention.set_period(3650)
            engine.purposes.add(PURPOSE)
        start = time.perf_counter()
        fill(home, photos, faces, seed)
        print(f"gallery of {faces:,} faces built in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        (home / "ready").write_text("")
    (home / "facesearch.toml").write_text("search_quota_per_hour = 0\nsearch_quota_per_day = 0\n")
    return home


def summary(name: str, latencies: list[float], seconds: float, errors: int) -> dict[str, Any]:
    ms = np.asarray(latencies) * 1e3 if latencies else np.asarray([float("nan")])
    return dict(
        system=name,
        requests=len(latencies) + errors,
        seconds=seconds,
        throughput=len(latencies) / seconds,
        p50_ms=float(np.median(ms)),
        p99_ms=float(np.percentile(ms, 99)),
        max_ms=float(ms.max()),
        errors=errors,
    )


def in_process(home: Path, probe: Path, seconds: float) -> dict[str, Any]:
    """The ceiling: Engine.identify, one call after another, in this process."""
    with facesearch.open(home, actor=OPERATOR) as engine:
        result = engine.identify(probe, purpose=PURPOSE, case=CASE)  # maps the index
        assert result.faces[0].candidates[0].subject == "Eileen Collins", result
        latencies: list[float] = []
        begin = time.perf_counter()
        while time.perf_counter() - begin < seconds:
            start = time.perf_counter()
            engine.identify(probe, purpose=PURPOSE, case=CASE)
            latencies.append(time.perf_counter() - start)
        took = time.perf_counter() - begin
    return summary("Engine.identify in process, sequential", latencies, took, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def clients(url: str, token: str, photo: bytes, n: int, seconds: float) -> tuple[list[float], int, list[str]]:
    latencies: list[float] = []
    problems: list[str] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    form = {"purpose": PURPOSE, "case": CASE}

    async def client(deadline: float) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    response = await http.post("/api/identify", files={"file": ("probe.jpg", photo)}, data=form)
                    ok = response.status_code == 200
                    detail = response.text[:300]
                except httpx.HTTPError as exc:
                    ok, detail = False, repr(exc)
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1
                    problems.append(detail)

    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(client(deadline) for _ in range(n)))
    return latencies, errors, problems


def served(home: Path, probe: Path, n: int, seconds: float, workers: int) -> tuple[dict[str, Any], list[str]]:
    with facesearch.open(home, actor="bench") as engine:  # OPERATOR's own token: a code, redeemed
        token = engine.signin.redeem(engine.accounts.invite(OPERATOR).code).token
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"FACESEARCH_HOME": str(home)}
    log = (OUT / "load-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "facesearch", "serve", "--port", str(port)] + ["--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):
            if server.poll() is not None:
                raise SystemExit(f"the server exited ({server.returncode}); see {log.name}")
            try:
                if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        photo = probe.read_bytes()
        warm = httpx.post(
            f"{url}/api/identify",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("probe.jpg", photo)},
            data={"purpose": PURPOSE, "case": CASE},
            timeout=120,
        )
        assert warm.status_code == 200, warm.text
        for _ in range(2 * workers):  # every worker loads its models before the clock starts
            httpx.post(
                f"{url}/api/identify",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("probe.jpg", photo)},
                data={"purpose": PURPOSE, "case": CASE},
                timeout=120,
            ).raise_for_status()
        begin = time.perf_counter()
        latencies, errors, problems = asyncio.run(clients(url, token, photo, n, seconds))
        took = time.perf_counter() - begin
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    system = f"POST /api/identify, {n} concurrent clients, {workers} worker process(es)"
    return summary(system, latencies, took, errors), problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="facesearch serve --workers, one row each")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if not (os.environ.get("FACESEARCH_MASTER_KEY") or os.environ.get("FACESEARCH_MASTER_KEY_FILE")):
        os.environ["FACESEARCH_MASTER_KEY_FILE"] = str(OUT / "load-master.key")  # not the user's own key
    home = gallery(args.faces, args.seed)
    probe = home.parent / "photos" / "probe.jpg"
    ceiling = in_process(home, probe, args.seconds / 3)
    rows, problems = [ceiling], []
    for workers in args.workers:
        service, seen = served(home, probe, args.clients, args.seconds, workers)
        rows.append(service)
        problems += seen
    table = Table(title=f"Identify under load: {args.faces:,}-face gallery, {os.cpu_count()} CPU cores")
    for column in ("system", "requests", "throughput req/s", "p50 ms", "p99 ms", "max ms", "errors"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for r in rows:
        table.add_row(
            r["system"],
            f"{r['requests']:,}",
            f"{r['throughput']:.2f}",
            f"{r['p50_ms']:.0f}",
            f"{r['p99_ms']:.0f}",
            f"{r['max_ms']:.0f}",
            str(r["errors"]),
        )
    console = Console(width=160)
    console.print(table)
    ratios = [r["throughput"] / ceiling["throughput"] for r in rows[1:]]
    for r, ratio in zip(rows[1:], ratios, strict=True):
        console.print(f"{r['system']}: throughput / in-process sequential throughput = {ratio:.2f}")
    for problem in problems[:5]:
        console.print(f"error: {problem}", highlight=False)
    (OUT / "load.json").write_text(json.dumps({"args": vars(args), "rows": rows, "ratios": ratios}, indent=1))
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
