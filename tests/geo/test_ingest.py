"""cleanapp_geo.ingest: automatic matching of one new report, and its decisions.

The lean path (plain values, no frames) is checked against the library's frame functions
(match_cases, prepare_reports + score_pairs) on random inputs; the decision rules one by
one; a batch against one report after the other; the quality floors on synthetic streams.
"""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import report_frames

import cleanapp_geo as cg
from cleanapp_geo.arrays import prepare_reports
from cleanapp_geo.calibration import pair_calibration
from cleanapp_geo.ingest import (
    MAX_SUGGESTIONS,
    CaseFacts,
    InvalidIngestError,
    ReportFacts,
    ReportMatch,
    decide_ingest,
    eligible_cases,
    eligible_cases_many,
    match_report,
)
from cleanapp_geo.ingest_batch import BatchMatcher, match_batch
from cleanapp_geo.matching import (
    ClusterFacts,
    case_scores,
    cases_frame,
    match_cases,
    report_case_scores,
)
from cleanapp_geo.similarity import score_pairs
from cleanapp_geo.streams import run_stream, stream_quality, synthetic_stream
from cleanapp_geo.text import tokenize

NOW = pd.Timestamp("2026-03-20T12:00:00Z")


# --------------------------------------------------------------------------- lean == frames


@st.composite
def scenes(draw: st.DrawFn) -> tuple[ReportFacts, list[dict], list[ReportFacts]]:
    """A new report, cases around it and their linked reports (the first row is new)."""
    frame = draw(report_frames(min_size=2, max_size=12))
    facts = ReportFacts.from_frame(frame)
    new, others = facts[0], facts[1:]
    n_cases = draw(st.integers(1, 4))
    records = []
    for k in range(n_cases):
        linked = draw(st.lists(st.sampled_from(others), min_size=1, max_size=4, unique=True))
        anchor = linked[0]
        hull = shapely.buffer(
            shapely.multipoints([(r.longitude, r.latitude) for r in linked]), 1e-4
        )
        records.append(
            {
                "case_id": f"case_{k}",
                "status": draw(st.sampled_from(["open", "escalated", "resolved", "merged"])),
                "title": anchor.title,
                "summary": draw(st.sampled_from(["", "bricks falling", "overflowing bin"])),
                "updated_at": NOW - pd.Timedelta(days=draw(st.integers(0, 120))),
                "anchor_lat": anchor.latitude,
                "anchor_lng": anchor.longitude,
                "cluster_count": draw(st.integers(0, 4)),
                "report_seqs": [r.seq for r in linked],
                "geometry": draw(st.sampled_from([None, hull])),
            }
        )
    return new, records, others


@settings(max_examples=60, deadline=None)
@given(scenes())
def test_case_scores_equal_match_cases_of_a_one_report_cluster(
    scene: tuple[ReportFacts, list[dict], list[ReportFacts]],
) -> None:
    new, records, _ = scene
    cases = [CaseFacts.from_record(r) for r in records]
    got = {m.case_id: m for m in match_report(new, cases, {}, now=NOW)}
    one = cg.reports_from_records([{
        "seq": new.seq, "ts": new.ts, "latitude": new.latitude, "longitude": new.longitude,
        "severity_level": new.severity_level, "title": new.title, "summary": new.summary,
        "description": new.description,
    }])  # fmt: skip
    reference = {c.case_id: c for c in match_cases(cases_frame(records), one, now=NOW)}
    window = pd.Timedelta(days=90)
    eligible = [
        r["case_id"] for r in records
        if r["status"] != "merged"
        and (r["status"] != "resolved" or NOW - r["updated_at"] <= window)
    ]  # fmt: skip
    assert sorted(got) == sorted(eligible)
    for case_id, match in got.items():
        if case_id in reference:  # match_cases drops weak candidates; ours keeps them as "new"
            assert match.case_score == reference[case_id].match_score
            assert match.case_band == reference[case_id].band
            assert match.suggested_action == reference[case_id].suggested_action
        else:
            assert match.case_score < 0.35


@settings(max_examples=60, deadline=None)
@given(st.lists(scenes(), min_size=1, max_size=4), st.booleans())
def test_report_case_scores_equal_case_scores_of_each_one_report_cluster(
    batch: list[tuple[ReportFacts, list[dict], list[ReportFacts]]], unlocated: bool
) -> None:
    """Many (report, case) pairs in one call == case_scores of each report's own cluster."""
    pairs = []
    for n, (new, records, _) in enumerate(batch):
        if unlocated and n == 0:  # a report at (0, 0) has no location
            new = dataclasses.replace(new, longitude=0.0, latitude=0.0)
        pairs.extend((new, CaseFacts.from_record(r)) for r in records)
    got = report_case_scores(
        [r.seq for r, _ in pairs],
        [r.longitude for r, _ in pairs],
        [r.latitude for r, _ in pairs],
        [tokenize(r.display_title) for r, _ in pairs],
        report_seqs=[c.report_seqs for _, c in pairs],
        areas=[c.area for _, c in pairs],
        anchor_lon=[math.nan if c.anchor_longitude is None else c.anchor_longitude
                    for _, c in pairs],
        anchor_lat=[math.nan if c.anchor_latitude is None else c.anchor_latitude
                    for _, c in pairs],
        case_tokens=[tokenize(f"{c.title} {c.summary}") for _, c in pairs],
        cluster_counts=[c.cluster_count for _, c in pairs],
    )  # fmt: skip
    for p, (report, case) in enumerate(pairs):
        cluster = ClusterFacts.from_points(
            [report.seq], [report.longitude], [report.latitude], [report.display_title]
        )
        one = case_scores(
            cluster, report_seqs=[case.report_seqs], areas=[case.area],
            anchor_lon=[math.nan if case.anchor_longitude is None else case.anchor_longitude],
            anchor_lat=[math.nan if case.anchor_latitude is None else case.anchor_latitude],
            texts=[f"{case.title} {case.summary}"], cluster_counts=[case.cluster_count],
        )  # fmt: skip
        assert got.score[p] == one.score[0]
        assert got.reasons(p) == one.reasons(0)
        for name in ("shared", "overlap_part", "similarity"):
            assert getattr(got, name)[p] == getattr(one, name)[0]
        assert got.distance_m[p] == one.distance_m[0] or (
            math.isnan(got.distance_m[p]) and math.isnan(one.distance_m[0])
        )


@settings(max_examples=40, deadline=None)
@given(st.lists(scenes(), max_size=4))
def test_eligible_cases_of_many_reports_equal_one_report_at_a_time(
    batch: list[tuple[ReportFacts, list[dict], list[ReportFacts]]],
) -> None:
    near = [[CaseFacts.from_record(r) for r in records] for _, records, _ in batch] + [[]]
    window_s = 90 * 86_400.0
    assert eligible_cases_many(near, NOW, window_s) == [
        eligible_cases(cases, NOW, window_s) for cases in near
    ]


@settings(max_examples=60, deadline=None)
@given(scenes())
def test_evidence_is_the_best_pair_score_of_the_frame_path(
    scene: tuple[ReportFacts, list[dict], list[ReportFacts]],
) -> None:
    new, records, others = scene
    records = [{**r, "status": "open", "updated_at": NOW} for r in records]
    cases = [CaseFacts.from_record(r) for r in records]
    evidence = {r["case_id"]: [o for o in others if o.seq in r["report_seqs"]] for r in records}
    got = {m.case_id: m for m in match_report(new, cases, evidence, now=NOW)}
    # Reference: the whole scene as one report frame, scored by the frame path.
    frame = cg.reports_from_records([
        {"seq": r.seq, "ts": r.ts, "latitude": r.latitude, "longitude": r.longitude,
         "severity_level": None if math.isnan(r.severity_level) else r.severity_level,
         "classification": r.classification, "brand_display_name": r.brand_display_name,
         "category": r.category, "title": r.title, "summary": r.summary,
         "description": r.description}
        for r in [new, *others]
    ])  # fmt: skip
    arrays = prepare_reports(frame, cg.DEFAULT_MODEL)
    j = np.arange(1, len(frame))
    scored = score_pairs(arrays, np.zeros(len(j), np.int64), j, cg.DEFAULT_MODEL, force_text=True)
    gate = cg.DEFAULT_MODEL.radius_gate_m
    by_seq = {
        int(frame["seq"].iloc[int(k)]): float(s) if d <= gate else 0.0
        for k, s, d in zip(j, scored["score"], scored["distance_m"], strict=True)
    }
    for record in records:
        best = max((by_seq[s] for s in record["report_seqs"]), default=0.0)
        match = got[record["case_id"]]
        assert match.evidence_score == pytest.approx(best, abs=1e-12)
        if best > 0:
            assert by_seq[match.evidence_seq] == pytest.approx(best, abs=1e-12)
            assert match.evidence_band == pair_calibration().band(best)
        else:
            assert match.evidence_seq is None and match.evidence_band == "new"


@settings(max_examples=40, deadline=None)
@given(scenes(), st.randoms(use_true_random=False))
def test_matches_and_decision_do_not_depend_on_input_order(
    scene: tuple[ReportFacts, list[dict], list[ReportFacts]], rnd: random.Random
) -> None:
    new, records, others = scene
    cases = [CaseFacts.from_record(r) for r in records]
    evidence = {r["case_id"]: [o for o in others if o.seq in r["report_seqs"]] for r in records}
    first = match_report(new, cases, evidence, now=NOW)
    shuffled_cases = list(cases)
    rnd.shuffle(shuffled_cases)
    shuffled_evidence = {k: rnd.sample(v, len(v)) for k, v in evidence.items()}
    second = match_report(new, shuffled_cases, shuffled_evidence, now=NOW)
    assert first == second
    assert decide_ingest(first, auto_reopen=True) == decide_ingest(reversed(second),
                                                                   auto_reopen=True)  # fmt: skip


# --------------------------------------------------------------------------- decisions


def _match(case_id: str, band: str, *, status: str = "open", p: float = 0.5) -> ReportMatch:
    return ReportMatch(
        case_id=case_id, status=status,
        suggested_action="reopen" if status in ("resolved", "closed") else "attach",
        band=band, probability=p, case_score=0.5, case_band="new", evidence_score=0.6,  # type: ignore[arg-type]
        evidence_band=band, evidence_seq=1, distance_m=10.0, reasons=(),  # type: ignore[arg-type]
        updated_at=NOW,
    )  # fmt: skip


def test_an_active_case_in_the_auto_band_takes_the_report() -> None:
    decision = decide_ingest([_match("b", "review", p=0.6), _match("a", "auto", p=0.9),
                              _match("r", "auto", status="resolved", p=0.99)])  # fmt: skip
    assert (decision.action, decision.case_id, decision.reopen) == ("attach", "a", False)
    assert decision.suggestions == () and decision.signals == ()


def test_a_recurrence_is_suggested_or_reopens_with_the_setting() -> None:
    recurrence = _match("r", "auto", status="resolved", p=0.95)
    review = _match("b", "review", p=0.4)
    off = decide_ingest([review, recurrence])
    assert (off.action, off.case_id, off.reopen) == ("suggest", "r", False)
    assert [m.case_id for m in off.suggestions] == ["r", "b"]
    assert off.signals == (recurrence,)
    on = decide_ingest([review, recurrence], auto_reopen=True)
    assert (on.action, on.case_id, on.reopen) == ("attach", "r", True)
    assert on.signals == (recurrence,) and on.suggestions == ()
    # A recurrence in the review band never reopens by itself.
    weak = decide_ingest([_match("r", "review", status="closed")], auto_reopen=True)
    assert (weak.action, weak.reopen, len(weak.signals)) == ("suggest", False, 1)


def test_review_matches_are_suggested_best_first_and_capped() -> None:
    matches = [_match(f"c{k}", "review", p=0.1 + k / 100) for k in range(6)]
    decision = decide_ingest([*matches, _match("n", "new", p=0.9)])
    assert decision.action == "suggest"
    assert [m.case_id for m in decision.suggestions] == ["c5", "c4", "c3"][:MAX_SUGGESTIONS]
    assert decide_ingest([_match("n", "new")]).action == "none"
    tie = decide_ingest([_match("z", "review"), _match("a", "review")])
    assert tie.case_id == "a"  # equal band, probability and update: by case_id


def test_match_report_ranks_and_explains() -> None:
    report = ReportFacts(
        seq=9, longitude=8.5417, latitude=47.3769, ts=NOW, severity_level=0.8,
        title="Overflowing trash bin at the station",
    )  # fmt: skip
    near = ReportFacts(
        seq=1, longitude=8.54171, latitude=47.37691, ts=NOW - pd.Timedelta(hours=2),
        severity_level=0.8, title="Trash bin overflowing at station",
    )  # fmt: skip
    far_off = ReportFacts(seq=2, longitude=8.5440, latitude=47.3769, ts=NOW, title="Bin")
    cases = [
        CaseFacts("case_a", "open", NOW, title="Overflowing bin", report_seqs=(1,),
                  anchor_longitude=8.54171, anchor_latitude=47.37691),
        CaseFacts("case_b", "open", NOW, title="Bin", report_seqs=(2,),
                  anchor_longitude=8.5440, anchor_latitude=47.3769),
        CaseFacts("case_m", "merged", NOW, report_seqs=(1,)),
    ]  # fmt: skip
    matches = match_report(report, cases, {"case_a": [near], "case_b": [far_off]}, now=NOW)
    assert [m.case_id for m in matches] == ["case_a", "case_b"]
    best = matches[0]
    assert best.band == "auto" and best.evidence_seq == 1
    assert "like report 1" in best.reasons and "same location" in best.reasons
    assert matches[1].evidence_seq is None  # 170 m away: beyond the 150 m radius gate
    assert match_report(report, [], {}, now=NOW) == []


def test_bad_facts_are_refused() -> None:
    with pytest.raises(InvalidIngestError, match="coordinates"):
        ReportFacts(seq=1, longitude=200.0, latitude=0.0, ts=NOW)
    with pytest.raises(InvalidIngestError, match="severity_level"):
        ReportFacts(seq=1, longitude=0.0, latitude=0.0, ts=NOW, severity_level=2.0)
    with pytest.raises(InvalidIngestError, match="timezone-aware"):
        ReportFacts(seq=1, longitude=0.0, latitude=0.0, ts=pd.Timestamp("2026-03-10"))
    with pytest.raises(InvalidIngestError, match="invalid case record"):
        CaseFacts.from_record({"status": "open"})
    assert (
        dataclasses.replace(
            ReportFacts(seq=1, longitude=0.0, latitude=0.0, ts=NOW), title=" "
        ).display_title
        == ""
    )


# --------------------------------------------------------------------------- batches


def _one_after_the_other(
    reports: list[ReportFacts],
    near: list[list[CaseFacts]],
    evidence: dict[str, list[ReportFacts]],
    **options: object,
) -> list[tuple[tuple[ReportMatch, ...], object]]:
    """The reference: match_report + decide_ingest per report, attached reports as evidence."""
    evidence = {k: list(v) for k, v in evidence.items()}
    out = []
    for report, cases in zip(reports, near, strict=True):
        matches = match_report(report, cases, evidence, now=NOW)
        decision = decide_ingest(matches, **options)  # type: ignore[arg-type]
        if decision.action == "attach" and decision.case_id is not None:
            evidence.setdefault(decision.case_id, []).append(report)
        out.append((tuple(matches), decision))
    return out


@pytest.mark.parametrize(("seed", "auto_reopen"), [(3, False), (4, True)])
def test_a_batch_decides_as_one_report_after_the_other(seed: int, auto_reopen: bool) -> None:
    """A stream's reports against every case with an evidence report within 250 m."""
    stream = synthetic_stream(4_000, seed=seed)
    rng = random.Random(seed)
    cases = [  # some resolved ones too, for recurrences
        dataclasses.replace(c, status=rng.choice(["open", "open", "in_progress", "resolved"]),
                            updated_at=NOW - pd.Timedelta(days=rng.choice([1, 10, 200])))
        for c in stream.cases
    ]  # fmt: skip
    by_seq = {f.seq: f for f in stream.facts}
    evidence = {c.case_id: [by_seq[s] for s in c.report_seqs] for c in cases}
    reports = [stream.facts[p] for p in stream.stream[:600]]
    near = []
    for report in reports:
        lon, lat = report.longitude, report.latitude
        near.append(
            [
                c
                for c in cases
                if any(
                    abs(e.latitude - lat) < 0.0025 and abs(e.longitude - lon) < 0.0035
                    for e in evidence[c.case_id]
                )
            ]
        )
    batch = match_batch(reports, near, evidence, now=NOW, auto_reopen=auto_reopen)
    reference = _one_after_the_other(reports, near, evidence, auto_reopen=auto_reopen)
    assert [(b.matches, b.decision) for b in batch] == reference
    assert [b.report for b in batch] == reports
    actions = {b.decision.action for b in batch}
    assert actions == {"attach", "suggest", "none"}  # every path was taken
    # Later reports saw earlier ones of the batch as evidence.
    attached = {b.report.seq for b in batch if b.decision.action == "attach"}
    assert any(m.evidence_seq in attached for b in batch for m in b.matches if m.evidence_seq)


def _refreshed(case: CaseFacts, linked: list[ReportFacts], at: pd.Timestamp) -> CaseFacts:
    """A case after a link, as a store would refresh it: open, anchor and area moved."""
    points = shapely.multipoints([(r.longitude, r.latitude) for r in linked])
    anchor = max(linked, key=lambda r: (r.severity_level, -r.seq))
    return dataclasses.replace(
        case, status="open", updated_at=at, anchor_longitude=anchor.longitude,
        anchor_latitude=anchor.latitude, area=shapely.buffer(points, 2e-4),
    )  # fmt: skip


@pytest.mark.parametrize(("seed", "auto_reopen"), [(5, False), (6, True)])
def test_a_batch_with_refreshed_cases_decides_as_one_report_after_the_other(
    seed: int, auto_reopen: bool
) -> None:
    """BatchMatcher told each case's new facts after a link == match_report on those facts.

    The batch scores every (report, case) pair once and scores again only the pairs of
    cases refreshed during the batch; one report after the other scores each report alone.
    """
    stream = synthetic_stream(3_000, seed=seed)
    rng = random.Random(seed)
    cases = [
        dataclasses.replace(c, status=rng.choice(["open", "open", "resolved"]),
                            updated_at=NOW - pd.Timedelta(days=rng.choice([1, 10, 200])))
        for c in stream.cases
    ]  # fmt: skip
    by_seq = {f.seq: f for f in stream.facts}
    evidence = {c.case_id: [by_seq[s] for s in c.report_seqs] for c in cases}
    reports = [stream.facts[p] for p in stream.stream[:400]]
    near = [
        [c for c in cases if any(abs(e.latitude - r.latitude) < 0.0025
                                 and abs(e.longitude - r.longitude) < 0.0035
                                 for e in evidence[c.case_id])]
        for r in reports
    ]  # fmt: skip
    matcher = BatchMatcher(reports, near, evidence, now=NOW, auto_reopen=auto_reopen)
    facts = {c.case_id: c for c in cases}
    linked = {k: list(v) for k, v in evidence.items()}
    refreshed = 0
    for i, (report, around) in enumerate(zip(reports, near, strict=True)):
        current = [facts[c.case_id] for c in around]
        matches = match_report(report, current, linked, now=NOW)
        decision = decide_ingest(matches, auto_reopen=auto_reopen)
        item = matcher.decide(i)
        assert (item.matches, item.decision) == (tuple(matches), decision)
        if decision.action == "attach" and decision.case_id is not None:
            case_id = decision.case_id
            linked.setdefault(case_id, []).append(report)
            new = None
            if matcher.needed_later(i, case_id):
                new = _refreshed(facts[case_id], linked[case_id], report.ts)
                facts[case_id] = new
                refreshed += 1
            matcher.attached(i, case_id, new)
    assert refreshed > 10  # the rescoring path was taken


def test_one_report_batches_decide_as_match_report() -> None:
    """POST /reports makes a batch of one report: == match_report, with or without cases.

    Every third report is given no case (the matcher then scores nothing); a batch of
    only such reports decides "none" for each, as the reference does.
    """
    stream = synthetic_stream(2_000, seed=7)
    by_seq = {f.seq: f for f in stream.facts}
    evidence = {c.case_id: [by_seq[s] for s in c.report_seqs] for c in stream.cases}
    reports = [stream.facts[p] for p in stream.stream[:150]]
    near = [
        [] if k % 3 == 0 else
        [c for c in stream.cases if any(abs(e.latitude - r.latitude) < 0.0025
                                        and abs(e.longitude - r.longitude) < 0.0035
                                        for e in evidence[c.case_id])]
        for k, r in enumerate(reports)
    ]  # fmt: skip
    seen = set()
    for report, around in zip(reports, near, strict=True):
        (item,) = match_batch([report], [around], evidence, now=NOW)
        matches = match_report(report, around, evidence, now=NOW)
        assert (item.matches, item.decision) == (tuple(matches), decide_ingest(matches))
        seen.add((bool(around), item.decision.action))
    assert {(False, "none"), (True, "attach")} <= seen
    lonely = [r for r, around in zip(reports, near, strict=True) if not around]
    batch = match_batch(lonely, [[] for _ in lonely], evidence, now=NOW)
    assert [(b.report, b.matches, b.decision) for b in batch] == [
        (r, (), decide_ingest(())) for r in lonely
    ]


def test_a_batch_needs_one_case_list_per_report() -> None:
    report = ReportFacts(seq=1, longitude=8.5, latitude=47.3, ts=NOW)
    with pytest.raises(InvalidIngestError, match="one sequence per report"):
        match_batch([report], [], {})
    assert match_batch([], [], {}) == []


# --------------------------------------------------------------------------- quality


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22])
def test_quality_floors_on_synthetic_streams(seed: int) -> None:
    stream = synthetic_stream(8_000, seed=seed)
    quality = stream_quality(stream, run_stream(stream))
    assert quality["incident_reports"] > 500
    assert quality["auto_precision"] >= 0.98, quality
    assert quality["incident_attached_or_suggested"] >= 0.90, quality
