"""Property tests: the fast paths against simple reference implementations."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from strategies import BASE_TS, brute_force_edges, models, report_frames
from upstream_examples import zurich_records

import cleanapp_geo as cg
from cleanapp_geo.arrays import prepare_reports
from cleanapp_geo.blocking import (
    CandidatePlan,
    _route_options,
    _text_blocks,
    candidate_graph,
    candidate_pairs,
)
from cleanapp_geo.model import FEATURES
from cleanapp_geo.similarity import score_pairs
from cleanapp_geo.text import tokenize

PRESETS = {"upstream": cg.UPSTREAM_MODEL, "default": cg.DEFAULT_MODEL}


def fast_edges(reports, model, classification=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cg.ExhaustiveScoringWarning)
        edges = cg.similarity_edges(reports, model=model, classification=classification)
    return set(edges.index.tolist())


@pytest.mark.parametrize("preset", sorted(PRESETS))
@given(reports=report_frames())
def test_fast_edges_equal_brute_force_for_presets(preset, reports):
    model = PRESETS[preset]
    assert fast_edges(reports, model) == brute_force_edges(reports, model)


@given(reports=report_frames(), model=models())
def test_fast_edges_equal_brute_force_for_random_models(reports, model):
    assert fast_edges(reports, model, "physical") == brute_force_edges(reports, model, "physical")


@given(reports=report_frames(min_size=2), model=models())
def test_candidates_are_unique_ordered_pairs(reports, model):
    arrays = prepare_reports(reports, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cg.ExhaustiveScoringWarning)
        pairs, _ = candidate_pairs(arrays, model)
    assert np.all(pairs[:, 0] < pairs[:, 1])
    keys = pairs[:, 0] * len(arrays) + pairs[:, 1]
    assert len(np.unique(keys)) == len(keys)


def reference_score(a, b, model, classification="physical"):
    """A per-pair pure-Python scorer written straight from the documented formulas."""
    cls_a = a["classification"] or classification
    cls_b = b["classification"] or classification
    dsev = abs(a["severity_level"] - b["severity_level"])
    ta = tokenize(
        " ".join([a["title"], a["summary"], a["description"]]), stop_words=model.stop_words
    )
    tb = tokenize(
        " ".join([b["title"], b["summary"], b["description"]]), stop_words=model.stop_words
    )
    jac = len(ta & tb) / len(ta | tb) if ta and tb else 0.0
    lat1, lat2 = math.radians(a.geometry.y), math.radians(b.geometry.y)
    dlat = lat2 - lat1
    dlon = math.radians(b.geometry.x - a.geometry.x)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    d = 2 * 6_371_000 * math.atan2(math.sqrt(h), math.sqrt(1 - h))
    dt = abs((a["ts"] - b["ts"]).total_seconds())
    brand_a, brand_b = a["brand_display_name"], b["brand_display_name"]
    cat_a, cat_b = a["category"].lower(), b["category"].lower()
    known = {
        "classification": model.missing == "no_match"
        or (a["classification"] != "" and b["classification"] != ""),
        "severity": not math.isnan(dsev),
        "text": bool(ta and tb),
        "location": True,
        "brand": brand_a != "" and brand_b != "",
        "time": True,
        "category": cat_a != "" and cat_b != "",
    }
    k = {
        "classification": float(cls_a == cls_b),
        "severity": float(dsev <= model.severity_max_diff)
        if model.severity_kernel == "step"
        else 1 - dsev,
        "text": float(jac > model.text_min_jaccard)
        if model.text_kernel == "step"
        else min(1.0, jac / model.text_saturation),
        "location": float(d < model.location_max_m)
        if model.location_kernel == "step"
        else math.exp(-d / model.location_scale_m),
        "brand": float(brand_a != "" and brand_a.lower() == brand_b.lower()),
        "time": float(dt <= model.time_max_s)
        if model.time_kernel == "step"
        else math.exp(-dt / model.time_scale_s),
        "category": float(cat_a == cat_b),
    }
    k = {f: (value if known[f] else 0.0) for f, value in k.items()}
    raw = sum(model.weights[f] * k[f] for f in FEATURES)
    if model.missing == "no_match":
        return raw, d
    total = sum(model.weights[f] for f in FEATURES if known[f])
    return (raw / total if total > 0 else 0.0), d


@given(reports=report_frames(min_size=2, max_size=8), model=models())
def test_vectorised_scores_match_reference_and_are_symmetric(reports, model):
    arrays = prepare_reports(reports, model, classification="physical")
    i, j = np.triu_indices(len(arrays), k=1)
    forward = score_pairs(arrays, i, j, model)
    backward = score_pairs(arrays, j, i, model)
    np.testing.assert_allclose(forward["score"], backward["score"], rtol=0, atol=1e-12)
    assert np.all((forward["score"] >= 0) & (forward["score"] <= 1 + 1e-12))
    rows = reports.reset_index(drop=True)
    for k, (a, b) in enumerate(zip(i, j, strict=True)):
        expected, distance = reference_score(rows.iloc[a], rows.iloc[b], model)
        if np.isnan(forward["jaccard"][k]) and model.weights["text"] > 0:
            # Text was skipped because it could not make an edge: the score is a lower
            # bound, and the full score is below the threshold too.
            assert forward["score"][k] <= expected + 1e-9
            assert expected < model.threshold
        else:
            assert forward["score"][k] == pytest.approx(expected, abs=1e-9)
        assert forward["distance_m"][k] == pytest.approx(distance, rel=1e-9, abs=1e-6)


def canonical(result):
    return [
        (
            h.hypothesis_id,
            h.report_seqs,
            round(h.confidence, 12),
            round(h.urgency_score, 12),
            h.rationale,
        )
        for h in result.hypotheses
    ]


@given(
    reports=report_frames(),
    seed=st.integers(0, 2**16),
    model=st.sampled_from(list(PRESETS.values())),
)
def test_hypotheses_do_not_depend_on_row_order(reports, seed, model):
    shuffled = reports.sample(frac=1.0, random_state=seed)
    first = cg.analyze(reports, model=model, now=BASE_TS)
    second = cg.analyze(shuffled, model=model, now=BASE_TS)
    assert canonical(first) == canonical(second)
    assert first.stats == second.stats


@given(reports=report_frames(min_size=1))
def test_every_report_is_in_exactly_one_hypothesis(reports):
    result = cg.analyze(reports, model=cg.UPSTREAM_MODEL, now=BASE_TS)
    seqs = [s for h in result.hypotheses for s in h.report_seqs]
    assert sorted(seqs) == sorted(reports["seq"].tolist())
    for h in result.hypotheses:
        assert h.representative_report_seq == h.report_seqs[0]
        assert h.report_count == len(h.report_seqs)
        assert 0 <= h.confidence <= 0.98 and 0 <= h.urgency_score <= 1


@given(reports=report_frames(), x0=st.floats(8.54, 8.544), y0=st.floats(47.37, 47.3725))
def test_scoped_analysis_only_sees_reports_in_scope(reports, x0, y0):
    box = shapely.box(x0, y0, x0 + 0.002, y0 + 0.001)
    result = cg.analyze(reports, scope=box, model=cg.UPSTREAM_MODEL, now=BASE_TS)
    assert set(result.reports["seq"]) <= set(reports["seq"])
    inside = shapely.intersects_xy(box, reports.geometry.x, reports.geometry.y)
    assert set(result.reports["seq"]) == set(reports["seq"][np.asarray(inside)])


def test_brute_force_helper_sees_the_worked_example(zurich_reports):
    assert brute_force_edges(zurich_reports, cg.UPSTREAM_MODEL) == {(101, 102)}


@pytest.fixture
def zurich_reports():
    now = pd.Timestamp("2026-03-10T12:00:00Z")
    return cg.reports_from_records(zurich_records(now))


@given(reports=report_frames(min_size=1), model=st.sampled_from(list(PRESETS.values())))
def test_labels_follow_the_rows_of_the_analysed_frame(reports, model):
    result = cg.analyze(reports, model=model, now=BASE_TS)
    for seq, label in zip(result.reports["seq"], result.labels, strict=True):
        assert seq in result.hypotheses[label].report_seqs


@st.composite
def text_route_models(draw):
    """Gate-less models under missing="ignore" whose exact plan usually joins texts."""
    base = cg.SimilarityModel(
        text_kernel=draw(st.sampled_from(["step", "jaccard"])),
        text_saturation=draw(st.sampled_from([1.0, 0.5])),
        location_kernel=draw(st.sampled_from(["step", "exp"])),
        location_scale_m=draw(st.sampled_from([20.0, 50.0])),
        threshold=draw(st.floats(0.6, 0.95)),
        missing="ignore",
    )
    return base.with_weights(
        classification=draw(st.floats(0, 0.1)),
        severity=draw(st.floats(0, 0.1)),
        text=draw(st.floats(0.1, 0.4)),
        location=draw(st.floats(0.3, 0.7)),
        brand=draw(st.floats(0, 0.1)),
        time=0.0,
    )


@given(reports=report_frames(), model=st.one_of(text_route_models(), models()))
def test_every_exact_route_option_covers_every_edge(reports, model):
    # Not only the plan chosen for these reports: every option the planner may choose
    # (spatial only, text only, both, with equality blocks) must hold every edge. Under
    # missing="ignore" a pair whose text is unknown is scored without text's weight.
    arrays = prepare_reports(reports, model, classification="physical")
    edges = brute_force_edges(reports, model, "physical")
    for radius, min_jaccard, location_budget, why in _route_options(model):
        if min_jaccard is not None and min_jaccard <= 0:
            continue
        blocks = _text_blocks(model, location_budget) if min_jaccard is not None else ((),)
        plan = CandidatePlan(radius, min_jaccard, model.radius_gate_m, False, why, blocks)
        graph, _ = candidate_graph(arrays, model, plan)
        seq = arrays.seq
        found = {
            (min(int(seq[a]), int(seq[b])), max(int(seq[a]), int(seq[b])))
            for a, b in graph.pairs().tolist()
        }
        assert edges <= found, (why, radius, min_jaccard, blocks)
