"""Ingestion speed: ``facesearch enroll-dir`` against the ``face_recognition`` CLI on the same photos.

Takes the first --photos LFW photos (identities in name order), links them into a per-identity
folder for facesearch and one flat folder for the peer, and times, as separate processes (model
loading included):

- the peer: ``face_recognition --cpus W KNOWN UNKNOWN`` with the photos as UNKNOWN (the CLI's
  parallel path; KNOWN holds one photo), which detects (HOG), encodes and compares every photo;
  once with this environment's dlib (facesearch's: the prebuilt dlib-bin wheel) and once per
  ``--peer-venv`` (for example one with dlib built from source against OpenBLAS);
- facesearch ``enroll-dir --workers W`` into a fresh gallery: the default recipe (sface: YuNet and
  SFace, face and mirror image) and it with ``embed_mirrored = false``; the fusion recipe (both
  networks on every face); the dlib recipe (the peer's
  model: face and mirror), it with one embedding per face (like the peer) and the network run by
  dlib instead of ONNX Runtime, and it with ``adaptive_upsample = false`` (every photo upsampled
  once, exactly the peer's detection work).

It then checks that the last row's stored embeddings equal the peer's (``face_encodings``) on up
to 200 of the photos: cosine similarity of each pair.

    pip install --no-deps face_recognition && pip install click   # the peer and its CLI's dependency
    python bench/ingest.py [--photos 1000] [--workers 2] [--peer-venv DIR ...]

Results: a table on stdout and ``bench/out/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

import facesearch
from facesearch.evaluation import load_dataset
from facesearch.gallery.seals import face_embedding_context

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared/data/lfw"
BIN = Path(sys.executable).parent


def own_token(home: Path, admin: str, user: str) -> str:
    """USER's own API token, as they would get it: a code ADMIN issues, which USER redeems (the CLI
    and the service act only with a user's own token)."""
    with facesearch.open(home, actor=admin) as engine:
        return engine.signin.redeem(engine.accounts.invite(user).code).token


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--peer-venv", type=Path, action="append", default=[], help="another venv with the peer")
    args = ap.parse_args()
    dataset = load_dataset(args.lfw)
    chosen = list(range(min(args.photos, len(dataset))))
    work = Path(tempfile.mkdtemp(prefix="fs-ingest-"))
    if not (os.environ.get("FACESEARCH_MASTER_KEY") or os.environ.get("FACESEARCH_MASTER_KEY_FILE")):
        os.environ["FACESEARCH_MASTER_KEY_FILE"] = str(work / "master.key")  # not the user's own key
    try:
        by_identity, flat, known = work / "by_identity", work / "unknown", work / "known"
        known.mkdir(parents=True)
        flat.mkdir()
        for i in chosen:
            src = dataset.paths[i]
            (by_identity / src.parent.name).mkdir(parents=True, exist_ok=True)
            (by_identity / src.parent.name / src.name).symlink_to(src)
            (flat / src.name).symlink_to(src)
        (known / dataset.paths[0].name).symlink_to(dataset.paths[0])

        rows: list[dict[str, Any]] = []
        for venv in [BIN.parent, *args.peer_venv]:
            blas = subprocess.run(
                [str(venv / "bin/python"), "-c", "import dlib; print(dlib.DLIB_USE_BLAS)"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            peer_s = timed([str(venv / "bin/face_recognition"), "--cpus", str(args.workers), str(known), str(flat)])
            settings = f"--cpus {args.workers}, dlib {'with' if blas == 'True' else 'without'} BLAS"
            rows.append(dict(system="face_recognition CLI (peer)", settings=settings, seconds=peer_s))
        homes = {}
        dlib = 'recognizer = "dlib"\n'
        for label, toml in (
            ("default recipe (sface: YuNet + SFace, face + mirror)", ""),
            ("sface, embed_mirrored = false", "embed_mirrored = false\n"),
            ("fusion recipe (sface + dlib, face + mirror)", 'recognizer = "fusion"\n'),
            ("dlib recipe (face + mirror)", dlib),
            ("dlib, embed_mirrored = false, runtime = dlib", dlib + 'embed_mirrored = false\nruntime = "dlib"\n'),
            ("the peer's work (dlib)", dlib + "embed_mirrored = false\nadaptive_upsample = false\n"),
        ):
            home = work / f"home{len(homes)}"
            home.mkdir()
            (home / "facesearch.toml").write_text(toml)
            env = os.environ | {"FACESEARCH_HOME": str(home), "FACESEARCH_CREDENTIALS": str(home / "bench.toml")}
            env.pop("FACESEARCH_TOKEN", None)
            timed([str(BIN / "facesearch"), "--actor", "bench", "init"], env)  # bench's token: in bench.toml
            timed([str(BIN / "facesearch"), "retention", "set", "--days", "3650"], env)  # enrollment needs one
            timed([str(BIN / "facesearch"), "users", "add", "loader", "--role", "enroller"], env)
            env |= {"FACESEARCH_TOKEN": own_token(home, "bench", "loader")}
            seconds = timed(
                [
                    str(BIN / "facesearch"),
                    "enroll-dir",
                    str(by_identity),
                    "--source",
                    "LFW benchmark",
                    "--basis",
                    "legitimate-interest",
                    "--workers",
                    str(args.workers),
                    "--json",
                ],
                env,
            )
            rows.append(
                dict(system="facesearch enroll-dir", settings=f"{label}, --workers {args.workers}", seconds=seconds)
            )
            homes[label] = home
        for r in rows:
            r["photos"] = len(chosen)
            r["photos_per_s"] = len(chosen) / r["seconds"]
        for r in rows:
            r["vs_peer"] = r["photos_per_s"] / rows[0]["photos_per_s"]
            r["vs_slowest_peer"] = r["photos_per_s"] / min(p["photos_per_s"] for p in rows if "peer" in p["system"])

        import face_recognition

        with sqlite3.connect(homes["the peer's work (dlib)"] / "gallery.sqlite3") as db:
            sealed = db.execute(
                "SELECT i.filename, f.id, f.embedding FROM faces f JOIN images i ON i.id = f.image_id"
            ).fetchall()
        with facesearch.open(homes["the peer's work (dlib)"], actor="bench") as gallery:  # its data key unseals them
            stored = [(name, gallery.store.unseal(b, context=face_embedding_context(i))) for name, i, b in sealed]
        cosines = []
        for filename, blob in stored[:200]:
            path = next(p for p in (dataset.paths[i] for i in chosen) if p.name == Path(filename).name)
            image = face_recognition.load_image_file(str(path))
            encodings = face_recognition.face_encodings(image)
            if len(encodings) != 1:
                continue  # the peer sees another number of faces: no one-to-one comparison
            ours = np.frombuffer(blob, dtype="<f4").astype(np.float64)
            theirs = np.asarray(encodings[0], dtype=np.float64)
            cosines.append(float(ours @ theirs / (np.linalg.norm(ours) * np.linalg.norm(theirs))))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title=f"Ingestion of {len(chosen):,} LFW photos (model loading included)")
    for col in ("system", "settings", "seconds", "photos/s", "vs peer (same dlib)", "vs peer (no BLAS)"):
        table.add_column(col, justify="left" if col in ("system", "settings") else "right")
    for r in rows:
        table.add_row(
            r["system"],
            r["settings"],
            f"{r['seconds']:.1f}",
            f"{r['photos_per_s']:.1f}",
            f"{r['vs_peer']:.2f}x",
            f"{r['vs_slowest_peer']:.2f}x",
        )
    console = Console(width=160)
    console.print(table)
    c = np.asarray(cosines)
    console.print(
        f"embeddings, plain recipe vs face_recognition on {len(c)} photos: cosine min {c.min():.6f}, "
        f"mean {c.mean():.6f}"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ingest.json").write_text(
        json.dumps(dict(rows=rows, cosine_min=c.min(), cosine_mean=c.mean(), compared=len(c)), indent=1),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
