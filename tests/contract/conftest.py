"""Fixtures that run each contract once per backend (see backends.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.backends import BACKENDS, STORES, Backend, on_database, on_milvus
from facesearch.gallery import GalleryStore
from facesearch.storage.crypto import DataCipher


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.param
    if chosen.database:
        return on_database(chosen, request.getfixturevalue("postgres_url"))
    if chosen.server:
        return on_milvus(chosen, request.getfixturevalue("milvus_url"), request.getfixturevalue("milvus_collection"))
    return chosen


@pytest.fixture(params=[b for b in BACKENDS if b.database], ids=lambda b: b.name)
def database_backend(request: pytest.FixtureRequest) -> Backend:
    """Only the backends that keep their vectors in the gallery's database."""
    return on_database(request.param, request.getfixturevalue("postgres_url"))


@pytest.fixture(params=STORES, ids=STORES)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GalleryStore]:
    """A store with no schema yet: an SQLite file, or an empty PostgreSQL database."""
    if request.param == "postgresql":
        gallery = GalleryStore.open_url(request.getfixturevalue("postgres_url"))
    else:
        gallery = GalleryStore.open_sqlite(tmp_path / "gallery.sqlite3")
    yield gallery
    gallery.close()


@pytest.fixture(params=["sealed", "plain"])
def store(request: pytest.FixtureRequest, empty_store: GalleryStore) -> GalleryStore:
    """A store migrated to the newest schema, sealing templates under a data key (as every gallery
    does), or not (as a gallery from before sealing did, until its first open)."""
    empty_store.migrate()
    if request.param == "sealed":
        empty_store.cipher = DataCipher(secrets.token_bytes(32), secrets.token_hex(16))
    return empty_store
