"""Report contact strategy (R16–R19) and the upstream routing tests of reference §12.5/§12.6.

Real PostGIS, the real app over HTTP. T29/T30 (the notify plan's selection) run through case
creation; T31/T32 (report routing) through ``GET /reports/contact-strategy/by-seq`` on a
report whose stored targets are upstream's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import shapely
import sqlalchemy as sa
from api_support import base_settings, bearer, client_for, mint_token
from case_support import ZURICH, record, square, write
from litestar.testing import TestClient

from cleanapp_api.db import tables as t
from cleanapp_api.services.targets import target_rows

pytestmark = pytest.mark.postgis

ALICE = bearer(mint_token("alice"))
LAT, LON = ZURICH
STRATEGY = "/api/v3/reports/contact-strategy"


@pytest.fixture(scope="module")
def api(db_url: str) -> Iterator[TestClient[Any]]:
    with client_for(base_settings(db_url)) as client:
        yield client


def public_id(engine: sa.Engine, seq: int) -> str:
    with engine.connect() as conn:
        value: str = conn.execute(
            sa.select(t.reports.c.public_id).where(t.reports.c.seq == seq)
        ).scalar_one()
    return value


def store_targets(engine: sa.Engine, seq: int, targets: list[dict[str, Any]]) -> None:
    """Stored report targets, as an earlier strategy request left them (fresh)."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(t.report_escalation_targets),
            [{**row, "report_seq": seq} for row in target_rows(targets)],
        )


def seed_contacts(engine: sa.Engine) -> None:
    """A consented area contact around the report, and a brand with a contact form."""
    near = shapely.MultiPolygon([shapely.box(LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01)])
    with engine.begin() as conn:
        area = conn.execute(
            sa.insert(t.areas).values(name="Stadt Zürich", geom=near.wkt).returning(t.areas.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(t.area_contacts).values(
                area_id=area, email="hausdienst@schule-zh.ch", consent_report=True
            )
        )


# --------------------------------------------------------------------------- R16-R19


def test_strategy_by_seq_and_public_id_refresh_from_stored_sources(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    title = "Facade bricks falling over school entrance"
    write(clean_db, [record(7, title=title, summary="Masonry risk.", severity_level=0.92)])
    seed_contacts(clean_db)
    first = api.get(f"{STRATEGY}/by-seq?seq=7")  # public: no token
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["report_seq"] == 7 and body["public_id"] == public_id(clean_db, 7)
    assert body["refreshed"] is True  # nothing stored yet: suggested from the stored sources
    [target] = body["escalation_targets"]
    assert target["email"] == "hausdienst@schule-zh.ch" and target["report_seq"] == 7
    assert target["target_source"] == "area_contact" and target["actionability_score"] > 0
    [observation] = body["contact_observations"]
    assert observation["channel_value"] == "hausdienst@schule-zh.ch"
    assert observation["target_id"] == target["id"] and "id" not in observation
    plan = body["notify_plan"]
    assert [i["target_id"] for i in plan["items"]] == [target["id"]]
    assert plan["hazard_mode"] == "emergency" and "id" not in plan
    profile = body["routing_profile"]
    assert (profile["subject_kind"], profile["subject_ref"]) == ("report", body["public_id"])
    assert profile["asset_class"] == "school"
    assert body["execution_tasks"] == [] and body["notify_outcomes"] == []

    # A second request uses the stored targets (fresh), the same ids; by public id too.
    again = api.get(f"{STRATEGY}/by-public-id?public_id={body['public_id']}").json()
    assert again["refreshed"] is False
    assert [x["id"] for x in again["escalation_targets"]] == [target["id"]]
    forced = api.get(f"{STRATEGY}/by-seq?seq=7&refresh_targets=1").json()
    assert forced["refreshed"] is True
    assert [x["id"] for x in forced["escalation_targets"]] == [target["id"]]  # upsert, no churn


def test_report_task_outcome_updates_memory_and_the_next_strategy(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    write(clean_db, [record(8, title="Structural crack in metro station support beam",
                            summary="Major crack, falling concrete near commuters.",
                            severity_level=0.96)])  # fmt: skip
    store_targets(
        clean_db,
        8,
        [
            {"role_type": "operator", "organization": "Metro Zürich",
             "display_name": "Leitstelle", "phone": "+41 44 411 11 11",
             "verification_level": "official_page", "target_source": "official_site_page",
             "confidence_score": 0.9},
            {"role_type": "transit_authority", "organization": "Metro Zürich",
             "email": "ops@metro.example", "verification_level": "official_page",
             "target_source": "official_site_page", "confidence_score": 0.9},
        ],
    )  # fmt: skip
    body = api.get(f"{STRATEGY}/by-seq?seq=8").json()
    [task] = body["execution_tasks"]
    assert task["summary"] == "Call Leitstelle" and task["subject_kind"] == "report"
    assert task["subject_ref"] == body["public_id"]
    url = f"{STRATEGY}/by-seq/8/tasks/{task['id']}/outcome"
    assert api.post(url, json={"outcome_type": "bounce"}).status_code == 401
    r = api.post(url, json={"outcome_type": "bounce", "note": "Disconnected."}, headers=ALICE)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["task"]["task_status"] == "completed"
    assert answer["endpoint_memory"]["bounce_count"] == 1
    assert answer["outcome"]["subject_kind"] == "report" and answer["outcome"]["id"] > 0

    after = api.get(f"{STRATEGY}/by-public-id?public_id={body['public_id']}").json()
    phone = {i["endpoint_key"]: i for i in after["notify_plan"]["items"]}[task["endpoint_key"]]
    assert (phone["wave_number"], phone["send_eligibility"], phone["selected"]) == (
        4,
        "hold",
        False,
    )
    assert [o["outcome_type"] for o in after["notify_outcomes"]] == ["bounced"]
    assert [x["task_status"] for x in after["execution_tasks"]] == ["completed"]
    # By public id, the same task: the repeat is idempotent.
    by_public = f"{STRATEGY}/by-public-id/{body['public_id']}/tasks/{task['id']}/outcome"
    repeat = api.post(by_public, json={"outcome_type": "bounced"}, headers=ALICE).json()
    assert repeat["outcome"]["id"] == answer["outcome"]["id"]
    assert repeat["endpoint_memory"]["bounce_count"] == 1


def test_strategy_bad_inputs_answer_4xx(api: TestClient[Any], clean_db: sa.Engine) -> None:
    write(clean_db, [record(9)])
    write(clean_db, [record(10)])
    with clean_db.begin() as conn:
        conn.execute(sa.update(t.reports).where(t.reports.c.seq == 10).values(visibility="shadow"))
    cases = [
        (f"{STRATEGY}/by-seq", 400, "Missing 'seq' parameter"),
        (f"{STRATEGY}/by-seq?seq=abc", 400, "Invalid 'seq' parameter. Must be a positive integer."),
        (f"{STRATEGY}/by-seq?seq=0", 400, "Invalid 'seq' parameter"),
        (f"{STRATEGY}/by-seq?seq=9&refresh_targets=maybe", 400, "refresh_targets"),
        (f"{STRATEGY}/by-public-id", 400, "Missing 'public_id' parameter"),
        (f"{STRATEGY}/by-public-id?public_id=rpt_short", 400, "Invalid 'public_id' parameter"),
        (f"{STRATEGY}/by-seq?seq=404", 404, "Report not found"),
        (f"{STRATEGY}/by-seq?seq=10", 404, "Report not found"),  # not public
        (f"{STRATEGY}/by-public-id?public_id=rpt_{'A' * 22}", 404, "Report not found"),
    ]
    for path, status, message in cases:
        r = api.get(path)
        assert r.status_code == status, (path, r.text)
        assert message in r.json()["error"], path
    posts = [
        (f"{STRATEGY}/by-seq/9/tasks/x/outcome", {"outcome_type": "ack"}, 400, "invalid task id"),
        (f"{STRATEGY}/by-seq/9/tasks/5/outcome", {"outcome_type": "?"}, 400, "unsupported"),
        (f"{STRATEGY}/by-seq/9/tasks/5/outcome", {"outcome_type": "ack"}, 404,
         "execution task not found"),
        (f"{STRATEGY}/by-seq/x/tasks/5/outcome", {"outcome_type": "ack"}, 400, "Invalid 'seq'"),
        (f"{STRATEGY}/by-public-id/nope/tasks/5/outcome", {"outcome_type": "ack"}, 400,
         "Invalid 'public_id'"),
    ]  # fmt: skip
    for path, payload, status, message in posts:
        r = api.post(path, json=payload, headers=ALICE)
        assert r.status_code == status, (path, r.text)
        assert message in r.json()["error"], path


# --------------------------------------------------------------------------- §12.5, §12.6


def _structural_case(api: TestClient[Any], engine: sa.Engine, targets: list[dict[str, Any]]) -> Any:
    write(engine, [record(1, title="Structural crack, facade bricks falling at school",
                          summary="Severe structural damage.", severity_level=0.95)])  # fmt: skip
    r = api.post(
        "/api/v3/cases",
        json={
            "title": "Structural crack, facade bricks falling at school",
            "classification": "physical",
            "geometry": square(*ZURICH, 150),
            "anchor_report_seq": 1,
            "report_seqs": [1],
            "force_new_case": True,
            "escalation_targets": targets,
        },
        headers=ALICE,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _official(role: str, email: str, org: str, **extra: Any) -> dict[str, Any]:
    return {"role_type": role, "email": email, "organization": org,
            "verification_level": "official_page", "target_source": "official_directory",
            "confidence_score": 0.9, **extra}  # fmt: skip


def test_t29_primary_department_inbox_preferred_duplicate_suppressed(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    detail = _structural_case(
        api,
        clean_db,
        [
            _official("building_authority", "bau.planung@adliswil.ch", "Bau und Planung"),
            _official("building_authority", "damiano.maiolo@adliswil.ch", "Bau und Planung",
                      display_name="Damiano Maiolo"),
            _official("operator", "schule@adliswil.ch", "Schule Adliswil"),
        ],
    )  # fmt: skip
    assert detail["notify_plan"]["hazard_mode"] == "emergency"
    selected = {i["endpoint_key"]: i["selected"] for i in detail["notify_plan"]["items"]}
    assert selected == {
        "email:bau.planung@adliswil.ch": True,
        "email:damiano.maiolo@adliswil.ch": False,
        "email:schule@adliswil.ch": True,
    }


def test_t30_per_organisation_wave_cap(api: TestClient[Any], clean_db: sa.Engine) -> None:
    detail = _structural_case(
        api,
        clean_db,
        [
            _official("transit_authority", "ops@metro-authority.example", "Metro Authority",
                      confidence_score=0.95),
            _official("facility_manager", "facilities@metro-authority.example",
                      "Metro Authority", confidence_score=0.9),
            _official("operator", "lead@metro-authority.example", "Metro Authority",
                      confidence_score=0.85),
        ],
    )  # fmt: skip
    items = detail["notify_plan"]["items"]
    assert all(i["wave_number"] == 1 and i["send_eligibility"] == "auto" for i in items)
    assert sum(i["selected"] for i in items) == 2  # two per organisation in wave 1
    assert {i["endpoint_key"] for i in items if not i["selected"]} == {
        "email:lead@metro-authority.example"
    }


def _report_targets(
    api: TestClient[Any],
    engine: sa.Engine,
    seq: int,
    title: str,
    summary: str,
    severity: float,
    targets: list[dict[str, Any]],
) -> Any:
    write(engine, [record(seq, title=title, summary=summary, severity_level=severity)])
    store_targets(engine, seq, targets)
    r = api.get(f"{STRATEGY}/by-seq?seq={seq}")
    assert r.status_code == 200, r.text
    return r.json()


def test_t31_authorities_prioritised_for_a_structural_hazard(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    body = _report_targets(
        api, clean_db, 31,
        "Structural crack in load-bearing metro support column",
        "Severe crack at a metro station with falling-concrete risk near commuters. "
        "Immediate danger to passengers near a transit platform.",
        0.95,
        [
            {"role_type": "building_authority", "email": "building@authority.example",
             "target_source": "official_directory", "verification_level": "official_page",
             "confidence_score": 0.92},
            {"role_type": "contractor", "email": "contractor@example.com",
             "target_source": "search_discovery", "verification_level": "directory_listing",
             "confidence_score": 0.76},
        ],
    )  # fmt: skip
    profile = body["routing_profile"]
    assert (profile["asset_class"], profile["hazard_mode"]) == ("transit_station", "emergency")
    first, second = body["escalation_targets"]
    assert (first["decision_scope"], first["notify_tier"]) == ("regulator", 1)
    assert first["send_eligibility"] == "auto"
    assert first["role_fit_score"] == pytest.approx(0.66)
    assert first["site_match_score"] == pytest.approx(0.4)
    assert first["actionability_score"] == pytest.approx(0.909, abs=1e-3)
    assert (second["decision_scope"], second["notify_tier"]) == ("project_party", 3)
    assert second["attribution_class"] == "official_registry"
    assert second["role_fit_score"] == pytest.approx(0.7)
    assert second["actionability_score"] == pytest.approx(0.766, abs=1e-3)
    assert second["send_eligibility"] == "review"


def test_t32_transit_authority_first_at_stations(api: TestClient[Any], clean_db: sa.Engine) -> None:
    body = _report_targets(
        api, clean_db, 32,
        "Major crack in metro station support beam",
        "A major crack runs through the support beam of the metro station.",
        0.96,
        [
            {"role_type": "transit_authority", "email": "ops@metro.example",
             "target_source": "official_site_page", "confidence_score": 0.9},
            {"role_type": "building_authority", "email": "building@authority.example",
             "target_source": "official_authority_page", "confidence_score": 0.89},
        ],
    )  # fmt: skip
    first, second = body["escalation_targets"]
    assert (first["role_type"], first["decision_scope"]) == ("transit_authority", "site_ops")
    assert first["actionability_score"] > second["actionability_score"]
    assert json.loads(body["routing_profile"]["context_json"])["structural"] is True
