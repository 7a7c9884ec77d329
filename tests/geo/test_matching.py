"""Candidate-case matching: scores, filters, order, bands."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import shapely

import cleanapp_geo as cg
from cleanapp_geo.arrays import haversine_m
from cleanapp_geo.matching import (
    CASE_COLUMNS,
    InvalidCasesError,
    auto_attach_score,
    case_area,
    cases_frame,
    match_band,
    match_cases,
    review_score,
)

NOW = pd.Timestamp("2026-03-10T12:00:00Z")
LAT, LON = 47.3769, 8.5417
M_PER_DEG_LAT = 6_371_000.0 * math.pi / 180.0


def north_of(metres: float) -> float:
    return LAT + metres / M_PER_DEG_LAT


def report(seq: int, *, lat: float = LAT, lon: float = LON, title: str = "") -> dict:
    return {
        "seq": seq, "ts": "2026-03-10T08:00:00Z", "latitude": lat, "longitude": lon,
        "severity_level": 0.5, "title": title or f"Report {seq}",
    }  # fmt: skip


def case(case_id: str = "case_a", **overrides: object) -> dict:
    base: dict = {
        "case_id": case_id, "slug": f"{case_id}-slug", "status": "open",
        "classification": "physical", "title": "", "summary": "",
        "updated_at": "2026-03-10T09:00:00Z", "report_seqs": [],
    }  # fmt: skip
    base.update(overrides)
    return base


def box_around(lat: float, lon: float, half_m: float) -> shapely.Polygon:
    dlat = half_m / M_PER_DEG_LAT
    dlon = half_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def only(candidates: list) -> cg.matching.CaseMatchCandidate:
    assert len(candidates) == 1, candidates
    return candidates[0]


# --------------------------------------------------------------------------- signals


def test_shared_reports_score_and_reason() -> None:
    cases = cases_frame([case(report_seqs=[1, 2, 3, 4])])
    reports = cg.reports_from_records([report(1, lat=0, lon=0), report(2, lat=0, lon=0)])
    got = only(match_cases(cases, reports, now=NOW))
    # 0.12 + 0.56 * 2 / max(2, 4); no location (reports at (0, 0) are unlocated), no text.
    assert got.match_score == pytest.approx(0.12 + 0.56 * 0.5)
    assert got.shared_report_count == 2
    assert got.match_reasons == ("2 shared reports",)
    assert got.distance_m is None
    assert got.band == "new"  # 0.40: below the calibrated review cut (cleanapp_geo.calibration)


def test_shared_reports_kept_even_below_threshold() -> None:
    cases = cases_frame([case(report_seqs=list(range(1, 101)))])
    reports = cg.reports_from_records([report(1, lat=0, lon=0)])
    got = only(match_cases(cases, reports, now=NOW))
    assert got.match_score == pytest.approx(0.12 + 0.56 / 100)
    assert got.band == "new"


def test_sharing_is_exact_for_long_seq_lists() -> None:
    # Upstream's GROUP_CONCAT truncated at 1024 characters (about 150 seqs).
    seqs = list(range(100_000, 100_600))
    cases = cases_frame([case(report_seqs=seqs)])
    reports = cg.reports_from_records([report(s, lat=0, lon=0) for s in seqs[-300:]])
    assert only(match_cases(cases, reports, now=NOW)).shared_report_count == 300


@pytest.mark.parametrize(
    ("metres", "bonus", "reason"),
    [
        (0.0, 0.18, "same location"),
        (59.0, 0.18, "same location"),
        (61.0, 0.12, "nearby location"),
        (149.0, 0.12, "nearby location"),
        (151.0, 0.06, None),
        (299.0, 0.06, None),
        (301.0, 0.0, None),
    ],
)
def test_haversine_distance_steps(metres: float, bonus: float, reason: str | None) -> None:
    lat = north_of(metres)
    cases = cases_frame([case(anchor_lat=lat, anchor_lng=LON, report_seqs=[9])])
    # A shared report keeps the candidate whatever its score; both reports lie at (LAT, LON).
    reports = cg.reports_from_records([report(9), report(1)])
    got = only(match_cases(cases, reports, now=NOW))
    expected = haversine_m(np.array([LON]), np.array([LAT]), np.array([LON]), np.array([lat]))
    assert got.distance_m == pytest.approx(float(expected[0]))
    assert got.distance_m == pytest.approx(metres, abs=0.01)
    assert got.match_score == pytest.approx(0.12 + 0.56 * 1 / 2 + bonus)
    assert (reason in got.match_reasons) if reason else got.match_reasons == ("1 shared reports",)


def test_distance_is_haversine_not_degrees() -> None:
    # 0.0018° of longitude at 47.4°N is ~135 m (upstream's box treated it as ~200 m).
    cases = cases_frame([case(anchor_lat=LAT, anchor_lng=LON + 0.0018, report_seqs=[9])])
    reports = cg.reports_from_records([report(9)])
    got = only(match_cases(cases, reports, now=NOW))
    assert 130 < got.distance_m < 140
    assert "nearby location" in got.match_reasons


def test_location_alone_is_dropped_and_language_rescues_it() -> None:
    near = case(anchor_lat=LAT, anchor_lng=LON, title="Something else entirely")
    assert match_cases(cases_frame([near]), cg.reports_from_records([report(1)]), now=NOW) == []
    worded = case(anchor_lat=LAT, anchor_lng=LON, title="Loose bricks entrance")
    reports = cg.reports_from_records([report(1, title="Loose bricks above entrance")])
    got = only(match_cases(cases_frame([worded]), reports, now=NOW))
    # tokens {loose, bricks, entrance} vs {loose, bricks, above, entrance}: Jaccard 3/4.
    assert got.match_score == pytest.approx(0.12 + 0.18 + 0.16 * 0.75)
    assert got.match_reasons == ("same location", "shared incident language")


def test_text_only_match_is_always_dropped() -> None:
    cases = cases_frame([case(title="Loose bricks entrance")])
    reports = cg.reports_from_records([report(1, lat=0, lon=0, title="Loose bricks entrance")])
    assert match_cases(cases, reports, texts=["Loose bricks entrance"], now=NOW) == []


def test_match_texts_count_towards_language() -> None:
    cases = cases_frame([case(anchor_lat=LAT, anchor_lng=LON, title="Broken fence panel")])
    reports = cg.reports_from_records([report(1, title="zzz")])
    got = only(match_cases(cases, reports, texts=["Broken fence panel", ""], now=NOW))
    assert "shared incident language" in got.match_reasons


def test_default_vocabulary_keeps_facade_and_upstream_drops_it() -> None:
    cases = cases_frame([case(anchor_lat=LAT, anchor_lng=LON, title="facade wall")])
    reports = cg.reports_from_records([report(1, title="facade wall")])
    assert only(match_cases(cases, reports, now=NOW)).match_score == pytest.approx(0.46)
    upstream = match_cases(
        cases, reports, now=NOW, stop_words=cg.text.UPSTREAM_STOP_WORDS
    )  # both tokens are upstream stop words: only the location signal is left
    assert upstream == []


def test_geometry_overlap_is_real_iou() -> None:
    area = box_around(LAT, LON, 100)
    half = shapely.box(*area.bounds[:2], (area.bounds[0] + area.bounds[2]) / 2, area.bounds[3])
    cases = cases_frame(
        [
            case("case_same", geometry=area, report_seqs=[50]),
            case("case_half", geometry=half, report_seqs=[51]),
        ]
    )
    reports = cg.reports_from_records([report(50), report(51)])
    got = {c.case_id: c for c in match_cases(cases, reports, geometry=area, now=NOW)}
    assert got["case_same"].match_score == pytest.approx(0.12 + 0.28 + 0.22 + 0.18)
    # IoU 0.5 → 0.175; the half box's centroid is 50 m west → same location.
    assert got["case_half"].match_score == pytest.approx(0.12 + 0.28 + 0.175 + 0.18)
    assert "overlapping area" in got["case_half"].match_reasons


def test_point_bbox_does_not_kill_overlap_share_of_points_inside() -> None:
    area = box_around(LAT, LON, 100)
    cases = cases_frame([case(geometry=area, report_seqs=[99])])
    inside = [report(1), report(2, lat=north_of(50))]
    outside = [report(3, lat=north_of(500))]
    reports = cg.reports_from_records([*inside, *outside, report(99)])
    got = only(match_cases(cases, reports, now=NOW))
    # 3 of the 4 cluster points lie in the case area: overlap 0.75 → min(0.22, 0.2625).
    # The cluster centre (mean of the points) is 137.5 m north of the area's centroid.
    assert got.match_reasons == ("1 shared reports", "overlapping area", "nearby location")
    assert got.distance_m == pytest.approx(137.5, rel=1e-3)
    assert got.match_score == pytest.approx(0.12 + 0.56 / 4 + 0.22 + 0.12)


def test_disjoint_area_gives_no_overlap() -> None:
    cases = cases_frame([case(geometry=box_around(north_of(2_000), LON, 50), report_seqs=[1])])
    reports = cg.reports_from_records([report(1)])
    got = only(match_cases(cases, reports, geometry=box_around(LAT, LON, 50), now=NOW))
    assert "overlapping area" not in got.match_reasons
    assert got.distance_m == pytest.approx(2_000, rel=1e-3)


def test_radius_scope_is_accepted_as_geometry() -> None:
    cases = cases_frame([case(geometry=box_around(LAT, LON, 200), report_seqs=[1])])
    reports = cg.reports_from_records([report(1)])
    scope = cg.RadiusScope(longitude=LON, latitude=LAT, radius_m=200)
    got = only(match_cases(cases, reports, geometry=scope, now=NOW))
    assert "overlapping area" in got.match_reasons


def test_accretion_bonus() -> None:
    base = case(report_seqs=[1], cluster_count=1)
    grown = case("case_b", report_seqs=[1], cluster_count=9)
    reports = cg.reports_from_records([report(1, lat=0, lon=0)])
    got = {c.case_id: c.match_score for c in match_cases(cases_frame([base, grown]), reports)}
    assert got["case_b"] - got["case_a"] == pytest.approx(0.05)


def test_score_is_capped_at_one() -> None:
    area = box_around(LAT, LON, 50)
    rich = case(
        geometry=area, anchor_lat=LAT, anchor_lng=LON, title="Loose bricks", report_seqs=[1],
        cluster_count=5,
    )  # fmt: skip
    reports = cg.reports_from_records([report(1, title="Loose bricks")])
    got = only(match_cases(cases_frame([rich]), reports, geometry=area, now=NOW))
    assert got.match_score == 1.0
    assert got.band == "auto"


# --------------------------------------------------------------------------- filters


def test_status_filters_and_reopen_suggestion() -> None:
    seqs = [1]
    cases = cases_frame(
        [
            case("case_open", report_seqs=seqs),
            case("case_inv", status="investigating", report_seqs=seqs),
            case("case_esc", status="escalated", report_seqs=seqs),
            case("case_res", status="resolved", report_seqs=seqs),
            case("case_closed", status="closed", report_seqs=seqs),
            case(
                "case_old", status="resolved", updated_at="2025-01-01T00:00:00Z", report_seqs=seqs
            ),
            case("case_merged", status="merged", report_seqs=seqs),
            case("case_weird", status="whatever", report_seqs=seqs),
        ]
    )
    reports = cg.reports_from_records([report(1, lat=0, lon=0)])
    got = {c.case_id: c.suggested_action for c in match_cases(cases, reports, now=NOW)}
    assert got == {
        "case_open": "attach",
        "case_inv": "attach",
        "case_esc": "attach",
        "case_res": "reopen",
        "case_closed": "reopen",
    }
    shorter = match_cases(cases, reports, now=NOW, reopen_window_s=60)
    assert {c.case_id for c in shorter} == {"case_open", "case_inv", "case_esc"}


def test_classification_filter_is_case_insensitive() -> None:
    cases = cases_frame(
        [case("case_p", report_seqs=[1]), case("case_d", classification="digital", report_seqs=[1])]
    )
    reports = cg.reports_from_records([report(1, lat=0, lon=0)])
    assert [c.case_id for c in match_cases(cases, reports, classification="Digital")] == ["case_d"]
    assert len(match_cases(cases, reports)) == 2


def test_order_score_then_updated_then_case_id() -> None:
    cases = cases_frame(
        [
            case("case_c", report_seqs=[1], updated_at="2026-03-10T08:00:00Z"),
            case("case_b", report_seqs=[1], updated_at="2026-03-10T09:00:00Z"),
            case("case_a", report_seqs=[1], updated_at="2026-03-10T08:00:00Z"),
            case("case_top", report_seqs=[1, 2], updated_at="2026-03-01T00:00:00Z"),
        ]
    )
    reports = cg.reports_from_records([report(1, lat=0, lon=0), report(2, lat=0, lon=0)])
    ids = [c.case_id for c in match_cases(cases, reports, now=NOW)]
    assert ids == ["case_top", "case_b", "case_a", "case_c"]


def test_deterministic_and_inputs_untouched() -> None:
    records = [case(f"case_{i}", report_seqs=[i, 100]) for i in range(20)]
    cases = cases_frame(records)
    before = cases.copy()
    reports = cg.reports_from_records([report(100), report(3)])
    first = match_cases(cases, reports, now=NOW)
    second = match_cases(cases.iloc[::-1], reports.iloc[::-1], now=NOW)
    assert first == second
    pd.testing.assert_frame_equal(cases, before)


def test_empty_inputs() -> None:
    assert match_cases(cases_frame([]), None, now=NOW) == []
    cases = cases_frame([case(report_seqs=[1])])
    assert match_cases(cases, None, now=NOW) == []


# --------------------------------------------------------------------------- bands and wire


def test_band_cut_points() -> None:
    assert match_band(1.0) == "auto"
    assert match_band(auto_attach_score()) == "auto"
    assert match_band(np.nextafter(auto_attach_score(), 0)) == "review"
    assert match_band(review_score()) == "review"
    assert match_band(0.349) == "new"


def test_wire_dict() -> None:
    cases = cases_frame(
        [case(anchor_report_seq=7, anchor_lat=LAT, anchor_lng=LON, report_seqs=[7])]
    )
    wire = only(match_cases(cases, cg.reports_from_records([report(7)]), now=NOW)).to_dict()
    assert list(wire) == [
        "case_id", "slug", "title", "status", "classification", "summary", "geometry_json",
        "aggregate_geometry_json", "aggregate_bbox_json", "anchor_report_seq", "anchor_lat",
        "anchor_lng", "cluster_count", "linked_report_count", "shared_report_count",
        "match_score", "match_reasons", "updated_at", "suggested_action", "band", "distance_m",
    ]  # fmt: skip
    assert wire["updated_at"] == "2026-03-10T09:00:00Z"
    assert wire["match_reasons"] == ["1 shared reports", "same location"]
    no_anchor = cases_frame([case(report_seqs=[7])])
    wire = only(match_cases(no_anchor, cg.reports_from_records([report(7)]), now=NOW)).to_dict()
    assert "anchor_report_seq" not in wire and "anchor_lat" not in wire


# --------------------------------------------------------------------------- cases frame


def test_cases_frame_columns_and_areas() -> None:
    square = {"type": "Polygon", "coordinates": [[[8, 47], [9, 47], [9, 48], [8, 48], [8, 47]]]}
    fc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": square},
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [0, 0]},
            },
        ],
    }
    frame = cases_frame(
        [
            case("case_fc", aggregate_geometry_json=fc),
            case("case_text", geometry_json='{"type": "Polygon", "coordinates": '
                 '[[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}'),
            case("case_bbox", aggregate_bbox_json=[1, 2, 3, 4]),
            case("case_none", aggregate_bbox_json="[1, 1, 1, 1]"),
        ]
    )  # fmt: skip
    assert list(frame.columns) == [*CASE_COLUMNS, "geometry"]
    assert frame.crs == "EPSG:4326"
    bounds = [None if g is None else g.bounds for g in frame.geometry]
    assert bounds == [(8, 47, 9, 48), (0, 0, 1, 1), (1, 2, 3, 4), None]
    assert frame.loc[0, "aggregate_geometry_json"].startswith('{"type":"FeatureCollection"')
    assert frame["anchor_report_seq"].isna().all()


def test_case_area_ignores_invalid_json() -> None:
    assert case_area(aggregate_geometry_json="{not json") is None
    assert case_area(geometry_json={"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}) is None
    assert case_area(aggregate_bbox_json={"west": 0, "south": 0, "east": 1, "north": 1}).area == 1


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"status": "open", "updated_at": "2026-03-10T00:00:00Z"}], "missing ['case_id']"),
        ([{"case_id": "c", "status": "open", "updated_at": "nope"}], "invalid case record"),
        ([case(cluster_count="many")], "invalid case record"),
    ],
)
def test_cases_frame_rejects_bad_records(records: list, message: str) -> None:
    with pytest.raises(InvalidCasesError, match=message.replace("[", r"\[")):
        cases_frame(records)


def test_match_cases_rejects_bad_frames() -> None:
    with pytest.raises(InvalidCasesError, match="missing columns"):
        match_cases(pd.DataFrame({"case_id": ["c"]}))
    with pytest.raises(InvalidCasesError, match="must be a DataFrame"):
        match_cases([case()])  # type: ignore[arg-type]
    with pytest.raises(InvalidCasesError, match="reopen_window_s"):
        match_cases(cases_frame([]), reopen_window_s=-1)
    with pytest.raises(InvalidCasesError, match="timezone-aware"):
        match_cases(cases_frame([]), now="2026-03-10T00:00:00")
    with pytest.raises(cg.InvalidScopeError):
        match_cases(cases_frame([]), geometry={"type": "Point", "coordinates": [0, 0]})
