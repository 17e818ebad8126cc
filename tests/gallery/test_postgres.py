"""A gallery whose tables live on PostgreSQL (setting database_url): created, reopened, refused
where it would clash with an SQLite gallery, and deleted; its home folder keeps keys and index files."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

import facesearch
from facesearch.errors import ConfigError, InputError
from facesearch.lifecycle import delete_gallery


def test_a_gallery_lives_on_postgresql_and_its_home_keeps_keys_and_index(tmp_path: Path, postgres_url: str) -> None:
    settings = facesearch.Settings(database_url=postgres_url)
    home = tmp_path / "home"
    with facesearch.init(home, actor="founder", settings=settings) as engine:
        engine.accounts.add_user("auditor", "auditor")
        assert engine.store.dialect == "postgresql"
    assert not (home / "gallery.sqlite3").exists() and (home / "keys" / "gallery.key").exists()
    with facesearch.open(home, actor="auditor", settings=settings) as engine:
        assert engine.audit_verify().ok
        assert [e.action for e in engine.audit_events()] == ["gallery.init", "user.add", "user.add"]
    certificate = delete_gallery(home, actor="founder", confirm=True, settings=settings)
    assert certificate.data_key_destroyed and certificate.audit_events == 3
    assert not home.exists()
    tables = create_engine(postgres_url)
    try:
        assert inspect(tables).get_table_names() == []  # the database is left, empty
    finally:
        tables.dispose()


def test_a_postgresql_gallery_is_refused_in_the_home_of_an_sqlite_one(tmp_path: Path, postgres_url: str) -> None:
    home = tmp_path / "home"
    facesearch.init(home, actor="founder", settings=facesearch.Settings()).close()  # SQLite, whatever the tests run on
    key = (home / "keys" / "gallery.key").read_bytes()
    with pytest.raises(InputError, match="SQLite gallery"):
        facesearch.init(home, actor="founder", settings=facesearch.Settings(database_url=postgres_url))
    assert (home / "keys" / "gallery.key").read_bytes() == key  # its data key is untouched


def test_database_url_must_name_postgresql() -> None:
    with pytest.raises(ConfigError, match="database_url"):
        facesearch.Settings(database_url="mysql://somewhere/db")


def test_the_cli_takes_the_database_from_db(tmp_path: Path, postgres_url: str) -> None:
    home = tmp_path / "home"
    made = subprocess.run(
        [sys.executable, "-m", "facesearch", "--home", str(home), "--db", postgres_url, "--actor", "founder", "init"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert not (home / "gallery.sqlite3").exists()
    tables = create_engine(postgres_url)
    try:
        assert "audit_events" in inspect(tables).get_table_names()
    finally:
        tables.dispose()


def _add_users(home: str, url: str, prefix: str, count: int) -> None:
    """One process (a serve worker, a CLI run, another host's home) adding users, one transaction each."""
    with facesearch.open(home, actor="founder", settings=facesearch.Settings(database_url=url)) as engine:
        for n in range(count):
            engine.accounts.add_user(f"{prefix}{n}", "auditor")


def test_processes_on_two_hosts_share_one_unbroken_audit_chain(tmp_path: Path, postgres_url: str) -> None:
    """Two home folders (two hosts: their own file locks) with the same keys, two processes each,
    all adding users at once: every event lands, in one chain, and every user exists once."""
    settings = facesearch.Settings(database_url=postgres_url)
    homes = [tmp_path / "host-a", tmp_path / "host-b"]
    facesearch.init(homes[0], actor="founder", settings=settings).close()
    shutil.copytree(homes[0] / "keys", homes[1] / "keys")
    processes, each = 4, 10
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_add_users, args=(str(homes[p % 2]), postgres_url, f"w{p}-", each))
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    with facesearch.open(homes[1], actor="founder", settings=settings) as engine:
        report = engine.audit_verify()
        assert report.ok and report.events == 2 + processes * each  # init, the founder, the workers' users
        assert len({u.name for u in engine.accounts.users()}) == 1 + processes * each
