"""How well a clustering matches the truth: pairwise and BCubed precision, recall and F1.

Both are computed from the contingency table (how many faces of each true identity fell in each
predicted cluster), never by looping over the n² pairs, so they score a 100k-face clustering in
milliseconds.

- **Pairwise**: over pairs of faces. Precision is the share of pairs put in one cluster that show
  one person; recall the share of pairs of one person that were put in one cluster. Dominated by
  the largest identities (pairs grow with the square of a cluster's size).
- **BCubed** (Bagga and Baldwin 1998; Amigó et al. 2009): per face, precision is the share of its
  cluster that shows its person and recall the share of its person's faces in its cluster;
  averaged over faces. Every face counts once, so small identities (most of a real gallery)
  weigh as much as large ones.

Conventions: a clustering that puts no two faces together has pairwise precision 1 (it claims
nothing wrong); truth with no two faces of one person gives pairwise recall 1 (nothing to find).
F1 is 0 when precision and recall are both 0. No faces at all: every score is 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt


@dataclasses.dataclass(frozen=True)
class PRF:
    """Precision, recall and their harmonic mean F1."""

    precision: float
    recall: float
    f1: float


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2.0 * precision * recall / total if total > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class Contingency:
    """The non-empty cells of the predicted x true table: ``counts[c]`` faces are in predicted
    cluster ``pred[c]`` and true class ``true[c]``; ``pred_sizes`` / ``true_sizes`` are the
    sizes of every predicted cluster / true class (indexed by the dense ids in ``pred`` / ``true``)."""

    counts: npt.NDArray[np.int64]
    pred: npt.NDArray[np.int64]
    true: npt.NDArray[np.int64]
    pred_sizes: npt.NDArray[np.int64]
    true_sizes: npt.NDArray[np.int64]


def contingency(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> Contingency:
    """The contingency table of two labelings of the same faces (any integer labels)."""
    pred_labels = np.asarray(predicted).reshape(-1)
    true_labels = np.asarray(truth).reshape(-1)
    if pred_labels.shape != true_labels.shape:
        raise ValueError(f"{pred_labels.shape[0]} predicted labels for {true_labels.shape[0]} true labels")
    p = np.unique(pred_labels, return_inverse=True)[1].reshape(-1).astype(np.int64)
    t = np.unique(true_labels, return_inverse=True)[1].reshape(-1).astype(np.int64)
    n_true = int(t.max()) + 1 if t.size else 0
    cell_keys, counts = np.unique(p * max(n_true, 1) + t, return_counts=True)
    return Contingency(
        counts=counts.astype(np.int64),
        pred=(cell_keys // max(n_true, 1)).astype(np.int64),
        true=(cell_keys % max(n_true, 1)).astype(np.int64),
        pred_sizes=np.bincount(p).astype(np.int64),
        true_sizes=np.bincount(t).astype(np.int64),
    )


def _pairs(sizes: npt.NDArray[np.int64]) -> float:
    return float(np.sum(sizes * (sizes - 1)) / 2)


def pairwise_prf(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> PRF:
    """Pairwise precision, recall and F1 of ``predicted`` cluster labels against ``truth``."""
    table = contingency(predicted, truth)
    if table.counts.size == 0:
        return PRF(1.0, 1.0, 1.0)
    together = _pairs(table.counts)  # pairs in one cluster that show one person
    predicted_pairs, true_pairs = _pairs(table.pred_sizes), _pairs(table.true_sizes)
    precision = together / predicted_pairs if predicted_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    return PRF(precision, recall, _f1(precision, recall))


def bcubed_prf(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> PRF:
    """BCubed precision, recall and F1: each face in cell (cluster i, class j) has precision
    n_ij / |cluster i| and recall n_ij / |class j|; both are averaged over faces."""
    table = contingency(predicted, truth)
    n = int(table.counts.sum())
    if n == 0:
        return PRF(1.0, 1.0, 1.0)
    squares = table.counts.astype(np.float64) ** 2
    precision = float(np.sum(squares / table.pred_sizes[table.pred])) / n
    recall = float(np.sum(squares / table.true_sizes[table.true])) / n
    return PRF(precision, recall, _f1(precision, recall))
