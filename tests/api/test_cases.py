"""Cases over HTTP against PostGIS with real signed tokens.

Every request goes through the whole app (auth against ``auth_tokens``, edge middleware,
error table); state is checked through the API and, where the API cannot show it, in SQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from api_support import JWT_SECRET, OTHER_SECRET, bearer, client_for, mint_token
from case_support import create_body, record, square, user_headers, write
from litestar.testing import TestClient

from cleanapp_api.db import tables as t
from cleanapp_api.services.targets import target_rows
from cleanapp_api.settings import Settings
from cleanapp_geo.cases import STATUS_TRANSITIONS
from cleanapp_geo.matching import auto_attach_score
from cleanapp_geo.targets import EscalationTarget, normalize_target

pytestmark = pytest.mark.postgis

#: Target fields contact routing computes (cleanapp_geo.routing), whatever a client sent.
ROUTED_FIELDS = frozenset({
    "site_match_score", "source_quality_score", "role_fit_score", "channel_quality_score",
    "outcome_memory_score", "actionability_score", "notify_tier", "send_eligibility",
    "execution_mode", "reason_selected",
})  # fmt: skip

CASES = "/api/v3/cases"
FAR = (47.5, 8.7)  # ~20 km from ZURICH


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


@pytest.fixture
def store(clean_db: sa.Engine) -> sa.Engine:
    """Empty tables plus reports 1–6 near Zurich and 11–12 far away."""
    write(
        clean_db,
        [
            record(1, severity_level=0.5, title="Loose facade bricks", summary="Bricks loose"),
            record(2, severity_level=0.9, title="Facade bricks falling", summary="Bricks fall"),
            record(3, severity_level=0.7, title="Bricks above entrance", summary="Bricks"),
            record(4, severity_level=0.3),
            record(5, visibility="shadow"),
            record(6, is_valid=False),
            record(11, latitude=FAR[0], longitude=FAR[1], title="Pothole on bridge road"),
            record(12, latitude=FAR[0] + 1e-4, longitude=FAR[1], title="Pothole deep"),
        ],
    )
    return clean_db


@pytest.fixture
def alice(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "alice")


@pytest.fixture
def bob(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "bob")


@pytest.fixture
def admin(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "root", roles=["admin"])


def _error(response: Any, status: int, message: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"], body
    if message is not None:
        assert body["error"] == message
    return str(body["error"])


def _create(api: TestClient[Any], headers: dict[str, str], body: dict[str, Any]) -> Any:
    response = api.post(CASES, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _far_body(seqs: list[int], **overrides: Any) -> dict[str, Any]:
    values = {"title": "Pothole on bridge road", "summary": "Deep pothole",
              "geometry": square(*FAR, 100), **overrides}  # fmt: skip
    return create_body(seqs, **values)


def _audit(detail: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["event_type"], e["actor_user_id"]) for e in detail["audit_events"]]


# =========================================================================== auth


PROTECTED = [
    ("POST", CASES, {"title": "x"}),
    ("POST", f"{CASES}/upsert-from-cluster", {"title": "x"}),
    ("POST", f"{CASES}/merge", {"target_case_id": "a", "source_case_ids": ["b"]}),
    ("GET", f"{CASES}/case_0123456789abcdef01234567", None),
    ("POST", f"{CASES}/case_0123456789abcdef01234567/reports", {"report_seqs": [1]}),
    ("POST", f"{CASES}/case_0123456789abcdef01234567/status", {"status": "open"}),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("prefix", ["/api/v3", "/api/v4"])
def test_protected_routes_need_a_token(
    api: TestClient[Any], method: str, path: str, body: Any, prefix: str
) -> None:
    path = path.replace("/api/v3", prefix)
    no_header = api.request(method, path, json=body)
    _error(no_header, 401, "authorization header required")
    assert no_header.headers["www-authenticate"] == "Bearer"
    _error(api.request(method, path, json=body, headers=bearer("nope")), 401,
           "invalid or expired token")  # fmt: skip
    unregistered = bearer(mint_token("alice"))  # valid JWT, absent from auth_tokens
    _error(api.request(method, path, json=body, headers=unregistered), 401,
           "invalid or expired token")  # fmt: skip
    # Authentication runs before the body is read: a bad body without a token is 401.
    if body is not None:
        raw = api.request(method, path, content=b"{nope")
        _error(raw, 401, "authorization header required")


@pytest.mark.parametrize(
    ("make_header", "message"),
    [
        pytest.param(lambda: {}, "authorization header required", id="missing-header"),
        pytest.param(lambda: {"Authorization": "Basic dTpw"}, "bearer token required", id="basic"),
        pytest.param(lambda: bearer(mint_token("alice", secret=OTHER_SECRET)),
                     "invalid or expired token", id="wrong-secret"),
        pytest.param(lambda: bearer(mint_token("alice", token_type="refresh")),
                     "invalid or expired token", id="refresh"),
        pytest.param(lambda: bearer(mint_token("alice", omit=("user_id",))),
                     "invalid or expired token", id="no-user-id"),
        pytest.param(lambda: bearer(mint_token("alice", exp_in_s=-10)),
                     "invalid or expired token", id="expired"),
    ],
)  # fmt: skip
def test_auth_matrix_12_8_1(
    api: TestClient[Any],
    store: sa.Engine,
    token_rows: Callable[..., None],
    make_header: Callable[[], dict[str, str]],
    message: str,
) -> None:
    headers = make_header()
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    if token.count(".") == 2:
        token_rows(token, "alice")  # even a stored row does not rescue a bad JWT
    _error(api.post(CASES, json=create_body([1]), headers=headers), 401, message)


def test_auth_matrix_valid_and_revoked(
    api: TestClient[Any], store: sa.Engine, token_rows: Callable[..., None]
) -> None:
    token = mint_token("alice", secret=JWT_SECRET)
    _error(api.post(CASES, json=create_body([1]), headers=bearer(token)), 401,
           "invalid or expired token")  # fmt: skip
    token_rows(token, "alice")
    assert api.post(CASES, json=create_body([1]), headers=bearer(token)).status_code == 201


# =========================================================================== create


def test_create_validation_12_8_2(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    _error(api.post(CASES, json={}, headers=alice), 400, "title is required")
    _error(api.post(CASES, json={"title": "   "}, headers=alice), 400, "title is required")
    point = {"title": "x", "geometry": {"type": "Point", "coordinates": [8.5, 47.3]}}
    assert _error(api.post(CASES, json=point, headers=alice), 400).startswith(
        "unsupported geometry type: Point"
    )
    _error(api.post(CASES, json={"title": "x", "anchor_report_seq": 999}, headers=alice), 400,
           "anchor report not found")  # fmt: skip
    _error(api.post(CASES, json={"title": "x", "anchor_report_seq": 5}, headers=alice), 400,
           "anchor report not found")  # fmt: skip


def test_create_12_8_3(api: TestClient[Any], store: sa.Engine, alice: dict[str, str]) -> None:
    response = api.post(CASES, json=create_body([1, 2, 3]), headers=alice)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["action"] == "created"
    assert body["match_score"] == 0.0 and body["match_reasons"] == ["no open case matched"]
    case = body["case"]
    assert case["case_id"].startswith("case_") and len(case["case_id"]) == 29
    assert case["slug"].startswith("facade-bricks-falling-over-school-entrance-")
    assert case["linked_report_count"] == 3
    assert case["anchor_report_seq"] == 2  # the highest severity, not the requested anchor
    assert case["severity_score"] == 0.9 and case["criticality_score"] == 0.9
    assert case["urgency_score"] == 0.9  # max(max 0.9, avg 0.7 + 0)
    assert case["trend_score"] == pytest.approx(0.2)
    # Derived from the evidence (docs/routing.md), not upstream's constants 0.8 and 0.6:
    # three reports of unknown reporters (1 - 0.5**3); a localized problem (0.25) at a
    # school (+0.2), reported three times (+0.04 per report beyond the first).
    assert case["confidence_score"] == pytest.approx(0.875)
    assert case["exposure_score"] == pytest.approx(0.53)
    assert case["cluster_count"] == 1
    assert case["created_by_user_id"] == "alice"
    assert case["first_seen_at"] < case["last_seen_at"]
    assert case["created_at"] != "0001-01-01T00:00:00Z"
    assert json.loads(case["geometry_json"])["type"] == "Polygon"
    aggregate = json.loads(case["aggregate_geometry_json"])
    assert aggregate["type"] == "FeatureCollection" and len(aggregate["features"]) == 1
    assert len(json.loads(case["aggregate_bbox_json"])) == 4
    assert [(link["seq"], link["link_reason"], link["confidence"])
            for link in body["linked_reports"]] == [
        (1, "initial_selection", 1.0), (2, "initial_selection", 1.0),
        (3, "initial_selection", 1.0),
    ]  # fmt: skip
    link = body["linked_reports"][1]
    assert link["title"] == "Facade bricks falling" and link["severity_level"] == 0.9
    assert link["public_id"].startswith("rpt_") and link["recipient_count"] == 0
    assert _audit(body) == [("case_created", "alice")]
    payload = json.loads(body["audit_events"][0]["payload_json"])
    assert payload["report_seqs"] == [1, 2, 3] and payload["anchor_seq"] == 1
    assert payload["existing_case"] == "" and payload["candidate_cases"] == []
    (cluster,) = body["clusters"]
    assert cluster["cluster_id"].startswith("clst_") and cluster["seed_report_seq"] == 1
    assert cluster["report_count"] == 3 and len(cluster["cluster_fingerprint"]) == 40
    assert json.loads(cluster["stats_json"]) == {"report_count": 3}
    assert json.loads(cluster["analysis_json"]) == {"hypotheses": []}
    for key in ("escalation_targets", "escalation_actions", "email_deliveries",
                "resolution_signals", "contact_observations", "execution_tasks",
                "notify_outcomes"):  # fmt: skip
        assert body[key] == [], key
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.saved_clusters)).scalar() == 1


def test_second_create_attaches_12_8_4(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str], bob: dict[str, str]
) -> None:
    first = _create(api, alice, create_body([1, 2, 3]))
    again = create_body([1, 2, 3, 4], cluster_summary="Re-analysed after a new report.")
    response = api.post(CASES, json=again, headers=bob)
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["action"] == "attached"
    assert second["case"]["case_id"] == first["case"]["case_id"]
    assert second["match_score"] >= auto_attach_score()
    assert "3 shared reports" in second["match_reasons"]
    assert second["candidate_cases"][0]["case_id"] == first["case"]["case_id"]
    assert second["candidate_cases"][0]["band"] == "auto"
    assert _audit(second) == [("case_created", "alice"), ("cluster_attached", "bob")]
    links = {link["seq"]: (link["link_reason"], link["confidence"])
             for link in second["linked_reports"]}  # fmt: skip
    # A report the attach brings in is linked as a cluster match; links that existed keep
    # their reason (upstream overwrote it).
    assert links == {
        1: ("initial_selection", 1.0), 2: ("initial_selection", 1.0),
        3: ("initial_selection", 1.0), 4: ("cluster_match", 0.95),
    }  # fmt: skip
    case = second["case"]
    assert case["linked_report_count"] == 4 and case["cluster_count"] == 2
    assert case["urgency_score"] == pytest.approx(max(0.9, (0.5 + 0.9 + 0.7 + 0.3) / 4 + 0.05))
    assert [c["match_score"] for c in second["clusters"]] == [0.0, second["match_score"]]
    assert second["clusters"][1]["match_reason"] == "; ".join(second["match_reasons"])


def _covers(case: dict[str, Any], points: list[tuple[float, float]]) -> bool:
    area = shapely.from_geojson(case["aggregate_geometry_json"])
    lat = [p[0] for p in points]
    lon = [p[1] for p in points]
    w, s, e, n = json.loads(case["aggregate_bbox_json"])
    inside_box = all(w <= x <= e and s <= y <= n for x, y in zip(lon, lat, strict=True))
    return bool(shapely.intersects_xy(area, lon, lat).all()) and inside_box


def test_a_case_from_reports_alone_has_a_geometry_covering_them(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str], bob: dict[str, str]
) -> None:
    body = _create(api, alice, create_body([1, 2, 3], geometry=None, cluster_stats=None,
                                          cluster_analysis=None, cluster_summary=""))  # fmt: skip
    case = body["case"]
    assert body["clusters"] == [] and case["geometry_json"] == ""
    features = json.loads(case["aggregate_geometry_json"])["features"]
    assert [f["properties"] for f in features] == [{"source": "linked_reports", "buffer_m": 10.0}]
    points = [(link["latitude"], link["longitude"]) for link in body["linked_reports"]]
    assert _covers(case, points)
    assert (case["anchor_lat"], case["anchor_lng"]) in points
    # A report linked later, outside the footprint, is covered after the recompute.
    added = api.post(f"{CASES}/{case['case_id']}/reports", json={"report_seqs": [11]},
                     headers=bob).json()  # fmt: skip
    points.append(FAR)
    assert _covers(added["case"], points)
    # A scope that already covers the reports stays upstream's single feature.
    scoped = _create(api, alice, create_body([4], force_new_case=True, cluster_summary="s"))
    assert len(json.loads(scoped["case"]["aggregate_geometry_json"])["features"]) == 1


def test_an_identical_snapshot_is_stored_once_and_does_not_raise_urgency(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str], bob: dict[str, str]
) -> None:
    first = _create(api, alice, create_body([1, 2, 3]))
    response = api.post(CASES, json=create_body([1, 2, 3]), headers=bob)  # the same snapshot
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["action"] == "attached"
    assert second["case"]["cluster_count"] == 1
    assert second["case"]["urgency_score"] == first["case"]["urgency_score"]
    assert [c["cluster_id"] for c in second["clusters"]] == [
        c["cluster_id"] for c in first["clusters"]
    ]
    # Without a geometry the snapshot's reports make its fingerprint: other reports, another.
    bare = create_body([1, 2], geometry=None)
    one = _create(api, alice, {**bare, "force_new_case": True})
    two = api.post(CASES, json={**bare, "existing_case_id": one["case"]["case_id"]}, headers=bob)
    assert two.json()["case"]["cluster_count"] == 1
    three = api.post(
        CASES, json={**create_body([1, 2, 3], geometry=None), "existing_case_id":
                     one["case"]["case_id"]}, headers=bob,
    )  # fmt: skip
    assert three.json()["case"]["cluster_count"] == 2
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.saved_clusters)).scalar() == 3


def test_anchor_is_always_linked_and_seqs_are_checked(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    body = _create(api, alice, create_body([1], anchor_report_seq=3, geometry=None))
    assert sorted(link["seq"] for link in body["linked_reports"]) == [1, 3]
    assert body["clusters"] != []  # cluster stats were sent
    _error(api.post(CASES, json=create_body([1, 5, 6, 999]), headers=alice), 400,
           "unknown or invisible report seqs: [5, 6, 999]")  # fmt: skip
    _error(api.post(CASES, json=create_body([1, -3]), headers=alice), 400,
           "report_seqs must be positive integers, got [-3]")  # fmt: skip


def test_existing_case_and_force_new_case(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str], admin: dict[str, str]
) -> None:
    first = _create(api, alice, create_body([1, 2]))
    case_id = first["case"]["case_id"]
    forced = api.post(CASES, json=create_body([1, 2], force_new_case=True), headers=alice)
    assert forced.status_code == 201 and forced.json()["action"] == "created"
    assert forced.json()["match_reasons"] == ["force_new_case"]
    assert forced.json()["case"]["case_id"] != case_id
    assert forced.json()["candidate_cases"][0]["case_id"] == case_id  # still shown
    explicit = api.post(CASES, json=_far_body([11], existing_case_id=case_id), headers=alice)
    assert explicit.status_code == 200 and explicit.json()["case"]["case_id"] == case_id
    assert explicit.json()["match_reasons"] == ["case selected explicitly"]
    assert explicit.json()["match_score"] == 1.0
    _error(api.post(CASES, json=create_body([1], existing_case_id="case_" + "0" * 24),
                    headers=alice), 404, "existing case not found: case_" + "0" * 24)  # fmt: skip
    both = create_body([1], existing_case_id=case_id, force_new_case=True)
    _error(api.post(CASES, json=both, headers=alice), 400,
           "existing_case_id and force_new_case cannot both be set")  # fmt: skip
    other = forced.json()["case"]["case_id"]
    merge = {"target_case_id": case_id, "source_case_ids": [other]}
    merged = api.post(f"{CASES}/merge", json=merge, headers=admin)
    assert merged.status_code == 200, merged.text
    _error(api.post(CASES, json=create_body([1], existing_case_id=other), headers=alice), 409,
           f"case {other} is merged into {case_id}; use that case")  # fmt: skip


def test_far_cluster_creates_a_new_case(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    near = _create(api, alice, create_body([1, 2]))
    far = api.post(CASES, json=_far_body([11, 12]), headers=alice)
    assert far.status_code == 201
    assert far.json()["case"]["case_id"] != near["case"]["case_id"]
    assert far.json()["candidate_cases"] == []


def test_upsert_alias_and_v4(api: TestClient[Any], store: sa.Engine, alice: dict[str, str]) -> None:
    created = api.post(f"{CASES}/upsert-from-cluster", json=create_body([1]), headers=alice)
    assert created.status_code == 201
    attached = api.post("/api/v4/cases/upsert-from-cluster", json=create_body([1]), headers=alice)
    assert attached.status_code == 200
    assert attached.json()["case"]["case_id"] == created.json()["case"]["case_id"]


def test_targets_take_their_derived_fields_from_the_library(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    """One validator: a target sent through POST /cases is stored exactly as the library
    normalises it. Before, the service filled ``attribution_class="heuristic"`` and
    ``decision_scope="other"`` itself, so an ``official_website`` operator was stored as a
    heuristic contact of scope ``other`` while the library says ``official_direct`` and
    ``site_ops``."""
    target = {
        "email": "office@city.example",
        "role_type": "operator",
        "organization": "City of Zurich",
        "verification_level": "official_website",
    }
    body = _create(api, alice, create_body([1], escalation_targets=[target]))
    (stored,) = body["escalation_targets"]
    library = normalize_target(EscalationTarget.from_record(target))
    assert library is not None
    assert (stored["attribution_class"], stored["decision_scope"]) == (
        "official_direct",
        "site_ops",
    )
    for key, value in library.to_record().items():
        if key not in ROUTED_FIELDS:
            assert stored[key] == value, key
    # The routing fields are contact routing's (docs/routing.md), not the defaults.
    assert stored["actionability_score"] > 0 and stored["notify_tier"] == 1


def test_escalation_targets_persist_every_field(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    target = {
        "role_type": "facility_manager", "decision_scope": "site_ops",
        "endpoint_key": "email:ops@school.example", "organization_key": "school",
        "organization": "Zurich School", "display_name": "Facilities", "channel": "email",
        "email": "ops@school.example", "phone": "+41 44 000 00 00",
        "website": "https://school.example", "contact_url": "https://school.example/contact",
        "source_url": "https://school.example/team", "social_platform": "x",
        "social_handle": "@school", "evidence_text": "Team page", "verification_level":
        "official_site_page", "attribution_class": "official_direct",
        "target_source": "website_scrape", "confidence_score": 0.9, "site_match_score": 0.8,
        "source_quality_score": 0.7, "role_fit_score": 0.6, "channel_quality_score": 0.5,
        "outcome_memory_score": 0.4, "actionability_score": 0.3, "notify_tier": 1,
        "send_eligibility": "auto", "execution_mode": "auto",
        "cooldown_until": "2026-04-01T00:00:00Z", "rationale": "Runs the building",
        "reason_selected": "site operator", "id": 77, "case_id": "ignored",
    }  # fmt: skip
    nothing = {"role_type": "contact", "organization": "No contact at all"}
    duplicate = {"email": "OPS@school.example", "organization": "Same inbox"}
    body = _create(api, alice, create_body([1], escalation_targets=[target, nothing, duplicate]))
    (stored,) = body["escalation_targets"]  # no contact: dropped; same inbox: merged
    assert stored["id"] > 0 and stored["case_id"] == body["case"]["case_id"]
    assert stored["cooldown_until"] == "2026-04-01T00:00:00Z"
    # Every field is stored, normalised with the one target scheme (cleanapp_geo.targets).
    (expected,) = target_rows([target, duplicate])
    for key, value in expected.items():
        if key != "cooldown_until" and key not in ROUTED_FIELDS:
            assert stored[key] == value, key
    normalised = {"phone": "+41440000000", "website": "https://school.example/",
                  "social_handle": "school", "organization_key": "zurich school"}  # fmt: skip
    for key, value in target.items():
        if key not in ("id", "case_id", "cooldown_until") and key not in ROUTED_FIELDS:
            assert stored[key] == normalised.get(key, value), key
    # A client's scores, wave and eligibility never feed routing: the library routes anew.
    assert stored["site_match_score"] != 0.8 and stored["notify_tier"] == 1
    assert json.loads(body["audit_events"][0]["payload_json"])["target_count"] == 1
    bad = dict(target, channel="fax")
    _error(api.post(CASES, json=create_body([1], escalation_targets=[bad]), headers=alice), 400,
           "escalation_targets[0].channel must be one of email, phone, website, social, "
           "got 'fax'")  # fmt: skip
    bad = dict(target, confidence_score=1.5)
    _error(api.post(CASES, json=create_body([1], escalation_targets=[bad]), headers=alice), 400,
           "escalation_targets[0].confidence_score must lie in [0, 1], got 1.5")  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"title": "x" * 256}, 400, "title must be at most 255 characters, got 256"),
        ({"classification": "legal"}, 400, "classification must be one of physical, digital, "
                                            "got 'legal'"),
        ({"status": "merged"}, 422, 'status "merged" cannot be set on a new case; allowed: '
                                    "open, investigating, escalated, monitoring, resolved, closed"),
        ({"status": "done"}, 422, None),
        ({"type": "t" * 65}, 400, "type must be at most 64 characters, got 65"),
        ({"anchor_report_seq": -1}, 400, "anchor_report_seq must be a positive integer, got -1"),
        ({"report_seqs": "1,2"}, 400, None),
        ({"report_seqs": list(range(1, 10_002))}, 400,
         "report_seqs may hold at most 10000 seqs, got 10001"),
        ({"force_new_case": "yes"}, 400, None),
        ({"escalation_targets": {"email": "x"}}, 400, None),
        ({"escalation_targets": [{"email": "a@b.c", "notify_tier": 9}]}, 400,
         "escalation_targets[0].notify_tier must lie in 1..4, got 9"),
        ({"cluster_source_type": "s" * 33}, 400,
         "cluster_source_type must be at most 32 characters, got 33"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1],
                                                           [0, 0]]]}}, 400, None),
    ],
)  # fmt: skip
def test_create_bad_input(
    api: TestClient[Any],
    store: sa.Engine,
    alice: dict[str, str],
    overrides: dict[str, Any],
    status: int,
    message: str | None,
) -> None:
    _error(api.post(CASES, json=create_body([1], **overrides), headers=alice), status, message)


@pytest.mark.parametrize(
    ("path", "content", "message"),
    [
        (CASES, b'{"title": "x", "report_seqs": [9223372036854775808]}',
         "report_seqs must be positive integers, got [9223372036854775808]"),
        (CASES, b'{"title": "x", "anchor_report_seq": 9223372036854775808}',
         "anchor_report_seq must be a positive integer, got 9223372036854775808"),
        (CASES, b'{"title": "x", "escalation_targets": [{"email": "a@b.ch", '
                b'"confidence_score": 1e400}]}',
         "invalid json: Number out of range"),
        (f"{CASES}/upsert-from-cluster", b"{}", "title is required"),
        (f"{CASES}/upsert-from-cluster", b'{"title": 7}', "invalid json: Expected `str | null`"),
        ("{case}/reports", b'{"report_seqs": [1], "confidence": 1e400}',
         "invalid json: Number out of range"),
        ("{case}/reports", b'{"report_seqs": [18446744073709551616]}',
         "report_seqs must be positive integers"),
        ("{case}/status", b'{"status": ["open"]}', "invalid json"),
        (f"{CASES}/merge", b'{"target_case_id": 5, "source_case_ids": []}', "invalid json"),
    ],
)  # fmt: skip
def test_absurd_values_are_400(
    api: TestClient[Any],
    store: sa.Engine,
    alice: dict[str, str],
    path: str,
    content: bytes,
    message: str,
) -> None:
    if path.startswith("{case}"):
        case_id = _create(api, alice, create_body([1]))["case"]["case_id"]
        path = path.replace("{case}", f"{CASES}/{case_id}")
    headers = {**alice, "Content-Type": "application/json"}
    assert message in _error(api.post(path, content=content, headers=headers), 400)


def test_long_title_slug_fits(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    body = _create(api, alice, create_body([1], title="Ä" * 255, force_new_case=True))
    assert len(body["case"]["slug"]) <= 128
    assert body["case"]["title"] == "Ä" * 255


# =========================================================================== T3 round trip


def test_t3_every_case_column_round_trips(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    body = _create(api, alice, create_body([1, 2], uncertainty_notes="maybe two incidents"))
    case_id = body["case"]["case_id"]
    with store.begin() as conn:
        conn.execute(
            sa.update(t.cases)
            .where(t.cases.c.case_id == case_id)
            .values(building_id="bldg-7", parcel_id="parcel-9")
        )
        row = conn.execute(sa.select(t.cases).where(t.cases.c.case_id == case_id)).mappings().one()
    case = api.get(f"{CASES}/{case_id}", headers=alice).json()["case"]
    columns = [c.name for c in t.cases.columns if c.name not in ("anchor_geom", "aggregate_geom")]
    omitted = {name for name in columns if row[name] is None}
    assert omitted == {"merged_into_case_id"}  # omitted when null (the merge test shows it)
    # Every column, in table order, nothing else.
    assert list(case) == [name for name in columns if name not in omitted]
    for name in columns:
        if name in omitted:
            continue
        stored, sent = row[name], case[name]
        if name.endswith("_json"):
            assert json.loads(sent) == stored, name
        elif hasattr(stored, "isoformat"):
            assert sent.endswith("Z") and sent[:19] == stored.strftime("%Y-%m-%dT%H:%M:%S"), name
        else:
            assert sent == stored, name
    assert case["uncertainty_notes"] == "maybe two incidents"


def test_get_case_errors(api: TestClient[Any], store: sa.Engine, alice: dict[str, str]) -> None:
    _error(api.get(f"{CASES}/case_{'0' * 24}", headers=alice), 404, "case not found")
    _error(api.get(f"{CASES}/not-a-case-id", headers=alice), 404, "case not found")
    _error(api.get(f"{CASES}/%20", headers=alice), 404)


# =========================================================================== add reports


def test_add_reports_recomputes_and_audits(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str], bob: dict[str, str]
) -> None:
    case = _create(api, alice, create_body([1]))["case"]
    assert case["linked_report_count"] == 1 and case["severity_score"] == 0.5
    path = f"{CASES}/{case['case_id']}/reports"
    response = api.post(path, json={"report_seqs": [2, 3, 2]}, headers=bob)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["case"]["linked_report_count"] == 3
    assert detail["case"]["severity_score"] == 0.9 and detail["case"]["anchor_report_seq"] == 2
    assert [(link["seq"], link["link_reason"]) for link in detail["linked_reports"]] == [
        (1, "initial_selection"), (2, "manual"), (3, "manual"),
    ]  # fmt: skip
    assert _audit(detail)[-1] == ("reports_added", "bob")
    payload = json.loads(detail["audit_events"][-1]["payload_json"])
    assert payload == {"report_seqs": [2, 3], "link_reason": "manual", "confidence": 1.0}
    again = api.post(path, json={"report_seqs": [1], "link_reason": "site visit",
                                 "confidence": 0.4}, headers=bob).json()  # fmt: skip
    assert again["linked_reports"][0]["link_reason"] == "site visit"
    assert again["linked_reports"][0]["confidence"] == 0.4


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "report_seqs is required"),
        ({"report_seqs": []}, 400, "report_seqs is required"),
        ({"report_seqs": [0]}, 400, "report_seqs must be positive integers, got [0]"),
        ({"report_seqs": [1, 5, 404]}, 400, "unknown or invisible report seqs: [5, 404]"),
        ({"report_seqs": [1], "confidence": 1.5}, 400, "confidence must lie in (0, 1], got 1.5"),
        ({"report_seqs": [1], "confidence": -1}, 400, "confidence must lie in (0, 1], got -1.0"),
        ({"report_seqs": [1], "link_reason": "r" * 129}, 400,
         "link_reason must be at most 128 characters, got 129"),
        ({"report_seqs": ["a"]}, 400, None),
    ],
)  # fmt: skip
def test_add_reports_bad_input(
    api: TestClient[Any],
    store: sa.Engine,
    alice: dict[str, str],
    body: dict[str, Any],
    status: int,
    message: str | None,
) -> None:
    case_id = _create(api, alice, create_body([1]))["case"]["case_id"]
    _error(api.post(f"{CASES}/{case_id}/reports", json=body, headers=alice), status, message)


def test_add_reports_unknown_or_merged_case(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    _error(api.post(f"{CASES}/case_{'1' * 24}/reports", json={"report_seqs": [1]},
                    headers=alice), 404, "case not found")  # fmt: skip
    a = _create(api, alice, create_body([1]))["case"]["case_id"]
    b = _create(api, alice, _far_body([11]))["case"]["case_id"]
    api.post(f"{CASES}/merge", json={"target_case_id": a, "source_case_ids": [b]}, headers=alice)
    _error(api.post(f"{CASES}/{b}/reports", json={"report_seqs": [2]}, headers=alice), 409,
           f"case {b} is merged into {a}; use that case")  # fmt: skip


# =========================================================================== status


def test_status_transition_table(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    case_id = _create(api, alice, create_body([1]))["case"]["case_id"]
    path = f"{CASES}/{case_id}/status"
    statuses = list(STATUS_TRANSITIONS)
    assert statuses == list(t.CASE_STATUSES)
    for current in statuses:
        for wanted in statuses:
            with store.begin() as conn:  # put the case in `current` directly
                conn.execute(
                    sa.update(t.cases)
                    .where(t.cases.c.case_id == case_id)
                    .values(
                        status=current,
                        merged_into_case_id=sa.null(),
                    )
                )
                if current == "merged":
                    other = _other_case(conn)
                    conn.execute(
                        sa.update(t.cases)
                        .where(t.cases.c.case_id == case_id)
                        .values(merged_into_case_id=other)
                    )
            response = api.post(path, json={"status": wanted}, headers=alice)
            allowed = STATUS_TRANSITIONS[current]
            if wanted in allowed or (wanted == current != "merged"):
                assert response.status_code == 200, (current, wanted, response.text)
                assert response.json()["case"]["status"] == wanted
            else:
                message = _error(response, 422)
                options = ", ".join(allowed) or "none"
                assert message.endswith(f"allowed: {options}") or message.endswith(
                    f'allowed from "{current}": {options}'
                ), message


def _other_case(conn: sa.Connection) -> str:
    other = "case_" + "e" * 24
    exists = conn.execute(sa.select(t.cases.c.case_id).where(t.cases.c.case_id == other)).first()
    if exists is None:
        conn.execute(
            sa.insert(t.cases).values(
                case_id=other, slug="other", title="Other", created_by_user_id="alice"
            )
        )
    return other


def test_status_change_semantics(
    api: TestClient[Any],
    store: sa.Engine,
    alice: dict[str, str],
    bob: dict[str, str],
    admin: dict[str, str],
    token_rows: Callable[..., None],
) -> None:
    case_id = _create(api, alice, create_body([1]))["case"]["case_id"]
    path = f"{CASES}/{case_id}/status"
    _error(api.post(path, json={"status": "resolved"}, headers=bob), 403,
           "only the case creator, an admin or a service account may change this case")  # fmt: skip
    done = api.post(path, json={"status": " Resolved ", "summary": "Fixed by the city",
                                "actor_user_id": "mallory"}, headers=alice).json()  # fmt: skip
    assert done["case"]["status"] == "resolved"
    assert done["case"]["summary"] == "Fixed by the city"
    event = done["audit_events"][-1]
    assert (event["event_type"], event["actor_user_id"]) == ("status_changed", "alice")
    assert json.loads(event["payload_json"]) == {
        "status": "resolved", "from_status": "open", "to_status": "resolved",
        "summary": "Fixed by the city",
    }  # fmt: skip
    reopened = api.post(path, json={"status": "open", "payload": {"why": "recurred"}},
                        headers=admin).json()  # fmt: skip
    assert reopened["case"]["status"] == "open"
    assert reopened["case"]["summary"] == "Fixed by the city"  # unchanged without a summary
    assert json.loads(reopened["audit_events"][-1]["payload_json"]) == {
        "why": "recurred", "from_status": "resolved", "to_status": "open",
    }  # fmt: skip
    listed = api.post(path, json={"status": "open", "payload": ["a", "list"]}, headers=admin)
    assert json.loads(listed.json()["audit_events"][-1]["payload_json"]) == {
        "status": "open", "from_status": "open", "to_status": "open", "summary": "",
        "payload": ["a", "list"],
    }  # fmt: skip
    assert reopened["audit_events"][-1]["actor_user_id"] == "root"
    service = user_headers(token_rows, "svc", roles=["service"])
    by_service = api.post(path, json={"status": "investigating", "actor_user_id": "carol"},
                          headers=service).json()  # fmt: skip
    assert by_service["audit_events"][-1]["actor_user_id"] == "carol"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "status is required"),
        ({"status": "  "}, 400, "status is required"),
        ({"status": "done"}, 422, 'unknown status "done"; allowed: open, investigating, '
                                  "escalated, monitoring, resolved, closed"),
        ({"status": "merged"}, 422, 'status "merged" is set only by POST /cases/merge; allowed '
                                    'from "open": investigating, escalated, monitoring, resolved, '
                                    "closed"),
        ({"status": 3}, 400, None),
    ],
)  # fmt: skip
def test_status_bad_input(
    api: TestClient[Any],
    store: sa.Engine,
    alice: dict[str, str],
    body: dict[str, Any],
    status: int,
    message: str | None,
) -> None:
    case_id = _create(api, alice, create_body([1]))["case"]["case_id"]
    _error(api.post(f"{CASES}/{case_id}/status", json=body, headers=alice), status, message)
    _error(api.post(f"{CASES}/case_{'2' * 24}/status", json={"status": "open"}, headers=alice),
           404, "case not found")  # fmt: skip


# =========================================================================== merge


def _insert_history(conn: sa.Connection, case_id: str, target_id: int, email: str) -> None:
    action = conn.execute(
        sa.insert(t.case_escalation_actions)
        .values(case_id=case_id, target_id=target_id, status="sent", subject="s", body="b")
        .returning(t.case_escalation_actions.c.id)
    ).scalar_one()
    conn.execute(
        sa.insert(t.case_email_deliveries).values(
            case_id=case_id, action_id=action, target_id=target_id, recipient_email=email
        )
    )
    conn.execute(sa.insert(t.case_resolution_signals).values(case_id=case_id, source_type="test"))


def test_merge_12_8_5_and_completeness(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    shared = {"email": "ops@city.example", "organization": "City"}
    a = _create(api, alice, create_body([1, 2], escalation_targets=[shared]))
    b = _create(
        api, alice,
        _far_body([11, 12], escalation_targets=[dict(shared, organization="City (dup)"),
                                                  {"phone": "+41 44 111 11 11"}]),
    )  # fmt: skip
    c = _create(api, alice, _far_body([11], force_new_case=True, title="Other pothole",
                                      cluster_summary="Second look."))  # fmt: skip
    a_id, b_id, c_id = a["case"]["case_id"], b["case"]["case_id"], c["case"]["case_id"]
    # B already absorbed an older case D; D must end up pointing at A (no merge chains).
    d = _create(api, alice, _far_body([12], force_new_case=True, title="Old pothole",
                                      cluster_summary="Older look."))  # fmt: skip
    d_id = d["case"]["case_id"]
    assert api.post(f"{CASES}/merge", json={"target_case_id": b_id, "source_case_ids": [d_id]},
                    headers=alice).status_code == 200  # fmt: skip
    targets = {tg["email"] or tg["phone"]: tg["id"] for tg in
               api.get(f"{CASES}/{b_id}", headers=alice).json()["escalation_targets"]}  # fmt: skip
    with store.begin() as conn:
        _insert_history(conn, b_id, targets["ops@city.example"], "ops@city.example")
        _insert_history(conn, b_id, targets["+41441111111"], "x@y.example")

    response = api.post(f"{CASES}/merge", json={"target_case_id": f" {a_id} ",
                        "source_case_ids": [b_id, "", b_id, c_id]}, headers=alice)  # fmt: skip
    assert response.status_code == 200, response.text
    target = response.json()
    assert target["case"]["case_id"] == a_id
    assert sorted(link["seq"] for link in target["linked_reports"]) == [1, 2, 11, 12]
    reasons = {link["seq"]: link["link_reason"] for link in target["linked_reports"]}
    assert reasons[11] in (f"merged_from:{b_id}", f"merged_from:{c_id}")
    assert target["case"]["linked_report_count"] == 4
    assert len(target["clusters"]) == 4 and target["case"]["cluster_count"] == 4
    emails = sorted((tg["email"], tg["phone"]) for tg in target["escalation_targets"])
    assert emails == [("", "+41441111111"), ("ops@city.example", "")]  # de-duplicated
    kept = {tg["email"] or tg["phone"]: tg["id"] for tg in target["escalation_targets"]}
    assert len(target["escalation_actions"]) == 2 and len(target["email_deliveries"]) == 2
    assert {x["target_id"] for x in target["escalation_actions"]} == set(kept.values())
    assert {x["target_id"] for x in target["email_deliveries"]} == set(kept.values())
    assert len(target["resolution_signals"]) == 2
    assert _audit(target)[-1] == ("case_merged", "alice")
    assert json.loads(target["audit_events"][-1]["payload_json"]) == {
        "source_case_ids": [b_id, c_id]
    }
    source = api.get(f"{CASES}/{b_id}", headers=alice).json()
    assert source["case"]["status"] == "merged"
    assert source["case"]["merged_into_case_id"] == a_id
    assert source["case"]["linked_report_count"] == 0 and source["case"]["cluster_count"] == 0
    assert "anchor_report_seq" not in source["case"] and "last_cluster_at" not in source["case"]
    for key in ("linked_reports", "clusters", "escalation_targets", "escalation_actions",
                "email_deliveries", "resolution_signals"):  # fmt: skip
        assert source[key] == [], key
    assert _audit(source)[-1] == ("case_merged_into", "alice")
    assert json.loads(source["audit_events"][-1]["payload_json"]) == {
        "target_case_id": a_id, "from_status": "open", "to_status": "merged",
    }  # fmt: skip
    old = api.get(f"{CASES}/{d_id}", headers=alice).json()["case"]
    assert old["merged_into_case_id"] == a_id
    by_report = api.get("/api/v3/reports/cases", params={"seq": 11}).json()
    assert [x["case_id"] for x in by_report["cases"]] == [a_id]
    assert by_report["cases"][0]["escalation_target_count"] == 2
    assert by_report["cases"][0]["delivery_count"] == 2


def test_merge_refusals(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str], bob: dict[str, str],
    admin: dict[str, str],
) -> None:  # fmt: skip
    merge = f"{CASES}/merge"
    a = _create(api, alice, create_body([1]))["case"]["case_id"]
    b = _create(api, bob, _far_body([11]))["case"]["case_id"]
    c = _create(api, alice, _far_body([12], force_new_case=True))["case"]["case_id"]
    missing = "case_" + "9" * 24
    cases = [
        ({}, 400, "target_case_id and source_case_ids are required"),
        ({"target_case_id": a}, 400, "target_case_id and source_case_ids are required"),
        ({"target_case_id": a, "source_case_ids": [" ", ""]}, 400,
         "target_case_id and source_case_ids are required"),
        ({"target_case_id": "", "source_case_ids": [b]}, 400,
         "target_case_id and source_case_ids are required"),
        ({"target_case_id": a, "source_case_ids": [a]}, 400, "cannot merge a case into itself"),
        ({"target_case_id": a, "source_case_ids": [b, a]}, 400,
         "cannot merge a case into itself"),
        ({"target_case_id": a, "source_case_ids": [missing]}, 404, f"cases not found: {missing}"),
        ({"target_case_id": missing, "source_case_ids": [a]}, 404, f"cases not found: {missing}"),
        ({"target_case_id": a, "source_case_ids": "b"}, 400, None),
    ]  # fmt: skip
    for body, status, message in cases:
        _error(api.post(merge, json=body, headers=alice), status, message)
    # alice may edit a and c but not bob's b.
    forbidden = api.post(merge, json={"target_case_id": a, "source_case_ids": [b]}, headers=alice)
    _error(forbidden, 403,
           "only the case creator, an admin or a service account may change this case")  # fmt: skip
    assert api.post(merge, json={"target_case_id": a, "source_case_ids": [c]},
                    headers=alice).status_code == 200  # fmt: skip
    _error(api.post(merge, json={"target_case_id": b, "source_case_ids": [c]}, headers=admin),
           409, f"case {c} is merged into {a}; use that case")  # fmt: skip
    _error(api.post(merge, json={"target_case_id": c, "source_case_ids": [b]}, headers=admin),
           409, f"case {c} is merged into {a}; use that case")  # fmt: skip
    _error(api.post(f"{CASES}/{c}/status", json={"status": "open"}, headers=admin), 422,
           'cannot change status from "merged" to "open"; allowed: none')  # fmt: skip


# =========================================================================== by report


def test_reports_cases_12_8_8(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    first = _create(api, alice, create_body([1, 2]))["case"]["case_id"]
    second = _create(api, alice, create_body([2], force_new_case=True, title="Second"))["case"]
    response = api.get("/api/v3/reports/cases", params={"seq": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["seq"] == 2
    assert [c["case_id"] for c in body["cases"]] == [second["case_id"], first]
    summary = body["cases"][0]
    assert list(summary) == [
        "case_id", "slug", "title", "status", "classification", "summary", "severity_score",
        "urgency_score", "updated_at", "escalation_target_count", "delivery_count",
    ]  # fmt: skip
    # Touch the first case: it becomes the most recently updated.
    api.post(f"{CASES}/{first}/reports", json={"report_seqs": [3]}, headers=alice)
    again = api.get("/api/v4/reports/cases", params={"seq": 2}).json()
    assert [c["case_id"] for c in again["cases"]] == [first, second["case_id"]]
    assert api.get("/api/v3/reports/cases", params={"seq": 4}).json() == {"seq": 4, "cases": []}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "seq is required"),
        ({"seq": ""}, "seq is required"),
        ({"seq": " "}, "seq is required"),
        ({"seq": "abc"}, "seq must be a positive integer"),
        ({"seq": "0"}, "seq must be a positive integer"),
        ({"seq": "-5"}, "seq must be a positive integer"),
        ({"seq": "1.5"}, "seq must be a positive integer"),
        ({"seq": "99999999999999999999999"}, "seq must be a positive integer"),
    ],
)
def test_reports_cases_bad_input(
    api: TestClient[Any], params: dict[str, str], message: str
) -> None:
    _error(api.get("/api/v3/reports/cases", params=params), 400, message)


# =========================================================================== match-cluster


def test_match_cluster_public_with_reopen_suggestion(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    open_case = _create(api, alice, create_body([1, 2]))["case"]["case_id"]
    done = _create(api, alice, _far_body([11, 12]))["case"]["case_id"]
    api.post(f"{CASES}/{done}/status", json={"status": "resolved"}, headers=alice)
    by_seqs = api.post(f"{CASES}/match-cluster", json={"report_seqs": [1, 2], "title": "Bricks"})
    assert by_seqs.status_code == 200, by_seqs.text
    (candidate,) = by_seqs.json()["candidate_cases"]
    assert candidate["case_id"] == open_case and candidate["suggested_action"] == "attach"
    assert candidate["shared_report_count"] == 2 and candidate["band"] == "auto"
    by_scope = api.post(f"{CASES}/match-cluster", json={"geometry": square(*FAR, 100)}).json()
    assert by_scope["classification"] == "physical"
    (candidate,) = by_scope["candidate_cases"]
    assert candidate["case_id"] == done and candidate["suggested_action"] == "reopen"
    nothing = api.post(f"{CASES}/match-cluster", json={}).json()
    assert nothing == {"classification": "physical", "candidate_cases": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"geometry": {"type": "Point", "coordinates": [0, 0]}}, "unsupported geometry type"),
        ({"report_seqs": [5]}, "unknown or invisible report seqs: [5]"),
        ({"report_seqs": [-1]}, "report_seqs must be positive integers, got [-1]"),
        ({"classification": "x"}, "classification must be one of physical, digital"),
        ({"n": -3}, "n must be a positive integer, got -3"),
        ({"title": 5}, "invalid json"),
    ],
)
def test_match_cluster_bad_input(
    api: TestClient[Any], store: sa.Engine, body: dict[str, Any], message: str
) -> None:
    assert message in _error(api.post(f"{CASES}/match-cluster", json=body), 400)


def test_case_reads_and_aggregates_use_the_one_preferred_analysis(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str]
) -> None:
    """English, else the smallest language code: the rule the analysis routes use too.

    Never a mix of several analyses' fields (the per-column maxima across languages used
    to give report 41 the German title with the French severity).
    """
    analyses = pd.DataFrame(
        {
            "seq": [41, 41, 42, 42],
            "language": ["fr", "de", "en", "it"],
            "title": ["Apfel", "Zebra", "English", "Zzz"],
            "summary": ["fr", "de", "en", "it"],
            "severity_level": [0.9, 0.2, 0.3, 0.95],
            "classification": ["physical"] * 4,
        }
    )
    write(store, [record(41, language="de"), record(42)], analyses=analyses)
    response = api.post(CASES, json=create_body([41, 42]), headers=alice)
    assert response.status_code == 201, response.text
    body = response.json()
    links = {link["seq"]: link for link in body["linked_reports"]}
    assert (links[41]["title"], links[41]["severity_level"]) == ("Zebra", 0.2)
    assert (links[42]["title"], links[42]["severity_level"]) == ("English", 0.3)
    assert body["case"]["severity_score"] == 0.3  # not 0.9 or 0.95 of other languages
