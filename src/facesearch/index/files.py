"""One index file: a ``.npz`` of arrays plus a JSON header, replaced atomically on save.

A save writes a new file beside the old one, fsyncs it and renames it over the old one, so a crash
leaves either the old or the new index, and removed vectors leave no bytes behind in any file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
import numpy.typing as npt

from facesearch.errors import IndexCorruptError, ModelMismatchError
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


def _replace_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a new file beside ``path`` with ``write``, fsync it and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def write_index_file(path: Path, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> None:
    payload: dict[str, Any] = {"meta": np.array(json.dumps(meta)), **arrays}
    _replace_atomically(path, lambda handle: np.savez(handle, **payload))


def read_index_file(
    path: Path, fmt: str, names: tuple[str, ...], model_id: str, dimension: int, metric: Metric
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """(header, arrays) of a saved index. Raises FileNotFoundError if absent, IndexCorruptError if
    unreadable or of another format, ModelMismatchError if it holds another model's vectors."""
    try:
        with np.load(path, allow_pickle=False) as data:
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


def write_flat_file(path: Path, meta: dict[str, Any], arrays: dict[str, list[npt.NDArray[Any]]]) -> None:
    """Write arrays so that :func:`read_flat_file` can memory-map them: the magic, the JSON header's
    length (8 bytes, little-endian), the header (``meta`` plus each array's dtype, shape and offset),
    then each array's bytes at a 64-byte boundary. Each array is given as parts written one after
    the other (so a memory-mapped part plus rows in RAM are saved without joining them in memory).
    Replaced atomically, like the ``.npz`` files."""
    layout: dict[str, dict[str, Any]] = {}
    offset = 0
    for name, parts in arrays.items():
        shape = [sum(len(p) for p in parts), *parts[0].shape[1:]]
        layout[name] = {"dtype": parts[0].dtype.str, "shape": shape, "offset": offset}
        offset = _aligned(offset + sum(p.nbytes for p in parts))
    head = json.dumps({**meta, "arrays": layout}).encode()
    data_start = _aligned(len(FLAT_MAGIC) + 8 + len(head))

    def write(handle: BinaryIO) -> None:
        handle.write(FLAT_MAGIC + len(head).to_bytes(8, "little") + head)
        for name, parts in arrays.items():
            handle.seek(data_start + layout[name]["offset"])
            for part in parts:
                for start in range(0, len(part), 1 << 16):  # in chunks: a memmap is never read whole
                    handle.write(np.ascontiguousarray(part[start : start + (1 << 16)]).tobytes())
        handle.truncate(data_start + offset)

    _replace_atomically(path, write)


def read_flat_file(
    path: Path, fmt: str, names: tuple[str, ...], model_id: str, dimension: int, metric: Metric
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """(header, arrays) of a flat file, the arrays memory-mapped read-only. Raises like
    :func:`read_index_file`; a truncated or garbled file is IndexCorruptError, never a crash."""
    size = path.stat().st_size  # FileNotFoundError when absent
    try:
        with open(path, "rb") as handle:
            if handle.read(len(FLAT_MAGIC)) != FLAT_MAGIC:
                raise IndexCorruptError(f"{path}: not a facesearch index file")
            length = int.from_bytes(handle.read(8), "little")
            if length > min(size, 1 << 24):
                raise IndexCorruptError(f"{path}: garbled header")
            meta = json.loads(handle.read(length))
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
            arrays[name] = (
                np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape) if nbytes else np.empty(shape, dtype)
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"{path}: garbled header ({exc})") from exc
    return meta, arrays
