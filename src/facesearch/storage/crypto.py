"""Sealing templates at rest: AES-GCM under a gallery's data key (see :mod:`facesearch.storage.keys`).

Two shapes of sealed data:

- a *blob* (one database value, one add-log record): ``version (1) | nonce (12) | ciphertext | tag
  (16)``, 29 bytes more than the plaintext;
- a *sealed file* (an index file): a plain header (magic, version, chunk size, a random file salt)
  then chunks of at most :data:`CHUNK` plaintext bytes, each ``nonce | ciphertext | tag``. Chunks
  are sealed separately so a file of hundreds of megabytes is never encrypted or decrypted as one
  buffer; each chunk's associated data names the file, its salt, its position and whether it is
  the last, so chunks cannot be reordered, dropped, cut off at the end or moved between files.

Every nonce is 96 random bits (a gallery seals far fewer than the 2**32 messages under one key that
random nonces allow). The associated data always starts with the gallery's id and then names what
is sealed (``context``: a column and row, an index file's name), so a value copied to another row,
column or gallery fails its tag instead of being read as the wrong thing. No primitive is written
here: AES-GCM is ``cryptography``'s.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facesearch.errors import TamperedDataError

VERSION = 1
NONCE = 12
TAG = 16
KEY_BYTES = 32
BLOB_OVERHEAD = 1 + NONCE + TAG

FILE_MAGIC = b"FSSEALED"
CHUNK = 4 << 20  # plaintext bytes per chunk of a sealed file
_SALT = 16
FILE_HEADER = len(FILE_MAGIC) + 1 + 4 + _SALT


class DataCipher:
    """Seals and unseals one gallery's data under its data key; ``gallery_id`` goes into every
    associated data, binding each sealed value to this gallery."""

    def __init__(self, key: bytes, gallery_id: str) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._key_check = hmac.new(key, b"facesearch key check\0" + gallery_id.encode(), hashlib.sha256).hexdigest()
        self.gallery_id = gallery_id
        self._prefix = gallery_id.encode() + b"\0"

    @property
    def key_check(self) -> str:
        """An HMAC of the gallery id under the data key, kept in the database: it tells a key file
        that belongs to another gallery (or another incarnation of this one) from the right one,
        and reveals nothing of the key."""
        return self._key_check

    def _aad(self, context: bytes) -> bytes:
        return self._prefix + context

    # --- blobs -----------------------------------------------------------------------------

    def seal(self, data: bytes, *, context: bytes) -> bytes:
        """``data`` encrypted and authenticated; ``context`` names what it is (unsealing needs the same)."""
        nonce = os.urandom(NONCE)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, data, self._aad(context))

    def unseal(self, blob: bytes, *, context: bytes) -> bytes:
        """The plaintext of a blob sealed under ``context``; TamperedDataError if it was altered,
        sealed for another context or gallery, or is not a sealed blob at all."""
        view = memoryview(blob)  # no copies: a gallery rebuild unseals every row
        if len(view) < BLOB_OVERHEAD or view[0] != VERSION:
            raise TamperedDataError(f"{context.decode(errors='replace')}: not a sealed value (or an unknown version)")
        try:
            return self._aead.decrypt(view[1 : 1 + NONCE], view[1 + NONCE :], self._prefix + context)
        except InvalidTag:
            raise TamperedDataError(
                f"{context.decode(errors='replace')}: the sealed value fails its integrity check "
                "(altered, moved from another row, or sealed under another key)"
            ) from None

    # --- files -----------------------------------------------------------------------------

    def _chunk_aad(self, context: bytes, header: bytes, index: int, last: bool) -> bytes:
        return self._aad(context) + b"\0" + header + index.to_bytes(8, "little") + bytes([last])

    def writer(self, handle: BinaryIO, *, context: bytes) -> SealedWriter:
        """A write-only stream that seals what is written to it into ``handle``; close it to
        write the last chunk (closing does not close ``handle``)."""
        return SealedWriter(self, handle, context)

    def read_file(self, path: Path, *, context: bytes) -> npt.NDArray[np.uint8]:
        """The whole plaintext of a sealed file, in one writable buffer. Raises FileNotFoundError if
        absent, TamperedDataError if it is not a sealed file or any chunk fails its check."""
        what = context.decode(errors="replace")
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            header = handle.read(FILE_HEADER)
            if len(header) < FILE_HEADER or header[: len(FILE_MAGIC)] != FILE_MAGIC or header[8] != VERSION:
                raise TamperedDataError(f"{what}: not a sealed file")
            chunk = int.from_bytes(header[9:13], "little")
            sealed_chunk = chunk + NONCE + TAG
            body = size - FILE_HEADER
            if chunk < 1 or body < NONCE + TAG:
                raise TamperedDataError(f"{what}: truncated sealed file")
            count = -(-body // sealed_chunk)
            out = np.empty(body - count * (NONCE + TAG), np.uint8)
            into = getattr(self._aead, "decrypt_into", None)  # cryptography >= 46: no copy of each chunk
            piece = bytearray(sealed_chunk)
            at = 0
            for index in range(count):
                size = handle.readinto(piece)
                if size < NONCE + TAG:
                    raise TamperedDataError(f"{what}: truncated sealed file")
                view = memoryview(piece)[:size]
                aad = self._chunk_aad(context, header, index, index == count - 1)
                end = at + size - NONCE - TAG
                try:
                    if into is not None:
                        into(view[:NONCE], view[NONCE:], aad, out[at:end])
                    else:
                        out[at:end] = np.frombuffer(self._aead.decrypt(view[:NONCE], view[NONCE:], aad), np.uint8)
                except InvalidTag:
                    raise TamperedDataError(f"{what}: chunk {index} fails its integrity check") from None
                at = end
        return out


class SealedWriter:
    """File-like (``write`` only, no ``tell``/``seek``: writers that need them fall back to
    streaming, as :mod:`zipfile` does) sealing chunk by chunk; see :meth:`DataCipher.writer`."""

    def __init__(self, cipher: DataCipher, handle: BinaryIO, context: bytes) -> None:
        self._cipher, self._handle, self._context = cipher, handle, context
        self._header = FILE_MAGIC + bytes([VERSION]) + CHUNK.to_bytes(4, "little") + os.urandom(_SALT)
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        handle.write(self._header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        start = 0
        # a full chunk is sealed only once more data follows it: the last chunk is always written
        # by close(), marked last, so a file cut off at a chunk boundary is detected
        if self._buffer and len(self._buffer) + len(view) > CHUNK:
            start = CHUNK - len(self._buffer)
            self._buffer += view[:start]
            self._emit(self._buffer, last=False)
            self._buffer = bytearray()
        while len(view) - start > CHUNK:
            self._emit(view[start : start + CHUNK], last=False)
            start += CHUNK
        self._buffer += view[start:]
        return len(view)

    def writelines(self, pieces: Iterable[bytes]) -> None:
        for piece in pieces:
            self.write(piece)

    def flush(self) -> None:
        """Nothing to do until close (a partial chunk cannot be sealed early); present for writers
        that call it."""

    def _emit(self, plain: bytes | bytearray | memoryview, last: bool) -> None:
        nonce = os.urandom(NONCE)
        aad = self._cipher._chunk_aad(self._context, self._header, self._index, last)
        self._handle.write(nonce + self._cipher._aead.encrypt(nonce, plain, aad))
        self._index += 1

    def close(self) -> None:
        if not self._closed:
            self._emit(self._buffer, last=True)
            self._buffer = bytearray()
            self._closed = True
