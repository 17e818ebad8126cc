"""The VectorIndex interface every vector backend implements (exact now; FAISS, pgvector later).

An index maps integer face ids to vectors of one model. ``search`` returns, per query, up to k
ids with their scores, best first; scores always mean *higher is more alike* (see
:class:`facesearch.types.Metric`). The index records the gallery generation it reflects, so a
stale or foreign index is detected at open and rebuilt from the gallery, never silently used.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np
import numpy.typing as npt

from facesearch.types import Metric

IdArray = npt.NDArray[np.int64]
ScoreArray = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]


@dataclasses.dataclass(frozen=True)
class IndexInfo:
    """What an index holds and what it was built from."""

    backend: str
    model_id: str
    dimension: int
    metric: Metric
    size: int
    generation: int


@dataclasses.dataclass(frozen=True)
class Hits:
    """Search results, shape (queries, k): ``ids[i, j]`` is query i's j-th best face id and
    ``scores[i, j]`` its score; id -1 and score -inf where the index holds fewer than k."""

    ids: IdArray
    scores: ScoreArray


class VectorIndex(Protocol):
    generation: int  # the gallery generation the index reflects (-1: none yet)
    state_hash: str  # and the gallery's content hash then (see facesearch.gallery.digest)

    @property
    def info(self) -> IndexInfo: ...

    def __len__(self) -> int: ...

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        """Add vectors under new ids; an id already present is an error."""

    def remove(self, ids: IdArray) -> int:
        """Remove these ids physically; returns how many were present."""

    def search(self, queries: Matrix, k: int) -> Hits:
        """The k best ids per query row, best first."""

    def ids(self) -> IdArray:
        """Every id held, in no particular order."""

    def save(self, generation: int) -> None:
        """Persist atomically, recording the gallery generation this index now reflects."""


def as_matrix(vectors: npt.ArrayLike, dimension: int) -> Matrix:
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != dimension:
        raise ValueError(f"expected vectors of dimension {dimension}, got shape {matrix.shape}")
    return matrix


def empty_hits(n_queries: int, k: int) -> Hits:
    """Hits with every slot empty: id -1, score -inf."""
    return Hits(np.full((n_queries, k), -1, dtype=np.int64), np.full((n_queries, k), -np.inf, dtype=np.float32))


def as_ids(ids: npt.ArrayLike) -> IdArray:
    return np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)


def unit_rows(matrix: Matrix) -> Matrix:
    """Each row scaled to length 1 (how cosine indexes store and query vectors), float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: Matrix = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit
