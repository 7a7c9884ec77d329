"""Discovery providers and the runner against fixture Nominatim, Overpass and websites.

The fixtures follow the documented contracts: Nominatim's ``/reverse?format=jsonv2`` answer
(place with ``address``, ``extratags``, ``namedetails``; ``{"error": ...}`` when nothing is
there), Overpass's ``POST /api/interpreter`` with form field ``data`` answering
``{"elements": [...]}`` (``center`` for ways and relations, ``remark`` on errors), and
ordinary websites with a robots.txt. No test touches the network: names resolve through the
fetcher's ``resolve`` map and any other lookup fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from cleanapp_geo.discovery import (
    AuthorityDirectoryProvider,
    Budget,
    DiscoveryRequest,
    Fetcher,
    OpenStreetMapProvider,
    WebsiteContactProvider,
    discover_contacts,
    load_authority_rules,
    osm_fetch_settings,
)
from cleanapp_geo.targets import EscalationTarget
from tests.geo.discovery_support import (
    Answer,
    FixtureWeb,
    Seen,
    as_json,
    fixture_web,
    forbid_name_lookups,
    html,
)

LAT, LON = 47.3105, 8.5245
SCHOOL = "www.schule-adliswil.ch"
TOWN = "www.adliswil.ch"
NOMINATIM = "nominatim.test"
OVERPASS = "overpass.test"


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_name_lookups(monkeypatch)


def reverse_answer(web: FixtureWeb) -> dict[str, object]:
    return {
        "place_id": 1234,
        "licence": "Data © OpenStreetMap contributors, ODbL 1.0. https://osm.org/copyright",
        "osm_type": "way",
        "osm_id": 4242,
        "lat": str(LAT),
        "lon": str(LON),
        "category": "amenity",
        "type": "school",
        "place_rank": 30,
        "importance": 0.1,
        "addresstype": "amenity",
        "name": "Schulhaus Kopfholz",
        "display_name": "Schulhaus Kopfholz, Kopfholzstrasse, Adliswil, Bezirk Horgen, "
        "Zürich, 8134, Schweiz/Suisse/Svizzera/Svizra",
        "address": {
            "amenity": "Schulhaus Kopfholz",
            "road": "Kopfholzstrasse",
            "town": "Adliswil",
            "county": "Bezirk Horgen",
            "state": "Zürich",
            "ISO3166-2-lvl4": "CH-ZH",
            "postcode": "8134",
            "country": "Schweiz/Suisse/Svizzera/Svizra",
            "country_code": "ch",
        },
        "extratags": {"website": web.url(SCHOOL, "/"), "operator": "Schule Adliswil"},
        "namedetails": {"name": "Schulhaus Kopfholz"},
        "boundingbox": ["47.3100", "47.3110", "8.5240", "8.5250"],
    }


def overpass_answer(web: FixtureWeb) -> dict[str, object]:
    return {
        "version": 0.6,
        "generator": "Overpass API 0.7.62",
        "osm3s": {"timestamp_osm_base": "2026-12-05T21:00:00Z", "copyright": "ODbL"},
        "elements": [
            {"type": "node", "id": 11, "lat": LAT + 0.0005, "lon": LON,
             "tags": {"name": "Kiosk Kopfholz", "shop": "kiosk", "phone": "+41 44 710 00 00"}},
            {"type": "way", "id": 4242, "center": {"lat": LAT, "lon": LON},
             "tags": {"name": "Schulhaus Kopfholz", "amenity": "school",
                      "operator": "Schule Adliswil", "website": web.url(SCHOOL, "/")}},
            {"type": "relation", "id": 1682248, "center": {"lat": 47.31, "lon": 8.52},
             "tags": {"name": "Adliswil", "boundary": "administrative", "admin_level": "8",
                      "website": web.url(TOWN, "/")}},
        ],
    }  # fmt: skip


def serve_case(web: FixtureWeb) -> None:
    """Nominatim, Overpass, the school's and the town's websites."""

    def reverse(seen: Seen) -> Answer:
        if seen.query.get("format") != ["jsonv2"] or "lat" not in seen.query:
            return Answer(json.dumps({"error": "bad request"}), 400, "application/json")
        return as_json(reverse_answer(web))

    def interpreter(seen: Seen) -> Answer:
        if seen.method != "POST" or "data" not in parse_qs(seen.body):
            return Answer("need data", 400, "text/plain")
        return as_json(overpass_answer(web))

    web.add(NOMINATIM, "/reverse", reverse)
    web.add(OVERPASS, "/api/interpreter", interpreter)
    robots = Answer("User-agent: *\nDisallow: /intern/\n", content_type="text/plain")
    web.add(SCHOOL, "/robots.txt", robots)
    web.add(SCHOOL, "/", html(
        "<title>Schule Adliswil</title><h1>Willkommen</h1>"
        '<a href="/intern/kontakt">Kontakt Lehrpersonen</a>'
        '<a href="/team/hausdienst">Hausdienst</a>'))  # fmt: skip
    web.add(SCHOOL, "/intern/kontakt", html("<a href='mailto:lehrer@schule-adliswil.ch'>x</a>"))
    web.add(SCHOOL, "/team/hausdienst", html(
        "<title>Schule Adliswil</title><h1>Hausdienst</h1>"
        '<p>Bei Schäden: <a href="mailto:hausdienst@schule-adliswil.ch">Hausdienst</a></p>'
        "<p>Telefon 044 711 78 60</p>"))  # fmt: skip
    web.add(TOWN, "/robots.txt", Answer("User-agent: *\nAllow: /\n", content_type="text/plain"))
    web.add(TOWN, "/", html(
        "<title>Stadt Adliswil</title><h1>Stadt Adliswil</h1>"
        '<a href="/bauen/hochbau">Hochbau</a> <a href="/sicherheit/feuerpolizei">Feuerpolizei</a>'
        '<p>stadt@adliswil.ch</p>'))  # fmt: skip
    web.add(TOWN, "/bauen/hochbau", html(
        "<title>Stadt Adliswil</title><h1>Bau und Planung</h1>"
        '<a href="mailto:bau.planung@adliswil.ch">Bau und Planung</a>'
        "<p>Telefon 044 711 78 11</p><p>Projektleitung: ndaniel.kummer@ekz.ch</p>"))  # fmt: skip
    web.add(TOWN, "/sicherheit/feuerpolizei", html(
        "<title>Stadt Adliswil</title><h1>Feuerpolizei</h1>"
        '<a href="mailto:feuerpolizei@adliswil.ch">Feuerpolizei</a>'))  # fmt: skip


@pytest.fixture
def web() -> Iterator[FixtureWeb]:
    with fixture_web() as server:
        serve_case(server)
        yield server


def providers(web: FixtureWeb, fetcher: Fetcher) -> list[object]:
    osm = OpenStreetMapProvider(
        fetcher,
        nominatim_url=web.url(NOMINATIM, ""),
        overpass_url=web.url(OVERPASS, "/api/interpreter"),
    )
    return [
        osm,
        AuthorityDirectoryProvider(load_authority_rules(), fetcher, locate=osm.locate),
        WebsiteContactProvider(fetcher),
    ]


def school_request() -> DiscoveryRequest:
    return DiscoveryRequest(
        latitude=LAT,
        longitude=LON,
        candidate_names=("Extreme Structural Hazard: Bricks Separating from School Facade",),
        defect_class="physical_structural",
        asset_class="school",
        limit=16,
    )


def osm_fetcher(web: FixtureWeb, budget: Budget) -> Fetcher:
    base = web.settings()
    return Fetcher(
        osm_fetch_settings(
            web.url(NOMINATIM, ""),
            resolve=base.resolve,
            allow_private_networks=True,
            user_agent=base.user_agent,
        ),
        budget=budget,
    )


def by_email(targets: tuple[EscalationTarget, ...]) -> dict[str, EscalationTarget]:
    return {t.email: t for t in targets if t.email}


def test_discovery_finds_the_school_and_town_contacts_within_its_budget(web: FixtureWeb) -> None:
    budget = Budget(max_requests=25, max_seconds=10.0)
    fetcher = osm_fetcher(web, budget)
    result = discover_contacts(school_request(), providers(web, fetcher), budget=budget)

    found = by_email(result.targets)
    # The school's site matches the Swiss school rule's domains (*.schule-*.ch) and its
    # Hausdienst page the rule's "hausdienst": the directory's role and confidence win over
    # the plain crawl of the same page (0.8, merged into it).
    hausdienst = found["hausdienst@schule-adliswil.ch"]
    assert hausdienst.role_type == "facility_manager"
    assert hausdienst.target_source == "authority_directory"
    assert hausdienst.verification_level == "official_site_page"
    assert hausdienst.source_url == web.url(SCHOOL, "/team/hausdienst")
    assert "hausdienst" in hausdienst.evidence_text
    assert hausdienst.confidence_score == 0.855  # country:ch, priority 9
    assert "osm_reverse_website" in {t.target_source for t in result.discovered
                                     if t.email == hausdienst.email}  # fmt: skip

    bau = found["bau.planung@adliswil.ch"]
    assert (bau.role_type, bau.target_source) == ("building_authority", "authority_directory")
    assert bau.verification_level == "official_authority_page"  # the municipality's own site
    assert bau.source_url == web.url(TOWN, "/bauen/hochbau")
    assert bau.confidence_score == 0.86  # country:ch rule, priority 8
    assert found["feuerpolizei@adliswil.ch"].role_type == "fire_authority"
    # The §6.5 filter: an address of another domain on the town's page is not a target.
    assert "ndaniel.kummer@ekz.ch" not in found
    # OpenStreetMap's own contacts: the kiosk's phone from Overpass.
    kiosk = next(t for t in result.targets if t.phone == "+41447100000")
    assert (kiosk.target_source, kiosk.verification_level) == ("osm_poi", "openstreetmap")
    assert kiosk.source_url == "https://www.openstreetmap.org/node/11"
    for target in result.targets:
        assert target.target_source and target.source_url and target.evidence_text
        assert target.verification_level and 0 < target.confidence_score <= 1

    # Within budget, and the report says who spent what.
    assert result.requests <= 25 and not result.budget_exhausted
    report = {r.provider: r for r in result.reports}
    assert report["osm"].requests == 2 and report["osm"].hits >= 3
    assert report["authority_directory"].cache_hits >= 1  # the reverse geocode, reused
    assert report["authority_directory"].hits >= 3 and report["website"].hits >= 2
    assert sum(r.requests for r in result.reports) == result.requests
    assert all(r.error == "" for r in result.reports)


def test_the_apis_are_called_as_documented(web: FixtureWeb) -> None:
    budget = Budget(25, 10.0)
    fetcher = osm_fetcher(web, budget)
    discover_contacts(school_request(), providers(web, fetcher)[:1], budget=budget)
    (reverse,) = web.requests_to(NOMINATIM, "/reverse")
    assert reverse.method == "GET"
    assert reverse.query["format"] == ["jsonv2"]
    assert (reverse.query["lat"], reverse.query["lon"]) == (["47.310500"], ["8.524500"])
    assert reverse.query["addressdetails"] == reverse.query["extratags"] == ["1"]
    assert reverse.headers["user-agent"] == fetcher.settings.user_agent
    (interpreter,) = web.requests_to(OVERPASS, "/api/interpreter")
    assert interpreter.method == "POST"
    assert interpreter.headers["content-type"] == "application/x-www-form-urlencoded"
    query = parse_qs(interpreter.body)["data"][0]
    assert query.startswith("[out:json]") and "around:225,47.3105000,8.5245000" in query
    assert '["operator"]' in query and '["contact:email"]' in query and "is_in(" in query
    # API calls are governed by the usage policy, not robots.txt.
    assert web.requests_to(NOMINATIM, "/robots.txt") == []


def test_a_robots_disallowed_contact_page_is_not_crawled(web: FixtureWeb) -> None:
    budget = Budget(25, 10.0)
    result = discover_contacts(
        school_request(), providers(web, osm_fetcher(web, budget)), budget=budget
    )
    assert web.requests_to(SCHOOL, "/intern/kontakt") == []
    assert "lehrer@schule-adliswil.ch" not in by_email(result.targets)
    assert sum(r.robots_disallowed for r in result.reports) >= 1


def test_a_second_run_is_answered_from_the_cache(web: FixtureWeb) -> None:
    budget = Budget(25, 10.0)
    fetcher = osm_fetcher(web, budget)
    first = discover_contacts(school_request(), providers(web, fetcher), budget=budget)
    sent = len(web.seen)
    again = Budget(25, 10.0)
    second = discover_contacts(school_request(), providers(web, fetcher), budget=again)
    assert len(web.seen) == sent and second.requests == 0
    assert [t.endpoint_key for t in second.targets] == [t.endpoint_key for t in first.targets]


def test_the_budget_stops_a_slow_site_and_nothing_is_raised(web: FixtureWeb) -> None:
    web.add(SCHOOL, "/", Answer("<html>late</html>", delay_s=5.0))
    budget = Budget(max_requests=25, max_seconds=1.5)
    started = time.monotonic()
    result = discover_contacts(
        school_request(), providers(web, osm_fetcher(web, budget)), budget=budget
    )
    assert time.monotonic() - started < 3.0
    assert result.budget_exhausted
    # What was found before the deadline is kept (OpenStreetMap answered at once).
    assert any(t.target_source == "osm_poi" for t in result.targets)
    assert all(r.error == "" for r in result.reports)


def test_a_request_budget_is_respected_exactly(web: FixtureWeb) -> None:
    budget = Budget(max_requests=4, max_seconds=10.0)
    result = discover_contacts(
        school_request(), providers(web, osm_fetcher(web, budget)), budget=budget
    )
    assert result.requests == 4 and len(web.seen) == 4
    assert result.reports[-1].skipped  # nothing left for the website provider


def test_failing_services_and_providers_are_reported_not_raised(web: FixtureWeb) -> None:
    web.add(NOMINATIM, "/reverse", as_json({"error": "Unable to geocode"}))
    web.add(OVERPASS, "/api/interpreter", Answer("rate limited", 429, "text/plain"))

    class Broken:
        name = "broken"

        def discover(self, request: DiscoveryRequest) -> list[EscalationTarget]:
            raise RuntimeError("provider bug")

    budget = Budget(25, 10.0)
    existing = EscalationTarget(email="hausdienst@schule-adliswil.ch",
                                target_source="area_contact", confidence_score=0.9)  # fmt: skip
    request = DiscoveryRequest(latitude=LAT, longitude=LON, existing=(existing,))
    result = discover_contacts(
        request, [Broken(), *providers(web, osm_fetcher(web, budget))[:1]], budget=budget
    )
    report = {r.provider: r for r in result.reports}
    assert report["broken"].error == "RuntimeError: provider bug"
    assert report["osm"].hits == 0 and report["osm"].fetch_errors == 1
    assert [t.email for t in result.targets] == ["hausdienst@schule-adliswil.ch"]


def test_inferred_contacts_are_dropped_once_discovery_finds_someone(web: FixtureWeb) -> None:
    budget = Budget(25, 10.0)
    inferred = EscalationTarget(email="support@buildingmanagement.com",
                                target_source="inferred_contact", confidence_score=0.6)  # fmt: skip
    request = DiscoveryRequest(
        latitude=LAT,
        longitude=LON,
        existing=(inferred,),
        defect_class="physical_structural",
        asset_class="school",
    )
    result = discover_contacts(request, providers(web, osm_fetcher(web, budget)), budget=budget)
    assert result.targets and all(t.target_source != "inferred_contact" for t in result.targets)


def test_the_website_provider_crawls_given_sites_and_finds_forms(web: FixtureWeb) -> None:
    web.add("shop.test", "/robots.txt", Answer("", 404, "text/plain"))
    web.add("shop.test", "/", html('<title>Shop</title><a href="/help">Help</a>'))
    web.add("shop.test", "/help", html(
        "<h1>Help center</h1><form action='/send'><textarea></textarea></form>"
        '<script type="application/ld+json">{"@type": "Organization", "name": "Shop AG",'
        ' "email": "care@shop.test"}</script>'))  # fmt: skip
    fetcher = web.fetcher()
    provider = WebsiteContactProvider(fetcher)
    targets = provider.discover(DiscoveryRequest(websites=(web.url("shop.test", "/"),)))
    email = next(t for t in targets if t.email)
    assert email.email == "care@shop.test" and email.organization == "Shop AG"
    assert "Schema.org" in email.evidence_text
    site = next(t for t in targets if t.channel == "website")
    assert site.contact_url == web.url("shop.test", "/help")
    assert "contact form" in site.evidence_text


def test_directory_pages_are_not_crawled_as_websites() -> None:
    from cleanapp_geo.discovery import website_seeds

    seeds = website_seeds([
        EscalationTarget(phone="+41 44 710 00 00", target_source="osm_poi",
                         source_url="https://www.openstreetmap.org/node/11"),
        EscalationTarget(website="https://www.schule-adliswil.ch", target_source="osm_reverse",
                         source_url="https://www.openstreetmap.org/way/4242"),
        EscalationTarget(contact_url="https://www.instagram.com/schule/"),
    ])  # fmt: skip
    assert [s.url for s in seeds] == ["https://www.schule-adliswil.ch/"]
    assert seeds[0].base_confidence == 0.8
