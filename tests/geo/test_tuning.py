"""Tests for cleanapp_geo.tuning: labelled pairs, the fast grouping evaluator, fits, tune()."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cleanapp_geo as cg
from cleanapp_geo.evaluation import evaluate_clustering
from cleanapp_geo.model import FEATURES
from cleanapp_geo.synthetic import INCIDENT_ID, make_reports
from cleanapp_geo.tuning import (
    PairSample,
    TuningGrid,
    dbscan_labels,
    fit_weights,
    grouping_scores,
    kernel_matrix,
    labelled_pairs,
    model_from_fit,
    tune,
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


def test_model_from_fit_rounds_to_a_valid_model() -> None:
    weights = np.array([0.0, 0.23141, 0.30652, 0.15899, 0.08021, 0.22287, 0.0])
    model = model_from_fit(weights / weights.sum(), 0.59871, (50.0, 86_400.0, 0.1), 150.0)
    assert sum(model.weights.values()) == pytest.approx(1.0, abs=1e-9)
    assert model.threshold == 0.599
    assert model.radius_gate_m == 150.0
    assert model.location_kernel == "exp" and model.text_kernel == "jaccard"


def test_dbscan_labels_location_only(frame) -> None:
    labels = dbscan_labels(frame, eps_m=20.0, min_samples=2)
    assert labels.shape == (len(frame),)
    assert labels.min() >= -1
    assert len(dbscan_labels(frame.iloc[:0])) == 0


def test_tune_small_end_to_end(tmp_path) -> None:
    report = tune(
        train_seeds=(1, 2),
        test_seeds=(3,),
        n_reports=2_000,
        grid=TuningGrid((40.0,), (86_400.0,), (0.1, 0.2)),
        evaluate_upstream=False,
    )
    assert report.model.radius_gate_m in (120.0, 150.0, 200.0)
    assert report.settings["gate_candidate_recall_train"] >= 0.995
    assert len(report.grid) == 2
    assert set(report.summary) == {"tuned", "previous_default", "dbscan"}
    tuned = report.summary["tuned"]
    assert tuned["pairwise_f1_mean"] > report.summary["dbscan"]["pairwise_f1_mean"]
    assert set(report.weight_spread) == {*(f"weight_{f}" for f in FEATURES), "threshold"}
    curve = report.pr_curve
    assert len(curve["pair_precision"]) == len(curve["pair_recall"]) > 10
    paths = report.write(tmp_path)
    model = cg.SimilarityModel.from_dict(json.loads(paths["model"].read_text()))
    assert model == report.model
    assert "| tuned |" in paths["markdown"].read_text()
    assert json.loads(paths["report"].read_text())["settings"]["test_seeds"] == [3]


def test_tune_rejects_overlapping_or_too_few_seeds() -> None:
    with pytest.raises(ValueError, match="at least two"):
        tune(train_seeds=(1,), test_seeds=(2,))
    with pytest.raises(ValueError, match="differ"):
        tune(train_seeds=(1, 2), test_seeds=(2,))
