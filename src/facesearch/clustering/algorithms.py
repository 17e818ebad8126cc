"""Group faces that show one person, without knowing who: clustering on a k-nearest-neighbour graph.

Every method works on the same sparse graph: each face linked to its ``k`` most similar faces
whose score reaches ``threshold`` (found through a :class:`facesearch.index.VectorIndex`, so no
n x n matrix is ever held and 100k+ faces fit in memory). Methods:

- ``"chinese-whispers"``: dlib's label propagation (Biemann 2006), the method dlib's own face
  clustering example uses. Each face repeatedly takes the label with the greatest summed edge
  weight among its neighbours; a weak bridge between two dense groups does not merge them.
- ``"connected-components"``: every face linked by a chain of edges is one person. Fast and exact
  for its definition, but one wrong edge merges two people (chaining), so it leans on a high
  threshold.
- ``"dbscan"``: DBSCAN on the graph: a face with at least ``min_samples - 1`` edges (itself
  included, ``min_samples``) is a *core* face; core faces linked by an edge form clusters; a
  non-core face joins its best-scoring core neighbour, or stays alone. A chain of lone faces
  cannot bridge two people, but a person with fewer than ``min_samples`` photos is not found.

Thresholds are the recipe's scores. Measured on all of LFW with the default recipe (cosine of the
mirrored dlib embeddings; ``bench/cluster.py``): chinese whispers has its best BCubed F1 (0.943) at
0.95 and reaches pairwise precision 0.99 from 0.9575 (recall 0.956); the other two methods chain and
are worse at every threshold. Impostor scores of this recipe are high (median 0.84), so thresholds
far below 0.94 merge strangers.

Faces with no edge are singletons with their own label. Labels are numbered 0..m-1 in the order
of each cluster's first face, so equal partitions give equal label arrays.

Human curation (:class:`Constraints`) is applied around the method: cannot-link edges are
removed from the graph and must-link edges added before it runs, then the result is repaired:
clusters joined by a must-link are merged, and a cluster holding a cannot-link pair is split. When
the two kinds conflict (must-links that chain two faces a cannot-link separates), **cannot-link
wins**: must-links are taken in the order given and one that would join a cannot-linked pair is
ignored (:func:`consistent_groups` reports which). Declaring two faces different people is the
cautious decision in a face search engine: a wrong merge attributes photos to the wrong person.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import numpy.typing as npt

from facesearch.index.base import VectorIndex, unit_rows
from facesearch.index.exact import ExactIndex
from facesearch.scoring.scores import score_matrix
from facesearch.types import Metric

Method = Literal["chinese-whispers", "connected-components", "dbscan"]
METHODS: tuple[Method, ...] = ("chinese-whispers", "connected-components", "dbscan")
Backend = Literal["auto", "exact", "hnsw"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

# Above this many faces ``knn_graph(index="auto")`` uses HNSW. Measured with ``bench/cluster.py
# --scale`` (2 cores, synthetic dlib-like faces, k=30): at 100k faces the exact graph took 92-139 s
# and HNSW with these lighter-than-search settings 27 s, finding 99.98% of its edges (the search
# defaults, m=32 / ef_construction=200, took 92-112 s: no faster than exact). Below 50k the exact
# graph takes under a minute and misses nothing.
HNSW_ABOVE = 50_000
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 16, 64, 64
QUERY_BATCH = 512  # queries per exact search call: bounds the (batch x 65,536) score block to 128 MiB
MUST_LINK_WEIGHT = 1.0  # the weight of an added must-link edge: a perfect cosine score


@dataclasses.dataclass(frozen=True)
class Constraints:
    """Human curation decisions, as pairs of row indices into the vectors being clustered:
    ``must_link`` pairs show one person, ``cannot_link`` pairs show two people."""

    must_link: tuple[tuple[int, int], ...] = ()
    cannot_link: tuple[tuple[int, int], ...] = ()


def _make_index(backend: Literal["exact", "hnsw"], dimension: int, metric: Metric) -> VectorIndex:
    if backend == "hnsw":
        from facesearch.index.hnsw import HnswIndex  # loads FAISS: only when asked for

        return HnswIndex(
            "clustering", dimension, metric, m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, ef_search=HNSW_EF_SEARCH
        )
    return ExactIndex("clustering", dimension, metric)


def knn_graph(
    vectors: npt.ArrayLike, metric: Metric, k: int, threshold: float, *, index: Backend = "auto"
) -> tuple[IntArray, IntArray, FloatArray]:
    """The thresholded k-nearest-neighbour graph of ``vectors`` (n, d) as undirected edges
    ``(rows[e], cols[e], scores[e])`` with ``rows < cols``, each edge once, sorted by (row, col).

    Each face is linked to its ``k`` best-scoring other faces whose score is ``>= threshold``; an
    edge found from both ends is kept once (with the higher of the two scores, which differ only by
    float rounding, or by HNSW's approximation). The neighbours come from an in-memory vector index:
    exact search, or HNSW above :data:`HNSW_ABOVE` faces with ``index="auto"`` (approximate: it may
    miss a few edges, never invents one)."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    n = matrix.shape[0] if matrix.ndim == 2 else 0
    k = min(int(k), n - 1)
    if n < 2 or k < 1:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0, dtype=np.float32)
    backend: Literal["exact", "hnsw"] = ("hnsw" if n > HNSW_ABOVE else "exact") if index == "auto" else index
    store = _make_index(backend, matrix.shape[1], metric)
    store.add(np.arange(n, dtype=np.int64), matrix)
    rows_parts, cols_parts, score_parts = [], [], []
    for start in range(0, n, QUERY_BATCH):
        hits = store.search(matrix[start : start + QUERY_BATCH], k + 1)  # +1: a face finds itself
        query = np.arange(start, start + hits.ids.shape[0], dtype=np.int64)[:, None]
        keep = (hits.ids >= 0) & (hits.ids != query) & (hits.scores >= threshold)
        rows_parts.append(np.broadcast_to(query, hits.ids.shape)[keep])
        cols_parts.append(hits.ids[keep])
        score_parts.append(hits.scores[keep])
    rows, cols = np.concatenate(rows_parts), np.concatenate(cols_parts)
    scores = np.concatenate(score_parts).astype(np.float32)
    low, high = np.minimum(rows, cols), np.maximum(rows, cols)
    order = np.lexsort((-scores, high, low))  # per edge, its best score first
    low, high, scores = low[order], high[order], scores[order]
    first = np.ones(len(low), dtype=bool)
    first[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
    return low[first], high[first], scores[first]


# --- constraints --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Groups:
    """Faces bound together by must-links (``group[i]``: face i's group id, dense 0..g-1), the
    cannot-linked group pairs, and the must-links ignored because a cannot-link overrode them."""

    group: IntArray
    cannot: frozenset[tuple[int, int]]
    ignored_must_links: tuple[tuple[int, int], ...]


def _check_pairs(pairs: tuple[tuple[int, int], ...], n: int, kind: str) -> None:
    for a, b in pairs:
        if not (0 <= a < n and 0 <= b < n):
            raise ValueError(f"{kind} pair ({a}, {b}) is outside the {n} vectors")
        if kind == "cannot-link" and a == b:
            raise ValueError(f"cannot-link pair ({a}, {b}) names one face twice")


def consistent_groups(n: int, constraints: Constraints) -> Groups:
    """Must-link groups that no cannot-link contradicts. Must-links are applied in order (union-find);
    one that would put a cannot-linked pair in one group is ignored: cannot-link wins."""
    _check_pairs(constraints.must_link, n, "must-link")
    _check_pairs(constraints.cannot_link, n, "cannot-link")
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    members: dict[int, list[int]] = {}
    apart: dict[int, set[int]] = {}  # face -> faces it is cannot-linked with
    for a, b in constraints.cannot_link:
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)
    ignored = []
    for a, b in constraints.must_link:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        side_a, side_b = members.get(ra, [ra]), members.get(rb, [rb])
        if any(apart.get(x, set()).intersection(side_b) for x in side_a):
            ignored.append((a, b))
            continue
        if len(side_a) < len(side_b):
            ra, rb, side_a, side_b = rb, ra, side_b, side_a
        parent[rb] = ra
        members[ra] = side_a + side_b
        members.pop(rb, None)
    roots = np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)
    group = np.unique(roots, return_inverse=True)[1].reshape(-1).astype(np.int64) if n else roots
    cannot = frozenset((int(min(group[a], group[b])), int(max(group[a], group[b]))) for a, b in constraints.cannot_link)
    return Groups(group, cannot, tuple(ignored))


def _constrained_edges(
    rows: IntArray, cols: IntArray, scores: FloatArray, groups: Groups
) -> tuple[IntArray, IntArray, FloatArray]:
    """The graph without edges between cannot-linked groups, plus an edge from each face of a
    must-link group to its group's first face (so the group is connected in the graph)."""
    g = groups.group
    n = len(g)
    if groups.cannot:
        edge_keys = np.minimum(g[rows], g[cols]) * n + np.maximum(g[rows], g[cols])
        blocked = np.isin(edge_keys, np.array([a * n + b for a, b in groups.cannot], dtype=np.int64))
        rows, cols, scores = rows[~blocked], cols[~blocked], scores[~blocked]
    first_of = np.full(int(g.max()) + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first_of, g, np.arange(n, dtype=np.int64))
    heads = first_of[g]
    bound = np.flatnonzero(heads != np.arange(n))
    if len(bound):
        weight = max(MUST_LINK_WEIGHT, float(scores.max()) if len(scores) else MUST_LINK_WEIGHT)
        rows = np.concatenate([rows, heads[bound]])
        cols = np.concatenate([cols, bound])
        scores = np.concatenate([scores, np.full(len(bound), weight, dtype=np.float32)])
    return rows, cols, scores


def _merge_must_links(labels: IntArray, groups: Groups) -> IntArray:
    """Merge every cluster that holds a face of a must-link group into one."""
    sizes = np.bincount(groups.group)
    if not (sizes > 1).any():
        return labels
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = int(labels.max()) + 1
    # link each cluster with the cluster of its group's first face
    first_of = np.full(len(sizes), len(labels), dtype=np.int64)
    np.minimum.at(first_of, groups.group, np.arange(len(labels), dtype=np.int64))
    a, b = labels, labels[first_of[groups.group]]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(m, m))
    merged = connected_components(graph, directed=False)[1].astype(np.int64)
    result: IntArray = merged[labels]
    return result


def _split_cannot_links(labels: IntArray, vectors: FloatArray, metric: Metric, groups: Groups) -> IntArray:
    """Split each cluster holding a cannot-linked pair of groups. The two groups seed two sides;
    every other group of the cluster joins the side whose seed it is more similar to on average,
    unless it is cannot-linked to a side's members (then the next best; a new side if none). Sides
    that still hold a cannot-linked pair are split again. Must-link groups are never divided."""
    labels = labels.copy()
    g = groups.group
    pairs = sorted(groups.cannot)
    while True:
        cluster_of_group = np.zeros(int(g.max()) + 1, dtype=np.int64)
        cluster_of_group[g] = labels
        conflict = next((p for p in pairs if cluster_of_group[p[0]] == cluster_of_group[p[1]]), None)
        if conflict is None:
            return labels
        cluster = int(cluster_of_group[conflict[0]])
        faces = np.flatnonzero(labels == cluster)
        units = [int(u) for u in np.unique(g[faces])]
        faces_of = {u: faces[g[faces] == u] for u in units}
        sides: list[list[int]] = [[conflict[0]], [conflict[1]]]
        seeds = list(conflict)
        for unit in units:
            if unit in conflict:
                continue
            open_sides = [
                s
                for s, side in enumerate(sides)
                if not any((min(unit, o), max(unit, o)) in groups.cannot for o in side)
            ]
            if not open_sides:
                sides.append([unit])
                seeds.append(unit)
                continue
            mine = vectors[faces_of[unit]]
            affinity = [float(score_matrix(mine, vectors[faces_of[seeds[s]]], metric).mean()) for s in open_sides]
            sides[open_sides[int(np.argmax(affinity))]].append(unit)
        next_label = int(labels.max()) + 1
        for extra, side in enumerate(sides[1:]):
            labels[faces[np.isin(g[faces], side)]] = next_label + extra


def _enforce(labels: IntArray, vectors: FloatArray, metric: Metric, groups: Groups) -> IntArray:
    return _split_cannot_links(_merge_must_links(labels, groups), vectors, metric, groups)


# --- methods --------------------------------------------------------------------------------


def _chinese_whispers(n: int, rows: IntArray, cols: IntArray, scores: FloatArray, seed: int) -> IntArray:
    """dlib's chinese whispers. dlib takes no seed (it always starts its own generator from the same
    state, so one edge list always gives one result); the seed here renumbers the faces by a seeded
    permutation before handing the edges to dlib, which changes the order dlib visits them in."""
    import dlib  # loaded on first use: importing facesearch loads no native model library

    order = np.random.default_rng(seed).permutation(n)  # face -> the vertex number dlib sees
    weights = np.maximum(scores.astype(np.float64), 1e-6)  # dlib sums weights as votes: keep them positive
    edges = list(zip(order[rows].tolist(), order[cols].tolist(), weights.tolist(), strict=True))
    found = np.asarray(dlib.chinese_whispers(edges), dtype=np.int64) if edges else np.empty(0, dtype=np.int64)
    by_vertex = np.arange(n, dtype=np.int64) + (int(found.max()) + 1 if len(found) else 0)  # isolated: alone
    by_vertex[: len(found)] = found  # dlib labels vertices 0..max seen; any later vertex has no edge
    result: IntArray = by_vertex[order]
    return result


def _components(n: int, rows: IntArray, cols: IntArray) -> IntArray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    result: IntArray = connected_components(graph, directed=False)[1].astype(np.int64)
    return result


def _dbscan(n: int, rows: IntArray, cols: IntArray, scores: FloatArray, min_samples: int) -> IntArray:
    """DBSCAN on the thresholded graph: eps is the threshold, a face's neighbourhood its edges."""
    degree = np.bincount(rows, minlength=n) + np.bincount(cols, minlength=n)
    core = degree + 1 >= min_samples
    both = core[rows] & core[cols]
    labels = _components(n, rows[both], cols[both])
    # a border face (not core, linked to a core face) joins its best-scoring core neighbour
    one_core = core[rows] ^ core[cols]
    border = np.where(core[rows[one_core]], cols[one_core], rows[one_core])
    anchor = np.where(core[rows[one_core]], rows[one_core], cols[one_core])
    best = np.lexsort((anchor, -scores[one_core], border))  # per border face, best score (then lowest anchor) first
    border, anchor = border[best], anchor[best]
    first = np.ones(len(border), dtype=bool)
    first[1:] = border[1:] != border[:-1]
    labels[border[first]] = labels[anchor[first]]
    return labels


def canonical(labels: IntArray) -> IntArray:
    """Labels renumbered 0..m-1 in the order of each cluster's first face."""
    if len(labels) == 0:
        return labels.astype(np.int64)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first), dtype=np.int64)
    result: IntArray = rank[inverse.reshape(-1)]
    return result


def cluster(
    vectors: npt.ArrayLike,
    metric: Metric,
    *,
    threshold: float,
    k: int = 30,
    method: Method = "chinese-whispers",
    constraints: Constraints | None = None,
    seed: int = 0,
    min_samples: int = 3,
    index: Backend = "auto",
) -> IntArray:
    """One int64 cluster label per row of ``vectors`` (n, d), numbered 0..m-1 by first face.

    Two faces are candidates for one cluster when one is among the other's ``k`` best matches with
    a score ``>= threshold`` (see :func:`knn_graph`); ``method`` decides which candidates become
    clusters (module docstring). ``constraints`` hold in the result: both faces of a must-link in
    one cluster, the faces of a cannot-link never (cannot-link wins a conflict). ``seed`` only
    matters to chinese whispers; the same inputs and seed always give the same labels.
    ``min_samples`` is DBSCAN's (a face and its neighbours) and ignored by the other methods."""
    if method not in METHODS:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {', '.join(METHODS)}")
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.size == 0:
        return np.empty(0, dtype=np.int64)
    if matrix.ndim != 2:
        raise ValueError(f"expected an (n, d) matrix of vectors, got shape {matrix.shape}")
    n = matrix.shape[0]
    groups = consistent_groups(n, constraints or Constraints())
    rows, cols, scores = knn_graph(matrix, metric, k, threshold, index=index)
    rows, cols, scores = _constrained_edges(rows, cols, scores, groups)
    if method == "chinese-whispers":
        labels = _chinese_whispers(n, rows, cols, scores, seed)
    elif method == "connected-components":
        labels = _components(n, rows, cols)
    else:
        labels = _dbscan(n, rows, cols, scores, min_samples)
    unit = unit_rows(matrix) if metric is Metric.COSINE else matrix
    return canonical(_enforce(canonical(labels), unit, metric, groups))
