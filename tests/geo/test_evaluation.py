"""Clustering quality metrics: hand-computed cases, brute-force references, sklearn parity."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.cluster import pair_confusion_matrix

from cleanapp_geo.evaluation import (
    BCubedScores,
    PairwiseScores,
    adjusted_rand,
    bcubed,
    candidate_recall,
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
