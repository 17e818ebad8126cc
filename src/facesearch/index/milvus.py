"""A VectorIndex kept in a Milvus server or cluster (setting ``index_backend = "milvus"``).

Each index is one collection ``(id int64 primary key, generation int64, embedding float_vector(D))``
with an HNSW index (``L2`` for Euclidean, inner product ``IP`` over unit vectors for cosine), and one
row in a small state collection beside it, ``<name>_state``: the model, dimension and metric, the
gallery generation and content hash the vectors reflect, and the last outbox entry applied (see
:mod:`facesearch.index.milvuskeeper`). Each vector row carries the gallery generation that wrote it.
Every read is at ``Strong`` consistency: it sees every write acknowledged before it. Searches are
too unless ``consistency`` is ``"bounded"``: Milvus then answers from what it has applied, without
waiting for its next time tick (about 200 ms); the gallery keeps only faces it holds, so an erased
face is never a candidate either way.

Scores mean what they mean for every backend: ``1 - distance`` for Euclidean (Milvus returns the
*squared* L2 distance, whose root is taken here), cosine similarity for cosine (the inner product
of unit vectors).

Milvus does not enforce unique primary keys: an ``insert`` of an id already held makes a second
row. :meth:`MilvusIndex.add` therefore refuses ids it holds, and the keeper writes with ``upsert``
(delete and insert under one timestamp), so a write applied twice leaves one row. A delete is
logical at first (a delete record in the segment's delta log); the row's bytes leave the segment
files only when compaction rewrites the segment (docs/scale-out.md, Milvus: erasure).

The same code serves a standalone server and a cluster: the address, token and database name are
the connection; shards (parallel write channels) are chosen when the collection is created, and
replicas (copies loaded on query nodes) when it is loaded.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from typing import Any

import numpy as np

from facesearch.errors import IndexCorruptError, ModelMismatchError
from facesearch.extras import require
from facesearch.index.base import Hits, IdArray, IndexInfo, Matrix, as_ids, as_matrix, empty_hits, unit_rows
from facesearch.types import Metric

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")
M = 16  # HNSW links per node (Milvus's examples, and pgvector's default)
EF_CONSTRUCTION = 200  # candidates kept while building (as the FAISS backend builds)
EF_SEARCH = 256  # candidates a search keeps (at least k)
WRITE_BATCH = 10_000  # rows per insert or upsert request (5 MiB of 128-d vectors; gRPC allows 64)
QUERY_BATCH = 10_000  # ids per query or delete expression
COMPACT_TIMEOUT_S = 300.0  # how long compact() waits for Milvus to flush, index and compact
POLL_S = 0.5  # how often it asks
_METRIC = {Metric.EUCLIDEAN: "L2", Metric.COSINE: "IP"}
_STRONG = "Strong"


def pymilvus_module() -> Any:
    require("milvus", "index_backend 'milvus'")
    with warnings.catch_warnings():  # pymilvus 2.3 imports pkg_resources, which warns
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        import pymilvus
    return pymilvus


def connect(uri: str, token: str = "", database: str = "default") -> str:
    """A pymilvus connection alias for this server (made once per address, token and database)."""
    pymilvus = pymilvus_module()
    alias = "facesearch-" + hashlib.sha256(f"{uri}\0{token}\0{database}".encode()).hexdigest()[:16]
    if not pymilvus.connections.has_connection(alias):
        options: dict[str, Any] = {"uri": uri, "db_name": database}
        if token:
            options["token"] = token
        pymilvus.connections.connect(alias, **options)
    return alias


def drop_collections(alias: str, name: str) -> list[str]:
    """Drop collection ``name`` and its state collection ``name_state``, those that exist (applied
    twice, the second does nothing); returns those dropped. Milvus then deletes their files."""
    utility = pymilvus_module().utility
    dropped = []
    for found in (name, f"{name}_state"):
        if utility.has_collection(found, using=alias):
            utility.drop_collection(found, using=alias)
            dropped.append(found)
    return dropped


def _ids_expression(ids: IdArray) -> str:
    return "id in [" + ",".join(str(int(i)) for i in ids) + "]"


class MilvusIndex:
    """The vectors of one model in collection ``name`` on the Milvus server behind ``alias`` (see
    :func:`connect`). ``m`` and ``ef_construction`` shape the HNSW graph Milvus builds for each
    sealed segment; ``ef_search`` is how many candidates a search keeps (at least k); ``shards``
    and ``replicas`` matter on a cluster (see the module documentation)."""

    backend = "milvus"

    def __init__(
        self,
        alias: str,
        name: str,
        model_id: str,
        dimension: int,
        metric: Metric,
        *,
        m: int = M,
        ef_construction: int = EF_CONSTRUCTION,
        ef_search: int = EF_SEARCH,
        shards: int = 1,
        replicas: int = 1,
        consistency: str = "strong",
    ) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"Milvus collection name {name!r}: letters, digits and _ only, not first a digit")
        self.alias = alias
        self.name = name
        self.model_id = model_id
        self.dimension = dimension
        self.metric = metric
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.shards, self.replicas = shards, replicas
        self.search_consistency = _STRONG if consistency == "strong" else "Bounded"
        self.generation = -1
        self.state_hash = ""
        self.applied_seq = 0  # the last outbox entry (gallery side) whose change this index holds
        self._collection: Any = None
        self._state: Any = None

    # --- creating and opening ----------------------------------------------------------

    @classmethod
    def create(
        cls, alias: str, name: str, model_id: str, dimension: int, metric: Metric, **options: Any
    ) -> MilvusIndex:
        """A new, empty index (an old collection of the same name is dropped)."""
        index = cls(alias, name, model_id, dimension, metric, **options)
        index.recreate()
        return index

    @classmethod
    def load(cls, alias: str, name: str, model_id: str, dimension: int, metric: Metric, **options: Any) -> MilvusIndex:
        """The index saved under ``name``: IndexCorruptError if there is none, ModelMismatchError if
        it holds another model's vectors."""
        index = cls(alias, name, model_id, dimension, metric, **options)
        index.open()
        return index

    def recreate(self) -> None:
        """Drop the collections and make them again, empty, at generation -1."""
        pymilvus = pymilvus_module()
        self.drop()
        fields = [
            pymilvus.FieldSchema("id", pymilvus.DataType.INT64, is_primary=True, auto_id=False),
            pymilvus.FieldSchema("generation", pymilvus.DataType.INT64),
            pymilvus.FieldSchema("embedding", pymilvus.DataType.FLOAT_VECTOR, dim=int(self.dimension)),
        ]
        schema = pymilvus.CollectionSchema(fields, description=f"facesearch faces of {self.model_id}")
        collection = pymilvus.Collection(
            self.name, schema, using=self.alias, consistency_level=_STRONG, shards_num=int(self.shards)
        )
        collection.create_index("embedding", self._index_params())
        state = pymilvus.Collection(
            self._state_name(), self._state_schema(), using=self.alias, consistency_level=_STRONG
        )
        state.create_index("unused", {"index_type": "FLAT", "metric_type": "L2", "params": {}})
        self._collection, self._state = collection, state
        self._load()
        self.generation, self.state_hash, self.applied_seq = -1, "", 0
        self._write_state()

    def open(self) -> None:
        """Read the index's state row (see :meth:`load`)."""
        pymilvus = pymilvus_module()
        utility = pymilvus.utility
        if not utility.has_collection(self.name, using=self.alias) or not utility.has_collection(
            self._state_name(), using=self.alias
        ):
            raise IndexCorruptError(f"no Milvus collection {self.name!r} (with its state) on this server")
        self._collection = pymilvus.Collection(self.name, using=self.alias)
        self._state = pymilvus.Collection(self._state_name(), using=self.alias)
        self._load()
        rows = self._state.query("key == 0", output_fields=["*"], consistency_level=_STRONG)
        if not rows:
            raise IndexCorruptError(f"Milvus collection {self.name!r} has no state row (a crash while it was made)")
        row = rows[0]
        held = (row["model_id"], int(row["dimension"]), row["metric"])
        if held != (self.model_id, self.dimension, self.metric.value):
            raise ModelMismatchError(
                f"Milvus collection {self.name!r} holds {row['model_id']} ({row['dimension']}, {row['metric']}), "
                f"not {self.model_id} ({self.dimension}, {self.metric.value})"
            )
        self.generation, self.state_hash = int(row["generation"]), str(row["state_hash"])
        self.applied_seq = int(row["applied_seq"])

    def graph_matches(self) -> bool:
        """Whether the collection's index is the HNSW graph this index's options ask for."""
        found = [i.params for i in self._collection.indexes if i.field_name == "embedding"]
        if not found:
            return False
        params = found[0].get("params", {})
        if isinstance(params, str):
            params = json.loads(params)
        wanted = self._index_params()
        return bool(
            found[0].get("index_type") == wanted["index_type"]
            and found[0].get("metric_type") == wanted["metric_type"]
            and {k: int(v) for k, v in params.items()} == wanted["params"]
        )

    def _index_params(self) -> dict[str, Any]:
        params = {"M": int(self.m), "efConstruction": int(self.ef_construction)}
        return {"index_type": "HNSW", "metric_type": _METRIC[self.metric], "params": params}

    def _state_name(self) -> str:
        return f"{self.name}_state"  # as drop_collections names it

    def _state_schema(self) -> Any:
        pymilvus = pymilvus_module()
        data = pymilvus.DataType
        fields = [
            pymilvus.FieldSchema("key", data.INT64, is_primary=True, auto_id=False),
            pymilvus.FieldSchema("model_id", data.VARCHAR, max_length=256),
            pymilvus.FieldSchema("dimension", data.INT64),
            pymilvus.FieldSchema("metric", data.VARCHAR, max_length=32),
            pymilvus.FieldSchema("generation", data.INT64),
            pymilvus.FieldSchema("state_hash", data.VARCHAR, max_length=128),
            pymilvus.FieldSchema("applied_seq", data.INT64),
            pymilvus.FieldSchema("unused", data.FLOAT_VECTOR, dim=2),  # Milvus wants a vector in every collection
        ]
        return pymilvus.CollectionSchema(fields, description="facesearch: what the vectors beside it reflect")

    def _load(self) -> None:
        self._collection.load(replica_number=int(self.replicas))
        self._state.load()

    def _write_state(self) -> None:
        row = [[0], [self.model_id], [self.dimension], [self.metric.value], [self.generation], [self.state_hash]]
        self._state.upsert([*row, [int(self.applied_seq)], [[0.0, 0.0]]])

    def drop(self) -> None:
        """Drop the index's collections (nothing when there are none): Milvus then deletes their
        files. The index is then :attr:`dropped` until :meth:`recreate`."""
        drop_collections(self.alias, self.name)
        self._collection = self._state = None
        self.generation, self.state_hash, self.applied_seq = -1, "", 0

    @property
    def dropped(self) -> bool:
        """Whether this index's collections were dropped by :meth:`drop` (or never opened)."""
        return self._collection is None

    # --- the VectorIndex protocol ------------------------------------------------------

    @property
    def info(self) -> IndexInfo:
        return IndexInfo(self.backend, self.model_id, self.dimension, self.metric, len(self), self.generation)

    def __len__(self) -> int:
        rows = self._collection.query("", output_fields=["count(*)"], consistency_level=_STRONG)
        return int(rows[0]["count(*)"])

    def ids(self) -> IdArray:
        return np.array(self._ids_between(-(2**63 - 1), 2**63 - 1), dtype=np.int64)

    def _ids_between(self, low: int, high: int) -> list[int]:
        """The ids held in [low, high]: one query when they fit in a query's result (16,384 rows
        at most), else both halves. (pymilvus 2.3's query iterator hung here after its last batch.)"""
        where = f"id >= {low} and id <= {high}"
        rows = self._collection.query(where, output_fields=["count(*)"], consistency_level=_STRONG)
        count = int(rows[0]["count(*)"])
        if count == 0:
            return []
        if count <= QUERY_BATCH or low == high:
            rows = self._collection.query(where, output_fields=["id"], limit=QUERY_BATCH, consistency_level=_STRONG)
            return [int(row["id"]) for row in rows]
        middle = (low + high) // 2
        return self._ids_between(low, middle) + self._ids_between(middle + 1, high)

    def held(self, ids: IdArray) -> IdArray:
        """Which of ``ids`` the collection holds."""
        ids = as_ids(ids)
        found: list[int] = []
        for start in range(0, len(ids), QUERY_BATCH):
            part = ids[start : start + QUERY_BATCH]
            rows = self._collection.query(_ids_expression(part), output_fields=["id"], consistency_level=_STRONG)
            found.extend(int(row["id"]) for row in rows)
        return np.array(sorted(set(found)), dtype=np.int64)

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        ids = as_ids(ids)
        matrix = as_matrix(vectors, self.dimension)
        if ids.shape[0] != matrix.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {matrix.shape[0]} vectors")
        if len(np.unique(ids)) != len(ids) or len(self.held(ids)):
            raise ValueError("an id is already in the index")
        self.upsert(ids, matrix, self.generation)

    def upsert(self, ids: IdArray, vectors: Matrix, generation: int) -> None:
        """Write these rows, replacing any held under the same ids (applying it twice leaves one
        row each), stamped with the gallery ``generation`` that wrote them."""
        ids = as_ids(ids)
        matrix = as_matrix(vectors, self.dimension)
        if self.metric is Metric.COSINE:
            matrix = unit_rows(matrix)
        for start in range(0, len(ids), WRITE_BATCH):
            part = slice(start, start + WRITE_BATCH)
            self._collection.upsert([ids[part].tolist(), [int(generation)] * len(ids[part]), matrix[part]])

    def remove(self, ids: IdArray) -> int:
        present = self.held(ids)
        self.delete(present)
        return len(present)

    def delete(self, ids: IdArray) -> None:
        """Delete these ids (those not held are ignored: applying it twice is harmless)."""
        ids = as_ids(ids)
        for start in range(0, len(ids), QUERY_BATCH):
            self._collection.delete(_ids_expression(ids[start : start + QUERY_BATCH]))

    def search(self, queries: Matrix, k: int) -> Hits:
        queries = as_matrix(queries, self.dimension)
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        hits = empty_hits(queries.shape[0], k)
        if self.metric is Metric.COSINE:
            queries = unit_rows(queries)
        params = {"metric_type": _METRIC[self.metric], "params": {"ef": max(int(self.ef_search), int(k))}}
        found = self._collection.search(
            queries.tolist(),
            "embedding",
            params,
            limit=int(k),
            output_fields=[],
            consistency_level=self.search_consistency,
        )
        for n, result in enumerate(found):
            scored = [(int(h.id), self._score(float(h.distance))) for h in result]
            for j, (face_id, score) in enumerate(sorted(scored, key=lambda hit: (-hit[1], hit[0]))):
                hits.ids[n, j], hits.scores[n, j] = face_id, score
        return hits

    def _score(self, distance: float) -> float:
        if self.metric is Metric.COSINE:
            return distance  # IP of unit vectors: the cosine similarity
        return 1.0 - float(np.sqrt(max(distance, 0.0)))  # Milvus's L2 is squared

    def save(self, generation: int) -> None:
        """Record the gallery generation (and content hash) this index reflects; the rows are
        already written."""
        self.stamp(generation, self.state_hash, self.applied_seq)

    def stamp(self, generation: int, state_hash: str, applied_seq: int) -> None:
        """Record the gallery generation, content hash and last outbox entry the rows reflect."""
        self.generation, self.state_hash, self.applied_seq = generation, state_hash, applied_seq
        self._write_state()

    # --- upkeep -------------------------------------------------------------------------

    def compact(self, timeout: float = COMPACT_TIMEOUT_S) -> int:
        """Rewrite the collection's sealed segments until none holds a deleted row: flush (the rows
        and deletes written so far reach sealed segments and their delete logs), wait until every
        sealed segment is indexed, compact, and check. Returns how many compaction plans completed.

        Milvus 2.3 compacts only segments whose index is built (``dataCoord.compaction.
        indexBasedCompaction``, on by default), and builds the index of a newly sealed segment in
        the background: a compaction asked for before that finds nothing to do, however often it is
        asked, while the machine is slow. So this waits on the index, and counts: once the sealed
        segments' rows add up to the rows the collection holds, no segment holds an erased (or
        replaced) row. Its garbage collection then removes the old segments' files once the new
        segments are indexed, in the background: not waited for here, since a compaction asked for
        by hand rewrites every segment, and indexing a large collection again takes long. A write by
        another process in the meantime only makes this go round again. Raises :class:`TimeoutError` past ``timeout``
        seconds (the rows are deleted whatever happens here; only their bytes would stay)."""
        deadline = time.monotonic() + timeout
        completed = 0
        while True:
            self._collection.flush(timeout=_remaining(deadline))
            wait_indexed(self.alias, self.name, deadline)
            if self.sealed_rows() == len(self):
                return completed
            self._collection.compact(timeout=_remaining(deadline))
            self._collection.wait_for_compaction_completed(timeout=_remaining(deadline))
            completed += int(self._collection.get_compaction_state().completed)
            if self.sealed_rows() == len(self):
                return completed
            time.sleep(min(POLL_S, _remaining(deadline)))

    def sealed_rows(self) -> int:
        """Rows in the collection's sealed (flushed) segments, deleted rows included: a segment's
        rows are counted as written until compaction rewrites it."""
        pymilvus = pymilvus_module()
        handler = pymilvus.connections._fetch_handler(self.alias)
        return sum(int(s.num_rows) for s in handler.get_persistent_segment_infos(self.name))


def wait_indexed(alias: str, name: str, deadline: float) -> None:
    """Wait until every sealed segment of collection ``name`` has its index built; TimeoutError
    past ``deadline`` (a :func:`time.monotonic` time)."""
    utility = pymilvus_module().utility
    while True:
        progress = utility.index_building_progress(name, using=alias)
        if int(progress["pending_index_rows"]) == 0 and progress["indexed_rows"] >= progress["total_rows"]:
            return
        time.sleep(min(POLL_S, _remaining(deadline)))


def _remaining(deadline: float) -> float:
    """Seconds left until ``deadline``; TimeoutError when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("Milvus did not finish in time")
    return left
