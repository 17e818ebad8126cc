"""One index file: a ``.npz`` of arrays plus a JSON header, replaced atomically on save.

A save writes a new file beside the old one, fsyncs it and renames it over the old one, so a crash
leaves either the old or the new index, and removed vectors leave no bytes behind in any file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import IndexCorruptError, ModelMismatchError
from facesearch.types import Metric


def header(fmt: str, model_id: str, dimension: int, metric: Metric, generation: int, **extra: Any) -> dict[str, Any]:
    """The JSON header every index file starts with: what it holds and the gallery generation."""
    return {
        "format": fmt,
        "model_id": model_id,
        "dimension": dimension,
        "metric": metric.value,
        "generation": generation,
        **extra,
    }


def write_index_file(path: Path, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        payload: dict[str, Any] = {"meta": np.array(json.dumps(meta)), **arrays}
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise IndexCorruptError(f"{path}: not a {fmt} index")
    if meta.get("model_id") != model_id or meta.get("dimension") != dimension or meta.get("metric") != metric.value:
        raise ModelMismatchError(
            f"{path}: holds {meta.get('model_id')} ({meta.get('dimension')}-d, {meta.get('metric')}), "
            f"the gallery uses {model_id} ({dimension}-d, {metric.value})"
        )
    return meta, arrays
