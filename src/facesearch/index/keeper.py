"""Keeps the vector index in step with the gallery: in memory, else from disk, else rebuilt.

The index file records the gallery generation it reflects, and the add log (see
:mod:`facesearch.index.addlog`) carries it forward batch by batch; any mismatch, corruption or
foreign model is detected at open and the index is rebuilt from the gallery's stored embeddings,
never silently used. Files in the index folder that belong to no current index (another
backend's, an older format's, a crashed save's) are deleted, so an erased face's vector cannot
survive in a file nobody reads.

Given the gallery's cipher (``cipher``, from the store that holds the unwrapped data key), the
index file and every add-log record are sealed (see :mod:`facesearch.index.files`); a plaintext
file left from before sealing is then unreadable, so the index is rebuilt sealed and the plaintext
file replaced.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from sqlalchemy.orm import Session

from facesearch.errors import IndexCorruptError, ModelMismatchError
from facesearch.gallery import GalleryStore
from facesearch.index import dbkeeper
from facesearch.index.addlog import AddLog
from facesearch.index.base import IdArray, Matrix, VectorIndex
from facesearch.index.exact import ExactIndex
from facesearch.index.hnsw import HnswIndex
from facesearch.index.ivf import IvfIndex
from facesearch.index.milvuskeeper import MilvusKeeper
from facesearch.pipeline.models import EmbedderSpec
from facesearch.storage.crypto import DataCipher

BACKENDS: dict[str, type[ExactIndex] | type[HnswIndex] | type[IvfIndex]] = {
    "exact": ExactIndex,
    "hnsw": HnswIndex,
    "ivf": IvfIndex,
}
LOG_SHARE = 0.25  # save the index whole once the add log holds this share of its rows
LOG_MIN_ROWS = 50_000  # ...and at least this many

log = logging.getLogger("facesearch")


class IndexKeeper:
    """Owns one gallery's index file (``<folder>/<backend>.idx``), its add log and in-memory copy.
    ``options`` go to the backend (for example ``storage="float16"``); ``cipher`` seals its files.

    The ``stage_*`` steps, which a database index takes in the gallery's transaction (see
    :class:`~facesearch.index.dbkeeper.PgVectorKeeper`), do nothing here: a file index changes
    after the gallery's transaction commits (:meth:`added`, :meth:`removed`)."""

    in_database = False

    def __init__(
        self,
        folder: Path,
        spec: EmbedderSpec,
        backend: str = "exact",
        *,
        cipher: DataCipher | None = None,
        **options: Any,
    ) -> None:
        self.kind = BACKENDS[backend]
        self.folder = folder
        self.path = folder / f"{backend}.idx"
        self.cipher = cipher
        self.log = AddLog(folder / f"{backend}.log", spec.dimension, cipher)
        self.spec = spec
        self.options = options
        self._index: VectorIndex | None = None
        self._saved_at = -1  # the generation of the index file the log extends

    def forget(self) -> None:
        """Drop the in-memory copy (after a failed change); the next use re-syncs."""
        self._index = None

    def synced(self, session: Session, store: GalleryStore) -> VectorIndex:
        """The index at the gallery's current generation and content hash."""
        state = store.state(session)
        dbkeeper.require_model(state.model_id, self.spec)
        now = (state.generation, state.content_hash)
        if self._index is not None and (self._index.generation, self._index.state_hash) == now:
            return self._index
        self._sweep()
        spec = self.spec
        try:
            loaded = self.kind.load(self.path, spec.model_id, spec.dimension, spec.metric, cipher=self.cipher)
            self._saved_at = loaded.generation
            for logged_at, logged_hash, ids, vectors in self.log.replay(loaded.generation):
                loaded.add(ids, vectors)
                loaded.generation, loaded.state_hash = logged_at, logged_hash
            if (loaded.generation, loaded.state_hash) == now:
                self._index = loaded
                return loaded
            log.warning(
                "index %s reflects generation %d (content %s), the gallery is at %d (content %s): rebuilding",
                self.path,
                loaded.generation,
                loaded.state_hash[:12],
                now[0],
                now[1][:12],
            )
        except FileNotFoundError:
            pass
        except (IndexCorruptError, ModelMismatchError) as exc:
            log.warning("%s: rebuilding the index from the gallery", exc.message)
        return self.rebuild(session, store)

    def rebuild(self, session: Session, store: GalleryStore) -> VectorIndex:
        """Build the index afresh from the gallery's stored embeddings and save it (and drop a
        pgvector table left from when the gallery used that backend)."""
        self._sweep()
        dbkeeper.drop_in(session)
        spec = self.spec
        state = store.state(session)
        index = self.kind(spec.model_id, spec.dimension, spec.metric, self.path, cipher=self.cipher, **self.options)
        for ids, vectors in store.embeddings(session, spec.model_id):
            index.add(ids, vectors)
        self.save(index, state.generation, state.content_hash)
        return index

    def present(self, session: Session, index: VectorIndex, ids: IdArray) -> int:
        """How many of ``ids`` the index holds."""
        return int(np.isin(ids, index.ids()).sum())

    def stage_add(self, session: Session, index: VectorIndex, ids: IdArray, vectors: Matrix) -> None:
        """Nothing: see the class documentation."""

    def stage_remove(self, session: Session, index: VectorIndex, ids: IdArray) -> None:
        """Nothing: see the class documentation."""

    def stage_stamp(self, session: Session, index: VectorIndex, generation: int, state_hash: str) -> None:
        """Nothing: see the class documentation."""

    def added(self, index: VectorIndex, ids: IdArray, vectors: Matrix, generation: int, state_hash: str) -> None:
        """Add faces the gallery just committed (reaching ``generation`` and ``state_hash``):
        appended to the log, or the whole index saved when the log has grown large."""
        index.add(ids, vectors)
        logged = self.log.rows()
        if self._saved_at < 0 or logged + len(ids) > max(LOG_MIN_ROWS, LOG_SHARE * len(index)):
            self.save(index, generation, state_hash)
            return
        if logged == 0:
            self.log.start(self._saved_at)
        self.log.append(generation, state_hash, ids, vectors)
        index.generation, index.state_hash = generation, state_hash

    def removed(self, index: VectorIndex, ids: IdArray, generation: int, state_hash: str) -> int:
        """Remove faces physically: from memory, then by saving the index whole and deleting the log."""
        count = index.remove(np.asarray(ids, np.int64))
        self.save(index, generation, state_hash)
        return count

    def settle(self) -> None:
        """Nothing: :meth:`removed` rewrote the index file already."""

    def save(self, index: VectorIndex, generation: int, state_hash: str) -> None:
        index.state_hash = state_hash
        index.save(generation)
        self.log.discard()
        self._saved_at = generation
        self._index = index

    def _sweep(self) -> None:
        """Delete files in the index folder that are not this index's file or log."""
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.is_file() and path not in (self.path, self.log.path):
                log.info("deleting %s: no current index uses it", path)
                path.unlink()


Keeper: TypeAlias = IndexKeeper | dbkeeper.PgVectorKeeper | MilvusKeeper


def keeper_for(folder: Path, spec: EmbedderSpec, backend: str, store: GalleryStore, **options: Any) -> Keeper:
    """The keeper of ``backend``'s index for the gallery in ``store`` (index files in ``folder``)."""
    if backend == "pgvector":
        return dbkeeper.PgVectorKeeper(folder, spec, store, **options)
    if backend == "milvus":
        return MilvusKeeper(folder, spec, store, **options)
    return IndexKeeper(folder, spec, backend, cipher=store.cipher, **options)
