"""Keeps a gallery's Milvus index (see :mod:`facesearch.index.milvus`) in step through an outbox.

The gallery (SQLite or PostgreSQL) and Milvus share no transaction. So a vector is never written to
Milvus in the gallery's transaction: enrollment, erasure and purge write *outbox* rows instead
(table ``vector_outbox``: the face id, add or remove, and the gallery generation and content hash
the transaction reaches), in the same transaction as the faces, and the rows are applied to Milvus
after it commits, by whichever process next holds the gallery's lock:

1. ``stage_add`` / ``stage_remove`` / ``stage_stamp``, in the gallery's transaction: outbox rows.
   A crash before the commit leaves neither faces nor outbox rows.
2. ``added`` / ``removed``, just after the commit, and ``synced``, at the start of every gallery
   transaction that uses the index (searches included): the pending rows, in order, are applied
   with ``upsert`` (an add: the face's vector read from ``faces`` then; a face erased since is
   skipped, its removal follows) and ``delete``, both idempotent; then Milvus's state row is
   stamped with the generation, content hash and last row applied; then the rows are deleted from
   the outbox, in a gallery transaction. A crash anywhere in between leaves rows that are applied
   again, to the same result: nothing is lost and no row is doubled.
3. Applying happens only under the gallery's lock (inside a gallery transaction), so two
   processes never interleave, and a search, which drains the outbox first in its own locked
   transaction, never sees Milvus behind the gallery: an erased face is gone from Milvus before any
   later search runs. Searches also keep only faces the gallery holds (the ranking looks each up).

When Milvus's state row disagrees with the gallery once the outbox is applied (a new collection,
another model, options changed, a collection dropped or restored from a backup by hand), the index
is rebuilt from the gallery's sealed embeddings. After an erasure or purge the collection is
flushed and compacted (:meth:`MilvusKeeper.settle`), so the erased rows leave its segment files
(docs/scale-out.md, Milvus: erasure).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from facesearch.errors import GalleryError, IndexCorruptError, ModelMismatchError
from facesearch.gallery import GalleryStore
from facesearch.gallery.schema import VectorOutboxRow
from facesearch.index import dbkeeper
from facesearch.index.base import IdArray, Matrix, VectorIndex
from facesearch.index.milvus import EF_CONSTRUCTION, EF_SEARCH, M, MilvusIndex, connect, drop_collections
from facesearch.pipeline.models import EmbedderSpec

TOKEN_ENV = "FACESEARCH_MILVUS_TOKEN"
ADD, REMOVE, DROP = "add", "remove", "drop"  # DROP: the collections go (the gallery or its model does)

log = logging.getLogger("facesearch")


class MilvusKeeper:
    """Owns one gallery's Milvus index: the same calls as IndexKeeper (see the module documentation
    for what each does here)."""

    in_database = False  # a model move rebuilds it after its transaction commits, as a file index

    def __init__(
        self,
        folder: Path,
        spec: EmbedderSpec,
        store: GalleryStore,
        *,
        uri: str,
        database: str = "default",
        collection: str = "",
        shards: int = 1,
        replicas: int = 1,
        m: int = M,
        ef_construction: int = EF_CONSTRUCTION,
        ef_search: int = EF_SEARCH,
        consistency: str = "strong",
    ) -> None:
        self.folder = folder
        self.spec = spec
        self.store = store
        self.uri, self.database, self.collection = uri, database, collection
        self.options: dict[str, Any] = {
            "m": m,
            "ef_construction": ef_construction,
            "ef_search": ef_search,
            "shards": shards,
            "replicas": replicas,
            "consistency": consistency,
        }
        self._index: MilvusIndex | None = None
        self._removed = 0

    def _new(self, session: Session) -> MilvusIndex:
        alias = connect(self.uri, os.environ.get(TOKEN_ENV, ""), self.database)
        name = collection_name(self.collection, self.store.state(session).gallery_id)
        spec = self.spec
        return MilvusIndex(alias, name, spec.model_id, spec.dimension, spec.metric, **self.options)

    def forget(self) -> None:
        self._index = None

    # --- in step with the gallery ---------------------------------------------------------

    def synced(self, session: Session, store: GalleryStore) -> VectorIndex:
        """The index at the gallery's current generation and content hash: the outbox applied
        first, and the index rebuilt if it still disagrees."""
        state = store.state(session)
        dbkeeper.require_model(state.model_id, self.spec)
        now = (state.generation, state.content_hash)
        index = self._index
        if index is not None:  # in step when last used: only the outbox, if anything, to apply
            self.drain(session, index)
            if not index.dropped and (index.generation, index.state_hash) == now:
                return index
        else:
            self._sweep()
        index = self._new(session)  # read what Milvus holds now (another process may have moved it on)
        try:
            index.open()
        except (IndexCorruptError, ModelMismatchError) as exc:
            log.warning("%s: building the Milvus index from the gallery", exc.message)
            return self.rebuild(session, store)
        self.drain(session, index)
        if (index.generation, index.state_hash) == now and index.graph_matches():
            self._index = index
            return index
        log.warning(
            "Milvus collection %s reflects generation %d (content %s), the gallery is at %d (content %s), "
            "or its graph is not the one the settings ask for: rebuilding",
            index.name,
            index.generation,
            index.state_hash[:12],
            now[0],
            now[1][:12],
        )
        return self.rebuild(session, store)

    def drain(self, session: Session, index: MilvusIndex) -> int:
        """Apply the outbox's pending rows to Milvus, in order, then stamp Milvus and delete the rows
        (in the caller's transaction, which holds the gallery's lock). Returns how many were applied."""
        rows = session.execute(
            select(VectorOutboxRow.seq, VectorOutboxRow.face_id, VectorOutboxRow.op, VectorOutboxRow.generation)
            .where(VectorOutboxRow.seq > index.applied_seq, VectorOutboxRow.generation.is_not(None))
            .order_by(VectorOutboxRow.seq)
        ).all()
        drops = [row.seq for row in rows if row.op == DROP]
        if drops:  # the collections go: what came before is moot, what came after is in the rebuild
            index.drop()
            session.execute(delete(VectorOutboxRow).where(VectorOutboxRow.seq <= drops[-1]))
            return len(rows)
        if rows:
            last = session.get(VectorOutboxRow, rows[-1].seq)
            assert last is not None and last.generation is not None and last.state_hash is not None
            for op, generation, ids in _runs(rows):
                if op == ADD:
                    vectors = self.store.face_vectors(session, ids.tolist())
                    held = np.array([i for i in ids if int(i) in vectors], dtype=np.int64)
                    if len(held):
                        index.upsert(held, np.stack([vectors[int(i)] for i in held]), generation)
                else:
                    index.delete(ids)
            index.stamp(last.generation, last.state_hash, int(rows[-1].seq))
        session.execute(delete(VectorOutboxRow).where(VectorOutboxRow.seq <= index.applied_seq))
        return len(rows)

    def rebuild(self, session: Session, store: GalleryStore) -> VectorIndex:
        """Make the collection again from the gallery's stored embeddings (unsealed here), stamped
        with the gallery's state, and empty the outbox (everything in it is in the new collection)."""
        self._sweep()
        state = store.state(session)
        index = self._new(session)
        index.recreate()
        for ids, vectors in store.embeddings(session, self.spec.model_id):
            index.upsert(ids, vectors, state.generation)
        last = session.scalar(select(func.max(VectorOutboxRow.seq))) or 0
        session.execute(delete(VectorOutboxRow))
        index.stamp(state.generation, state.content_hash, int(last))
        self._index = index
        return index

    # --- inside the gallery's transaction: the outbox -----------------------------------------

    def present(self, session: Session, index: VectorIndex, ids: IdArray) -> int:
        """How many of ``ids`` the index holds (the outbox is applied: see :meth:`synced`)."""
        assert isinstance(index, MilvusIndex)
        return len(index.held(ids))

    def stage_add(self, session: Session, index: VectorIndex, ids: IdArray, vectors: Matrix) -> None:
        """Outbox rows: add these faces (their vectors are read from ``faces`` when applied)."""
        session.add_all([VectorOutboxRow(face_id=int(i), op=ADD) for i in ids])
        session.flush()

    def stage_remove(self, session: Session, index: VectorIndex, ids: IdArray) -> None:
        """Outbox rows: remove these faces (counting those the index holds now)."""
        assert isinstance(index, MilvusIndex)
        self._removed = len(index.held(ids))
        session.add_all([VectorOutboxRow(face_id=int(i), op=REMOVE) for i in ids])
        session.flush()

    def stage_drop(self, session: Session) -> None:
        """Outbox row: drop this gallery's collections (a model move: the new model's collection is
        built afresh after the commit, and the old one must not outlive it). Applied by the rebuild
        that follows, or by whichever transaction next drains the outbox; dropping is idempotent."""
        stage_drop(session)

    def stage_stamp(self, session: Session, index: VectorIndex, generation: int, state_hash: str) -> None:
        """Stamp this transaction's outbox rows with the generation and content hash it reaches."""
        session.execute(
            update(VectorOutboxRow)
            .where(VectorOutboxRow.generation.is_(None))
            .values(generation=generation, state_hash=state_hash)
        )

    # --- once the gallery's transaction has committed --------------------------------------

    def added(self, index: VectorIndex, ids: IdArray, vectors: Matrix, generation: int, state_hash: str) -> None:
        self._apply(index)

    def removed(self, index: VectorIndex, ids: IdArray, generation: int, state_hash: str) -> int:
        """Apply the removal now; returns how many of the faces the index held."""
        self._apply(index)
        return self._removed

    def _apply(self, index: VectorIndex) -> None:
        """Apply the outbox in a gallery transaction of its own. If Milvus fails now, the rows stay
        in the outbox and the next transaction that uses the index applies them first."""
        assert isinstance(index, MilvusIndex)
        try:
            with self.store.transaction() as session:
                self.drain(session, index)
            self._index = None if index.dropped else index
        except Exception as exc:
            if not _from_milvus(exc):
                raise
            log.warning("applying the vector outbox to Milvus failed (%s); it is applied before the next use", exc)
            self._index = None

    def settle(self) -> None:
        """After an erasure or purge, outside the engine's locks: flush and compact, so that the
        erased rows leave the collection's segment files (see docs/scale-out.md, Milvus: erasure)."""
        if self._index is None or self._index.dropped:
            return
        try:
            self._index.compact()
        except Exception as exc:  # the erasure has committed, and no search reaches the rows
            if not _from_milvus(exc):
                raise
            log.warning("compacting Milvus collection %s after an erasure failed: %s", self._index.name, exc)

    def _sweep(self) -> None:
        dbkeeper.delete_file_indexes(self.folder)


def collection_name(collection: str, gallery_id: str | None) -> str:
    """The collection of the gallery ``gallery_id``: the ``milvus_collection`` setting, else one of
    its own (its state collection is this name and ``_state``)."""
    return collection or f"facesearch_{gallery_id or 'gallery'}"


def stage_drop(session: Session) -> None:
    """Outbox row: the gallery's collections are to be dropped (in the caller's transaction)."""
    session.add(VectorOutboxRow(face_id=0, op=DROP, generation=-1, state_hash=""))
    session.flush()


def drop_for_deletion(store: GalleryStore, *, uri: str, database: str = "default", collection: str = "") -> list[str]:
    """Deleting the gallery in ``store``: drop its Milvus collections before anything of the gallery
    is destroyed, through the outbox. A DROP row is committed first; the collections are dropped
    (idempotent: those already gone are skipped); then the row is deleted. If Milvus cannot be
    reached, GalleryError, and the gallery stays whole with the row in its outbox, so that deleting
    it again drops them: no collection outlives its gallery unnoticed. Returns the names dropped."""
    with store.transaction() as session:
        name = collection_name(collection, store.state(session).gallery_id)
        stage_drop(session)
    try:
        dropped = drop_collections(connect(uri, os.environ.get(TOKEN_ENV, ""), database), name)
    except Exception as exc:
        if not _from_milvus(exc):
            raise
        raise GalleryError(
            f"the gallery's Milvus collection {name!r} could not be dropped ({exc}): nothing was deleted; "
            "delete the gallery again once Milvus answers"
        ) from exc
    with store.transaction() as session:
        session.execute(delete(VectorOutboxRow).where(VectorOutboxRow.op == DROP))
    return dropped


def _from_milvus(exc: BaseException) -> bool:
    """Whether ``exc`` is the Milvus client's or the network's (pymilvus raises MilvusException and
    grpc errors, neither under a common base class it exports)."""
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in ("pymilvus", "grpc")


def _runs(rows: Any) -> list[tuple[str, int, IdArray]]:
    """Consecutive outbox rows of one operation and generation, as (op, generation, ids)."""
    runs: list[tuple[str, int, list[int]]] = []
    for row in rows:
        if runs and runs[-1][0] == row.op and runs[-1][1] == row.generation:
            runs[-1][2].append(int(row.face_id))
        else:
            runs.append((str(row.op), int(row.generation), [int(row.face_id)]))
    return [(op, generation, np.array(ids, dtype=np.int64)) for op, generation, ids in runs]
