"""A VectorIndex kept in PostgreSQL by the pgvector extension (skeleton: not yet chosen by settings).

Each index is one table ``(id bigint primary key, embedding vector(D))`` with an HNSW index for
the metric (``vector_l2_ops`` for Euclidean, ``vector_cosine_ops`` for cosine), plus one row of
``vector_index_meta`` (model, dimension, metric, generation, content hash). Writes are durable when
their call returns; :meth:`PgVectorIndex.save` only records the generation. ``exact=True`` (given
when the index is created) builds no graph and searches every row, as the exact backend does.

Scores mean what they mean for every backend: ``1 - distance`` for Euclidean (pgvector's ``<->``),
cosine similarity ``1 - cosine distance`` for cosine (``<=>``).

Not done yet (see the branch's report): the table holds plaintext vectors (the gallery's other
copies are sealed); erasure through the gallery (a foreign key to ``faces.id`` with ON DELETE
CASCADE would take the vector out in the same transaction); and a removed vector's bytes stay in
the table's pages until VACUUM rewrites them.
"""

from __future__ import annotations

import re

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
ADD_BATCH = 5000
EF_SEARCH = 200  # candidates the HNSW scan keeps (pgvector's default, 40, misses neighbours at k=10)


def _literal(row: np.ndarray) -> str:
    """pgvector's text form of one float32 row (repr of each float32 round-trips exactly)."""
    return "[" + ",".join(repr(float(x)) for x in row) + "]"


class PgVectorIndex:
    """The vectors of one model in table ``name`` of the database behind ``engine``."""

    backend = "pgvector"

    def __init__(
        self, engine: Engine, name: str, model_id: str, dimension: int, metric: Metric, *, exact: bool = False
    ) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"index table name {name!r}: lower-case letters, digits and _ only")
        self.engine = engine
        self.name = name
        self.model_id = model_id
        self.dimension = dimension
        self.metric = metric
        self.exact = exact
        self.generation = -1
        self.state_hash = ""

    # --- creating and opening ----------------------------------------------------------

    @classmethod
    def create(
        cls, engine: Engine, name: str, model_id: str, dimension: int, metric: Metric, *, exact: bool = False
    ) -> PgVectorIndex:
        """A new, empty index (an old one of the same name is dropped)."""
        index = cls(engine, name, model_id, dimension, metric, exact=exact)
        ops, _ = _OPS[metric]
        with engine.begin() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            connection.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {META} (name text PRIMARY KEY, model_id text NOT NULL,"
                    " dimension integer NOT NULL, metric text NOT NULL, generation bigint NOT NULL,"
                    " state_hash text NOT NULL)"
                )
            )
            connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
            connection.execute(text(f"DELETE FROM {META} WHERE name = :name"), {"name": name})
            connection.execute(
                text(f"CREATE TABLE {name} (id bigint PRIMARY KEY, embedding vector({int(dimension)}) NOT NULL)")
            )
            if not exact:  # an exact index scans every row: the graph would only slow its writes
                connection.execute(text(f"CREATE INDEX {name}_hnsw ON {name} USING hnsw (embedding {ops})"))
            connection.execute(
                text(f"INSERT INTO {META} VALUES (:name, :model, :dim, :metric, -1, '')"),
                {"name": name, "model": model_id, "dim": dimension, "metric": metric.value},
            )
        return index

    @classmethod
    def load(
        cls, engine: Engine, name: str, model_id: str, dimension: int, metric: Metric, *, exact: bool = False
    ) -> PgVectorIndex:
        """The index saved under ``name``; ModelMismatchError if it holds another model's vectors."""
        with engine.connect() as connection:
            row = connection.execute(
                text(f"SELECT model_id, dimension, metric, generation, state_hash FROM {META} WHERE name = :name"),
                {"name": name},
            ).one_or_none()
        if row is None:
            raise IndexCorruptError(f"no pgvector index {name!r} in this database")
        if (row.model_id, row.dimension, row.metric) != (model_id, dimension, metric.value):
            raise ModelMismatchError(
                f"pgvector index {name!r} holds {row.model_id} ({row.dimension}, {row.metric}), "
                f"not {model_id} ({dimension}, {metric.value})"
            )
        index = cls(engine, name, model_id, dimension, metric, exact=exact)
        index.generation, index.state_hash = int(row.generation), str(row.state_hash)
        return index

    # --- the VectorIndex protocol ------------------------------------------------------

    @property
    def info(self) -> IndexInfo:
        return IndexInfo(self.backend, self.model_id, self.dimension, self.metric, len(self), self.generation)

    def __len__(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {self.name}")).scalar_one())

    def ids(self) -> IdArray:
        with self.engine.connect() as connection:
            found = connection.execute(text(f"SELECT id FROM {self.name}")).scalars().all()
        return np.array(found, dtype=np.int64)

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        ids = as_ids(ids)
        matrix = as_matrix(vectors, self.dimension)
        if ids.shape[0] != matrix.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {matrix.shape[0]} vectors")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("an id is already in the index")
        with self.engine.begin() as connection:
            self.add_in(connection, ids, matrix)

    def add_in(self, connection: Connection, ids: IdArray, matrix: Matrix) -> None:
        """:meth:`add` inside the caller's transaction (the gallery's, when it shares the database)."""
        held = connection.execute(
            text(f"SELECT count(*) FROM {self.name} WHERE id = ANY(:ids)"), {"ids": ids.tolist()}
        ).scalar_one()
        if held:
            raise ValueError("an id is already in the index")
        for start in range(0, len(ids), ADD_BATCH):  # one statement per batch, not one per row
            connection.execute(
                text(
                    f"INSERT INTO {self.name} (id, embedding) SELECT i, CAST(v AS vector)"
                    " FROM unnest(CAST(:ids AS bigint[]), CAST(:vs AS text[])) AS u(i, v)"
                ),
                {
                    "ids": ids[start : start + ADD_BATCH].tolist(),
                    "vs": [_literal(row) for row in matrix[start : start + ADD_BATCH]],
                },
            )

    def remove(self, ids: IdArray) -> int:
        with self.engine.begin() as connection:
            return self.remove_in(connection, as_ids(ids))

    def remove_in(self, connection: Connection, ids: IdArray) -> int:
        """:meth:`remove` inside the caller's transaction: erased with the gallery's rows or not at all."""
        removed = connection.execute(text(f"DELETE FROM {self.name} WHERE id = ANY(:ids)"), {"ids": ids.tolist()})
        return int(removed.rowcount)

    def search(self, queries: Matrix, k: int) -> Hits:
        queries = as_matrix(queries, self.dimension)
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        hits = empty_hits(queries.shape[0], k)
        _, operator = _OPS[self.metric]
        query = text(
            f"SELECT id, embedding {operator} CAST(:q AS vector) AS d FROM {self.name} ORDER BY d, id LIMIT :k"
        )
        with self.engine.begin() as connection:
            if self.exact:  # every row compared: no approximate index scan
                connection.execute(text("SET LOCAL enable_indexscan = off"))
            else:
                connection.execute(text(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, int(k))}"))
            for n, row in enumerate(queries):
                found = connection.execute(query, {"q": _literal(row), "k": int(k)}).all()
                for j, (face_id, distance) in enumerate(found):
                    hits.ids[n, j] = int(face_id)
                    hits.scores[n, j] = 1.0 - float(distance)
        return hits

    def save(self, generation: int) -> None:
        """Record the gallery generation (and content hash) this index reflects; the rows are
        already durable."""
        self.generation = generation
        with self.engine.begin() as connection:
            connection.execute(
                text(f"UPDATE {META} SET generation = :g, state_hash = :h WHERE name = :name"),
                {"g": generation, "h": self.state_hash, "name": self.name},
            )

    def drop(self) -> None:
        """Remove the index's table and its record."""
        with self.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {self.name}"))
            connection.execute(text(f"DELETE FROM {META} WHERE name = :name"), {"name": self.name})
