"""Contact routing in the service: sync on create, the escalations view, R15 outcomes.

Real PostGIS, the real app over HTTP (Litestar's test client), real tokens. The case is the
school facade of ``docs/routing.md``: an emergency (falling bricks, severity 0.92) with a
facility service, the school office's phone, two authorities, a contractor and an old
general inbox.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import base_settings, bearer, client_for, mint_token
from case_support import ZURICH, record, square, write
from litestar.testing import TestClient

from cleanapp_api.db import tables as t
from cleanapp_api.services import cases as case_service
from cleanapp_api.services.routing import record_delivery_outcomes

pytestmark = pytest.mark.postgis

ALICE = bearer(mint_token("alice"))
SERVICE = bearer(mint_token("svc-bot", roles=["service"]))

SCHOOL_TARGETS: list[dict[str, Any]] = [
    {
        "role_type": "facility_manager",
        "organization": "Schule Zürich",
        "display_name": "Hausdienst",
        "email": "hausdienst@schule-zh.ch",
        "target_source": "area_contact",
        "confidence_score": 0.9,
    },
    {
        "role_type": "operator",
        "organization": "Schule Zürich",
        "display_name": "Sekretariat",
        "phone": "+41 44 413 11 11",
        "source_url": "https://www.schule-zh.ch/kontakt",
        "verification_level": "official_page",
        "target_source": "official_site_page",
        "confidence_score": 0.85,
    },
    {
        "role_type": "building_authority",
        "organization": "Stadt Zürich Baubewilligungen",
        "email": "baubewilligungen@zuerich.ch",
        "verification_level": "official_page",
        "target_source": "official_directory",
        "confidence_score": 0.9,
    },
    {
        "role_type": "contractor",
        "organization": "Fassadenbau AG",
        "email": "info@fassadenbau.ch",
        "verification_level": "directory_listing",
        "target_source": "search_discovery",
        "confidence_score": 0.7,
    },
    {
        "role_type": "contact",
        "organization": "Schule Zürich",
        "email": "info@schule-zh.ch",
        "target_source": "area_contact",
        "confidence_score": 0.6,
    },
]


@pytest.fixture(scope="module")
def api(db_url: str) -> Iterator[TestClient[Any]]:
    with client_for(base_settings(db_url)) as client:
        yield client


def make_case(
    api: TestClient[Any], engine: sa.Engine, targets: list[dict[str, Any]], *, seq: int = 1
) -> dict[str, Any]:
    write(
        engine,
        [
            record(
                seq,
                severity_level=0.92,
                title="Facade bricks falling over school entrance",
                summary="Masonry risk above school facade.",
            )
        ],
    )
    response = api.post(
        "/api/v3/cases",
        json={
            "title": "Facade bricks falling over school entrance",
            "summary": "Loose facade bricks above the main school entrance.",
            "classification": "physical",
            "geometry": square(*ZURICH, 150),
            "anchor_report_seq": seq,
            "report_seqs": [seq],
            "force_new_case": True,
            "escalation_targets": targets,
        },
        headers=ALICE,
    )
    assert response.status_code == 201, response.text
    detail: dict[str, Any] = response.json()
    return detail


def view(api: TestClient[Any], case_id: str, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/v3/cases/{case_id}/escalations{query}", headers=ALICE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def items_by_key(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["endpoint_key"]: item for item in plan["items"]}


def outcome_url(case_id: str, task_id: object) -> str:
    return f"/api/v3/cases/{case_id}/execution-tasks/{task_id}/outcome"


def test_create_routes_the_case_and_the_view_shows_every_routing_key(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    detail = make_case(api, clean_db, SCHOOL_TARGETS)
    case_id = detail["case"]["case_id"]
    assert detail["routing_profile"]["hazard_mode"] == "emergency"
    assert detail["notify_plan"]["plan_version"] == 1

    body = view(api, case_id)
    assert list(body) == [
        "case_id", "targets", "observations", "notify_plan", "routing_profile",
        "execution_tasks", "notify_outcomes", "actions", "deliveries", "linked_count",
    ]  # fmt: skip
    profile = body["routing_profile"]
    assert (profile["subject_kind"], profile["subject_ref"]) == ("case", case_id)
    assert (profile["defect_class"], profile["asset_class"]) == ("physical_structural", "school")
    assert json.loads(profile["context_json"])["immediate_danger"] is True

    # Every visible target is routed: scores from the library, a wave, an eligibility.
    targets = {x["endpoint_key"]: x for x in body["targets"]}
    assert len(targets) == 5
    assert all(0 < x["actionability_score"] <= 1 for x in targets.values())
    assert targets["email:hausdienst@schule-zh.ch"]["notify_tier"] == 1
    assert targets["email:info@fassadenbau.ch"]["notify_tier"] == 3
    assert targets["email:info@fassadenbau.ch"]["send_eligibility"] == "review"

    # One observation per contact value, linked to its target.
    observations = {o["channel_value"]: o for o in body["observations"]}
    assert set(observations) == {
        "hausdienst@schule-zh.ch", "+41444131111", "baubewilligungen@zuerich.ch",
        "info@fassadenbau.ch", "info@schule-zh.ch",
    }  # fmt: skip
    assert all(o["case_id"] == case_id and o["target_id"] for o in body["observations"])

    # The plan: waves 1, 3 and 4; the facility service is "to", the authority "cc".
    plan = body["notify_plan"]
    assert plan["status"] == "active" and plan["hazard_mode"] == "emergency"
    assert [w["wave_number"] for w in plan["waves"]] == [1, 3, 4]
    items = items_by_key(plan)
    assert items["email:hausdienst@schule-zh.ch"]["recipient_role"] == "to"
    assert items["email:baubewilligungen@zuerich.ch"]["recipient_role"] == "cc"
    assert items["email:info@fassadenbau.ch"]["selected"] is False
    assert all(i["target_id"] == targets[k]["id"] for k, i in items.items())
    assert "Immediate-response plan selects" in plan["summary"]

    # The selected phone became a task for a person.
    [task] = body["execution_tasks"]
    assert task["summary"] == "Call Sekretariat" and task["task_status"] == "pending"
    assert task["channel_type"] == "phone" and task["wave_number"] == 1
    assert json.loads(task["payload_json"])["action_url"].startswith("tel:")
    assert body["notify_outcomes"] == []

    # Confidence and exposure come from the evidence, not upstream's constants 0.8 and 0.6:
    # one reporter (0.5); a localized problem (0.25) where children gather (+0.2).
    case = api.get(f"/api/v3/cases/{case_id}", headers=ALICE).json()["case"]
    assert case["confidence_score"] == pytest.approx(0.5)
    assert case["exposure_score"] == pytest.approx(0.45)


def test_a_misrouted_call_holds_the_phone_and_changes_the_next_plan(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    case_id = make_case(api, clean_db, SCHOOL_TARGETS)["case"]["case_id"]
    before = view(api, case_id)
    [task] = before["execution_tasks"]
    phone = task["endpoint_key"]
    assert items_by_key(before["notify_plan"])[phone]["wave_number"] == 1

    r = api.post(
        outcome_url(case_id, task["id"]),
        json={"outcome_type": "Wrong_Recipient", "note": "Number belongs to a bakery."},
        headers=ALICE,
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["task"]["task_status"] == "completed"
    assert answer["task"]["assigned_user_id"] == "alice" and answer["task"]["completed_at"]
    assert answer["outcome"]["id"] > 0 and answer["outcome"]["outcome_type"] == "misrouted"
    assert answer["outcome"]["source_type"] == "execution_task"
    memory = answer["endpoint_memory"]
    assert memory["endpoint_key"] == phone and memory["misroute_count"] == 1
    assert memory["last_result"] == "misrouted" and memory["cooldown_until"]

    after = view(api, case_id)
    plan = after["notify_plan"]
    assert plan["plan_version"] == before["notify_plan"]["plan_version"] + 1
    held = items_by_key(plan)[phone]
    assert (held["wave_number"], held["send_eligibility"], held["selected"]) == (4, "hold", False)
    assert "wrong recipient" in held["reason_selected"]
    # The completed task is kept and not re-created; the outcome is listed.
    assert [(x["id"], x["task_status"]) for x in after["execution_tasks"]] == [
        (task["id"], "completed")
    ]
    assert [o["outcome_type"] for o in after["notify_outcomes"]] == ["misrouted"]
    with clean_db.connect() as conn:
        rs = t.case_resolution_signals
        signal = conn.execute(sa.select(rs).where(rs.c.case_id == case_id)).mappings().one()
        events = (
            conn.execute(
                sa.select(t.case_audit_events.c.event_type).where(
                    t.case_audit_events.c.case_id == case_id
                )
            )
            .scalars()
            .all()
        )
    assert signal["source_type"] == "notify_execution_task"
    assert signal["summary"] == (
        "Sekretariat indicated the escalation was misrouted. Number belongs to a bakery."
    )
    assert "execution_task_outcome_recorded" in events

    # The same outcome again is idempotent: the stored outcome, the memory unchanged.
    again = api.post(outcome_url(case_id, task["id"]), json={"outcome_type": "misrouted"},
                     headers=ALICE).json()  # fmt: skip
    assert again["outcome"]["id"] == answer["outcome"]["id"]
    assert again["endpoint_memory"]["misroute_count"] == 1
    assert view(api, case_id)["notify_plan"]["plan_version"] == plan["plan_version"]


def test_outcome_bad_inputs_answer_4xx(api: TestClient[Any], clean_db: sa.Engine) -> None:
    case_id = make_case(api, clean_db, SCHOOL_TARGETS)["case"]["case_id"]
    [task] = view(api, case_id)["execution_tasks"]
    good = {"outcome_type": "ack"}
    cases = [
        (outcome_url(case_id, "abc"), good, 400, "invalid task id"),
        (outcome_url(case_id, "0"), good, 400, "invalid task id"),
        (outcome_url(case_id, task["id"]), {"outcome_type": "maybe"}, 400, "unsupported outcome"),
        (outcome_url(case_id, task["id"]), {}, 400, "unsupported outcome"),
        (outcome_url(case_id, task["id"]), {"outcome_type": 3}, 400, ""),
        (outcome_url(case_id, task["id"]), {"outcome_type": "ack", "note": "x" * 4001}, 400,
         "note must be at most"),
        (outcome_url(case_id, 999999), good, 404, "execution task not found"),
        (outcome_url("case_" + "0" * 24, task["id"]), good, 404, "case not found"),
    ]  # fmt: skip
    for path, body, status, message in cases:
        r = api.post(path, json=body, headers=ALICE)
        assert r.status_code == status, (path, body, r.text)
        assert message in r.json()["error"]
    assert api.post(outcome_url(case_id, task["id"]), json=good).status_code == 401
    r = api.get(f"/api/v3/cases/{case_id}/escalations?refresh_targets=maybe", headers=ALICE)
    assert r.status_code == 400 and "refresh_targets" in r.json()["error"]
    # Nothing was recorded by the refused requests.
    assert view(api, case_id)["notify_outcomes"] == []


def test_a_service_token_records_the_actor_it_names(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    case_id = make_case(api, clean_db, SCHOOL_TARGETS)["case"]["case_id"]
    [task] = view(api, case_id)["execution_tasks"]
    r = api.post(
        outcome_url(case_id, task["id"]),
        json={"outcome_type": "acknowledged", "actor_user_id": "operator-7"},
        headers=SERVICE,
    )
    assert r.status_code == 200, r.text
    assert r.json()["task"]["assigned_user_id"] == "operator-7"
    memory = r.json()["endpoint_memory"]
    assert memory["ack_count"] == 1 and memory["preferred_for_role_type"] == "operator"
    assert memory["preferred_for_asset_class"] == "school"


def test_delivery_outcomes_update_endpoint_memory_once_per_delivery(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    detail = make_case(api, clean_db, SCHOOL_TARGETS)
    case_id = detail["case"]["case_id"]
    ids = {x["email"]: x["id"] for x in detail["escalation_targets"] if x["email"]}
    deliveries = [
        {"id": 1, "target_id": ids["hausdienst@schule-zh.ch"],
         "recipient_email": "hausdienst@schule-zh.ch", "delivery_status": "sent",
         "provider": "smtp", "error_message": None},
        {"id": 2, "target_id": ids["baubewilligungen@zuerich.ch"],
         "recipient_email": "baubewilligungen@zuerich.ch", "delivery_status": "invalid_email",
         "provider": "smtp", "error_message": "550 no such user"},
        {"id": 3, "target_id": ids["info@fassadenbau.ch"],
         "recipient_email": "info@fassadenbau.ch", "delivery_status": "failed",
         "provider": "smtp", "error_message": "timeout"},
    ]  # fmt: skip
    with clean_db.begin() as conn:
        assert record_delivery_outcomes(conn, case_id, deliveries) == 2
        assert record_delivery_outcomes(conn, case_id, deliveries) == 0  # idempotent
    with clean_db.connect() as conn:
        memory = {
            row["endpoint_key"]: row
            for row in conn.execute(sa.select(t.contact_endpoint_memory)).mappings()
        }
    assert memory["email:hausdienst@schule-zh.ch"]["success_count"] == 1
    bounced = memory["email:baubewilligungen@zuerich.ch"]
    assert (bounced["bounce_count"], bounced["last_result"]) == (1, "bounced")
    assert "email:info@fassadenbau.ch" not in memory  # a transient failure is not a bounce

    # The next routing holds the bounced authority out of wave 1.
    plan = view(api, case_id, "?refresh_targets=true")["notify_plan"]
    item = items_by_key(plan)["email:baubewilligungen@zuerich.ch"]
    assert (item["wave_number"], item["send_eligibility"], item["selected"]) == (4, "hold", False)
    assert plan["plan_version"] == 2


def test_concurrent_refreshes_leave_one_active_plan(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    case_id = make_case(api, clean_db, SCHOOL_TARGETS)["case"]["case_id"]
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            case_service.get_case(clean_db, case_id, refresh_targets=True)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with clean_db.connect() as conn:
        plans = conn.execute(
            sa.select(t.case_notify_plans.c.status, t.case_notify_plans.c.plan_version).where(
                t.case_notify_plans.c.case_id == case_id
            )
        ).all()
    assert [p.status for p in plans].count("active") == 1
    # Nothing changed between the refreshes: the plan was kept, not re-versioned.
    assert sorted(p.plan_version for p in plans) == [1]


def test_concurrent_outcomes_of_one_endpoint_count_every_one(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    # Two cases share the school office's phone; a bounce recorded on both at once counts
    # twice (the memory row is locked, read, updated; no lost update).
    first = make_case(api, clean_db, SCHOOL_TARGETS, seq=1)["case"]["case_id"]
    second = make_case(api, clean_db, SCHOOL_TARGETS, seq=2)["case"]["case_id"]
    tasks = [(c, view(api, c)["execution_tasks"][0]["id"]) for c in (first, second)]
    answers: list[int] = []

    def record_bounce(case_id: str, task_id: int) -> None:
        r = api.post(outcome_url(case_id, task_id), json={"outcome_type": "bounced"},
                     headers=ALICE)  # fmt: skip
        answers.append(r.status_code)

    threads = [threading.Thread(target=record_bounce, args=task) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200, 200]
    with clean_db.connect() as conn:
        memory = (
            conn.execute(
                sa.select(t.contact_endpoint_memory).where(
                    t.contact_endpoint_memory.c.channel_type == "phone"
                )
            )
            .mappings()
            .one()
        )
    assert memory["bounce_count"] == 2 and memory["last_result"] == "bounced"


def test_merge_routes_the_moved_targets_and_empties_the_sources_plan(
    api: TestClient[Any], clean_db: sa.Engine
) -> None:
    first = make_case(api, clean_db, SCHOOL_TARGETS[:1], seq=1)["case"]["case_id"]
    second = make_case(api, clean_db, SCHOOL_TARGETS[1:3], seq=2)["case"]["case_id"]
    r = api.post(
        "/api/v3/cases/merge",
        json={"target_case_id": first, "source_case_ids": [second]},
        headers=ALICE,
    )
    assert r.status_code == 200, r.text
    merged = view(api, first)
    assert set(items_by_key(merged["notify_plan"])) == {
        "email:hausdienst@schule-zh.ch",
        "phone:41444131111",
        "email:baubewilligungen@zuerich.ch",
    }
    assert [x["summary"] for x in merged["execution_tasks"]] == ["Call Sekretariat"]
    source = view(api, second)
    assert source["notify_plan"]["items"] == [] and source["execution_tasks"] == []
