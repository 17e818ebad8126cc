"""Search speed at gallery scale: facesearch's indexes against the peer's way.

Synthetic clustered 128-d templates shaped like dlib embeddings (identities ~0.9 apart, photos of
one identity ~0.3 apart; four templates per identity), compared by cosine as the default recipe
does. Each query is a template plus noise. Per size N it builds each index and measures: build
time, memory added (RSS), single-query latency p50/p99, batch throughput (one call of --batch
queries), recall@10 against the exact index, *mated recall* (the share of the query identity's
four templates found in the top 10: what a face search needs), and, measured in the same run,
the memory-bandwidth floor for one exact query (the time to stream N x 128 float32 once). Indexes
that keep vectors on disk are also saved and reopened (memory-mapped) and measured again: open
time, resident memory after the searches, p50. The peer is what ``face_recognition`` users do:
``face_distance`` (numpy Euclidean distance over a stacked float64 array of every known
encoding), then argsort.

    python bench/search.py                                   # N = 100,000 and 1,000,000
    python bench/search.py --sizes 10000000 --backends ivf   # 10M: exact (the reference) and ivf
    python bench/search.py --sizes 20000 --queries 100
    python bench/search.py --sizes 1000000 --backends exact hnsw pgvector --no-peer

Results: a table on stdout and ``bench/out/search.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from rich.console import Console
from rich.table import Table

from facesearch.index.base import Hits, Matrix, VectorIndex, unit_rows
from facesearch.index.exact import ExactIndex
from facesearch.index.hnsw import HnswIndex
from facesearch.index.ivf import IvfIndex
from facesearch.index.pgvector import PgVectorIndex
from facesearch.types import Metric
from pgserver import TUNING, private_server

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


class Searchable(Protocol):
    def search(self, queries: Matrix, k: int) -> Hits: ...


@dataclasses.dataclass(frozen=True)
class Workload:
    """N synthetic templates (ids 1..N) and the queries asked of every index over them: each query
    is a template plus noise, and its *mates* are the ids of that identity's templates (-1 past N)."""

    n: int
    ids: np.ndarray
    data: np.ndarray
    queries: np.ndarray
    mates: np.ndarray


def workload(n: int, seed: int, count: int) -> Workload:
    """``count`` queries over ``templates(n, seed)``."""
    data = templates(n, seed)
    rng = np.random.default_rng(seed + 1)
    picks = rng.choice(n, count, replace=False)
    queries = data[picks] + rng.normal(0.0, 0.02, (len(picks), DIM)).astype(np.float32)
    mates = (picks // PER_IDENTITY)[:, None] * PER_IDENTITY + np.arange(PER_IDENTITY) + 1  # the identity's ids
    mates = np.where(mates <= n, mates, -1)
    return Workload(n, np.arange(1, n + 1, dtype=np.int64), data, queries, mates)


class Meter:
    """Measures each index of one workload alike, as one result row: single-query latency p50/p99
    over the first ``single`` queries, throughput of one call with the first ``batch``, recall@10
    against the first index measured (the exact one: the reference) and mated recall. ``common``:
    fields every row carries."""

    def __init__(self, work: Workload, single: int, batch: int, **common: Any) -> None:
        self.work, self.single, self.batch, self.common = work, single, batch, common
        self.truth: np.ndarray | None = None

    def __call__(
        self, system: str, index: Searchable, build: float, memory: int, extra: dict[str, Any]
    ) -> dict[str, Any]:
        queries, mates = self.work.queries, self.work.mates
        single = latencies(lambda q: index.search(q, 10), queries[: self.single])
        start = time.perf_counter()
        hits = index.search(queries[: self.batch], 10)
        batch_s = time.perf_counter() - start
        if self.truth is None:
            self.truth = hits.ids
        overlap = [len(set(a) & set(b)) / 10 for a, b in zip(hits.ids, self.truth, strict=True)]
        found = [np.isin(m[m > 0], h).mean() for m, h in zip(mates[: self.batch], hits.ids, strict=True)]
        result = dict(
            system=system,
            n=self.work.n,
            build_s=build,
            memory_mb=memory / 2**20,
            p50_ms=1e3 * np.median(single),
            p99_ms=1e3 * np.percentile(single, 99),
            batch_qps=self.batch / batch_s,
            recall10=float(np.mean(overlap)),
            mated=float(np.mean(found)),
            **self.common,
            **extra,
        )
        print(json.dumps(result), flush=True)  # as measured: a long run's partial results survive
        return result


MAKERS: dict[str, tuple[str, Callable[[Path], VectorIndex]]] = {
    "exact": ("facesearch exact", lambda path: ExactIndex("m", DIM, Metric.COSINE, path)),
    "exact-f16": (
        "facesearch exact, float16",
        lambda path: ExactIndex("m", DIM, Metric.COSINE, path, storage="float16"),
    ),
    "hnsw": ("facesearch hnsw", lambda path: HnswIndex("m", DIM, Metric.COSINE, path)),
    "ivf": ("facesearch ivf (int8 codes + re-rank)", lambda path: IvfIndex("m", DIM, Metric.COSINE, path)),
}
REOPEN: dict[str, Callable[[Path], VectorIndex]] = {
    "exact": lambda path: ExactIndex.load(path, "m", DIM, Metric.COSINE),
    "exact-f16": lambda path: ExactIndex.load(path, "m", DIM, Metric.COSINE),
    "ivf": lambda path: IvfIndex.load(path, "m", DIM, Metric.COSINE),
}


def pgvector_rows(
    n: int, args: argparse.Namespace, ids: np.ndarray, data: np.ndarray, row: Callable[..., dict[str, Any]]
) -> list[dict[str, Any]]:
    """Build a pgvector HNSW index of the N templates on the run's server and measure it."""
    from sqlalchemy import create_engine

    engine = create_engine(args.pg_url)
    index = PgVectorIndex(engine, f"bench_{n}", "m", DIM, Metric.COSINE)
    out: list[dict[str, Any]] = []
    try:
        with engine.begin() as connection:
            index.create_in(connection, graph=False)
        start = time.perf_counter()
        with engine.begin() as connection:
            for part in range(0, n, 100_000):
                index.copy_in(connection, ids[part : part + 100_000], data[part : part + 100_000])
        copied = time.perf_counter()
        with engine.begin() as connection:
            index.build_graph_in(connection)
        graph_s = time.perf_counter() - copied
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM ANALYZE {index.name}")
        sizes = index.sizes()
        for ef in args.pg_ef_search:
            index.ef_search = ef
            # the first pass reads table and graph into shared_buffers: what a warm server serves
            index.search(data[: min(n, 200)], 10)
            extra = {
                "copy_s": copied - start,
                "graph_s": graph_s,
                "table_mb": sizes["table"] / 2**20,
                "graph_mb": sizes["graph"] / 2**20,
                "key_mb": sizes["key"] / 2**20,
            }
            out.append(row(f"pgvector hnsw (ef_search {ef})", index, time.perf_counter() - start, 0, extra))
            out[-1]["build_s"] = extra["copy_s"] + graph_s
            out[-1]["memory_mb"] = float("nan")
        index.drop()
    finally:
        engine.dispose()
    return out


def built(index: VectorIndex, work: Workload) -> tuple[VectorIndex, float, int]:
    """``index`` (empty) with the workload's templates added, 100,000 a call; the seconds that took
    and the memory (RSS) it added."""
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    for part in range(0, work.n, 100_000):
        index.add(work.ids[part : part + 100_000], work.data[part : part + 100_000])
    return index, time.perf_counter() - start, rss_bytes() - before


def label(name: str, *settings: str) -> str:
    """``name (a; b)``: a row's system and the settings given (just ``name`` without any)."""
    given = "; ".join(s for s in settings if s)
    return f"{name} ({given})" if given else name


def tuned_rows(
    name: str, index: VectorIndex, build: float, memory: int, row: Meter, args: argparse.Namespace, built_with: str = ""
) -> list[dict[str, Any]]:
    """One row per search setting: each of ``args.ef_search`` for HNSW, each of ``args.nprobe`` for
    IVF; ``built_with``: the build settings, named in each row's label before the search setting."""
    knobs: list[tuple[str, str, int]] = [("", "", 0)]  # (label, attribute, value)
    if isinstance(index, HnswIndex):
        knobs = [(f"efSearch {ef}", "ef_search", ef) for ef in args.ef_search]
    if isinstance(index, IvfIndex):
        knobs = [(f"nprobe {p}", "nprobe", p) for p in args.nprobe]
    out = []
    for knob, attribute, value in knobs:
        if attribute:
            setattr(index, attribute, value)
        out.append(row(label(name, built_with, knob), index, build, memory, {}))
    return out


def measure(n: int, args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    work = workload(n, args.seed, max(args.queries, args.batch))
    data, ids = work.data, work.ids
    rows: list[dict[str, Any]] = []
    floor = bandwidth_floor_s(unit_rows(data[: min(n, 2_000_000)])) * n / min(n, 2_000_000)
    row = Meter(work, args.queries, args.batch, floor_ms=1e3 * floor)

    for backend in ["exact", *[b for b in args.backends if b != "exact"]]:
        if backend == "pgvector":
            rows.extend(pgvector_rows(n, args, ids, data, row))
            continue
        name, make = MAKERS[backend]
        path = folder / f"{backend}.idx"
        index, build, memory = built(make(path), work)
        rows.extend(tuned_rows(name, index, build, memory, row, args))
        if backend in REOPEN and not args.no_reopen:
            index.save(1)
            del index
            gc.collect()
            before = rss_bytes()
            start = time.perf_counter()
            index = REOPEN[backend](path)
            opened = time.perf_counter() - start
            result = row(f"{name}, reopened from file", index, opened, 0, {"file_mb": path.stat().st_size / 2**20})
            result["memory_mb"] = (rss_bytes() - before) / 2**20  # after its searches: pages read in
            result["build_s"] = float("nan")
            result["open_s"] = opened
            rows.append(result)
            path.unlink()
        del index
    if args.no_peer:
        return rows
    start = time.perf_counter()
    known = data.astype(np.float64)  # face_recognition keeps encodings as float64 numpy arrays
    stack_s = time.perf_counter() - start

    def peer(q: np.ndarray) -> np.ndarray:
        distances = np.linalg.norm(known - q[0].astype(np.float64), axis=1)
        return np.argsort(distances)[:10]

    single = latencies(peer, work.queries[: min(args.queries, 50)])
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
            mated=float("nan"),
            floor_ms=1e3 * floor,
        )
    )
    return rows


def disk(r: dict[str, Any]) -> str:
    if "graph_mb" in r:
        return f"{r['table_mb'] + r['graph_mb'] + r['key_mb']:.0f}"
    return f"{r['file_mb']:.0f}" if "file_mb" in r else "-"


def arguments(doc: str, sizes: list[int], backends: list[str], choices: list[str]) -> argparse.ArgumentParser:
    """The options a search benchmark takes (a script adds its own): the workload and the indexes."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=sizes)
    ap.add_argument("--queries", type=int, default=200, help="single queries timed per index")
    ap.add_argument("--batch", type=int, default=1000, help="queries in the one batch call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--backends",
        nargs="+",
        default=backends,
        choices=choices,
        help="indexes to measure (exact always runs: it is the recall reference)",
    )
    return ap


def main() -> int:
    ap = arguments(__doc__, [100_000, 1_000_000], ["exact", "exact-f16", "hnsw", "ivf"], sorted([*MAKERS, "pgvector"]))
    ap.add_argument("--ef-search", type=int, nargs="+", default=[128], help="HNSW search efforts to measure")
    ap.add_argument(
        "--pg-ef-search", type=int, nargs="+", default=[40, 200, 800], help="pgvector HNSW search efforts to measure"
    )
    ap.add_argument("--nprobe", type=int, nargs="+", default=[64], help="IVF lists probed per query")
    ap.add_argument("--no-reopen", action="store_true", help="skip saving and reopening the indexes")
    ap.add_argument("--no-peer", action="store_true", help="skip the peer (float64 copy of every template)")
    ap.add_argument("--dir", type=Path, default=None, help="where index files are written (default: a temp dir)")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(dir=args.dir))
        args.pg_url = stack.enter_context(private_server()) if "pgvector" in args.backends else ""
        rows = [r for n in args.sizes for r in measure(n, args, Path(folder))]
    table = Table(title="1:N search over synthetic face templates (128-d, cosine, top 10)")
    for col in (
        "N",
        "system",
        "build s",
        "memory MB",
        "disk MB",
        "p50 ms",
        "p99 ms",
        "batch queries/s",
        "recall@10",
        "mated recall",
        "exact p50 / bandwidth floor",
    ):
        table.add_column(col, justify="left" if col == "system" else "right")
    for r in rows:
        ratio = r["p50_ms"] / r["floor_ms"] if "exact" in r["system"] else float("nan")
        table.add_row(
            f"{r['n']:,}",
            r["system"],
            f"open {r['open_s']:.2f}" if "open_s" in r else f"{r['build_s']:.1f}",
            f"{r['memory_mb']:.0f}",
            disk(r),
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['batch_qps']:.0f}",
            f"{r['recall10']:.4f}",
            f"{r['mated']:.4f}",
            "-" if np.isnan(ratio) else f"{ratio:.2f} (floor {r['floor_ms']:.2f} ms)",
        )
    console = Console(width=200)
    console.print(table)
    for r in rows:
        if "graph_s" in r:
            console.print(
                f"{r['n']:,} {r['system']}: COPY {r['copy_s']:.1f} s + CREATE INDEX {r['graph_s']:.1f} s; "
                f"table {r['table_mb']:.0f} MB, HNSW graph {r['graph_mb']:.0f} MB, primary key {r['key_mb']:.0f} MB"
            )
    if "pgvector" in args.backends:
        console.print("PostgreSQL server settings: " + ", ".join(f"{k}={v}" for k, v in TUNING.items()))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "search.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
