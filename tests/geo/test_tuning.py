"""Tests for cleanapp_geo.tuning: labelled pairs, the fast grouping evaluator, fits."""

from __future__ import annotations

import numpy as np
import pytest

import cleanapp_geo as cg
from cleanapp_geo.evaluation import evaluate_clustering
from cleanapp_geo.model import FEATURES
from cleanapp_geo.synthetic import INCIDENT_ID, make_reports
from cleanapp_geo.tuning import (
    PairSample,
    dbscan_labels,
    fit_weights,
    group_frames,
    grouping_scores,
    kernel_matrix,
    labelled_pairs,
    pair_scores,
)


@pytest.fixture(scope="module")
def frame():
    return make_reports(3_000, seed=5, mode="hard")


@pytest.fixture(scope="module")
def sample(frame) -> PairSample:
    return labelled_pairs((5,), frames=[frame], max_radius_m=200.0)


def test_labelled_pairs_are_within_radius_and_labelled(frame, sample: PairSample) -> None:
    assert len(sample) > 0
    assert (sample.i < sample.j).all()
    assert (sample.distance_m <= 200.0).all()
    truth = frame[INCIDENT_ID].to_numpy()
    expected = (truth[sample.i] == truth[sample.j]) & (truth[sample.i] >= 0)
    np.testing.assert_array_equal(sample.label, expected)
    assert 0.9 < sample.candidate_recall(200.0) <= 1.0
    assert sample.candidate_recall(10.0) < sample.candidate_recall(200.0)


def test_grouping_scores_equal_the_real_pipeline(frame, sample: PairSample) -> None:
    """The fast evaluator sees every edge within the gate: same grouping as analyze()."""
    model = cg.DEFAULT_MODEL
    assert model.radius_gate_m is not None and model.radius_gate_m <= 200.0
    kernels = kernel_matrix(
        sample,
        location_scale_m=model.location_scale_m,
        time_scale_s=model.time_scale_s,
        text_saturation=model.text_saturation,
    )
    scores = kernels @ np.array([model.weights[f] for f in FEATURES])
    fast, per_group = grouping_scores(sample, scores, model.threshold, gate_m=model.radius_gate_m)
    result = cg.analyze(frame, model=model, now=frame["ts"].max())
    real = evaluate_clustering(frame[INCIDENT_ID].to_numpy(), result.labels)
    assert fast["f1"] == pytest.approx(real["pairwise_f1"], abs=1e-12)
    assert per_group == [pytest.approx(real["pairwise_f1"], abs=1e-12)]


def test_fit_weights_non_negative_and_drop_features_against_a_match() -> None:
    rng = np.random.default_rng(0)
    label = rng.random(4_000) < 0.3
    kernels = rng.random((4_000, 6))
    kernels[:, 1] += 0.8 * label  # informative
    kernels[:, 3] += 0.5 * label  # informative
    kernels[:, 0] -= 0.6 * label  # speaks against a match
    weights = fit_weights(kernels, label)
    assert (weights >= 0).all()
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] == 0.0
    assert weights[1] > weights[3] > 0


def test_dbscan_labels_location_only(frame) -> None:
    labels = dbscan_labels(frame, eps_m=20.0, min_samples=2)
    assert labels.shape == (len(frame),)
    assert labels.min() >= -1
    assert len(dbscan_labels(frame.iloc[:0])) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"grouping": "average", "linkage_cut": 0.5},
        {"missing": "ignore", "grouping": "average", "linkage_cut": 0.75},
    ],
)
def test_pair_scores_and_groups_equal_the_real_pipeline(frame, sample, changes) -> None:
    """Every model's fast groups equal analyze()'s (the sample holds every gated pair)."""
    model = cg.SimilarityModel.from_dict({**cg.DEFAULT_MODEL.to_dict(), **changes})
    scores = pair_scores(sample, model)
    (fast,) = group_frames(
        sample,
        scores,
        model.threshold,
        gate_m=model.radius_gate_m,
        grouping=model.grouping,
        linkage_cut=model.linkage_cut,
    )
    real = cg.analyze(frame, model=model, now=frame["ts"].max()).labels
    assert evaluate_clustering(real, fast)["ari"] == pytest.approx(1.0)


def test_real_frames_without_incidents_have_no_true_pairs(frame) -> None:
    sample = labelled_pairs((0,), frames=[frame.drop(columns=[INCIDENT_ID])], max_radius_m=50.0)
    assert len(sample) > 0 and not sample.label.any()
    assert sample.candidate_recall(50.0) == 1.0  # nothing to find
