"""A VectorIndex kept in PostgreSQL by the pgvector extension (setting ``index_backend = "pgvector"``).

Each index is one table ``(id bigint primary key, embedding vector(D))`` with an HNSW index for
the metric (``vector_l2_ops`` for Euclidean, ``vector_cosine_ops`` for cosine), plus one row of
``vector_index_meta`` (model, dimension, metric, generation, content hash). Writes are durable when
their call returns; :meth:`PgVectorIndex.save` only records the generation. ``exact=True`` (given
when the index is created) builds no graph and searches every row, as the exact backend does.

Scores mean what they mean for every backend: ``1 - distance`` for Euclidean (pgvector's ``<->``),
cosine similarity ``1 - cosine distance`` for cosine (``<=>``).

As a gallery's index (see :mod:`facesearch.index.dbkeeper`) the table's ids reference ``faces.id``
with ON DELETE CASCADE and every write happens in the gallery's own transaction (``*_in``
methods), so a face and its vector are stored, and erased, together or not at all.

The table holds *plaintext* vectors: the server must read them to compute distances, so they
cannot be sealed like the gallery's other copies of a template (see docs/scale-out.md). VACUUM
(:meth:`PgVectorIndex.vacuum`, which the gallery runs after every erasure and purge) takes a
deleted row out of the table's live tuples and the HNSW graph, but its bytes stay in the page's
free space until reused; only a rewrite of the table (a rebuild, VACUUM FULL) drops them.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, text

from facesearch.errors import IndexCorruptError, ModelMismatchError
from facesearch.index.base import (
    Hits,
    IdArray,
    IndexInfo,
    Matrix,
    as_ids,
    as_matrix,
    empty_hits,
)
from facesearch.types import Metric

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,40}")
_OPS = {Metric.EUCLIDEAN: ("vector_l2_ops", "<->"), Metric.COSINE: ("vector_cosine_ops", "<=>")}
META = "vector_index_meta"
COPY_BATCH = 50_000  # rows per COPY buffer
M = 16  # pgvector's defaults for the graph: links per node...
EF_CONSTRUCTION = 64  # ...and candidates kept while building
EF_SEARCH = 800  # candidates the HNSW scan keeps (pgvector's 40 misses 30% of a person's faces at 1M)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)


def _literal(row: np.ndarray) -> str:
    """pgvector's text form of one float32 row (repr of each float32 round-trips exactly)."""
    return "[" + ",".join(repr(float(x)) for x in row) + "]"


def _by_distance(hit: tuple[int, float]) -> tuple[float, int]:
    return float(hit[1]), int(hit[0])


def copy_rows(ids: IdArray, matrix: Matrix) -> bytes:
    """Rows ``(id bigint, embedding vector)`` in COPY's binary format, without header or trailer
    (pgvector's binary form of a vector: int16 dimension, int16 zero, big-endian float4s)."""
    n, dimension = matrix.shape
    layout = np.dtype(
        [
            ("fields", ">i2"),
            ("id_len", ">i4"),
            ("id", ">i8"),
            ("vector_len", ">i4"),
            ("dim", ">i2"),
            ("unused", ">i2"),
            ("vector", ">f4", (dimension,)),
        ]
    )
    rows = np.empty(n, dtype=layout)
    rows["fields"], rows["id_len"], rows["id"] = 2, 8, ids
    rows["vector_len"], rows["dim"], rows["unused"] = 4 + 4 * dimension, dimension, 0
    rows["vector"] = matrix
    return rows.tobytes()


class PgVectorIndex:
    """The vectors of one model in table ``name`` of the database behind ``engine``.

    ``m`` and ``ef_construction`` shape the HNSW graph when it is built (pgvector's defaults, 16
    and 64); ``ef_search`` is how many candidates a search keeps (at least k)."""

    backend = "pgvector"

    def __init__(
        self,
        engine: Engine,
        name: str,
        model_id: str,
        dimension: int,
        metric: Metric,
        *,
        exact: bool = False,
        m: int = M,
        ef_construction: int = EF_CONSTRUCTION,
        ef_search: int = EF_SEARCH,
    ) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"index table name {name!r}: lower-case letters, digits and _ only")
        self.engine = engine
        self.name = name
        self.model_id = model_id
        self.dimension = dimension
        self.metric = metric
        self.exact = exact
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.generation = -1
        self.state_hash = ""
        self._size: int | None = None  # rows, counted once per change
        self._bound: Connection | None = None  # the gallery transaction reads go through, if open

    def bind(self, connection: Connection | None) -> None:
        """Read (search, count, list ids) through ``connection`` while it is open: the gallery's
        transaction, which may hold locks on the table (a rebuild) that another connection would
        wait for, and whose snapshot is the one the gallery's rows are read in. Once it is closed,
        or with None, each read opens a connection of its own."""
        self._bound = connection

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        if self._bound is not None and not self._bound.closed:
            yield self._bound
            return
        with self.engine.begin() as connection:
            yield connection

    # --- creating and opening ----------------------------------------------------------

    @classmethod
    def create(
        cls, engine: Engine, name: str, model_id: str, dimension: int, metric: Metric, **options: Any
    ) -> PgVectorIndex:
        """A new, empty index (an old one of the same name is dropped); ``options`` as for the
        constructor (exact, m, ef_construction, ef_search)."""
        index = cls(engine, name, model_id, dimension, metric, **options)
        with engine.begin() as connection:
            index.create_in(connection)
        return index

    def create_in(self, connection: Connection, *, references: str | None = None, graph: bool = True) -> None:
        """Create this index's (empty) table in the caller's transaction, dropping an old one.
        ``references``: a table whose ``id`` each row's id must name (ON DELETE CASCADE: deleting
        the row there deletes the vector). ``graph=False`` leaves the HNSW graph to
        :meth:`build_graph_in`, after a bulk load (much faster than growing it row by row)."""
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        connection.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {META} (name text PRIMARY KEY, model_id text NOT NULL,"
                " dimension integer NOT NULL, metric text NOT NULL, generation bigint NOT NULL,"
                " state_hash text NOT NULL)"
            )
        )
        connection.execute(text(f"DROP TABLE IF EXISTS {self.name}"))
        connection.execute(text(f"DELETE FROM {META} WHERE name = :name"), {"name": self.name})
        if references is not None and not _NAME.fullmatch(references):
            raise ValueError(f"referenced table {references!r}: lower-case letters, digits and _ only")
        foreign = f" REFERENCES {references} (id) ON DELETE CASCADE" if references else ""
        connection.execute(
            text(
                f"CREATE TABLE {self.name} (id bigint PRIMARY KEY{foreign},"
                f" embedding vector({int(self.dimension)}) NOT NULL)"
            )
        )
        if graph:
            self.build_graph_in(connection)
        connection.execute(
            text(f"INSERT INTO {META} VALUES (:name, :model, :dim, :metric, -1, '')"),
            {"name": self.name, "model": self.model_id, "dim": self.dimension, "metric": self.metric.value},
        )
        self.generation, self.state_hash, self._size = -1, "", 0

    def build_graph_in(self, connection: Connection) -> None:
        """Build the HNSW graph over the rows held (nothing when the index is exact: it scans every
        row, and a graph would only slow its writes)."""
        if self.exact:
            return
        ops, _ = _OPS[self.metric]
        connection.execute(
            text(
                f"CREATE INDEX {self.name}_hnsw ON {self.name} USING hnsw (embedding {ops})"
                f" WITH (m = {int(self.m)}, ef_construction = {int(self.ef_construction)})"
            )
        )

    def graph_in(self, connection: Connection) -> str | None:
        """The definition of the table's HNSW index, or None when it has none."""
        found = connection.execute(
            text("SELECT indexdef FROM pg_indexes WHERE tablename = :t AND indexname = :i"),
            {"t": self.name, "i": f"{self.name}_hnsw"},
        ).scalar_one_or_none()
        return None if found is None else str(found)

    def graph_matches_in(self, connection: Connection) -> bool:
        """Whether the table's graph is the one this index's options ask for (none when exact)."""
        definition = self.graph_in(connection)
        if self.exact or definition is None:
            return self.exact and definition is None
        wanted = (f"m='{int(self.m)}'", f"ef_construction='{int(self.ef_construction)}'", _OPS[self.metric][0])
        return all(part in definition.replace(" ", "") for part in wanted)

    @classmethod
    def load(
        cls, engine: Engine, name: str, model_id: str, dimension: int, metric: Metric, **options: Any
    ) -> PgVectorIndex:
        """The index saved under ``name``; ModelMismatchError if it holds another model's vectors.
        ``options`` as for the constructor."""
        index = cls(engine, name, model_id, dimension, metric, **options)
        with engine.connect() as connection:
            index.load_in(connection)
        return index

    def load_in(self, connection: Connection) -> None:
        """Read the index's record (generation, content hash) in the caller's transaction;
        IndexCorruptError if there is none, ModelMismatchError if it holds another model."""
        has_meta = connection.execute(text("SELECT to_regclass(:t)"), {"t": META}).scalar_one()
        row = None
        if has_meta is not None:
            row = connection.execute(
                text(f"SELECT model_id, dimension, metric, generation, state_hash FROM {META} WHERE name = :name"),
                {"name": self.name},
            ).one_or_none()
        if row is None:
            raise IndexCorruptError(f"no pgvector index {self.name!r} in this database")
        if (row.model_id, row.dimension, row.metric) != (self.model_id, self.dimension, self.metric.value):
            raise ModelMismatchError(
                f"pgvector index {self.name!r} holds {row.model_id} ({row.dimension}, {row.metric}), "
                f"not {self.model_id} ({self.dimension}, {self.metric.value})"
            )
        self.generation, self.state_hash, self._size = int(row.generation), str(row.state_hash), None

    # --- the VectorIndex protocol ------------------------------------------------------

    @property
    def info(self) -> IndexInfo:
        return IndexInfo(self.backend, self.model_id, self.dimension, self.metric, len(self), self.generation)

    def __len__(self) -> int:
        if self._size is None:
            with self._reading() as connection:
                self._size = int(connection.execute(text(f"SELECT count(*) FROM {self.name}")).scalar_one())
        return self._size

    def ids(self) -> IdArray:
        with self._reading() as connection:
            found = connection.execute(text(f"SELECT id FROM {self.name}")).scalars().all()
        return np.array(found, dtype=np.int64)

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        with self.engine.begin() as connection:
            self.add_in(connection, ids, vectors)

    def add_in(self, connection: Connection, ids: IdArray, vectors: Matrix) -> None:
        """:meth:`add` inside the caller's transaction (the gallery's, when it shares the database)."""
        ids = as_ids(ids)
        matrix = as_matrix(vectors, self.dimension)
        if ids.shape[0] != matrix.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {matrix.shape[0]} vectors")
        if len(np.unique(ids)) != len(ids) or self.held_in(connection, ids):
            raise ValueError("an id is already in the index")
        self.copy_in(connection, ids, matrix)

    def copy_in(self, connection: Connection, ids: IdArray, matrix: Matrix) -> None:
        """Append rows by binary COPY, in the caller's transaction, unchecked (the table's primary
        key still refuses a duplicate id)."""
        raw = connection.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {self.name} (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy,
        ):
            copy.write(_COPY_HEADER)
            for start in range(0, len(ids), COPY_BATCH):
                copy.write(copy_rows(ids[start : start + COPY_BATCH], matrix[start : start + COPY_BATCH]))
            copy.write(_COPY_TRAILER)
        self._size = None

    def held_in(self, connection: Connection, ids: IdArray) -> int:
        """How many of ``ids`` the table holds, as the caller's transaction sees it."""
        return int(
            connection.execute(
                text(f"SELECT count(*) FROM {self.name} WHERE id = ANY(:ids)"), {"ids": as_ids(ids).tolist()}
            ).scalar_one()
        )

    def remove(self, ids: IdArray) -> int:
        with self.engine.begin() as connection:
            return self.remove_in(connection, as_ids(ids))

    def remove_in(self, connection: Connection, ids: IdArray) -> int:
        """:meth:`remove` inside the caller's transaction: erased with the gallery's rows or not at all."""
        removed = connection.execute(
            text(f"DELETE FROM {self.name} WHERE id = ANY(:ids)"), {"ids": as_ids(ids).tolist()}
        )
        self._size = None
        return int(removed.rowcount)

    def search(self, queries: Matrix, k: int) -> Hits:
        queries = as_matrix(queries, self.dimension)
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        hits = empty_hits(queries.shape[0], k)
        _, operator = _OPS[self.metric]
        # The HNSW graph serves only ORDER BY <distance> LIMIT k: a second sort key (id, to break
        # ties) makes the planner sort every row instead, an exact scan: what exact mode wants.
        # Ties are ordered below.
        order = "d, id" if self.exact else "d"
        query = text(
            f"SELECT id, embedding {operator} CAST(:q AS vector) AS d FROM {self.name} ORDER BY {order} LIMIT :k"
        )
        with self._reading() as connection:
            if not self.exact:  # (exact: ORDER BY d, id already compares every row)
                connection.execute(text(f"SET LOCAL hnsw.ef_search = {max(int(self.ef_search), int(k))}"))
            for n, row in enumerate(queries):
                found = sorted(
                    ((int(i), float(d)) for i, d in connection.execute(query, {"q": _literal(row), "k": int(k)})),
                    key=_by_distance,
                )
                for j, (face_id, distance) in enumerate(found):
                    hits.ids[n, j] = int(face_id)
                    hits.scores[n, j] = 1.0 - float(distance)
        return hits

    def save(self, generation: int) -> None:
        """Record the gallery generation (and content hash) this index reflects; the rows are
        already durable."""
        with self.engine.begin() as connection:
            self.stamp_in(connection, generation, self.state_hash)
        self.generation = generation

    def stamp_in(self, connection: Connection, generation: int, state_hash: str) -> None:
        """Record, in the caller's transaction, the gallery generation and content hash the rows
        reflect (the object's own copy is the caller's to set once that transaction commits)."""
        connection.execute(
            text(f"UPDATE {META} SET generation = :g, state_hash = :h WHERE name = :name"),
            {"g": generation, "h": state_hash, "name": self.name},
        )

    def drop(self) -> None:
        """Remove the index's table and its record."""
        with self.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {self.name}"))
            connection.execute(text(f"DELETE FROM {META} WHERE name = :name"), {"name": self.name})

    # --- upkeep -----------------------------------------------------------------------------

    def vacuum(self) -> None:
        """VACUUM the table (outside any transaction): deleted rows' tuples are pruned from the
        table's pages and their entries from the HNSW graph, so an erased vector does not wait for
        autovacuum. INDEX_CLEANUP ON: by default VACUUM skips the indexes when few rows died (under
        2% of the table's pages), which would leave an erased face's vector in the graph. PostgreSQL
        does not promise to overwrite the freed bytes (see docs/scale-out.md)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"VACUUM (INDEX_CLEANUP ON) {self.name}"))

    def sizes(self) -> dict[str, int]:
        """Bytes on disk: ``table`` (heap and TOAST), ``graph`` (the HNSW index) and ``key`` (the
        primary key's B-tree)."""
        with self.engine.connect() as connection:
            table = connection.execute(text("SELECT pg_table_size(:t)"), {"t": self.name}).scalar_one()
            graph = connection.execute(text("SELECT pg_relation_size(to_regclass(:i))"), {"i": f"{self.name}_hnsw"})
            key = connection.execute(text("SELECT pg_relation_size(to_regclass(:i))"), {"i": f"{self.name}_pkey"})
            return {"table": int(table), "graph": int(graph.scalar_one() or 0), "key": int(key.scalar_one() or 0)}
