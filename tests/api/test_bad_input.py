"""Every bad input is a 4xx with ``{"error"}``: the requests that answered 500 before.

Deep nesting, huge query integers, NUL characters, a foreign media type, an over-long
token user id, scopes across the antimeridian or round a pole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import bearer, client_for, mint_token
from case_support import create_body, record, write
from litestar.testing import TestClient

from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

ALICE = bearer(mint_token("alice"))
SERVICE = bearer(mint_token("svc", roles=["service"]))
JSON = {"Content-Type": "application/json"}
POST_ROUTES = [
    "/api/v3/clusters/analyze",
    "/api/v3/clusters/from-report",
    "/api/v3/cases/match-cluster",
    "/api/v3/cases",
    "/api/v3/cases/upsert-from-cluster",
    "/api/v3/cases/merge",
]


@pytest.fixture(scope="module")
def api(db_url: str) -> Iterator[TestClient[Any]]:
    settings = Settings(
        database_url=db_url,
        jwt_secret="test-secret-" + "0123456789abcdef" * 4,
        auth_token_store="off",
        rate_limit_rps=1000.0,
        rate_limit_burst=1000,
    )
    with client_for(settings) as client:
        yield client


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"], body
    return str(body["error"])


@pytest.mark.parametrize("path", POST_ROUTES)
def test_json_nested_10000_deep_is_400_on_every_post_route(api: TestClient[Any], path: str) -> None:
    deep = b'{"geometry": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = api.post(path, content=deep, headers={**ALICE, **JSON})
    assert _error(response, 400) == "invalid json: nested deeper than 64 levels"


def test_nesting_inside_strings_does_not_count(api: TestClient[Any], clean_db: sa.Engine) -> None:
    body = create_body([], title="[" * 5000, force_new_case=True)
    body.pop("report_seqs", None)
    body.pop("anchor_report_seq", None)
    response = api.post("/api/v3/cases", json={**body, "title": "{[" * 100}, headers=ALICE)
    assert response.status_code == 201, response.text


def test_a_4301_digit_seq_is_400(api: TestClient[Any]) -> None:
    response = api.get("/api/v3/reports/cases", params={"seq": "1" * 4301})
    assert _error(response, 400) == "seq must be a positive integer"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v3/cases", {"title": "a\u0000b", "force_new_case": True}),
        ("/api/v3/cases", {"title": "ok", "summary": "x\u0000", "force_new_case": True}),
        ("/api/v3/cases", {"title": "bell \u0007", "force_new_case": True}),
        ("/api/v3/cases/merge", {"target_case_id": "\u0000", "source_case_ids": ["a"]}),
        ("/api/v3/clusters/analyze", {"geometry": {"type": "Polygon\u0000"}}),
    ],
)
def test_nul_and_control_characters_are_refused(
    api: TestClient[Any], clean_db: sa.Engine, path: str, body: dict[str, Any]
) -> None:
    message = _error(api.post(path, json=body, headers=ALICE), 400)
    assert message.startswith("invalid json: text must not contain control characters (found \\u00")
    with clean_db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one() == 0


def test_nul_in_case_routes_with_a_case(api: TestClient[Any], clean_db: sa.Engine) -> None:
    write(clean_db, [record(1)])
    created = api.post("/api/v3/cases", json=create_body([1]), headers=ALICE)
    case_id = created.json()["case"]["case_id"]
    for tail, body in (
        ("/reports", {"report_seqs": [1], "link_reason": "visit\u0000"}),
        ("/status", {"status": "investigating", "payload": {"note": "\u0000"}}),
        ("/status", {"status": "investigating", "summary": "s\u0000"}),
    ):
        response = api.post(f"/api/v3/cases/{case_id}{tail}", json=body, headers=ALICE)
        assert _error(response, 400).startswith("invalid json: text must not contain")
    # Tabs, newlines and an escaped backslash before "u0000" are text.
    ok = api.post(
        f"/api/v3/cases/{case_id}/status",
        content=b'{"status": "investigating", "summary": "a\\tb\\nC:\\\\u0000"}',
        headers={**ALICE, **JSON},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["case"]["summary"] == "a\tb\nC:\\u0000"


def test_only_json_bodies_are_parsed(api: TestClient[Any]) -> None:
    body = b'{"title": "x", "force_new_case": true}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {**ALICE, **({"Content-Type": content_type} if content_type else {})}
        response = api.post("/api/v3/cases", content=body, headers=headers)
        assert _error(response, 415) == "Content-Type must be application/json"
    vendor = api.post(
        "/api/v3/clusters/analyze",
        content=b'{"geometry": null}',
        headers={"Content-Type": "application/geo+json"},
    )
    assert _error(vendor, 400) == "geometry is required"


def test_an_over_long_token_user_id_is_401_and_actor_ids_are_bounded(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    long_user = bearer(mint_token("u" * 256))
    response = api.post("/api/v3/cases", json={"title": "x", "force_new_case": True},
                        headers=long_user)  # fmt: skip
    assert _error(response, 401) == "invalid or expired token"
    assert api.post("/api/v3/cases", json={"title": "x", "force_new_case": True},
                    headers=bearer(mint_token("u" * 255))).status_code == 201  # fmt: skip
    write(clean_db, [record(2)])
    case_id = api.post("/api/v3/cases", json=create_body([2]), headers=ALICE).json()["case"][
        "case_id"
    ]
    response = api.post(
        f"/api/v3/cases/{case_id}/status",
        json={"status": "investigating", "actor_user_id": "a" * 256},
        headers=SERVICE,
    )
    assert _error(response, 400) == "actor_user_id must be at most 255 characters, got 256"


@pytest.mark.parametrize(
    ("coordinates", "message"),
    [
        ([[[-90, 0], [90, 0], [90, 10], [-90, 10], [-90, 0]]], "spans 180° of longitude"),
        ([[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]],
         "spans 360° of longitude"),
        ([[[0, 80], [120, 80], [-120, 80], [0, 80]]], "goes round the north pole"),
    ],
)  # fmt: skip
def test_antipodal_edges_and_whole_world_boxes_are_400(
    api: TestClient[Any], coordinates: list[Any], message: str
) -> None:
    geometry = {"type": "Polygon", "coordinates": coordinates}
    for path in ("/api/v3/clusters/analyze", "/api/v3/cases/match-cluster"):
        response = api.post(path, json={"geometry": geometry})
        assert message in _error(response, 400)


def test_a_scope_across_the_antimeridian_is_cut_and_analysed(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    write(
        clean_db,
        [
            record(11, longitude=179.9995, latitude=-16.5, title="Oil spill on the reef"),
            record(12, longitude=-179.9995, latitude=-16.5, title="Oil spill on the reef"),
            record(13, longitude=170.0, latitude=-16.5),
        ],
    )
    box = [[179.5, -17.0], [-179.5, -17.0], [-179.5, -16.0], [179.5, -16.0], [179.5, -17.0]]
    response = api.post(
        "/api/v3/clusters/analyze",
        json={"geometry": {"type": "Polygon", "coordinates": [box]}, "n": 100},
    )
    assert response.status_code == 200, response.text
    out = response.json()
    assert sorted(r["report"]["seq"] for r in out["reports"]) == [11, 12]
    assert out["geometry"]["type"] == "MultiPolygon"  # the scope as analysed: cut in two
    # The two reports 110 m apart across the antimeridian are one incident.
    assert [sorted(h["report_seqs"]) for h in out["hypotheses"]] == [[11, 12]]
