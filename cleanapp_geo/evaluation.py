"""Quality metrics of a grouping against planted ground truth.

Conventions shared by every function:

* ``labels_true`` holds one planted incident per report (the ``incident_id`` column of
  :func:`cleanapp_geo.synthetic.make_reports`); ``-1`` marks background.
* ``labels_pred`` holds any integer label per report; ``-1`` marks an ungrouped report.
* In both, **every** ``-1`` is a singleton cluster of its own, never one big "noise"
  cluster. Other labels (including other negative values) are ordinary cluster labels.

All counts are exact (int64 contingency counts, pair totals in Python integers) and
vectorised: one :func:`numpy.unique` over the label pairs, no loop over reports or pairs.
Pair counts follow :func:`sklearn.metrics.cluster.pair_confusion_matrix` (unordered pairs
here, where scikit-learn counts ordered ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "BCubedScores",
    "PairwiseScores",
    "adjusted_rand",
    "bcubed",
    "candidate_recall",
    "evaluate_clustering",
    "pairwise_scores",
]

#: The label that makes a report a singleton cluster.
SINGLETON = -1


@dataclass(frozen=True, slots=True)
class PairwiseScores:
    """Pair-counting precision and recall of a grouping.

    A pair of reports is *true* when both lie in the same planted incident and
    *predicted* when both lie in the same predicted cluster; *correct* pairs are both.

    Attributes
    ----------
    precision : float
        ``correct_pairs / predicted_pairs``; 1.0 when no pair is predicted (nothing was
        grouped, so nothing was grouped wrongly).
    recall : float
        ``correct_pairs / true_pairs``; 1.0 when there is no true pair (nothing to find).
    f1 : float
        Harmonic mean of precision and recall; 0.0 when both are 0.
    true_pairs : int
        Unordered pairs in the same true cluster.
    predicted_pairs : int
        Unordered pairs in the same predicted cluster.
    correct_pairs : int
        Unordered pairs in the same true and the same predicted cluster.
    """

    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int


@dataclass(frozen=True, slots=True)
class BCubedScores:
    """B-cubed precision and recall: per-report scores averaged over reports.

    For a report ``e`` with true cluster ``T(e)`` and predicted cluster ``P(e)``,
    precision is ``|T(e) ∩ P(e)| / |P(e)|`` and recall ``|T(e) ∩ P(e)| / |T(e)|``; both are
    averaged over all reports (1.0 for no reports).

    Attributes
    ----------
    precision : float
        Mean per-report precision, in [0, 1].
    recall : float
        Mean per-report recall, in [0, 1].
    f1 : float
        Harmonic mean of the two means.
    """

    precision: float
    recall: float
    f1: float


@dataclass(frozen=True, slots=True)
class _Contingency:
    n: int
    cell: npt.NDArray[np.int64]  # sizes of the non-empty (true, predicted) cells
    cell_true: npt.NDArray[np.int64]  # size of each cell's true cluster
    cell_pred: npt.NDArray[np.int64]  # size of each cell's predicted cluster
    true_sizes: npt.NDArray[np.int64]
    pred_sizes: npt.NDArray[np.int64]


def pairwise_scores(labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike) -> PairwiseScores:
    """Pairwise precision, recall and F1 of a grouping, computed exactly.

    Parameters
    ----------
    labels_true : array-like of int, shape (n,)
        Planted incident per report; ``-1`` is a singleton (background).
    labels_pred : array-like of int, shape (n,)
        Predicted cluster per report; ``-1`` is a singleton.

    Returns
    -------
    PairwiseScores
        Precision, recall, F1 and the three pair counts. Precision is 1.0 when no pair is
        predicted and recall is 1.0 when there is no true pair.

    Raises
    ------
    ValueError
        When the label arrays are not one-dimensional integer arrays of equal length.

    Examples
    --------
    >>> s = pairwise_scores([0, 0, 0, -1], [5, 5, -1, -1])
    >>> s.true_pairs, s.predicted_pairs, s.correct_pairs
    (3, 1, 1)
    >>> round(s.precision, 3), round(s.recall, 3), round(s.f1, 3)
    (1.0, 0.333, 0.5)
    """
    table = _contingency(labels_true, labels_pred)
    true_pairs = _pairs(table.true_sizes)
    predicted_pairs = _pairs(table.pred_sizes)
    correct_pairs = _pairs(table.cell)
    precision = correct_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = correct_pairs / true_pairs if true_pairs else 1.0
    return PairwiseScores(
        precision=precision,
        recall=recall,
        f1=_harmonic(precision, recall),
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct_pairs,
    )


def adjusted_rand(labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike) -> float:
    """Compute the adjusted Rand index of a grouping, with every ``-1`` a singleton.

    Equal to :func:`sklearn.metrics.adjusted_rand_score` on the labels after each ``-1``
    got a fresh label, computed from exact pair counts: 1.0 for identical partitions
    (also for fewer than two reports), about 0.0 for random ones, negative below chance.

    Parameters
    ----------
    labels_true : array-like of int, shape (n,)
        Planted incident per report; ``-1`` is a singleton.
    labels_pred : array-like of int, shape (n,)
        Predicted cluster per report; ``-1`` is a singleton.

    Returns
    -------
    float
        The adjusted Rand index.

    Raises
    ------
    ValueError
        When the label arrays are not one-dimensional integer arrays of equal length.

    Examples
    --------
    >>> adjusted_rand([0, 0, 1, 1], [3, 3, 7, 7])
    1.0
    >>> adjusted_rand([0, 0, -1, -1], [-1, -1, 4, 4])
    -0.2
    """
    table = _contingency(labels_true, labels_pred)
    tp = _pairs(table.cell)
    fp = _pairs(table.pred_sizes) - tp
    fn = _pairs(table.true_sizes) - tp
    tn = table.n * (table.n - 1) // 2 - tp - fp - fn
    if fn == 0 and fp == 0:  # identical partitions (sklearn's special case)
        return 1.0
    # Python integers: exact, no overflow even for millions of reports.
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def bcubed(labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike) -> BCubedScores:
    """B-cubed precision, recall and F1 of a grouping.

    Parameters
    ----------
    labels_true : array-like of int, shape (n,)
        Planted incident per report; ``-1`` is a singleton.
    labels_pred : array-like of int, shape (n,)
        Predicted cluster per report; ``-1`` is a singleton.

    Returns
    -------
    BCubedScores
        Mean per-report precision and recall and their harmonic mean; all 1.0 when there
        are no reports.

    Raises
    ------
    ValueError
        When the label arrays are not one-dimensional integer arrays of equal length.

    Examples
    --------
    >>> s = bcubed([0, 0, -1], [1, 1, 1])
    >>> round(s.precision, 4), s.recall
    (0.5556, 1.0)
    """
    table = _contingency(labels_true, labels_pred)
    if table.n == 0:
        return BCubedScores(precision=1.0, recall=1.0, f1=1.0)
    squared = table.cell.astype(np.float64) ** 2
    # fsum: exactly rounded, so the result does not depend on the order of the cells
    precision = math.fsum(squared / table.cell_pred) / table.n
    recall = math.fsum(squared / table.cell_true) / table.n
    return BCubedScores(precision=precision, recall=recall, f1=_harmonic(precision, recall))


def evaluate_clustering(
    labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike, *, incident_only: bool = False
) -> dict[str, float]:
    """All quality metrics of a grouping in one flat dictionary (ready for JSON).

    Parameters
    ----------
    labels_true : array-like of int, shape (n,)
        Planted incident per report; ``-1`` is a singleton (background).
    labels_pred : array-like of int, shape (n,)
        Predicted cluster per report; ``-1`` is a singleton.
    incident_only : bool, default False
        Score only the reports whose true label is not ``-1``. With mostly background,
        ARI over all reports is inflated (every background report left alone counts as
        right), so report both.

    Returns
    -------
    dict of str to float
        ``n_reports``, ``pairwise_precision``, ``pairwise_recall``, ``pairwise_f1``,
        ``true_pairs``, ``predicted_pairs``, ``correct_pairs``, ``ari``,
        ``bcubed_precision``, ``bcubed_recall`` and ``bcubed_f1``. Counts are ints.

    Raises
    ------
    ValueError
        When the label arrays are not one-dimensional integer arrays of equal length.

    Examples
    --------
    >>> m = evaluate_clustering([0, 0, -1, -1], [2, 2, 2, -1], incident_only=True)
    >>> m["n_reports"], m["pairwise_f1"], m["ari"]
    (2, 1.0, 1.0)
    """
    true, pred = _checked(labels_true, labels_pred)
    if incident_only:
        keep = true != SINGLETON
        true, pred = true[keep], pred[keep]
    pairwise = pairwise_scores(true, pred)
    b3 = bcubed(true, pred)
    return {
        "n_reports": len(true),
        "pairwise_precision": pairwise.precision,
        "pairwise_recall": pairwise.recall,
        "pairwise_f1": pairwise.f1,
        "true_pairs": pairwise.true_pairs,
        "predicted_pairs": pairwise.predicted_pairs,
        "correct_pairs": pairwise.correct_pairs,
        "ari": adjusted_rand(true, pred),
        "bcubed_precision": b3.precision,
        "bcubed_recall": b3.recall,
        "bcubed_f1": b3.f1,
    }


def candidate_recall(
    true_pairs: tuple[npt.ArrayLike, npt.ArrayLike],
    candidate_pairs: tuple[npt.ArrayLike, npt.ArrayLike],
    n: int,
) -> float:
    """Share of the true pairs that a candidate generator produced.

    Pairs are unordered (``(i, j)`` matches ``(j, i)``) and repeated pairs count once.

    Parameters
    ----------
    true_pairs : tuple of array-like of int
        ``(i, j)`` positional indices of the true pairs, e.g. from
        :func:`cleanapp_geo.synthetic.incident_pairs`.
    candidate_pairs : tuple of array-like of int
        ``(i, j)`` positional indices of the candidate pairs.
    n : int
        Number of reports; every index must lie in ``[0, n)``.

    Returns
    -------
    float
        The recall, in [0, 1]; 1.0 when there is no true pair.

    Raises
    ------
    ValueError
        When the two index arrays of a pair set differ in length or are not integer, or
        an index lies outside ``[0, n)``.

    Examples
    --------
    >>> candidate_recall(([0, 0, 2], [1, 2, 3]), ([1, 3, 5], [0, 2, 4]), n=6)
    0.6666666666666666
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    true_keys = np.unique(_pair_keys(true_pairs, n, "true_pairs"))
    if len(true_keys) == 0:
        return 1.0
    candidate_keys = _pair_keys(candidate_pairs, n, "candidate_pairs")
    found = np.isin(true_keys, candidate_keys)
    return float(np.count_nonzero(found)) / len(true_keys)


# --- helpers ---------------------------------------------------------------------------------


def _checked(
    labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    arrays = []
    for name, labels in (("labels_true", labels_true), ("labels_pred", labels_pred)):
        array = np.asarray(labels)
        if array.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
        arrays.append(array.astype(np.int64, copy=False))
    true, pred = arrays
    if len(true) != len(pred):
        raise ValueError(
            f"labels_true and labels_pred must have the same length, got {len(true)} "
            f"and {len(pred)}"
        )
    return true, pred


def _dense(labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Labels as 0..k-1, with every ``-1`` turned into a label of its own."""
    _, dense = np.unique(labels, return_inverse=True)
    dense = dense.astype(np.int64).reshape(-1)
    singleton = labels == SINGLETON
    top = int(dense.max()) + 1 if len(dense) else 0
    dense[singleton] = top + np.arange(np.count_nonzero(singleton))
    return dense


def _contingency(labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike) -> _Contingency:
    true, pred = _checked(labels_true, labels_pred)
    t = _dense(true)
    p = _dense(pred)
    n = len(t)
    true_sizes = np.bincount(t).astype(np.int64)
    pred_sizes = np.bincount(p).astype(np.int64)
    n_pred = len(pred_sizes)
    cells, cell = np.unique(t * n_pred + p, return_counts=True)
    return _Contingency(
        n=n,
        cell=cell.astype(np.int64),
        cell_true=true_sizes[cells // max(n_pred, 1)],
        cell_pred=pred_sizes[cells % max(n_pred, 1)],
        true_sizes=true_sizes,
        pred_sizes=pred_sizes,
    )


def _pairs(sizes: npt.NDArray[np.int64]) -> int:
    """Count the unordered pairs within groups of the given sizes (exact)."""
    return int(np.sum(sizes * (sizes - 1) // 2, dtype=np.int64))


def _harmonic(precision: float, recall: float) -> float:
    total = precision + recall
    return 2.0 * precision * recall / total if total > 0 else 0.0


def _pair_keys(
    pairs: tuple[npt.ArrayLike, npt.ArrayLike], n: int, name: str
) -> npt.NDArray[np.int64]:
    i, j = (np.asarray(side).reshape(-1) for side in pairs)
    if len(i) != len(j):
        raise ValueError(f"{name} sides must have equal lengths, got {len(i)} and {len(j)}")
    for side in (i, j):
        if side.size and not np.issubdtype(side.dtype, np.integer):
            raise ValueError(f"{name} must hold integer indices, got dtype {side.dtype}")
    i = i.astype(np.int64, copy=False)
    j = j.astype(np.int64, copy=False)
    if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
        raise ValueError(f"{name} indices must lie in [0, {n}), for n = {n} reports")
    return np.minimum(i, j) * n + np.maximum(i, j)
