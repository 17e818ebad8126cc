"""One index file: a ``.npz`` of arrays plus a JSON header, replaced atomically on save.

A save writes a new file beside the old one, fsyncs it and renames it over the old one, so a crash
leaves either the old or the new index, and removed vectors leave no bytes behind in any file.

Given the gallery's cipher, every function here seals the whole file, header included (a sealed
file of :mod:`facesearch.storage.crypto`, in chunks of a few MiB, the file's name as context) and reads it
back into RAM: memory-mapping is lost (opening reads and decrypts the whole file), in exchange no
vector is on disk in plaintext. A file that is not sealed, or fails its check, is IndexCorruptError
(the index is then rebuilt from the gallery), like any damaged file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

import numpy as np
import numpy.typing as npt

from facesearch.errors import IndexCorruptError, ModelMismatchError, TamperedDataError
from facesearch.storage.crypto import DataCipher
from facesearch.types import Metric


class Described(Protocol):
    """What every index records in its file's header."""

    model_id: str
    dimension: int
    metric: Metric
    generation: int
    state_hash: str


def header(fmt: str, index: Described, **extra: Any) -> dict[str, Any]:
    """The JSON header every index file starts with: what it holds and the gallery state it reflects."""
    return {
        "format": fmt,
        "model_id": index.model_id,
        "dimension": index.dimension,
        "metric": index.metric.value,
        "generation": index.generation,
        "state_hash": index.state_hash,
        **extra,
    }


def restore_state(index: Described, meta: dict[str, Any]) -> None:
    """Set the gallery state an index reflects from its file's header."""
    index.generation, index.state_hash = int(meta["generation"]), str(meta.get("state_hash", ""))


def _replace_atomically(path: Path, write: Callable[[BinaryIO], None], cipher: DataCipher | None = None) -> None:
    """Write a new file beside ``path`` with ``write`` (sealed, given a cipher), fsync it and rename
    it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            if cipher is None:
                write(handle)
            else:
                sealed = cipher.writer(handle, context=file_context(path))
                write(sealed)  # type: ignore[arg-type]  # write-only, which is all the writers use
                sealed.close()
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_context(path: Path) -> bytes:
    """What a sealed index file is: its name (so an add log or another backend's file cannot stand in)."""
    return b"index/" + path.name.encode()


def _unsealed(path: Path, cipher: DataCipher) -> np.ndarray:
    """The plaintext of a sealed index file; IndexCorruptError if it is not one or was altered."""
    try:
        return cipher.read_file(path, context=file_context(path))
    except TamperedDataError as exc:
        raise IndexCorruptError(f"{path}: {exc.message}") from exc


def _check_header(path: Path, meta: Any, fmt: str, model_id: str, dimension: int, metric: Metric) -> None:
    """IndexCorruptError unless the header is of format ``fmt``; ModelMismatchError if the file
    holds another model's vectors."""
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise IndexCorruptError(f"{path}: not a {fmt} index")
    if meta.get("model_id") != model_id or meta.get("dimension") != dimension or meta.get("metric") != metric.value:
        raise ModelMismatchError(
            f"{path}: holds {meta.get('model_id')} ({meta.get('dimension')}-d, {meta.get('metric')}), "
            f"the gallery uses {model_id} ({dimension}-d, {metric.value})"
        )


def write_index_file(
    path: Path, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]], cipher: DataCipher | None = None
) -> None:
    payload: dict[str, Any] = {"meta": np.array(json.dumps(meta)), **arrays}
    if cipher is None:
        _replace_atomically(path, lambda handle: np.savez(handle, **payload))
        return
    buffer = io.BytesIO()  # numpy writes a .npz only to a path or a readable file: assemble it first
    np.savez(buffer, **payload)

    def write(handle: BinaryIO) -> None:
        handle.write(buffer.getbuffer())

    _replace_atomically(path, write, cipher)


def read_index_file(
    path: Path,
    fmt: str,
    names: tuple[str, ...],
    model_id: str,
    dimension: int,
    metric: Metric,
    cipher: DataCipher | None = None,
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """(header, arrays) of a saved index. Raises FileNotFoundError if absent, IndexCorruptError if
    unreadable or of another format, ModelMismatchError if it holds another model's vectors."""
    source: Path | IO[bytes] = path
    if cipher is not None:
        source = io.BytesIO(_unsealed(path, cipher).data)
    try:
        with np.load(source, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {name: data[name] for name in names}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"{path}: unreadable index file ({exc})") from exc
    _check_header(path, meta, fmt, model_id, dimension, metric)
    return meta, arrays


# --- flat files: arrays laid out for memory mapping ------------------------------------------

FLAT_MAGIC = b"FSINDEX1"
_ALIGN = 64


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def write_flat_file(
    path: Path, meta: dict[str, Any], arrays: dict[str, list[npt.NDArray[Any]]], cipher: DataCipher | None = None
) -> None:
    """Write arrays so that :func:`read_flat_file` can memory-map them: the magic, the JSON header's
    length (8 bytes, little-endian), the header (``meta`` plus each array's dtype, shape and offset),
    then each array's bytes at a 64-byte boundary. Each array is given as parts written one after
    the other (so a memory-mapped part plus rows in RAM are saved without joining them in memory).
    Replaced atomically, like the ``.npz`` files. Written front to back (padding written, not sought
    over), so that the same bytes can go through a sealing stream."""
    layout: dict[str, dict[str, Any]] = {}
    offset = 0
    for name, parts in arrays.items():
        shape = [sum(len(p) for p in parts), *parts[0].shape[1:]]
        layout[name] = {"dtype": parts[0].dtype.str, "shape": shape, "offset": offset}
        offset = _aligned(offset + sum(p.nbytes for p in parts))
    head = json.dumps({**meta, "arrays": layout}).encode()
    data_start = _aligned(len(FLAT_MAGIC) + 8 + len(head))

    def pieces() -> Iterator[bytes]:
        yield FLAT_MAGIC + len(head).to_bytes(8, "little") + head
        at = len(FLAT_MAGIC) + 8 + len(head)
        for name, parts in arrays.items():
            start = data_start + layout[name]["offset"]
            yield bytes(start - at)
            at = start
            for part in parts:
                for row in range(0, len(part), 1 << 16):  # in chunks: a memmap is never read whole
                    piece = np.ascontiguousarray(part[row : row + (1 << 16)]).tobytes()
                    at += len(piece)
                    yield piece
        yield bytes(data_start + offset - at)

    def write(handle: BinaryIO) -> None:
        for piece in pieces():
            handle.write(piece)

    _replace_atomically(path, write, cipher)


def read_flat_file(
    path: Path,
    fmt: str,
    names: tuple[str, ...],
    model_id: str,
    dimension: int,
    metric: Metric,
    cipher: DataCipher | None = None,
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """(header, arrays) of a flat file, the arrays memory-mapped read-only (given a cipher:
    decrypted into one writable buffer in RAM). Raises like :func:`read_index_file`; a truncated or
    garbled file is IndexCorruptError, never a crash."""
    plain = None if cipher is None else _unsealed(path, cipher)
    size = path.stat().st_size if plain is None else len(plain)  # FileNotFoundError when absent
    try:
        with open(path, "rb") if plain is None else io.BytesIO(plain[: 1 << 16].tobytes()) as handle:
            if handle.read(len(FLAT_MAGIC)) != FLAT_MAGIC:
                raise IndexCorruptError(f"{path}: not a facesearch index file")
            length = int.from_bytes(handle.read(8), "little")
            if length > min(size, 1 << 24):
                raise IndexCorruptError(f"{path}: garbled header")
            head = handle.read(length) if plain is None else plain[16 : 16 + length].tobytes()
            meta = json.loads(head)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"{path}: unreadable index file ({exc})") from exc
    _check_header(path, meta, fmt, model_id, dimension, metric)
    data_start = _aligned(len(FLAT_MAGIC) + 8 + length)
    arrays: dict[str, npt.NDArray[Any]] = {}
    try:
        for name in names:
            spec = meta["arrays"][name]
            dtype, shape = np.dtype(spec["dtype"]), tuple(int(s) for s in spec["shape"])
            start = data_start + int(spec["offset"])
            nbytes = int(np.prod(shape)) * dtype.itemsize
            if start + nbytes > size:
                raise IndexCorruptError(f"{path}: truncated (array {name!r} runs past the end)")
            if not nbytes:
                arrays[name] = np.empty(shape, dtype)
            elif plain is not None:
                arrays[name] = plain[start : start + nbytes].view(dtype).reshape(shape)
            else:
                arrays[name] = np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"{path}: garbled header ({exc})") from exc
    return meta, arrays
