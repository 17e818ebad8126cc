"""An approximate index: FAISS's HNSW graph over full float32 vectors (``IndexHNSWFlat``).

HNSW cannot delete a node from its graph. Removal here is still physical: the removed vector's
bytes are overwritten with zeros in the graph's vector storage at once (so no saved file holds them)
and the node is excluded from every search; when erased nodes pass a share of the index, the graph
is rebuilt from the live vectors (compaction), which also restores search quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import IndexCorruptError
from facesearch.index.base import Hits, IdArray, IndexInfo, Matrix, as_ids, as_matrix, empty_hits, unit_rows
from facesearch.index.files import header, read_index_file, restore_state, write_index_file
from facesearch.storage.crypto import DataCipher
from facesearch.types import Metric

FORMAT = "facesearch-hnsw-1"
ERASED = -1
COMPACT_SHARE = 0.2  # rebuild the graph when this share of its nodes are erased


def _faiss() -> Any:
    import faiss  # imported on first use: importing facesearch loads no native library

    return faiss


class HnswIndex:
    """HNSW search (``m`` links per node, ``ef_construction`` when building, ``ef_search`` when
    searching: higher is more exact and slower); ``path`` is where :meth:`save` writes, sealed
    under ``cipher`` if given."""

    backend = "hnsw"

    def __init__(
        self,
        model_id: str,
        dimension: int,
        metric: Metric,
        path: Path | None = None,
        *,
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        cipher: DataCipher | None = None,
    ) -> None:
        self.model_id, self.dimension, self.metric, self.path = model_id, dimension, metric, path
        self.cipher = cipher
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.generation = -1
        self.state_hash = ""
        self._graph = self._new_graph()
        self._labels: IdArray = np.empty(0, dtype=np.int64)  # graph node -> face id, or ERASED
        self._node_of: dict[int, int] = {}
        self._selector: Any = None  # excludes erased nodes; rebuilt when they change

    def _new_graph(self) -> Any:
        faiss = _faiss()
        kind = faiss.METRIC_INNER_PRODUCT if self.metric is Metric.COSINE else faiss.METRIC_L2
        graph = faiss.IndexHNSWFlat(self.dimension, self.m, kind)
        graph.hnsw.efConstruction = self.ef_construction
        return graph

    @property
    def info(self) -> IndexInfo:
        return IndexInfo(self.backend, self.model_id, self.dimension, self.metric, len(self), self.generation)

    def __len__(self) -> int:
        return len(self._node_of)

    def ids(self) -> IdArray:
        live: IdArray = self._labels[self._labels != ERASED]
        return live.copy()

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        ids = as_ids(ids)
        matrix = as_matrix(vectors, self.dimension)
        if ids.shape[0] != matrix.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {matrix.shape[0]} vectors")
        if len(np.unique(ids)) != len(ids) or any(int(i) in self._node_of for i in ids):
            raise ValueError("an id is already in the index")
        if self.metric is Metric.COSINE:
            matrix = unit_rows(matrix)
        first = len(self._labels)
        self._graph.add(matrix)
        self._labels = np.concatenate([self._labels, ids])
        self._node_of.update((int(face), first + k) for k, face in enumerate(ids))

    def _stored(self) -> Matrix:
        """A writable view of the graph's vector storage, one row per node."""
        faiss = _faiss()
        storage = faiss.downcast_index(self._graph.storage)
        n = storage.ntotal
        view: Matrix = faiss.rev_swig_ptr(storage.get_xb(), n * self.dimension).reshape(n, self.dimension)
        return view

    def remove(self, ids: IdArray) -> int:
        nodes = [self._node_of.pop(int(i)) for i in as_ids(ids) if int(i) in self._node_of]
        if not nodes:
            return 0
        self._stored()[nodes] = 0.0  # the vectors' bytes are gone now, not at the next rebuild
        self._labels[nodes] = ERASED
        self._selector = None
        if np.count_nonzero(self._labels == ERASED) > COMPACT_SHARE * len(self._labels):
            self.compact()
        return len(nodes)

    def compact(self) -> None:
        """Rebuild the graph from the live vectors only."""
        live = np.flatnonzero(self._labels != ERASED)
        vectors, labels = self._stored()[live].copy(), self._labels[live]
        self._graph, self._labels, self._node_of, self._selector = self._new_graph(), np.empty(0, np.int64), {}, None
        if len(labels):
            self.add(labels, vectors)

    def search(self, queries: Matrix, k: int) -> Hits:
        queries = as_matrix(queries, self.dimension)
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        hits = empty_hits(queries.shape[0], k)
        if len(self) == 0:
            return hits
        faiss = _faiss()
        erased = np.flatnonzero(self._labels == ERASED)
        if len(erased) and self._selector is None:
            self._selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(erased.astype(np.int64)))
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
        if len(erased):
            params.sel = self._selector
        if self.metric is Metric.COSINE:
            queries = unit_rows(queries)
        found = min(k, len(self))
        raw, nodes = self._graph.search(queries, found, params=params)
        valid = nodes >= 0
        hits.ids[:, :found] = np.where(valid, self._labels[np.maximum(nodes, 0)], -1)
        scores = raw if self.metric is Metric.COSINE else 1.0 - np.sqrt(np.maximum(raw, 0.0))
        hits.scores[:, :found] = np.where(valid, scores, -np.inf)
        return hits

    # --- persistence -------------------------------------------------------------------

    def save(self, generation: int) -> None:
        self.generation = generation
        if self.path is None:
            return
        meta = header(
            FORMAT,
            self,
            m=self.m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
        )
        graph = _faiss().serialize_index(self._graph)
        write_index_file(self.path, meta, {"labels": self._labels, "graph": graph}, self.cipher)

    @classmethod
    def load(
        cls, path: Path, model_id: str, dimension: int, metric: Metric, *, cipher: DataCipher | None = None
    ) -> HnswIndex:
        """Open a saved index; raises like :meth:`facesearch.index.ExactIndex.load`."""
        meta, arrays = read_index_file(path, FORMAT, ("labels", "graph"), model_id, dimension, metric, cipher)
        index = cls(
            model_id,
            dimension,
            metric,
            path,
            m=meta["m"],
            ef_construction=meta["ef_construction"],
            ef_search=meta["ef_search"],
            cipher=cipher,
        )
        try:
            index._graph = _faiss().deserialize_index(np.ascontiguousarray(arrays["graph"], dtype=np.uint8))
        except RuntimeError as exc:
            raise IndexCorruptError(f"{path}: unreadable HNSW graph ({exc})") from exc
        labels = np.ascontiguousarray(arrays["labels"], dtype=np.int64)
        if index._graph.ntotal != len(labels) or index._graph.d != dimension:
            raise IndexCorruptError(f"{path}: the graph and its labels disagree")
        index._labels = labels
        index._node_of = {int(face): node for node, face in enumerate(labels) if face != ERASED}
        restore_state(index, meta)
        return index
