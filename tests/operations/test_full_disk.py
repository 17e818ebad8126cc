"""A full disk is a named error, storage-full (CLI exit 7, API 507), never a raw SQLAlchemy
traceback; the gallery stays consistent and enroll-dir run again finishes with nothing enrolled
twice (issue 17, item 9). SQLite's own limit on a database's pages makes it refuse to grow exactly
as a full disk does (SQLITE_FULL, "database or disk is full"), with no root needed; the CLI test
in tests/cli/test_cli_input.py fills a real file system."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import StorageFullError
from facesearch.pipeline.models import DlibModels
from facesearch.service.problems import status_of
from facesearch.storage.full import storage_full_reason

from helpers import init_staffed


def test_a_full_disk_is_recognised_however_it_is_wrapped() -> None:
    disk = OSError(errno.ENOSPC, "No space left on device", "/srv/gallery/index/exact.log")
    assert storage_full_reason(disk) == "No space left on device: /srv/gallery/index/exact.log"
    database = sqlite3.OperationalError("database or disk is full")
    database.sqlite_errorcode = 13  # type: ignore[attr-defined]  (what SQLite sets on SQLITE_FULL)
    wrapped = OperationalError("INSERT INTO faces ...", {"embedding": b"secret"}, database)
    assert storage_full_reason(wrapped) == "SQLite: database or disk is full"  # never the statement
    try:
        try:
            raise disk
        except OSError as exc:
            raise RuntimeError("while saving the index") from exc
    except RuntimeError as outer:
        assert storage_full_reason(outer) is not None
    assert storage_full_reason(OSError(errno.EACCES, "Permission denied")) is None
    assert status_of(StorageFullError("full")) == 507


@contextmanager
def database_capped(engine: Engine, spare_pages: int) -> Iterator[None]:
    """The gallery's SQLite database may grow by SPARE_PAGES pages at most, as on a full disk."""
    sql = engine.store.engine

    def cap(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages + spare_pages}")
        cursor.close()

    sql.dispose()
    event.listen(sql, "connect", cap)
    try:
        yield
    finally:
        event.remove(sql, "connect", cap)
        sql.dispose()


def assert_consistent(engine: Engine) -> None:
    """The audit chain is intact and the index holds exactly the gallery's faces."""
    assert engine.audit_verify().ok
    assert engine.index_info().size == sum(s.faces for s in engine.subjects())


@pytest.mark.model
def test_enroll_dir_on_a_full_database_is_storage_full_and_a_rerun_finishes(
    tmp_path: Path, labelled_dataset: Path, models: DlibModels
) -> None:
    settings = Settings(enroll_batch_faces=1)  # one transaction a photo: some fit, then one does not
    with init_staffed(tmp_path / "home", actor="tester", settings=settings, models=models) as engine:
        enroller = engine.acting_as("enroller")
        with database_capped(engine, spare_pages=2), pytest.raises(StorageFullError) as caught:
            enroller.enroll_directory(labelled_dataset, source="s", basis="consent")
        assert caught.value.code == "storage-full" and "database or disk is full" in caught.value.message
        assert_consistent(engine)
        stored = sum(s.images for s in engine.subjects())
        assert 0 < stored < 8  # a few photos went in before the database could not grow

        result = enroller.enroll_directory(labelled_dataset, source="s", basis="consent")
        assert result.already_enrolled == stored  # what was stored before the disk filled is skipped
        assert_consistent(engine)
        images = {s.name: s.images for s in engine.subjects()}
        assert images == {"Eileen Collins": 4, "Grace Hopper": 4}  # every photo once, none twice
