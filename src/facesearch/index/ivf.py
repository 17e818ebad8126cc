"""A compressed index for galleries whose full vectors should not sit in RAM: FAISS inverted lists
of int8 codes (``IVF,SQ8``: 128 bytes a face, a quarter of float32) in memory, the full vectors
memory-mapped from the index file (float16 by default) to re-rank the short list exactly.

(Product quantization, 32 bytes a face, took FAISS over a minute to train on 6,000 faces here and
ranked worse before re-ranking; int8 codes train in a fraction of a second.)

A search probes ``nprobe`` of the ``nlist`` inverted lists, takes the ``rerank`` best faces by
their codes, and scores those on the stored vectors, so the scores returned are exact (float16:
within about 1e-4). Until the index holds ``train_min`` faces there is nothing to train the
quantizers on, and it searches its stored vectors exactly. The quantizers are trained on a sample
of the faces held and retrained when the index has grown ``RETRAIN_GROWTH`` times since.

Removal is physical: the codes leave the inverted lists and the vectors leave the store at once;
the file is replaced at the next save.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import IndexCorruptError
from facesearch.index.base import Hits, IdArray, IndexInfo, Matrix, as_ids, as_matrix, empty_hits, unit_rows
from facesearch.index.exact import ExactIndex
from facesearch.index.files import header, read_flat_file, restore_state, write_flat_file
from facesearch.index.vectors import VectorStore
from facesearch.storage.crypto import DataCipher
from facesearch.types import Metric

FORMAT = "facesearch-ivf-1"
RETRAIN_GROWTH = 8
TRAIN_PER_LIST = 40  # training sample: this many faces per inverted list


def _faiss() -> Any:
    import faiss  # imported on first use: importing facesearch loads no native library

    return faiss


class IvfIndex:
    """IVF search over int8 codes with exact re-ranking; ``path`` is where :meth:`save` writes."""

    backend = "ivf"

    def __init__(
        self,
        model_id: str,
        dimension: int,
        metric: Metric,
        path: Path | None = None,
        *,
        storage: str = "float16",
        nprobe: int = 64,
        rerank: int = 100,
        train_min: int = 10_000,
        cipher: DataCipher | None = None,
    ) -> None:
        self.model_id, self.dimension, self.metric, self.path = model_id, dimension, metric, path
        self.cipher = cipher
        self.nprobe, self.rerank, self.train_min = nprobe, rerank, train_min
        self.generation = -1
        self.state_hash = ""
        self._exact = ExactIndex(model_id, dimension, metric, storage=storage)  # the stored vectors
        self._ivf: Any = None  # trained when the index holds train_min faces
        self._trained_at = 0
        self._by_id: tuple[IdArray, IdArray] | None = None  # (held ids sorted, their rows); lazily rebuilt

    @property
    def _rows(self) -> VectorStore:
        return self._exact._rows

    @property
    def info(self) -> IndexInfo:
        return IndexInfo(self.backend, self.model_id, self.dimension, self.metric, len(self), self.generation)

    def __len__(self) -> int:
        return len(self._exact)

    def ids(self) -> IdArray:
        return self._exact.ids()

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        ids, matrix = as_ids(ids), as_matrix(vectors, self.dimension)
        self._exact.add(ids, matrix)  # checks ids and shape; stores unit rows for cosine
        self._by_id = None
        if self._ivf is None or len(self) > RETRAIN_GROWTH * self._trained_at:
            if len(self) >= self.train_min:
                self._train()
            return
        self._ivf.add_with_ids(self._searchable(matrix), ids)

    def _searchable(self, matrix: Matrix) -> Matrix:
        return unit_rows(matrix) if self.metric is Metric.COSINE else np.ascontiguousarray(matrix, np.float32)

    def _train(self) -> None:
        """Train the quantizers on a sample of the stored faces, then encode every face."""
        faiss = _faiss()
        n = len(self)
        nlist = int(min(65536, max(16, math.sqrt(n))))
        kind = faiss.METRIC_INNER_PRODUCT if self.metric is Metric.COSINE else faiss.METRIC_L2
        ivf = faiss.index_factory(self.dimension, f"IVF{nlist},SQ8", kind)
        sample = np.sort(np.random.default_rng(0).choice(n, min(n, TRAIN_PER_LIST * nlist), replace=False))
        ivf.train(self._rows.rows_of(sample.astype(np.int64)))
        for start, block, _ in self._rows.blocks(1 << 16):
            ivf.add_with_ids(block, self._rows.ids_at(np.arange(start, start + len(block), dtype=np.int64)))
        self._ivf, self._trained_at = ivf, n

    def remove(self, ids: IdArray) -> int:
        ids = as_ids(ids)
        count = self._exact.remove(ids)
        if count and self._ivf is not None:
            self._ivf.remove_ids(_faiss().IDSelectorBatch(ids))
        self._by_id = None
        return count

    def search(self, queries: Matrix, k: int) -> Hits:
        queries = as_matrix(queries, self.dimension)
        if self._ivf is None:
            return self._exact.search(queries, k)
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        faiss = _faiss()
        queries = self._searchable(queries)
        shortlist = max(k, self.rerank)
        params = faiss.SearchParametersIVF(nprobe=min(self.nprobe, self._ivf.nlist))
        _, candidates = self._ivf.search(queries, shortlist, params=params)
        rows = self._rows_of(candidates)
        vectors = self._rows.rows_of(np.maximum(rows, 0))
        if self.metric is Metric.COSINE:
            scores = np.einsum("qd,qkd->qk", queries, vectors)
        else:
            scores = 1.0 - np.linalg.norm(vectors - queries[:, None, :], axis=2)
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        hits = empty_hits(len(queries), k)
        found = min(k, shortlist)
        top = np.take_along_axis(scores, order, axis=1)
        hits.scores[:, :found] = top
        hits.ids[:, :found] = np.where(np.isfinite(top), np.take_along_axis(candidates, order, axis=1), -1)
        return hits

    def _rows_of(self, face_ids: IdArray) -> IdArray:
        """Row of each face id in the store (-1 for -1)."""
        if self._by_id is None:
            held = self._rows.ids()
            order = np.argsort(held, kind="stable")
            self._by_id = held[order], order
        held, order = self._by_id
        at = np.clip(np.searchsorted(held, face_ids), 0, len(held) - 1)
        rows: IdArray = np.where((face_ids >= 0) & (held[at] == face_ids), order[at], -1)
        return rows

    # --- persistence -------------------------------------------------------------------

    def save(self, generation: int) -> None:
        self.generation = generation
        if self.path is None:
            return
        meta = header(
            FORMAT,
            self,
            storage=self._rows.storage,
            nprobe=self.nprobe,
            rerank=self.rerank,
            train_min=self.train_min,
            trained_at=self._trained_at,
        )
        parts = self._rows.parts()
        codes = _faiss().serialize_index(self._ivf) if self._ivf is not None else np.empty(0, np.uint8)
        write_flat_file(self.path, meta, {**parts, "ivf": [codes]}, self.cipher)
        if self.cipher is None:  # a sealed file cannot be mapped: the vectors stay in RAM
            self._map(with_codes=False)

    def _map(self, with_codes: bool, read: tuple[dict[str, Any], dict[str, Any]] | None = None) -> dict[str, Any]:
        """Map the stored vectors from the file (and read the codes, if asked); returns the header.
        ``read``: the file's (header, arrays), when the caller has read them already."""
        assert self.path is not None
        names = ("ids", "vectors", "sq", "ivf")
        meta, arrays = read or read_flat_file(
            self.path, FORMAT, names, self.model_id, self.dimension, self.metric, self.cipher
        )
        try:
            self._exact._rows = VectorStore.mapped(arrays["ids"], arrays["vectors"], arrays["sq"])
            if with_codes:
                self._ivf = _faiss().deserialize_index(np.array(arrays["ivf"])) if len(arrays["ivf"]) else None
        except (KeyError, ValueError, RuntimeError) as exc:
            raise IndexCorruptError(f"{self.path}: {exc}") from exc
        if self._ivf is not None and self._ivf.ntotal != len(self._rows):
            raise IndexCorruptError(f"{self.path}: the codes and the stored vectors disagree")
        self._by_id = None
        return meta

    @classmethod
    def load(
        cls, path: Path, model_id: str, dimension: int, metric: Metric, *, cipher: DataCipher | None = None
    ) -> IvfIndex:
        """Open a saved index, its vectors memory-mapped (decrypted into RAM, given a cipher); raises
        like :meth:`ExactIndex.load`."""
        names = ("ids", "vectors", "sq", "ivf")
        meta, arrays = read_flat_file(path, FORMAT, names, model_id, dimension, metric, cipher)
        try:
            index = cls(
                model_id,
                dimension,
                metric,
                path,
                storage=meta["storage"],
                nprobe=meta["nprobe"],
                rerank=meta["rerank"],
                train_min=meta["train_min"],
                cipher=cipher,
            )
        except (KeyError, ValueError) as exc:
            raise IndexCorruptError(f"{path}: garbled header ({exc!r})") from exc
        meta = index._map(with_codes=True, read=(meta, arrays))
        restore_state(index, meta)
        index._trained_at = int(meta["trained_at"])
        return index
