"""The faces added since an index file was saved, appended to a log beside it.

Saving a million-face index after every enrollment batch would rewrite hundreds of megabytes to
add a few rows; instead each batch appends one record (its ids, vectors and the gallery generation
it brings the index to) and is fsynced. Opening replays the records onto the saved index. The log
names the generation of the file it extends, so a log left behind by an older file is ignored; a
torn or damaged record ends the replay there (the index is then behind the gallery, and is
rebuilt). Removal never goes through the log: the index is saved whole and the log deleted, so an
erased face's vector is in no file.

Given the gallery's cipher, each record is sealed on its own (see :mod:`facesearch.storage.crypto`): its
associated data names the log, carries a random salt written in the log's header and the tag of
the record before it, so records cannot be reordered, dropped from the middle or spliced in from
another log; a record that fails its check ends the replay, as a torn one does.
"""

from __future__ import annotations

import os
import secrets
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facesearch.errors import TamperedDataError
from facesearch.index.base import IdArray, Matrix
from facesearch.storage.crypto import TAG, DataCipher

MAGIC = b"FSADDLG2"
RECORD = b"REC2"
HASH = 32  # bytes of the gallery content hash a record brings the index to
SEALED_MAGIC = b"FSADDLG3"
SEALED_RECORD = b"REC3"
_SALT = 16


class AddLog:
    def __init__(self, path: Path, dimension: int, cipher: DataCipher | None = None) -> None:
        self.path, self.dimension, self.cipher = path, dimension, cipher

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
        generation = base_generation.to_bytes(8, "little", signed=True)
        with open(tmp, "wb") as handle:
            if self.cipher is None:
                handle.write(MAGIC + generation)
            else:
                handle.write(SEALED_MAGIC + generation + secrets.token_bytes(_SALT))
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
        if self.cipher is not None:
            self._append_sealed(payload)
            return
        with open(self.path, "ab") as handle:
            handle.write(RECORD + payload + zlib.crc32(payload).to_bytes(4, "little"))
            handle.flush()
            os.fsync(handle.fileno())

    def _context(self, header: bytes, previous: bytes) -> bytes:
        return b"index/" + self.path.name.encode() + b"\0" + header + previous

    def _append_sealed(self, payload: bytes) -> None:
        """Append one sealed record, chained to the one before it (or to the header)."""
        assert self.cipher is not None
        head = len(SEALED_MAGIC) + 8 + _SALT
        with open(self.path, "r+b") as handle:
            header = handle.read(head)
            size = handle.seek(0, os.SEEK_END)
            if size > head:  # the last TAG bytes of the file are the last record's tag
                handle.seek(size - TAG)
                previous = handle.read(TAG)
            else:
                previous = b""
            blob = self.cipher.seal(payload, context=self._context(header, previous))
            handle.seek(0, os.SEEK_END)
            handle.write(SEALED_RECORD + len(blob).to_bytes(8, "little") + blob)
            handle.flush()
            os.fsync(handle.fileno())

    def replay(self, base_generation: int) -> Iterator[tuple[int, str, IdArray, Matrix]]:
        """(generation, content hash, ids, vectors) of each whole record, if the log extends
        ``base_generation``."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        if self.cipher is not None:
            yield from self._replay_sealed(data, base_generation)
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

    def _replay_sealed(self, data: bytes, base_generation: int) -> Iterator[tuple[int, str, IdArray, Matrix]]:
        assert self.cipher is not None
        head = len(SEALED_MAGIC) + 8 + _SALT
        if (
            len(data) < head
            or data[: len(SEALED_MAGIC)] != SEALED_MAGIC
            or int.from_bytes(data[len(SEALED_MAGIC) : len(SEALED_MAGIC) + 8], "little", signed=True) != base_generation
        ):
            return  # another log, or one written without sealing: the index is rebuilt
        header, previous, at = data[:head], b"", head
        fixed = 8 + HASH + 8
        while at + len(SEALED_RECORD) + 8 <= len(data) and data[at : at + len(SEALED_RECORD)] == SEALED_RECORD:
            body = at + len(SEALED_RECORD) + 8
            end = body + int.from_bytes(data[body - 8 : body], "little")
            if end > len(data):
                return
            try:
                payload = self.cipher.unseal(data[body:end], context=self._context(header, previous))
            except TamperedDataError:
                return
            n = int.from_bytes(payload[fixed - 8 : fixed], "little")
            if len(payload) != fixed + n * (8 + 4 * self.dimension):
                return
            generation = int.from_bytes(payload[:8], "little", signed=True)
            ids = np.frombuffer(payload, np.int64, n, fixed)
            vectors = np.frombuffer(payload, np.float32, n * self.dimension, fixed + 8 * n)
            yield generation, payload[8 : 8 + HASH].hex(), ids.copy(), vectors.reshape(n, self.dimension).copy()
            previous, at = data[end - TAG : end], end

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
