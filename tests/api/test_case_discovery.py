"""A case's refresh runs contact discovery (fixture servers only) and routes what it found.

The fixture web of ``tests/geo/test_discovery_providers.py`` (Nominatim, Overpass, the
Adliswil school's and town's websites) on local servers; no name is ever resolved. The
case is stored in real PostGIS; the refresh is the service function the route calls.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import base_settings, bearer, client_for, mint_token
from case_support import record, square, write
from litestar.testing import TestClient

from cleanapp_api.services import cases as case_service
from cleanapp_api.services.discovery import CaseDiscovery
from cleanapp_api.settings import Settings
from tests.geo.discovery_support import FixtureWeb, fixture_web
from tests.geo.test_discovery_providers import LAT, LON, NOMINATIM, OVERPASS, serve_case

pytestmark = pytest.mark.postgis

ALICE = bearer(mint_token("alice"))


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def numeric_only(host: object, *args: object, **kwargs: object) -> object:
        try:
            ipaddress.ip_address(str(host))
        except ValueError:
            raise OSError(f"tests never resolve names ({host})") from None
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)


@pytest.fixture
def web() -> Iterator[FixtureWeb]:
    with fixture_web() as server:
        serve_case(server)
        yield server


@pytest.fixture(scope="module")
def api(db_url: str) -> Iterator[TestClient[Any]]:
    with client_for(base_settings(db_url)) as client:
        yield client


def discovery_for(web: FixtureWeb, **values: object) -> CaseDiscovery:
    settings = Settings(
        database_url="postgresql+psycopg:///unused",
        jwt_secret="k",
        nominatim_url=web.url(NOMINATIM, ""),
        overpass_url=web.url(OVERPASS, "/api/interpreter"),
        **values,  # type: ignore[arg-type]
    )
    base = web.settings()
    return CaseDiscovery(
        settings, fetch_overrides={"resolve": base.resolve, "allow_private_networks": True}
    )


def school_case(api: TestClient[Any], engine: sa.Engine) -> str:
    """A school facade case at Adliswil with no stored contact at all."""
    write(
        engine,
        [
            record(1, latitude=LAT, longitude=LON, severity_level=0.92,
                   title="Facade bricks falling over school entrance",
                   summary="Loose bricks above the entrance of the school."),
        ],
    )  # fmt: skip
    r = api.post(
        "/api/v3/cases",
        json={
            "title": "Facade bricks falling over school entrance",
            "classification": "physical",
            "geometry": square(LAT, LON, 100),
            "anchor_report_seq": 1,
            "report_seqs": [1],
            "force_new_case": True,
        },
        headers=ALICE,
    )
    assert r.status_code == 201, r.text
    assert r.json()["escalation_targets"] == []  # nobody to notify yet
    case_id: str = r.json()["case"]["case_id"]
    return case_id


def test_a_refresh_discovers_contacts_and_routes_them(
    api: TestClient[Any], clean_db: sa.Engine, web: FixtureWeb
) -> None:
    case_id = school_case(api, clean_db)
    discovery = discovery_for(web, discovery_enabled=True, discovery_budget_s=10.0)
    try:
        detail = case_service.get_case(clean_db, case_id, refresh_targets=True, discovery=discovery)
    finally:
        discovery.close()
    targets = {x.email: x for x in detail.escalation_targets if x.email}
    assert targets["hausdienst@schule-adliswil.ch"].role_type == "facility_manager"
    assert targets["bau.planung@adliswil.ch"].role_type == "building_authority"
    # Discovered contacts carry their evidence and are routed like any other target.
    school = targets["hausdienst@schule-adliswil.ch"]
    assert school.source_url and school.actionability_score > 0 and school.notify_tier == 1
    assert detail.notify_plan is not None and detail.notify_plan.items
    assert {o.channel_value for o in detail.contact_observations} >= set(targets)
    assert detail.routing_profile is not None
    assert detail.routing_profile.hazard_mode == "emergency"
    # The rules came from the store's seeded authority directory.
    assert len(web.seen) <= 25


def test_discovery_off_or_absent_refreshes_from_the_stored_sources_only(
    api: TestClient[Any], clean_db: sa.Engine, web: FixtureWeb
) -> None:
    case_id = school_case(api, clean_db)
    discovery = discovery_for(web)  # DISCOVERY_ENABLED is off by default
    try:
        detail = case_service.get_case(clean_db, case_id, refresh_targets=True, discovery=discovery)
    finally:
        discovery.close()
    assert detail.escalation_targets == [] and web.seen == []
    # Over HTTP, the app's own discovery is off: the route answers, nothing is fetched.
    r = api.get(f"/api/v3/cases/{case_id}/escalations?refresh_targets=1", headers=ALICE)
    assert r.status_code == 200 and r.json()["targets"] == [] and web.seen == []
