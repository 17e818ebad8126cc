"""Backends under the shared contracts, and face-like test data. A new backend adds itself here."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine

from facesearch.index import ExactIndex, VectorIndex
from facesearch.index.hnsw import HnswIndex
from facesearch.index.ivf import IvfIndex
from facesearch.index.pgvector import PgVectorIndex
from facesearch.storage.crypto import DataCipher
from facesearch.types import Metric

MODEL = "dlib_face_recognition_resnet_model_v1"
DIM = 128
CIPHER = DataCipher(secrets.token_bytes(32), "contract")  # sealed files: what every gallery writes


@dataclasses.dataclass(frozen=True)
class Backend:
    """How the contract creates and reopens one kind of index at a path."""

    name: str
    create: Callable[[Path, Metric], VectorIndex]
    reopen: Callable[[Path, Metric], VectorIndex]
    score_tolerance: float = 1e-5  # float16 storage rounds each component to 11 significant bits
    cipher: DataCipher | None = None  # the files are sealed under it
    database: bool = False  # keeps its vectors in PostgreSQL: made by on_database() for each test
    server: bool = False  # keeps its vectors in a Milvus server: made by on_milvus() for each test


def _unbound(path: Path, metric: Metric) -> VectorIndex:
    raise AssertionError("a database backend is made by on_database(url) for each test")


def on_database(backend: Backend, url: str) -> Backend:
    """A database backend bound to a test's own (empty) PostgreSQL database; the index's table is
    named after the path, so reopening the same path finds it."""
    engine = create_engine(url)

    def table(path: Path) -> str:
        return "vectors_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]

    exact = backend.name.endswith("-exact")
    return dataclasses.replace(
        backend,
        create=lambda path, metric: PgVectorIndex.create(engine, table(path), MODEL, DIM, metric, exact=exact),
        reopen=lambda path, metric: PgVectorIndex.load(engine, table(path), MODEL, DIM, metric, exact=exact),
    )


def on_milvus(backend: Backend, url: str, collection: str) -> Backend:
    """A Milvus backend on a test's server; each path gets a collection named after it (with the
    test's own prefix, dropped after the test), so reopening the same path finds it."""
    from facesearch.index.milvus import MilvusIndex, connect

    alias = connect(url)

    def name(path: Path) -> str:
        return f"{collection}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"

    return dataclasses.replace(
        backend,
        create=lambda path, metric: MilvusIndex.create(alias, name(path), MODEL, DIM, metric),
        reopen=lambda path, metric: MilvusIndex.load(alias, name(path), MODEL, DIM, metric),
    )


BACKENDS = [
    Backend(
        "exact",
        create=lambda path, metric: ExactIndex(MODEL, DIM, metric, path),
        reopen=lambda path, metric: ExactIndex.load(path, MODEL, DIM, metric),
    ),
    Backend(
        "hnsw",
        create=lambda path, metric: HnswIndex(MODEL, DIM, metric, path),
        reopen=lambda path, metric: HnswIndex.load(path, MODEL, DIM, metric),
    ),
    Backend(  # trained from 1,000 faces (10,000 by default), so the contract's sets exercise the codes
        "ivf",
        create=lambda path, metric: IvfIndex(MODEL, DIM, metric, path, train_min=1000),
        reopen=lambda path, metric: IvfIndex.load(path, MODEL, DIM, metric),
        score_tolerance=1e-3,
    ),
    Backend(
        "exact-float16",
        create=lambda path, metric: ExactIndex(MODEL, DIM, metric, path, storage="float16"),
        reopen=lambda path, metric: ExactIndex.load(path, MODEL, DIM, metric),
        score_tolerance=1e-3,
    ),
    Backend(
        "exact-sealed",
        create=lambda path, metric: ExactIndex(MODEL, DIM, metric, path, cipher=CIPHER),
        reopen=lambda path, metric: ExactIndex.load(path, MODEL, DIM, metric, cipher=CIPHER),
        cipher=CIPHER,
    ),
    Backend(
        "hnsw-sealed",
        create=lambda path, metric: HnswIndex(MODEL, DIM, metric, path, cipher=CIPHER),
        reopen=lambda path, metric: HnswIndex.load(path, MODEL, DIM, metric, cipher=CIPHER),
        cipher=CIPHER,
    ),
    Backend(
        "ivf-sealed",
        create=lambda path, metric: IvfIndex(MODEL, DIM, metric, path, train_min=1000, cipher=CIPHER),
        reopen=lambda path, metric: IvfIndex.load(path, MODEL, DIM, metric, cipher=CIPHER),
        score_tolerance=1e-3,
        cipher=CIPHER,
    ),
    Backend("pgvector", create=_unbound, reopen=_unbound, database=True),  # HNSW in the server
    Backend("pgvector-exact", create=_unbound, reopen=_unbound, database=True),  # every row compared
    Backend("milvus", create=_unbound, reopen=_unbound, server=True),  # HNSW in a Milvus server
]


def face_like(identities: int, per_identity: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered vectors shaped like dlib embeddings: people ~0.9 apart, photos of one person ~0.3.

    Returns (ids, vectors, identity of each vector).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.056, (identities, DIM))
    owner = np.repeat(np.arange(identities), per_identity)
    vectors = centres[owner] + rng.normal(0.0, 0.02, (len(owner), DIM))
    ids = np.arange(1, len(owner) + 1, dtype=np.int64) * 7  # sparse ids, as after erasures
    return ids, vectors.astype(np.float32), owner


STORES = ["sqlite", "postgresql"]
