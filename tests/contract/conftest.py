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
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GalleryStore]:
    gallery = GalleryStore.open_sqlite(tmp_path / "gallery.sqlite3")
    gallery.migrate()
    yield gallery
    gallery.close()
