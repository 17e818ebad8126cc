"""Clustering on constructed embeddings with known groups, constraints, and the cluster measures
against cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.clustering import METHODS, Constraints, Method, bcubed_prf, cluster, knn_graph, pairwise_prf
from facesearch.clustering.algorithms import consistent_groups
from facesearch.scoring.scores import score_matrix
from facesearch.types import Metric

GROUPS = 20
OUTLIERS = 12
THRESHOLD = 0.8  # members of a group score about 0.9 with each other, strangers about 0 +- 0.09


def constructed(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """20 random unit centres in 128-d, 5-30 noisy members each, then outliers (labels -1, -2, ...)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(GROUPS, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.repeat(np.arange(GROUPS), rng.integers(5, 31, GROUPS))
    members = centres[truth] + rng.normal(0.0, 0.03, (len(truth), 128))
    outliers = rng.normal(size=(OUTLIERS, 128))
    vectors = np.vstack([members, outliers]).astype(np.float32)
    return vectors, np.concatenate([truth, -1 - np.arange(OUTLIERS)])


@pytest.mark.parametrize("method", METHODS)
def test_each_method_recovers_the_groups_and_leaves_outliers_alone(method: Method) -> None:
    vectors, truth = constructed()
    labels = cluster(vectors, Metric.COSINE, threshold=THRESHOLD, method=method)
    assert labels.dtype == np.int64 and labels.shape == truth.shape
    assert set(labels.tolist()) == set(range(int(labels.max()) + 1))  # 0..m-1
    assert bcubed_prf(labels, truth).f1 == pytest.approx(1.0)
    assert pairwise_prf(labels, truth).f1 == pytest.approx(1.0)
    outliers = labels[truth < 0]
    assert len(set(outliers.tolist())) == OUTLIERS
    assert not np.isin(outliers, labels[truth >= 0]).any()


@pytest.mark.parametrize("method", METHODS)
def test_euclidean_scores_cluster_too(method: Method) -> None:
    vectors, truth = constructed(1)
    vectors = vectors * 0.5  # scale: members ~0.21 apart, strangers ~0.7 apart
    labels = cluster(vectors, Metric.EUCLIDEAN, threshold=0.6, method=method)
    assert bcubed_prf(labels, truth).f1 == pytest.approx(1.0)


@pytest.mark.parametrize("method", METHODS)
def test_labels_are_deterministic_for_a_seed(method: Method) -> None:
    vectors, _ = constructed(2)
    noisy = vectors + np.random.default_rng(9).normal(0.0, 0.05, vectors.shape).astype(np.float32)
    first = cluster(noisy, Metric.COSINE, threshold=0.6, method=method, seed=3)
    again = cluster(noisy, Metric.COSINE, threshold=0.6, method=method, seed=3)
    np.testing.assert_array_equal(first, again)


def test_a_high_threshold_leaves_everyone_alone_and_a_low_one_chains_components() -> None:
    vectors, _ = constructed()
    alone = cluster(vectors, Metric.COSINE, threshold=0.9999)
    np.testing.assert_array_equal(alone, np.arange(len(vectors)))
    chained = cluster(vectors, Metric.COSINE, threshold=-1.0, method="connected-components")
    assert (chained == 0).all()


@pytest.mark.parametrize("method", METHODS)
def test_a_must_link_across_two_groups_merges_them(method: Method) -> None:
    vectors, truth = constructed()
    a, b = int(np.flatnonzero(truth == 3)[0]), int(np.flatnonzero(truth == 7)[-1])
    labels = cluster(vectors, Metric.COSINE, threshold=THRESHOLD, method=method, constraints=Constraints(((a, b),)))
    assert labels[a] == labels[b]
    both = np.isin(truth, [3, 7])
    assert len(set(labels[both].tolist())) == 1
    assert not np.isin(labels[~both], labels[a]).any()


@pytest.mark.parametrize("method", METHODS)
def test_a_cannot_link_inside_a_group_splits_it(method: Method) -> None:
    vectors, truth = constructed()
    faces = np.flatnonzero(truth == 5)
    a, b = int(faces[0]), int(faces[1])
    labels = cluster(
        vectors, Metric.COSINE, threshold=THRESHOLD, method=method, constraints=Constraints(cannot_link=((a, b),))
    )
    assert labels[a] != labels[b]
    assert set(labels[faces].tolist()) == {labels[a], labels[b]}  # split in two, nothing else touched
    others = truth != 5
    assert bcubed_prf(labels[others], truth[others]).f1 == pytest.approx(1.0)


def test_a_split_follows_similarity() -> None:
    """One group made of two tight halves, cannot-linked across: each half follows its seed."""
    rng = np.random.default_rng(4)
    centre = rng.normal(size=128)
    centre /= np.linalg.norm(centre)
    shift = rng.normal(size=128)
    shift -= shift @ centre * centre
    shift *= 0.35 / np.linalg.norm(shift)
    halves = np.repeat([0, 1], 10)
    vectors = centre + np.where(halves[:, None] == 0, shift, -shift) + rng.normal(0.0, 0.01, (20, 128))
    assert score_matrix(vectors, vectors, Metric.COSINE).min() > 0.7  # one cluster without the constraint
    assert len(set(cluster(vectors, Metric.COSINE, threshold=0.7).tolist())) == 1
    labels = cluster(vectors, Metric.COSINE, threshold=0.7, constraints=Constraints(cannot_link=((0, 19),)))
    np.testing.assert_array_equal(labels, halves)


@pytest.mark.parametrize("method", METHODS)
def test_cannot_link_wins_over_a_chain_of_must_links(method: Method) -> None:
    vectors, truth = constructed()
    a, b, c = (int(np.flatnonzero(truth == g)[0]) for g in (1, 2, 3))
    constraints = Constraints(must_link=((a, b), (b, c)), cannot_link=((a, c),))
    labels = cluster(vectors, Metric.COSINE, threshold=THRESHOLD, method=method, constraints=constraints)
    assert labels[a] != labels[c]
    assert labels[a] == labels[b]  # the first must-link holds; the second would join a and c
    assert consistent_groups(len(vectors), constraints).ignored_must_links == ((b, c),)


def test_many_constraints_hold_together() -> None:
    vectors, truth = constructed(5)
    rng = np.random.default_rng(6)
    n = len(vectors)
    must = tuple((int(a), int(b)) for a, b in rng.integers(0, n, (15, 2)))
    cannot = tuple((int(a), int(b)) for a, b in rng.integers(0, n, (15, 2)) if a != b)
    constraints = Constraints(must, cannot)
    ignored = set(consistent_groups(n, constraints).ignored_must_links)
    for method in METHODS:
        labels = cluster(vectors, Metric.COSINE, threshold=THRESHOLD, method=method, constraints=constraints)
        assert all(labels[a] != labels[b] for a, b in cannot)
        assert all(labels[a] == labels[b] for a, b in must if (a, b) not in ignored)


def test_bad_constraints_are_refused() -> None:
    vectors, _ = constructed()
    with pytest.raises(ValueError, match="outside"):
        cluster(vectors, Metric.COSINE, threshold=THRESHOLD, constraints=Constraints(((0, len(vectors)),)))
    with pytest.raises(ValueError, match="twice"):
        cluster(vectors, Metric.COSINE, threshold=THRESHOLD, constraints=Constraints(cannot_link=((4, 4),)))
    with pytest.raises(ValueError, match="unknown clustering method"):
        cluster(vectors, Metric.COSINE, threshold=THRESHOLD, method="kmeans")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", METHODS)
def test_empty_and_single_inputs(method: Method) -> None:
    empty = cluster(np.empty((0, 128), dtype=np.float32), Metric.COSINE, threshold=0.5, method=method)
    assert empty.dtype == np.int64 and empty.shape == (0,)
    one = cluster(np.ones((1, 128), dtype=np.float32), Metric.COSINE, threshold=0.5, method=method)
    np.testing.assert_array_equal(one, [0])
    two = np.ones((2, 128), dtype=np.float32)
    np.testing.assert_array_equal(cluster(two, Metric.COSINE, threshold=0.5, method=method, min_samples=2), [0, 0])
    pair_is_not_dense = cluster(two, Metric.COSINE, threshold=0.5, method=method, min_samples=3)
    np.testing.assert_array_equal(pair_is_not_dense, [0, 1] if method == "dbscan" else [0, 0])


def test_knn_graph_keeps_each_edge_once_above_the_threshold() -> None:
    vectors, truth = constructed()
    rows, cols, scores = knn_graph(vectors, Metric.COSINE, 5, THRESHOLD)
    assert (rows < cols).all() and (scores >= THRESHOLD).all()
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) == len(rows)
    assert (truth[rows] == truth[cols]).all()
    full = score_matrix(vectors, vectors, Metric.COSINE)
    np.testing.assert_allclose(scores, full[rows, cols], atol=1e-5)
    degree = np.bincount(rows, minlength=len(truth)) + np.bincount(cols, minlength=len(truth))
    assert (degree[truth < 0] == 0).all()
    assert (degree[truth >= 0] >= 4).all()  # its own 4+ neighbours; more where others chose it


def test_knn_graph_through_hnsw_finds_the_same_edges_on_easy_data() -> None:
    vectors, _ = constructed()
    exact = knn_graph(vectors, Metric.COSINE, 10, THRESHOLD, index="exact")
    approx = knn_graph(vectors, Metric.COSINE, 10, THRESHOLD, index="hnsw")
    np.testing.assert_array_equal(exact[0], approx[0])
    np.testing.assert_array_equal(exact[1], approx[1])


# --- cluster measures, against hand-computed examples ------------------------------------------


def test_pairwise_measures_by_hand() -> None:
    # truth: {0,1,2} {3,4}; predicted: {0,1} {2,3,4}
    truth, predicted = [0, 0, 0, 1, 1], [7, 7, 9, 9, 9]
    # predicted pairs: 1 + 3 = 4; true pairs: 3 + 1 = 4; right pairs: (0,1) and (3,4) = 2
    score = pairwise_prf(predicted, truth)
    assert score.precision == pytest.approx(2 / 4)
    assert score.recall == pytest.approx(2 / 4)
    assert score.f1 == pytest.approx(0.5)


def test_bcubed_measures_by_hand() -> None:
    truth, predicted = [0, 0, 0, 1, 1], [7, 7, 9, 9, 9]
    # precision per face: 0,1: 2/2; 2: 1/3; 3,4: 2/3 -> (1 + 1 + 1/3 + 2/3 + 2/3) / 5
    # recall per face: 0,1: 2/3; 2: 1/3; 3,4: 2/2 -> (2/3 + 2/3 + 1/3 + 1 + 1) / 5
    score = bcubed_prf(predicted, truth)
    assert score.precision == pytest.approx((11 / 3) / 5)
    assert score.recall == pytest.approx((11 / 3) / 5)
    assert score.f1 == pytest.approx((11 / 3) / 5)


def test_all_singletons_and_all_in_one() -> None:
    truth = [0, 0, 1, 1, 1, 2]
    alone = np.arange(6)
    assert pairwise_prf(alone, truth).precision == 1.0  # no pair claimed, none wrong
    assert pairwise_prf(alone, truth).recall == 0.0
    assert pairwise_prf(alone, truth).f1 == 0.0
    b = bcubed_prf(alone, truth)
    assert b.precision == 1.0 and b.recall == pytest.approx((1 / 2 + 1 / 2 + 1 / 3 + 1 / 3 + 1 / 3 + 1) / 6)
    together = np.zeros(6)
    assert pairwise_prf(together, truth).precision == pytest.approx(4 / 15)  # 1 + 3 right of 15
    assert pairwise_prf(together, truth).recall == 1.0
    assert bcubed_prf(together, truth).precision == pytest.approx((2 * 2 / 6 + 3 * 3 / 6 + 1 / 6) / 6)


def test_measures_of_perfect_and_empty_clusterings() -> None:
    assert pairwise_prf([3, 3, 5], [0, 0, 1]).f1 == 1.0
    assert bcubed_prf([3, 3, 5], [0, 0, 1]).f1 == 1.0
    assert pairwise_prf([], []).f1 == 1.0 and bcubed_prf([], []).f1 == 1.0
    with pytest.raises(ValueError):
        pairwise_prf([0, 1], [0])
