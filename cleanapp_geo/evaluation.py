"""Quality metrics of a grouping against planted ground truth or a city's duplicate labels.

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

:func:`duplicate_scores` judges a grouping against real labels instead: a city marks a
request as a duplicate of an earlier one (and sometimes names that parent), which is a
statement about one report and its past, not a partition. See
:mod:`cleanapp_geo.realdata` for reading such labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from cleanapp_geo.errors import InvalidLabelledDataError

__all__ = [
    "BCubedScores",
    "DuplicateScores",
    "PairwiseScores",
    "adjusted_rand",
    "bcubed",
    "candidate_recall",
    "duplicate_scores",
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


@dataclass(frozen=True, slots=True)
class DuplicateScores:
    """How a grouping agrees with a city's duplicate labels.

    A report *has an earlier groupmate* when its group holds a report that came before it:
    an earlier ``ts`` or, at an equal ``ts``, an earlier row. A label of ``-1`` is a group
    of its own.

    Attributes
    ----------
    dup_recall : float
        ``duplicates_found / n_duplicates``: share of the labelled duplicates that have an
        earlier groupmate; NaN when there is no labelled duplicate.
    false_dup_rate : float
        ``false_dups / (n - n_duplicates)``: share of the reports not labelled duplicate
        that have an earlier groupmate; NaN when every report is a labelled duplicate.
    parent_recall : float
        ``parent_pairs_found / n_parent_pairs``: share of the (parent, child) pairs whose
        two reports share a group; NaN when there is no pair.
    n : int
        Reports.
    n_duplicates : int
        Reports labelled duplicate.
    n_parent_pairs : int
        (parent, child) pairs with both reports in the data.
    duplicates_found : int
        Labelled duplicates with an earlier groupmate.
    false_dups : int
        Reports not labelled duplicate with an earlier groupmate.
    parent_pairs_found : int
        Parent pairs in one group.
    multi_report_groups : int
        Groups of two or more reports.
    reports_grouped : int
        Reports in groups of two or more.
    """

    dup_recall: float
    false_dup_rate: float
    parent_recall: float
    n: int
    n_duplicates: int
    n_parent_pairs: int
    duplicates_found: int
    false_dups: int
    parent_pairs_found: int
    multi_report_groups: int
    reports_grouped: int

    def to_dict(self) -> dict[str, float | int]:
        """Return the scores and counts as a flat dictionary (NaN stays NaN)."""
        return {name: getattr(self, name) for name in self.__slots__}


def duplicate_scores(
    labels: pd.DataFrame, groups: npt.ArrayLike, ts: pd.Series | npt.ArrayLike
) -> DuplicateScores:
    """Score a grouping against a city's duplicate labels.

    A city closes a request as a duplicate when an *earlier* request reports the same
    thing. So a labelled duplicate counts as found when its group holds an earlier report
    (*dup recall*), and a report the city kept counts as falsely grouped when its group
    holds an earlier report (*false-dup rate*). Neither asks which earlier report: cities
    rarely name it. When they do (``parent_seq``), *parent recall* asks whether parent and
    child share a group.

    "Earlier" is by ``ts``, then by row order: with date-only timestamps (every report of
    a day at 00:00) the file order decides, so the first report of a day in a group is
    the one without an earlier groupmate.

    Parameters
    ----------
    labels : pandas.DataFrame
        One row per report, as :func:`cleanapp_geo.realdata.read_labelled_reports`
        returns: ``seq`` (unique integers), ``is_duplicate`` (bool, no missing value) and
        ``parent_seq`` (the ``seq`` of the parent; missing when none). A ``parent_seq``
        that is not a ``seq`` of ``labels`` (the parent is not in the data) is no pair.
        Other columns are ignored.
    groups : array-like of int, shape (n,)
        Group label of each report, in the row order of ``labels``; ``-1`` is a
        singleton.
    ts : pandas.Series or array-like of datetime64, shape (n,)
        Time of each report, in the row order of ``labels`` (positional, the index is not
        used); timezone-aware values are compared in UTC.

    Returns
    -------
    DuplicateScores
        The three rates and the counts behind them.

    Raises
    ------
    InvalidLabelledDataError
        When ``labels`` lacks a column, ``seq`` is not unique integers, ``is_duplicate``
        is not boolean or has missing values, ``parent_seq`` is not integer or a report is
        its own parent.
    ValueError
        When ``groups`` is not a one-dimensional integer array, ``ts`` is not datetimes or
        has missing values, or the lengths differ from ``labels``.

    Examples
    --------
    Reports 1-3 on one day (row order decides), report 4 the next day; 2 and 4 are
    duplicates, 4 names 1 as its parent:

    >>> import pandas as pd
    >>> labels = pd.DataFrame({
    ...     "seq": [1, 2, 3, 4],
    ...     "is_duplicate": [False, True, False, True],
    ...     "parent_seq": pd.array([None, None, None, 1], dtype="Int64"),
    ... })
    >>> ts = pd.to_datetime(["2018-12-07", "2018-12-07", "2018-12-07", "2018-12-08"], utc=True)
    >>> s = duplicate_scores(labels, [5, 5, 7, -1], ts)
    >>> s.dup_recall, s.false_dup_rate, s.parent_recall
    (0.5, 0.0, 0.0)
    >>> s.multi_report_groups, s.reports_grouped
    (1, 2)
    """
    seq, is_duplicate, parent_seq, has_parent = _checked_duplicate_labels(labels)
    n = len(seq)
    group = np.asarray(groups)
    if group.ndim != 1:
        raise ValueError(f"groups must be one-dimensional, got shape {group.shape}")
    if group.size and not np.issubdtype(group.dtype, np.integer):
        raise ValueError(f"groups must hold integer labels, got dtype {group.dtype}")
    if len(group) != n:
        raise ValueError(f"groups must have one label per labels row ({n}), got {len(group)}")
    time_ns = _time_ns(ts, n)

    dense = _dense(group.astype(np.int64, copy=False))
    # Reports in (ts, row) order; the first of each group has no earlier groupmate.
    order = np.argsort(time_ns, kind="stable")
    has_earlier = np.ones(n, dtype=bool)
    _, first = np.unique(dense[order], return_index=True)
    has_earlier[order[first]] = False

    n_duplicates = int(np.count_nonzero(is_duplicate))
    duplicates_found = int(np.count_nonzero(has_earlier & is_duplicate))
    false_dups = int(np.count_nonzero(has_earlier & ~is_duplicate))

    child = np.flatnonzero(has_parent)
    parent = pd.Index(seq).get_indexer(pd.Index(parent_seq[child]))
    if np.any(parent == child):
        own = seq[child[parent == child]]
        raise InvalidLabelledDataError(
            f"a report cannot be its own parent; parent_seq equals seq for seq {own[:5].tolist()}"
        )
    in_data = parent >= 0
    child, parent = child[in_data], parent[in_data]
    parent_pairs_found = int(np.count_nonzero(dense[child] == dense[parent]))

    sizes = np.bincount(dense, minlength=1)
    multi = sizes >= 2
    return DuplicateScores(
        dup_recall=_rate(duplicates_found, n_duplicates),
        false_dup_rate=_rate(false_dups, n - n_duplicates),
        parent_recall=_rate(parent_pairs_found, len(child)),
        n=n,
        n_duplicates=n_duplicates,
        n_parent_pairs=len(child),
        duplicates_found=duplicates_found,
        false_dups=false_dups,
        parent_pairs_found=parent_pairs_found,
        multi_report_groups=int(np.count_nonzero(multi)),
        reports_grouped=int(sizes[multi].sum()),
    )


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


def _rate(found: int, total: int) -> float:
    return found / total if total else math.nan


_DUPLICATE_LABEL_COLUMNS = ("seq", "is_duplicate", "parent_seq")


def _checked_duplicate_labels(
    labels: pd.DataFrame,
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.bool_]
]:
    """``seq``, ``is_duplicate``, ``parent_seq`` (0 where none) and where a parent is given."""
    if not isinstance(labels, pd.DataFrame):
        raise InvalidLabelledDataError(
            f"labels must be a pandas.DataFrame, got {type(labels).__name__}; "
            "read one with cleanapp_geo.realdata.read_labelled_reports"
        )
    missing = [c for c in _DUPLICATE_LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise InvalidLabelledDataError(
            f"labels are missing columns {missing}; expected {list(_DUPLICATE_LABEL_COLUMNS)}"
        )
    seq_column, dup_column, parent_column = (labels[c] for c in _DUPLICATE_LABEL_COLUMNS)
    if not pd.api.types.is_integer_dtype(seq_column.dtype) or seq_column.isna().any():
        raise InvalidLabelledDataError(
            f"labels column 'seq' must hold integers without missing values, got dtype "
            f"{seq_column.dtype}"
        )
    seq = seq_column.to_numpy(dtype=np.int64)
    if len(np.unique(seq)) != len(seq):
        raise InvalidLabelledDataError("labels column 'seq' must be unique")
    if not pd.api.types.is_bool_dtype(dup_column.dtype) or dup_column.isna().any():
        raise InvalidLabelledDataError(
            f"labels column 'is_duplicate' must hold booleans without missing values, got "
            f"dtype {dup_column.dtype}"
        )
    if parent_column.notna().any() and not pd.api.types.is_integer_dtype(parent_column.dtype):
        raise InvalidLabelledDataError(
            f"labels column 'parent_seq' must hold integers (pandas Int64, missing = no "
            f"parent), got dtype {parent_column.dtype}"
        )
    has_parent = parent_column.notna().to_numpy(dtype=bool)
    parent = np.zeros(len(seq), dtype=np.int64)
    parent[has_parent] = parent_column[has_parent].to_numpy(dtype=np.int64)
    is_duplicate = np.asarray(dup_column.to_numpy(dtype=bool), dtype=np.bool_)
    return seq, is_duplicate, parent, has_parent


def _time_ns(ts: pd.Series | npt.ArrayLike, n: int) -> npt.NDArray[np.int64]:
    """Nanoseconds since the epoch (UTC for aware values) of each timestamp."""
    values = ts if isinstance(ts, pd.Series) else pd.Series(ts)
    if len(values) != n:
        raise ValueError(f"ts must have one value per labels row ({n}), got {len(values)}")
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise ValueError(f"ts must hold datetimes, got dtype {values.dtype}")
    if values.isna().any():
        raise ValueError(
            f"ts has missing values at rows {np.flatnonzero(values.isna())[:5].tolist()}"
        )
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)
