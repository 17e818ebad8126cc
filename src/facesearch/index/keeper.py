"""Keeps the vector index in step with the gallery: in memory, else from disk, else rebuilt.

The index file records the gallery generation it reflects; any mismatch, corruption or foreign
model is detected at open and the index is rebuilt from the gallery's stored embeddings, never
silently used.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session

from facesearch.errors import IndexCorruptError, ModelMismatchError
from facesearch.gallery import GalleryStore
from facesearch.index.base import VectorIndex
from facesearch.index.exact import ExactIndex
from facesearch.index.hnsw import HnswIndex
from facesearch.models import EmbedderSpec

BACKENDS: dict[str, type[ExactIndex] | type[HnswIndex]] = {"exact": ExactIndex, "hnsw": HnswIndex}

log = logging.getLogger("facesearch")


class IndexKeeper:
    """Owns one gallery's index file (``<folder>/<backend>.npz``) and its in-memory copy."""

    def __init__(self, folder: Path, spec: EmbedderSpec, backend: str = "exact") -> None:
        self.kind = BACKENDS[backend]
        self.path = folder / f"{backend}.npz"
        self.spec = spec
        self._index: VectorIndex | None = None

    def forget(self) -> None:
        """Drop the in-memory copy (after a failed change); the next use re-syncs."""
        self._index = None

    def synced(self, session: Session, store: GalleryStore) -> VectorIndex:
        """The index at the gallery's current generation."""
        generation = store.state(session).generation
        if self._index is not None and self._index.info.generation == generation:
            return self._index
        spec = self.spec
        try:
            loaded = self.kind.load(self.path, spec.model_id, spec.dimension, spec.metric)
            if loaded.generation == generation:
                self._index = loaded
                return loaded
            log.warning(
                "index %s is at generation %d, gallery at %d: rebuilding", self.path, loaded.generation, generation
            )
        except FileNotFoundError:
            pass
        except (IndexCorruptError, ModelMismatchError) as exc:
            log.warning("%s: rebuilding the index from the gallery", exc.message)
        return self.rebuild(session, store)

    def rebuild(self, session: Session, store: GalleryStore) -> VectorIndex:
        """Build the index afresh from the gallery's stored embeddings and save it."""
        spec = self.spec
        generation = store.state(session).generation
        index = self.kind(spec.model_id, spec.dimension, spec.metric, self.path)
        for ids, vectors in store.embeddings(session, spec.model_id):
            index.add(ids, vectors)
        index.save(generation)
        self._index = index
        return index
