"""Tests for cleanapp_geo.targets: upstream T6, T16-T19, T27, T33, T34 and properties."""

from __future__ import annotations

import dataclasses
import random

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cleanapp_geo as cg
from cleanapp_geo.targets import (
    ContactDiscoveryProvider,
    DiscoveryRequest,
    EscalationTarget,
    area_contact_targets,
    brand_contact_targets,
    brand_key,
    canonical_url,
    email_matches_website_or_organization,
    inferred_contact_targets,
    is_government_host,
    is_placeholder_email,
    is_valid_email,
    merge_targets,
    normalize_cc_emails,
    normalize_email,
    normalize_phone,
    normalize_target,
    normalize_url,
    parse_email_list,
    suggest_targets,
    target_key,
    targets_frame,
    visible_targets,
)

# ------------------------------------------------------------------ T33 / T34: emails


@pytest.mark.parametrize(
    "email", ["user@acme.com", "user.name@domain.co.uk", "user+tag@example.org"]
)
def test_t33_valid_emails(email: str) -> None:
    assert is_valid_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "test@example.com",
        "invalid-email",
        "@example.com",
        "user@",
        "",
        "   ",
        "user name@example.com",
        "user@example..com",
        None,
    ],
)
def test_t33_invalid_emails(email: str | None) -> None:
    assert not is_valid_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "contest@x.com",  # upstream rejected it: contains "test@"
        "endemo@x.com",  # contains "demo@"
        "latest@news.ch",
        "attest@notary.de",
        "sample.team@acme.com",
        "examples@acme.com",
        "info@mytest.com",  # contains "test.com" but is another domain
        "info@example.company.com",
    ],
)
def test_no_substring_false_positives(email: str) -> None:
    assert is_valid_email(email)
    assert not is_placeholder_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "test@acme.com",
        "demo@acme.com",
        "noreply@acme.com",
        "no-reply@acme.com",
        "donotreply@acme.com",
        "sample@acme.com",
        "someone@example.com",
        "someone@test.com",
        "Someone@EXAMPLE.COM",
    ],
)
def test_placeholders_rejected_as_whole_parts(email: str) -> None:
    assert normalize_email(email)  # syntactically fine
    assert not is_valid_email(email)


@pytest.mark.parametrize(
    "email",
    [
        ".user@acme.com",
        "user.@acme.com",
        "us..er@acme.com",
        "user@-acme.com",
        "user@acme-.com",
        "user@acme.c",
        "user@acme.123",
        "user@localhost",
        "a" * 65 + "@acme.com",
        "user@" + "a" * 250 + ".com",
        "user@@acme.com",
    ],
)
def test_email_syntax_rejections(email: str) -> None:
    assert normalize_email(email) == ""


def test_t34_comma_separated_inferred_emails() -> None:
    assert parse_email_list("alpha@acme.com,user@domain.org") == (
        "alpha@acme.com",
        "user@domain.org",
    )
    assert parse_email_list("alpha@acme.com, invalid-email ,user@domain.org") == (
        "alpha@acme.com",
        "user@domain.org",
    )
    assert parse_email_list("  alpha@acme.com  ,   user@domain.org  ") == (
        "alpha@acme.com",
        "user@domain.org",
    )
    assert parse_email_list("") == ()
    assert parse_email_list("invalid-email, also bad, test@example.com") == ()


def test_t34_free_text_and_separators() -> None:
    text = "Contact: <Ops@Acme.com>; facilities@school.edu\nor (contest@x.com). ops@acme.com"
    assert parse_email_list(text) == ("ops@acme.com", "facilities@school.edu", "contest@x.com")


def test_t5_cc_normalisation() -> None:
    raw = [
        "maintenance@adliswil.ch, safety@adliswil.ch",
        "ops@adliswil.ch; safety@adliswil.ch",
        "  mayor@adliswil.ch  ",
    ]
    assert normalize_cc_emails(raw, exclude=["maintenance@adliswil.ch"]) == (
        "mayor@adliswil.ch",
        "ops@adliswil.ch",
        "safety@adliswil.ch",
    )
    assert normalize_cc_emails(None) == ()


# ------------------------------------------------------------------ T6: merger


def test_t6_merger_preserves_multichannel_targets() -> None:
    added = [
        EscalationTarget(
            organization="Town Hall",
            email="info@town.gov",
            target_source="inferred_contact",
            confidence_score=0.55,
        ),
        EscalationTarget(
            organization="Town Hall",
            channel="email",
            email="info@town.gov",
            website="https://town.gov",
            contact_url="https://town.gov/contact",
            target_source="website_scrape",
            confidence_score=0.81,
        ),
        EscalationTarget(
            channel="phone",
            phone="+1 (555) 101-2020",
            target_source="google_places",
            confidence_score=0.8,
        ),
        EscalationTarget(
            channel="website",
            website="town.gov",
            contact_url="https://town.gov/contact",
            target_source="google_places",
            confidence_score=0.7,
        ),
        EscalationTarget(
            channel="social",
            social_platform="x",
            social_handle="TownWorks",
            contact_url="https://x.com/TownWorks",
            target_source="website_scrape",
            confidence_score=0.69,
        ),
    ]
    merged = merge_targets(added, limit=8)
    assert len(merged) == 4
    assert merged[0].email == "info@town.gov"
    assert merged[0].confidence_score == 0.81
    assert merged[0].contact_url == "https://town.gov/contact"
    assert merged[0].target_source == "website_scrape"  # the higher confidence is primary
    assert merged[1].channel == "phone"
    assert merged[1].phone == "+15551012020"
    assert {merged[2].channel, merged[3].channel} == {"website", "social"}
    assert [t.endpoint_key for t in merged] == [
        "email:info@town.gov",
        "phone:15551012020",
        "website:town.gov/contact",
        "social:x:townworks",
    ]


def test_merge_joins_rationale_and_takes_best_routing_values() -> None:
    a = EscalationTarget(
        email="ops@acme.com",
        confidence_score=0.6,
        rationale="Inferred.",
        actionability_score=0.9,
        notify_tier=4,
    )
    b = EscalationTarget(
        email="OPS@acme.com",
        organization="Acme",
        confidence_score=0.8,
        rationale="Area contact.",
        actionability_score=0.2,
        notify_tier=2,
    )
    (m,) = merge_targets([a, b])
    assert m.rationale == "Area contact. | Inferred."
    assert m.organization == "Acme"
    assert m.actionability_score == 0.9
    assert m.notify_tier == 2
    (same,) = merge_targets([b, dataclasses.replace(b, rationale="Area contact. Extra.")])
    assert same.rationale == "Area contact. Extra."


def test_one_key_scheme_phone_formats_and_url_variants_collapse() -> None:
    merged = merge_targets(
        [
            EscalationTarget(channel="phone", phone="+41 44 711 78 60", confidence_score=0.5),
            EscalationTarget(channel="phone", phone="0041 (44) 711-78-60", confidence_score=0.4),
            EscalationTarget(channel="website", website="https://WWW.Town.gov/contact/"),
            EscalationTarget(channel="website", website="www.town.gov/contact?utm=1#x"),
        ]
    )
    assert sorted(t.endpoint_key for t in merged) == [
        "phone:41447117860",
        "website:www.town.gov/contact",
    ]


# ------------------------------------------------------------------ T16-T19: normalisation


def test_t16_inferred_fallback_dropped_when_real_targets_exist() -> None:
    existing = [
        EscalationTarget(
            email="hausdienst@schule-adliswil.ch",
            target_source="area_contact",
            confidence_score=0.9,
        ),
        EscalationTarget(
            email="support@buildingmanagement.com",
            target_source="inferred_contact",
            confidence_score=0.6,
        ),
    ]
    out = visible_targets(existing)
    assert [t.email for t in out] == ["hausdienst@schule-adliswil.ch"]
    # Without a better target the inferred contact is kept.
    assert [t.email for t in visible_targets(existing[1:])] == ["support@buildingmanagement.com"]


def test_t17_legacy_website_in_email_field_repaired() -> None:
    t = normalize_target(
        EscalationTarget(
            role_type="contact",
            organization="Schulhaus Kopfholz",
            email="https://www.schule-adliswil.ch",
            target_source="area_contact",
            confidence_score=0.9,
        )
    )
    assert t is not None
    assert t.email == ""
    assert t.channel == "website"
    assert t.website == "https://www.schule-adliswil.ch/"
    assert t.contact_url == "https://www.schule-adliswil.ch/"
    assert t.endpoint_key == "website:www.schule-adliswil.ch"


def test_t18_bogus_phone_rejected() -> None:
    target = EscalationTarget(
        channel="phone",
        phone="1048513395",
        evidence_text="Herzlich willkommen auf der Website",
        target_source="area_contact_website",
    )
    assert normalize_target(target) is None
    assert merge_targets([target]) == ()


def test_t19_empty_phone_row_downgraded_to_website() -> None:
    t = normalize_target(
        EscalationTarget(
            channel="phone",
            phone="1048513395",
            evidence_text="Herzlich willkommen",
            website="https://www.schule-adliswil.ch/",
            contact_url="https://www.schule-adliswil.ch/kontakt",
            target_source="area_contact_website",
        )
    )
    assert t is not None
    assert t.channel == "website"
    assert t.phone == ""
    assert t.source_url == "https://www.schule-adliswil.ch/kontakt"


def test_t27_t28_email_website_consistency() -> None:
    site = "https://www.adliswil.ch/departemente/1318"
    assert not email_matches_website_or_organization(
        "ndaniel.kummer@ekz.ch", site, "Stadt Adliswil"
    )
    assert email_matches_website_or_organization("bau.planung@adliswil.ch", site, "Stadt Adliswil")
    assert email_matches_website_or_organization(
        "schule@adliswil.ch", "https://www.schule-adliswil.ch/", "Schulhaus Kopfholz"
    )
    # No shared generic TLD token: a@foo.com does not belong to bar.com.
    assert not email_matches_website_or_organization("a@foo.com", "https://bar.com", "Bar")
    t = normalize_target(
        EscalationTarget(
            role_type="building_authority",
            channel="email",
            organization="Stadt Adliswil",
            email="ndaniel.kummer@ekz.ch",
            website=site,
            target_source="web_search_website",
            confidence_score=0.84,
        )
    )
    assert t is not None
    assert (t.email, t.channel) == ("", "website")
    # Curated sources and project roles keep their email.
    for kept in (
        EscalationTarget(email="a@ekz.ch", website=site, target_source="brand_contact"),
        EscalationTarget(email="a@ekz.ch", website=site, role_type="architect"),
    ):
        assert normalize_target(kept).email == "a@ekz.ch"  # type: ignore[union-attr]


def test_normalize_fills_derived_fields() -> None:
    t = normalize_target(
        EscalationTarget(
            role_type=" building_authority ",
            organization="  Bau   und Planung ",
            email="Bau@Adliswil.ch",
            website="https://www.adliswil.ch",
            evidence_text="  Bauamt \n Kontakt ",
            confidence_score=1.7,
            notify_tier=9,
            target_source="",
        )
    )
    assert t is not None
    assert t.display_name == "Bau und Planung"
    assert t.organization_key == "bau und planung"
    assert t.decision_scope == "regulator"
    assert t.verification_level == "authority_reference"
    assert t.attribution_class == "heuristic"
    assert t.target_source == "suggested"
    assert t.source_url == "https://www.adliswil.ch/"
    assert t.evidence_text == "Bauamt Kontakt"
    assert (t.confidence_score, t.notify_tier) == (1.0, 4)
    area = normalize_target(EscalationTarget(email="a@b.ch", target_source="area_contact"))
    assert area is not None
    assert (area.verification_level, area.attribution_class) == (
        "mapped_area_contact",
        "official_direct",
    )


def test_social_target_recovered_from_url() -> None:
    t = normalize_target(EscalationTarget(channel="social", contact_url="https://x.com/@SchoolOps"))
    assert t is not None
    assert (t.social_platform, t.social_handle, t.endpoint_key) == (
        "x",
        "SchoolOps",
        "social:x:schoolops",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 (555) 101-2020", "+15551012020"),
        ("0041 44 711 78 60", "+41447117860"),
        ("044 711 77 77", "0447117777"),
        ("555-0100", "5550100"),
        ("1048513395", ""),
        ("12345", ""),
        ("", ""),
    ],
)
def test_normalize_phone(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


def test_urls_and_hosts() -> None:
    assert normalize_url("http://Town.gov:8080/a b") == ""
    assert normalize_url("http://Town.gov:8080/ab?q=1#f") == "http://town.gov:8080/ab?q=1"
    assert normalize_url("https://user@town.gov/") == ""
    assert normalize_url("tel:+41") == ""
    assert canonical_url("https://town.gov/a%20b/") == "town.gov/a%20b"
    assert is_government_host("https://www.stadt.zuerich.ch/")
    assert is_government_host("https://www.ge.admin.ch/")
    assert not is_government_host("https://www.realestate.com/")
    assert not is_government_host("https://www.gemeindeblatt-shop.com/")


# ------------------------------------------------------------------ suggestion


def _reports(**columns: list[object]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    records = [
        {
            "seq": 100 + i,
            "ts": "2026-03-10T08:00:00Z",
            "latitude": 47.31,
            "longitude": 8.52,
            "severity_level": 0.5,
            **{name: values[i] for name, values in columns.items()},
        }
        for i in range(n)
    ]
    frame: pd.DataFrame = cg.reports_from_records(records)
    return frame


def test_suggest_combines_sources_with_consent_only_areas() -> None:
    areas = pd.DataFrame(
        {
            "area_id": [2, 1],
            "name": ["Schule Adliswil", "Adliswil"],
            "emails": [["hausdienst@schule-adliswil.ch", "bad address"], ["bau@adliswil.ch"]],
        }
    )
    reports = _reports(
        brand_name=["acme", "acme", ""],
        brand_display_name=["ACME", "Acme", ""],
        inferred_contact_emails=["ops@acme.com", "", "ops@acme.com, other@acme.com"],
    )
    brands = pd.DataFrame(
        {
            "brand_key": ["acme", "other"],
            "organization": ["Acme Inc.", "Other"],
            "role": ["support", "contact"],
            "emails": [["care@acme.com", "test@acme.com"], ["x@other.com"]],
            "website": ["https://acme.com", ""],
            "contact_url": ["", ""],
            "source": ["manual", ""],
        }
    )
    out = suggest_targets(reports, areas=areas, brand_contacts=brands)
    assert [(t.email, t.target_source) for t in out] == [
        ("bau@adliswil.ch", "area_contact"),
        ("hausdienst@schule-adliswil.ch", "area_contact"),
        ("care@acme.com", "brand_contact"),
    ]
    brand = out[2]
    assert brand.role_type == "support"
    assert brand.confidence_score == pytest.approx(0.7 + 0.15 * 2 / 3)
    assert brand.rationale == "Contact of brand ACME, named in 2 of 3 linked reports."
    assert "brand key 'acme'" in brand.evidence_text
    assert "reports 100, 101" in brand.evidence_text
    assert "mapped area 'Adliswil' (area 1)" in out[0].evidence_text
    # Without area and brand contacts the inferred contacts are the fallback.
    inferred = suggest_targets(reports)
    assert [t.email for t in inferred] == ["ops@acme.com", "other@acme.com"]
    assert inferred[0].evidence_text == "Named in the analyses of reports 100, 102."


def test_suggest_limit_and_same_email_under_two_areas_merges() -> None:
    areas = pd.DataFrame(
        {
            "area_id": [1, 2],
            "name": ["A", "B"],
            "emails": [[f"c{i}@a.ch" for i in range(10)], ["c0@a.ch"]],
        }
    )
    out = suggest_targets(None, areas=areas, limit=8)
    assert len(out) == 8
    assert len({t.endpoint_key for t in out}) == 8
    c0 = next(t for t in suggest_targets(None, areas=areas, limit=20) if t.email == "c0@a.ch")
    assert c0.organization == "A"
    assert "'A'" in c0.evidence_text and "'B'" in c0.evidence_text


def test_inferred_from_all_analysis_rows() -> None:
    analyses = pd.DataFrame(
        {
            "seq": [1, 1, 2],
            "language": ["de", "en", "en"],
            "inferred_contact_emails": ["hausdienst@schule.ch", "", "hausdienst@schule.ch"],
        }
    )
    (t,) = inferred_contact_targets(analyses)
    assert t.email == "hausdienst@schule.ch"
    assert t.evidence_text == "Named in the analyses of reports 1, 2."


def test_brand_website_only_record_and_key_matching() -> None:
    reports = _reports(brand_name=[""], brand_display_name=["  Coca-Cola   Company "])
    brands = pd.DataFrame(
        {"brand_key": ["coca-cola company"], "emails": [[]], "contact_url": ["cc.com/contact"]}
    )
    (t,) = brand_contact_targets(reports, brands)
    assert t.channel == "website"
    assert t.confidence_score == pytest.approx(0.85 - 0.08)
    assert brand_key("COCA-COLA company") == "coca-cola company"
    assert area_contact_targets(None) == []


def test_frames_and_records_round_trip() -> None:
    (t,) = merge_targets([EscalationTarget(email="a@b.ch", confidence_score=0.3)])
    record = {"id": 5, "case_id": "case_x", "created_at": None, **t.to_record()}
    assert EscalationTarget.from_record(record) == t
    frame = targets_frame([t])
    assert list(frame.columns) == [f.name for f in dataclasses.fields(EscalationTarget)]


def test_discovery_provider_protocol() -> None:
    class Static:
        name = "static"

        def discover(self, request: DiscoveryRequest) -> list[EscalationTarget]:
            return [EscalationTarget(email="ops@acme.com", target_source="osm_poi")]

    provider = Static()
    assert isinstance(provider, ContactDiscoveryProvider)
    found = provider.discover(DiscoveryRequest(longitude=8.5, latitude=47.3))
    out = suggest_targets(None, existing=found)
    assert out[0].verification_level == "openstreetmap"


# ------------------------------------------------------------------ properties

_local = st.from_regex(r"[a-z0-9]{1,8}(\.[a-z0-9]{1,5})?", fullmatch=True)
_domain = st.from_regex(r"[a-z]{2,8}(-[a-z]{1,4})?\.(ch|com|org|de|gov)", fullmatch=True)
_emails = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
_targets = st.builds(
    EscalationTarget,
    role_type=st.sampled_from(["contact", "operator", "architect", "building_authority", ""]),
    organization=st.sampled_from(["", "Town Hall", "Acme", "Stadt Adliswil"]),
    channel=st.sampled_from(["", "email", "phone", "website", "social"]),
    email=st.one_of(st.just(""), _emails, st.sampled_from(["bad", "https://acme.com", "x@y"])),
    phone=st.sampled_from(["", "+41 44 711 78 60", "044 711 77 77", "1048513395", "+1 555"]),
    website=st.sampled_from(["", "acme.com", "https://www.town.gov/", "https://adliswil.ch/x"]),
    contact_url=st.sampled_from(["", "https://town.gov/contact", "https://x.com/TownWorks"]),
    social_platform=st.sampled_from(["", "x", "twitter"]),
    social_handle=st.sampled_from(["", "@TownWorks", "acme"]),
    target_source=st.sampled_from(["area_contact", "inferred_contact", "osm_poi", "suggested"]),
    confidence_score=st.sampled_from([0.0, 0.55, 0.6, 0.8, 0.9]),
    rationale=st.sampled_from(["", "A.", "B."]),
)


@given(st.text(max_size=40))
def test_valid_email_implies_normalised_lowercase(raw: str) -> None:
    email = normalize_email(raw)
    if email:
        assert email == email.lower() == email.strip()
        assert normalize_email(email) == email
    if is_valid_email(raw):
        assert email


@given(_emails)
def test_generated_addresses_are_valid(email: str) -> None:
    assert is_valid_email(email) == (not is_placeholder_email(email))
    assert parse_email_list(f" {email.upper()} ,junk;{email}") == (
        (email,) if is_valid_email(email) else ()
    )


@given(_targets)
def test_normalisation_is_idempotent_and_keyed(target: EscalationTarget) -> None:
    once = normalize_target(target)
    if once is None:
        return
    assert normalize_target(once) == once
    assert once.endpoint_key == target_key(once) != ""
    assert once.has_contact_method
    assert once.channel in ("email", "phone", "social", "website")


@given(st.lists(_targets, max_size=12), st.randoms(use_true_random=False))
def test_merge_is_order_invariant_unique_sorted(
    targets: list[EscalationTarget], rnd: random.Random
) -> None:
    merged = merge_targets(targets)
    shuffled = list(targets)
    rnd.shuffle(shuffled)
    again = merge_targets(shuffled)
    keys = [t.endpoint_key for t in merged]
    assert len(keys) == len(set(keys))
    assert keys == [t.endpoint_key for t in again]
    assert [t.confidence_score for t in merged] == [t.confidence_score for t in again]
    confidences = [t.confidence_score for t in merged]
    assert confidences == sorted(confidences, reverse=True)
    assert merge_targets(merged) == merged
    for n in (0, 1, 3):
        assert merge_targets(targets, limit=n) == merged[:n]


@given(st.lists(_targets, max_size=12))
def test_visible_drops_inferred_only_when_better_exists(targets: list[EscalationTarget]) -> None:
    merged = merge_targets(targets)
    visible = visible_targets(targets)
    preferred = [
        t
        for t in merged
        if t.target_source != "inferred_contact"
        and (t.email or t.phone or t.website or t.contact_url)
    ]
    if preferred:
        assert all(t.target_source != "inferred_contact" for t in visible)
    else:
        assert visible == merged
    assert set(visible) <= set(merged)
