"""Routes for phones and the place search: GET /cases/nearby (public, pages), the case list's
cursor pages, and POST /reports/by-geometry (R5), against the real app and PostGIS."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from api_support import client_for
from case_support import ZURICH, create_body, record, square, user_headers, write
from litestar.testing import TestClient

from cleanapp_api.settings import Settings
from cleanapp_geo.arrays import haversine_m

pytestmark = pytest.mark.postgis

V4 = "/api/v4"
M_PER_DEG = 111_195.0
#: Case k lies 100·k metres north-east of Zurich's centre (k = 1..7).
DISTANCES_M = [100.0 * k for k in range(1, 8)]


def _offset(metres: float) -> tuple[float, float]:
    step = metres / math.sqrt(2)
    lat = ZURICH[0] + step / M_PER_DEG
    lon = ZURICH[1] + step / (M_PER_DEG * math.cos(math.radians(ZURICH[0])))
    return lat, lon


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


@pytest.fixture
def cases(
    api: TestClient[Any], clean_db: sa.Engine, token_rows: Callable[..., None]
) -> dict[str, Any]:
    """Seven one-report cases at 100..700 m; alice made the odd ones, bob the even ones.

    The one at 300 m is resolved.
    """
    alice = user_headers(token_rows, "alice")
    bob = user_headers(token_rows, "bob")
    ids: list[str] = []
    for k, metres in enumerate(DISTANCES_M, start=1):
        lat, lon = _offset(metres)
        write(clean_db, [record(k, latitude=lat, longitude=lon, title=f"Pothole {k}")])
        body = create_body([k], geometry=None, force_new_case=True, title=f"Pothole {k}",
                           cluster_summary=f"case {k}")  # fmt: skip
        response = api.post(f"{V4}/cases", json=body, headers=alice if k % 2 else bob)
        assert response.status_code == 201, response.text
        ids.append(response.json()["case"]["case_id"])
    resolved = api.post(f"{V4}/cases/{ids[2]}/status", json={"status": "resolved"}, headers=alice)
    assert resolved.status_code == 200
    return {"ids": ids, "alice": alice, "bob": bob}


def _pages(api: TestClient[Any], url: str, headers: dict[str, str] | None = None) -> list[Any]:
    pages = []
    cursor = None
    while True:
        sep = "&" if "?" in url else "?"
        response = api.get(url + (f"{sep}cursor={cursor}" if cursor else ""), headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


# =========================================================================== nearby


def test_nearby_is_public_nearest_first_and_pages_without_gaps(
    api: TestClient[Any], cases: dict[str, Any]
) -> None:
    lat, lon = ZURICH
    pages = _pages(api, f"{V4}/cases/nearby?lat={lat}&lon={lon}&radius_m=650&limit=2")
    assert [len(p["cases"]) for p in pages] == [2, 2, 1]
    listed = [c for p in pages for c in p["cases"]]
    ids = cases["ids"]
    # Within 650 m and active: cases 1, 2, 4, 5, 6 (3 is resolved, 7 is 700 m away).
    assert [c["case_id"] for c in listed] == [ids[0], ids[1], ids[3], ids[4], ids[5]]
    distances = [c["distance_m"] for c in listed]
    assert distances == sorted(distances)
    for c, k in zip(listed, (1, 2, 4, 5, 6), strict=True):
        # Geodesic on the ellipsoid: within 0.5% of the spherical haversine distance.
        expected = float(haversine_m(lon, lat, c["anchor_lng"], c["anchor_lat"]))
        assert c["distance_m"] == pytest.approx(expected, rel=0.005)
        assert c["distance_m"] == pytest.approx(DISTANCES_M[k - 1], rel=0.005)
    assert set(listed[0]) == {
        "case_id", "slug", "title", "status", "classification", "severity_score",
        "urgency_score", "linked_report_count", "distance_m", "anchor_lat", "anchor_lng",
        "updated_at",
    }  # fmt: skip
    everything = api.get(f"{V4}/cases/nearby?lat={lat}&lon={lon}&radius_m=5000&status="
                         "open,resolved&limit=100").json()  # fmt: skip
    assert [c["case_id"] for c in everything["cases"]] == ids
    assert everything["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("lon=8.5", "lat is required"),
        ("lat=91&lon=8.5", "lat must be a number in [-90, 90]"),
        ("lat=47&lon=east", "lon must be a number in [-180, 180]"),
        ("lat=47&lon=8&radius_m=60000", "radius_m must be a number in (0, 50000]"),
        ("lat=47&lon=8&limit=101", "limit must be a number in (0, 100]"),
        ("lat=47&lon=8&status=lost", "unknown status lost"),
        ("lat=47&lon=8&cursor=abc", "cursor is invalid"),
    ],
)
def test_nearby_refuses_bad_queries(
    api: TestClient[Any], clean_db: sa.Engine, query: str, message: str
) -> None:
    response = api.get(f"{V4}/cases/nearby?{query}")
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_a_cursor_of_one_list_is_refused_by_another(
    api: TestClient[Any], cases: dict[str, Any]
) -> None:
    lat, lon = ZURICH
    page = api.get(f"{V4}/cases/nearby?lat={lat}&lon={lon}&limit=1").json()
    mixed = api.get(f"{V4}/cases?limit=1&cursor={page['next_cursor']}", headers=cases["alice"])
    assert mixed.status_code == 400


# =========================================================================== case list


def test_a_users_case_list_pages_by_last_update(
    api: TestClient[Any], cases: dict[str, Any]
) -> None:
    ids = cases["ids"]
    mine = [c for p in _pages(api, f"{V4}/cases?mine=1&limit=2", cases["alice"])
            for c in p["cases"]]  # fmt: skip
    # Alice made cases 1, 3, 5 and 7; the resolved case 3 was updated last.
    assert [c["case_id"] for c in mine] == [ids[2], ids[6], ids[4], ids[0]]
    updated = [c["updated_at"] for c in mine]
    assert updated == sorted(updated, reverse=True)
    open_only = api.get(f"{V4}/cases?mine=1&status=open", headers=cases["bob"]).json()
    assert [c["case_id"] for c in open_only["cases"]] == [ids[5], ids[3], ids[1]]
    assert open_only["next_cursor"] is None
    near = _pages(api, f"{V4}/cases?near={ZURICH[0]},{ZURICH[1]}&radius_m=350&limit=1",
                  cases["alice"])  # fmt: skip
    assert [c["case_id"] for p in near for c in p["cases"]] == ids[:3]


# =========================================================================== by-geometry


def test_by_geometry_lists_the_reports_of_a_scope(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    analyses = pd.DataFrame(
        {
            "seq": [7, 7],
            "language": ["de", "en"],
            "title": ["Schlagloch", "Pothole"],
            "severity_level": [0.4, 0.7],
            "classification": ["physical", "physical"],
        }
    )
    write(clean_db, [record(7, title="Schlagloch", language="de")], analyses=analyses)
    far = (ZURICH[0] + 0.05, ZURICH[1])
    write(clean_db, [record(8), record(9, visibility="shadow"),
                     record(10, latitude=far[0], longitude=far[1]),
                     record(11, classification="digital")])  # fmt: skip
    scope = square(*ZURICH, 300)
    preview = api.post(f"{V4}/reports/by-geometry", json={"geometry": scope})
    assert preview.status_code == 200, preview.text
    items = preview.json()
    assert isinstance(items, list)
    assert [i["report"]["seq"] for i in items] == [8, 7]  # newest first, visible, physical
    by_seq = {i["report"]["seq"]: i for i in items}
    assert [a["language"] for a in by_seq[7]["analysis"]] == ["en"]  # the preferred one
    full = api.post(f"{V4}/reports/by-geometry?full_data=true",
                    json={"geometry": scope, "n": 1}).json()  # fmt: skip
    assert [i["report"]["seq"] for i in full] == [8]
    full = api.post(f"{V4}/reports/by-geometry?full_data=1", json={"geometry": scope}).json()
    assert [a["language"] for a in {i["report"]["seq"]: i for i in full}[7]["analysis"]] == [
        "de", "en"]  # fmt: skip
    digital = api.post(f"{V4}/reports/by-geometry",
                       json={"geometry": scope, "classification": "digital"}).json()  # fmt: skip
    assert [i["report"]["seq"] for i in digital] == [11]


@pytest.mark.parametrize(
    ("body", "query", "message"),
    [
        ({}, "", "geometry is required"),
        ({"geometry": {"type": "Point", "coordinates": [8, 47]}}, "", "unsupported geometry"),
        ({"geometry": square(*ZURICH, 100), "n": -1}, "", "n must be a positive integer"),
        ({"geometry": square(*ZURICH, 100)}, "?full_data=maybe", "full_data must be true or"),
    ],
)
def test_by_geometry_refuses_bad_input(
    api: TestClient[Any], clean_db: sa.Engine, body: dict[str, Any], query: str, message: str
) -> None:
    response = api.post(f"{V4}/reports/by-geometry{query}", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]
