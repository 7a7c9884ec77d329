"""The worked example of docs/routing.md (the school facade), line by line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cleanapp_geo.routing import (
    apply_outcome,
    build_notify_plan,
    execution_tasks,
    route_targets,
    routing_profile,
)
from cleanapp_geo.targets import EscalationTarget as T
from cleanapp_geo.targets import visible_targets

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
SCHOOL = "Schulhaus Zürich"
AUTHORITY = {
    "target_source": "authority_directory",
    "verification_level": "official_authority_page",
}
SCHOOL_SITE = {"target_source": "website_scrape", "website": "https://www.schule-zh.ch"}
TARGETS = [
    T(role_type="facility_manager", organization=SCHOOL, display_name="Hausdienst",
      email="hausdienst@schule-zh.ch", target_source="area_contact", confidence_score=0.9),
    T(role_type="operator", organization=SCHOOL, display_name="Sekretariat",
      phone="+41 44 413 11 11", confidence_score=0.78, **SCHOOL_SITE),
    T(role_type="site_leadership", organization=SCHOOL, display_name="Anna Meier",
      email="anna.meier@schule-zh.ch", confidence_score=0.8, **SCHOOL_SITE),
    T(role_type="building_authority", organization="Stadt Zürich",
      display_name="Amt für Baubewilligungen", email="baubewilligungen@zuerich.ch",
      website="https://www.stadt-zuerich.ch/hbd", confidence_score=0.85, **AUTHORITY),
    T(role_type="fire_authority", organization="Feuerpolizei Zürich",
      email="feuerpolizei@zuerich.ch", website="https://www.stadt-zuerich.ch/feuerpolizei",
      confidence_score=0.8, **AUTHORITY),
    T(role_type="public_safety", organization="Stadtpolizei Zürich",
      email="stadtpolizei@zuerich.ch", website="https://www.stadt-zuerich.ch/pd",
      confidence_score=0.75, **AUTHORITY),
    T(role_type="contractor", organization="Fassadenbau AG", email="info@fassadenbau.ch",
      website="https://www.fassadenbau.ch", target_source="web_search_website",
      confidence_score=0.7),
    T(role_type="contact", organization=SCHOOL, email="info@schule-zh.ch",
      target_source="area_contact", confidence_score=0.9),
    T(email="support@buildingmanagement.com", target_source="inferred_contact",
      confidence_score=0.6),
]  # fmt: skip
TEXTS = [
    "Facade bricks falling over school entrance",
    "Facade bricks falling over school entrance",
    "Loose facade bricks above the main school entrance.",
    "Masonry risk above school facade",
    "Facade bricks look loose above the same school walkway.",
]
BOUNCED = "email:info@schule-zh.ch"


def plan_for(memory):
    profile = routing_profile(
        TEXTS, severity=0.92, urgency=0.92, jurisdiction_key="country:ch/state:zuerich/city:zuerich"
    )
    routed = [
        r.target for r in route_targets(visible_targets(TARGETS), profile, memory=memory, now=NOW)
    ]
    return profile, routed, build_notify_plan(routed, profile)


def bounced():
    return {
        BOUNCED: apply_outcome(None, "bounced", endpoint_key=BOUNCED, now=NOW - timedelta(days=5))
    }


def test_the_profile_is_a_structural_emergency_at_a_school():
    profile, _, _ = plan_for(bounced())
    assert (profile.defect_class, profile.asset_class, profile.hazard_mode) == (
        "physical_structural", "school", "emergency",
    )  # fmt: skip
    flags = ("structural", "severe", "urgent", "immediate_danger", "sensitive_occupancy")
    assert all(getattr(profile, f) for f in flags)


def test_the_table_of_the_worked_example():
    _, routed, plan = plan_for(bounced())
    by_key = {t.endpoint_key: t for t in routed}
    rows = [
        (i.wave_number, i.priority_rank, i.endpoint_key,
         round(by_key[i.endpoint_key].actionability_score, 3), i.send_eligibility, i.selected,
         i.recipient_role)
        for i in plan.items
    ]  # fmt: skip
    assert rows == [
        (1, 1, "email:hausdienst@schule-zh.ch", 0.907, "auto", True, "to"),
        (1, 2, "phone:41444131111", 0.86, "auto", True, "task"),
        (1, 3, "email:anna.meier@schule-zh.ch", 0.884, "auto", False, ""),
        (1, 4, "email:baubewilligungen@zuerich.ch", 0.993, "auto", True, "cc"),
        (1, 5, "email:feuerpolizei@zuerich.ch", 0.969, "auto", True, "cc"),
        (1, 6, "email:stadtpolizei@zuerich.ch", 0.965, "auto", False, ""),
        (3, 1, "email:info@fassadenbau.ch", 0.861, "review", False, ""),
        (4, 1, BOUNCED, 0.595, "hold", False, ""),
    ]
    assert "support@buildingmanagement.com" not in str(rows)  # inferred: a last resort
    assert "the last message to this endpoint bounced" in plan.items[-1].reason_selected
    assert plan.summary == (
        "Immediate-response plan selects 4 primary recipients now, while holding 1 authority "
        "contacts in reserve for widening if needed."
    )
    (task,) = execution_tasks(plan, routed)
    assert (task.summary, task.payload["action_url"]) == ("Call Sekretariat", "tel:+41444131111")


def test_a_misrouted_call_moves_the_phone_to_wave_four_and_selects_the_principal():
    memory = bounced()
    memory["phone:41444131111"] = apply_outcome(
        None, "misrouted", endpoint_key="phone:41444131111", now=NOW
    )
    _, _, plan = plan_for(memory)
    items = {i.endpoint_key: i for i in plan.items}
    assert (items["phone:41444131111"].wave_number, items["phone:41444131111"].selected) == (
        4,
        False,
    )
    assert items["email:anna.meier@schule-zh.ch"].selected
    assert items["email:anna.meier@schule-zh.ch"].recipient_role == "to"
    assert plan.waves == (1, 3, 4)


DOC_LINES = [
    "| 1 | 1 | `hausdienst@schule-zh.ch` (area contact) | facility_manager | 0.907 | auto "
    "| **to** |",
    "| 4 | 1 | `info@schule-zh.ch` (area contact) | contact | 0.595 | hold "
    "| **held**: the last message bounced |",
]


@pytest.mark.parametrize("line", DOC_LINES)
def test_the_document_shows_the_table(line):
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "routing.md").read_text(encoding="utf-8")
    assert line in text
