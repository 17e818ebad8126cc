"""Templates sealed at rest: what is in each file, what a wrong or missing key does, what deleting a
gallery leaves recoverable (nothing), tampering, and the sealing of a gallery from before sealing."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

import facesearch
from facesearch import lifecycle
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import (
    DataKeyMismatchError,
    DataKeyMissingError,
    LegalHoldError,
    MasterKeyError,
    MasterKeyMissingError,
    PermissionDeniedError,
    TamperedDataError,
)
from facesearch.gallery import GalleryStore, ImageRecord
from facesearch.gallery.schema import OptOutRow
from facesearch.gallery.store import OPT_OUT_CONTEXT
from facesearch.governance import accounts
from facesearch.index.addlog import AddLog
from facesearch.index.base import unit_rows
from facesearch.index.keeper import IndexKeeper
from facesearch.pipeline.models import DLIB_RESNET_V1_MIRRORED, DlibModels
from facesearch.storage import crypto, keys
from facesearch.storage.crypto import DataCipher
from facesearch.storage.home import Home
from facesearch.types import AlignedFace, Box, Detection, Embedding, FaceObservation, Metric, Quality

from helpers import as_user, index_bytes, init_staffed, sealed_bytes, vector_bytes

MODEL = DLIB_RESNET_V1_MIRRORED.model_id


def _observation(seed: int) -> FaceObservation:
    vector = np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32)
    aligned = AlignedFace(Detection(Box(1, 2, 81, 82), 1.5, "hog"), ((1, 1),) * 5, np.zeros((150, 150, 3), np.uint8))
    return FaceObservation(aligned, Quality(80, 50.0, 1.5), Embedding(vector, MODEL, Metric.EUCLIDEAN))


def _add_faces(store: GalleryStore, seeds: range, crop: bool = False) -> list[int]:
    """Synthetic faces (one subject each) stored the way enrollment stores them, without the models."""
    ids = []
    with store.transaction() as session:
        for seed in seeds:
            subject = store.ensure_subject(session, f"person {seed}")
            image = ImageRecord(f"{seed:064x}", "p.jpg", "test source", "consent", "tester", None, 100, 100)
            jpeg = b"\xff\xd8" + np.random.default_rng(seed).bytes(10_000) if crop else None
            ids.append(store.add_face(session, subject, observation=_observation(seed), image=image, crop_jpeg=jpeg))
        store.bump_generation(session)
    return ids


def _forms(vector: np.ndarray) -> list[bytes]:
    """Every plaintext form a template could take in a file: float32 and float16, raw and unit length."""
    matrix = np.asarray(vector, np.float32)[None, :]
    return [m.astype(dtype).tobytes() for m in (matrix, unit_rows(matrix)) for dtype in ("<f4", "<f2")]


def _leaks(root: Path, vectors: list[np.ndarray]) -> list[str]:
    """Files under ROOT holding any 16-byte run of any form of any of the vectors."""
    runs = {form[i : i + 16] for v in vectors for form in _forms(v) for i in range(0, len(form) - 15, 16)}
    return [
        f"{path.relative_to(root)}"
        for path in sorted(root.rglob("*"))
        if path.is_file() and any(run in path.read_bytes() for run in runs)
    ]


def _digests(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def gallery(tmp_path: Path) -> Engine:
    """A gallery of three synthetic faces (of dlib's model) with crops, its index built (sealed). No
    models needed."""
    engine = facesearch.init(tmp_path / "home", actor="tester", settings=Settings(recognizer="dlib"))
    _add_faces(engine.store, range(3), crop=True)
    assert engine.index_info().size == 3
    return engine


# --- what is on disk ------------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize("storage", ["float32", "float16"])
def test_no_file_holds_a_template_in_plaintext_after_enrolling(
    tmp_path: Path, photos: dict[str, Path], models: DlibModels, storage: str
) -> None:
    settings = Settings(keep_crops=True, index_storage=storage)
    with init_staffed(tmp_path / "home", actor="tester", models=models, settings=settings) as engine:
        enroller = engine.acting_as("enroller")
        first = enroller.enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
        second = enroller.enroll(photos["hopper"], subject="Grace Hopper", source="s", basis="consent")
        face_ids = [r.images[0].face_id for r in (first, second)]
        index_dir = engine.home.index_dir
        assert (index_dir / "exact.idx").exists() and (index_dir / "exact.log").exists()  # both were written
        vectors = [np.frombuffer(vector_bytes(engine, f), "<f4") for f in face_ids if f is not None]
        assert len(vectors) == 2 and index_bytes(engine)  # the index decrypts, and holds them
        assert _leaks(engine.home.root, vectors) == []
        found = engine.acting_as("operator").identify(photos["probe"], purpose="p", case="c")
        assert found.faces[0].candidates[0].subject == "Eileen Collins"


def test_a_synthetic_gallery_is_sealed_in_the_database_index_and_log(gallery: Engine) -> None:
    with gallery.store.transaction() as session:
        vectors = [v for _, batch in gallery.store.embeddings(session, MODEL) for v in batch]
    assert len(vectors) == 3 and _leaks(gallery.home.root, vectors) == []
    assert np.array_equal(vectors[0], _observation(0).embedding.vector)
    key_file = gallery.home.data_key_file
    assert key_file.stat().st_mode & 0o777 == 0o600 and key_file.parent.stat().st_mode & 0o777 == 0o700
    assert len(sealed_bytes(gallery, 1)) == 128 * 4 + crypto.BLOB_OVERHEAD


def test_init_creates_the_master_key_file_and_open_never_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "config" / "facesearch" / "master.key"
    monkeypatch.setenv(keys.MASTER_KEY_FILE_ENV, str(key_file))
    facesearch.init(tmp_path / "home", actor="tester").close()
    assert key_file.stat().st_mode & 0o777 == 0o600 and key_file.parent.stat().st_mode & 0o777 == 0o700
    assert len(base64.b64decode(key_file.read_text())) == 32
    monkeypatch.setenv(keys.MASTER_KEY_FILE_ENV, str(tmp_path / "elsewhere.key"))
    for attempt in (facesearch.open, facesearch.init):  # a new key could not open this gallery anyway
        with pytest.raises(MasterKeyMissingError, match="no master key"):
            attempt(tmp_path / "home", actor="tester")
    assert not (tmp_path / "elsewhere.key").exists()
    monkeypatch.setenv(keys.MASTER_KEY_ENV, key_file.read_text().strip())  # the key itself, no file
    facesearch.open(tmp_path / "home", actor="tester").close()


# --- a wrong master key ---------------------------------------------------------------------


def test_a_wrong_master_key_is_refused_and_changes_nothing(gallery: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    home = gallery.home.root
    gallery.close()
    before = _digests(home)
    monkeypatch.setenv(keys.MASTER_KEY_ENV, base64.b64encode(secrets.token_bytes(32)).decode())
    for attempt in (facesearch.open, facesearch.init):
        with pytest.raises(MasterKeyError) as refused:
            attempt(home, actor="tester")
        assert refused.value.code == "wrong-master-key"
        assert "does not unlock this gallery's data key" in refused.value.message
    monkeypatch.setenv(keys.MASTER_KEY_ENV, "not base64!")
    with pytest.raises(MasterKeyMissingError, match="not a base64"):
        facesearch.open(home, actor="tester")
    assert _digests(home) == before
    monkeypatch.delenv(keys.MASTER_KEY_ENV)
    with facesearch.open(home, actor="tester") as reopened:
        assert reopened.index_info().size == 3


def test_a_key_file_of_another_gallery_is_refused(gallery: Engine, tmp_path: Path) -> None:
    other = facesearch.init(tmp_path / "other", actor="tester")
    other.close()
    gallery.close()
    shutil.copy(other.home.data_key_file, gallery.home.data_key_file)
    with pytest.raises(DataKeyMismatchError, match="not of this gallery"):
        facesearch.open(gallery.home.root, actor="tester")


# --- deleting a gallery ---------------------------------------------------------------------


def test_after_deletion_a_copy_of_the_database_cannot_be_decrypted(
    gallery: Engine, tmp_path: Path, master_key_file: Path
) -> None:
    home = gallery.home
    gallery.close()
    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copy(home.database, backup / "gallery.sqlite3")  # a backup of the database taken before
    shutil.copytree(home.index_dir, backup / "index")
    snapshot = Home(tmp_path / "snapshot")  # a snapshot sharing the key file's inode (hard link)
    snapshot.keys_dir.mkdir(parents=True)
    os.link(home.data_key_file, snapshot.data_key_file)

    certificate = lifecycle.delete_gallery(home.root, actor="tester", confirm=True)

    assert not home.root.exists()
    assert (certificate.subjects, certificate.images, certificate.faces, certificate.deleted_by) == (3, 3, 3, "tester")
    assert certificate.data_key_destroyed and certificate.files_removed >= 3
    assert "embedding" not in str(certificate.to_dict())
    with pytest.raises(TamperedDataError):  # the key file was overwritten before it was unlinked
        keys.read_data_key(snapshot, keys.load_master_key(Settings()))

    restored = Home(tmp_path / "restored")
    shutil.copytree(backup, restored.root)
    with pytest.raises(DataKeyMissingError) as refused:
        facesearch.open(restored.root, actor="tester")
    assert refused.value.code == "no-data-key"
    # nothing derived from the master key opens a row either: the data key was random, and is gone
    master = keys.load_master_key(Settings())
    with sqlite3.connect(restored.database) as conn:
        [(face_id, blob, gallery_id)] = conn.execute(
            "SELECT f.id, f.embedding, s.gallery_id FROM faces f, gallery_state s ORDER BY f.id LIMIT 1"
        ).fetchall()
    with pytest.raises(TamperedDataError):
        DataCipher(master, gallery_id).unseal(blob, context=b"faces.embedding:%d" % face_id)
    assert _leaks(restored.root, [_observation(s).embedding.vector for s in range(3)]) == []


def test_deleting_needs_an_admin_and_no_legal_hold(gallery: Engine) -> None:
    gallery.accounts.add_user("operator", "operator")
    home = gallery.home.root
    gallery.close()
    with pytest.raises(PermissionDeniedError):
        lifecycle.delete_gallery(home, actor="operator", confirm=True)
    with sqlite3.connect(home / "gallery.sqlite3") as conn:
        [(subject,)] = conn.execute("SELECT id FROM subjects LIMIT 1").fetchall()
        conn.execute(
            "INSERT INTO legal_holds (subject_id, reference, placed_at, placed_by)"
            " VALUES (?, 'LH-1', '2026-01-01', 't')",
            (subject,),
        )
    with pytest.raises(LegalHoldError):
        lifecycle.delete_gallery(home, actor="tester", confirm=True)
    with pytest.raises(facesearch.FacesearchError, match="confirm"):
        lifecycle.delete_gallery(home, actor="tester")
    with sqlite3.connect(home / "gallery.sqlite3") as conn:
        refusals = conn.execute("SELECT actor FROM audit_events WHERE action = 'policy.refused' ORDER BY seq")
        assert [actor for (actor,) in refusals] == ["operator", "tester"]  # both refusals were audited
    with facesearch.open(home, actor="tester") as still_there:
        assert still_there.index_info().size == 3


@pytest.mark.model
def test_the_cli_deletes_a_gallery_only_with_confirmation(gallery: Engine) -> None:
    home = gallery.home.root
    admin = as_user(gallery, "tester")
    gallery.close()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = os.environ | {"FACESEARCH_HOME": str(home), "COLUMNS": "200"} | admin
        command = [sys.executable, "-m", "facesearch", "gallery", "delete", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    unconfirmed = run()
    assert unconfirmed.returncode == 2 and "--confirm" in unconfirmed.stderr and home.exists()
    done = run("--confirm")
    assert done.returncode == 0, done.stderr
    assert "destruction certificate" in done.stdout and "faces: 3" in done.stdout and not home.exists()
    again = run("--confirm")
    assert again.returncode == 5 and "not-initialised" in again.stderr


# --- tampering ------------------------------------------------------------------------------


def test_a_tampered_or_moved_template_is_detected(gallery: Engine) -> None:
    with sqlite3.connect(gallery.home.database) as conn:
        [(first,), (second,)] = conn.execute("SELECT embedding FROM faces ORDER BY id LIMIT 2").fetchall()
        flipped = bytearray(first)
        flipped[40] ^= 1
        conn.execute("UPDATE faces SET embedding = ? WHERE id = 1", (bytes(flipped),))
    with pytest.raises(TamperedDataError) as caught:
        gallery.rebuild_index()
    assert caught.value.code == "tampered-data" and "faces.embedding:1" in caught.value.message
    with sqlite3.connect(gallery.home.database) as conn:  # a whole sealed value moved to another face
        conn.execute("UPDATE faces SET embedding = ? WHERE id = 1", (second,))
    with pytest.raises(TamperedDataError, match="integrity"):
        gallery.rebuild_index()
    with sqlite3.connect(gallery.home.database) as conn:
        conn.execute("UPDATE faces SET embedding = ? WHERE id = 1", (first,))
    assert gallery.rebuild_index().size == 3


def test_a_tampered_index_file_is_rebuilt_from_the_gallery(gallery: Engine) -> None:
    index_file = gallery.home.index_dir / "exact.idx"
    data = bytearray(index_file.read_bytes())
    data[-20] ^= 1
    index_file.write_bytes(bytes(data))
    gallery.store.close()
    with facesearch.open(gallery.home.root, actor="tester") as reopened:
        assert reopened.index_info().size == 3
    assert index_file.read_bytes() != bytes(data)


# --- a gallery from before sealing ------------------------------------------------------------


def test_a_gallery_from_before_sealing_is_sealed_on_first_open(tmp_path: Path) -> None:
    place = Home(tmp_path / "home")
    place.create()
    store = GalleryStore.open_sqlite(place.database)  # no cipher: written as the previous release wrote
    store.migrate()
    with store.transaction() as session:
        store.initialise(session, MODEL)
        accounts.add_user(session, "tester", "admin", by="tester")
    ids = _add_faces(store, range(4), crop=True)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO opt_outs (request_ref, model_id, template, recorded_at, recorded_by)"
            " VALUES ('OO-1', ?, ?, '2026-01-01', 't')",
            (MODEL, _observation(9).embedding.vector.astype("<f4").tobytes()),
        )
    keeper = IndexKeeper(place.index_dir, DLIB_RESNET_V1_MIRRORED)
    with store.transaction() as session:
        keeper.rebuild(session, store)  # a plaintext index file
        content_hash = store.state(session).content_hash
    store.close()
    vectors = [_observation(s).embedding.vector for s in range(4)] + [_observation(9).embedding.vector]
    assert _leaks(place.root, vectors) == ["gallery.sqlite3", "index/exact.idx"]
    assert not place.data_key_file.exists()

    with facesearch.open(place.root, actor="tester") as engine:
        assert place.data_key_file.exists() and list(place.index_dir.iterdir()) == []
        assert _leaks(place.root, vectors) == []
        with engine.store.transaction() as session:
            assert engine.store.state(session).content_hash == content_hash  # of the plaintext: unchanged
            crop = engine.store.face_crop(session, ids[0])
            template = session.scalars(select(OptOutRow.template)).one()
        assert crop is not None and crop[:2] == b"\xff\xd8"
        assert engine.store.unseal(template, context=OPT_OUT_CONTEXT) == vectors[-1].astype("<f4").tobytes()
        assert engine.index_info().size == 4  # rebuilt, sealed
        assert _leaks(place.root, vectors) == []
    with facesearch.open(place.root, actor="tester") as again:  # sealed once only
        assert again.index_info().size == 4


# --- the sealing primitives -------------------------------------------------------------------


def test_sealed_files_detect_reordered_and_truncated_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "CHUNK", 1000)
    cipher = DataCipher(secrets.token_bytes(32), "g")
    path = tmp_path / "f"
    for size in (0, 999, 1000, 1001, 3000, 3456):
        data = np.random.default_rng(size).bytes(size)
        with open(path, "wb") as handle:
            writer = cipher.writer(handle, context=b"f")
            writer.write(data[:10])
            writer.write(data[10:])
            writer.close()
        assert cipher.read_file(path, context=b"f").tobytes() == data
        with pytest.raises(TamperedDataError):
            cipher.read_file(path, context=b"other file")
    sealed = path.read_bytes()
    header, chunk = crypto.FILE_HEADER, 1000 + crypto.NONCE + crypto.TAG
    for damaged in (
        sealed[: header + 3 * chunk],  # cut at a chunk boundary
        sealed[:header] + sealed[header + chunk : header + 2 * chunk] + sealed[header + chunk :],  # reordered
        sealed[:-1],
    ):
        path.write_bytes(damaged)
        with pytest.raises(TamperedDataError):
            cipher.read_file(path, context=b"f")


def test_sealed_add_log_records_are_chained(tmp_path: Path) -> None:
    cipher = DataCipher(secrets.token_bytes(32), "g")
    log = AddLog(tmp_path / "exact.log", 4, cipher)
    log.start(5)
    for n in range(3):
        log.append(6 + n, f"{n:064x}", np.array([n], np.int64), np.full((1, 4), n, np.float32))
    assert [r[0] for r in log.replay(5)] == [6, 7, 8] and list(log.replay(4)) == []
    data = log.path.read_bytes()
    record = (len(data) - (8 + 8 + 16)) // 3
    log.path.write_bytes(data[: 32 + record] + data[32 + 2 * record :])  # the middle record dropped
    assert [r[0] for r in log.replay(5)] == [6]
    assert b"\x00\x00\x80\x3f" not in data  # 1.0f is nowhere in plaintext
