"""Fixtures that run each contract once per backend (see backends.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.backends import BACKENDS, STORES, Backend
from facesearch.gallery import GalleryStore


@pytest.fixture(params=BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=STORES)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GalleryStore]:
    """A store with no schema yet."""
    gallery = GalleryStore.open_sqlite(tmp_path / "gallery.sqlite3")
    yield gallery
    gallery.close()


@pytest.fixture
def store(empty_store: GalleryStore) -> GalleryStore:
    """A store migrated to the newest schema."""
    empty_store.migrate()
    return empty_store
