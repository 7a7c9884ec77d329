"""Cluster analysis over HTTP against PostGIS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from api_support import client_for
from case_support import ZURICH, feature, record, square, write
from litestar.testing import TestClient
from upstream_examples import zurich_records

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_api.services import clusters
from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

ANALYZE = "/api/v3/clusters/analyze"
FROM_REPORT = "/api/v3/clusters/from-report"
SCOPE = square(*ZURICH, 3_000)


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


@pytest.fixture
def zurich(clean_db: sa.Engine) -> pd.Timestamp:
    now = pd.Timestamp.now(tz="UTC").floor("s")
    write(clean_db, zurich_records(now))
    return now


def _error(response: Any, status: int, message: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"], body
    if message is not None:
        assert body["error"] == message
    return str(body["error"])


# --------------------------------------------------------------------------- upstream T1/T2


def test_t1_similar_nearby_reports_are_grouped(api: TestClient[Any], zurich: pd.Timestamp) -> None:
    response = api.post(
        ANALYZE,
        json={"geometry": SCOPE, "classification": "physical", "n": 250, "model": "upstream"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope_type"] == "geometry"
    assert body["classification"] == "physical"
    assert body["model"] == "upstream"
    assert "anchor_report_seq" not in body
    assert body["geometry"] == SCOPE
    stats = body["stats"]
    assert stats["report_count"] == 3
    assert stats["severity_max"] == 0.92
    assert stats["high_priority_count"] == 2 and stats["medium_priority_count"] == 1
    assert stats["severity_average"] == pytest.approx((0.92 + 0.88 + 0.55) / 3)
    assert stats["classification_breakdown"] == {"physical": 3}
    assert len(body["hypotheses"]) == 2
    first, second = body["hypotheses"]
    assert first["report_count"] == 2
    assert first["report_seqs"] == [101, 102]
    assert first["representative_report_seq"] == 101
    assert first["title"] == "Facade bricks falling over school entrance"
    assert first["hypothesis_id"] == "hyp_638aa404eae9"
    assert first["severity_score"] == 0.92
    assert first["confidence"] == pytest.approx(0.794)
    assert first["urgency_score"] == 1.0
    assert first["rationale"] == [
        "same classification",
        "same organization",
        "same physical location",
        "shared incident language",
        "similar severity",
    ]
    assert second["report_seqs"] == [103]
    assert second["confidence"] == pytest.approx(0.64)
    assert second["urgency_score"] == pytest.approx(0.73)
    assert second["rationale"] == []
    assert body["suggested_targets"] == []
    assert body["candidate_cases"] == []


def test_model_presets(api: TestClient[Any], zurich: pd.Timestamp) -> None:
    plain = api.post(ANALYZE, json={"geometry": SCOPE}).json()
    assert plain["model"] == "default"
    assert sorted(map(sorted, (h["report_seqs"] for h in plain["hypotheses"]))) == [
        [101, 102],
        [103],
    ]
    upstream = api.post(ANALYZE, json={"geometry": SCOPE, "model": " Upstream "}).json()
    assert upstream["model"] == "upstream"
    assert [h["report_seqs"] for h in upstream["hypotheses"]] == [[101, 102], [103]]


def test_reports_have_the_report_with_analysis_shape(
    api: TestClient[Any], zurich: pd.Timestamp
) -> None:
    body = api.post(ANALYZE, json={"geometry": feature(SCOPE)}).json()
    assert body["geometry"] == SCOPE  # a Feature is unwrapped
    assert [r["report"]["seq"] for r in body["reports"]] == [103, 102, 101]  # newest first
    item = body["reports"][-1]
    assert list(item) == ["report", "analysis"]
    report = item["report"]
    assert list(report) == [
        "seq", "public_id", "timestamp", "id", "team", "latitude", "longitude", "x", "y",
        "last_email_sent_at",
    ]  # fmt: skip
    assert report["public_id"].startswith("rpt_") and len(report["public_id"]) == 26
    assert report["timestamp"] == (zurich - pd.Timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert report["latitude"] == 47.3769 and report["last_email_sent_at"] is None
    (analysis,) = item["analysis"]
    assert analysis["title"] == "Facade bricks falling over school entrance"
    assert analysis["brand_display_name"] == "Zurich School"
    assert analysis["is_valid"] is True
    assert analysis["updated_at"] != "0001-01-01T00:00:00Z"
    assert analysis["updated_at"].endswith("Z")
    assert set(analysis) == {
        "seq", "source", "analysis_text", "title", "description", "brand_name",
        "brand_display_name", "litter_probability", "hazard_probability",
        "digital_bug_probability", "severity_level", "summary", "language", "classification",
        "inferred_contact_emails", "is_valid", "created_at", "updated_at",
    }  # fmt: skip


def test_t2_preferred_analysis_prefers_english(api: TestClient[Any], clean_db: sa.Engine) -> None:
    analyses = pd.DataFrame(
        {
            "seq": [7, 7],
            "language": ["de", "en"],
            "title": ["Deutscher Titel", "English Title"],
            "severity_level": [0.4, 0.7],
            "classification": ["physical", "physical"],
        }
    )
    write(clean_db, [record(7, title="Deutscher Titel", severity_level=0.4, language="de")],
          analyses=analyses)  # fmt: skip
    body = api.post(ANALYZE, json={"geometry": SCOPE}).json()
    (hypothesis,) = body["hypotheses"]
    assert hypothesis["title"] == "English Title"
    assert hypothesis["severity_score"] == 0.7
    assert [a["language"] for a in body["reports"][0]["analysis"]] == ["de", "en"]


def test_classification_n_and_visibility(api: TestClient[Any], clean_db: sa.Engine) -> None:
    write(
        clean_db,
        [
            record(1),
            record(2),
            record(3, classification="digital"),
            record(4, status="resolved"),
            record(5, visibility="shadow"),
            record(6, owner="acme", owner_is_public=False),
            record(7, is_valid=False),
        ],
    )
    physical = api.post(ANALYZE, json={"geometry": SCOPE}).json()
    assert sorted(r["report"]["seq"] for r in physical["reports"]) == [1, 2]
    digital = api.post(ANALYZE, json={"geometry": SCOPE, "classification": " Digital "}).json()
    assert digital["classification"] == "digital"
    assert [r["report"]["seq"] for r in digital["reports"]] == [3]
    newest = api.post(ANALYZE, json={"geometry": SCOPE, "n": 1}).json()
    assert [r["report"]["seq"] for r in newest["reports"]] == [2]
    empty = api.post(ANALYZE, json={"geometry": square(0.0, 0.0, 100)}).json()
    assert empty["reports"] == [] and empty["hypotheses"] == []
    assert empty["stats"]["report_count"] == 0 and "first_seen_at" not in empty["stats"]


def test_parallel_and_serial_loads_answer_the_same(
    api: TestClient[Any], zurich: pd.Timestamp, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = api.post(ANALYZE, json={"geometry": SCOPE}).json()
    monkeypatch.setattr(clusters, "PARALLEL_MIN_REPORTS", 1)
    parallel = api.post(ANALYZE, json={"geometry": SCOPE}).json()
    assert parallel == serial


def test_v3_and_v4_answer_the_same(api: TestClient[Any], zurich: pd.Timestamp) -> None:
    v3 = api.post(ANALYZE, json={"geometry": SCOPE}).json()
    v4 = api.post(ANALYZE.replace("v3", "v4"), json={"geometry": SCOPE}).json()
    assert v3["hypotheses"] == v4["hypotheses"]


# --------------------------------------------------------------------------- from-report


def test_from_report_uses_a_metre_radius_and_any_classification(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    lat, lon = ZURICH
    m = 1 / 111_195.0
    write(
        clean_db,
        [
            record(1, latitude=lat, longitude=lon, classification="digital", title="Login broken"),
            record(2, latitude=lat + 200 * m, longitude=lon, classification="digital"),
            record(3, latitude=lat + 300 * m, longitude=lon, classification="digital"),
            record(4, latitude=lat + 100 * m, longitude=lon),  # physical
        ],
    )
    body = api.post(FROM_REPORT, json={"seq": 1}).json()
    assert body["scope_type"] == "seed_report"
    assert body["anchor_report_seq"] == 1
    assert body["classification"] == "digital"  # the seed's
    assert body["radius_m"] == 250.0
    assert "geometry" not in body
    assert sorted(r["report"]["seq"] for r in body["reports"]) == [1, 2]
    wider = api.post(FROM_REPORT, json={"seq": 1, "radius_km": 0.35}).json()
    assert sorted(r["report"]["seq"] for r in wider["reports"]) == [1, 2, 3]
    metres = api.post(FROM_REPORT, json={"seq": 1, "radius_m": 150, "radius_km": 5}).json()
    assert metres["radius_m"] == 150.0
    assert [r["report"]["seq"] for r in metres["reports"]] == [1]
    physical = api.post(FROM_REPORT, json={"seq": 1, "classification": "physical"}).json()
    assert [r["report"]["seq"] for r in physical["reports"]] == [4]


def test_from_report_unknown_or_hidden_seed(api: TestClient[Any], clean_db: sa.Engine) -> None:
    write(clean_db, [record(1, visibility="quarantine")])
    _error(api.post(FROM_REPORT, json={"seq": 1}), 404, "seed report not found")
    _error(api.post(FROM_REPORT, json={"seq": 999}), 404, "seed report not found")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "geometry is required"),
        ({"geometry": None}, "geometry is required"),
        ({"geometry": {"type": "Point", "coordinates": [8.5, 47.3]}},
         "unsupported geometry type: Point"),
        ({"geometry": {"type": "Feature", "geometry": None}}, "feature missing geometry"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}},
         "ring 0 of polygon 0 has 3 positions"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 9]]]}},
         "ring 0 of polygon 0 is not closed"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [500, 0], [1, 1], [0, 0]]]}},
         "coordinate [500, 0] is out of range"),
        ({"geometry": SCOPE, "classification": "legal"}, "classification must be one of"),
        ({"geometry": SCOPE, "n": -1}, "n must be a positive integer, got -1"),
        ({"geometry": SCOPE, "n": 10_001}, "n must be at most 10000, got 10001"),
        ({"geometry": SCOPE, "n": "five"}, "invalid json: Expected `int | null`, got `str`"),
        ({"geometry": "polygon"}, "invalid json: Expected `object | null`, got `str`"),
        ({"geometry": SCOPE, "model": "magic"}, "model must be one of default, upstream"),
    ],
)  # fmt: skip
def test_analyze_bad_input(api: TestClient[Any], body: dict[str, Any], message: str) -> None:
    assert message in _error(api.post(ANALYZE, json=body), 400)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "invalid json: request body is empty"),
        (b"{nope", "invalid json: "),
        (b"[1, 2]", "invalid json: Expected `object`, got `array`"),
    ],
)
def test_analyze_malformed_json(api: TestClient[Any], content: bytes, message: str) -> None:
    response = api.post(ANALYZE, content=content, headers={"Content-Type": "application/json"})
    assert _error(response, 400).startswith(message)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "seq is required"),
        ({"seq": 0}, 400, "seq is required"),
        ({"seq": -4}, 400, "seq must be a positive integer, got -4"),
        ({"seq": 1, "radius_km": -1}, 400, "radius_km must be a positive number, got -1.0"),
        ({"seq": 1, "radius_m": 1e9}, 400, "radius_m must be at most 50000, got 1000000000.0"),
        ({"seq": 1, "radius_km": 51}, 400, "radius_km must be at most 50, got 51.0"),
        ({"seq": 1, "n": -2}, 400, "n must be a positive integer, got -2"),
        ({"seq": "x"}, 400, None),
        ({"seq": 1.5}, 400, None),
    ],
)
def test_from_report_bad_input(
    api: TestClient[Any], clean_db: sa.Engine, body: dict[str, Any], status: int, message: str
) -> None:
    write(clean_db, [record(1)])
    _error(api.post(FROM_REPORT, json=body), status, message)


@pytest.mark.parametrize(
    ("path", "content", "message"),
    [
        (FROM_REPORT, b'{"seq": 18446744073709551616}', "seq must be a positive integer"),
        (FROM_REPORT, b'{"seq": 9223372036854775808}', "seq must be a positive integer"),
        (FROM_REPORT, b'{"seq": 1e30}', "invalid json: Expected `int | null`, got `float`"),
        (FROM_REPORT, b'{"seq": 1, "radius_m": 1e400}', "invalid json: Number out of range"),
        (FROM_REPORT, b'{"seq": 1, "radius_km": -1e400}', "invalid json: Number out of range"),
        (ANALYZE, b'{"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], '
                  b'[0, 0]]]}, "n": 18446744073709551616}', "n must be at most 10000"),
        ("/api/v3/cases/match-cluster", b'{"report_seqs": [9223372036854775808]}',
         "report_seqs must be positive integers"),
        ("/api/v3/cases/match-cluster", b'{"n": 1e400}', "invalid json"),
    ],
)  # fmt: skip
def test_absurd_numbers_are_400(
    api: TestClient[Any], clean_db: sa.Engine, path: str, content: bytes, message: str
) -> None:
    write(clean_db, [record(1)])
    response = api.post(path, content=content, headers={"Content-Type": "application/json"})
    assert message in _error(response, 400)


# --------------------------------------------------------------------------- streaming


def test_a_streamed_answer_is_byte_for_byte_the_whole_answer(
    api: TestClient[Any], zurich: pd.Timestamp, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"geometry": SCOPE, "model": "upstream"}
    whole = api.post(ANALYZE, json=body)
    assert "content-length" in whole.headers
    monkeypatch.setattr(clusters, "STREAM_MIN_ITEMS", 1)  # stream even this small answer
    streamed = api.post(ANALYZE, json=body)
    assert streamed.status_code == 200
    assert streamed.headers["content-type"] == whole.headers["content-type"]
    assert "content-length" not in streamed.headers  # sent in chunks
    assert streamed.content == whole.content


def test_large_answers_are_streamed_with_the_same_json(
    api: TestClient[Any], clean_db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = cg.make_reports(2_600, seed=5, center=(ZURICH[1], ZURICH[0]), density_per_km2=2_000)
    city["ts"] = pd.Timestamp("2026-03-01T00:00:00Z") + (city["ts"] - city["ts"].min())
    cio.write_reports(city, clean_db)
    body = {"geometry": square(*ZURICH, 2_000), "n": 2_600}  # about 2,340 are physical
    streamed = api.post(ANALYZE, json=body)
    assert streamed.status_code == 200, streamed.text
    assert "content-length" not in streamed.headers
    answer = streamed.json()
    assert len(answer["reports"]) >= clusters.STREAM_MIN_ITEMS
    assert len(answer["hypotheses"]) >= clusters.STREAM_MIN_ITEMS // 2
    monkeypatch.setattr(clusters, "STREAM_MIN_ITEMS", 10**9)  # the same answer, built whole
    whole = api.post(ANALYZE, json=body)
    assert "content-length" in whole.headers
    assert streamed.content == whole.content
