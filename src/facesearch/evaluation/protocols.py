"""The comparisons an evaluation scores: 1:1 genuine and impostor pairs, and 1:N searches.

Works on one embedding per photo (NaN rows are photos where no face was found; they take part in
no comparison and are reported as failures to acquire).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from facesearch.index.base import unit_rows
from facesearch.scoring.scores import paired_scores, score_matrix
from facesearch.types import Metric

Matrix = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

MAX_IMPOSTOR_PAIRS = 5_000_000  # beyond this many cross-identity pairs, a uniform random sample
BLOCK = 2048  # rows of a score matrix computed at once


@dataclasses.dataclass(frozen=True)
class Comparisons:
    """Scored pairs of photos (indices ``a``, ``b``) with the identities involved."""

    a: Ints
    b: Ints
    scores: Floats
    identity_a: Ints
    identity_b: Ints

    def __len__(self) -> int:
        return len(self.scores)


def _usable(vectors: Matrix, among: Ints | None = None) -> Ints:
    ok = np.flatnonzero(~np.isnan(vectors).any(axis=1))
    return ok if among is None else np.intersect1d(ok, among)


def genuine_pairs(vectors: Matrix, identity_of: Ints, metric: Metric, among: Ints | None = None) -> Comparisons:
    """Every pair of photos of one identity (each unordered pair once)."""
    photos = _usable(vectors, among)
    a_parts, b_parts = [], []
    ids = identity_of[photos]
    order = np.argsort(ids, kind="stable")
    photos, ids = photos[order], ids[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    for s, e in zip(starts, ends, strict=True):
        if e - s >= 2:
            i, j = np.triu_indices(e - s, k=1)
            a_parts.append(photos[s + i])
            b_parts.append(photos[s + j])
    return _score(vectors, identity_of, metric, a_parts, b_parts)


def impostor_pairs(
    vectors: Matrix,
    identity_of: Ints,
    metric: Metric,
    among: Ints | None = None,
    limit: int = MAX_IMPOSTOR_PAIRS,
    seed: int = 0,
) -> tuple[Comparisons, bool]:
    """Pairs of photos of different identities: all of them when there are at most ``limit``,
    else ``limit`` drawn uniformly at random (with a fixed seed). Returns (pairs, sampled)."""
    photos = _usable(vectors, among)
    counts = np.bincount(identity_of[photos])
    total = (len(photos) ** 2 - int((counts.astype(np.int64) ** 2).sum())) // 2
    if total <= limit and len(photos) ** 2 <= 8 * limit:  # enumerate all (bounded memory)
        i, j = np.triu_indices(len(photos), k=1)
        keep = identity_of[photos[i]] != identity_of[photos[j]]
        return _score(vectors, identity_of, metric, [photos[i[keep]]], [photos[j[keep]]]), False
    rng = np.random.default_rng(seed)
    a_parts, b_parts, have = [], [], 0
    while have < limit:
        i = rng.integers(0, len(photos), 2 * (limit - have))
        j = rng.integers(0, len(photos), 2 * (limit - have))
        keep = identity_of[photos[i]] != identity_of[photos[j]]
        take = np.flatnonzero(keep)[: limit - have]
        a_parts.append(photos[i[take]])
        b_parts.append(photos[j[take]])
        have += len(take)
    return _score(vectors, identity_of, metric, a_parts, b_parts), True


def _score(vectors: Matrix, identity_of: Ints, metric: Metric, a_parts: list[Ints], b_parts: list[Ints]) -> Comparisons:
    a = np.concatenate(a_parts) if a_parts else np.empty(0, dtype=np.int64)
    b = np.concatenate(b_parts) if b_parts else np.empty(0, dtype=np.int64)
    return Comparisons(a, b, pair_scores(vectors, a, b, metric), identity_of[a], identity_of[b])


def pair_scores(vectors: Matrix, a: Ints, b: Ints, metric: Metric) -> Floats:
    """Scores of the photo pairs (a[k], b[k]); NaN where either photo has no face.

    Cosine pairs are scored on unit rows in float32, as the vector index scores them, so a threshold
    measured here means the same in a search.
    """
    unit = metric is Metric.COSINE
    prepared = unit_rows(vectors) if unit else np.asarray(vectors, dtype=np.float32)
    scores = np.empty(len(a))
    step = 1 << 16
    for s in range(0, len(a), step):
        scores[s : s + step] = paired_scores(prepared[a[s : s + step]], prepared[b[s : s + step]], metric, unit=unit)
    return scores


@dataclasses.dataclass(frozen=True)
class Searches:
    """The 1:N protocol's searches, scored against its gallery.

    Mated searches: ``mate_scores`` (the mate's score) and ``ranks`` (1 + gallery entries scoring at
    least as high as the mate). Non-mated searches: ``nonmated_top`` (the best gallery score).
    """

    gallery_size: int
    held_out_identities: int
    mated_identity: Ints
    mate_scores: Floats
    ranks: Ints
    nonmated_identity: Ints
    nonmated_top: Floats


def split_for_identification(identity_of: Ints, usable: Ints, holdout: float, seed: int = 0) -> tuple[Ints, Ints, Ints]:
    """(gallery photos, mated probe photos, non-mated probe photos).

    A share ``holdout`` of the identities (drawn with a fixed seed) is left out of the gallery: their
    photos are the non-mated probes. Of every other identity the first usable photo is enrolled;
    the rest of its photos are mated probes. Identities with a single photo are thus distractors.
    """
    identities = np.unique(identity_of[usable])
    rng = np.random.default_rng(seed)
    held = set(rng.choice(identities, size=int(round(holdout * len(identities))), replace=False).tolist())
    gallery, mated, nonmated = [], [], []
    seen: set[int] = set()
    for photo in usable:
        identity = int(identity_of[photo])
        if identity in held:
            nonmated.append(photo)
        elif identity not in seen:
            seen.add(identity)
            gallery.append(photo)
        else:
            mated.append(photo)
    as_ints = [np.asarray(x, dtype=np.int64) for x in (gallery, mated, nonmated)]
    return as_ints[0], as_ints[1], as_ints[2]


def identification_searches(
    vectors: Matrix, identity_of: Ints, metric: Metric, holdout: float = 0.2, seed: int = 0
) -> Searches:
    """Run every probe of the 1:N split against its gallery (exhaustively, block by block)."""
    gallery, mated, nonmated = split_for_identification(identity_of, _usable(vectors), holdout, seed)
    gallery_vectors, gallery_ids = vectors[gallery], identity_of[gallery]
    slot_of = {int(identity): k for k, identity in enumerate(gallery_ids)}
    mate_scores, ranks = np.empty(len(mated)), np.empty(len(mated), dtype=np.int64)
    for s in range(0, len(mated), BLOCK):
        block = mated[s : s + BLOCK]
        scores = score_matrix(vectors[block], gallery_vectors, metric)
        slots = np.asarray([slot_of[int(i)] for i in identity_of[block]])
        mate = scores[np.arange(len(block)), slots]
        mate_scores[s : s + BLOCK] = mate
        ranks[s : s + BLOCK] = (scores >= mate[:, None]).sum(axis=1)  # the mate itself counts once
    top = np.empty(len(nonmated))
    for s in range(0, len(nonmated), BLOCK):
        block = nonmated[s : s + BLOCK]
        top[s : s + BLOCK] = score_matrix(vectors[block], gallery_vectors, metric).max(axis=1, initial=-np.inf)
    held = np.unique(identity_of[nonmated])
    return Searches(
        gallery_size=len(gallery),
        held_out_identities=len(held),
        mated_identity=identity_of[mated],
        mate_scores=mate_scores,
        ranks=ranks,
        nonmated_identity=identity_of[nonmated],
        nonmated_top=top,
    )
