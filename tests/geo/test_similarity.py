"""Pair scores, unknown features under both missing modes, and explanations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import cleanapp_geo as cg
from cleanapp_geo.arrays import prepare_reports
from cleanapp_geo.similarity import score_pairs

TS = "2018-12-07T00:00:00Z"


def frame(rows):
    base = {"ts": TS, "latitude": 41.95, "longitude": -87.69, "classification": ""}
    return cg.reports_from_records([{**base, **row} for row in rows])


MODEL = cg.SimilarityModel(
    weight_classification=0.0,
    weight_severity=0.2,
    weight_text=0.3,
    weight_location=0.2,
    weight_brand=0.0,
    weight_time=0.1,
    weight_category=0.2,
    severity_kernel="linear",
    text_kernel="jaccard",
    location_kernel="exp",
    time_kernel="exp",
    threshold=0.6,
    radius_gate_m=200.0,
)


@pytest.mark.parametrize("missing", ["no_match", "ignore"])
def test_unknown_features_contribute_nothing(missing):
    model = cg.SimilarityModel.from_dict({**MODEL.to_dict(), "missing": missing})
    reports = frame(
        [
            {"seq": 1, "category": "Pothole in Street"},
            {"seq": 2, "category": "Pothole in Street"},
        ]
    )  # same place, same time, same category; severity and text unknown
    arrays = prepare_reports(reports, model)
    scored = score_pairs(arrays, np.array([0]), np.array([1]), model)
    assert scored["severity"][0] == 0.0 and scored["text"][0] == 0.0
    raw = 0.2 + 0.1 + 0.2  # location, time, category at kernel 1
    expected = raw if missing == "no_match" else raw / (0.2 + 0.1 + 0.2)
    assert scored["score"][0] == pytest.approx(expected)
    assert scored["known_weight"][0] == pytest.approx(1.0 if missing == "no_match" else 0.5)
    assert bool(scored["is_edge"][0]) == (expected >= 0.6)
    assert math.isnan(scored["severity_diff"][0])


def test_a_known_severity_gap_costs_where_an_unknown_one_does_not():
    model = cg.SimilarityModel.from_dict({**MODEL.to_dict(), "missing": "ignore"})
    rows = [{"seq": 1, "category": "Graffiti"}, {"seq": 2, "category": "Graffiti"}]
    unknown = frame(rows)
    far_apart = frame([{**rows[0], "severity_level": 0.0}, {**rows[1], "severity_level": 1.0}])
    scores = [
        score_pairs(prepare_reports(f, model), np.array([0]), np.array([1]), model)["score"][0]
        for f in (unknown, far_apart)
    ]
    assert scores[0] == pytest.approx(1.0)  # nothing known disagrees
    assert scores[1] == pytest.approx(0.5 / 0.7)  # severity known and opposite


def test_explanation_adds_up_and_names_unknown_features():
    reports = frame(
        [
            {"seq": 1, "category": "Pothole in Street", "title": "deep pothole at the corner"},
            {"seq": 2, "category": "pothole in street", "title": "pothole corner again",
             "latitude": 41.9501},
        ]
    )  # fmt: skip
    explanation = cg.explain_pair(reports, 1, 2, model=MODEL)
    assert sum(explanation.contributions.values()) == pytest.approx(explanation.score)
    assert explanation.unknown == ["severity", "brand"]
    assert explanation.kernels["category"] == 1.0  # case-insensitive
    assert explanation.shared_tokens == ["corner", "pothole"]
    assert "severity        unknown" in str(explanation)
    edges = cg.similarity_edges(reports, model=MODEL)
    assert explanation.is_edge == ((1, 2) in set(edges.index))
    if explanation.is_edge:
        assert edges.loc[(1, 2), "score"] == pytest.approx(explanation.score)


def test_explanation_of_a_missing_report_is_a_typed_error():
    with pytest.raises(cg.UnknownReportError, match=r"no seq \[9\]"):
        cg.explain_pair(frame([{"seq": 1}, {"seq": 2}]), 1, 9, model=MODEL)


def test_forced_text_gives_every_jaccard():
    reports = cg.make_reports(200, seed=2)
    arrays = prepare_reports(reports, MODEL)
    i, j = np.triu_indices(40, k=1)
    lazy = score_pairs(arrays, i, j, MODEL)
    forced = score_pairs(arrays, i, j, MODEL, force_text=True)
    assert not np.isnan(forced["jaccard"]).any()
    assert np.isnan(lazy["jaccard"]).any()
    # Text is skipped only where it cannot change the decision.
    np.testing.assert_array_equal(lazy["is_edge"], forced["is_edge"])
    assert (lazy["score"] <= forced["score"] + 1e-12).all()


def test_edge_table_is_indexed_focal_below_neighbor():
    reports = cg.make_reports(500, seed=3)
    edges = cg.similarity_edges(reports, model=cg.DEFAULT_MODEL)
    focal = edges.index.get_level_values("focal")
    neighbor = edges.index.get_level_values("neighbor")
    assert (focal < neighbor).all() and edges.index.is_monotonic_increasing
    assert (edges["score"] >= cg.DEFAULT_MODEL.threshold).all()
    assert isinstance(edges, pd.DataFrame) and len(edges) > 0
