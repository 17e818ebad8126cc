"""Milvus's HNSW and IVF indexes against facesearch's FAISS backends, side by side in one run.

The workload and the measurements are bench/search.py's: synthetic clustered 128-d templates shaped
like dlib embeddings (four per identity), cosine, top 10; per index its build time, memory, single
query p50/p99, batch throughput (one call of --batch queries), recall@10 against facesearch's exact
index (always measured first: the reference) and mated recall (the share of the query identity's four
templates found in the top 10).

facesearch's backends run in this process: ``hnsw`` (FAISS IndexHNSWFlat, M 32, efConstruction 200,
as facesearch builds it) and ``ivf`` (FAISS IVF over int8 codes, nlist sqrt(N), re-ranking its best
100 on the stored float16 vectors). Memory: the RSS their build added to this process.

Milvus's run on a standalone server (2.3, from ``scripts/milvus.sh``) that this script starts, a fresh
one for each Milvus index so that its memory is that index's alone, and stops. Each is one collection
``(id INT64 primary key, embedding FLOAT_VECTOR(128))``, inner product over unit vectors (= cosine),
searched through pymilvus at --consistency (default ``Strong``: what facesearch's milvus backend
reads at). ``milvus-hnsw``: HNSW with facesearch's HnswIndex's M and efConstruction (32, 200);
``milvus-ivf``: IVF_FLAT, ``milvus-ivf-sq8``: IVF_SQ8 (int8 codes, no re-ranking), both with nlist
4 sqrt(N) (--nlist). Milvus builds an index per segment (a segment is sealed at about 230,000 of
these rows by default), so its nlist, ef and nprobe apply to each segment, and its k-means runs over
every row of a segment. Build time: insert (--insert-batch rows a request) + flush + create_index
and wait until every segment is indexed + load, each also reported. Memory: the server's resident
memory (the RSS of its process tree) after load and a warm-up search, less before the collection
was created. Disk: how much its data folder grew (write-ahead log, segment files, index files).
``$FACESEARCH_MILVUS_CONFIG`` (milvus.yaml settings, see scripts/milvus.sh) applies to every server,
for example ``dataCoord.compaction.enableAutoCompaction=false``: the segments column says when compaction
merged segments while the searches ran.

Milvus binds every interface, so the whole run goes in a private network namespace:

    scripts/milvus.sh isolated python bench/milvus.py                       # N = 1,000,000
    scripts/milvus.sh isolated python bench/milvus.py --sizes 20000 --queries 100
    scripts/milvus.sh isolated python bench/milvus.py --sizes 10000000 --backends exact ivf milvus-ivf
    scripts/milvus.sh isolated python bench/milvus.py --ef-search 64 128 256 --nprobe 16 64

Results: a table on stdout and ``bench/out/milvus.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from facesearch.index.base import Hits, Matrix, as_matrix, empty_hits, unit_rows
from facesearch.index.exact import ExactIndex
from facesearch.index.hnsw import HnswIndex
from facesearch.index.ivf import IvfIndex
from facesearch.index.milvus import connect, pymilvus_module, wait_indexed
from facesearch.types import Metric
from search import DIM, OUT, Meter, Workload, arguments, built, label, tuned_rows, workload

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "milvus.sh"
FAISS = ("exact", "hnsw", "ivf")
MILVUS = {"milvus-hnsw": "HNSW", "milvus-ivf": "IVF_FLAT", "milvus-ivf-sq8": "IVF_SQ8"}
INDEX_TIMEOUT_S = 6 * 3600  # building a 10M-vector index on two cores takes hours


class Server:
    """A Milvus standalone server that ``scripts/milvus.sh`` runs with its files in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = ""

    def _script(self, *args: str) -> None:
        done = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/milvus.sh {args[0]} failed: {done.stderr.strip()}")

    @contextlib.contextmanager
    def running(self) -> Iterator[Server]:
        """The server, started; stopped and its files deleted after."""
        try:
            self._script("start", str(self.folder), str(self.folder / "url"))
            self.url = (self.folder / "url").read_text().strip()
            yield self
        finally:
            self._script("stop", str(self.folder))
            shutil.rmtree(self.folder, ignore_errors=True)

    def rss_bytes(self) -> int:
        """The resident memory of the server's process tree (the wrapper, the milvus binary)."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):  # gone meanwhile
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        tree: set[int] = set()
        todo = [int((self.folder / "milvus.pid").read_text())]
        while todo:
            pid = todo.pop()
            tree.add(pid)
            todo.extend(child for child, parent in parents.items() if parent == pid)
        total = 0
        for pid in tree:
            with contextlib.suppress(OSError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return total

    def disk_bytes(self) -> int:
        """Bytes in the server's data folder: etcd, the write-ahead log (rocksmq), segment and index files."""
        total = 0
        for folder, _, files in os.walk(self.folder / "data"):
            for name in files:
                with contextlib.suppress(OSError):  # the server deletes files as it goes
                    total += os.stat(os.path.join(folder, name)).st_size
        return total


class Collection:
    """A searchable view of one collection: search ``params`` (ef or nprobe), IP over unit vectors."""

    def __init__(self, collection: Any, params: dict[str, int], consistency: str) -> None:
        self.collection, self.params, self.consistency = collection, params, consistency

    def search(self, queries: Matrix, k: int) -> Hits:
        queries = unit_rows(as_matrix(queries, DIM))
        found = self.collection.search(
            queries,
            "embedding",
            {"metric_type": "IP", "params": self.params},
            limit=k,
            output_fields=[],
            consistency_level=self.consistency,
        )
        hits = empty_hits(len(queries), k)
        for n, result in enumerate(found):
            hits.ids[n, : len(result.ids)] = result.ids
            hits.scores[n, : len(result.ids)] = result.distances
        return hits


def index_params(kind: str, n: int, nlist: int | None) -> dict[str, Any]:
    """Milvus's index of ``kind`` for N vectors: HNSW as facesearch's HnswIndex builds, IVF with
    ``nlist`` lists (default 4 sqrt(N))."""
    if kind == "HNSW":
        defaults = HnswIndex("m", DIM, Metric.COSINE)
        params = {"M": defaults.m, "efConstruction": defaults.ef_construction}
    else:
        params = {"nlist": nlist or int(min(65536, max(16, round(4 * math.sqrt(n)))))}
    return {"index_type": kind, "metric_type": "IP", "params": params}


def milvus_rows(
    backend: str, work: Workload, row: Meter, args: argparse.Namespace, folder: Path
) -> list[dict[str, Any]]:
    """Start a server, build the backend's index of the workload on it, measure it, stop the server."""
    pymilvus = pymilvus_module()
    kind = MILVUS[backend]
    params = index_params(kind, work.n, args.nlist)
    built_with = ", ".join(f"{k} {v}" for k, v in params["params"].items())
    started = time.perf_counter()
    with Server(folder / backend).running() as server:
        start_s = time.perf_counter() - started
        alias = connect(server.url)
        memory_before, disk_before = server.rss_bytes(), server.disk_bytes()
        fields = [
            pymilvus.FieldSchema("id", pymilvus.DataType.INT64, is_primary=True, auto_id=False),
            pymilvus.FieldSchema("embedding", pymilvus.DataType.FLOAT_VECTOR, dim=DIM),
        ]
        collection = pymilvus.Collection("bench", pymilvus.CollectionSchema(fields), using=alias)
        times = [time.perf_counter()]
        for part in range(0, work.n, args.insert_batch):
            end = part + args.insert_batch
            collection.insert([work.ids[part:end].tolist(), unit_rows(work.data[part:end])])
        times.append(time.perf_counter())
        collection.flush()
        times.append(time.perf_counter())
        collection.create_index("embedding", params)
        wait_indexed(alias, "bench", time.monotonic() + INDEX_TIMEOUT_S)
        times.append(time.perf_counter())
        collection.load()
        times.append(time.perf_counter())
        phases = dict(zip(("insert_s", "flush_s", "index_s", "load_s"), np.diff(times).tolist(), strict=True))
        loaded = len(pymilvus.utility.get_query_segment_info("bench", using=alias))
        knob, values = ("ef", args.ef_search) if kind == "HNSW" else ("nprobe", args.nprobe)
        Collection(collection, {knob: values[0]}, args.consistency[0]).search(work.queries, 10)  # warm up
        memory = server.rss_bytes() - memory_before
        extra = {
            **phases,
            "start_s": start_s,
            "index_type": kind,
            "segments": loaded,
            "disk_mb": (server.disk_bytes() - disk_before) / 2**20,
        }
        out = [
            row(
                label(f"milvus {kind}", built_with, f"{knob} {value}", consistency),
                Collection(collection, {knob: value}, consistency),
                times[-1] - times[0],
                memory,
                extra,
            )
            for consistency in args.consistency
            for value in values
        ]
        # Compaction may have merged segments meanwhile (and indexed them again): what the searches saw
        after = len(pymilvus.utility.get_query_segment_info("bench", using=alias))
        for r in out:
            r["segments_after"] = after
        pymilvus.connections.disconnect(alias)
    return out


def faiss_rows(backend: str, work: Workload, row: Meter, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Build facesearch's ``backend`` index of the workload in this process and measure it."""
    if backend == "exact":
        index, build, memory = built(ExactIndex("m", DIM, Metric.COSINE), work)
        return tuned_rows("facesearch exact", index, build, memory, row, args, "float32")
    if backend == "hnsw":
        graph = HnswIndex("m", DIM, Metric.COSINE)
        index, build, memory = built(graph, work)
        built_with = f"FAISS HNSWFlat, M {graph.m}, efConstruction {graph.ef_construction}"
        return tuned_rows("facesearch hnsw", index, build, memory, row, args, built_with)
    lists = IvfIndex("m", DIM, Metric.COSINE)
    index, build, memory = built(lists, work)
    nlist = lists._ivf.nlist if lists._ivf is not None else 0  # trained on the templates just added
    built_with = f"FAISS IVF{nlist},SQ8, re-rank {lists.rerank} on float16"
    return tuned_rows("facesearch ivf", index, build, memory, row, args, built_with)


def measure(n: int, args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    work = workload(n, args.seed, max(args.queries, args.batch))
    row = Meter(work, args.queries, args.batch)
    rows: list[dict[str, Any]] = []
    for backend in ["exact", *[b for b in args.backends if b != "exact"]]:
        gc.collect()
        start = time.perf_counter()
        measured = (
            milvus_rows(backend, work, row, args, folder) if backend in MILVUS else faiss_rows(backend, work, row, args)
        )
        for r in measured:  # the whole of it: server start and stop, build, every search measured
            r.update(backend=backend, wall_s=time.perf_counter() - start)
        rows.extend(measured)
        gc.collect()
    return rows


def main() -> int:
    ap = arguments(__doc__, [1_000_000], [*FAISS, *MILVUS], [*FAISS, *MILVUS])
    ap.add_argument("--ef-search", type=int, nargs="+", default=[64, 128], help="HNSW search efforts (both)")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[16, 64], help="IVF lists probed per query (all)")
    ap.add_argument("--nlist", type=int, default=None, help="Milvus IVF lists (default 4 sqrt(N))")
    ap.add_argument("--insert-batch", type=int, default=50_000, help="rows per Milvus insert request")
    ap.add_argument(
        "--consistency",
        nargs="+",
        default=["Bounded", "Strong"],
        choices=["Strong", "Bounded", "Session", "Eventually"],
        help="Milvus searches' consistency levels, each measured (facesearch's milvus backend reads at Strong)",
    )
    ap.add_argument(
        "--dir", type=Path, default=None, help="where the Milvus servers keep their files (default: a temp dir)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="facesearch-bench-milvus-", dir=args.dir) as folder:
        rows = [r for n in args.sizes for r in measure(n, args, Path(folder) / str(n))]
    table = Table(title="1:N search, facesearch (FAISS) and Milvus (128-d, cosine, top 10)")
    columns = ["N", "system", "build s", "insert s", "flush s", "index s", "load s", "segments", "memory MB", "disk MB"]
    for col in [*columns, "p50 ms", "p99 ms", "batch queries/s", "recall@10", "mated recall"]:
        table.add_column(col, justify="left" if col == "system" else "right")
    for r in rows:
        milvus = "insert_s" in r
        table.add_row(
            f"{r['n']:,}",
            r["system"],
            f"{r['build_s']:.1f}",
            *([f"{r[k]:.1f}" for k in ("insert_s", "flush_s", "index_s", "load_s")] if milvus else ["-"] * 4),
            (f"{r['segments']}" + (f" > {r['segments_after']}" if r["segments_after"] != r["segments"] else ""))
            if milvus
            else "-",
            f"{r['memory_mb']:.0f}",
            f"{r['disk_mb']:.0f}" if milvus else "-",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['batch_qps']:.0f}",
            f"{r['recall10']:.4f}",
            f"{r['mated']:.4f}",
        )
    console = Console(width=240)
    console.print(table)
    walls = {(r["n"], r["backend"]): (r["wall_s"], r.get("start_s")) for r in rows}
    console.print(
        "Milvus: build s = insert + flush + index (create_index until every segment is indexed) + load; "
        "memory: the server's RSS added (facesearch: this process's). Each Milvus index had a server of its own. "
        "Wall time of each, start to stop, every search included: "
        + ", ".join(
            f"{n:,} {backend} {wall:.0f} s" + (f" (server start {start:.0f} s)" if start else "")
            for (n, backend), (wall, start) in walls.items()
        )
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "milvus.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
