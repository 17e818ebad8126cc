"""Face clustering on LFW: how well each method recovers the identities, over a sweep of thresholds.

Every LFW photo (13,233; ``--limit N`` keeps the first N identities) is embedded with the default
recipe through the evaluation module's cached parallel embedding (the cache ``facesearch evaluate``
and ``bench/lfw_pairs.py`` fill, keyed by photo sha256 + recipe: after either, nothing is
embedded again). Photos where no face is found are reported and left out. Then for each method
and threshold, ``facesearch.clustering.cluster`` runs on all the embeddings and the table shows:
clusters, singletons, pairwise and BCubed precision/recall/F1 against the true identities, wall
time of the whole call (kNN graph included) and its peak traced memory (tracemalloc: numpy and
Python allocations; dlib's and FAISS's own C++ buffers are not traced).

The peer, measured in the same run: dlib's own face clustering, ``chinese_whispers_clustering``,
which links every pair of faces (no graph index) at the Euclidean distance equal to the cosine
threshold (``--peer-thresholds``).

Chosen per method: the **default threshold** (best BCubed F1) and the **precision-leaning
threshold** (the lowest with pairwise precision >= 0.99, so the most recall at that precision).

``--scale N`` instead measures building the kNN graph over N synthetic dlib-like faces (as in
``bench/search.py``) through the exact index and through HNSW: time, peak memory and the share of
the exact graph's edges HNSW finds. This is what sets ``HNSW_ABOVE`` in the clustering module.

    python bench/cluster.py                                   # all of LFW, every method
    python bench/cluster.py --limit 500 --thresholds 0.9 0.92 # quick
    python bench/cluster.py --scale 20000 50000 100000        # exact vs HNSW graph building

Results: a table on stdout and ``bench/out/cluster.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlib
import numpy as np
from platformdirs import user_cache_dir
from rich.console import Console
from rich.table import Table

from facesearch.clustering import METHODS, bcubed_prf, cluster, knn_graph, pairwise_prf
from facesearch.config import Settings
from facesearch.evaluation import EmbeddingCache, load_dataset
from facesearch.evaluation.dataset import file_digests
from facesearch.evaluation.extract import extract
from facesearch.pipeline.recognizers import spec_for_settings
from facesearch.types import Metric

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
DEFAULT_THRESHOLDS = [0.93, 0.94, 0.945, 0.95, 0.9525, 0.955, 0.9575, 0.96, 0.965, 0.97]
PRECISION_TARGET = 0.99
PEER = "dlib all-pairs (peer)"


def measured(call: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, seconds, peak traced bytes) of one call."""
    tracemalloc.start()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak


def lfw_embeddings(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, Metric, dict[str, Any]]:
    dataset = load_dataset(args.lfw)
    photos = np.arange(len(dataset))
    if args.limit:
        photos = np.flatnonzero(dataset.identity_of < args.limit)
    paths = [dataset.paths[i] for i in photos]
    settings = Settings()
    spec = spec_for_settings(settings)

    def progress(done: int, total: int) -> None:
        if done % 1000 == 0 or done == total:
            print(f"  embeddings: {done}/{total} photos", file=sys.stderr, flush=True)

    cache = EmbeddingCache(args.cache)
    start = time.perf_counter()
    result = extract(paths, file_digests(paths), settings, cache, args.workers, progress)
    cache.close()
    found = ~np.isnan(result.vectors).any(axis=1)
    failed = [f"{dataset.relative(int(photos[i]))} ({why})" for i, why in sorted(result.failures.items())]
    info = dict(
        photos=len(paths),
        identities=len(np.unique(dataset.identity_of[photos])),
        no_face=failed,
        embedded_now=result.embedded,
        embed_s=time.perf_counter() - start,
        recipe_metric=spec.metric.value,
        published_threshold=spec.published_threshold,
    )
    return result.vectors[found], dataset.identity_of[photos][found], spec.metric, info


def sweep(vectors: np.ndarray, truth: np.ndarray, metric: Metric, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for method in args.methods:
        for threshold in args.thresholds:
            labels, seconds, peak = measured(
                lambda m=method, t=threshold: cluster(
                    vectors, metric, threshold=t, k=args.k, method=m, min_samples=args.min_samples
                )
            )
            rows.append(row(method, threshold, labels, truth, seconds, peak))
    return rows


def peer(vectors: np.ndarray, truth: np.ndarray, thresholds: list[float]) -> list[dict[str, Any]]:
    """The peer: dlib's own face clustering (``dlib.chinese_whispers_clustering``, as in its example
    face_clustering.py), which links every pair of faces closer than a Euclidean distance. Run on the
    same unit-length vectors at the distance equal to each cosine threshold, sqrt(2 - 2 cos)."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    descriptors = [dlib.vector(v.astype(float).tolist()) for v in unit]
    rows = []
    for threshold in thresholds:
        distance = float(np.sqrt(2 - 2 * threshold))
        labels, seconds, peak = measured(
            lambda d=distance: np.array(dlib.chinese_whispers_clustering(descriptors, d), dtype=np.int64)
        )
        rows.append(row(PEER, threshold, labels, truth, seconds, peak))
    return rows


def row(
    method: str, threshold: float, labels: np.ndarray, truth: np.ndarray, seconds: float, peak: int
) -> dict[str, Any]:
    """One table row: the clustering's size and its measures against the true identities."""
    sizes = np.bincount(labels)
    pair, bcubed = pairwise_prf(labels, truth), bcubed_prf(labels, truth)
    print(
        f"  {method} @ {threshold}: BCubed F {bcubed.f1:.4f}, pairwise P {pair.precision:.4f}, {seconds:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return dict(
        method=method,
        threshold=threshold,
        clusters=len(sizes),
        singletons=int((sizes == 1).sum()),
        pairwise=vars(pair),
        bcubed=vars(bcubed),
        seconds=seconds,
        peak_mb=peak / 2**20,
    )


def choices(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method: the best-BCubed-F threshold and the lowest threshold with pairwise P >= 0.99."""
    chosen: dict[str, dict[str, Any]] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        best = max(mine, key=lambda r: r["bcubed"]["f1"])
        precise = [r for r in mine if r["pairwise"]["precision"] >= PRECISION_TARGET]
        lean = min(precise, key=lambda r: r["threshold"]) if precise else None
        chosen[method] = dict(default=best, precision_leaning=lean)
    return chosen


def print_lfw(rows: list[dict[str, Any]], info: dict[str, Any], n: int, args: argparse.Namespace) -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    title = (
        f"LFW clustering: {n:,} faces of {info['identities']:,} identities "
        f"({info['recipe_metric']} scores, k={args.k}, DBSCAN min_samples={args.min_samples})"
    )
    table = Table(title=title)
    for col in ("method", "threshold", "clusters", "singletons", "pair P", "pair R", "pair F1"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for col in ("BCubed P", "BCubed R", "BCubed F", "time s", "peak MB"):
        table.add_column(col, justify="right")
    chosen = choices(rows)
    for r in rows:
        mark = ""
        if chosen[r["method"]]["default"] is r:
            mark += " *"
        if chosen[r["method"]]["precision_leaning"] is r:
            mark += " P"
        table.add_row(
            r["method"],
            f"{r['threshold']:g}{mark}",
            f"{r['clusters']:,}",
            f"{r['singletons']:,}",
            f"{r['pairwise']['precision']:.4f}",
            f"{r['pairwise']['recall']:.4f}",
            f"{r['pairwise']['f1']:.4f}",
            f"{r['bcubed']['precision']:.4f}",
            f"{r['bcubed']['recall']:.4f}",
            f"{r['bcubed']['f1']:.4f}",
            f"{r['seconds']:.2f}",
            f"{r['peak_mb']:.0f}",
        )
    console.print(table)
    console.print(
        f"* = best BCubed F (default threshold); P = lowest threshold with pairwise precision >= {PRECISION_TARGET}. "
        f"True identities: {info['identities']:,}; photos with no face found (left out): {len(info['no_face'])}"
        + (f" ({', '.join(info['no_face'][:10])})" if info["no_face"] else "")
        + f"; embedded in this run: {info['embedded_now']:,} ({info['embed_s']:.0f} s, {args.workers} workers)."
    )
    for method, c in chosen.items():
        lean = c["precision_leaning"]
        lean_text = (
            f"precision-leaning {lean['threshold']:g} (pairwise P {lean['pairwise']['precision']:.4f}, "
            f"R {lean['pairwise']['recall']:.4f}; BCubed F {lean['bcubed']['f1']:.4f})"
            if lean
            else f"no threshold swept reaches pairwise precision {PRECISION_TARGET}"
        )
        best = c["default"]
        console.print(f"{method}: default {best['threshold']:g} (BCubed F {best['bcubed']['f1']:.4f}); {lean_text}")


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    """Clustered 128-d templates shaped like dlib embeddings (see bench/search.py): identities of
    four photos, cosine about 0.89 within an identity and about 0 between identities."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.056, (n // 4 + 1, 128)).astype(np.float32)
    return centres[np.arange(n) // 4] + rng.normal(0.0, 0.02, (n, 128)).astype(np.float32)


def scale(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for n in args.scale:
        data = synthetic(n)
        graphs = {}
        for backend in ("exact", "hnsw"):
            graph, seconds, peak = measured(
                lambda b=backend, d=data: knn_graph(d, Metric.COSINE, args.k, args.scale_threshold, index=b)
            )
            graphs[backend] = graph
            rows.append(dict(n=n, index=backend, seconds=seconds, peak_mb=peak / 2**20, edges=len(graph[0])))
        exact_keys = graphs["exact"][0] * n + graphs["exact"][1]
        hnsw_keys = graphs["hnsw"][0] * n + graphs["hnsw"][1]
        rows[-1]["edge_recall"] = float(np.isin(exact_keys, hnsw_keys).mean()) if len(exact_keys) else 1.0
        rows[-2]["edge_recall"] = 1.0
        print(f"  n={n}: exact {rows[-2]['seconds']:.1f} s, hnsw {rows[-1]['seconds']:.1f} s", file=sys.stderr)
    table = Table(title=f"kNN graph (k={args.k}, cosine >= {args.scale_threshold}) over synthetic faces")
    for col in ("faces", "index", "time s", "peak MB", "edges", "edges found"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            f"{r['n']:,}",
            r["index"],
            f"{r['seconds']:.1f}",
            f"{r['peak_mb']:.0f}",
            f"{r['edges']:,}",
            f"{r['edge_recall']:.4f}",
        )
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder (images/<person>/*.jpg)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--thresholds", type=float, nargs="+", default=DEFAULT_THRESHOLDS)
    ap.add_argument("--k", type=int, default=30, help="neighbours per face in the graph")
    ap.add_argument("--min-samples", type=int, default=3, help="DBSCAN: a core face and its neighbours")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="embedding processes")
    ap.add_argument("--limit", type=int, default=0, help="only the first N identities (a quick run)")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(user_cache_dir("facesearch", appauthor=False)) / "embeddings.sqlite3",
        help="facesearch's embedding cache (shared with 'facesearch evaluate')",
    )
    ap.add_argument(
        "--peer-thresholds",
        type=float,
        nargs="*",
        default=[0.95, 0.9575],
        help="cosine thresholds at which to run the peer, dlib's all-pairs clustering (none: skip it)",
    )
    ap.add_argument("--scale", type=int, nargs="+", default=[], help="measure graph building at these sizes instead")
    ap.add_argument("--scale-threshold", type=float, default=0.85, help="edge threshold for --scale")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.scale:
        rows = scale(args)
        (OUT / "cluster_scale.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
        return 0
    if not (args.lfw / "images").is_dir():
        print(f"LFW not found at {args.lfw} (need images/); pass --lfw DIR", file=sys.stderr)
        return 2
    vectors, truth, metric, info = lfw_embeddings(args)
    rows = sweep(vectors, truth, metric, args)
    if args.peer_thresholds and metric is Metric.COSINE:
        rows += peer(vectors, truth, args.peer_thresholds)
    print_lfw(rows, info, len(vectors), args)
    chosen = {m: {k: (v["threshold"] if v else None) for k, v in c.items()} for m, c in choices(rows).items()}
    out = dict(args={k: str(v) for k, v in vars(args).items()}, dataset=info, rows=rows, chosen=chosen)
    (OUT / "cluster.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
