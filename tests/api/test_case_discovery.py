"""Contact discovery in the service: ``refresh_targets`` on a stored case.

Real PostGIS and the real app over HTTP; OpenStreetMap and the websites are the local fixture
servers of ``tests/geo/test_discovery_providers.py`` (no test touches the network). The case
is the school facade in Adliswil, created without any contact: the refresh finds the
Hausdienst, the town's building and fire authorities and routes them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import base_settings, bearer, mint_token
from case_support import record, square, write
from litestar.testing import TestClient

from cleanapp_api.app import create_app
from cleanapp_api.services.discovery import GRACE_S, CaseDiscovery
from tests.geo.discovery_support import Answer, FixtureWeb, fixture_web, forbid_name_lookups
from tests.geo.test_discovery_providers import LAT, LON, NOMINATIM, OVERPASS, TOWN, serve_case

pytestmark = pytest.mark.postgis

ALICE = bearer(mint_token("alice"))


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_name_lookups(monkeypatch)


@pytest.fixture
def web() -> Iterator[FixtureWeb]:
    with fixture_web() as server:
        serve_case(server)
        yield server


def app_client(db_url: str, web: FixtureWeb, **settings: Any) -> TestClient[Any]:
    values: dict[str, Any] = {
        "discovery_enabled": True,
        "nominatim_url": web.url(NOMINATIM, ""),
        "overpass_url": web.url(OVERPASS, "/api/interpreter"),
        "discovery_budget_s": 10.0,
    }
    values.update(settings)
    config = base_settings(db_url, **values)
    fetch = web.settings()
    discovery = CaseDiscovery(
        config, fetch_overrides={"resolve": fetch.resolve, "allow_private_networks": True}
    )
    return TestClient(create_app(config, discovery=discovery))


def school_case(api: TestClient[Any], engine: sa.Engine, seq: int = 1) -> str:
    write(
        engine,
        [
            record(
                seq,
                latitude=LAT,
                longitude=LON,
                severity_level=0.92,
                title="Facade bricks falling over school entrance",
                summary="Loose facade bricks above the main school entrance.",
            )
        ],
    )
    response = api.post(
        "/api/v3/cases",
        json={
            "title": "Facade bricks falling over school entrance",
            "summary": "Loose facade bricks above the main school entrance.",
            "classification": "physical",
            "geometry": square(LAT, LON, 150),
            "anchor_report_seq": seq,
            "report_seqs": [seq],
            "force_new_case": True,
        },
        headers=ALICE,
    )
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case"]["case_id"]
    return case_id


def escalations(api: TestClient[Any], case_id: str, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/v3/cases/{case_id}/escalations{query}", headers=ALICE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_refresh_discovers_routes_and_stores_the_contacts(
    db_url: str, web: FixtureWeb, clean_db: sa.Engine
) -> None:
    with app_client(db_url, web) as api:
        case_id = school_case(api, clean_db)
        assert escalations(api, case_id)["targets"] == []
        assert web.seen == []  # nothing is discovered without a refresh

        body = escalations(api, case_id, "?refresh_targets=true")
        targets = {x["email"]: x for x in body["targets"] if x["email"]}
        bau = targets["bau.planung@adliswil.ch"]
        assert (bau["role_type"], bau["target_source"]) == ("building_authority",
                                                           "authority_directory")  # fmt: skip
        assert bau["verification_level"] == "official_authority_page"
        assert bau["source_url"].endswith("/bauen/hochbau") and bau["evidence_text"]
        assert targets["hausdienst@schule-adliswil.ch"]["role_type"] == "facility_manager"
        assert targets["feuerpolizei@adliswil.ch"]["role_type"] == "fire_authority"
        assert "ndaniel.kummer@ekz.ch" not in targets  # §6.5: another domain's address
        # Routed like any target: observations, a plan in waves, tasks for the phones.
        observed = {o["channel_value"] for o in body["observations"]}
        assert {"bau.planung@adliswil.ch", "hausdienst@schule-adliswil.ch"} <= observed
        plan_keys = {i["endpoint_key"] for i in body["notify_plan"]["items"]}
        assert "email:bau.planung@adliswil.ch" in plan_keys
        # An emergency (falling bricks at a school): the facility service and both
        # authorities are selected in wave 1; a robots-disallowed page is nobody's contact.
        items = {i["endpoint_key"]: i for i in body["notify_plan"]["items"]}
        selected = {k for k, i in items.items() if i["selected"]}
        assert {"email:hausdienst@schule-adliswil.ch", "email:bau.planung@adliswil.ch",
                "email:feuerpolizei@adliswil.ch"} <= selected  # fmt: skip
        assert not any("/intern/" in k for k in items)
        assert body["routing_profile"]["asset_class"] == "school"

        # Stored: the next plain view shows them without asking anyone again.
        sent = len(web.seen)
        again = escalations(api, case_id)
        assert {x["endpoint_key"] for x in again["targets"]} == {
            x["endpoint_key"] for x in body["targets"]
        }
        assert len(web.seen) == sent
        # GET /cases/{id}?refresh_targets=true refreshes through the same path (cached).
        detail = api.get(f"/api/v3/cases/{case_id}?refresh_targets=true", headers=ALICE)
        assert detail.status_code == 200 and len(web.seen) == sent


def test_a_hanging_network_does_not_hold_the_refresh(
    db_url: str, web: FixtureWeb, clean_db: sa.Engine
) -> None:
    web.add(NOMINATIM, "/reverse", Answer("{}", delay_s=8.0, content_type="application/json"))
    web.add(OVERPASS, "/api/interpreter", Answer("{}", delay_s=8.0))
    web.add(TOWN, "/", Answer("<html></html>", delay_s=8.0))
    with app_client(db_url, web, discovery_budget_s=1.0) as api:
        case_id = school_case(api, clean_db, seq=2)
        started = time.monotonic()
        body = escalations(api, case_id, "?refresh_targets=true")
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + GRACE_S + 1.5  # the budget, the grace, the database work
    assert body["case_id"] == case_id


def test_discovery_is_off_by_default(db_url: str, web: FixtureWeb, clean_db: sa.Engine) -> None:
    with app_client(db_url, web, discovery_enabled=False) as api:
        case_id = school_case(api, clean_db, seq=3)
        escalations(api, case_id, "?refresh_targets=true")
    assert web.seen == []
