"""The contract every VectorIndex backend passes; the exact index is the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contract.backends import DIM, MODEL, Backend, face_like
from facesearch.errors import IndexCorruptError, ModelMismatchError
from facesearch.index import ExactIndex
from facesearch.index.files import file_context
from facesearch.index.pgvector import PgVectorIndex
from facesearch.types import Metric


def _reference_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    distances = np.linalg.norm(queries[:, None, :].astype(np.float64) - vectors[None, :, :], axis=2)
    return ids[np.argsort(distances, axis=1, kind="stable")[:, :k]]


def test_recall_at_10_against_brute_force(backend: Backend, tmp_path: Path) -> None:
    ids, vectors, _ = face_like(identities=2000, per_identity=3)
    index = backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    index.add(ids, vectors)
    rng = np.random.default_rng(1)
    queries = vectors[rng.choice(len(vectors), 200, replace=False)] + rng.normal(0, 0.02, (200, DIM)).astype(np.float32)
    hits = index.search(queries, 10)
    truth = _reference_top(vectors, ids, queries, 10)
    recall = np.mean([len(set(h) & set(t)) / 10 for h, t in zip(hits.ids, truth, strict=True)])
    assert recall >= 0.99
    assert np.all(np.diff(hits.scores, axis=1) <= 1e-6), "results must be best first"


def test_every_vector_finds_itself_first_with_score_one(backend: Backend, tmp_path: Path) -> None:
    ids, vectors, _ = face_like(identities=50, per_identity=2)
    index = backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    index.add(ids, vectors)
    hits = index.search(vectors, 1)
    assert np.array_equal(hits.ids[:, 0], ids)
    assert np.allclose(hits.scores[:, 0], 1.0, atol=1e-3)


def test_scores_are_one_minus_euclidean_distance(backend: Backend, tmp_path: Path) -> None:
    ids, vectors, _ = face_like(identities=20, per_identity=1)
    index = backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    index.add(ids, vectors)
    hits = index.search(vectors[:1], 20)
    expected = 1.0 - np.linalg.norm(vectors[hits.ids[0] // 7 - 1] - vectors[0], axis=1)
    assert np.allclose(hits.scores[0], expected, atol=max(1e-4, backend.score_tolerance))


def test_cosine_metric_scores_are_cosine_similarity(backend: Backend, tmp_path: Path) -> None:
    index = backend.create(tmp_path / "i", Metric.COSINE)
    a = np.zeros((2, DIM), np.float32)
    a[0, 0], a[1, :2] = 2.0, (1.0, 1.0)
    index.add(np.array([1, 2]), a)
    hits = index.search(a[:1], 2)
    assert list(hits.ids[0]) == [1, 2]
    assert np.allclose(hits.scores[0], [1.0, np.sqrt(0.5)], atol=backend.score_tolerance)


def test_fewer_than_k_are_padded(backend: Backend, tmp_path: Path) -> None:
    index = backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    empty = index.search(np.zeros((2, DIM), np.float32), 3)
    assert empty.ids.shape == (2, 3) and np.all(empty.ids == -1) and np.all(np.isneginf(empty.scores))
    ids, vectors, _ = face_like(identities=2, per_identity=1)
    index.add(ids, vectors)
    hits = index.search(vectors[:1], 5)
    assert list(hits.ids[0][:2]) == [ids[0], ids[1]] and list(hits.ids[0][2:]) == [-1, -1, -1]


def test_remove_takes_vectors_out_of_results(backend: Backend, tmp_path: Path) -> None:
    ids, vectors, _ = face_like(identities=100, per_identity=2)
    index = backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    index.add(ids, vectors)
    gone = ids[:10]
    assert index.remove(np.concatenate([gone, [999_999]])) == 10
    assert len(index) == 190
    assert index.remove(gone) == 0
    hits = index.search(vectors[:10], 5)
    assert not np.isin(hits.ids, gone).any()
    assert set(index.ids().tolist()) == set(ids[10:].tolist())


def test_heavy_removal_keeps_results_exact_and_ids_reusable(backend: Backend, tmp_path: Path) -> None:
    ids, vectors, _ = face_like(identities=500, per_identity=2)
    index = backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    index.add(ids, vectors)
    gone = np.arange(0, len(ids), 3)  # a third of the faces
    assert index.remove(ids[gone]) == len(gone)
    keep = np.setdiff1d(np.arange(len(ids)), gone)
    hits = index.search(vectors[keep[:50]], 10)
    truth = _reference_top(vectors[keep], ids[keep], vectors[keep[:50]], 10)
    assert np.mean([len(set(h) & set(t)) / 10 for h, t in zip(hits.ids, truth, strict=True)]) >= 0.99
    index.add(ids[gone[:5]], vectors[gone[:5]])  # an id may come back after removal
    assert np.array_equal(index.search(vectors[gone[:5]], 1).ids[:, 0], ids[gone[:5]])
    assert len(index) == len(keep) + 5


def test_add_refuses_duplicate_ids_and_wrong_dimension(backend: Backend, tmp_path: Path) -> None:
    index = backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    ids, vectors, _ = face_like(identities=3, per_identity=1)
    index.add(ids, vectors)
    with pytest.raises(ValueError, match="already"):
        index.add(ids[:1], vectors[:1])
    with pytest.raises(ValueError, match="dimension"):
        index.add(np.array([1000]), np.zeros((1, DIM + 1), np.float32))
    assert len(index) == 3


def test_persist_and_reopen_gives_same_results(backend: Backend, tmp_path: Path) -> None:
    ids, vectors, _ = face_like(identities=300, per_identity=2)
    index = backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    index.add(ids, vectors)
    index.remove(ids[:5])
    index.save(generation=42)
    before = index.search(vectors[:20], 10)
    reopened = backend.reopen(tmp_path / "i", Metric.EUCLIDEAN)
    after = reopened.search(vectors[:20], 10)
    assert reopened.info.generation == 42 and reopened.info.model_id == MODEL and len(reopened) == len(index)
    assert np.array_equal(before.ids, after.ids)
    assert np.allclose(before.scores, after.scores)


def test_removed_vector_bytes_leave_the_index_file(backend: Backend, tmp_path: Path) -> None:
    if backend.database:
        pytest.skip(
            "a database backend writes no index file; the server's files are checked in "
            "test_pgvector.py::test_an_erased_vector_leaves_the_servers_files_once_the_table_is_rewritten"
        )
    if backend.server:
        pytest.skip(
            "a Milvus backend writes no index file; the server's files are checked in "
            "test_milvus.py::test_an_erased_vector_leaves_milvus_files_after_compaction"
        )
    ids, vectors, _ = face_like(identities=30, per_identity=1)
    index = backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    index.add(ids, vectors)
    index.save(generation=1)
    secrets = [vectors[7].tobytes(), vectors[7].astype(np.float16).tobytes()]  # as stored: float32 or float16

    def on_disk() -> list[bytes]:
        files = [f.read_bytes() for f in tmp_path.rglob("*") if f.is_file()]
        if backend.cipher is not None:  # nothing in plaintext; what the sealed files hold, decrypted
            assert not [s for s in secrets if any(s in data for data in files)]
            files = [backend.cipher.read_file(f, context=file_context(f)).tobytes() for f in tmp_path.rglob("*")]
        return [s for s in secrets if any(s in data for data in files)]

    assert on_disk(), "the test must see the vector on disk before it is removed"
    index.remove(ids[7:8])
    index.save(generation=2)
    assert not on_disk()


def test_reopen_detects_foreign_model_and_corruption(tmp_path: Path) -> None:
    ids, vectors, _ = face_like(identities=5, per_identity=1)
    index = ExactIndex(MODEL, DIM, Metric.EUCLIDEAN, tmp_path / "i")
    index.add(ids, vectors)
    index.save(generation=1)
    with pytest.raises(ModelMismatchError):
        ExactIndex.load(tmp_path / "i", "another_model", DIM, Metric.EUCLIDEAN)
    (tmp_path / "i").write_bytes((tmp_path / "i").read_bytes()[:100])
    with pytest.raises(IndexCorruptError):
        ExactIndex.load(tmp_path / "i", MODEL, DIM, Metric.EUCLIDEAN)


def test_a_database_index_changes_with_the_callers_transaction(database_backend: Backend, tmp_path: Path) -> None:
    """Erasure takes a face out of the gallery and the index in one transaction: rolled back, both stay."""
    ids, vectors, _ = face_like(identities=4, per_identity=1)
    index = database_backend.create(tmp_path / "i", Metric.EUCLIDEAN)
    assert isinstance(index, PgVectorIndex)
    index.add(ids, vectors)
    with pytest.raises(RuntimeError), index.engine.begin() as connection:
        assert index.remove_in(connection, ids[:1]) == 1
        raise RuntimeError("the gallery's part of the erasure failed")
    assert len(index) == 4
    with index.engine.begin() as connection:
        index.remove_in(connection, ids[:1])
        index.add_in(connection, np.array([1000]), vectors[:1])
    assert sorted(index.ids().tolist()) == sorted([*ids[1:].tolist(), 1000])
