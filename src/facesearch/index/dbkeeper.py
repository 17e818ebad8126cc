"""Keeps a gallery's pgvector index (see :mod:`facesearch.index.pgvector`) in its own database.

The vectors live in table :data:`TABLE` beside the gallery's tables, and every change to them
happens in the gallery's transaction: enrollment inserts a face's vector with its row, erasure and
purge delete it with its row (explicitly, to count what they removed, and by the table's foreign
key to ``faces.id`` with ON DELETE CASCADE, so no other path that deletes faces can leave a vector
behind), and each transaction records the gallery generation and content hash the table then
reflects. A rollback takes back both; there is no add log and no file.

The index is opened from its record in ``vector_index_meta``: at the gallery's generation and
content hash, with the graph the settings ask for (HNSW options, or none when exact), it is used;
anything else (no table, another model, a stale record, changed options) rebuilds it from the
gallery's sealed embeddings, in the same transaction. Index files left in the home folder by a
file backend are deleted, as :class:`~facesearch.index.keeper.IndexKeeper` does.

After an erasure or purge the table is VACUUMed (outside the transaction), so the erased rows'
tuples are pruned from the table and their entries from the HNSW graph now, not at autovacuum's
convenience (their bytes stay in the pages' free space until reused: docs/scale-out.md, Erasure).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from facesearch.errors import IndexCorruptError, ModelMismatchError
from facesearch.gallery import GalleryStore
from facesearch.index.base import IdArray, Matrix, VectorIndex
from facesearch.index.pgvector import EF_CONSTRUCTION, EF_SEARCH, META, M, PgVectorIndex
from facesearch.pipeline.models import EmbedderSpec

TABLE = "face_vectors"
REFERENCES = "faces"

log = logging.getLogger("facesearch")


class PgVectorKeeper:
    """Owns one gallery's pgvector index: the same calls as IndexKeeper, plus the ``stage_*`` steps
    that write the vectors in the gallery's transaction. The index it hands out reads through the
    transaction it was synced in (see :meth:`PgVectorIndex.bind`)."""

    in_database = True

    def __init__(
        self,
        folder: Path,
        spec: EmbedderSpec,
        store: GalleryStore,
        *,
        exact: bool = False,
        m: int = M,
        ef_construction: int = EF_CONSTRUCTION,
        ef_search: int = EF_SEARCH,
    ) -> None:
        self.folder = folder
        self.spec = spec
        self.store = store
        self.options: dict[str, Any] = {
            "exact": exact,
            "m": m,
            "ef_construction": ef_construction,
            "ef_search": ef_search,
        }
        self._index: PgVectorIndex | None = None
        self._removed = 0

    def _new(self) -> PgVectorIndex:
        spec = self.spec
        return PgVectorIndex(self.store.engine, TABLE, spec.model_id, spec.dimension, spec.metric, **self.options)

    def forget(self) -> None:
        self._index = None

    def synced(self, session: Session, store: GalleryStore) -> VectorIndex:
        """The index at the gallery's current generation and content hash (rebuilt if not)."""
        state = store.state(session)
        require_model(state.model_id, self.spec)
        now = (state.generation, state.content_hash)
        if self._index is not None and (self._index.generation, self._index.state_hash) == now:
            self._index.bind(session.connection())
            return self._index
        if self._index is None:
            self._sweep()
        index = self._new()
        connection = session.connection()
        try:
            index.load_in(connection)
            if (index.generation, index.state_hash) == now and index.graph_matches_in(connection):
                index.bind(connection)
                self._index = index
                return index
            log.warning(
                "pgvector index %s reflects generation %d (content %s) with graph %s, the gallery is at %d "
                "(content %s) and wants %s: rebuilding",
                TABLE,
                index.generation,
                index.state_hash[:12],
                index.graph_in(connection),
                now[0],
                now[1][:12],
                "none" if index.exact else f"m={index.m}, ef_construction={index.ef_construction}",
            )
        except IndexCorruptError as exc:  # none yet (a new gallery, or one that used a file index)
            log.info("%s: building it from the gallery", exc.message)
        except ModelMismatchError as exc:
            log.warning("%s: rebuilding the index from the gallery", exc.message)
        return self.rebuild(session, store)

    def rebuild(self, session: Session, store: GalleryStore) -> VectorIndex:
        """Refill the table from the gallery's stored embeddings (unsealed here, COPYed in), then
        build the graph over them, all in the caller's transaction."""
        self._sweep()
        state = store.state(session)
        index = self._new()
        connection = session.connection()
        index.create_in(connection, references=REFERENCES, graph=False)
        for ids, vectors in store.embeddings(session, self.spec.model_id):
            index.copy_in(connection, ids, vectors)
        index.build_graph_in(connection)
        index.stamp_in(connection, state.generation, state.content_hash)
        index.generation, index.state_hash = state.generation, state.content_hash
        index.bind(connection)
        self._index = index
        return index

    # --- inside the gallery's transaction ------------------------------------------------

    def present(self, session: Session, index: VectorIndex, ids: IdArray) -> int:
        """How many of ``ids`` the index holds."""
        assert isinstance(index, PgVectorIndex)
        return index.held_in(session.connection(), ids)

    def stage_add(self, session: Session, index: VectorIndex, ids: IdArray, vectors: Matrix) -> None:
        assert isinstance(index, PgVectorIndex)
        index.add_in(session.connection(), ids, vectors)

    def stage_remove(self, session: Session, index: VectorIndex, ids: IdArray) -> None:
        """Delete the vectors (before the faces: the cascade would leave nothing to count)."""
        assert isinstance(index, PgVectorIndex)
        self._removed = index.remove_in(session.connection(), np.asarray(ids, np.int64))

    def stage_stamp(self, session: Session, index: VectorIndex, generation: int, state_hash: str) -> None:
        assert isinstance(index, PgVectorIndex)
        index.stamp_in(session.connection(), generation, state_hash)

    # --- once the gallery's transaction has committed --------------------------------------

    def added(self, index: VectorIndex, ids: IdArray, vectors: Matrix, generation: int, state_hash: str) -> None:
        """The vectors are in already (stage_add): only the in-memory record moves on."""
        assert isinstance(index, PgVectorIndex)
        index.generation, index.state_hash = generation, state_hash
        self._index = index

    def removed(self, index: VectorIndex, ids: IdArray, generation: int, state_hash: str) -> int:
        """The rows are deleted already (stage_remove): only the in-memory record moves on. Returns
        how many vectors the transaction deleted."""
        assert isinstance(index, PgVectorIndex)
        index.generation, index.state_hash = generation, state_hash
        self._index = index
        return self._removed

    def settle(self) -> None:
        """After an erasure or purge, outside the engine's locks (it reads the whole graph: seconds
        at a million faces, minutes after many deletions, and nothing else need wait for it):
        VACUUM prunes the deleted rows' tuples and graph entries now."""
        index = self._index or self._new()
        try:
            index.vacuum()
        except SQLAlchemyError as exc:  # the erasure has committed; autovacuum will get there
            log.warning("VACUUM %s after an erasure failed (%s); autovacuum will prune the rows later", TABLE, exc)

    def _sweep(self) -> None:
        delete_file_indexes(self.folder)


def delete_file_indexes(folder: Path) -> None:
    """Delete index files a file backend left in FOLDER, the home's index folder (they hold sealed
    vectors), once a backend that keeps no files there (pgvector, Milvus) holds the gallery's vectors."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file():
            log.info("deleting %s: no current index uses it", path)
            path.unlink()


def require_model(model_id: str, spec: EmbedderSpec) -> None:
    """Go on if the gallery's templates (of ``model_id``) are of the model a keeper indexes; else
    ModelMismatchError: the gallery was moved to another model since this engine opened it."""
    if model_id != spec.model_id:
        raise ModelMismatchError(
            f"the gallery's templates are of model {model_id} now (it was moved to it since it was opened), "
            f"not of {spec.model_id}: open the gallery again"
        )


def drop_in(session: Session) -> None:
    """Drop a gallery's pgvector table and its record, if it has one (a file backend is in use
    now: the table's plaintext vectors must not outlive their use)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    if connection.exec_driver_sql(f"SELECT to_regclass('{TABLE}')").scalar_one() is not None:
        log.info("dropping table %s: the gallery's index is no longer pgvector", TABLE)
        connection.exec_driver_sql(f"DROP TABLE {TABLE}")
        connection.exec_driver_sql(f"DELETE FROM {META} WHERE name = '{TABLE}'")
