"""POST /reports keeps a case's contact routing right, against the real app and PostGIS.

An attach re-routes the case in the ingest's transaction (``sync_cases`` of the batch's
cases): a report that changes what routing depends on (here its severity, which makes the
hazard urgent) gets a new plan; one that changes nothing keeps the plan and its version,
while the evidence-derived scores and the stored profile always follow. A case with no
targets, observations, plan or tasks gets its scores and profile only (there is nothing
else a sync would write). Several cases synced together end as synced one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import client_for
from case_support import create_body, record, user_headers, write
from litestar.testing import TestClient
from test_report_ingest import BIN, NOW, REPORTS, _point, body

from cleanapp_api.db import tables as t
from cleanapp_api.services.routing import sync_case, sync_cases
from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

CASES = "/api/v4/cases"
TARGETS: list[dict[str, Any]] = [
    {
        "role_type": "operator",
        "organization": "Verkehrsbetriebe Zürich",
        "display_name": "VBZ Kundendienst",
        "email": "kundendienst@vbz.ch",
        "target_source": "area_contact",
        "confidence_score": 0.9,
    },
    {
        "role_type": "public_works",
        "organization": "Stadt Zürich Entsorgung",
        "phone": "+41 44 417 77 77",
        "verification_level": "official_page",
        "target_source": "official_directory",
        "confidence_score": 0.85,
    },
]


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


@pytest.fixture
def service(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "report-pipeline", roles=["service"])


@pytest.fixture
def alice(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "alice")


def _make_case(
    api: TestClient[Any],
    engine: sa.Engine,
    alice: dict[str, str],
    targets: list[dict[str, Any]],
    *,
    seqs: tuple[int, int] = (1, 2),
    north_m: float = 0.0,
) -> str:
    """An open case of two bin reports (severity 0.6) at the tram stop, with ``targets``."""
    a, b = _point(north_m, 0), _point(north_m + 5, 5)
    write(
        engine,
        [
            record(seqs[0], latitude=a[0], longitude=a[1], title=BIN,
                   summary="Bin overflowing, litter everywhere", severity_level=0.6,
                   ts=NOW - timedelta(hours=5)),
            record(seqs[1], latitude=b[0], longitude=b[1],
                   title="Trash bin overflowing next to tram stop",
                   summary="Litter around the bin", severity_level=0.6,
                   ts=NOW - timedelta(hours=4)),
        ],
    )  # fmt: skip
    created = api.post(
        CASES,
        json=create_body(list(seqs), geometry=None, title="Overflowing bin at the tram stop",
                         summary=BIN, cluster_stats=None, cluster_analysis=None,
                         cluster_summary="", escalation_targets=targets),
        headers=alice,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["case"]["case_id"])


def _state(engine: sa.Engine, case_id: str) -> dict[str, Any]:
    """What routing stored for the case: scores, profile, active plan, counts of rows."""
    c, p, plans = t.cases, t.subject_routing_profiles, t.case_notify_plans
    with engine.connect() as conn:
        case = conn.execute(
            sa.select(c.c.confidence_score, c.c.exposure_score, c.c.linked_report_count).where(
                c.c.case_id == case_id
            )
        ).one()
        profile = (
            conn.execute(sa.select(p).where(p.c.subject_kind == "case", p.c.subject_ref == case_id))
            .mappings()
            .first()
        )
        plan = (
            conn.execute(
                sa.select(plans.c.plan_version, plans.c.hazard_mode).where(
                    plans.c.case_id == case_id, plans.c.status == "active"
                )
            )
            .mappings()
            .first()
        )
        counts = {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where))
                      .scalar_one())
            for name, table, where in (
                ("plans", plans, plans.c.case_id == case_id),
                ("observations", t.case_contact_observations,
                 t.case_contact_observations.c.case_id == case_id),
                ("tasks", t.notify_execution_tasks,
                 t.notify_execution_tasks.c.subject_ref == case_id),
            )
        }  # fmt: skip
    return {
        "confidence": float(case.confidence_score),
        "exposure": float(case.exposure_score),
        "reports": int(case.linked_report_count),
        "profile": None if profile is None else dict(profile),
        "plan": None if plan is None else dict(plan),
        **counts,
    }


def _attach(api: TestClient[Any], service: dict[str, str], payload: dict[str, Any]) -> None:
    response = api.post(REPORTS, json=payload, headers=service)
    assert response.status_code == 201, response.text
    assert response.json()["case"]["action"] == "attached", response.text


def test_a_report_that_changes_the_routing_gets_a_new_plan_and_one_that_does_not_keeps_it(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str], service: dict[str, str]
) -> None:
    case_id = _make_case(api, clean_db, alice, TARGETS)
    before = _state(clean_db, case_id)
    assert before["plan"] is not None and before["plan"]["hazard_mode"] == "standard"
    assert before["profile"]["severity_band"] != "high"

    # Same incident, but severe (0.95): the profile's severity, so the hazard, changes.
    _attach(api, service, body(10, north_m=20, severity_level=0.95))
    severe = _state(clean_db, case_id)
    assert severe["reports"] == 3
    assert severe["plan"]["hazard_mode"] != "standard"
    assert severe["plan"]["plan_version"] == before["plan"]["plan_version"] + 1
    assert severe["profile"]["severity_band"] != before["profile"]["severity_band"]
    assert severe["confidence"] > before["confidence"]

    # Another report like the first ones changes nothing routing reads but the evidence:
    # the plan (and its version) stays, the scores and the profile's time follow.
    _attach(api, service, body(11, north_m=10, hours_ago=0.5))
    calm = _state(clean_db, case_id)
    assert calm["reports"] == 4
    assert calm["plan"] == severe["plan"]
    assert calm["plans"] == severe["plans"]
    assert calm["confidence"] > severe["confidence"]
    assert calm["profile"]["refreshed_at"] > severe["profile"]["refreshed_at"]
    assert calm["observations"] == severe["observations"] > 0


def test_a_case_without_targets_gets_its_scores_and_profile_and_nothing_else(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str], service: dict[str, str]
) -> None:
    case_id = _make_case(api, clean_db, alice, [])
    before = _state(clean_db, case_id)
    assert (before["plan"], before["plans"], before["observations"], before["tasks"]) == (
        None, 0, 0, 0,
    )  # fmt: skip
    _attach(api, service, body(10, north_m=20, severity_level=0.95))
    after = _state(clean_db, case_id)
    assert after["reports"] == 3 and after["confidence"] > before["confidence"]
    assert after["profile"]["severity_band"] != before["profile"]["severity_band"]
    assert after["profile"]["refreshed_at"] > before["profile"]["refreshed_at"]
    assert (after["plan"], after["plans"], after["observations"], after["tasks"]) == (
        None, 0, 0, 0,
    )  # fmt: skip


def test_syncing_cases_together_stores_what_syncing_them_one_by_one_stores(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str]
) -> None:
    routed = _make_case(api, clean_db, alice, TARGETS)
    bare = _make_case(api, clean_db, alice, [], seqs=(3, 4), north_m=3_000)
    other = _make_case(api, clean_db, alice, TARGETS[:1], seqs=(5, 6), north_m=6_000)
    cases = [routed, bare, other]
    with clean_db.begin() as conn:  # something for the syncs to change: severe evidence
        conn.execute(
            sa.update(t.report_analysis)
            .where(t.report_analysis.c.seq.in_([1, 3, 5]))
            .values(severity_level=0.97)
        )
    with clean_db.connect() as conn:
        transaction = conn.begin()
        sync_cases(conn, cases)
        together = {case_id: _state_in(conn, case_id) for case_id in cases}
        transaction.rollback()
    with clean_db.begin() as conn:
        for case_id in cases:
            sync_case(conn, case_id)
        one_by_one = {case_id: _state_in(conn, case_id) for case_id in cases}
    assert together == one_by_one
    assert together[routed]["plan"]["hazard_mode"] != "standard"
    assert together[bare]["plan"] is None


def _state_in(conn: sa.Connection, case_id: str) -> dict[str, Any]:
    """The routing rows of a case inside a transaction, without ids and times."""
    c, p, plans, items = (
        t.cases, t.subject_routing_profiles, t.case_notify_plans, t.case_notify_plan_items,
    )  # fmt: skip
    case = conn.execute(
        sa.select(c.c.confidence_score, c.c.exposure_score).where(c.c.case_id == case_id)
    ).one()
    profile = (
        conn.execute(sa.select(p).where(p.c.subject_kind == "case", p.c.subject_ref == case_id))
        .mappings()
        .one()
    )
    plan = (
        conn.execute(
            sa.select(plans.c.id, plans.c.plan_version, plans.c.hazard_mode, plans.c.summary)
            .where(plans.c.case_id == case_id, plans.c.status == "active")
        )
        .mappings()
        .first()
    )  # fmt: skip
    plan_items = []
    if plan is not None:
        plan_items = sorted(
            (row.endpoint_key, row.wave_number, row.priority_rank, row.selected,
             row.recipient_role)
            for row in conn.execute(sa.select(items).where(items.c.plan_id == plan["id"]))
        )  # fmt: skip
    observations = sorted(
        (row.channel_type, row.channel_value)
        for row in conn.execute(
            sa.select(t.case_contact_observations).where(
                t.case_contact_observations.c.case_id == case_id
            )
        )
    )
    tasks = sorted(
        (row.endpoint_key, row.task_status)
        for row in conn.execute(
            sa.select(t.notify_execution_tasks).where(
                t.notify_execution_tasks.c.subject_ref == case_id
            )
        )
    )
    return {
        "scores": (float(case.confidence_score), float(case.exposure_score)),
        "profile": {k: v for k, v in profile.items() if k not in ("id", "refreshed_at")},
        "plan": None if plan is None else {k: v for k, v in plan.items() if k != "id"},
        "items": plan_items,
        "observations": observations,
        "tasks": tasks,
    }
