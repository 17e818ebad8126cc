"""SFace, dlib's ResNet and their fusion on all of LFW, side by side, with the fusion's parameters fit
on training data only.

Reads the embeddings that ``facesearch --recognizer fusion evaluate LFW --cache CACHE`` stored: each
fused template holds both members' unit templates (:mod:`facesearch.pipeline.recognizers.fusion`),
so one pass over LFW gives all three scorers on the same faces. ``sface`` is exactly the sface
recipe (same YuNet faces, same chips); ``dlib`` is dlib's ResNet on dlib's chip of the face YuNet
found (the fusion's member, not the dlib recipe with dlib's own detector). Scores: cosine, or for a
fusion the weighted sum of z-normalised member cosines; higher = more alike.

Fusions measured:

- ``fusion shipped``: the recipe as shipped (its statistics were fit on the photos of pairs.txt, so
  on LFW its figures are optimistic by whatever that fit is worth);
- ``fusion cv 1:1``: equal weights, each member's impostor mean and sd refit without the test data;
- ``fusion cv w``: the same, with the weight also fit (0 to 1 by 0.05) without the test data.

Protocols:

- 1:1, LFW View 2 10-fold: for each held-out fold, the normalisation is fit on every
  different-person pair among the photos of the nine other folds, the weight by their 9-fold
  accuracy, the threshold by accuracy on those folds; mean +- sd over the 10 held-out folds.
- 1:N at 5,748 identities: gallery = the first photo of every person, probes = the second photo
  of the 1,680 people with two or more. The fusion is fit on the photos in neither (third photos
  on): mean and sd on their different-person pairs, the weight by TAR at FMR 1e-3 on their pairs.
  Rank-1 +- the sd of rank-1 over 10 folds of the probes.
- per sex (LFW's male_names/female_names; names in both are left out): the threshold where 5
  million different-person pairs sampled from all photos reach FMR 1e-4; at it, the FMR of 5
  million sampled woman-woman and man-man impostor pairs and the FNMR of all same-person pairs.
- ``--time-photos N``: each recognizer finds (detect + align, ms per photo) and embeds the main face
  (with its mirror image, ms per face) of the same N photos on one thread, medians.

    python bench/fusion.py --cache /tmp/emb.sqlite3 [--time-photos 200]

The table goes to stdout and ``bench/out/fusion.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared/data/lfw"
WEIGHTS = np.round(np.arange(0.0, 1.0001, 0.05), 2)  # sface's weight; dlib's is 1 - w
Stats = tuple[float, float, float, float]  # sface mean, sd, dlib mean, sd
RNG = np.random.default_rng(0)


def member_templates(root: Path, cache: Path, partial: bool = False) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """The dataset, both members' unit templates of every photo (NaN rows: no face) and which photos
    the cache holds (all of them unless ``partial``)."""
    from facesearch.config import Settings
    from facesearch.evaluation.dataset import file_digests, load_dataset
    from facesearch.evaluation.extract import EmbeddingCache, recipe_of
    from facesearch.pipeline.recognizers.fusion import FUSION, FUSION_V1

    dataset = load_dataset(root)
    digests = file_digests(dataset.paths)
    found = EmbeddingCache(cache).get(digests, recipe_of(Settings(recognizer="fusion"), FUSION))
    missing = sum(d not in found for d in digests)
    if missing and not partial:
        raise SystemExit(f"{missing} photos are not in {cache}: run 'facesearch --recognizer fusion evaluate' first")
    u1, u2 = np.full((2, len(digests), 128), np.nan, dtype=np.float32)
    for i, d in enumerate(digests):
        blob = found.get(d, (None, None))[0]
        if blob is not None:
            u1[i], u2[i] = FUSION_V1.member_templates(np.frombuffer(blob, dtype="<f4"))
    present = np.array([d in found for d in digests])
    return dataset, u1, u2, present


def impostor_stats(u: np.ndarray, identity: np.ndarray, photos: np.ndarray) -> tuple[float, float]:
    """Mean and sd of the cosine over every different-person pair among ``photos``."""
    photos = photos[~np.isnan(u[photos]).any(axis=1)]
    v, ids = u[photos].astype(np.float64), identity[photos]
    total = squares = count = 0.0
    for start in range(0, len(v), 1000):
        c = v[start : start + 1000] @ v.T
        x = c[ids[start : start + 1000, None] != ids[None, :]]
        total, squares, count = total + x.sum(), squares + (x * x).sum(), count + x.size
    mean = total / count
    return float(mean), float(np.sqrt(squares / count - mean * mean))


def fit_stats(u1: np.ndarray, u2: np.ndarray, identity: np.ndarray, photos: np.ndarray) -> Stats:
    return (*impostor_stats(u1, identity, photos), *impostor_stats(u2, identity, photos))


def fuse(c1: np.ndarray, c2: np.ndarray, stats: Stats, w: float) -> np.ndarray:
    """The weighted sum of the z-normalised cosines; -inf where a photo had no face."""
    with np.errstate(invalid="ignore"):
        out = w * (c1 - stats[0]) / stats[1] + (1 - w) * (c2 - stats[2]) / stats[3]
    out[~(np.isfinite(c1) & np.isfinite(c2))] = -np.inf
    return out


def cosines(u: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cosine of each pair (a[i], b[i]) of unit templates; -inf where either has none."""
    step = 500_000
    out = np.concatenate(
        [np.einsum("ij,ij->i", u[a[k : k + step]], u[b[k : k + step]]) for k in range(0, max(len(a), 1), step)]
    ).astype(np.float64)
    out[np.isnan(out)] = -np.inf
    return out


def shipped_stats() -> Stats:
    from facesearch.pipeline.recognizers.fusion import FUSION_V1

    s, d = FUSION_V1.members
    return (s.impostor_mean, s.impostor_sd, d.impostor_mean, d.impostor_sd)


def best_weight(score_of: Callable[[float], float]) -> float:
    """The weight with the highest score (ties: the one nearest 0.5)."""
    return max(WEIGHTS, key=lambda w: (round(score_of(float(w)), 9), -abs(w - 0.5)))


def pairs_protocol(
    dataset: Any, u1: np.ndarray, u2: np.ndarray, lfw: Path, present: np.ndarray
) -> dict[str, dict[str, Any]]:
    """10-fold accuracy of every scorer, the fusions fit on the nine training folds."""
    from facesearch.evaluation.dataset import PairList, read_lfw_pairs
    from facesearch.scoring.error_rates import best_accuracy_threshold, kfold_accuracy

    every = read_lfw_pairs(lfw / "pairs.txt", dataset)
    kept = present[every.a] & present[every.b]
    pairs = PairList(every.a[kept], every.b[kept], every.same[kept], every.fold[kept])
    c1, c2 = cosines(u1, pairs.a, pairs.b), cosines(u2, pairs.a, pairs.b)
    out: dict[str, dict[str, Any]] = {}
    for name, s in (("sface", c1), ("dlib", c2), ("fusion shipped", fuse(c1, c2, shipped_stats(), 0.5))):
        k = kfold_accuracy(s, pairs.same, pairs.fold)
        out[name] = {"mean": k.mean, "std": k.std, "folds": k.fold_accuracies}
    fitted: dict[str, list[float]] = {"fusion cv 1:1": [], "fusion cv w": []}
    weights = []
    for f in np.unique(pairs.fold):
        test, train = pairs.fold == f, pairs.fold != f
        photos = np.unique(np.concatenate([pairs.a[train], pairs.b[train]]))
        stats = fit_stats(u1, u2, dataset.identity_of, photos)

        def train_accuracy(w: float, stats: Stats = stats, train: np.ndarray = train) -> float:
            s = fuse(c1[train], c2[train], stats, w)
            return float(np.mean((s >= best_accuracy_threshold(s, pairs.same[train])) == pairs.same[train]))

        for name, w in (("fusion cv 1:1", 0.5), ("fusion cv w", best_weight(train_accuracy))):
            s = fuse(c1, c2, stats, w)
            t = best_accuracy_threshold(s[train], pairs.same[train])
            fitted[name].append(float(np.mean((s[test] >= t) == pairs.same[test])))
        weights.append(float(best_weight(train_accuracy)))
    for name, accs in fitted.items():
        out[name] = {"mean": float(np.mean(accs)), "std": float(np.std(accs)), "folds": accs}
    out["fusion cv w"]["weights"] = weights
    out["sface"]["pairs"] = int(kept.sum())
    return out


def identification(dataset: Any, u1: np.ndarray, u2: np.ndarray, present: np.ndarray) -> dict[str, dict[str, Any]]:
    """Rank-1 with the first photo of each person enrolled and each second photo searched."""
    from facesearch.scoring.error_rates import threshold_for_fmr

    ids = dataset.identity_of
    people = [p for p in range(len(dataset.identities)) if present[np.flatnonzero(ids == p)[0]]]
    first = np.array([np.flatnonzero(ids == p)[0] for p in people])
    counts = np.bincount(ids)
    probes = np.array([np.flatnonzero(ids == p)[1] for p in people if counts[p] >= 2])
    probes = probes[present[probes]]
    rest = np.setdiff1d(np.flatnonzero(present), np.concatenate([first, probes]))
    sims = []
    for u in (u1, u2):
        g = np.nan_to_num(u[first], nan=0.0)
        m = u[probes] @ g.T
        m[np.isnan(m)] = -np.inf
        m[:, np.isnan(u[first]).any(axis=1)] = -np.inf
        sims.append(m)
    column = {p: k for k, p in enumerate(people)}
    mate = np.array([column[int(ids[q])] for q in probes])  # gallery column of each probe's mate

    # the fusion fit on the photos in neither gallery nor probes: their pairs
    upper = np.triu_indices(len(rest), 1)
    same = (ids[rest][:, None] == ids[rest][None, :])[upper]
    r1, r2 = ((u[rest] @ u[rest].T)[upper].astype(np.float64) for u in (u1, u2))
    keep = ~np.isnan(r1)
    r1, r2, same = r1[keep], r2[keep], same[keep]
    stats = fit_stats(u1, u2, ids, rest)

    def tar(w: float) -> float:
        s = fuse(r1, r2, stats, w)
        t = threshold_for_fmr(s[~same], 1e-3)
        return float(np.mean(s[same] >= t))

    w = best_weight(tar)
    out: dict[str, dict[str, Any]] = {}
    scorers = {
        "sface": sims[0],
        "dlib": sims[1],
        "fusion shipped": fuse(sims[0], sims[1], shipped_stats(), 0.5),
        "fusion cv 1:1": fuse(sims[0], sims[1], stats, 0.5),
        "fusion cv w": fuse(sims[0], sims[1], stats, w),
    }
    folds = np.arange(len(probes)) % 10
    for name, m in scorers.items():
        hit = np.argmax(m, axis=1) == mate
        hit &= np.isfinite(m[np.arange(len(probes)), mate])
        per_fold = [float(hit[folds == k].mean()) for k in range(10)]
        out[name] = {"rank1": float(hit.mean()), "fold_std": float(np.std(per_fold)), "probes": len(probes)}
        out[name]["gallery"] = len(first)
    out["fusion cv w"]["weight"] = float(w)
    out["fusion cv 1:1"]["fit_on"] = f"{len(rest)} photos in neither gallery nor probes, {int(same.sum())} mated pairs"
    return out


def per_sex(dataset: Any, u1: np.ndarray, u2: np.ndarray, lfw: Path, pairs_count: int) -> dict[str, dict[str, Any]]:
    """FMR and FNMR of women and men at the threshold of FMR 1e-4 over all photos (shipped fusion)."""
    from facesearch.evaluation.dataset import read_groups
    from facesearch.pipeline.recognizers.fusion import FUSION_V1
    from facesearch.scoring.error_rates import threshold_for_fmr

    labels, _ = read_groups([f"male={lfw / 'male_names.txt'}", f"female={lfw / 'female_names.txt'}"])
    ids = dataset.identity_of
    ok = ~(np.isnan(u1).any(axis=1) | np.isnan(u2).any(axis=1))
    sex = np.array([labels.get(p.name, "") for p in dataset.paths])

    def impostors(among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = RNG.choice(among, pairs_count), RNG.choice(among, pairs_count)
        keep = ids[a] != ids[b]
        return a[keep], b[keep]

    everyone = np.flatnonzero(ok)
    sets = {"all": impostors(everyone)}
    groups = {g: np.flatnonzero(ok & (sex == g)) for g in ("female", "male")}
    for g, among in groups.items():
        sets[g] = impostors(among)
        order = among[np.argsort(ids[among], kind="stable")]
        sets[g + " genuine"] = _same_person_pairs(order, ids)
    member_cosines = {k: (cosines(u1, *pair), cosines(u2, *pair)) for k, pair in sets.items()}
    out: dict[str, dict[str, Any]] = {}
    for name in ("sface", "dlib", "fusion shipped"):

        def score(key: str, name: str = name) -> np.ndarray:
            c1, c2 = member_cosines[key]
            return {"sface": c1, "dlib": c2}.get(name, fuse(c1, c2, shipped_stats(), 0.5))

        t = threshold_for_fmr(score("all"), 1e-4)
        row: dict[str, Any] = {"threshold": t}
        if name == "fusion shipped":  # on the template-cosine scale a fusion gallery's scores are on
            shares = FUSION_V1.shares
            cosine = shares[0] * member_cosines["all"][0] + shares[1] * member_cosines["all"][1]
            row["template_cosine_at_fmr"] = {str(f): threshold_for_fmr(cosine, f) for f in (1e-3, 1e-4)}
        for g in groups:
            row[f"fmr_{g}"] = float(np.mean(score(g) >= t))
            row[f"fnmr_{g}"] = float(np.mean(score(g + " genuine") < t))
        row["fmr_ratio"] = row["fmr_female"] / max(row["fmr_male"], 1e-12)
        row["fnmr_ratio"] = row["fnmr_female"] / max(row["fnmr_male"], 1e-12)
        out[name] = row
    return out


def _same_person_pairs(order: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every same-person pair among photos sorted by person."""
    a, b = [], []
    for run in np.split(order, np.flatnonzero(np.diff(ids[order])) + 1):
        i, j = np.triu_indices(len(run), 1)
        a.append(run[i])
        b.append(run[j])
    return np.concatenate(a), np.concatenate(b)


def timing(dataset: Any, photos: int) -> dict[str, dict[str, float]]:
    """Median detect + align ms per photo and embed ms per face (with its mirror image), one thread."""
    from facesearch.config import Settings
    from facesearch.pipeline.decode import decode
    from facesearch.pipeline.faces import FacePipeline

    paths = [dataset.paths[i] for i in np.linspace(0, len(dataset.paths) - 1, photos).astype(int)]
    out = {}
    for name in ("sface", "dlib", "fusion"):
        pipeline = FacePipeline(Settings(recognizer=name))
        find_ms, embed_ms = [], []
        for k, path in enumerate(paths):
            image = decode(path, pipeline.settings)
            start = time.perf_counter()
            found = pipeline.recognizer.find(image.pixels, pipeline.settings)
            middle = time.perf_counter()
            if found:
                pipeline.recognizer.embed(found[:1])
            if k >= 3 and found:  # the first calls load the networks
                find_ms.append(1000 * (middle - start))
                embed_ms.append(1000 * (time.perf_counter() - middle))
        out[name] = {"detect_align_ms": float(np.median(find_ms)), "embed_ms": float(np.median(embed_ms))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder (pairs.txt, images/, *_names.txt)")
    ap.add_argument("--cache", type=Path, required=True, help="embedding cache of the fusion evaluate run")
    ap.add_argument("--pairs", type=int, default=5_000_000, help="impostor pairs sampled per group (default 5M)")
    ap.add_argument("--partial", action="store_true", help="measure on the photos the cache holds so far")
    ap.add_argument("--time-photos", type=int, default=0, help="also time the recognizers on N photos")
    args = ap.parse_args(argv)
    os.environ["FACESEARCH_MODEL_THREADS"] = "1"
    dataset, u1, u2, present = member_templates(args.lfw, args.cache, args.partial)
    print(f"{len(dataset.paths)} photos, {len(dataset.identities)} people", file=sys.stderr)
    results: dict[str, Any] = {
        "pairs": pairs_protocol(dataset, u1, u2, args.lfw, present),
        "identification": identification(dataset, u1, u2, present),
        "per_sex": per_sex(dataset, u1, u2, args.lfw, args.pairs),
    }
    if args.time_photos:
        results["timing"] = timing(dataset, args.time_photos)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fusion.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print_table(results)
    return 0


def print_table(results: dict[str, Any]) -> None:
    table = Table(title="LFW: SFace, dlib's ResNet and their fusion, on the same YuNet faces")
    columns = ("scorer", "10-fold accuracy", "rank-1, 5,748 ids", "FMR women/men", "FNMR women/men", "embed ms/face")
    for col in columns:
        table.add_column(col, justify="left" if col == "scorer" else "right")
    for name in ("sface", "dlib", "fusion shipped", "fusion cv 1:1", "fusion cv w"):
        p, i = results["pairs"][name], results["identification"][name]
        sex = results["per_sex"].get(name)
        timed = results.get("timing", {}).get(name.split()[0])
        table.add_row(
            name,
            f"{100 * p['mean']:.2f}% ± {100 * p['std']:.2f}",
            f"{100 * i['rank1']:.2f}% ± {100 * i['fold_std']:.2f}",
            f"{sex['fmr_female']:.1e}/{sex['fmr_male']:.1e} = {sex['fmr_ratio']:.1f}x" if sex else "",
            f"{100 * sex['fnmr_female']:.2f}%/{100 * sex['fnmr_male']:.2f}% = {sex['fnmr_ratio']:.1f}x" if sex else "",
            f"{timed['embed_ms']:.1f} (+ find {timed['detect_align_ms']:.1f}/photo)" if timed else "",
        )
    console = Console(width=None if sys.stdout.isatty() else 180)
    console.print(table)
    console.print(
        "± = sd over the 10 held-out folds (1:1) or 10 folds of the probes (1:N); per sex at the threshold of "
        "FMR 1e-4 over all photos; 'cv w' weights (sface's) per fold: "
        + ", ".join(f"{w:.2f}" for w in results["pairs"]["fusion cv w"]["weights"])
        + f"; 1:N weight {results['identification']['fusion cv w']['weight']:.2f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
