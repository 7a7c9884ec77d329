"""Contact extraction, directory rules and stakeholder queries (pure): upstream T7-T14,
T20, T22-T25, and properties."""

from __future__ import annotations

import dataclasses
import html as html_lib
import string

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cleanapp_geo.discovery import (
    AuthorityRule,
    Location,
    StakeholderQuery,
    decode_obfuscated_email,
    extract_contacts,
    host_matches_hint,
    jurisdiction_candidates,
    load_authority_rules,
    matching_rules,
    pending_queries,
    role_hint,
    stakeholder_queries,
)
from cleanapp_geo.routing.profile import HazardProfile
from cleanapp_geo.targets import EscalationTarget, is_valid_email

T8_ARRAY = (
    "Array(1245995116,1313994099,1014783091,1224001380,1444455779,1362649449,1053258600,"
    "1140438373,1318570615,1301436521,1087471733,1117487980,1180676705,1146447936,1420165934,"
    "1464079208,1039002723,1368978540)"
)


def test_t7_public_contacts_are_extracted_from_html() -> None:
    page = extract_contacts(
        """<html><body>
        <a href="mailto:facilities@school.edu">Facilities</a>
        <p>Backup: office@school.edu</p>
        <a href="tel:+1 (555) 404-1212">Call</a>
        <a href="https://x.com/SchoolOps">Follow</a>
        <a href="/contact">Contact</a>
        </body></html>""",
        "https://school.edu",
    )
    assert len(page.emails) == 2 and page.emails[0] == "facilities@school.edu"
    assert page.phones == ("+15554041212",)
    assert page.socials == (("x", "SchoolOps"),)
    assert page.contact_links == ("https://school.edu/contact",)


def test_t8_an_obfuscated_email_is_decoded() -> None:
    page = extract_contacts(
        f'<a x-init="email = String.fromCharCode(...{T8_ARRAY}.sort())" href="#">Mail</a>'
        "<script>window.mail = 1;</script>",
        "https://www.schule-adliswil.ch/",
    )
    assert page.emails == ("schule@adliswil.ch",)
    assert page.email_origins == ("obfuscated address",)


def test_t9_phones_come_from_visible_text_only() -> None:
    page = extract_contacts(
        f'<div x-init="{T8_ARRAY}"></div><div><h3>Schulverwaltung</h3>'
        "<p>Telefon +41 44 711 78 60</p></div>",
        "https://www.schule-adliswil.ch/",
    )
    assert page.phones == ("+41447117860",)


def test_t10_obfuscation_integers_are_not_phones() -> None:
    page = extract_contacts(f'<a x-init="{T8_ARRAY}">Telefon</a>', "https://a.ch/")
    assert page.phones == ()


def test_t11_office_hours_are_not_phones() -> None:
    page = extract_contacts(
        "<p>Telefon 044 711 77 77</p><p>Öffnungszeiten 08.00 - 11.30 / 13.30 - 16.00</p>",
        "https://a.ch/",
    )
    assert page.phones == ("0447117777",)


def test_t12_localized_contact_links() -> None:
    page = extract_contacts(
        '<a href="/kontakt">Kontakt</a><a href="/team/hausdienst">Hausdienst</a>'
        '<a href="/bauen/hochbau">Hochbau</a><a href="https://other.example/kontakt">x</a>',
        "https://city.example",
    )
    assert page.contact_links == (
        "https://city.example/kontakt",
        "https://city.example/team/hausdienst",
        "https://city.example/bauen/hochbau",
    )


def test_t13_host_hints() -> None:
    assert host_matches_hint("https://bau.adliswil.ch/kontakt", "*.adliswil.ch")
    assert host_matches_hint("https://www.adliswil.ch/departemente/1318", "adliswil.ch")
    assert not host_matches_hint("https://vendor-example.com/contact", "*.adliswil.ch")
    # Upstream's caveat fixed: a wildcard inside the label matches.
    assert host_matches_hint("https://www.schule-adliswil.ch/", "*.schule-*.ch")


def test_t14_authority_rule_jurisdiction_matching() -> None:
    keys = set(jurisdiction_candidates("ch", "Switzerland", "Zürich", "Adliswil"))
    for key in ("*", "country:ch", "state:zuerich", "city:adliswil", "country:ch/state:zuerich"):
        assert key in keys
    assert "country:us" not in keys and "city:brooklyn" not in keys


def test_schema_org_contacts_and_contact_forms() -> None:
    page = extract_contacts(
        """<script type="application/ld+json">{"@context": "https://schema.org",
        "@type": "GovernmentOrganization", "name": "Stadt Adliswil",
        "contactPoint": {"@type": "ContactPoint", "contactType": "customer service",
        "email": "mailto:stadt@adliswil.ch", "telephone": "+41 44 711 77 11"},
        "sameAs": ["https://www.facebook.com/stadtadliswil"]}</script>
        <h1>Kontakt</h1><form action="/send"><input type="email"><textarea></textarea></form>""",
        "https://www.adliswil.ch/kontakt",
    )
    assert page.emails == ("stadt@adliswil.ch",) and page.email_origins == ("schema.org",)
    assert page.phones == ("+41447117711",)
    assert page.socials == (("facebook", "stadtadliswil"),)
    assert page.organization == "Stadt Adliswil"
    assert page.has_contact_form and page.heading == "Kontakt"


def test_scripts_styles_and_image_names_are_not_contacts() -> None:
    page = extract_contacts(
        '<style>.a{background:url(logo@2x.png)}</style><img src="icon@2x.png">'
        "<script>var x = 'hidden@secret.ch'; tel = '044 111 22 33';</script>"
        "<p>Bitte nicht an test@example.com schreiben</p>",
        "https://a.ch/",
    )
    assert page.emails == () and page.phones == ()


def test_role_hints() -> None:
    assert role_hint("https://schule.ch/hausdienst", "") == "facility_manager"
    assert role_hint("https://stadt.ch/feuerpolizei", "Feuerpolizei") == "fire_authority"
    assert role_hint("https://stadt.ch/", "Kontakt · Stadt") == ""


def test_the_bundled_rules_are_appendix_c() -> None:
    rules = load_authority_rules()
    assert len(rules) == 49  # 12 of migration 0018, 37 of 0019
    assert len({(r.jurisdiction_key, r.asset_class, r.defect_class, r.role_type)
                for r in rules}) == 49  # the table's unique key  # fmt: skip
    ch = [r for r in rules if r.jurisdiction_key == "country:ch"]
    assert len(ch) == 6 and {r.role_type for r in ch} >= {"building_authority", "public_works"}
    building = next(r for r in ch if r.role_type == "building_authority")
    assert building.query_templates == ("bauamt", "bau und planung", "hochbau")
    assert building.confidence == 0.86


def test_matching_rules_fall_back_to_general_classes_and_rank_specific_first() -> None:
    rows = [
        {"jurisdiction_key": "*", "asset_class": "school", "defect_class": "physical_structural",
         "role_type": "building_authority", "priority": 10},
        {"jurisdiction_key": "city:adliswil", "asset_class": "general_site",
         "defect_class": "general_defect", "role_type": "public_works", "priority": 30},
        {"jurisdiction_key": "country:us", "asset_class": "general_site",
         "defect_class": "physical_structural", "role_type": "fire_authority", "priority": 1},
        {"jurisdiction_key": "*", "asset_class": "roadway", "defect_class": "physical_structural",
         "role_type": "public_works", "priority": 1},
    ]  # fmt: skip
    chosen = matching_rules(
        rows,
        defect_class="physical_structural",
        asset_class="school",
        jurisdictions=jurisdiction_candidates("ch", "Schweiz", "Zürich", "Adliswil"),
    )
    assert [(r.jurisdiction_key, r.role_type) for r in chosen] == [
        ("city:adliswil", "public_works"),
        ("*", "building_authority"),
    ]
    assert AuthorityRule.from_record(rows[1]).confidence == 0.75


# ------------------------------------------------------------------ properties

_local = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
_label = st.text(string.ascii_lowercase, min_size=2, max_size=10)
emails = st.builds(lambda a, b, c: f"{a}@{b}.{c}", _local, _label, st.sampled_from(
    ["ch", "org", "gov", "de", "io"]))  # fmt: skip
filler = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=60).map(
    html_lib.escape
)
tags = st.sampled_from(["p", "div", "span", "li", "td", "section", "b"])


@settings(max_examples=150, deadline=None)
@given(email=emails, before=st.lists(st.tuples(tags, filler), max_size=6),
       after=st.lists(st.tuples(tags, filler), max_size=6), upper=st.booleans())  # fmt: skip
def test_any_email_in_a_mailto_link_is_found(
    email: str, before: list[tuple[str, str]], after: list[tuple[str, str]], upper: bool
) -> None:
    body = "".join(f"<{t}>{x}</{t}>" for t, x in before)
    body += f'<a href="mailto:{email.upper() if upper else email}?subject=Hi">write</a>'
    body += "".join(f"<{t}>{x}" for t, x in after)  # unclosed tags too
    assume(is_valid_email(email))  # placeholders (test@..., demo@...) are never contacts
    assert email in extract_contacts(body, "https://site.ch/").emails


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400))
def test_no_non_email_is_returned_as_email(text: str) -> None:
    page = extract_contacts(text, "https://site.ch/")
    for email in page.emails:
        assert is_valid_email(email)
        assert email == email.lower()
    assert len(set(page.emails)) == len(page.emails)
    for phone in page.phones:
        digits = phone.lstrip("+")
        assert digits.isdigit() and 7 <= len(digits) <= 15


@settings(max_examples=100, deadline=None)
@given(email=emails)
def test_obfuscation_round_trips(email: str) -> None:
    # Encode as upstream's sites do: position-prefixed numbers whose value mod 256 is the char.
    assume(is_valid_email(email))
    # Same-length numbers starting with 10, 11, 12, ... sort lexicographically by position.
    numbers = [str(-(-(i + 10) * 10**6 // 256) * 256 + ord(ch)) for i, ch in enumerate(email)]
    assert decode_obfuscated_email(reversed(numbers)) == email


# ------------------------------------------------------------------ T20, T22-T25: queries


def _school() -> Location:
    return Location(primary_name="Schulhaus Kopfholz", city="Adliswil", state="Zürich",
                    country="Schweiz", country_code="ch")  # fmt: skip


def test_t20_queries_prefer_the_location_name() -> None:
    queries = stakeholder_queries(
        _school(),
        HazardProfile(structural=True, severe=True),
        candidate_names=["Extreme Structural Hazard: Bricks Separating from Primary School Facade"],
        asset_class="school",
    )
    assert queries and queries[0].organization == "Schulhaus Kopfholz"
    assert queries[0].role_type == "operator"
    assert queries[0].query == '"Schulhaus Kopfholz" "Adliswil" contact'


def test_without_a_place_name_incident_titles_are_not_searched() -> None:
    hazard = HazardProfile(structural=True, severe=True)
    title = "Extreme Structural Hazard: Bricks Separating from Primary School Facade"
    assert stakeholder_queries(Location(city="Adliswil"), hazard, candidate_names=[title]) == []
    named = stakeholder_queries(Location(city="Adliswil"), hazard,
                                candidate_names=[title, "Migros Adliswil"])  # fmt: skip
    assert named[0].organization == "Migros Adliswil"


def test_t22_severe_structural_school_hazard() -> None:
    hazard = HazardProfile(structural=True, severe=True, urgent=True, immediate_danger=True,
                           sensitive_occupancy=True)  # fmt: skip
    queries = stakeholder_queries(_school(), hazard, asset_class="school")
    roles = {q.role_type for q in queries}
    assert roles >= {"operator", "facility_manager", "building_authority", "fire_authority",
                     "public_safety", "architect", "contractor", "engineer"}  # fmt: skip
    text = " ".join(q.query for q in queries)
    for word in ("bauamt", "feuerpolizei", "polizei", "hausdienst", "architekt",
                 "bauunternehmung", "ingenieur"):  # fmt: skip
        assert word in text
    assert not next(q for q in queries if q.role_type == "architect").require_official
    assert next(q for q in queries if q.role_type == "building_authority").require_official


def test_t23_critical_transit_hazard() -> None:
    hazard = HazardProfile(structural=True, severe=True, urgent=True, immediate_danger=True,
                           sensitive_occupancy=True)  # fmt: skip
    station = Location(primary_name="F Line Station", city="Brooklyn", state="New York",
                       country_code="us")  # fmt: skip
    queries = stakeholder_queries(station, hazard, asset_class="transit_station")
    assert len(queries) >= 5
    assert [q.role_type for q in queries[:2]] == ["operator", "transit_authority"]
    assert {q.role_type for q in queries} >= {
        "transit_authority", "transit_safety", "public_safety", "fire_authority"}  # fmt: skip
    assert "verkehrsbetriebe" not in " ".join(q.query for q in queries)  # English in the US


def test_t24_roadway_hazard() -> None:
    hazard = HazardProfile(structural=True, severe=True, immediate_danger=True)
    road = Location(primary_name="Highway 7 Overpass", city="Pomona", state="California",
                    country_code="us")  # fmt: skip
    roles = {q.role_type for q in stakeholder_queries(road, hazard, asset_class="roadway")}
    assert roles >= {"public_works", "traffic_authority", "infrastructure_authority",
                     "public_safety"}  # fmt: skip


def test_t25_pending_queries_skip_satisfied_roles() -> None:
    targets = [
        EscalationTarget(role_type="operator", email="ops@example.org"),
        EscalationTarget(role_type="building_authority", website="https://city.example/"),
    ]
    queries = [StakeholderQuery(role, f"q {role}", "", 0.8)
               for role in ("operator", "building_authority", "public_safety")]  # fmt: skip
    assert [q.role_type for q in pending_queries(targets, queries)] == ["public_safety"]
    # A query requiring an official site is still pending until an official target exists.
    official = [dataclasses.replace(q, require_official=True) for q in queries]
    assert [q.role_type for q in pending_queries(targets, official)] == [
        "operator", "building_authority", "public_safety"]  # fmt: skip


def test_directory_rules_become_queries_with_their_domains() -> None:
    rules = matching_rules(
        load_authority_rules(),
        defect_class="physical_structural",
        asset_class="school",
        jurisdictions=jurisdiction_candidates("ch", "Schweiz", "Zürich", "Adliswil"),
    )
    queries = stakeholder_queries(_school(), HazardProfile(structural=True), asset_class="school",
                                  rules=rules)  # fmt: skip
    hochbau = next(q for q in queries if q.query == '"Adliswil" hochbau')
    assert hochbau.role_type == "building_authority" and hochbau.confidence == 0.86
    assert "*.admin.ch" in hochbau.host_hints and hochbau.require_official
    # The built-in query with the same role and text comes first and is kept (role|query).
    assert [q.confidence for q in queries if q.query == '"Adliswil" bauamt'] == [0.84]
    assert len({q.key for q in queries}) == len(queries)


def test_the_bundled_rules_equal_the_store_seed() -> None:
    """The library's dataset and the authority_directory_rules seed of migration 0006."""
    import importlib.util
    from pathlib import Path

    import pytest

    path = (Path(__file__).parents[2] / "cleanapp_api" / "db" / "migrations" / "versions"
            / "0006_contact_routing.py")  # fmt: skip
    if not path.exists():
        pytest.skip("migration 0006 (contact routing) is not on this branch")
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seed = {(j, a, d, r): (tuple(t), tuple(dm), p) for j, a, d, r, t, dm, p in module._RULES}
    bundled = {
        (r.jurisdiction_key, r.asset_class, r.defect_class, r.role_type): (
            r.query_templates, r.official_domains, r.priority)
        for r in load_authority_rules()
    }  # fmt: skip
    assert bundled == seed
