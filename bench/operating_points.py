"""1:N on all of LFW, every recognizer side by side: rank-1, FNIR at FPIR, and identify's default threshold.

Each recognizer embeds the main face of all 13,232 LFW photos (through the cache ``facesearch
evaluate`` uses, so a full evaluation run before costs nothing here), then three 1:N protocols run
on the same vectors:

1. **rank-1 at 5,748 identities**: gallery = the first photo of every person, probes = the second
   photo of the 1,680 people who have one. A photo without a face in the gallery leaves its person
   out of it (their probe then counts as a miss).
2. **FNIR at FPIR 0.01 and 0.001** on the protocol of ``facesearch evaluate`` (one photo a person in
   the gallery, 20% of the people held out for non-mated searches: 4,598 identities).
3. **identify's default threshold on a 10,000-face gallery**: people are drawn at random (seeded)
   into the gallery until it holds 10,000 faces, each with every photo but one (kept as their mated
   probe); every photo of the people left out is a non-mated probe. The threshold is exactly the
   one an uncalibrated gallery of that size uses (``facesearch.scoring.scores.identify_meaning`` on
   the shipped LFW reference at ``target_fpir`` 0.01). Reported: that threshold, the FPIR it
   predicts, the FPIR measured (non-mated probes with any face above it) and the FNIR (mated probes
   whose mate is not the top candidate above it). The reference curve was measured on LFW itself,
   so this checks the arithmetic of the derivation on LFW's population, not a new population.

Every figure carries a 95% bootstrap interval over people (``--bootstrap`` replicates).

    python bench/operating_points.py                       # sface and dlib
    python bench/operating_points.py --recognizer sface    # one
    python bench/operating_points.py --cache /tmp/emb.sqlite3 --workers 2
    python bench/operating_points.py --peer            # and face_recognition beside them (its tolerance 0.6)

Results: a table on stdout and ``bench/out/operating_points.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from facesearch.config import Settings
from facesearch.evaluation.dataset import file_digests, load_dataset
from facesearch.evaluation.extract import EmbeddingCache, extract
from facesearch.evaluation.protocols import identification_searches
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.models import EmbedderSpec
from facesearch.scoring import error_rates as metrics
from facesearch.scoring.scores import identify_meaning, score_matrix, score_meaning
from facesearch.types import Metric

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared/data/lfw"
Ints = npt.NDArray[np.int64]


def interval(statistic: Any, n_identities: int, replicates: int, seed: int = 0) -> dict[str, float]:
    found = metrics.bootstrap_identities(statistic, n_identities, replicates, seed)
    return {"value": found.value, "low": found.low, "high": found.high}


def rank1_full(vectors: np.ndarray, ids: Ints, metric: Metric, replicates: int) -> dict[str, Any]:
    """Gallery: the first photo of each person; probes: the second photo of those with two or more."""
    first: dict[int, int] = {}
    second: dict[int, int] = {}
    for i, identity in enumerate(ids.tolist()):
        if identity not in first:
            first[identity] = i
        elif identity not in second:
            second[identity] = i
    usable = ~np.isnan(vectors).any(axis=1)
    gallery = np.asarray([i for i in first.values() if usable[i]])
    probes = np.asarray(list(second.values()))
    hit = np.zeros(len(probes), dtype=bool)
    for s in range(0, len(probes), 512):
        block = probes[s : s + 512]
        ok = usable[block]
        scores = score_matrix(vectors[block[ok]], vectors[gallery], metric)
        hit[s : s + 512][ok] = ids[gallery[scores.argmax(axis=1)]] == ids[block[ok]]
    probe_ids = ids[probes]

    def rate(m: np.ndarray) -> float:
        w = m[probe_ids]
        return float((w * hit).sum() / w.sum())

    return {
        "gallery": len(first),
        "probes": len(probes),
        "rank1": interval(rate, int(ids.max()) + 1, replicates),
    }


def fnir_at_fpir(vectors: np.ndarray, ids: Ints, metric: Metric, replicates: int) -> dict[str, Any]:
    """``facesearch evaluate``'s 1:N protocol: FNIR at FPIR 0.01 and 0.001 with intervals."""
    s = identification_searches(vectors, ids, metric, 0.2, 0)
    fpirs = (0.01, 0.001)

    def figures(m: np.ndarray) -> list[float]:
        mated, nonmated = m[s.mated_identity], m[s.nonmated_identity]
        return [
            metrics.identification_point(s.ranks, s.mate_scores, s.nonmated_top, f, mated, nonmated).fnir for f in fpirs
        ]

    found = metrics.bootstrap_many(figures, int(ids.max()) + 1, replicates, 0)
    points = [metrics.identification_point(s.ranks, s.mate_scores, s.nonmated_top, f) for f in fpirs]
    return {
        "gallery": s.gallery_size,
        "mated": len(s.mate_scores),
        "nonmated": len(s.nonmated_top),
        "points": {
            f"{f:g}": {
                "fnir": {"value": x.value, "low": x.low, "high": x.high},
                "threshold": p.threshold,
                "supported": p.supported,
            }
            for f, x, p in zip(fpirs, found, points, strict=True)
        },
    }


ThresholdFor = Callable[[int], tuple[float, str, float | None]]  # gallery faces -> (score, source, FPIR predicted)


def identify_default(spec: EmbedderSpec, target_fpir: float) -> ThresholdFor:
    """identify's threshold for an uncalibrated facesearch gallery of that many faces."""

    def threshold(faces: int) -> tuple[float, str, float | None]:
        t = identify_meaning(score_meaning(spec, None), faces, target_fpir).threshold
        return t.score, t.source, t.fpir

    return threshold


def default_threshold(
    vectors: np.ndarray, ids: Ints, metric: Metric, faces: int, threshold_for: ThresholdFor, replicates: int, seed: int
) -> dict[str, Any]:
    """The default threshold of a gallery of ``faces`` faces, measured."""
    usable = ~np.isnan(vectors).any(axis=1)
    people = np.unique(ids[usable])
    rng = np.random.default_rng(seed)
    rng.shuffle(people)
    photos_of = {int(p): np.flatnonzero((ids == p) & usable) for p in people}
    gallery: list[int] = []
    mated: list[int] = []
    enrolled: set[int] = set()
    for p in people.tolist():
        photos = photos_of[p]
        keep = photos[:-1] if len(photos) > 1 else photos  # the last photo is the mated probe
        if len(gallery) + len(keep) > faces:
            break
        gallery.extend(keep.tolist())
        if len(photos) > 1:
            mated.append(int(photos[-1]))
        enrolled.add(p)
    nonmated = [i for p in people.tolist() if p not in enrolled for i in photos_of[p].tolist()]
    g = np.asarray(gallery)
    t, source, predicted = threshold_for(len(g))

    def best(probes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        top, who = np.empty(len(probes)), np.empty(len(probes), dtype=np.int64)
        for s in range(0, len(probes), 512):
            block = np.asarray(probes[s : s + 512])
            scores = score_matrix(vectors[block], vectors[g], metric)
            k = scores.argmax(axis=1)
            top[s : s + 512], who[s : s + 512] = scores[np.arange(len(block)), k], ids[g[k]]
        return top, who

    non_top, _ = best(nonmated)
    mate_top, mate_who = best(mated)
    non_ids, mate_ids = ids[np.asarray(nonmated)], ids[np.asarray(mated)]

    def fpir(m: np.ndarray) -> float:
        return metrics.fpir_at(non_top, t, m[non_ids])

    def fnir(m: np.ndarray) -> float:
        w = m[mate_ids]
        hit = (mate_who == mate_ids) & (mate_top >= t)
        return float((w * ~hit).sum() / w.sum())

    n_ids = int(ids.max()) + 1
    return {
        "gallery_faces": len(g),
        "gallery_people": len(enrolled),
        "nonmated_probes": len(nonmated),
        "nonmated_people": len(people) - len(enrolled),
        "mated_probes": len(mated),
        "threshold": t,
        "threshold_source": source,
        "predicted_fpir": predicted,
        "fpir": interval(fpir, n_ids, replicates, seed),
        "fnir": interval(fnir, n_ids, replicates, seed),
    }


def measure(
    model_id: str, vectors: np.ndarray, ids: Ints, metric: Metric, threshold_for: ThresholdFor, args: Any
) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "no_face": int(np.isnan(vectors).any(axis=1).sum()),
        "rank1_5748": rank1_full(vectors, ids, metric, args.bootstrap),
        "evaluate_protocol": fnir_at_fpir(vectors, ids, metric, args.bootstrap),
        "default_threshold": default_threshold(
            vectors, ids, metric, args.gallery_faces, threshold_for, args.bootstrap, args.seed
        ),
    }


def text(x: dict[str, float], fmt: str = ".2%") -> str:
    return f"{x['value']:{fmt}} [{x['low']:{fmt}}, {x['high']:{fmt}}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder (images/)")
    ap.add_argument("--recognizer", action="append", help="recognizer(s) to measure (default: sface and dlib)")
    ap.add_argument("--cache", type=Path, default=OUT / "embeddings.sqlite3", help="embedding cache")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--gallery-faces", type=int, default=10_000)
    ap.add_argument("--target-fpir", type=float, default=Settings().target_fpir)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peer", action="store_true", help="also the face_recognition package (pip install it)")
    args = ap.parse_args()
    images = args.lfw / "images"
    if not images.is_dir():
        raise SystemExit(f"no LFW images at {images} (see shared/data/README.md)")
    dataset = load_dataset(images)
    digests = file_digests(dataset.paths)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(args.cache)
    console = Console(width=200)
    results: dict[str, Any] = {}
    for name in args.recognizer or ["sface", "dlib"]:
        settings = Settings(recognizer=name)
        pipeline = FacePipeline(settings)
        spec = pipeline.spec
        console.print(f"{name}: embedding {len(dataset):,} photos (cached ones read back) ...")
        extraction = extract(dataset.paths, digests, settings, cache, args.workers, None, pipeline)
        threshold_for = identify_default(spec, args.target_fpir)
        results[name] = measure(
            spec.model_id, extraction.vectors, dataset.identity_of, spec.metric, threshold_for, args
        )
    if args.peer:
        from lfw_pairs import PEER_THRESHOLD, peer_vectors  # the peer and its cache, as bench/lfw_pairs.py has them

        console.print(f"face_recognition (the peer): embedding {len(dataset):,} photos (cached ones read back) ...")
        vectors, _, _ = peer_vectors(dataset, list(range(len(dataset))), args.workers)
        peer_default = (PEER_THRESHOLD, "its tolerance 0.6", None)
        results["face_recognition (peer)"] = measure(
            "face_recognition 1.3 (dlib ResNet, no mirror, Euclidean)",
            vectors,
            dataset.identity_of,
            Metric.EUCLIDEAN,
            lambda faces: peer_default,
            args,
        )
    table = Table(title=f"1:N on LFW ({len(dataset):,} photos); 95% bootstrap intervals over people")
    for col in (
        "recognizer",
        "rank-1, 5,748 ids",
        "FNIR @ FPIR 0.01",
        "FNIR @ FPIR 0.001",
        "default threshold",
        "FPIR predicted",
        "FPIR measured",
        "FNIR there",
    ):
        table.add_column(col, justify="left" if col == "recognizer" else "right")
    for name, r in results.items():
        d, e = r["default_threshold"], r["evaluate_protocol"]["points"]
        table.add_row(
            name,
            text(r["rank1_5748"]["rank1"]),
            text(e["0.01"]["fnir"]),
            text(e["0.001"]["fnir"]),
            f"{d['threshold']:.4f} ({d['threshold_source']})",
            "-" if d["predicted_fpir"] is None else f"{d['predicted_fpir']:.2%}",
            text(d["fpir"]),
            text(d["fnir"]),
        )
    console.print(table)
    for name, r in results.items():
        d = r["default_threshold"]
        console.print(
            f"{name}: {r['no_face']} photos without a face; default-threshold gallery of {d['gallery_faces']:,} faces "
            f"({d['gallery_people']:,} people), {d['nonmated_probes']:,} non-mated probes of "
            f"{d['nonmated_people']:,} people, {d['mated_probes']:,} mated probes",
            highlight=False,
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "operating_points.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
