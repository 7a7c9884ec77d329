"""Hypotheses and scope statistics, including reports whose severity is unknown."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import cleanapp_geo as cg

NOW = pd.Timestamp("2026-03-10T12:00:00Z")


def reports(severities):
    return cg.reports_from_records(
        [
            {
                "seq": 10 + k,
                "ts": NOW - pd.Timedelta(hours=k),
                "latitude": 47.37,
                "longitude": 8.54 + k * 1e-6,
                "severity_level": severity,
                "title": "overflowing bin at the station",
            }
            for k, severity in enumerate(severities)
        ]
    )


def test_stats_count_only_known_severities():
    result = cg.analyze(reports([0.9, None, 0.6]), model=cg.UPSTREAM_MODEL, now=NOW)
    stats = result.stats.to_dict()
    assert stats["report_count"] == 3
    assert stats["severity_average"] == pytest.approx(0.75)
    assert stats["severity_max"] == 0.9
    assert (stats["high_priority_count"], stats["medium_priority_count"]) == (1, 1)


def test_all_unknown_severity_is_null_on_the_wire_not_zero():
    result = cg.analyze(reports([None, None]), model=cg.UPSTREAM_MODEL, now=NOW)
    stats = result.stats.to_dict()
    assert stats["severity_average"] is None and stats["severity_max"] is None
    (hypothesis,) = result.hypotheses  # same text, place and class: one incident
    assert math.isnan(hypothesis.severity_score)
    record = result.to_dict()["hypotheses"][0]
    assert record["severity_score"] is None
    assert record == hypothesis.to_dict()
    # unknown severity adds nothing: 0.45 + size boost 0.16, no severity term
    assert hypothesis.confidence == pytest.approx(0.61)


def test_representative_is_the_highest_known_severity():
    result = cg.analyze(reports([None, 0.4, 0.7]), model=cg.UPSTREAM_MODEL, now=NOW)
    (hypothesis,) = result.hypotheses
    assert hypothesis.representative_report_seq == 12
    assert hypothesis.report_seqs == (12, 11, 10)
    assert hypothesis.severity_score == 0.7


def test_rationale_comes_from_edges_inside_the_group_only():
    model = cg.SimilarityModel.from_dict(
        {**cg.DEFAULT_MODEL.to_dict(), "grouping": "average", "linkage_cut": 1.0}
    )
    result = cg.analyze(cg.make_reports(600, seed=4, mode="hard"), model=model, now=NOW)
    group_of = {s: h for h in result.hypotheses for s in h.report_seqs}
    inside: dict[str, set[str]] = {h.hypothesis_id: set() for h in result.hypotheses}
    crossing = 0
    for (focal, neighbor), reasons in result.edges["reasons"].items():
        if group_of[focal] is group_of[neighbor]:
            inside[group_of[focal].hypothesis_id].update(reasons)
        else:
            crossing += 1
    assert crossing > 0  # average linkage left some edges between groups
    for h in result.hypotheses:
        assert list(h.rationale) == sorted(inside[h.hypothesis_id])
