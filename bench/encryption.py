"""What sealing templates at rest costs: enrollment, and opening a large gallery.

Everything is measured twice in the same run, side by side: plaintext (a store and index keeper
without a cipher, as before sealing) and sealed (AES-GCM under a data key, as every gallery now
is). Synthetic 128-d float32 templates and ~10 KB crops; no face model runs.

(a) Enrollment, per face: ``GalleryStore.add_face`` (embedding and crop sealed, bound to the row),
    the commit, and ``IndexKeeper.added`` (the add-log record, fsynced), in transactions of 1 face
    (``enroll`` of one photo) and of 128 (``enroll-dir``'s batches). The pure cost of sealing one
    embedding and one crop is shown beside them.
(b) Opening a gallery of N faces (``--faces``, default 1,000,000):
    - the exact index file: plaintext is memory-mapped, the sealed file is decrypted into RAM. Both
      are timed to open, and to open and answer a first query (which touches every page of a
      mapped file); the file's save time is shown too;
    - the rebuild of the index from the gallery's N rows (what opening does when the index file is
      missing or stale): reading and unsealing every row, building the index, saving it. The rows
      are inserted in bulk (faces only: the bench reads no other table).

    python bench/encryption.py                  # N = 1,000,000 (about 3 GB of disk, 4 GB of RAM)
    python bench/encryption.py --faces 100000 --no-rebuild

Results: a table on stdout and ``bench/out/encryption.json``. The machine is noisy: compare the
ratios, and rerun.
"""

from __future__ import annotations

import argparse
import gc
import json
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from facesearch.gallery import GalleryStore, ImageRecord
from facesearch.gallery.seals import face_crop_context, face_embedding_context
from facesearch.index.exact import ExactIndex
from facesearch.index.keeper import IndexKeeper
from facesearch.pipeline.models import DLIB_RESNET_V1_MIRRORED as SPEC
from facesearch.storage.crypto import DataCipher
from facesearch.types import AlignedFace, Box, Detection, Embedding, FaceObservation, Quality

OUT = Path(__file__).resolve().parent / "out"
DIM = 128
CROP_BYTES = 10_000
MODES = ("plaintext", "sealed")


def templates(n: int, seed: int = 0) -> np.ndarray:
    out = np.empty((n, DIM), np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, n, 1 << 18):
        end = min(n, start + (1 << 18))
        out[start:end] = rng.normal(0.0, 0.06, (end - start, DIM))
    return out


def best_of(repeats: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeats))


def new_cipher() -> DataCipher:
    return DataCipher(secrets.token_bytes(32), secrets.token_hex(16))


def new_store(folder: Path, cipher: DataCipher | None) -> GalleryStore:
    store = GalleryStore.open_sqlite(folder / "gallery.sqlite3", cipher)
    store.migrate()
    with store.transaction() as session:
        store.initialise(session, SPEC.model_id)
    return store


# --- (a) enrollment ------------------------------------------------------------------------------


def enroll_per_face(folder: Path, cipher: DataCipher | None, faces: int, batch: int) -> dict[str, float]:
    """Seconds per face to store (add_face and commit) and to log (keeper.added) ``faces`` faces."""
    folder.mkdir()
    store = new_store(folder, cipher)
    keeper = IndexKeeper(folder / "index", SPEC, "exact", cipher=cipher)
    vectors = templates(faces, seed=1)
    crop = b"\xff\xd8" + np.random.default_rng(2).bytes(CROP_BYTES - 2)
    aligned = AlignedFace(Detection(Box(1, 2, 81, 82), 1.5, "hog"), ((1, 1),) * 5, np.zeros((1, 1, 3), np.uint8))
    with store.transaction() as session:
        index = keeper.synced(session, store)
    store_s = log_s = 0.0
    for start in range(0, faces, batch):
        t0 = time.perf_counter()
        ids = []
        with store.transaction() as session:
            for i in range(start, min(faces, start + batch)):
                subject = store.ensure_subject(session, f"person {i}")
                observation = FaceObservation(
                    aligned, Quality(80, 50.0, 1.5), Embedding(vectors[i], SPEC.model_id, SPEC.metric)
                )
                image = ImageRecord(f"{i:064x}", "p.jpg", "bench", "consent", "bench", None, 250, 250)
                ids.append(store.add_face(session, subject, observation=observation, image=image, crop_jpeg=crop))
            generation = store.bump_generation(session)
            state_hash = store.state(session).content_hash
        t1 = time.perf_counter()
        keeper.added(index, np.array(ids, np.int64), vectors[start : start + len(ids)], generation, state_hash)
        t2 = time.perf_counter()
        store_s, log_s = store_s + t1 - t0, log_s + t2 - t1
    store.close()
    return {
        "store_ms": 1e3 * store_s / faces,
        "log_ms": 1e3 * log_s / faces,
        "total_ms": 1e3 * (store_s + log_s) / faces,
    }


def seal_cost_ms(cipher: DataCipher) -> float:
    """Sealing one embedding and one crop, ms (the pure crypto of one enrollment)."""
    vector, crop = templates(1)[0].tobytes(), bytes(CROP_BYTES)
    rounds = 2000
    t0 = time.perf_counter()
    for i in range(rounds):
        cipher.seal(vector, context=face_embedding_context(i))
        cipher.seal(crop, context=face_crop_context(i))
    return 1e3 * (time.perf_counter() - t0) / rounds


# --- (b) opening a large gallery -------------------------------------------------------------------


def open_index(folder: Path, vectors: np.ndarray, cipher: DataCipher | None) -> dict[str, float]:
    """Save an exact index of ``vectors``, then time opening it and opening + a first query."""
    path = folder / ("sealed.idx" if cipher else "plain.idx")
    index = ExactIndex(SPEC.model_id, DIM, SPEC.metric, path, cipher=cipher)
    index.add(np.arange(1, len(vectors) + 1, dtype=np.int64), vectors)
    t0 = time.perf_counter()
    index.save(1)
    save_s = time.perf_counter() - t0
    del index
    gc.collect()
    query = vectors[:1] + 0.01

    def opened(search: bool) -> Callable[[], float]:
        def run() -> float:
            gc.collect()
            t0 = time.perf_counter()
            loaded = ExactIndex.load(path, SPEC.model_id, DIM, SPEC.metric, cipher=cipher)
            if search:
                loaded.search(query, 10)
            took = time.perf_counter() - t0
            del loaded
            return took

        return run

    result = {
        "save_s": save_s,
        "open_s": best_of(3, opened(False)),
        "open_and_query_s": best_of(3, opened(True)),
        "file_mb": path.stat().st_size / 1e6,
    }
    path.unlink()
    return result


def bulk_rows(folder: Path, vectors: np.ndarray, cipher: DataCipher | None) -> GalleryStore:
    """A gallery whose faces table holds ``vectors`` (sealed if ``cipher``), inserted in bulk."""
    folder.mkdir()
    store = new_store(folder, cipher)
    with sqlite3.connect(folder / "gallery.sqlite3") as conn:  # no foreign keys: faces only
        conn.execute("PRAGMA journal_mode = OFF")
        for start in range(0, len(vectors), 50_000):
            rows = []
            for i in range(start, min(len(vectors), start + 50_000)):
                plain = vectors[i].tobytes()
                face_id = i + 1
                blob = cipher.seal(plain, context=face_embedding_context(face_id)) if cipher else plain
                rows.append((face_id, face_id, "[]", "bench", SPEC.model_id, blob))
            conn.executemany(
                "INSERT INTO faces (id, image_id, box_left, box_top, box_right, box_bottom, landmarks, detector,"
                " detector_score, face_px, sharpness, model_id, embedding) VALUES (?, ?, 0, 0, 100, 100, ?, ?,"
                " 1.0, 100, 100.0, ?, ?)",
                rows,
            )
    return store


def rebuild(folder: Path, store: GalleryStore, cipher: DataCipher | None) -> dict[str, float]:
    """Time reading every row (unsealed) and the whole rebuild (read, build, save)."""

    def scan() -> float:
        t0 = time.perf_counter()
        with store.transaction() as session:
            for _ in store.embeddings(session, SPEC.model_id):
                pass
        return time.perf_counter() - t0

    def whole() -> float:
        keeper = IndexKeeper(folder / "index", SPEC, "exact", cipher=cipher)
        gc.collect()
        t0 = time.perf_counter()
        with store.transaction() as session:
            keeper.rebuild(session, store)
        took = time.perf_counter() - t0
        del keeper
        return took

    return {"read_rows_s": best_of(2, scan), "rebuild_s": best_of(2, whole)}


# --- the report ---------------------------------------------------------------------------------------


def ratio(results: dict[str, dict[str, float]], key: str) -> str:
    plain, sealed = results["plaintext"][key], results["sealed"][key]
    return f"{sealed / plain:.2f}x" if plain > 0 else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=1_000_000, help="gallery size for (b) (default 1,000,000)")
    parser.add_argument("--enroll-faces", type=int, default=512, help="faces enrolled per setting in (a)")
    parser.add_argument("--no-rebuild", action="store_true", help="skip the rebuild from N rows (minutes, GBs)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fs-bench-crypto-", dir=args.work))
    console = Console()
    report: dict[str, Any] = {"faces": args.faces, "enroll_faces": args.enroll_faces}
    try:
        ciphers = {"plaintext": None, "sealed": new_cipher()}
        enroll: dict[str, dict[str, dict[str, float]]] = {}
        for batch in (1, 128):
            enroll[str(batch)] = {
                mode: enroll_per_face(work / f"enroll-{mode}-{batch}", cipher, args.enroll_faces, batch)
                for mode, cipher in ciphers.items()
            }
        report["enroll"] = enroll
        report["seal_one_face_ms"] = seal_cost_ms(new_cipher())

        console.print(f"making {args.faces:,} templates ...")
        vectors = templates(args.faces)
        opening = {mode: open_index(work, vectors, cipher) for mode, cipher in ciphers.items()}
        report["open_index"] = opening
        if not args.no_rebuild:
            rebuilt = {}
            for mode, cipher in ciphers.items():
                console.print(f"inserting {args.faces:,} {mode} rows ...")
                store = bulk_rows(work / f"rows-{mode}", vectors, cipher)
                rebuilt[mode] = rebuild(work / f"rows-{mode}", store, cipher)
                store.close()
                shutil.rmtree(work / f"rows-{mode}")
            report["rebuild"] = rebuilt
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title=f"Sealing templates at rest: plaintext vs sealed (same run; N = {args.faces:,} for opening)")
    for column in ("measure", "plaintext", "sealed", "sealed / plaintext"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for batch, results in report["enroll"].items():
        for key, label in (("store_ms", "store + commit"), ("log_ms", "add-log append"), ("total_ms", "total")):
            table.add_row(
                f"enroll, {batch}-face transactions: {label} (ms/face)",
                f"{results['plaintext'][key]:.3f}",
                f"{results['sealed'][key]:.3f}",
                ratio(results, key),
            )
    table.add_row("sealing one embedding + one 10 KB crop (ms)", "-", f"{report['seal_one_face_ms']:.4f}", "")
    for key, label in (
        ("file_mb", "exact index file (MB)"),
        ("save_s", "save the exact index (s)"),
        ("open_s", "open the exact index (s)"),
        ("open_and_query_s", "open + first query (s)"),
    ):
        fmt = "{:.0f}" if key == "file_mb" else "{:.3f}"
        o = report["open_index"]
        table.add_row(label, fmt.format(o["plaintext"][key]), fmt.format(o["sealed"][key]), ratio(o, key))
    if "rebuild" in report:
        r = report["rebuild"]
        for key, label in (
            ("read_rows_s", "read every row from the gallery (s)"),
            ("rebuild_s", "rebuild the index (s)"),
        ):
            table.add_row(label, f"{r['plaintext'][key]:.2f}", f"{r['sealed'][key]:.2f}", ratio(r, key))
    console.print(table)
    OUT.mkdir(exist_ok=True)
    (OUT / "encryption.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
