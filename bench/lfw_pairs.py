"""LFW verification benchmark (View 2, 10-fold) for facesearch and the ``face_recognition`` package.

Both pipelines embed the same images from ``pairs.txt`` (each unique image once per pipeline) and
score each pair, higher = more alike:

- facesearch: the recipe its settings select (``decode`` -> ``FacePipeline.analyze`` -> ``main_face``),
  scored by the recipe's metric (``evaluation.protocols.pair_scores``); embeddings come from and go to the same
  cache ``facesearch evaluate`` uses (keyed by photo hash and recipe), so an earlier full evaluation
  makes this run fast.
- face_recognition (peer): ``load_image_file`` -> ``face_locations`` (HOG, upsample 1) ->
  ``face_encodings``; the largest box's encoding; score = 1 - ``face_distance``.

A pair where either image has no face counts as predicted "different". Reported per pipeline:
images with no face; 10-fold accuracy (each fold tested at the threshold that maximises accuracy
on the other folds, ``facesearch.scoring.error_rates.kfold_accuracy``) as mean ± std over folds; accuracy at the
fixed published operating point over all pairs; and wall time per image of the embedding phase.
The published figure for dlib's model is 99.38%.

Run from the repository root (needs ``pip install --no-deps face_recognition`` in the venv)::

    python bench/lfw_pairs.py                                   # full run
    python bench/lfw_pairs.py --folds 1 --workers 4             # quick check (threshold fit on fold 1)
    python bench/lfw_pairs.py --facesearch-settings embed_mirrored=false \\
        --facesearch-settings num_jitters=10,detector=cnn       # one extra facesearch row per flag

The peer's embeddings are cached in ``bench/out/emb_face_recognition_<version>.npz``; results go to
``bench/out/lfw_pairs.json``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from platformdirs import user_cache_dir
from rich.console import Console
from rich.table import Table

from facesearch.config import Settings
from facesearch.errors import FacesearchError
from facesearch.evaluation import EmbeddingCache, load_dataset
from facesearch.evaluation.dataset import LabelledDataset, PairList, file_digests, read_lfw_pairs
from facesearch.evaluation.extract import extract
from facesearch.evaluation.protocols import pair_scores
from facesearch.pipeline.recognizers import spec_for_settings
from facesearch.scoring import error_rates as metrics
from facesearch.types import Metric

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared/data/lfw"
PUBLISHED_ACCURACY = 0.9938
PEER = "face_recognition"
PEER_THRESHOLD = 0.4  # = Euclidean distance 0.6, the published operating point

Vectors = npt.NDArray[np.float32]  # (n, 128); a row of NaN where no face was found


def _peer_embed(path: str) -> Vectors | None:
    import face_recognition

    img = face_recognition.load_image_file(path)
    locs = face_recognition.face_locations(img)
    if not locs:
        return None
    encs = face_recognition.face_encodings(img, locs)
    areas = [(b - t) * (r - left) for t, r, b, left in locs]
    return np.asarray(encs[int(np.argmax(areas))], dtype=np.float32)


def peer_vectors(dataset: LabelledDataset, photos: list[int], workers: int) -> tuple[Vectors, float, int]:
    """The peer's embeddings of ``photos`` (cached by file name), seconds spent and photos embedded."""
    import face_recognition

    cache = OUT / f"emb_{PEER}_{face_recognition.__version__}.npz"
    known: dict[str, Vectors] = {}
    if cache.exists():
        with np.load(cache) as z:
            known = dict(zip(z["images"].tolist(), z["vectors"], strict=True))
    names = [dataset.relative(i) for i in photos]
    todo = [n for n in names if n not in known]
    start = time.perf_counter()
    if todo:
        with Pool(workers) as pool:
            paths = [str(dataset.root / n) for n in todo]
            for n, (name, vec) in enumerate(zip(todo, pool.imap(_peer_embed, paths, chunksize=8), strict=True), 1):
                known[name] = vec if vec is not None else np.full(128, np.nan, dtype=np.float32)
                if n % 500 == 0 or n == len(todo):
                    print(f"  {PEER}: {n}/{len(todo)} images", file=sys.stderr, flush=True)
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez(cache, images=np.array(sorted(known)), vectors=np.stack([known[k] for k in sorted(known)]))
    return np.stack([known[n] for n in names]), time.perf_counter() - start, len(todo)


def facesearch_vectors(
    dataset: LabelledDataset, photos: list[int], settings: Settings, cache: EmbeddingCache, workers: int
) -> tuple[Vectors, float, int]:
    paths = [dataset.paths[i] for i in photos]
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            print(f"  facesearch: {done}/{total} images", file=sys.stderr, flush=True)

    result = extract(paths, file_digests(paths), settings, cache, workers, progress)
    return result.vectors, time.perf_counter() - start, result.embedded


def row(
    name: str,
    shown: str,
    vectors: Vectors,
    metric: Metric,
    threshold: float,
    pairs: PairList,
    slot: dict[int, int],
    seconds: float,
    embedded: int,
    workers: int,
) -> dict[str, Any]:
    a = np.asarray([slot[int(i)] for i in pairs.a])
    b = np.asarray([slot[int(i)] for i in pairs.b])
    scores = pair_scores(vectors, a, b, metric)
    scores[np.isnan(scores)] = -np.inf  # no face: predicted "different"
    folds = metrics.kfold_accuracy(scores, pairs.same, pairs.fold)
    return dict(
        pipeline=name,
        settings=shown,
        metric=metric.value,
        images=len(vectors),
        no_face=int(np.isnan(vectors).any(axis=1).sum()),
        mean=folds.mean,
        std=folds.std,
        fold_accuracies=folds.fold_accuracies,
        fold_thresholds=folds.fold_thresholds,
        fixed_threshold=threshold,
        fixed_threshold_accuracy=float(np.mean((scores >= threshold) == pairs.same)),
        ms_per_image=1000 * seconds / embedded if embedded else None,
        embedded=embedded,
        workers=workers,
    )


def parse_variant(text: str) -> dict[str, Any]:
    def value(v: str) -> Any:
        if v.lower() in ("true", "false"):
            return v.lower() == "true"
        try:
            return ast.literal_eval(v) if v[:1].isdigit() or v[:1] in "-." else v  # int or float
        except (ValueError, SyntaxError):
            return v

    pairs = [kv.split("=", 1) for kv in text.split(",") if kv.strip()]
    if any(len(kv) != 2 for kv in pairs):
        raise SystemExit(f"--facesearch-settings {text!r}: expected key=value[,key=value...]")
    return {k.strip(): value(v.strip()) for k, v in pairs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder (pairs.txt, images/)")
    ap.add_argument("--folds", type=int, default=10, help="use only the first K folds (default 10)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="embedding processes")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(user_cache_dir("facesearch", appauthor=False)) / "embeddings.sqlite3",
        help="facesearch's embedding cache (shared with 'facesearch evaluate')",
    )
    ap.add_argument(
        "--facesearch-settings",
        action="append",
        default=[],
        metavar="K=V[,K=V]",
        help="an extra facesearch row with these settings (repeatable)",
    )
    args = ap.parse_args(argv)
    if not (args.lfw / "pairs.txt").is_file() or not (args.lfw / "images").is_dir():
        print(f"LFW not found at {args.lfw} (need pairs.txt and images/); pass --lfw DIR", file=sys.stderr)
        return 2

    dataset = load_dataset(args.lfw)
    every = read_lfw_pairs(args.lfw / "pairs.txt", dataset)
    keep = every.fold < args.folds
    pairs = PairList(every.a[keep], every.b[keep], every.same[keep], every.fold[keep])
    photos = sorted({int(i) for i in np.concatenate([pairs.a, pairs.b])})
    slot = {photo: k for k, photo in enumerate(photos)}
    n_folds = len(np.unique(pairs.fold))
    print(f"LFW {args.lfw}: {n_folds} fold(s), {len(pairs.same)} pairs, {len(photos)} images", file=sys.stderr)

    cache = EmbeddingCache(args.cache)
    results = []
    for text in ["", *args.facesearch_settings]:
        try:
            settings = Settings().replace(**parse_variant(text))
        except (FacesearchError, TypeError) as exc:
            raise SystemExit(f"--facesearch-settings {text!r}: {exc}") from None
        spec = spec_for_settings(settings)
        vectors, seconds, embedded = facesearch_vectors(dataset, photos, settings, cache, args.workers)
        results.append(
            row(
                "facesearch",
                text or "defaults",
                vectors,
                spec.metric,
                spec.published_threshold,
                pairs,
                slot,
                seconds,
                embedded,
                args.workers,
            )
        )
    vectors, seconds, embedded = peer_vectors(dataset, photos, args.workers)
    results.append(
        row(
            PEER,
            "hog, upsample=1, num_jitters=1",
            vectors,
            Metric.EUCLIDEAN,
            PEER_THRESHOLD,
            pairs,
            slot,
            seconds,
            embedded,
            args.workers,
        )
    )

    self_fit = " (1 fold: threshold fit on the test fold itself)" if n_folds == 1 else ""
    table = Table(title=f"LFW View 2: {n_folds}-fold verification, {len(pairs.same)} pairs{self_fit}")
    for col in (
        "pipeline",
        "settings",
        "metric",
        "images",
        "no face",
        f"{n_folds}-fold acc",
        "acc @ published threshold",
        "ms/image",
    ):
        table.add_column(col, justify="left" if col in ("pipeline", "settings", "metric") else "right")
    for r in results:
        ms = "cached" if r["ms_per_image"] is None else f"{r['ms_per_image']:.0f} ({r['workers']} workers)"
        table.add_row(
            r["pipeline"],
            r["settings"],
            r["metric"],
            str(r["images"]),
            str(r["no_face"]),
            f"{100 * r['mean']:.2f}% ± {100 * r['std']:.2f}",
            f"{100 * r['fixed_threshold_accuracy']:.2f}% (score {r['fixed_threshold']})",
            ms,
        )
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print(
        f"Published (dlib ResNet, LFW 10-fold): {100 * PUBLISHED_ACCURACY:.2f}%. "
        "ms/image = embedding wall time / images embedded (cache misses only)."
    )
    OUT.mkdir(parents=True, exist_ok=True)
    out = dict(
        lfw=str(args.lfw),
        folds=n_folds,
        pairs=int(len(pairs.same)),
        published_accuracy=PUBLISHED_ACCURACY,
        results=results,
    )
    (OUT / "lfw_pairs.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    console.print(f"Results written to {OUT / 'lfw_pairs.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
