"""A gallery whose vector index is pgvector (setting index_backend = "pgvector"), on a real server:
the vectors are written and erased in the gallery's own transactions, purged with expired photos,
rebuilt from the sealed embeddings, and refused without a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import facesearch
from facesearch.engine import Engine
from facesearch.errors import ConfigError
from facesearch.index.dbkeeper import TABLE
from facesearch.pipeline.models import DlibModels

from helpers import init_staffed


def test_pgvector_needs_a_postgresql_database() -> None:
    with pytest.raises(ConfigError, match="database_url"):
        facesearch.Settings(index_backend="pgvector")
    with pytest.raises(ConfigError, match="pgvector_ef_construction"):
        facesearch.Settings(database_url="postgresql://x/y", index_backend="pgvector", pgvector_m=40)


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql))]
    finally:
        engine.dispose()


def _vector_ids(url: str) -> set[int]:
    return {int(r[0]) for r in _rows(url, f"SELECT id FROM {TABLE}")}


def _face_ids(url: str) -> set[int]:
    return {int(r[0]) for r in _rows(url, "SELECT id FROM faces")}


@pytest.fixture
def on_pgvector(tmp_path: Path, postgres_url: str, models: DlibModels, photos: dict[str, Path]) -> Iterator[Engine]:
    """Eileen Collins and Grace Hopper enrolled in a PostgreSQL gallery indexed by pgvector (HNSW)."""
    settings = facesearch.Settings(database_url=postgres_url, index_backend="pgvector")
    with init_staffed(tmp_path / "home", actor="tester", models=models, settings=settings) as engine:
        enroller = engine.acting_as("enroller")
        enroller.enroll(photos["astronaut"], subject="Eileen Collins", source="scikit-image sample", basis="consent")
        enroller.enroll(photos["hopper"], subject="Grace Hopper", source="matplotlib sample", basis="public-task")
        yield engine


@pytest.mark.model
def test_enroll_identify_erase_on_pgvector(on_pgvector: Engine, postgres_url: str, photos: dict[str, Path]) -> None:
    engine = on_pgvector
    url = postgres_url
    assert _vector_ids(url) == _face_ids(url) and len(_face_ids(url)) == 2  # written with the faces
    info = engine.index_info()
    assert (info.backend, info.size) == ("pgvector", 2)
    graph = _rows(url, f"SELECT indexdef FROM pg_indexes WHERE tablename = '{TABLE}' AND indexdef LIKE '%hnsw%'")
    assert graph and "vector_cosine_ops" in str(graph[0][0])  # the model compares by cosine
    found = engine.acting_as("operator").identify(photos["probe"], purpose="review", case="C-1").faces[0].candidates
    assert found[0].subject == "Eileen Collins" and found[0].clears_threshold
    erased = engine.erase("Eileen Collins", reason="subject's request")
    assert erased.index_entries_removed == 1 and erased.faces_removed == 1
    assert found[0].face_id not in _vector_ids(url)  # the vector row is gone with the face row
    assert _vector_ids(url) == _face_ids(url) and len(_vector_ids(url)) == 1
    after = engine.acting_as("operator").identify(photos["probe"], purpose="review", case="C-1").faces[0].candidates
    assert [c.subject for c in after] == ["Grace Hopper"]
    assert engine.audit_verify().ok


@pytest.mark.model
def test_an_erasure_that_rolls_back_keeps_the_vector(
    on_pgvector: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = on_pgvector
    before = _vector_ids(postgres_url)

    def failing(session: object) -> int:
        raise RuntimeError("the disk filled up half-way through the erasure")

    with monkeypatch.context() as patch:
        patch.setattr(engine.store, "bump_generation", failing)
        with pytest.raises(RuntimeError):
            engine.erase("Eileen Collins", reason="subject's request")
    assert _vector_ids(postgres_url) == before == _face_ids(postgres_url)  # both stay
    assert engine.index_info().size == 2  # and the index is still in step (not rebuilt)
    assert engine.erase("Eileen Collins", reason="subject's request").index_entries_removed == 1


@pytest.mark.model
def test_a_purge_removes_expired_vectors(on_pgvector: Engine, postgres_url: str) -> None:
    engine = on_pgvector
    hopper = {
        int(r[0])
        for r in _rows(
            postgres_url,
            "SELECT f.id FROM faces f JOIN images i ON f.image_id = i.id "
            "JOIN subjects s ON i.subject_id = s.id WHERE s.name = 'Grace Hopper'",
        )
    }
    database = create_engine(postgres_url)
    try:
        with database.begin() as connection:
            connection.execute(
                text(
                    "UPDATE images SET retain_until = '2001-01-01' WHERE subject_id = "
                    "(SELECT id FROM subjects WHERE name = 'Grace Hopper')"
                )
            )
    finally:
        database.dispose()
    certificate = engine.retention.purge()
    assert certificate.faces_removed == 1 and certificate.index_entries_removed == 1
    assert not hopper & _vector_ids(postgres_url)
    assert _vector_ids(postgres_url) == _face_ids(postgres_url) and len(_face_ids(postgres_url)) == 1


@pytest.mark.model
def test_rebuild_and_changed_options_refill_the_table_from_sealed_embeddings(
    on_pgvector: Engine, postgres_url: str, tmp_path: Path, models: DlibModels, photos: dict[str, Path]
) -> None:
    engine = on_pgvector
    stored = _rows(postgres_url, f"SELECT id, embedding::text FROM {TABLE} ORDER BY id")
    database = create_engine(postgres_url)
    try:
        with database.begin() as connection:
            connection.execute(text(f"DELETE FROM {TABLE}"))  # behind the gallery's back
    finally:
        database.dispose()
    info = engine.rebuild_index()
    assert info.size == 2 and _rows(postgres_url, f"SELECT id, embedding::text FROM {TABLE} ORDER BY id") == stored
    engine.close()
    exact = facesearch.Settings(database_url=postgres_url, index_backend="pgvector", pgvector_exact=True)
    with facesearch.open(tmp_path / "home", actor="operator", settings=exact, models=models) as reopened:
        found = reopened.identify(photos["probe"], purpose="review", case="C-2").faces[0].candidates
        assert found[0].subject == "Eileen Collins"  # rebuilt without a graph, searched row by row
        assert not _rows(
            postgres_url, f"SELECT 1 FROM pg_indexes WHERE tablename = '{TABLE}' AND indexdef LIKE '%hnsw%'"
        )
    files = facesearch.Settings(database_url=postgres_url, index_backend="exact")
    with facesearch.open(tmp_path / "home", actor="tester", settings=files, models=models) as back:
        assert back.index_info().backend == "exact"
    assert not _rows(postgres_url, f"SELECT to_regclass('{TABLE}') WHERE to_regclass('{TABLE}') IS NOT NULL")


def test_a_pgvector_gallery_is_deleted_with_its_vector_table(tmp_path: Path, postgres_url: str) -> None:
    from facesearch.lifecycle import delete_gallery

    settings = facesearch.Settings(database_url=postgres_url, index_backend="pgvector")
    with facesearch.init(tmp_path / "home", actor="founder", settings=settings) as engine:
        assert engine.index_info().backend == "pgvector"
    delete_gallery(tmp_path / "home", actor="founder", confirm=True, settings=settings)
    assert _rows(postgres_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == []


def _database_files(url: str) -> list[Path]:
    """The files of this test's database on the server, after a CHECKPOINT wrote every dirty page
    (skips where they cannot be read: a remote server, or not running as root or postgres)."""
    rows = _rows(
        url,
        "SELECT current_setting('data_directory'), (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    folder = Path(str(rows[0][0])) / "base" / str(rows[0][1])
    database = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with database.connect() as connection:
            connection.execute(text("CHECKPOINT"))
    finally:
        database.dispose()
    try:
        files = [f for f in folder.iterdir() if f.is_file()]
        files[0].read_bytes()
    except (OSError, IndexError) as exc:
        pytest.skip(f"the server's files cannot be read here: {exc!r}")
    return files


@pytest.mark.model
def test_an_erased_vector_leaves_the_servers_files_once_the_table_is_rewritten(
    on_pgvector: Engine, postgres_url: str
) -> None:
    """VACUUM leaves a deleted row's bytes in the page's free space (docs/scale-out.md, Erasure);
    the rebuild that the documentation prescribes on a schedule rewrites the table into new files."""
    engine = on_pgvector
    [hopper] = [
        int(r[0])
        for r in _rows(
            postgres_url,
            "SELECT f.id FROM faces f JOIN images i ON f.image_id = i.id "
            "JOIN subjects s ON i.subject_id = s.id WHERE s.name = 'Grace Hopper'",
        )
    ]
    with engine.store.transaction() as session:
        template = engine.store.face_vectors(session, [hopper])[hopper].astype("<f4").tobytes()
    assert any(template in f.read_bytes() for f in _database_files(postgres_url))  # the test can see it
    engine.erase("Grace Hopper", reason="subject's request")
    engine.rebuild_index()
    assert not [f for f in _database_files(postgres_url) if template in f.read_bytes()]
