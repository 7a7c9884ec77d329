"""Clustering quality metrics: hand-computed cases, brute-force references, sklearn parity."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.cluster import pair_confusion_matrix

from cleanapp_geo.errors import InvalidLabelledDataError
from cleanapp_geo.evaluation import (
    BCubedScores,
    DuplicateScores,
    PairwiseScores,
    adjusted_rand,
    bcubed,
    candidate_recall,
    duplicate_scores,
    evaluate_clustering,
    pairwise_scores,
)
from cleanapp_geo.synthetic import incident_pairs, make_reports

labels = st.lists(st.integers(-1, 4), min_size=0, max_size=30)


@st.composite
def label_pairs(draw):
    true = draw(labels)
    pred = draw(st.lists(st.integers(-1, 6), min_size=len(true), max_size=len(true)))
    return np.array(true, dtype=np.int64), np.array(pred, dtype=np.int64)


def fresh_singletons(values):
    """Give every -1 a label of its own (the reference mapping)."""
    out = np.asarray(values, dtype=np.int64).copy()
    singletons = np.flatnonzero(out == -1)
    out[singletons] = 1_000 + np.arange(len(singletons))
    return out


def same(values, a, b):
    return values[a] == values[b] != -1


# --- hand-computed examples -----------------------------------------------------------------


def test_pairwise_hand_computed():
    # true {0,1,2} {3,4} {5}; pred {0,1} {2,3} {4} {5,6}; 7 reports, 6 is background.
    true = [0, 0, 0, 1, 1, -1, -1]
    pred = [9, 9, 4, 4, -1, 7, 7]
    s = pairwise_scores(true, pred)
    assert (s.true_pairs, s.predicted_pairs, s.correct_pairs) == (4, 3, 1)
    assert s.precision == pytest.approx(1 / 3)
    assert s.recall == pytest.approx(1 / 4)
    assert s.f1 == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    assert isinstance(s, PairwiseScores)


def test_bcubed_hand_computed():
    # true {0,1,2} {3}; pred {0,1} {2,3}
    s = bcubed([0, 0, 0, -1], [5, 5, 6, 6])
    # precision per report: 1, 1, 1/2, 1/2; recall: 2/3, 2/3, 1/3, 1
    assert s.precision == pytest.approx(3 / 4)
    assert s.recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    assert s.f1 == pytest.approx(2 * s.precision * s.recall / (s.precision + s.recall))
    assert isinstance(s, BCubedScores)


def test_adjusted_rand_hand_computed():
    assert adjusted_rand([0, 0, 1, 1], [5, 5, 3, 3]) == 1.0
    # tp=0 fp=1 fn=1 tn=4 -> 2 * (0 - 1) / (1 * 5 + 1 * 5)
    assert adjusted_rand([0, 0, -1, -1], [-1, -1, 4, 4]) == pytest.approx(-0.2)


def test_perfect_grouping_scores_one():
    true = np.array([3, 3, 3, -1, 8, 8, -1])
    pred = np.array([0, 0, 0, -1, 1, 1, 2])  # a planted -1 left alone or in a 1-cluster
    for scores in (pairwise_scores(true, pred), bcubed(true, pred)):
        assert scores.precision == scores.recall == scores.f1 == 1.0
    assert adjusted_rand(true, pred) == 1.0


# --- the -1 convention ----------------------------------------------------------------------


def test_every_minus_one_is_its_own_singleton():
    s = pairwise_scores([-1, -1, -1], [-1, -1, -1])
    assert (s.true_pairs, s.predicted_pairs, s.correct_pairs) == (0, 0, 0)
    assert s.precision == s.recall == s.f1 == 1.0  # no predicted pair, no true pair
    assert adjusted_rand([-1, -1, -1], [-1, -1, -1]) == 1.0
    # grouping background reports together is wrong, not "both noise"
    s = pairwise_scores([-1, -1, -1], [0, 0, 0])
    assert (s.true_pairs, s.predicted_pairs, s.correct_pairs) == (0, 3, 0)
    assert s.precision == 0.0 and s.recall == 1.0 and s.f1 == 0.0
    b = bcubed([-1, -1, -1], [0, 0, 0])
    assert b.precision == pytest.approx(1 / 3) and b.recall == 1.0
    # an ungrouped prediction misses every true pair
    s = pairwise_scores([0, 0, 0], [-1, -1, -1])
    assert s.precision == 1.0 and s.recall == 0.0 and s.f1 == 0.0


def test_other_negative_labels_are_ordinary_clusters():
    s = pairwise_scores([-2, -2, 5], [-7, -7, -1])
    assert (s.true_pairs, s.predicted_pairs, s.correct_pairs) == (1, 1, 1)


def test_empty_input():
    s = pairwise_scores([], [])
    assert (s.precision, s.recall, s.f1, s.true_pairs) == (1.0, 1.0, 1.0, 0)
    assert bcubed([], []) == BCubedScores(1.0, 1.0, 1.0)
    assert adjusted_rand([], []) == 1.0
    assert evaluate_clustering([], [])["n_reports"] == 0


# --- against references ---------------------------------------------------------------------


@given(label_pairs())
def test_pairwise_equals_brute_force_pair_counting(pair):
    true, pred = pair
    pairs = list(combinations(range(len(true)), 2))
    t = sum(same(true, a, b) for a, b in pairs)
    p = sum(same(pred, a, b) for a, b in pairs)
    c = sum(same(true, a, b) and same(pred, a, b) for a, b in pairs)
    s = pairwise_scores(true, pred)
    assert (s.true_pairs, s.predicted_pairs, s.correct_pairs) == (t, p, c)
    assert s.precision == (c / p if p else 1.0)
    assert s.recall == (c / t if t else 1.0)
    assert 0.0 <= s.f1 <= 1.0


@given(label_pairs())
def test_pair_counts_match_sklearn_pair_confusion_matrix(pair):
    true, pred = pair
    s = pairwise_scores(true, pred)
    (tn, fp), (fn, tp) = pair_confusion_matrix(fresh_singletons(true), fresh_singletons(pred))
    assert tp == 2 * s.correct_pairs  # sklearn counts ordered pairs
    assert fp == 2 * (s.predicted_pairs - s.correct_pairs)
    assert fn == 2 * (s.true_pairs - s.correct_pairs)
    n = len(true)
    assert tn == n * (n - 1) - tp - fp - fn


@given(label_pairs())
def test_adjusted_rand_equals_sklearn_on_mapped_labels(pair):
    true, pred = pair
    expected = adjusted_rand_score(fresh_singletons(true), fresh_singletons(pred))
    assert adjusted_rand(true, pred) == pytest.approx(expected, abs=1e-12)


@given(label_pairs())
def test_bcubed_equals_brute_force(pair):
    true, pred = map(fresh_singletons, pair)
    n = len(true)
    precision = [np.mean(true[pred == pred[e]] == true[e]) for e in range(n)]
    recall = [np.mean(pred[true == true[e]] == pred[e]) for e in range(n)]
    s = bcubed(*pair)
    assert s.precision == pytest.approx(np.mean(precision) if n else 1.0)
    assert s.recall == pytest.approx(np.mean(recall) if n else 1.0)


@given(label_pairs())
def test_metrics_ignore_label_values(pair):
    true, pred = pair
    relabelled = np.where(pred == -1, -1, 100 - 3 * pred)
    assert pairwise_scores(true, pred) == pairwise_scores(true, relabelled)
    assert bcubed(true, pred) == bcubed(true, relabelled)


def test_counts_are_exact_for_large_clusters():
    n = 200_000
    s = pairwise_scores(np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int32))
    assert s.true_pairs == s.predicted_pairs == s.correct_pairs == n * (n - 1) // 2
    halves = np.repeat([0, 1], n // 2)
    s = pairwise_scores(np.zeros(n, dtype=np.int64), halves)
    assert s.correct_pairs == 2 * ((n // 2) * (n // 2 - 1) // 2)
    expected = adjusted_rand_score(np.zeros(n, dtype=np.int64), halves)
    assert adjusted_rand(np.zeros(n, dtype=np.int64), halves) == pytest.approx(expected)


# --- evaluate_clustering --------------------------------------------------------------------


def test_evaluate_clustering_gives_every_metric():
    true = np.array([0, 0, 0, 1, 1, -1, -1])
    pred = np.array([9, 9, 4, 4, -1, 7, 7])
    metrics = evaluate_clustering(true, pred)
    pairwise = pairwise_scores(true, pred)
    b3 = bcubed(true, pred)
    assert metrics == {
        "n_reports": 7,
        "pairwise_precision": pairwise.precision,
        "pairwise_recall": pairwise.recall,
        "pairwise_f1": pairwise.f1,
        "true_pairs": 4,
        "predicted_pairs": 3,
        "correct_pairs": 1,
        "ari": adjusted_rand(true, pred),
        "bcubed_precision": b3.precision,
        "bcubed_recall": b3.recall,
        "bcubed_f1": b3.f1,
    }


@given(label_pairs())
def test_incident_only_scores_the_planted_reports(pair):
    true, pred = pair
    keep = true != -1
    assert evaluate_clustering(true, pred, incident_only=True) == evaluate_clustering(
        true[keep], pred[keep]
    )


def test_incident_only_deflates_ari_on_mostly_background():
    # 90 background reports left alone and one incident split in two
    true = np.r_[np.full(90, -1), np.zeros(10, dtype=np.int64)]
    pred = np.r_[np.full(90, -1), np.repeat([1, 2], 5)]
    everything = evaluate_clustering(true, pred)
    incidents = evaluate_clustering(true, pred, incident_only=True)
    assert incidents["n_reports"] == 10
    assert incidents["true_pairs"] == everything["true_pairs"] == 45
    assert incidents["ari"] < everything["ari"]


def test_planted_truth_scores_perfectly_on_a_synthetic_frame():
    frame = make_reports(5_000, seed=3, mode="hard")
    truth = frame["incident_id"].to_numpy()
    metrics = evaluate_clustering(truth, truth)
    assert metrics["pairwise_f1"] == metrics["ari"] == metrics["bcubed_f1"] == 1.0
    everything_alone = evaluate_clustering(truth, np.full(len(truth), -1))
    assert everything_alone["pairwise_recall"] == 0.0
    assert everything_alone["bcubed_precision"] == 1.0


# --- candidate_recall -----------------------------------------------------------------------


def test_candidate_recall_is_unordered_and_counts_each_true_pair_once():
    true = ([0, 0, 2, 2], [1, 2, 3, 3])  # (2, 3) twice
    candidates = ([1, 3, 5], [0, 2, 4])
    assert candidate_recall(true, candidates, n=6) == pytest.approx(2 / 3)
    assert candidate_recall(true, (np.array([], dtype=int), np.array([], dtype=int)), 6) == 0.0
    assert candidate_recall(([], []), candidates, n=6) == 1.0


def test_candidate_recall_of_the_planted_pairs():
    ids = make_reports(2_000, seed=5)["incident_id"].to_numpy()
    i, j = incident_pairs(ids)
    assert candidate_recall((i, j), (j, i), n=len(ids)) == 1.0
    half = len(i) // 2
    assert candidate_recall((i, j), (i[:half], j[:half]), n=len(ids)) == half / len(i)


@pytest.mark.parametrize(
    ("true", "candidates", "n", "message"),
    [
        (([0], [7]), ([0], [1]), 5, "lie in"),
        (([0], [1]), ([0, 1], [1]), 5, "equal lengths"),
        (([0.5], [1.0]), ([0], [1]), 5, "integer"),
        (([0], [1]), ([0], [1]), -1, "non-negative"),
    ],
)
def test_candidate_recall_rejects_bad_input(true, candidates, n, message):
    with pytest.raises(ValueError, match=message):
        candidate_recall(true, candidates, n)


# --- input checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("true", "pred", "message"),
    [
        ([0, 1], [0], "same length"),
        ([[0, 1]], [[0, 1]], "one-dimensional"),
        ([0.0, 1.0], [0, 1], "integers"),
        ([0, 1], ["a", "b"], "integers"),
    ],
)
def test_bad_labels_raise(true, pred, message):
    for metric in (pairwise_scores, adjusted_rand, bcubed, evaluate_clustering):
        with pytest.raises(ValueError, match=message):
            metric(true, pred)


# --- duplicate scores against real labels ---------------------------------------------------


def dup_labels(is_duplicate, parent_seq=None, seq=None):
    n = len(is_duplicate)
    return pd.DataFrame(
        {
            "seq": np.arange(1, n + 1, dtype=np.int64) if seq is None else np.asarray(seq),
            "is_duplicate": np.asarray(is_duplicate, dtype=bool),
            "parent_seq": pd.array([None] * n if parent_seq is None else parent_seq, dtype="Int64"),
        }
    )


def days(*values):
    return pd.Series(pd.to_datetime(list(values), utc=True))


def test_duplicate_scores_break_ts_ties_by_row_order():
    # One date for all (a date-only file): row order decides who is earlier.
    labels = dup_labels([False, True, True, False, True])
    ts = days(*["2018-12-07"] * 5)
    s = duplicate_scores(labels, [3, 3, 3, 8, 8], ts)
    # group 3: row 1 first, rows 2-3 have an earlier groupmate; group 8: row 4 first.
    assert (s.duplicates_found, s.false_dups) == (3, 0)
    assert s.dup_recall == 1.0
    assert s.false_dup_rate == 0.0
    # Reversed roles: the duplicate comes first in the file, the kept report second.
    s = duplicate_scores(dup_labels([True, False]), [1, 1], days("2018-12-07", "2018-12-07"))
    assert (s.duplicates_found, s.false_dups) == (0, 1)
    assert (s.dup_recall, s.false_dup_rate) == (0.0, 1.0)


def test_duplicate_scores_order_by_ts_before_rows():
    # Row 1 is a duplicate made after row 2: row 2 is the earlier report of the group.
    labels = dup_labels([True, False, False])
    ts = days("2024-04-16T03:00:00Z", "2024-04-16T02:00:00Z", "2024-04-16T01:00:00Z")
    s = duplicate_scores(labels, [0, 0, -1], ts)
    assert (s.dup_recall, s.false_dup_rate) == (1.0, 0.0)
    assert (s.multi_report_groups, s.reports_grouped) == (1, 2)
    # Timezone-aware values in another zone work (compared as instants).
    aware = pd.Series(
        pd.to_datetime(["2024-04-16T04:00:00Z", "2024-04-16T03:30:00Z"], utc=True)
    ).dt.tz_convert("America/New_York")
    s = duplicate_scores(dup_labels([True, False]), [1, 1], aware)
    assert (s.duplicates_found, s.false_dups) == (1, 0)


def test_every_minus_one_is_a_singleton_for_duplicate_scores():
    labels = dup_labels([False, True, True, False], parent_seq=[None, 1, None, None])
    s = duplicate_scores(labels, [-1, -1, -1, -1], days(*["2018-12-07"] * 4))
    assert (s.duplicates_found, s.false_dups, s.parent_pairs_found) == (0, 0, 0)
    assert (s.dup_recall, s.false_dup_rate, s.parent_recall) == (0.0, 0.0, 0.0)
    assert (s.multi_report_groups, s.reports_grouped) == (0, 0)


def test_parent_recall_counts_pairs_with_the_parent_in_the_data():
    # seq not equal to position; parent 99 is not in the data; 30 -> 10 split, 40 -> 20 joined.
    labels = dup_labels(
        [False, False, True, True, True],
        parent_seq=[None, None, 10, 20, 99],
        seq=[10, 20, 30, 40, 50],
    )
    ts = days(*["2018-12-07"] * 5)
    s = duplicate_scores(labels, [1, 2, 3, 2, 3], ts)
    assert (s.n_parent_pairs, s.parent_pairs_found, s.parent_recall) == (2, 1, 0.5)
    # Rows 3 and 5 share group 3, so row 5 has an earlier groupmate; rows 2/4 share group 2.
    assert (s.n, s.n_duplicates, s.duplicates_found) == (5, 3, 2)
    assert s.dup_recall == pytest.approx(2 / 3)
    assert (s.multi_report_groups, s.reports_grouped) == (2, 4)


def test_rates_are_nan_without_a_denominator():
    s = duplicate_scores(dup_labels([False, False]), [0, 0], days("2018-12-07", "2018-12-08"))
    assert math.isnan(s.dup_recall)
    assert math.isnan(s.parent_recall)
    assert s.false_dup_rate == 0.5
    s = duplicate_scores(dup_labels([True]), [0], days("2018-12-07"))
    assert math.isnan(s.false_dup_rate)
    empty = duplicate_scores(dup_labels([]), np.empty(0, dtype=np.int64), days())
    assert (empty.n, empty.multi_report_groups, empty.reports_grouped) == (0, 0, 0)
    assert all(math.isnan(v) for v in (empty.dup_recall, empty.false_dup_rate))


def test_duplicate_scores_to_dict():
    s = duplicate_scores(dup_labels([False, True]), [0, 0], days("2018-12-07", "2018-12-07"))
    assert isinstance(s, DuplicateScores)
    assert s.to_dict() == {
        "dup_recall": 1.0,
        "false_dup_rate": 0.0,
        "parent_recall": s.parent_recall,
        "n": 2,
        "n_duplicates": 1,
        "n_parent_pairs": 0,
        "duplicates_found": 1,
        "false_dups": 0,
        "parent_pairs_found": 0,
        "multi_report_groups": 1,
        "reports_grouped": 2,
    }


def reference_duplicate_scores(seq, is_duplicate, parent_seq, groups, ts):
    """The documented definitions, one report and one pair at a time."""
    n = len(seq)

    def together(a, b):
        return groups[a] == groups[b] != -1

    def has_earlier(i):
        return any(together(i, j) and (ts[j], j) < (ts[i], i) for j in range(n) if j != i)

    position = {s: k for k, s in enumerate(seq)}
    pairs = [(i, position[p]) for i, p in enumerate(parent_seq) if p is not None and p in position]
    dups = [i for i in range(n) if is_duplicate[i]]
    kept = [i for i in range(n) if not is_duplicate[i]]
    sizes = {}
    for g in groups:
        if g != -1:
            sizes[g] = sizes.get(g, 0) + 1

    def rate(found, total):
        return found / total if total else math.nan

    found = sum(has_earlier(i) for i in dups)
    false = sum(has_earlier(i) for i in kept)
    pair_found = sum(together(i, p) for i, p in pairs)
    return {
        "dup_recall": rate(found, len(dups)),
        "false_dup_rate": rate(false, len(kept)),
        "parent_recall": rate(pair_found, len(pairs)),
        "n": n,
        "n_duplicates": len(dups),
        "n_parent_pairs": len(pairs),
        "duplicates_found": found,
        "false_dups": false,
        "parent_pairs_found": pair_found,
        "multi_report_groups": sum(1 for size in sizes.values() if size >= 2),
        "reports_grouped": sum(size for size in sizes.values() if size >= 2),
    }


@st.composite
def labelled_groupings(draw):
    n = draw(st.integers(0, 25))
    seq = draw(st.permutations(range(100, 100 + n)))
    is_duplicate = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    parents = draw(st.lists(st.none() | st.integers(95, 100 + n + 5), min_size=n, max_size=n))
    parent_seq = [None if p == s else p for p, s in zip(parents, seq, strict=True)]
    groups = draw(st.lists(st.integers(-1, 4), min_size=n, max_size=n))
    day = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))  # many ties
    return list(seq), is_duplicate, parent_seq, groups, day


@given(labelled_groupings())
def test_duplicate_scores_equal_the_reference(case):
    seq, is_duplicate, parent_seq, groups, day = case
    labels = dup_labels(is_duplicate, parent_seq=parent_seq, seq=np.array(seq, dtype=np.int64))
    ts = pd.Series(pd.Timestamp("2018-12-07", tz="UTC") + pd.to_timedelta(day, unit="D"))
    got = duplicate_scores(labels, np.array(groups, dtype=np.int64), ts).to_dict()
    want = reference_duplicate_scores(seq, is_duplicate, parent_seq, groups, day)
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value), key


def test_duplicate_scores_on_read_labelled_reports(tmp_path):
    from cleanapp_geo.realdata import read_labelled_reports

    path = tmp_path / "tiny.csv"
    path.write_text(
        "id,ts,lat,lon,category,text,is_duplicate,parent_id\n"
        "a,2018-12-07,41.9,-87.6,Pothole in Street,,false,\n"
        "b,2018-12-07,41.9,-87.6,Pothole in Street,,true,a\n"
        "c,2018-12-08,41.8,-87.6,Pothole in Street,,true,\n"
    )
    reports, labels = read_labelled_reports(path)
    s = duplicate_scores(labels, np.array([0, 0, 1]), reports["ts"])
    assert (s.dup_recall, s.false_dup_rate, s.parent_recall) == (0.5, 0.0, 1.0)


@pytest.mark.parametrize(
    ("labels", "groups", "ts", "error", "message"),
    [
        (dup_labels([False, True]), [0], days("2018-12-07", "2018-12-07"), ValueError,
         r"groups must have one label per labels row \(2\), got 1"),
        (dup_labels([False]), [[0]], days("2018-12-07"), ValueError, "one-dimensional"),
        (dup_labels([False]), [0.5], days("2018-12-07"), ValueError,
         "groups must hold integer labels, got dtype float64"),
        (dup_labels([False]), [0], days(), ValueError,
         r"ts must have one value per labels row \(1\), got 0"),
        (dup_labels([False]), [0], ["2018-12-07"], ValueError, "ts must hold datetimes"),
        (dup_labels([False, True]), [0, 0], pd.Series(pd.to_datetime(["2018-12-07", None])),
         ValueError, r"ts has missing values at rows \[1\]"),
        (dup_labels([False]).drop(columns="parent_seq"), [0], days("2018-12-07"),
         InvalidLabelledDataError, r"labels are missing columns \['parent_seq'\]"),
        (dup_labels([False, True], seq=[4, 4]), [0, 0], days("2018-12-07", "2018-12-07"),
         InvalidLabelledDataError, "'seq' must be unique"),
        (dup_labels([False]).assign(is_duplicate=["no"]), [0], days("2018-12-07"),
         InvalidLabelledDataError, "'is_duplicate' must hold booleans"),
        (dup_labels([False]).assign(parent_seq=[1.5]), [0], days("2018-12-07"),
         InvalidLabelledDataError, "'parent_seq' must hold integers"),
        (dup_labels([True], parent_seq=[1]), [0], days("2018-12-07"), InvalidLabelledDataError,
         r"cannot be its own parent; parent_seq equals seq for seq \[1\]"),
    ],
)  # fmt: skip
def test_duplicate_scores_reject_bad_input(labels, groups, ts, error, message):
    with pytest.raises(error, match=message):
        duplicate_scores(labels, groups, ts)
