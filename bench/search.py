"""Search speed at gallery scale: facesearch's exact and HNSW indexes against the peer's way.

Synthetic clustered 128-d templates shaped like dlib embeddings (identities ~0.9 apart, photos of
one identity ~0.3 apart; four templates per identity), compared by cosine as the default recipe
does. Per size N it builds each index and measures: build time, memory added (RSS), single-query
latency p50/p99, batch throughput (one call of --batch queries), recall@10 against the exact
index, and, measured in the same run, the memory-bandwidth floor for one exact query (the time to
stream N x 128 float32 once). The peer is what ``face_recognition`` users do: ``face_distance``
(numpy Euclidean distance over a stacked array of every known encoding), then argsort.

    python bench/search.py                        # N = 100,000 and 1,000,000
    python bench/search.py --sizes 20000 --queries 100

Results: a table on stdout and ``bench/out/search.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from facesearch.index.exact import ExactIndex
from facesearch.index.hnsw import HnswIndex
from facesearch.types import Metric

OUT = Path(__file__).resolve().parent / "out"
DIM = 128
PER_IDENTITY = 4


def templates(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.056, (n // PER_IDENTITY + 1, DIM)).astype(np.float32)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 1 << 18):  # in chunks: bounded temporary memory
        end = min(n, start + (1 << 18))
        owner = np.arange(start, end) // PER_IDENTITY
        out[start:end] = centres[owner] + rng.normal(0.0, 0.02, (end - start, DIM)).astype(np.float32)
    return out


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bandwidth_floor_s(matrix: np.ndarray, repeats: int = 5) -> float:
    """Seconds to read the whole matrix once (best of ``repeats``): no exact search can beat it."""
    ones = np.ones(matrix.shape[0], dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ones @ matrix  # one pass over every byte, little arithmetic per byte
        best = min(best, time.perf_counter() - start)
    return best


def latencies(search: Any, queries: np.ndarray) -> np.ndarray:
    out = []
    for q in queries:
        start = time.perf_counter()
        search(q[None, :])
        out.append(time.perf_counter() - start)
    return np.asarray(out)


def measure(
    n: int, n_queries: int, batch: int, seed: int, backends: list[str], ef_searches: list[int]
) -> list[dict[str, Any]]:
    data = templates(n, seed)
    ids = np.arange(1, n + 1, dtype=np.int64)
    rng = np.random.default_rng(seed + 1)
    picks = rng.choice(n, max(n_queries, batch), replace=False)
    queries = data[picks] + rng.normal(0.0, 0.02, (len(picks), DIM)).astype(np.float32)
    rows: list[dict[str, Any]] = []
    truth = None
    makers = {
        "exact": ("facesearch exact", lambda: ExactIndex("m", DIM, Metric.COSINE)),
        "hnsw": ("facesearch hnsw", lambda: HnswIndex("m", DIM, Metric.COSINE)),
    }
    for name, make in (makers[b] for b in ["exact", *[b for b in backends if b != "exact"]]):
        before = rss_bytes()
        start = time.perf_counter()
        index = make()
        for part in range(0, n, 100_000):
            index.add(ids[part : part + 100_000], data[part : part + 100_000])
        build = time.perf_counter() - start
        memory = rss_bytes() - before
        efforts = ef_searches if isinstance(index, HnswIndex) else [None]
        for ef in efforts:
            if ef is not None:
                index.ef_search = ef
            single = latencies(lambda q, index=index: index.search(q, 10), queries[:n_queries])
            start = time.perf_counter()
            hits = index.search(queries[:batch], 10)
            batch_s = time.perf_counter() - start
            if truth is None:
                truth = hits.ids
                floor = bandwidth_floor_s(index._vectors) if isinstance(index, ExactIndex) else float("nan")
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(hits.ids, truth, strict=True)]))
            rows.append(
                dict(
                    system=name if ef is None else f"{name} (efSearch {ef})",
                    n=n,
                    build_s=build,
                    memory_mb=memory / 2**20,
                    p50_ms=1e3 * np.median(single),
                    p99_ms=1e3 * np.percentile(single, 99),
                    batch_qps=batch / batch_s,
                    recall10=recall,
                    floor_ms=1e3 * floor,
                )
            )
        del index
    start = time.perf_counter()
    known = data.astype(np.float64)  # face_recognition keeps encodings as float64 numpy arrays
    stack_s = time.perf_counter() - start

    def peer(q: np.ndarray) -> np.ndarray:
        distances = np.linalg.norm(known - q[0].astype(np.float64), axis=1)
        return np.argsort(distances)[:10]

    single = latencies(peer, queries[: min(n_queries, 50)])
    rows.append(
        dict(
            system="face_recognition face_distance (peer)",
            n=n,
            build_s=stack_s,
            memory_mb=known.nbytes / 2**20,
            p50_ms=1e3 * np.median(single),
            p99_ms=1e3 * np.percentile(single, 99),
            batch_qps=1 / np.mean(single),
            recall10=float("nan"),
            floor_ms=1e3 * floor,
        )
    )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200, help="single queries timed per index")
    ap.add_argument("--batch", type=int, default=1000, help="queries in the one batch call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--backends",
        nargs="+",
        default=["exact", "hnsw"],
        choices=["exact", "hnsw"],
        help="indexes to measure (exact always runs: it is the recall reference)",
    )
    ap.add_argument("--ef-search", type=int, nargs="+", default=[128], help="HNSW search efforts to measure")
    args = ap.parse_args()
    rows = [
        r for n in args.sizes for r in measure(n, args.queries, args.batch, args.seed, args.backends, args.ef_search)
    ]
    table = Table(title="1:N search over synthetic face templates (128-d, cosine, top 10)")
    for col in (
        "N",
        "system",
        "build s",
        "memory MB",
        "p50 ms",
        "p99 ms",
        "batch queries/s",
        "recall@10",
        "exact p50 / bandwidth floor",
    ):
        table.add_column(col, justify="left" if col == "system" else "right")
    for r in rows:
        ratio = r["p50_ms"] / r["floor_ms"] if "exact" in r["system"] else float("nan")
        table.add_row(
            f"{r['n']:,}",
            r["system"],
            f"{r['build_s']:.1f}",
            f"{r['memory_mb']:.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['batch_qps']:.0f}",
            f"{r['recall10']:.4f}",
            "-" if np.isnan(ratio) else f"{ratio:.2f} (floor {r['floor_ms']:.2f} ms)",
        )
    Console(width=180).print(table)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "search.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
