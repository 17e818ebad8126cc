"""The exact index: brute-force search over one float32 matrix. The reference other backends
are compared to. Persisted as one ``.npz`` file replaced atomically, so removed vectors leave no
bytes behind in any index file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facesearch.errors import IndexCorruptError
from facesearch.index.base import Hits, IdArray, IndexInfo, Matrix, as_ids, as_matrix, empty_hits, unit_rows
from facesearch.index.files import header, read_index_file, write_index_file
from facesearch.types import Metric

FORMAT = "facesearch-exact-1"


BLOCK_ROWS = 1 << 16  # gallery rows scored per matrix product (bounds memory for batch queries)


class ExactIndex:
    """Brute-force search; ``path`` is where :meth:`save` writes (None keeps it in memory).

    Vectors live in one contiguous float32 matrix that grows by doubling; queries are scored by
    blocked matrix products (matrix-matrix for a batch), keeping a running top k per block.
    """

    backend = "exact"

    def __init__(self, model_id: str, dimension: int, metric: Metric, path: Path | None = None) -> None:
        self.model_id = model_id
        self.dimension = dimension
        self.metric = metric
        self.path = path
        self.generation = -1
        self._n = 0
        self._id_store: IdArray = np.empty(0, dtype=np.int64)
        self._store: Matrix = np.empty((0, dimension), dtype=np.float32)
        self._sq_store = np.empty(0, dtype=np.float32)

    @property
    def _ids(self) -> IdArray:
        return self._id_store[: self._n]

    @property
    def _vectors(self) -> Matrix:
        return self._store[: self._n]

    @property
    def info(self) -> IndexInfo:
        return IndexInfo(self.backend, self.model_id, self.dimension, self.metric, len(self), self.generation)

    def __len__(self) -> int:
        return self._n

    def ids(self) -> IdArray:
        return self._ids.copy()

    def _reserve(self, rows: int) -> None:
        if rows <= len(self._id_store):
            return
        capacity = max(rows, 2 * len(self._id_store), 1024)
        store = np.zeros((capacity, self.dimension), dtype=np.float32)
        ids = np.full(capacity, -1, dtype=np.int64)
        sq = np.zeros(capacity, dtype=np.float32)
        store[: self._n], ids[: self._n], sq[: self._n] = self._vectors, self._ids, self._sq_store[: self._n]
        self._store, self._id_store, self._sq_store = store, ids, sq

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        ids = as_ids(ids)
        matrix = as_matrix(vectors, self.dimension)
        if ids.shape[0] != matrix.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {matrix.shape[0]} vectors")
        if len(np.unique(ids)) != len(ids) or np.isin(ids, self._ids).any():
            raise ValueError("an id is already in the index")
        if self.metric is Metric.COSINE:
            matrix = unit_rows(matrix)
        start, end = self._n, self._n + len(ids)
        self._reserve(end)
        self._store[start:end], self._id_store[start:end] = matrix, ids
        self._sq_store[start:end] = np.einsum("ij,ij->i", matrix, matrix)
        self._n = end

    def remove(self, ids: IdArray) -> int:
        """Removed rows are overwritten by the last rows and the freed tail is zeroed: no copy of a
        removed vector stays in memory (nor, after :meth:`save`, on disk)."""
        rows = np.flatnonzero(np.isin(self._ids, as_ids(ids)))
        if len(rows) == 0:
            return 0
        keep = np.ones(self._n, dtype=bool)
        keep[rows] = False
        live = np.flatnonzero(keep)
        n = len(live)
        self._store[:n], self._id_store[:n], self._sq_store[:n] = (
            self._store[live],
            self._id_store[live],
            self._sq_store[live],
        )
        self._store[n : self._n] = 0.0
        self._id_store[n : self._n] = -1
        self._n = n
        return len(rows)

    def search(self, queries: Matrix, k: int) -> Hits:
        queries = as_matrix(queries, self.dimension)
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        hits = empty_hits(queries.shape[0], k)
        if self._n == 0:
            return hits
        if self.metric is Metric.COSINE:
            queries = unit_rows(queries)
        best_scores, best_rows = [], []
        for start in range(0, self._n, BLOCK_ROWS):
            scores = self._scores(queries, start, min(self._n, start + BLOCK_ROWS))
            take = min(k, scores.shape[1])
            top = (
                np.argpartition(-scores, take - 1, axis=1)[:, :take]
                if take < scores.shape[1]
                else (np.broadcast_to(np.arange(scores.shape[1]), scores.shape))
            )
            best_scores.append(np.take_along_axis(scores, top, axis=1))
            best_rows.append(top + start)
        scores, rows = np.hstack(best_scores), np.hstack(best_rows)
        found = min(k, self._n)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :found]
        hits.ids[:, :found] = self._ids[np.take_along_axis(rows, order, axis=1)]
        hits.scores[:, :found] = np.take_along_axis(scores, order, axis=1)
        return hits

    def _scores(self, queries: Matrix, start: int, end: int) -> Matrix:
        block = self._store[start:end]
        if self.metric is Metric.COSINE:
            scores: Matrix = queries @ block.T
            return scores
        q_sq = np.einsum("ij,ij->i", queries, queries)[:, None]
        sq_dist = q_sq + self._sq_store[start:end][None, :] - 2.0 * (queries @ block.T)
        result: Matrix = (1.0 - np.sqrt(np.maximum(sq_dist, 0.0))).astype(np.float32)
        return result

    # --- persistence -------------------------------------------------------------------

    def save(self, generation: int) -> None:
        self.generation = generation
        if self.path is None:
            return
        meta = header(FORMAT, self.model_id, self.dimension, self.metric, generation)
        write_index_file(self.path, meta, {"ids": self._ids, "vectors": self._vectors})

    @classmethod
    def load(cls, path: Path, model_id: str, dimension: int, metric: Metric) -> ExactIndex:
        """Open a saved index. Raises IndexCorruptError if unreadable, ModelMismatchError if it holds
        another model's vectors; FileNotFoundError if absent."""
        meta, arrays = read_index_file(path, FORMAT, ("ids", "vectors"), model_id, dimension, metric)
        ids = np.ascontiguousarray(arrays["ids"], dtype=np.int64)
        vectors = np.ascontiguousarray(arrays["vectors"], dtype=np.float32)
        if vectors.ndim != 2 or ids.shape[0] != vectors.shape[0]:
            raise IndexCorruptError(f"{path}: the index's arrays disagree")
        index = cls(model_id, dimension, metric, path)
        index._store, index._id_store, index._n = vectors, ids, len(ids)
        index._sq_store = np.einsum("ij,ij->i", vectors, vectors)
        index.generation = int(meta["generation"])
        return index
