"""The exact index's blocked search gives the same answer as one product over every row."""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.index import exact
from facesearch.index.exact import ExactIndex
from facesearch.types import Metric


@pytest.mark.parametrize("metric", [Metric.EUCLIDEAN, Metric.COSINE])
def test_blocked_search_matches_brute_force(monkeypatch: pytest.MonkeyPatch, metric: Metric) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(0, 0.1, (1000, 128)).astype(np.float32)
    ids = np.arange(1000, dtype=np.int64) * 3 + 1
    index = ExactIndex("m", 128, metric)
    for part in np.array_split(np.arange(1000), 7):  # many adds: the matrix grows in place
        index.add(ids[part], vectors[part])
    index.remove(ids[::10])
    monkeypatch.setattr(exact, "BLOCK_ROWS", 64)  # 15 blocks, each smaller than k for some queries
    queries = vectors[:25] + rng.normal(0, 0.01, (25, 128)).astype(np.float32)
    hits = index.search(queries, 70)

    keep = np.setdiff1d(np.arange(1000), np.arange(0, 1000, 10))
    if metric is Metric.COSINE:
        unit = vectors[keep] / np.linalg.norm(vectors[keep], axis=1, keepdims=True)
        truth = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    else:
        truth = 1 - np.linalg.norm(queries[:, None, :] - vectors[keep][None, :, :], axis=2)
    order = np.argsort(-truth, axis=1)[:, :70]
    assert np.array_equal(hits.ids, ids[keep][order])
    assert np.allclose(hits.scores, np.take_along_axis(truth, order, axis=1), atol=1e-5)
