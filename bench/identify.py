"""Identify against a gallery of N faces, photo in to candidates out.

Builds a gallery home: the two sample photos are enrolled through the engine (the probe's mate is
one of them), then N - 2 synthetic templates (see bench/search.py) are inserted straight into the
gallery's tables in bulk, each as a subject "synthetic 0000123" with source "synthetic benchmark
templates" (the engine would need a photo per face). For each --backends index it then measures:

- the index build from the gallery (``facesearch index rebuild``);
- cold: ``facesearch identify PROBE --json`` as a new process (Python start, model load, index
  open, search, candidate lookup, audit event), wall time;
- warm: ``Engine.identify`` in one process, p50 and p99 over --repeats calls, and its top
  candidate.

The peer, in the same run: ``face_recognition.face_encodings`` of the probe, ``face_distance``
against all N known encodings (a float64 array, as its users keep them) and an argsort.

    python bench/identify.py [--faces 1000000] [--backends exact ivf] [--repeats 20]
    python bench/identify.py --backends pgvector --no-peer   # gallery on PostgreSQL, searched by pgvector

``--database postgresql`` (implied by the pgvector backend) puts the gallery's tables on a private
PostgreSQL server this script starts and stops (bench/pgserver.py); the file indexes work there too.

Results: a table on stdout and ``bench/out/identify.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, text

import facesearch
from facesearch.gallery.schema import FaceRow, ImageRow, SubjectRow
from facesearch.gallery.seals import face_embedding_context
from pgserver import private_server
from search import templates  # bench/search.py: the same synthetic templates

OUT = Path(__file__).resolve().parent / "out"
BIN = Path(sys.executable).parent
FIRST_ID = 1_000  # synthetic rows start here, above the two real enrollments
CHUNK = 50_000


def own_token(home: Path, admin: str, user: str) -> str:
    """USER's own API token, as they would get it: a code ADMIN issues, which USER redeems (the CLI
    and the service act only with a user's own token)."""
    with facesearch.open(home, actor=admin) as engine:
        return engine.signin.redeem(engine.accounts.invite(user).code).token


def sample_photos(folder: Path) -> None:
    subprocess.run(
        [sys.executable, str(Path(__file__).parents[1] / "scripts/sample_photos.py"), str(folder)], check=True
    )


def fill(home: Path, photos: Path, n: int, seed: int) -> float:
    """Enroll the two real photos, then insert n - 2 synthetic faces; returns seconds taken."""
    start = time.perf_counter()
    with facesearch.open(home, actor="bench") as engine:
        engine.accounts.add_user("loader", "enroller")
        engine.accounts.add_user("analyst", "operator")
        engine.retention.set_period(3650)  # a gallery takes no enrollment before it has one
        engine.purposes.add("benchmark")  # nor answers a search for an undeclared purpose
        loader = engine.acting_as("loader")
        loader.enroll(photos / "astronaut.jpg", subject="Eileen Collins", source="scikit-image sample", basis="consent")
        loader.enroll(photos / "hopper.jpg", subject="Grace Hopper", source="matplotlib sample", basis="public-task")
        model_id = engine.spec.model_id
        data = templates(n - 2, seed)
        now = datetime.now(UTC)
        with engine.store.engine.begin() as conn:
            for begin in range(0, n - 2, CHUNK):
                ids = range(FIRST_ID + begin, FIRST_ID + min(n - 2, begin + CHUNK))
                conn.execute(
                    insert(SubjectRow),
                    [dict(id=secrets.token_hex(16), name=f"synthetic {i:08d}", created_at=now) for i in ids],
                )
                # subjects get random ids; look them up by name for the images
                names = {f"synthetic {i:08d}": i for i in ids}
                rows = conn.execute(
                    text("SELECT id, name FROM subjects WHERE name >= :a AND name <= :b"),
                    {"a": f"synthetic {ids[0]:08d}", "b": f"synthetic {ids[-1]:08d}"},
                ).all()
                subject_of = {names[name]: sid for sid, name in rows}
                conn.execute(
                    insert(ImageRow),
                    [
                        dict(
                            id=i,
                            subject_id=subject_of[i],
                            sha256=f"{i:064x}",
                            filename=f"{i}.jpg",
                            source="synthetic benchmark templates",
                            lawful_basis="legitimate-interest",
                            enrolled_at=now,
                            enrolled_by="bench",
                            retain_until=None,
                            width=250,
                            height=250,
                        )
                        for i in ids
                    ],
                )
                conn.execute(
                    insert(FaceRow),
                    [
                        dict(
                            id=i,
                            image_id=i,
                            box_left=0,
                            box_top=0,
                            box_right=100,
                            box_bottom=100,
                            landmarks="[]",
                            detector="synthetic",
                            detector_score=1.0,
                            face_px=100,
                            sharpness=100.0,
                            model_id=model_id,
                            embedding=engine.store.seal(
                                data[i - FIRST_ID].astype("<f4").tobytes(), context=face_embedding_context(i)
                            ),
                            crop_jpeg=None,
                        )
                        for i in ids
                    ],
                )
        with engine.store.transaction() as session:
            engine.store.bump_generation(session)
            engine.store.recompute_content_hash(session)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--backends", nargs="+", default=["exact", "ivf"], choices=["exact", "hnsw", "ivf", "pgvector"])
    ap.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite", help="where the gallery lives")
    ap.add_argument("--no-peer", action="store_true", help="skip face_recognition's way")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fs-identify-"))
    if not (os.environ.get("FACESEARCH_MASTER_KEY") or os.environ.get("FACESEARCH_MASTER_KEY_FILE")):
        os.environ["FACESEARCH_MASTER_KEY_FILE"] = str(work / "master.key")  # not the user's own key
    rows: list[dict[str, Any]] = []
    server = contextlib.ExitStack()
    try:
        photos, home = work / "photos", work / "home"
        sample_photos(photos)
        database = ""
        if args.database == "postgresql" or "pgvector" in args.backends:
            database = f'database_url = "{server.enter_context(private_server())}"\n'
        home.mkdir()
        (home / "facesearch.toml").write_text(database)
        facesearch.init(home, actor="bench").close()  # bench administers the gallery
        filled = fill(home, photos, args.faces, args.seed)
        probe = photos / "probe.jpg"
        for backend in args.backends:
            (home / "facesearch.toml").write_text(f'{database}index_backend = "{backend}"\n')
            env = os.environ | {"FACESEARCH_HOME": str(home), "FACESEARCH_TOKEN": own_token(home, "bench", "bench")}
            start = time.perf_counter()
            rebuild = [str(BIN / "facesearch"), "index", "rebuild"]
            subprocess.run(rebuild, env=env, check=True, capture_output=True)
            build = time.perf_counter() - start
            env |= {"FACESEARCH_TOKEN": own_token(home, "bench", "analyst")}
            start = time.perf_counter()
            cold = subprocess.run(
                [str(BIN / "facesearch"), "identify", str(probe), "--purpose", "benchmark"]
                + ["--case", "B-1", "--json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            cold_s = time.perf_counter() - start
            cold_top = json.loads(cold.stdout)["faces"][0]["candidates"][0]["subject"]
            with facesearch.open(home, actor="analyst") as engine:
                engine.identify(probe, purpose="benchmark", case="B-1")  # first call maps the index
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    result = engine.identify(probe, purpose="benchmark", case="B-1")
                    times.append(time.perf_counter() - start)
                size = result.gallery_size
            rows.append(
                dict(
                    system=f"facesearch identify ({backend} index)",
                    n=size,
                    build_s=build,
                    cold_s=cold_s,
                    p50_ms=1e3 * float(np.median(times)),
                    p99_ms=1e3 * float(np.percentile(times, 99)),
                    top=result.faces[0].candidates[0].subject,
                    cold_top=cold_top,
                )
            )
        if not args.no_peer:
            rows.append(peer(photos, args.faces, args.seed, args.repeats))
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    table = Table(title=f"Identify, photo in to candidates out ({filled:.0f} s to fill the gallery)")
    for col in ("system", "gallery faces", "index build s", "cold process s", "warm p50 ms", "warm p99 ms", "top"):
        table.add_column(col, justify="left" if col in ("system", "top") else "right")
    for r in rows:
        table.add_row(
            r["system"],
            f"{r['n']:,}",
            f"{r['build_s']:.1f}",
            f"{r['cold_s']:.2f}",
            f"{r['p50_ms']:.0f}",
            f"{r['p99_ms']:.0f}",
            r["top"],
        )
    Console(width=160).print(table)
    if database:
        print("gallery on PostgreSQL (bench/pgserver.py tuning)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "identify.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


def peer(photos: Path, n: int, seed: int, repeats: int) -> dict[str, Any]:
    """face_recognition's way, over the same templates (float64) plus the two real encodings."""
    import face_recognition

    start = time.perf_counter()
    real = [
        face_recognition.face_encodings(face_recognition.load_image_file(str(photos / f)))[0]
        for f in ("astronaut.jpg", "hopper.jpg")
    ]
    known = np.vstack([np.asarray(real), templates(n - 2, seed).astype(np.float64)])
    names = ["Eileen Collins", "Grace Hopper"]
    build = time.perf_counter() - start
    times, top = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        image = face_recognition.load_image_file(str(photos / "probe.jpg"))
        encoding = face_recognition.face_encodings(image)[0]
        top = int(np.argsort(face_recognition.face_distance(known, encoding))[0])
        times.append(time.perf_counter() - start)
    return dict(
        system="face_recognition (peer)",
        n=len(known),
        build_s=build,
        cold_s=float("nan"),
        p50_ms=1e3 * float(np.median(times)),
        p99_ms=1e3 * float(np.percentile(times, 99)),
        top=names[top] if top < 2 else f"synthetic {top}",
        cold_top="",
    )


if __name__ == "__main__":
    raise SystemExit(main())
