"""Evaluation: datasets, pairs and groups files, the 1:1 / 1:N protocols and per-group figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesearch.errors import DatasetError
from facesearch.evaluation.dataset import load_dataset, read_groups, read_lfw_pairs
from facesearch.evaluation.groups import group_report
from facesearch.evaluation.protocols import genuine_pairs, identification_searches, impostor_pairs
from facesearch.types import Metric

from helpers import require_lfw


def _tree(root: Path, layout: dict[str, int]) -> Path:
    for identity, count in layout.items():
        (root / identity).mkdir(parents=True)
        for n in range(1, count + 1):
            (root / identity / f"{identity}_{n:04d}.jpg").write_bytes(b"not decoded by these tests")
    return root


def test_dataset_is_one_folder_per_identity(tmp_path: Path) -> None:
    root = _tree(tmp_path / "ds", {"Bob": 2, "Ann": 3, "Empty": 0})
    (root / "notes.txt").write_text("ignored")
    dataset = load_dataset(root)
    assert dataset.identities == ("Ann", "Bob")
    assert [dataset.relative(i) for i in range(len(dataset))][:2] == ["Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg"]
    assert dataset.identity_of.tolist() == [0, 0, 0, 1, 1]


@pytest.mark.parametrize("layout", ["missing", "flat"])
def test_a_folder_that_is_not_a_dataset_is_refused_by_name(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "ds"
    if layout == "flat":
        root.mkdir()
        (root / "photo.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match="ds"):
        load_dataset(root)


def test_groups_from_label_files_and_from_a_csv(tmp_path: Path) -> None:
    (tmp_path / "men.txt").write_text("Bob_0001.jpg\nBob_0002.jpg\nSam_0001.jpg\n")
    (tmp_path / "women.txt").write_text("Ann_0001.jpg\nSam_0001.jpg\n")  # Sam listed twice: conflict
    (tmp_path / "groups.csv").write_text("# name,group\nCy_0001.jpg,b\nDi_0001.jpg\ta\n")
    groups, conflicts = read_groups([f"m={tmp_path / 'men.txt'}", f"f={tmp_path / 'women.txt'}"])
    assert groups == {"Bob_0001.jpg": "m", "Bob_0002.jpg": "m", "Ann_0001.jpg": "f"}
    assert conflicts == {"Sam_0001.jpg"}
    assert read_groups([str(tmp_path / "groups.csv")])[0] == {"Cy_0001.jpg": "b", "Di_0001.jpg": "a"}
    (tmp_path / "bad.csv").write_text("Cy_0001.jpg\n")
    with pytest.raises(DatasetError, match="line 1"):
        read_groups([str(tmp_path / "bad.csv")])
    with pytest.raises(DatasetError, match="cannot read groups file"):
        read_groups([str(tmp_path / "absent.csv")])


def test_lfw_pairs_file_is_read_into_folds(tmp_path: Path) -> None:
    dataset = load_dataset(_tree(tmp_path / "ds", {"Ann": 2, "Bob": 2}))
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2 1\nAnn 1 2\nAnn 1 Bob 1\nBob 1 2\nAnn 2 Bob 2\n")
    parsed = read_lfw_pairs(pairs, dataset)
    assert parsed.same.tolist() == [True, False, True, False]
    assert parsed.fold.tolist() == [0, 0, 1, 1]
    assert [dataset.relative(int(i)) for i in parsed.b[:2]] == ["Ann/Ann_0002.jpg", "Bob/Bob_0001.jpg"]
    pairs.write_text("1 1\nAnn 1 7\nAnn 1 Bob 1\n")
    with pytest.raises(DatasetError, match="line 2: no photo Ann #7"):
        read_lfw_pairs(pairs, dataset)
    pairs.write_text("1 1\nAnn 1\n")
    with pytest.raises(DatasetError, match="line 2"):
        read_lfw_pairs(pairs, dataset)


@pytest.mark.lfw
def test_the_real_lfw_pairs_list_has_ten_folds_of_600() -> None:
    lfw = require_lfw()
    parsed = read_lfw_pairs(lfw / "pairs.txt", load_dataset(lfw))
    assert len(parsed.same) == 6000 and int(parsed.same.sum()) == 3000
    assert np.bincount(parsed.fold).tolist() == [600] * 10


def _unit(*indices: int, dim: int = 256) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    v[list(indices)] = 1
    return v / np.linalg.norm(v)


def test_genuine_and_impostor_pairs_cover_every_pair_once() -> None:
    ids = np.array([0, 0, 0, 1, 1, 2])
    vectors = np.stack([_unit(i) for i in range(6)])
    vectors[5] = np.nan  # no face found: in no comparison
    genuine = genuine_pairs(vectors, ids, Metric.COSINE)
    assert sorted(zip(genuine.a.tolist(), genuine.b.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2), (3, 4)]
    impostor, sampled = impostor_pairs(vectors, ids, Metric.COSINE)
    assert not sampled and len(impostor) == 3 * 2
    sample, sampled = impostor_pairs(vectors, ids, Metric.COSINE, limit=4, seed=3)
    assert sampled and len(sample) == 4
    assert (sample.identity_a != sample.identity_b).all()


def test_identification_ranks_mates_against_the_gallery() -> None:
    # identities 0-3, two photos each; identity 3's second photo looks more like identity 2
    ids = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4])
    vectors = np.stack([_unit(0), _unit(0), _unit(1), _unit(1), _unit(2), _unit(2), _unit(3), _unit(2, 3, 2), _unit(9)])
    vectors[7] = vectors[7] + 0.3 * _unit(2)
    searches = identification_searches(vectors, ids, Metric.COSINE, holdout=0.0)
    assert searches.gallery_size == 5  # the first photo of each identity; identity 4 is a distractor
    assert searches.ranks.tolist() == [1, 1, 1, 2]
    assert len(searches.nonmated_top) == 0
    held = identification_searches(vectors, ids, Metric.COSINE, holdout=0.4, seed=1)
    assert held.held_out_identities == 2 and held.gallery_size == 3
    assert len(held.mate_scores) + len(held.nonmated_top) + held.gallery_size == 9


def _group_dataset() -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Two groups of 40 identities, two photos each, built so that at score 0.5:

    - group a: identities 0-19 share a direction (their impostor pairs score 0.5), 20-39 do not
      (score 0); identities 20-24 have a second photo unlike the first (genuine score 0);
    - group b: all 40 identities share a direction; identities 0-9 have an unlike second photo.
    """
    vectors, ids, labels = [], [], []
    shared_a, shared_b = 250, 251
    for i in range(40):
        first = _unit(i, shared_a) if i < 20 else _unit(i)
        vectors += [first, _unit(100 + i) if 20 <= i < 25 else first]
        ids += [i, i]
        labels += ["a", "a"]
    for j in range(40):
        first = _unit(40 + j, shared_b)
        vectors += [first, _unit(150 + j) if j < 10 else first]
        ids += [40 + j, 40 + j]
        labels += ["b", "b"]
    return np.stack(vectors), np.asarray(ids), labels


def test_per_group_rates_recover_a_constructed_differential() -> None:
    vectors, ids, labels = _group_dataset()
    genuine = genuine_pairs(vectors, ids, Metric.COSINE)
    impostor, _ = impostor_pairs(vectors, ids, Metric.COSINE)
    report = group_report(vectors, ids, Metric.COSINE, labels, genuine, impostor, 0.25, 10**6)
    # impostor pairs scoring 0.5: a: C(40,2) - 20 = 760 of 3,120; b: C(70,2) - 30 = 2,385 of 3,120;
    # overall 3,145 of C(160,2) - 80 = 12,640, within the 0.25 target, so the threshold is 0.5
    assert report.threshold == pytest.approx(0.5)
    assert report.overall_fmr == pytest.approx(3145 / 12640)
    a, b = report.groups
    assert (a.group, b.group) == ("a", "b")
    assert (a.impostor_pairs, b.impostor_pairs) == (3120, 3120)
    assert a.fmr == pytest.approx(760 / 3120) and b.fmr == pytest.approx(2385 / 3120)
    assert a.fmr_ratio == pytest.approx((760 / 3120) / (3145 / 12640))
    assert report.fmr_differential == pytest.approx(2385 / 760)
    # genuine pairs below 0.5: a 5 of 40, b 10 of 40, overall 15 of 80
    assert report.overall_fnmr == pytest.approx(15 / 80)
    assert (a.fnmr, b.fnmr) == (pytest.approx(0.125), pytest.approx(0.25))
    assert report.fnmr_differential == pytest.approx(2.0)
    # group a reaches the target at 0.5 itself; b needs a stricter threshold, above all its 0.5s
    assert a.threshold_for_target_fmr == pytest.approx(0.5)
    assert b.threshold_for_target_fmr is not None and b.threshold_for_target_fmr > a.threshold_for_target_fmr
    assert a.notes == b.notes == ()


def test_a_group_too_small_for_a_figure_says_so() -> None:
    vectors, ids, labels = _group_dataset()
    labels = ["tiny" if k < 6 else g for k, g in enumerate(labels)]  # 3 identities, 6 photos
    genuine = genuine_pairs(vectors, ids, Metric.COSINE)
    impostor, _ = impostor_pairs(vectors, ids, Metric.COSINE)
    report = group_report(vectors, ids, Metric.COSINE, labels, genuine, impostor, 0.01, 10**6)
    tiny = next(g for g in report.groups if g.group == "tiny")
    assert tiny.fmr is None and tiny.threshold_for_target_fmr is None and tiny.fnmr is None
    assert any("insufficient data" in n for n in tiny.notes)
