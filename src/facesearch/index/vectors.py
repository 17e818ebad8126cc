"""Rows of (face id, vector): the exact index's data and the re-ranking store of compressed indexes.

The rows saved last are memory-mapped from the index file (opening a million-face index reads
nothing until a search touches it, and processes share the pages); rows added since live in RAM.
Vectors are kept as float32, or as float16 for half the memory and disk (scores then differ by
about 1e-4). Removal is physical: the kept rows are copied out, every copy of a removed vector
held in RAM is zeroed, and the next save replaces the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.index.base import IdArray, Matrix, as_ids

STORAGE_TYPES = {"float32": np.float32, "float16": np.float16}

Rows = npt.NDArray[Any]  # float32 or float16, shape (n, dimension)


class VectorStore:
    """A memory-mapped (or empty) base plus a tail in RAM that grows by doubling."""

    def __init__(self, dimension: int, storage: str = "float32") -> None:
        if storage not in STORAGE_TYPES:
            raise ValueError(f"vector storage must be one of {', '.join(STORAGE_TYPES)}, not {storage!r}")
        self.dimension, self.storage = dimension, storage
        self.dtype = np.dtype(STORAGE_TYPES[storage])
        self._base_ids: IdArray = np.empty(0, np.int64)
        self._base: Rows = np.empty((0, dimension), self.dtype)
        self._base_sq = np.empty(0, np.float32)
        self._tail_ids: IdArray = np.empty(0, np.int64)
        self._tail: Rows = np.empty((0, dimension), self.dtype)
        self._tail_sq = np.empty(0, np.float32)
        self._nt = 0

    @classmethod
    def mapped(cls, ids: IdArray, vectors: Rows, sq: npt.NDArray[np.float32]) -> VectorStore:
        """A store whose rows are these (memory-mapped) arrays, as saved by :meth:`parts`."""
        storage = {np.dtype(v): k for k, v in STORAGE_TYPES.items()}.get(vectors.dtype)
        if storage is None or vectors.ndim != 2 or not len(ids) == len(vectors) == len(sq):
            raise ValueError("the stored arrays disagree")
        store = cls(vectors.shape[1], storage)
        store._base_ids, store._base, store._base_sq = ids, vectors, sq
        return store

    def __len__(self) -> int:
        return len(self._base_ids) + self._nt

    def ids(self) -> IdArray:
        return np.concatenate([self._base_ids, self._tail_ids[: self._nt]])

    def _segments(self) -> list[tuple[IdArray, Rows, npt.NDArray[np.float32]]]:
        nt = self._nt
        return [(self._base_ids, self._base, self._base_sq), (self._tail_ids[:nt], self._tail[:nt], self._tail_sq[:nt])]

    def parts(self) -> dict[str, list[npt.NDArray[Any]]]:
        """The arrays to save, each as its parts (see :func:`facesearch.index.files.write_flat_file`)."""
        segments = self._segments()
        return {
            "ids": [s[0] for s in segments],
            "vectors": [s[1] for s in segments],
            "sq": [s[2] for s in segments],
        }

    def append(self, ids: IdArray, matrix: Matrix) -> None:
        """Add rows (ids already checked by the caller)."""
        start, end = self._nt, self._nt + len(ids)
        if end > len(self._tail_ids):
            capacity = max(end, 2 * len(self._tail_ids), 1024)
            tail_ids, tail, tail_sq = (
                np.full(capacity, -1, np.int64),
                np.zeros((capacity, self.dimension), self.dtype),
                np.zeros(capacity, np.float32),
            )
            tail_ids[:start], tail[:start], tail_sq[:start] = (
                self._tail_ids[:start],
                self._tail[:start],
                self._tail_sq[:start],
            )
            self._wipe(self._tail)
            self._tail_ids, self._tail, self._tail_sq = tail_ids, tail, tail_sq
        stored = matrix.astype(self.dtype)
        self._tail_ids[start:end], self._tail[start:end] = ids, stored
        as_float = stored.astype(np.float32)
        self._tail_sq[start:end] = np.einsum("ij,ij->i", as_float, as_float)
        self._nt = end

    def remove(self, ids: IdArray) -> int:
        """Remove rows by id; returns how many were present. Rows keep their order."""
        ids = as_ids(ids)
        gone = [np.isin(segment[0], ids) for segment in self._segments()]
        count = int(sum(g.sum() for g in gone))
        if count == 0:
            return 0
        kept = [tuple(a[~g] for a in segment) for segment, g in zip(self._segments(), gone, strict=True)]
        self._wipe(self._base)
        self._wipe(self._tail)
        self._base_ids = np.concatenate([k[0] for k in kept])
        self._base = np.concatenate([k[1] for k in kept])
        self._base_sq = np.concatenate([k[2] for k in kept])
        self._tail_ids, self._tail, self._tail_sq = (
            np.empty(0, np.int64),
            np.empty((0, self.dimension), self.dtype),
            np.empty(0, np.float32),
        )
        self._nt = 0
        return count

    @staticmethod
    def _wipe(rows: Rows) -> None:
        """Zero rows held in writable RAM before they are dropped (a mapped file is replaced on save)."""
        if isinstance(rows, np.memmap) or not rows.flags.writeable:
            return
        rows[...] = 0

    def blocks(self, rows: int) -> Iterator[tuple[int, Matrix, npt.NDArray[np.float32]]]:
        """(first row, vectors as float32, squared norms) for consecutive blocks of at most ``rows``."""
        offset = 0
        for _, vectors, sq in self._segments():
            for start in range(0, len(vectors), rows):
                block = vectors[start : start + rows]
                yield offset + start, np.asarray(block, dtype=np.float32), sq[start : start + rows]
            offset += len(vectors)

    def ids_at(self, rows: npt.NDArray[np.int64]) -> IdArray:
        """The face ids at these row numbers, any shape of ``rows``."""
        out = np.empty(rows.shape, np.int64)
        in_base = rows < len(self._base_ids)
        out[in_base] = self._base_ids[rows[in_base]]
        out[~in_base] = self._tail_ids[rows[~in_base] - len(self._base_ids)]
        return out

    def rows_of(self, rows: npt.NDArray[np.int64]) -> Matrix:
        """The vectors (float32) at these row numbers, shape ``rows.shape + (dimension,)``."""
        out = np.empty((*rows.shape, self.dimension), np.float32)
        in_base = rows < len(self._base_ids)
        out[in_base] = self._base[rows[in_base]]
        out[~in_base] = self._tail[rows[~in_base] - len(self._base_ids)]
        return out
