"""Model selection on real labelled files and synthetic hard data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import cleanapp_geo as cg
from cleanapp_geo.evaluation import evaluate_clustering
from cleanapp_geo.model_selection import (
    Candidate,
    SelectionSpace,
    _with_category,
    candidate_models,
    choose_gate,
    objective,
    score_candidates,
    select_model,
)
from cleanapp_geo.tuning import labelled_pairs

BUNDLED = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "real311"
TINY = SelectionSpace(
    location_scale_m=(40.0,),
    time_scale_s=(2 * 86_400.0,),
    groupings=(("connected", 0.5),),
    category_weight=(0.0, 0.3),
    stricter_thresholds=1,
)


@pytest.fixture(scope="module")
def real():
    names = ("chicago_potholes_2018-12", "nyc311_2024-04-15_window")
    return {n: cg.realdata.read_labelled_reports(BUNDLED / f"{n}.csv.gz") for n in names}


@pytest.mark.parametrize("missing", ["no_match", "ignore"])
@pytest.mark.parametrize("grouping", ["connected", "average"])
def test_category_weight_changes_nothing_on_reports_without_category(missing, grouping):
    frame = cg.make_reports(1_500, seed=8, mode="hard")
    base = cg.SimilarityModel.from_dict(
        {**cg.DEFAULT_MODEL.with_weights(category=0.0).to_dict(), "grouping": grouping}
    )
    now = frame["ts"].max()
    plain = cg.analyze(frame, model=_with_category(base, 0.0, missing), now=now).labels
    heavy = cg.analyze(frame, model=_with_category(base, 0.4, missing), now=now).labels
    assert evaluate_clustering(plain, heavy)["ari"] == pytest.approx(1.0)


def test_category_weight_decides_between_two_reports_that_only_share_place_and_time():
    rows = [
        {"seq": s, "ts": "2018-12-07T00:00:00Z", "latitude": 41.95, "longitude": -87.69,
         "category": c, "classification": ""}
        for s, c in ((1, "Pothole in Street"), (2, "Pothole in Street"), (3, "Graffiti"))
    ]  # fmt: skip
    reports = cg.reports_from_records(rows)
    base = cg.DEFAULT_MODEL.with_weights(category=0.0)
    model = _with_category(base, 0.3, "no_match")
    seqs = [
        h.report_seqs
        for h in cg.analyze(reports, model=model, now="2018-12-08T00:00:00Z").hypotheses
    ]
    assert sorted(seqs) == [(1, 2), (3,)]


def test_candidates_keep_their_synthetic_f1_and_scores_cover_every_file(real):
    frames = [cg.make_reports(3_000, seed=s, mode="hard") for s in (1, 2)]
    sample = labelled_pairs((1, 2), frames=frames, max_radius_m=150.0)
    candidates = candidate_models(sample, TINY, min_synthetic_f1=0.5)
    assert candidates and len(candidates) <= TINY.size()
    assert {c.model.missing for c in candidates} == {"no_match", "ignore"}
    assert all(c.synthetic_f1 >= 0.5 for c in candidates)
    table = score_candidates(candidates, real, radius_gate_m=150.0)
    assert len(table) == len(candidates)
    for name in real:
        assert table[f"{name}:dup_recall"].between(0, 1).all()
    # The fast evaluator agrees with the pipeline on a real file.
    model = candidates[-1].model
    reports, labels = real["chicago_potholes_2018-12"]
    groups = cg.analyze(reports, model=model, now=reports["ts"].max()).labels
    exact = cg.evaluation.duplicate_scores(labels, groups, reports["ts"])
    fast = score_candidates([Candidate(model, 1.0)], real, radius_gate_m=150.0).iloc[0]
    assert fast["chicago_potholes_2018-12:dup_recall"] == pytest.approx(exact.dup_recall)
    assert fast["chicago_potholes_2018-12:false_dup_rate"] == pytest.approx(exact.false_dup_rate)
    # A false merge costs twice a miss; the synthetic data counts as one more file.
    value = objective(table.iloc[[0]], list(real), false_dup_cost=2.0)[0]
    row = table.iloc[0]
    utilities = [row[f"{n}:dup_recall"] - 2 * row[f"{n}:false_dup_rate"] for n in real]
    expected = np.mean([*utilities, row["synthetic_f1"]])
    assert value == pytest.approx(expected)


def test_select_model_holds_each_real_file_out(real, tmp_path):
    report = select_model(
        real,
        synthetic_train_seeds=(1, 2),
        synthetic_test_seeds=(3,),
        n_reports=3_000,
        test_reports=3_000,
        space=TINY,
        min_synthetic_f1=0.5,
    )
    assert [f["name"] for f in report.folds] == list(real)
    assert set(report.synthetic) == {"selected", *real}
    assert 0 < report.synthetic["selected"]["pairwise_f1"] <= 1
    assert report.model.radius_gate_m == 150.0
    paths = report.write(tmp_path)
    assert cg.SimilarityModel.from_dict(json.loads(paths["model"].read_text())) == report.model
    document = json.loads(paths["report"].read_text())
    assert [f["name"] for f in document["folds"]] == list(real)
    assert "held-out file" in paths["markdown"].read_text()


def test_select_model_refuses_one_file_or_shared_seeds(real):
    one = dict(list(real.items())[:1])
    with pytest.raises(ValueError, match="at least two real files"):
        select_model(one)
    with pytest.raises(ValueError, match="must differ"):
        select_model(real, synthetic_train_seeds=(1, 2), synthetic_test_seeds=(2,))


def test_the_gate_is_the_smallest_keeping_enough_true_pairs():
    frames = [cg.make_reports(3_000, seed=4, mode="hard")]
    sample = labelled_pairs((4,), frames=frames, max_radius_m=200.0)
    space = SelectionSpace(radius_gates_m=(200.0, 5.0, 150.0), min_candidate_recall=0.99)
    assert sample.candidate_recall(5.0) < 0.99 <= sample.candidate_recall(150.0)
    assert choose_gate(sample, space) == 150.0
    never = SelectionSpace(radius_gates_m=(5.0, 10.0), min_candidate_recall=0.99)
    assert choose_gate(sample, never) == 10.0  # the largest when none keeps enough
