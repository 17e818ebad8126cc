"""The faces added since an index file was saved, appended to a log beside it.

Saving a million-face index after every enrollment batch would rewrite hundreds of megabytes to
add a few rows; instead each batch appends one record (its ids, vectors and the gallery generation
it brings the index to) and is fsynced. Opening replays the records onto the saved index. The log
names the generation of the file it extends, so a log left behind by an older file is ignored; a
torn or damaged record ends the replay there (the index is then behind the gallery, and is
rebuilt). Removal never goes through the log: the index is saved whole and the log deleted, so an
erased face's vector is in no file.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facesearch.index.base import IdArray, Matrix

MAGIC = b"FSADDLG2"
RECORD = b"REC2"
HASH = 32  # bytes of the gallery content hash a record brings the index to


class AddLog:
    def __init__(self, path: Path, dimension: int) -> None:
        self.path, self.dimension = path, dimension

    def rows(self) -> int:
        """Rows held (an estimate from the file size: what decides when to save the index whole)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        return size // (8 + 4 * self.dimension)  # (an overestimate: records' headers are counted as rows)

    def start(self, base_generation: int) -> None:
        """An empty log extending the index file saved at ``base_generation`` (replaces any log)."""
        tmp = self.path.with_name(f".tmp-{self.path.name}")
        with open(tmp, "wb") as handle:
            handle.write(MAGIC + base_generation.to_bytes(8, "little", signed=True))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def append(self, generation: int, state_hash: str, ids: IdArray, vectors: Matrix) -> None:
        payload = (
            generation.to_bytes(8, "little", signed=True)
            + bytes.fromhex(state_hash)
            + len(ids).to_bytes(8, "little")
            + np.ascontiguousarray(ids, np.int64).tobytes()
            + np.ascontiguousarray(vectors, np.float32).tobytes()
        )
        with open(self.path, "ab") as handle:
            handle.write(RECORD + payload + zlib.crc32(payload).to_bytes(4, "little"))
            handle.flush()
            os.fsync(handle.fileno())

    def replay(self, base_generation: int) -> Iterator[tuple[int, str, IdArray, Matrix]]:
        """(generation, content hash, ids, vectors) of each whole record, if the log extends
        ``base_generation``."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        head = len(MAGIC) + 8
        if (
            data[: len(MAGIC)] != MAGIC
            or int.from_bytes(data[len(MAGIC) : head], "little", signed=True) != base_generation
        ):
            return
        at = head
        fixed = 8 + HASH + 8  # generation, hash, row count
        while at + len(RECORD) + fixed <= len(data) and data[at : at + len(RECORD)] == RECORD:
            body = at + len(RECORD)
            n = int.from_bytes(data[body + fixed - 8 : body + fixed], "little")
            end = body + fixed + n * (8 + 4 * self.dimension)
            if end + 4 > len(data) or zlib.crc32(data[body:end]) != int.from_bytes(data[end : end + 4], "little"):
                return
            generation = int.from_bytes(data[body : body + 8], "little", signed=True)
            state_hash = data[body + 8 : body + 8 + HASH].hex()
            ids = np.frombuffer(data, np.int64, n, body + fixed)
            vectors = np.frombuffer(data, np.float32, n * self.dimension, body + fixed + 8 * n)
            yield generation, state_hash, ids.copy(), vectors.reshape(n, self.dimension).copy()
            at = end + 4

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
