"""Every built-in recognizer on LFW, side by side in one run: 10-fold accuracy and time per face.

For each recognizer (``sface``, ``dlib``) every photo of ``pairs.txt`` (7,701) is decoded and its
faces found and aligned (``FacePipeline.find``: detect + align, timed per photo); the main face
(``main_face``: the prominent face nearest the centre) and its mirror image are embedded in one
call to the network (timed, per face). Each recognizer thus gives two recipes from one pass: the
face alone, and the mean of the face's and its mirror image's vectors (the default). Scores are
cosine similarities, higher = more alike; a photo with no face scores -inf ("different").

Reported per recipe: LFW View 2 10-fold accuracy (each fold tested at the threshold that maximises
accuracy on the other nine, ``facesearch.scoring.error_rates.kfold_accuracy``) as mean +- standard
deviation over the folds; accuracy at the recipe's published operating point; photos without a
face; detect + align ms per photo and embed ms per face on ONE thread (``--threads``), medians.

    python bench/models.py                      # both recognizers, all 10 folds
    python bench/models.py --folds 1            # quick check (fold 1 only, threshold fit on itself)

Vectors and timings are kept in ``bench/out/models_<recognizer>.npz`` (``--fresh`` measures
again); the table goes to stdout and ``bench/out/models.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared/data/lfw"
RECOGNIZERS = ("sface", "dlib")


def measure(name: str, paths: list[Path]) -> dict[str, Any]:
    """Face and mirror vectors of every photo's main face, and the time each stage took."""
    from facesearch.config import Settings
    from facesearch.errors import FacesearchError
    from facesearch.pipeline.decode import decode
    from facesearch.pipeline.faces import FacePipeline, main_face

    pipeline = FacePipeline(Settings(recognizer=name, embed_mirrored=False))
    dimension = pipeline.spec.dimension
    face, mirror = np.full((2, len(paths), dimension), np.nan, dtype=np.float32)
    detect_ms, embed_ms = [], []
    for i, path in enumerate(paths):
        try:
            image = decode(path, pipeline.settings)
        except FacesearchError:
            continue
        start = time.perf_counter()
        found = pipeline.find(image)
        detect_ms.append(1000 * (time.perf_counter() - start))
        if not found:
            continue
        boxes = [f.aligned.detection.box for f in found]
        main = found[_main_index(boxes, image.width, image.height, main_face)]
        flipped = dataclasses.replace(main.aligned, chip=np.ascontiguousarray(main.aligned.chip[:, ::-1]))
        start = time.perf_counter()
        vectors = pipeline.recognizer.embed([main.aligned, flipped])
        embed_ms.append(1000 * (time.perf_counter() - start) / 2)  # per chip: one network pass
        face[i], mirror[i] = vectors[0].vector, vectors[1].vector
        if (i + 1) % 1000 == 0:
            print(f"  {name}: {i + 1}/{len(paths)} photos", file=sys.stderr, flush=True)
    return {"face": face, "mirror": mirror, "detect_ms": np.array(detect_ms), "embed_ms": np.array(embed_ms)}


def _main_index(boxes: list[Any], width: int, height: int, main_face: Any) -> int:
    """Which found face :func:`main_face` would pick (it takes observations; boxes are enough)."""

    @dataclasses.dataclass
    class _Boxed:
        box: Any

    chosen = main_face([_Boxed(b) for b in boxes], width, height)
    return next(i for i, b in enumerate(boxes) if b is chosen.box)


def scores(vectors: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    out = np.einsum("ij,ij->i", unit[a], unit[b]).astype(np.float64)
    out[np.isnan(out)] = -np.inf
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder (pairs.txt, images/)")
    ap.add_argument("--folds", type=int, default=10, help="use only the first K folds (default 10)")
    ap.add_argument("--threads", type=int, default=1, help="threads each network may use (default 1)")
    ap.add_argument("--fresh", action="store_true", help="measure again instead of reading bench/out")
    args = ap.parse_args(argv)
    if not (args.lfw / "pairs.txt").is_file():
        print(f"LFW not found at {args.lfw} (need pairs.txt and images/); pass --lfw DIR", file=sys.stderr)
        return 2
    os.environ["FACESEARCH_MODEL_THREADS"] = str(args.threads)  # before any network loads

    from facesearch.config import Settings
    from facesearch.evaluation.dataset import PairList, load_dataset, read_lfw_pairs
    from facesearch.pipeline.recognizers import spec_for_settings
    from facesearch.scoring import error_rates

    dataset = load_dataset(args.lfw)
    every = read_lfw_pairs(args.lfw / "pairs.txt", dataset)
    keep = every.fold < args.folds
    pairs = PairList(every.a[keep], every.b[keep], every.same[keep], every.fold[keep])
    photos = sorted({int(i) for i in np.concatenate([pairs.a, pairs.b])})
    slot = {photo: k for k, photo in enumerate(photos)}
    a = np.array([slot[int(i)] for i in pairs.a])
    b = np.array([slot[int(i)] for i in pairs.b])
    paths = [dataset.paths[i] for i in photos]
    print(
        f"LFW {args.lfw}: {len(np.unique(pairs.fold))} fold(s), {len(pairs.same)} pairs, {len(paths)} photos",
        file=sys.stderr,
    )

    rows = []
    OUT.mkdir(parents=True, exist_ok=True)
    for name in RECOGNIZERS:
        cached = OUT / f"models_{name}_{len(paths)}.npz"
        if cached.exists() and not args.fresh:
            with np.load(cached) as z:
                m = {k: z[k] for k in z.files}
        else:
            m = measure(name, paths)
            np.savez(cached, **m)
        for mirrored in (False, True):
            spec = spec_for_settings(Settings(recognizer=name, embed_mirrored=mirrored))
            vectors = (m["face"] + m["mirror"]) / 2 if mirrored else m["face"]
            s = scores(vectors, a, b)
            folds = error_rates.kfold_accuracy(s, pairs.same, pairs.fold)
            rows.append(
                dict(
                    recognizer=name,
                    model_id=spec.model_id,
                    photos=len(paths),
                    no_face=int(np.isnan(m["face"]).any(axis=1).sum()),
                    mean=folds.mean,
                    std=folds.std,
                    fold_accuracies=folds.fold_accuracies,
                    published_threshold=spec.published_threshold,
                    published_accuracy=float(np.mean((s >= spec.published_threshold) == pairs.same)),
                    detect_ms_per_photo=float(np.median(m["detect_ms"])),
                    embed_ms_per_face=float(np.median(m["embed_ms"])) * (2 if mirrored else 1),
                    threads=args.threads,
                )
            )

    table = Table(title=f"LFW View 2, {len(np.unique(pairs.fold))}-fold verification, {len(pairs.same)} pairs")
    for col in ("model id", "no face", "10-fold accuracy", "at published point", "detect ms/photo", "embed ms/face"):
        table.add_column(col, justify="left" if col == "model id" else "right")
    for r in rows:
        table.add_row(
            r["model_id"],
            str(r["no_face"]),
            f"{100 * r['mean']:.2f}% ± {100 * r['std']:.2f}",
            f"{100 * r['published_accuracy']:.2f}% (score {r['published_threshold']})",
            f"{r['detect_ms_per_photo']:.1f}",
            f"{r['embed_ms_per_face']:.1f}",
        )
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print(
        f"Medians on {args.threads} thread(s); detect = find + align every face of a photo; embed = the main "
        "face (and its mirror image for +mirror recipes)."
    )
    (OUT / "models.json").write_text(json.dumps({"lfw": str(args.lfw), "results": rows}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
