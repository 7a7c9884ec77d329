"""The service's contact discovery: settings, a hard deadline, fixture servers only."""

from __future__ import annotations

import time
from collections.abc import Iterator

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from cleanapp_api.services.discovery import GRACE_S, CaseDiscovery
from cleanapp_api.settings import Settings, SettingsError
from cleanapp_geo.discovery import case_discovery_request
from tests.geo.discovery_support import Answer, FixtureWeb, fixture_web, forbid_name_lookups
from tests.geo.test_discovery_providers import LAT, LON, NOMINATIM, OVERPASS, TOWN, serve_case


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_name_lookups(monkeypatch)


@pytest.fixture
def web() -> Iterator[FixtureWeb]:
    with fixture_web() as server:
        serve_case(server)
        yield server


def settings_for(web: FixtureWeb, **values: object) -> Settings:
    return Settings(
        database_url="postgresql+psycopg:///unused",
        jwt_secret="k",
        nominatim_url=web.url(NOMINATIM, ""),
        overpass_url=web.url(OVERPASS, "/api/interpreter"),
        **values,  # type: ignore[arg-type]
    )


def discovery_for(web: FixtureWeb, **values: object) -> CaseDiscovery:
    base = web.settings()
    return CaseDiscovery(
        settings_for(web, **values),
        fetch_overrides={"resolve": base.resolve, "allow_private_networks": True},
    )


def school_reports() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "seq": [1, 2],
            "ts": pd.to_datetime(["2026-03-01T08:00Z", "2026-03-02T08:00Z"]),
            "classification": ["physical", "physical"],
            "severity_level": [0.92, 0.5],
            "title": ["Facade bricks falling over school entrance", "Cracks in the facade"],
            "summary": ["Loose bricks above the entrance of the school.", ""],
            "brand_display_name": ["", ""],
            "brand_name": ["", ""],
        },
        geometry=[Point(LON, LAT), Point(LON + 0.0001, LAT)],
        crs="EPSG:4326",
    )


def test_discovery_is_off_unless_enabled(web: FixtureWeb) -> None:
    discovery = discovery_for(web)
    assert discovery.run(case_discovery_request(school_reports())) is None
    assert web.seen == []


def test_a_refresh_finds_the_school_contacts_from_the_reports(web: FixtureWeb) -> None:
    discovery = discovery_for(web, discovery_enabled=True, discovery_budget_s=10.0)
    request = case_discovery_request(school_reports())
    assert (request.defect_class, request.asset_class) == ("physical_structural", "school")
    result = discovery.run(request)
    assert result is not None
    emails = {t.email: t for t in result.targets if t.email}
    assert emails["bau.planung@adliswil.ch"].role_type == "building_authority"
    assert emails["hausdienst@schule-adliswil.ch"].role_type == "facility_manager"
    assert result.requests <= 25
    # The process-wide cache: a second refresh of the same case sends nothing.
    sent = len(web.seen)
    again = discovery.run(request)
    assert again is not None and again.requests == 0 and len(web.seen) == sent


def test_the_rules_come_from_table_rows(web: FixtureWeb) -> None:
    rows = [
        {"id": 1, "jurisdiction_key": "city:adliswil", "asset_class": "general_site",
         "defect_class": "general_defect", "role_type": "public_works",
         "query_templates_json": ["hochbau"], "official_domains_json": [], "priority": 5},
    ]  # fmt: skip
    discovery = discovery_for(web, discovery_enabled=True, discovery_budget_s=10.0)
    result = discovery.run(case_discovery_request(school_reports()), rows)
    assert result is not None
    bau = next(t for t in result.targets if t.email == "bau.planung@adliswil.ch")
    assert bau.role_type == "public_works" and bau.confidence_score == 0.875


def test_a_hanging_service_never_holds_the_refresh_past_its_budget(web: FixtureWeb) -> None:
    web.add(NOMINATIM, "/reverse", Answer("{}", delay_s=8.0, content_type="application/json"))
    web.add(TOWN, "/", Answer("<html></html>", delay_s=8.0))
    discovery = discovery_for(web, discovery_enabled=True, discovery_budget_s=1.0)
    started = time.monotonic()
    result = discovery.run(case_discovery_request(school_reports()))
    assert time.monotonic() - started < 1.0 + GRACE_S + 0.3
    assert result is None or result.budget_exhausted


def test_discovery_settings_from_the_environment() -> None:
    base = {"DATABASE_URL": "postgresql://u@db/x", "JWT_SECRET": "k"}
    settings = Settings.from_env(
        {**base, "DISCOVERY_ENABLED": "1", "NOMINATIM_URL": "https://nominatim.example.org/",
         "OVERPASS_URL": "https://overpass.example.org/api/interpreter",
         "DISCOVERY_BUDGET_S": "3.5", "DISCOVERY_MAX_REQUESTS": "12",
         "DISCOVERY_USER_AGENT": "MyTown-Cases/1.0 (ops@mytown.example)"})  # fmt: skip
    assert settings.discovery_enabled and settings.discovery_budget_s == 3.5
    assert settings.nominatim_url == "https://nominatim.example.org"
    assert settings.discovery_max_requests == 12
    assert not Settings.from_env(base).discovery_enabled
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**base, "DISCOVERY_BUDGET_S": "0", "NOMINATIM_URL": "ftp://x",
                           "DISCOVERY_MAX_REQUESTS": "none"})  # fmt: skip
    problems = " ".join(info.value.problems)
    assert "DISCOVERY_BUDGET_S" in problems and "NOMINATIM_URL" in problems
    assert "DISCOVERY_MAX_REQUESTS" in problems
