"""A gallery whose vector index is Milvus (setting index_backend = "milvus"), on a real server:
vectors reach Milvus through the outbox, a process killed at each step of a write loses nothing and
doubles nothing, a search never returns an erased face, and what an erasure leaves in Milvus's
files is measured (docs/scale-out.md, Milvus)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import facesearch
from facesearch import lifecycle
from facesearch.engine import Engine
from facesearch.errors import ConfigError, GalleryError
from facesearch.gallery import GalleryStore
from facesearch.gallery.schema import VectorOutboxRow
from facesearch.index.base import unit_rows
from facesearch.index.milvus import MilvusIndex, connect
from facesearch.pipeline.models import DlibModels
from facesearch.pipeline.recognizers.sface import SFACE_MIRRORED
from facesearch.storage.home import Home
from facesearch.types import Metric
from milvus_fixtures import MilvusServer

from helpers import init_staffed


def test_milvus_needs_an_address_and_sane_options() -> None:
    with pytest.raises(ConfigError, match="milvus_uri"):
        facesearch.Settings(index_backend="milvus")
    with pytest.raises(ConfigError, match="milvus_ef_construction"):
        facesearch.Settings(index_backend="milvus", milvus_uri="http://db:19530", milvus_ef_construction=10)
    with pytest.raises(ConfigError, match="milvus_shards"):
        facesearch.Settings(index_backend="milvus", milvus_uri="http://db:19530", milvus_shards=0)
    with pytest.raises(ConfigError, match="milvus_consistency"):
        facesearch.Settings(index_backend="milvus", milvus_uri="http://db:19530", milvus_consistency="eventually")


def _settings(url: str, collection: str) -> facesearch.Settings:
    return facesearch.Settings(index_backend="milvus", milvus_uri=url, milvus_collection=collection)


@pytest.fixture
def on_milvus(
    tmp_path: Path, milvus_url: str, milvus_collection: str, models: DlibModels, photos: dict[str, Path]
) -> Iterator[Engine]:
    """Eileen Collins and Grace Hopper enrolled in an SQLite gallery indexed by Milvus."""
    settings = _settings(milvus_url, milvus_collection)
    with init_staffed(tmp_path / "home", actor="tester", models=models, settings=settings) as engine:
        enroller = engine.acting_as("enroller")
        enroller.enroll(photos["astronaut"], subject="Eileen Collins", source="scikit-image sample", basis="consent")
        enroller.enroll(photos["hopper"], subject="Grace Hopper", source="matplotlib sample", basis="public-task")
        yield engine


def _milvus(engine: Engine, url: str, collection: str) -> MilvusIndex:
    spec = engine.spec
    return MilvusIndex.load(connect(url), collection, spec.model_id, spec.dimension, spec.metric)


def _face_ids(engine: Engine, subject: str | None = None) -> set[int]:
    with engine.store.transaction() as session:
        if subject is None:
            return {int(i) for ids, _ in engine.store.embeddings(session, engine.spec.model_id) for i in ids}
        ref = engine.store.require_subject(session, subject)
        return {int(i) for i in engine.store.subject_face_ids(session, ref.subject_id)}


def _outbox(engine: Engine) -> int:
    with engine.store.transaction() as session:
        return session.query(VectorOutboxRow).count()


def _in_step(engine: Engine, index: MilvusIndex) -> None:
    """Milvus holds exactly the gallery's faces, each once, stamped with the gallery's state."""
    held = index.ids()
    assert len(held) == len(set(held.tolist())) == len(index), "a vector is in Milvus twice"
    assert set(held.tolist()) == _face_ids(engine)
    assert _outbox(engine) == 0
    index.open()
    with engine.store.transaction() as session:
        state = engine.store.state(session)
        assert (index.generation, index.state_hash) == (state.generation, state.content_hash)


@pytest.mark.model
def test_enroll_identify_erase_on_milvus(
    on_milvus: Engine, milvus_url: str, milvus_collection: str, photos: dict[str, Path]
) -> None:
    engine = on_milvus
    index = _milvus(engine, milvus_url, milvus_collection)
    _in_step(engine, index)
    assert engine.index_info().backend == "milvus" and engine.index_info().size == 2
    found = engine.acting_as("operator").identify(photos["probe"], purpose="review", case="C-1").faces[0].candidates
    assert found[0].subject == "Eileen Collins" and found[0].clears_threshold
    erased = engine.erase("Eileen Collins", reason="subject's request")
    assert erased.index_entries_removed == 1 and erased.faces_removed == 1
    assert found[0].face_id not in index.ids().tolist()
    _in_step(engine, index)
    after = engine.acting_as("operator").identify(photos["probe"], purpose="review", case="C-1").faces[0].candidates
    assert [c.subject for c in after] == ["Grace Hopper"]
    assert engine.audit_verify().ok


@pytest.mark.model
def test_at_bounded_consistency_an_erased_face_is_never_a_candidate(
    tmp_path: Path, milvus_url: str, milvus_collection: str, models: DlibModels, photos: dict[str, Path]
) -> None:
    """Searches that do not wait for Milvus's time tick may be answered before Milvus applies a
    delete; the erased face must still never come back, since candidates are faces the gallery holds."""
    settings = _settings(milvus_url, milvus_collection).replace(milvus_consistency="bounded")
    with init_staffed(tmp_path / "home", actor="tester", models=models, settings=settings) as engine:
        enroller = engine.acting_as("enroller")
        enroller.enroll(photos["astronaut"], subject="Eileen Collins", source="scikit-image sample", basis="consent")
        enroller.enroll(photos["hopper"], subject="Grace Hopper", source="matplotlib sample", basis="public-task")
        operator = engine.acting_as("operator")
        deadline = time.monotonic() + 30  # a bounded search sees new rows within Milvus's graceful time
        while True:
            found = operator.identify(photos["probe"], purpose="review", case="C-1").faces[0].candidates
            if [c.subject for c in found][:1] == ["Eileen Collins"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert found[0].subject == "Eileen Collins"
        engine.erase("Eileen Collins", reason="subject's request")
        for _ in range(5):  # at once, then again while Milvus may still hold the deleted row
            after = operator.identify(photos["probe"], purpose="review", case="C-1").faces[0].candidates
            assert "Eileen Collins" not in [c.subject for c in after]
        assert engine.audit_verify().ok


# What the killed process runs: open the gallery, arm the kill at STEP, then enroll or erase.
_CRASHING = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import facesearch
    from facesearch.index.milvus import MilvusIndex
    from facesearch.index.milvuskeeper import MilvusKeeper
    from facesearch.pipeline.models import DlibModels

    home, url, collection, op, step, photo = sys.argv[1:7]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def then_die(method):
        def wrapped(*args, **kwargs):
            method(*args, **kwargs)
            die()
        return wrapped

    settings = facesearch.Settings(index_backend="milvus", milvus_uri=url, milvus_collection=collection)
    with facesearch.open(home, actor="tester", settings=settings, models=DlibModels()) as engine:
        engine.index_info()  # opened and in step: the kill is armed for the write only
        if step == "in-transaction":  # outbox rows written, the gallery's transaction not committed
            MilvusKeeper.stage_stamp = then_die(MilvusKeeper.stage_stamp)
        elif step == "after-commit":  # the gallery committed, nothing applied to Milvus
            MilvusKeeper._apply = die
        elif step == "after-milvus-write":  # Milvus changed, not stamped, the outbox not emptied
            MilvusIndex.upsert = then_die(MilvusIndex.upsert)
            MilvusIndex.delete = then_die(MilvusIndex.delete)
        elif step == "after-stamp":  # Milvus changed and stamped, the outbox rows not yet deleted
            MilvusIndex.stamp = then_die(MilvusIndex.stamp)
        if op == "enroll":
            engine.acting_as("enroller").enroll(Path(photo), subject="Ada", source="a test", basis="consent")
        else:
            engine.erase("Grace Hopper", reason="subject's request")
    sys.exit(3)  # not killed: the step was never reached
    """
)
STEPS = ["in-transaction", "after-commit", "after-milvus-write", "after-stamp"]


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("op", ["enroll", "erase"])
def test_a_process_killed_at_each_step_loses_nothing_and_doubles_nothing(
    on_milvus: Engine,
    milvus_url: str,
    milvus_collection: str,
    models: DlibModels,
    photos: dict[str, Path],
    op: str,
    step: str,
) -> None:
    engine = on_milvus
    home = engine.home.root
    hopper = _face_ids(engine, "Grace Hopper")
    engine.close()
    killed = subprocess.run(
        [sys.executable, "-c", _CRASHING, str(home), milvus_url, milvus_collection, op, step, str(photos["probe"])],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    index = MilvusIndex.load(
        connect(milvus_url), milvus_collection, engine.spec.model_id, engine.spec.dimension, engine.spec.metric
    )
    committed = step != "in-transaction"
    if op == "erase" and step == "after-commit":
        assert hopper <= set(index.ids().tolist())  # the erasure committed, Milvus is behind...
    with facesearch.open(
        home, actor="tester", settings=_settings(milvus_url, milvus_collection), models=models
    ) as reopened:
        found = reopened.acting_as("operator").identify(photos["hopper"], purpose="review", case="C-9").faces[0]
        names = [c.subject for c in found.candidates]
        if op == "erase":
            assert ("Grace Hopper" in names) is not committed  # ...and no search returns her face
            assert (hopper <= set(index.ids().tolist())) is not committed
        else:
            assert ("Ada" in [s.name for s in reopened.subjects()]) is committed
            assert len(_face_ids(reopened)) == (3 if committed else 2)
        _in_step(reopened, index)


@pytest.mark.slow
def test_compaction_leaves_no_sealed_segment_holding_a_deleted_row(milvus_url: str, milvus_collection: str) -> None:
    """Milvus 2.3 compacts only segments whose index is built: right after a flush, a segment of
    more than 1,024 rows (below that none is built) is still being indexed, and a compaction asked
    for then completes no plan, leaving the deleted row in it. compact() waits for the index, then
    compacts until the sealed segments hold only the rows the collection does."""
    index = MilvusIndex.create(connect(milvus_url), milvus_collection, "m", 128, Metric.COSINE)
    rows = 3000
    index.upsert(np.arange(rows), np.random.default_rng(0).standard_normal((rows, 128)).astype(np.float32), 0)
    index.compact()
    assert index.sealed_rows() == len(index) == rows
    index.delete(np.array([7, 8]))
    assert index.compact() >= 1
    assert index.sealed_rows() == len(index) == rows - 2


def _holding(folder: Path, needle: bytes) -> list[str]:
    """The server's data files (segments, delete logs, indexes, the write-ahead log) that hold NEEDLE."""
    found = []
    for path in sorted((folder / "data").rglob("*")):
        try:
            if path.is_file() and needle in path.read_bytes():
                found.append(path.relative_to(folder / "data").as_posix())
        except OSError:  # a file removed while the server compacts
            continue
    return found


@pytest.mark.model
@pytest.mark.slow
def test_an_erased_vector_leaves_milvus_segment_files_after_compaction_and_garbage_collection(
    on_milvus: Engine, milvus_server: MilvusServer, milvus_collection: str
) -> None:
    """docs/scale-out.md, Milvus: erasure. The erasure compacts the collection; with the garbage
    collection a deployment must configure (tests/milvus_fixtures.py, ERASURE_CONFIG), the old
    segment's files go within seconds. The write-ahead log still holds the vector (its retention
    is the deployment's to bound): asserted, so that a change in Milvus shows here."""
    if milvus_server.folder is None:
        pytest.skip("the Milvus server's files are out of reach ($FACESEARCH_TEST_MILVUS_URL)")
    engine = on_milvus
    [hopper] = _face_ids(engine, "Grace Hopper")
    with engine.store.transaction() as session:
        vector = engine.store.face_vectors(session, [hopper])[hopper]
    if engine.spec.metric is Metric.COSINE:  # stored as a unit vector, to the bit as MilvusIndex makes it
        vector = unit_rows(vector[None])[0]
    needle = vector.astype("<f4").tobytes()
    index = _milvus(engine, milvus_server.url, milvus_collection)
    index.compact()  # sealed into segment files, as a gallery's vectors are once Milvus flushes them
    folder = milvus_server.folder
    before = _holding(folder, needle)
    assert [f for f in before if f.startswith("insert_log/")], f"the test must see it first: {before}"
    engine.erase("Grace Hopper", reason="subject's request")  # deletes, then flushes and compacts
    # The erasure's compaction returned once no sealed segment holds the erased row: what is left is
    # for Milvus to index the new segment, then for the garbage collection (every 5 s here) to
    # delete the old segment's files. Its wait is bounded; the test's condition is the files themselves.
    sealed, live = index.sealed_rows(), len(index)
    assert sealed == live == 1, f"after the erasure's compaction: {sealed} sealed rows, {live} live"
    segments = _until(lambda: [f for f in _holding(folder, needle) if not f.startswith("rocksmq")], within_s=120)
    assert segments == [], "the old segment's files outlived the garbage collection"
    wal = _holding(folder, needle)
    assert [f for f in wal if f.startswith("rocksmq")], f"the WAL dropped it, update the docs: {wal} (before: {before})"


def _until(files: Callable[[], list[str]], within_s: float) -> list[str]:
    """FILES() once it is empty, or its last answer when ``within_s`` seconds have passed."""
    deadline = time.monotonic() + within_s
    while (found := files()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def _collections(url: str, prefix: str) -> set[str]:
    from facesearch.index.milvus import pymilvus_module

    return {c for c in pymilvus_module().utility.list_collections(using=connect(url)) if c.startswith(prefix)}


@pytest.mark.model
def test_deleting_a_gallery_drops_its_milvus_collections_once_milvus_answers(
    on_milvus: Engine, milvus_url: str, milvus_collection: str
) -> None:
    """Through the outbox: a DROP row committed, the collections dropped, the row deleted, then the
    gallery destroyed. With Milvus out of reach nothing is deleted and the row waits; deleting
    again drops them."""
    engine = on_milvus
    home = engine.home.root
    assert _collections(milvus_url, milvus_collection) == {milvus_collection, f"{milvus_collection}_state"}
    engine.close()
    unreachable = _settings("http://127.0.0.1:9", milvus_collection)  # the discard port: nothing listens
    with pytest.raises(GalleryError, match="could not be dropped"):
        lifecycle.delete_gallery(home, actor="tester", confirm=True, settings=unreachable)
    assert (home / "keys").is_dir() and _collections(milvus_url, milvus_collection)  # nothing deleted
    store = GalleryStore.open_sqlite(Home(home).database)
    try:
        with store.transaction() as session:
            assert [r.op for r in session.query(VectorOutboxRow)] == ["drop"]
    finally:
        store.close()
    certificate = lifecycle.delete_gallery(
        home, actor="tester", confirm=True, settings=_settings(milvus_url, milvus_collection)
    )
    assert certificate.faces == 2 and certificate.data_key_destroyed and not home.exists()
    assert _collections(milvus_url, milvus_collection) == set()


@pytest.mark.model
@pytest.mark.slow
def test_a_model_move_drops_the_old_models_collection(
    tmp_path: Path, milvus_url: str, milvus_collection: str, models: DlibModels, photos: dict[str, Path]
) -> None:
    from facesearch.index.milvus import pymilvus_module

    settings = facesearch.Settings(
        recognizer="dlib", index_backend="milvus", milvus_uri=milvus_url, milvus_collection=milvus_collection
    )
    with init_staffed(tmp_path / "home", actor="tester", models=models, settings=settings) as engine:
        enroller = engine.acting_as("enroller")
        enroller.enroll(photos["astronaut"], subject="Eileen Collins", source="scikit-image", basis="consent")
        enroller.enroll(photos["hopper"], subject="Grace Hopper", source="matplotlib", basis="public-task")
        alias = connect(milvus_url)
        pymilvus = pymilvus_module()
        before = pymilvus.Collection(milvus_collection, using=alias).describe()["collection_id"]
        back = tmp_path / "back"
        back.mkdir()
        for name in ("astronaut", "hopper"):
            (back / f"{name}.jpg").write_bytes(photos[name].read_bytes())
        engine.move_model(back, to="sface")
        after = pymilvus.Collection(milvus_collection, using=alias).describe()["collection_id"]
        assert after != before  # the dlib collection was dropped, a new one made for sface
        assert _collections(milvus_url, milvus_collection) == {milvus_collection, f"{milvus_collection}_state"}
        index = _milvus(engine, milvus_url, milvus_collection)
        assert index.model_id == SFACE_MIRRORED.model_id and len(index) == 2
        _in_step(engine, index)
