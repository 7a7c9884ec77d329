"""The upstream worked example (the Zurich facade reports and their hypothesis ids, confidence,
urgency and rationale, as the Go tests T1/T2 check them) and the analysis API."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from upstream_examples import zurich_records

import cleanapp_geo as cg

NOW = pd.Timestamp("2026-03-10T12:00:00Z")


@pytest.fixture
def zurich():
    return cg.reports_from_records(zurich_records(NOW))


def test_t1_upstream_worked_example_is_reproduced_exactly(zurich):
    result = cg.analyze(zurich, model=cg.UPSTREAM_MODEL, classification="physical", now=NOW)
    wire = result.to_dict()
    assert wire["stats"]["report_count"] == 3
    assert len(wire["hypotheses"]) == 2
    first, second = wire["hypotheses"]
    assert first == {
        "hypothesis_id": "hyp_638aa404eae9",
        "title": "Facade bricks falling over school entrance",
        "classification": "physical",
        "representative_report_seq": 101,
        "report_seqs": [101, 102],
        "report_count": 2,
        "confidence": pytest.approx(0.794),
        "severity_score": 0.92,
        "urgency_score": 1.0,
        "rationale": [
            "same classification",
            "same organization",
            "same physical location",
            "shared incident language",
            "similar severity",
        ],
    }
    assert second["report_seqs"] == [103]
    assert second["confidence"] == pytest.approx(0.64)
    assert second["urgency_score"] == pytest.approx(0.73)  # recent: 0.55 + 0.08 + 0.10
    assert second["rationale"] == []
    assert wire["stats"] == {
        "classification": "physical",
        "report_count": 3,
        "severity_average": pytest.approx(0.78333333),
        "severity_max": 0.92,
        "high_priority_count": 2,
        "medium_priority_count": 1,
        "first_seen_at": "2026-03-10T10:00:00Z",
        "last_seen_at": "2026-03-10T11:30:00Z",
        "classification_breakdown": {"physical": 3},
    }


def test_t1_pair_scores_match_the_reference_text(zurich):
    close = cg.explain_pair(zurich, 101, 102, model=cg.UPSTREAM_MODEL)
    far = cg.explain_pair(zurich, 101, 103, model=cg.UPSTREAM_MODEL)
    assert close.score == pytest.approx(1.0)
    assert close.measures["jaccard"] == pytest.approx(5 / 18)
    assert far.score == pytest.approx(0.3)
    assert not far.is_edge and close.is_edge


def test_old_reports_lose_the_recency_boost(zurich):
    later = NOW + pd.Timedelta(days=30)
    wire = cg.analyze(zurich, model=cg.UPSTREAM_MODEL, now=later).to_dict()
    assert wire["hypotheses"][1]["urgency_score"] == pytest.approx(0.63)


def test_future_reports_are_not_recent(zurich):
    earlier = NOW - pd.Timedelta(days=1)
    wire = cg.analyze(zurich, model=cg.UPSTREAM_MODEL, now=earlier).to_dict()
    assert wire["hypotheses"][1]["urgency_score"] == pytest.approx(0.63)


def test_t2_preferred_analysis_prefers_english():
    base = {"seq": 7, "ts": "2026-03-10T10:00:00Z", "latitude": 47.0, "longitude": 8.0}
    frame = cg.reports_from_records(
        [
            {**base, "language": "de", "title": "Deutscher Titel", "severity_level": 0.4},
            {**base, "language": "en", "title": "English Title", "severity_level": 0.7},
        ]
    )
    (hypothesis,) = cg.analyze(frame, model=cg.UPSTREAM_MODEL, now=NOW).hypotheses
    assert hypothesis.title == "English Title"
    assert hypothesis.severity_score == 0.7


def test_upstream_quirk_text_alone_links_reports_far_apart():
    base = {"ts": "2026-03-10T10:00:00Z", "severity_level": 0.1, "title": "overflowing bin glass"}
    frame = cg.reports_from_records(
        [
            {**base, "seq": 1, "latitude": 47.0, "longitude": 8.0},
            {**base, "seq": 2, "latitude": 46.0, "longitude": 7.0, "severity_level": 0.9},
        ]
    )
    assert len(cg.analyze(frame, model=cg.UPSTREAM_MODEL, now=NOW).hypotheses) == 1
    assert len(cg.analyze(frame, model=cg.DEFAULT_MODEL, now=NOW).hypotheses) == 2


def test_upstream_quirk_location_class_and_severity_alone_do_not_link():
    base = {"ts": "2026-03-10T10:00:00Z", "severity_level": 0.5, "latitude": 47.0}
    frame = cg.reports_from_records(
        [
            {**base, "seq": 1, "longitude": 8.0, "title": "overflowing bin"},
            {**base, "seq": 2, "longitude": 8.0001, "title": "graffiti tunnel"},
        ]
    )
    assert len(cg.analyze(frame, model=cg.UPSTREAM_MODEL, now=NOW).hypotheses) == 2


def test_default_stop_words_keep_structural_vocabulary():
    assert "brick" in cg.tokenize("brick wall facade")
    assert cg.tokenize("brick wall facade", stop_words=cg.UPSTREAM_MODEL.stop_words) == frozenset()


def test_classification_filter_and_breakdown(zurich):
    frame = zurich.copy()
    frame.loc[frame["seq"] == 103, "classification"] = "digital"
    result = cg.analyze(frame, classification="PHYSICAL", now=NOW)
    assert sorted(result.reports["seq"]) == [101, 102]
    everything = cg.analyze(frame, now=NOW)
    assert everything.stats.classification_breakdown == {"digital": 1, "physical": 2}


def test_empty_input_gives_empty_result(zurich):
    result = cg.analyze(zurich.iloc[:0], now=NOW)
    assert result.hypotheses == []
    assert result.to_dict()["stats"] == {
        "classification": "physical",
        "report_count": 0,
        "severity_average": 0.0,
        "severity_max": 0.0,
        "high_priority_count": 0,
        "medium_priority_count": 0,
        "classification_breakdown": {},
    }


def test_hypotheses_are_ordered_by_urgency_then_severity_then_size(zurich):
    result = cg.analyze(zurich, model=cg.UPSTREAM_MODEL, now=NOW)
    keys = [(-h.urgency_score, -h.severity_score, -h.report_count) for h in result.hypotheses]
    assert keys == sorted(keys)


def test_edges_table_is_indexed_by_seq_pairs(zurich):
    result = cg.analyze(zurich, model=cg.UPSTREAM_MODEL, now=NOW)
    assert result.edges.index.names == ["focal", "neighbor"]
    assert list(result.edges.index) == [(101, 102)]
    row = result.edges.loc[(101, 102)]
    assert row["score"] == pytest.approx(1.0)
    assert row["location"] == pytest.approx(0.2)


def test_estimator_matches_function_and_clones(zurich):
    estimator = cg.IncidentClusterer(model=cg.UPSTREAM_MODEL, now=NOW)
    labels = estimator.fit_predict(zurich)
    assert labels.tolist() == [0, 0, 1]
    assert [h.report_seqs for h in estimator.hypotheses_] == [(101, 102), (103,)]
    clone(estimator).set_params(model=cg.DEFAULT_MODEL)
    assert estimator.get_params()["model"] is cg.UPSTREAM_MODEL
    result = cg.analyze(zurich, model=cg.UPSTREAM_MODEL, now=NOW)
    assert result.hypotheses == estimator.hypotheses_


def test_model_that_defeats_blocking_warns_and_stays_exact(zurich):
    model = cg.SimilarityModel(
        weight_classification=0.5, weight_severity=0.3, weight_text=0.1, weight_location=0.1,
        weight_brand=0.0, threshold=0.75,
    )  # fmt: skip
    with pytest.warns(cg.ExhaustiveScoringWarning, match="impossible"):
        result = cg.analyze(zurich, model=model, now=NOW)
    assert result.plan.exhaustive
    assert [h.report_seqs for h in result.hypotheses] == [(101, 102), (103,)]


def test_invalid_model_arguments_raise_typed_errors():
    with pytest.raises(cg.InvalidModelError, match="sum to 1"):
        cg.SimilarityModel(weight_text=0.9)
    with pytest.raises(cg.InvalidModelError, match="weight_severity"):
        cg.SimilarityModel(weight_severity=-0.1, weight_text=0.6)
    with pytest.raises(cg.InvalidModelError, match="location_kernel"):
        cg.SimilarityModel(location_kernel="gaussian")  # type: ignore[arg-type]
    with pytest.raises(cg.InvalidModelError, match="threshold"):
        cg.SimilarityModel(threshold=0)
    with pytest.raises(cg.InvalidModelError, match="radius_gate_m"):
        cg.SimilarityModel(radius_gate_m=-5)
    with pytest.raises(cg.InvalidModelError, match="unknown features"):
        cg.UPSTREAM_MODEL.with_weights(colour=1.0)
    with pytest.raises(cg.InvalidModelError, match="SimilarityModel"):
        cg.analyze(cg.reports_from_records([]), model={"threshold": 0.5})  # type: ignore[arg-type]
    with pytest.raises(cg.InvalidModelError, match="timezone-aware"):
        cg.analyze(cg.reports_from_records([]), now="2026-03-10T10:00:00")


def test_with_weights_normalises_and_round_trips():
    model = cg.UPSTREAM_MODEL.with_weights(time=1.0)
    assert sum(model.weights.values()) == pytest.approx(1.0)
    assert cg.SimilarityModel.from_dict(model.to_dict()) == model


def test_explain_pair_unknown_seq(zurich):
    with pytest.raises(cg.UnknownReportError, match="999"):
        cg.explain_pair(zurich, 101, 999)


def test_explanation_lists_contributions(zurich):
    explanation = cg.explain_pair(zurich, 101, 102, model=cg.DEFAULT_MODEL)
    assert set(explanation.to_frame().index) == {
        "classification", "severity", "text", "location", "brand", "time", "category",
    }  # fmt: skip
    assert sum(explanation.contributions.values()) == pytest.approx(explanation.score)
    assert "facade" in explanation.shared_tokens
    assert "score" in str(explanation)


def test_import_does_not_load_sqlalchemy_or_litestar():
    code = (
        "import sys, cleanapp_geo; "
        "bad = [m for m in ('sqlalchemy', 'geoalchemy2', 'litestar', 'msgspec') "
        "if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_analysis_never_mutates_input(zurich):
    before = zurich.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cg.analyze(zurich, now=NOW)
    pd.testing.assert_frame_equal(zurich, before)
    assert np.array_equal(zurich.index, before.index)


@pytest.mark.parametrize("n_background", [0, 6_000])  # 6,000: the tokenizer runs on a thread
def test_untitled_representative_is_titled_by_its_groups_most_frequent_tokens(n_background):
    base = {"ts": "2026-03-10T10:00:00Z", "latitude": 47.0, "brand_display_name": "Migros"}
    records = [
        {**base, "seq": 1, "longitude": 8.0, "severity_level": 0.9, "title": ""},
        {**base, "seq": 2, "longitude": 8.00001, "severity_level": 0.8,
         "title": "Broken glass bottle near the bus stop", "summary": "glass everywhere"},
        {**base, "seq": 3, "longitude": 8.00002, "severity_level": 0.8,
         "title": "Glass shards"},
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    for k in range(n_background):  # far away, other texts: their own hypotheses
        records.append(
            {"seq": 100 + k, "ts": "2026-01-01T00:00:00Z", "latitude": 46.0 + rng.random(),
             "longitude": 7.0 + rng.random(), "severity_level": 0.1, "title": f"item{k}"}
        )  # fmt: skip
    result = cg.analyze(cg.reports_from_records(records), model=cg.DEFAULT_MODEL, now=NOW)
    first = result.hypotheses[0]
    assert sorted(first.report_seqs) == [1, 2, 3]
    # The representative (highest severity) has no text: the three tokens held by most of
    # the group's reports, ties alphabetical ("near" and "the" are stop words).
    assert first.title == "Glass Bottle Broken"
