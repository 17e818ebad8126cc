"""LFW verification benchmark (View 2, 10-fold) for facesearch and the ``face_recognition`` package.

Both pipelines embed the same images from ``pairs.txt`` (each unique image once per pipeline) and
score each pair, higher = more alike:

- facesearch: ``decode`` -> ``FacePipeline.analyze`` -> ``main_face``; score = ``search.compare``.
- face_recognition (peer): ``load_image_file`` -> ``face_locations`` (HOG, upsample 1) ->
  ``face_encodings``; the largest box's encoding; score = 1 - ``face_distance``.

A pair where either image has no face counts as predicted "different". Reported per pipeline:
images with no face; 10-fold accuracy (each fold tested at the threshold that maximises accuracy
on the other folds) as mean ± std over folds; accuracy at the fixed published threshold (score 0.4,
i.e. distance 0.6) over all pairs; and wall time per image of the embedding phase. The published
figure for dlib's model is 99.38%.

Run from the repository root (needs ``pip install --no-deps face_recognition`` in the venv)::

    python bench/lfw_pairs.py                                   # full run, cached in bench/out/
    python bench/lfw_pairs.py --folds 1 --workers 4             # quick check (threshold fit on fold 1)
    python bench/lfw_pairs.py --facesearch-settings upsample=2 \\
        --facesearch-settings num_jitters=10,detector=cnn       # one extra facesearch row per flag

Embeddings are cached in ``bench/out/emb_<pipeline>_<settings hash>.npz`` (``--no-cache`` recomputes);
results go to ``bench/out/lfw_pairs.json``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from facesearch.config import Settings
from facesearch.errors import FacesearchError

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared/data/lfw"
PUBLISHED_ACCURACY = 0.9938
FIXED_SCORE = 0.4  # = Euclidean distance 0.6, the published operating point
PEER = "face_recognition"

Pair = tuple[str, str, bool]  # image a, image b (relative paths), same person
Vectors = npt.NDArray[np.float32]  # (n, 128); a row of NaN where no face was found

_worker: Any = None  # per-process embedder (the face_recognition module or a FacePipeline)


def read_pairs(lfw: Path, n_folds: int) -> list[list[Pair]]:
    lines = (lfw / "pairs.txt").read_text(encoding="utf-8").splitlines()
    folds_total, per_half = (int(x) for x in lines[0].split())

    def img(name: str, n: str) -> str:
        return f"{name}/{name}_{int(n):04d}.jpg"

    folds: list[list[Pair]] = []
    rows = [line.split() for line in lines[1:] if line.strip()]
    for f in range(min(n_folds, folds_total)):
        chunk = rows[f * 2 * per_half : (f + 1) * 2 * per_half]
        folds.append(
            [(img(r[0], r[1]), img(r[0], r[2]), True) for r in chunk[:per_half]]
            + [(img(r[0], r[1]), img(r[2], r[3]), False) for r in chunk[per_half:]]
        )
    return folds


def _init_worker(pipeline: str, settings: dict[str, Any]) -> None:
    global _worker
    if pipeline == PEER:
        import face_recognition

        _worker = face_recognition
    else:
        from facesearch.pipeline import FacePipeline

        _worker = FacePipeline(Settings(**settings))


def _embed(path: str) -> tuple[Vectors | None, str | None]:
    """One image's main-face embedding (None when no face), and an error message if it failed."""
    try:
        if not hasattr(_worker, "analyze"):  # the face_recognition module
            img = _worker.load_image_file(path)
            locs = _worker.face_locations(img)
            if not locs:
                return None, None
            encs = _worker.face_encodings(img, locs)
            areas = [(b - t) * (r - left) for t, r, b, left in locs]
            return np.asarray(encs[int(np.argmax(areas))], dtype=np.float32), None
        from facesearch.decode import decode
        from facesearch.pipeline import main_face

        image = decode(path, _worker.settings)
        face = main_face(_worker.analyze(image), image.width, image.height)
        return None if face is None else face.embedding.vector.astype(np.float32), None
    except (FacesearchError, OSError) as exc:
        return None, f"{path}: {type(exc).__name__}: {exc}"


def _code_version(pipeline: str) -> str:
    """A hash of the code that makes the embeddings, so a changed pipeline never reuses a stale cache."""
    if pipeline == PEER:
        import face_recognition

        return str(face_recognition.__version__)
    import facesearch

    package = Path(facesearch.__file__).parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def embed_all(
    pipeline: str, settings: dict[str, Any], lfw: Path, images: list[str], workers: int, use_cache: bool
) -> tuple[Vectors, dict[str, Any]]:
    """Embeddings of ``images`` in order, plus timing; reuses and extends the .npz cache."""
    key = hashlib.sha256(
        json.dumps([pipeline, settings, _code_version(pipeline)], sort_keys=True).encode()
    ).hexdigest()[:12]
    cache = OUT / f"emb_{pipeline}_{key}.npz"
    known: dict[str, Vectors] = {}
    timing = {"seconds": 0.0, "embedded": 0, "workers": workers, "from_cache": 0}
    if use_cache and cache.exists():
        with np.load(cache) as z:
            known = dict(zip(z["images"].tolist(), z["vectors"], strict=True))
            timing.update(json.loads(str(z["timing"])))
    todo = [i for i in images if i not in known]
    timing["from_cache"] = len(images) - len(todo)
    if todo:
        start = time.perf_counter()
        with Pool(workers, initializer=_init_worker, initargs=(pipeline, settings)) as pool:
            paths = [str(lfw / "images" / i) for i in todo]
            for n, (rel, (vec, err)) in enumerate(zip(todo, pool.imap(_embed, paths, chunksize=8), strict=True), 1):
                if err:
                    print(f"  warning: {err}", file=sys.stderr)
                known[rel] = vec if vec is not None else np.full(128, np.nan, dtype=np.float32)
                if n % 500 == 0 or n == len(todo):
                    print(f"  {pipeline}: {n}/{len(todo)} images", file=sys.stderr, flush=True)
        elapsed = time.perf_counter() - start
        if timing["workers"] != workers:  # per-image times only add up at equal worker counts
            timing.update(seconds=0.0, embedded=0, workers=workers)
        timing.update(seconds=timing["seconds"] + elapsed, embedded=timing["embedded"] + len(todo))
        OUT.mkdir(parents=True, exist_ok=True)
        names = sorted(known)
        stored = {k: v for k, v in timing.items() if k != "from_cache"}
        np.savez(
            cache,
            images=np.array(names),
            vectors=np.stack([known[k] for k in names]),
            timing=np.array(json.dumps(stored)),
        )
    return np.stack([known[i] for i in images]), timing


def pair_scores(pipeline: str, vecs: Vectors, index: dict[str, int], pairs: list[Pair]) -> npt.NDArray[Any]:
    """Score of each pair, -inf where either image has no face."""
    import face_recognition

    from facesearch.models import DLIB_RESNET_V1 as SPEC
    from facesearch.search import compare
    from facesearch.types import Embedding

    def score(a: Vectors, b: Vectors) -> float:
        if pipeline == PEER:
            return 1.0 - float(face_recognition.face_distance([a], b)[0])
        return compare(*(Embedding(vector=v, model_id=SPEC.model_id, metric=SPEC.metric) for v in (a, b)))

    out = np.full(len(pairs), -np.inf)
    for k, (a, b, _) in enumerate(pairs):
        va, vb = vecs[index[a]], vecs[index[b]]
        if not (np.isnan(va).any() or np.isnan(vb).any()):
            out[k] = score(va, vb)
    return out


def best_threshold(scores: npt.NDArray[Any], same: npt.NDArray[np.bool_]) -> float:
    """Threshold (predict same when score > t) maximising accuracy, over midpoints of unique scores."""
    u = np.unique(scores[np.isfinite(scores)])
    cands = np.concatenate(([u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0])) if len(u) else np.zeros(1)
    pos, neg = np.sort(scores[same]), np.sort(scores[~same])
    correct = (len(pos) - np.searchsorted(pos, cands, "right")) + np.searchsorted(neg, cands, "right")
    return float(cands[int(np.argmax(correct))])


def evaluate(scores: npt.NDArray[Any], same: npt.NDArray[np.bool_], fold_of: npt.NDArray[Any]) -> dict[str, Any]:
    n_folds = int(fold_of.max()) + 1
    accs, thresholds = [], []
    for f in range(n_folds):
        test = fold_of == f
        train = ~test if n_folds > 1 else test  # a single fold can only be fit on itself
        t = best_threshold(scores[train], same[train])
        accs.append(float(np.mean((scores[test] > t) == same[test])))
        thresholds.append(t)
    return {
        "fold_accuracies": accs,
        "fold_thresholds": thresholds,
        "mean": float(np.mean(accs)),
        "std": float(np.std(accs)),
        "fixed_threshold_accuracy": float(np.mean((scores >= FIXED_SCORE) == same)),
    }


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
    ap.add_argument("--no-cache", action="store_true", help="recompute embeddings even if cached")
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

    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (pipeline, shown settings, all settings)
    for text in ["", *args.facesearch_settings]:
        kw = parse_variant(text)
        try:
            full = dataclasses.asdict(Settings().replace(**kw))
        except (FacesearchError, TypeError) as exc:
            raise SystemExit(f"--facesearch-settings {text!r}: {exc}") from None
        rows.append(("facesearch", kw, full))
    rows.append((PEER, {"detector": "hog", "upsample": 1, "num_jitters": 1}, {}))

    folds = read_pairs(args.lfw, args.folds)
    pairs = [p for fold in folds for p in fold]
    fold_of = np.repeat(np.arange(len(folds)), [len(f) for f in folds])
    same = np.array([p[2] for p in pairs])
    images = sorted({i for a, b, _ in pairs for i in (a, b)})
    index = {name: k for k, name in enumerate(images)}
    summary = f"{len(folds)} fold(s), {len(pairs)} pairs, {len(images)} images, {args.workers} worker(s)"
    print(f"LFW {args.lfw}: {summary}", file=sys.stderr)

    results = []
    for pipeline, shown, full in rows:
        vecs, timing = embed_all(pipeline, full, args.lfw, images, args.workers, not args.no_cache)
        res = evaluate(pair_scores(pipeline, vecs, index, pairs), same, fold_of)
        no_face = [images[k] for k in np.flatnonzero(np.isnan(vecs).any(axis=1))]
        ms = 1000 * timing["seconds"] / timing["embedded"] if timing["embedded"] else math.nan
        info = dict(images=len(images), no_face=len(no_face), no_face_images=no_face, ms_per_image=ms)
        results.append(dict(pipeline=pipeline, settings=shown, **info, timing=timing, **res))

    self_fit = " (1 fold: threshold fit on the test fold itself)" if len(folds) == 1 else ""
    table = Table(title=f"LFW View 2: {len(folds)}-fold verification, {len(pairs)} pairs{self_fit}")
    for col in ("pipeline", "settings", "images", "no face", f"{len(folds)}-fold acc", "acc @ score 0.4", "ms/image"):
        table.add_column(col, justify="left" if col in ("pipeline", "settings") else "right")
    for r in results:
        t = r["timing"]
        cached = f", {t['from_cache']} cached" if t["from_cache"] else ""
        table.add_row(
            r["pipeline"],
            ", ".join(f"{k}={v}" for k, v in r["settings"].items()) or "defaults",
            str(r["images"]),
            str(r["no_face"]),
            f"{100 * r['mean']:.2f}% ± {100 * r['std']:.2f}",
            f"{100 * r['fixed_threshold_accuracy']:.2f}%",
            f"{r['ms_per_image']:.0f} ({t['workers']} workers{cached})",
        )
    console = Console(width=None if sys.stdout.isatty() else 150)
    console.print(table)
    console.print(
        f"Published (dlib ResNet, LFW 10-fold): {100 * PUBLISHED_ACCURACY:.2f}%. "
        "ms/image = embedding wall time / images embedded, so it falls as workers rise."
    )
    OUT.mkdir(parents=True, exist_ok=True)
    out = dict(lfw=str(args.lfw), folds=len(folds), pairs=len(pairs), workers=args.workers)
    out.update(published_accuracy=PUBLISHED_ACCURACY, fixed_score_threshold=FIXED_SCORE, results=results)
    (OUT / "lfw_pairs.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    console.print(f"Results written to {OUT / 'lfw_pairs.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
