"""The exact index: brute-force search over one float32 matrix. The reference other backends
are compared to. Persisted as one ``.npz`` file replaced atomically, so removed vectors leave no
bytes behind in any index file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facesearch.errors import IndexCorruptError
from facesearch.index.base import Hits, IdArray, IndexInfo, Matrix, as_ids, as_matrix, empty_hits, unit_rows
from facesearch.index.files import read_index_file, write_index_file
from facesearch.types import Metric

FORMAT = "facesearch-exact-1"


class ExactIndex:
    """Brute-force search; ``path`` is where :meth:`save` writes (None keeps it in memory)."""

    backend = "exact"

    def __init__(self, model_id: str, dimension: int, metric: Metric, path: Path | None = None) -> None:
        self.model_id = model_id
        self.dimension = dimension
        self.metric = metric
        self.path = path
        self.generation = -1
        self._ids: IdArray = np.empty(0, dtype=np.int64)
        self._vectors: Matrix = np.empty((0, dimension), dtype=np.float32)
        self._sq_norms = np.empty(0, dtype=np.float32)

    @property
    def info(self) -> IndexInfo:
        return IndexInfo(self.backend, self.model_id, self.dimension, self.metric, len(self), self.generation)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def ids(self) -> IdArray:
        return self._ids.copy()

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        ids = as_ids(ids)
        matrix = as_matrix(vectors, self.dimension)
        if ids.shape[0] != matrix.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {matrix.shape[0]} vectors")
        if len(np.unique(ids)) != len(ids) or np.isin(ids, self._ids).any():
            raise ValueError("an id is already in the index")
        if self.metric is Metric.COSINE:
            matrix = unit_rows(matrix)
        self._ids = np.concatenate([self._ids, ids])
        self._vectors = np.concatenate([self._vectors, matrix])
        self._sq_norms = np.einsum("ij,ij->i", self._vectors, self._vectors)

    def remove(self, ids: IdArray) -> int:
        keep = ~np.isin(self._ids, as_ids(ids))
        removed = int((~keep).sum())
        if removed:
            self._ids = self._ids[keep]
            self._vectors = np.ascontiguousarray(self._vectors[keep])
            self._sq_norms = self._sq_norms[keep]
        return removed

    def search(self, queries: Matrix, k: int) -> Hits:
        queries = as_matrix(queries, self.dimension)
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        hits = empty_hits(queries.shape[0], k)
        found = min(k, len(self))
        if found == 0:
            return hits
        scores = self._scores(queries)
        if found < len(self):
            top = np.argpartition(-scores, found - 1, axis=1)[:, :found]
        else:
            top = np.broadcast_to(np.arange(len(self)), (queries.shape[0], len(self)))
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        hits.ids[:, :found] = self._ids[np.take_along_axis(top, order, axis=1)]
        hits.scores[:, :found] = np.take_along_axis(top_scores, order, axis=1)
        return hits

    def _scores(self, queries: Matrix) -> Matrix:
        if self.metric is Metric.COSINE:
            scores: Matrix = unit_rows(queries) @ self._vectors.T
            return scores
        q_sq = np.einsum("ij,ij->i", queries, queries)[:, None]
        sq_dist = q_sq + self._sq_norms[None, :] - 2.0 * (queries @ self._vectors.T)
        result: Matrix = (1.0 - np.sqrt(np.maximum(sq_dist, 0.0))).astype(np.float32)
        return result

    # --- persistence -------------------------------------------------------------------

    def save(self, generation: int) -> None:
        self.generation = generation
        if self.path is None:
            return
        meta = {
            "format": FORMAT,
            "model_id": self.model_id,
            "dimension": self.dimension,
            "metric": self.metric.value,
            "generation": generation,
        }
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
        index._ids, index._vectors = ids, vectors
        index._sq_norms = np.einsum("ij,ij->i", vectors, vectors)
        index.generation = int(meta["generation"])
        return index
