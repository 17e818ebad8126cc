"""Bounded concurrency on one PostgreSQL gallery indexed by pgvector: 4 processes enrolling and 4
searching at once for 60 seconds (``FACESEARCH_CONCURRENCY_SECONDS`` may shorten it for a local
run; CI leaves it unset), from two home folders (two hosts: file locks of their own, the same keys).

The enrollers each offer photos of their own (variants of the sample photos, each file its own
bytes with one face) and first race on a few shared files, all offering the same file under the
same subject at the same moment. Afterwards: the audit chain verifies, every file enrolled is held
exactly once and has its one vector, every enrollment is audited once, and no request failed.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance
from sqlalchemy import create_engine, text

import facesearch
from facesearch.index.dbkeeper import TABLE
from facesearch.types import EnrollStatus

from helpers import staffed

pytestmark = [pytest.mark.slow, pytest.mark.model]

SECONDS_ENV = "FACESEARCH_CONCURRENCY_SECONDS"
ENROLLERS, SEARCHERS = 4, 4
OWN_FILES, SHARED_FILES = 40, 6  # more than an enroller gets through in 60 s on a busy 2-core machine


def _settings(url: str) -> facesearch.Settings:
    """pgvector on PostgreSQL, with the per-user search quotas and anomaly flags out of the way
    (the searchers search as fast as they can)."""
    return facesearch.Settings(
        database_url=url,
        index_backend="pgvector",
        search_quota_per_hour=0,
        search_quota_per_day=0,
        burst_searches=0,
        repeat_probe_searches=0,
    )


def _variant(source: Path, n: int) -> bytes:
    """Photo ``source`` changed a little (crop, brightness, size) so that its bytes are its own."""
    image = Image.open(source).convert("RGB")
    w, h = image.size
    dx, dy = 2 + n % 7, 2 + (n // 7) % 7
    image = image.crop((dx, dy, w - (n % 5) - 2, h - (n % 3) - 2))
    image = ImageEnhance.Brightness(image).enhance(0.9 + 0.005 * (n % 40))
    image = image.resize((image.width * (95 + n % 6) // 100, image.height * (95 + n % 6) // 100))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _enroller(home: str, url: str, n: int, files: list[str], barrier: Any, seconds: float, out: Any) -> None:
    report: dict[str, Any] = {"role": "enroller", "n": n, "requests": 0, "failures": [], "held": []}
    try:
        with facesearch.open(home, actor=f"enroller-{n}", settings=_settings(url)) as engine:
            barrier.wait(300)
            until = time.monotonic() + seconds
            for path in files:
                if time.monotonic() >= until:
                    break
                report["requests"] += 1
                try:
                    result = engine.enroll(path, subject=Path(path).stem, source="concurrency test", basis="consent")
                    for image in result.images:
                        if image.status in (EnrollStatus.ENROLLED, EnrollStatus.ALREADY_ENROLLED):
                            report["held"].append((image.sha256, image.status.value))
                except Exception:  # every failure is reported, none ends the run
                    report["failures"].append(f"{path}: {traceback.format_exc(limit=3)}")
    except Exception:
        report["failures"].append(traceback.format_exc())
    out.put(report)


def _searcher(home: str, url: str, n: int, probe: str, barrier: Any, seconds: float, out: Any) -> None:
    report: dict[str, Any] = {"role": "searcher", "n": n, "requests": 0, "failures": [], "held": []}
    try:
        with facesearch.open(home, actor=f"operator-{n}", settings=_settings(url)) as engine:
            barrier.wait(300)
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                report["requests"] += 1
                try:
                    result = engine.identify(probe, purpose="review", case=f"LOAD-{n}")
                    if not result.faces or not result.faces[0].candidates:
                        report["failures"].append("a search found no candidate")
                except Exception:
                    report["failures"].append(traceback.format_exc(limit=3))
    except Exception:
        report["failures"].append(traceback.format_exc())
    out.put(report)


def test_four_enrolling_and_four_searching_processes_for_a_minute(
    tmp_path: Path, postgres_url: str, photos: dict[str, Path]
) -> None:
    seconds = float(os.environ.get(SECONDS_ENV, "60"))
    settings = _settings(postgres_url)
    homes = [tmp_path / "host-a", tmp_path / "host-b"]
    with staffed(facesearch.init(homes[0], actor="founder", settings=settings)) as engine:
        for n in range(ENROLLERS):
            engine.accounts.add_user(f"enroller-{n}", "enroller")
        for n in range(SEARCHERS):
            engine.accounts.add_user(f"operator-{n}", "operator")
        engine.acting_as("enroller").enroll(
            photos["hopper"], subject="Grace Hopper", source="matplotlib sample", basis="public-task"
        )
    shutil.copytree(homes[0] / "keys", homes[1] / "keys")
    folder = tmp_path / "photos"
    folder.mkdir()
    sources = [photos["astronaut"], photos["hopper"]]
    shared = []
    for k in range(SHARED_FILES):
        shared.append(folder / f"shared-{k}.jpg")
        shared[-1].write_bytes(_variant(sources[k % 2], 1000 + k))
    lists = []
    for n in range(ENROLLERS):
        own = []
        for i in range(OWN_FILES):
            own.append(folder / f"person-{n}-{i}.jpg")
            own[-1].write_bytes(_variant(sources[(n + i) % 2], 50 * n + i))
        lists.append([str(p) for p in shared] + [str(p) for p in own])  # all race on the shared files first
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()]
    assert len(set(digests)) == len(digests), "every file must have bytes of its own"

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(ENROLLERS + SEARCHERS)
    out = context.Queue()
    workers = [
        context.Process(target=_enroller, args=(str(homes[n % 2]), postgres_url, n, lists[n], barrier, seconds, out))
        for n in range(ENROLLERS)
    ] + [
        context.Process(
            target=_searcher, args=(str(homes[n % 2]), postgres_url, n, str(photos["probe"]), barrier, seconds, out)
        )
        for n in range(SEARCHERS)
    ]
    for worker in workers:
        worker.start()
    reports = [out.get(timeout=600 + seconds) for _ in workers]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0

    failures = [f for r in reports for f in r["failures"]]
    assert failures == [], "\n".join(failures)
    searches = sum(r["requests"] for r in reports if r["role"] == "searcher")
    enrolled = {sha for r in reports for sha, status in r["held"] if status == "enrolled"}
    held = {sha for r in reports for sha, _ in r["held"]}
    assert searches >= SEARCHERS and len(enrolled) >= ENROLLERS  # each worker got work done
    raced = {hashlib.sha256(p.read_bytes()).hexdigest() for p in shared}
    assert raced <= held  # the shared files were all enrolled, by one process each:
    assert sum(1 for r in reports for sha, s in r["held"] if s == "enrolled" and sha in raced) == SHARED_FILES

    database = create_engine(postgres_url)
    try:
        with database.connect() as connection:
            images = connection.execute(text("SELECT sha256, count(*) FROM images GROUP BY sha256")).all()
            counts = {str(sha): int(c) for sha, c in images}
            faces = {int(i) for i in connection.execute(text("SELECT id FROM faces")).scalars()}
            vectors = {int(i) for i in connection.execute(text(f"SELECT id FROM {TABLE}")).scalars()}
            enrolls = connection.execute(
                text("SELECT count(*) FROM audit_events WHERE action = 'face.enroll'")
            ).scalar()
    finally:
        database.dispose()
    assert all(c == 1 for c in counts.values())  # no file enrolled twice
    assert held <= set(counts) and len(counts) == len(enrolled) + 1  # every one held, plus Grace Hopper's
    assert faces == vectors and len(faces) == len(counts)  # one face and one vector per file
    assert enrolls == len(counts)  # each enrollment audited once
    with facesearch.open(homes[1], actor="auditor", settings=settings) as engine:
        report = engine.audit_verify()
        assert report.ok, report
        searched = [e for e in engine.audit_events(action="search.identify") if e.actor.startswith("operator-")]
    assert len(searched) == searches
    print(f"{seconds:.0f} s: {len(enrolled)} files enrolled, {searches} searches, {report.events} audit events")
