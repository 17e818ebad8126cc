"""Embed every photo of a dataset once, in parallel processes, with a persistent cache.

The cache is keyed by the photo's SHA-256 and the *recipe*: the model id plus every setting that
changes which face is found and how it is embedded. A second run over the same photos reads every
embedding from the cache; a photo whose bytes change is embedded again.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facesearch.config import Settings
from facesearch.errors import FacesearchError
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline, main_face, map_photos
from facesearch.pipeline.models import EmbedderSpec

Progress = Callable[[int, int], None]  # (done, total)

NO_FACE = "no-face"


def recipe_of(settings: Settings, spec: EmbedderSpec) -> str:
    """What an embedding depends on besides the photo: the model and the face-finding settings."""
    return (
        f"{spec.model_id}|detector={settings.detector}|fallback={settings.fallback_detector}"
        f"|upsample={settings.upsample}|jitters={settings.num_jitters}|face=main"
    )


class EmbeddingCache:
    """SQLite file of (photo sha256, recipe) -> embedding, or the reason no face was embedded."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (sha256 TEXT NOT NULL, recipe TEXT NOT NULL, "
            "vector BLOB, failure TEXT, PRIMARY KEY (sha256, recipe))"
        )

    def get(self, digests: Sequence[str], recipe: str) -> dict[str, tuple[bytes | None, str | None]]:
        found: dict[str, tuple[bytes | None, str | None]] = {}
        for start in range(0, len(digests), 500):
            chunk = list(digests[start : start + 500])
            rows = self._db.execute(
                f"SELECT sha256, vector, failure FROM embeddings WHERE recipe = ? AND sha256 IN "
                f"({','.join('?' * len(chunk))})",
                [recipe, *chunk],
            )
            found.update({sha: (vec, failure) for sha, vec, failure in rows})
        return found

    def put(self, rows: Sequence[tuple[str, bytes | None, str | None]], recipe: str) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings (sha256, recipe, vector, failure) VALUES (?, ?, ?, ?)",
                [(sha, recipe, vec, failure) for sha, vec, failure in rows],
            )

    def close(self) -> None:
        self._db.close()


@dataclasses.dataclass(frozen=True)
class Extraction:
    """One embedding row per photo (NaN where none), and why each failed photo failed."""

    vectors: npt.NDArray[np.float32]
    failures: dict[int, str]  # photo index -> reason code
    embedded: int  # photos embedded by this call; the others came from the cache


def _embed_photo(path: Path, pipeline: FacePipeline) -> tuple[bytes | None, str | None]:
    """The photo's main face as float32 bytes, or (None, reason)."""
    try:
        image = decode(path, pipeline.settings)
        face = main_face(pipeline.analyze(image), image.width, image.height)
    except FacesearchError as exc:
        return None, exc.code
    except OSError:
        return None, "unreadable"
    if face is None:
        return None, NO_FACE
    return face.embedding.vector.astype("<f4").tobytes(), None


def extract(
    paths: Sequence[Path],
    digests: Sequence[str],
    settings: Settings,
    cache: EmbeddingCache | None,
    workers: int = 1,
    progress: Progress | None = None,
    pipeline: FacePipeline | None = None,
) -> Extraction:
    """Embed the main face of every photo (cached ones are read back) in ``workers`` processes, or
    in this one when ``workers`` is 1; by ``pipeline``'s recipe (sharing its loaded models) if
    given, else by the built-in recognizer the settings name."""
    pipeline = pipeline or FacePipeline(settings)
    spec = pipeline.spec
    recipe = recipe_of(settings, spec)
    known = cache.get(digests, recipe) if cache else {}
    todo = [i for i, d in enumerate(digests) if d not in known]
    results: dict[str, tuple[bytes | None, str | None]] = dict(known)
    done = len(paths) - len(todo)
    if progress:
        progress(done, len(paths))
    pending: list[tuple[str, bytes | None, str | None]] = []

    def record(i: int, outcome: tuple[bytes | None, str | None]) -> None:
        nonlocal done
        results[digests[i]] = outcome
        pending.append((digests[i], *outcome))
        done += 1
        if cache and len(pending) >= 200:
            cache.put(pending, recipe)
            pending.clear()
        if progress:
            progress(done, len(paths))

    outcomes = map_photos(_embed_photo, [paths[i] for i in todo], pipeline, workers, chunksize=4)
    for i, outcome in zip(todo, outcomes, strict=True):
        record(i, outcome)
    if cache and pending:
        cache.put(pending, recipe)

    vectors = np.full((len(paths), spec.dimension), np.nan, dtype=np.float32)
    failures: dict[int, str] = {}
    for i, digest in enumerate(digests):
        blob, failure = results[digest]
        if blob is None:
            failures[i] = failure or NO_FACE
        else:
            vectors[i] = np.frombuffer(blob, dtype="<f4")
    return Extraction(vectors, failures, embedded=len(todo))
