"""The exact index: brute-force search over every stored vector. The reference other backends are
compared to, and fast in its own right: one contiguous matrix per segment (see
:class:`facesearch.index.vectors.VectorStore`), memory-mapped from its file, scored by blocked matrix
products (matrix-matrix for a batch of queries). Saved as one flat file replaced atomically, so
removed vectors leave no bytes behind in any index file. Given the gallery's cipher the file is
sealed and opening decrypts it into RAM instead of mapping it (see :mod:`facesearch.index.files`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import IndexCorruptError
from facesearch.index.base import Hits, IdArray, IndexInfo, Matrix, as_ids, as_matrix, empty_hits, unit_rows
from facesearch.index.files import header, read_flat_file, restore_state, write_flat_file
from facesearch.index.vectors import VectorStore
from facesearch.storage.crypto import DataCipher
from facesearch.types import Metric

FORMAT = "facesearch-exact-2"
FILENAME = "exact.idx"

BLOCK_ROWS = 1 << 16  # gallery rows scored per matrix product (bounds memory for batch queries)


class ExactIndex:
    """Brute-force search; ``path`` is where :meth:`save` writes (None keeps it in memory);
    ``storage`` is float32 or float16 (half the memory, scores within about 1e-4); ``cipher`` seals
    the file."""

    backend = "exact"

    def __init__(
        self,
        model_id: str,
        dimension: int,
        metric: Metric,
        path: Path | None = None,
        *,
        storage: str = "float32",
        cipher: DataCipher | None = None,
    ) -> None:
        self.model_id = model_id
        self.dimension = dimension
        self.metric = metric
        self.path = path
        self.cipher = cipher
        self.generation = -1
        self.state_hash = ""
        self._rows = VectorStore(dimension, storage)

    @property
    def info(self) -> IndexInfo:
        return IndexInfo(self.backend, self.model_id, self.dimension, self.metric, len(self), self.generation)

    def __len__(self) -> int:
        return len(self._rows)

    def ids(self) -> IdArray:
        return self._rows.ids()

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        ids = as_ids(ids)
        matrix = as_matrix(vectors, self.dimension)
        if ids.shape[0] != matrix.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {matrix.shape[0]} vectors")
        if len(np.unique(ids)) != len(ids) or np.isin(ids, self._rows.ids()).any():
            raise ValueError("an id is already in the index")
        if self.metric is Metric.COSINE:
            matrix = unit_rows(matrix)
        self._rows.append(ids, matrix)

    def remove(self, ids: IdArray) -> int:
        """Removed rows leave memory at once (zeroed) and the file at the next :meth:`save`."""
        return self._rows.remove(as_ids(ids))

    def search(self, queries: Matrix, k: int) -> Hits:
        queries = as_matrix(queries, self.dimension)
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        hits = empty_hits(queries.shape[0], k)
        if len(self) == 0:
            return hits
        if self.metric is Metric.COSINE:
            queries = unit_rows(queries)
        q_sq = np.einsum("ij,ij->i", queries, queries)[:, None]
        best_scores, best_rows = [], []
        for start, block, sq in self._rows.blocks(BLOCK_ROWS):
            scores = self._scores(queries, q_sq, block, sq)
            take = min(k, scores.shape[1])
            top = (
                np.argpartition(-scores, take - 1, axis=1)[:, :take]
                if take < scores.shape[1]
                else (np.broadcast_to(np.arange(scores.shape[1]), scores.shape))
            )
            best_scores.append(np.take_along_axis(scores, top, axis=1))
            best_rows.append(top + start)
        scores, rows = np.hstack(best_scores), np.hstack(best_rows)
        found = min(k, len(self))
        order = np.argsort(-scores, axis=1, kind="stable")[:, :found]
        hits.ids[:, :found] = self._rows.ids_at(np.take_along_axis(rows, order, axis=1))
        hits.scores[:, :found] = np.take_along_axis(scores, order, axis=1)
        return hits

    def _scores(self, queries: Matrix, q_sq: Matrix, block: Matrix, sq: Matrix) -> Matrix:
        products: Matrix = queries @ block.T
        if self.metric is Metric.COSINE:
            return products
        sq_dist = q_sq + sq[None, :] - 2.0 * products
        result: Matrix = (1.0 - np.sqrt(np.maximum(sq_dist, 0.0))).astype(np.float32)
        return result

    # --- persistence -------------------------------------------------------------------

    def save(self, generation: int) -> None:
        """Write the file, then map the rows from it (RAM holds only what is added later). A sealed
        file cannot be mapped: the rows stay in RAM as they are."""
        self.generation = generation
        if self.path is None:
            return
        meta = header(FORMAT, self, storage=self._rows.storage)
        write_flat_file(self.path, meta, self._rows.parts(), self.cipher)
        if self.cipher is None:
            self._rows = self._mapped(self.path, self.model_id, self.dimension, self.metric)[1]

    @staticmethod
    def _mapped(
        path: Path, model_id: str, dimension: int, metric: Metric, cipher: DataCipher | None = None
    ) -> tuple[dict[str, Any], VectorStore]:
        names = ("ids", "vectors", "sq")
        meta, arrays = read_flat_file(path, FORMAT, names, model_id, dimension, metric, cipher)
        try:
            return meta, VectorStore.mapped(arrays["ids"], arrays["vectors"], arrays["sq"])
        except (ValueError, KeyError) as exc:
            raise IndexCorruptError(f"{path}: {exc}") from exc

    @classmethod
    def load(
        cls, path: Path, model_id: str, dimension: int, metric: Metric, *, cipher: DataCipher | None = None
    ) -> ExactIndex:
        """Open a saved index, its rows memory-mapped (decrypted into RAM, given a cipher). Raises
        IndexCorruptError if unreadable or not sealed under ``cipher``, ModelMismatchError if it
        holds another model's vectors; FileNotFoundError if absent."""
        meta, rows = cls._mapped(path, model_id, dimension, metric, cipher)
        index = cls(model_id, dimension, metric, path, storage=rows.storage, cipher=cipher)
        index._rows = rows
        restore_state(index, meta)
        return index
