"""Contact routing: upstream's worked examples (reference §12.5, §12.6) and the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from cleanapp_geo.routing import (
    EndpointMemory,
    InvalidOutcomeError,
    InvalidProfileError,
    RoutingProfile,
    apply_outcome,
    build_notify_plan,
    contact_observations,
    delivery_outcome,
    execution_tasks,
    hazard_profile,
    normalize_outcome_type,
    route_targets,
    routing_profile,
)
from cleanapp_geo.routing.keywords import has_any
from cleanapp_geo.targets import EscalationTarget as T

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
EMERGENCY = RoutingProfile(
    defect_class="physical_structural",
    hazard_mode="emergency",
    structural=True,
    severe=True,
    urgent=True,
)


def routed_targets(targets, profile, memory=None):
    return [r.target for r in route_targets(targets, profile, memory=memory, now=NOW)]


# --------------------------------------------------------------------------- upstream tests


def test_t29_primary_department_inbox_preferred_and_duplicates_suppressed():
    def target(role, scope, org, email, act, conf=0.9, name=""):
        return T(
            role_type=role,
            decision_scope=scope,
            organization_key=org,
            display_name=name,
            channel="email",
            email=email,
            endpoint_key=f"email:{email}",
            attribution_class="official_direct",
            actionability_score=act,
            confidence_score=conf,
            send_eligibility="auto",
            execution_mode="auto",
            notify_tier=1,
        )

    plan = build_notify_plan(
        [
            target(
                "building_authority",
                "regulator",
                "bau und planung",
                "bau.planung@adliswil.ch",
                0.95,
            ),
            target(
                "building_authority",
                "regulator",
                "bau und planung",
                "damiano.maiolo@adliswil.ch",
                0.95,
                name="Damiano Maiolo",
            ),
            target("operator", "site_ops", "schule adliswil", "schule@adliswil.ch", 0.91),
        ],
        EMERGENCY,
    )
    selected = {i.endpoint_key for i in plan.selected}
    assert selected == {"email:bau.planung@adliswil.ch", "email:schule@adliswil.ch"}
    roles = {i.endpoint_key: i.recipient_role for i in plan.items}
    assert roles["email:schule@adliswil.ch"] == "to"
    assert roles["email:bau.planung@adliswil.ch"] == "cc"  # the authority is copied
    assert roles["email:damiano.maiolo@adliswil.ch"] == ""


def test_t31_authorities_prioritised_for_a_structural_hazard_at_a_station():
    profile = routing_profile(
        [
            "Structural crack in load-bearing metro support column",
            "Severe crack at the metro station; falling concrete risk near commuters.",
            "Immediate danger to passengers near a transit platform.",
        ],
        severity=0.95,
        subject="report",
    )
    assert (profile.asset_class, profile.hazard_mode) == ("transit_station", "emergency")
    first, second = routed_targets(
        [
            T(
                role_type="building_authority",
                email="building@authority.example",
                target_source="official_directory",
                verification_level="official_page",
                confidence_score=0.92,
            ),
            T(
                role_type="contractor",
                email="contractor@example.com",
                target_source="search_discovery",
                verification_level="directory_listing",
                confidence_score=0.76,
            ),
        ],
        profile,
    )
    assert (first.decision_scope, first.notify_tier) == ("regulator", 1)
    assert first.send_eligibility == "auto"
    assert (first.role_fit_score, first.site_match_score) == (0.66, 0.4)
    assert first.actionability_score == pytest.approx(0.9086, abs=5e-4)
    assert (second.decision_scope, second.attribution_class) == (
        "project_party",
        "official_registry",
    )
    assert (second.role_fit_score, second.notify_tier, second.send_eligibility) == (
        0.7,
        3,
        "review",
    )
    assert second.actionability_score == pytest.approx(0.7658, abs=5e-4)


def test_t32_transit_authority_first_at_stations():
    profile = routing_profile(
        ["Major crack in a metro station support beam"], severity=0.96, subject="report"
    )
    first, second = routed_targets(
        [
            T(
                role_type="building_authority",
                email="building@authority.example",
                verification_level="official_authority_page",
                confidence_score=0.89,
            ),
            T(
                role_type="transit_authority",
                email="ops@metro.example",
                verification_level="official_site_page",
                confidence_score=0.9,
            ),
        ],
        profile,
    )
    assert (first.role_type, first.decision_scope) == ("transit_authority", "site_ops")
    assert first.actionability_score == pytest.approx(0.912)
    assert second.actionability_score == pytest.approx(0.9062)


# --------------------------------------------------------------------------- profiles


def test_routing_profile_reads_bands_flags_and_modes():
    p = routing_profile(
        ["Phishing page impersonates the login", "fake checkout"],
        classification="digital",
        severity=0.5,
        urgency=0.9,
    )
    assert (p.defect_class, p.defect_mode, p.exposure_mode) == (
        "digital_security",
        "abuse",
        "user_exposure",
    )
    assert (p.severity_band, p.urgency_band, p.urgent, p.hazard_mode) == (
        "medium",
        "immediate",
        True,
        "urgent",
    )
    quiet = routing_profile(["Overflowing bins"], severity=0.3)
    assert (quiet.defect_class, quiet.hazard_mode, quiet.asset_class) == (
        "physical_safety",
        "standard",
        "general_site",
    )
    assert routing_profile([], severity=0).severity_band == "low"


def test_keywords_match_at_word_starts_only():
    # upstream matched anywhere: "wall" in "walkway" made a walkway litter case structural
    assert not routing_profile(["Litter on the walkway"], severity=0.9).structural
    assert routing_profile(["Cracks in the wall"], severity=0.9).structural
    assert not has_any("a broad avenue", ("road",))
    assert has_any("Schulhaus Kopfholz", ("schulhaus",))


def test_routing_profile_refuses_unknown_names():
    with pytest.raises(InvalidProfileError, match="subject must be one of case, report"):
        routing_profile(["x"], subject="parcel")
    with pytest.raises(InvalidProfileError, match="classification must be one of"):
        routing_profile(["x"], classification="smell")
    with pytest.raises(InvalidProfileError, match="hazard_mode must be one of"):
        RoutingProfile(hazard_mode="panic")


def test_routing_profile_round_trips_through_a_stored_row():
    p = routing_profile(["Facade bricks falling"], severity=0.9, jurisdiction_key="city:zuerich")
    row = {**p.to_record(), "context_json": p.context()}
    for flag in ("structural", "severe", "urgent", "immediate_danger", "sensitive_occupancy"):
        row.pop(flag)
    assert RoutingProfile.from_record(row) == p


def test_jurisdiction_words_raise_site_match_not_organisation_keys():
    profile = RoutingProfile(jurisdiction_key="country:ch/state:zuerich/city:adliswil")
    here, elsewhere = routed_targets(
        [
            T(role_type="operator", organization="Stadt Adliswil", email="info@adliswil.ch"),
            T(role_type="operator", organization="Stadt Uster", email="info@uster.ch"),
        ],
        profile,
    )
    assert here.site_match_score == pytest.approx(0.35)
    assert elsewhere.site_match_score == pytest.approx(0.2)


def test_hazard_profile_votes_with_a_deterministic_tie_break():
    frame = pd.DataFrame(
        {
            "classification": ["physical", "physical"],
            "severity_level": [0.9, 0.2],
            "title": ["Cracked facade above the metro entrance", "Overflowing litter bins"],
            "summary": ["", ""],
        }
    )
    profile = hazard_profile(frame)
    # one vote each: the vocabulary order decides (upstream: map order, at random)
    assert profile.defect_class == "physical_structural"
    assert (profile.severe, profile.urgent, profile.sensitive_occupancy) == (True, True, True)
    assert hazard_profile(frame.iloc[::-1]) == profile
    assert hazard_profile(frame.iloc[:0]) == hazard_profile(pd.DataFrame())


# --------------------------------------------------------------------------- scoring


def test_inferred_contacts_score_low_and_are_held():
    (t,) = routed_targets(
        [
            T(
                email="support@buildingmanagement.com",
                target_source="inferred_contact",
                confidence_score=0.6,
            )
        ],
        RoutingProfile(),
    )
    assert (t.source_quality_score, t.outcome_memory_score) == (0.25, 0.35)
    assert (t.notify_tier, t.send_eligibility, t.execution_mode) == (4, "hold", "hold")


def test_previous_routing_scores_do_not_feed_the_next_routing():
    target = T(role_type="operator", email="ops@town.gov", organization="Town")
    (once,) = routed_targets([target], RoutingProfile())
    (twice,) = routed_targets([once], RoutingProfile())
    assert twice == once


def test_execution_modes_follow_channel_and_eligibility():
    routed = {
        t.channel: t
        for t in routed_targets(
            [
                T(
                    role_type="operator",
                    organization="Town",
                    phone="+41 44 711 78 60",
                    target_source="area_contact",
                ),
                T(
                    role_type="operator",
                    organization="Town",
                    website="https://town.gov",
                    contact_url="https://town.gov/kontakt",
                    target_source="area_contact",
                ),
                T(
                    role_type="operator",
                    organization="Town",
                    social_platform="x",
                    social_handle="TownWorks",
                    target_source="area_contact",
                ),
            ],
            RoutingProfile(),
        )
    }
    assert routed["phone"].execution_mode == "task"
    assert routed["website"].execution_mode == "task"
    assert routed["social"].execution_mode == "hold"  # no email, phone or form: not direct


# --------------------------------------------------------------------------- memory


def test_outcome_types_and_their_aliases():
    assert normalize_outcome_type("Resolved") == "fixed"
    assert normalize_outcome_type("no-response") == "no_response"
    assert normalize_outcome_type("delivered") == "sent"
    with pytest.raises(InvalidOutcomeError, match='unsupported outcome type "lost"'):
        normalize_outcome_type("lost")
    with pytest.raises(InvalidOutcomeError):
        normalize_outcome_type(None)


def test_delivery_statuses_map_to_outcomes_and_transient_failures_are_not_bounces():
    assert [delivery_outcome(s) for s in ("sent", "invalid_email", "opted_out", "failed")] == [
        "sent",
        "bounced",
        "opted_out",
        None,
    ]
    assert delivery_outcome("dry_run") is None


def test_a_success_never_clears_an_active_cooldown():
    bounced = apply_outcome(None, "bounced", endpoint_key="email:a@b.ch", now=NOW)
    sent = apply_outcome(bounced, "sent", endpoint_key="email:a@b.ch", now=NOW + timedelta(days=1))
    assert sent.cooldown_until == NOW + timedelta(days=14)
    assert (sent.success_count, sent.bounce_count, sent.last_result) == (1, 1, "sent")
    later = apply_outcome(sent, "sent", endpoint_key="email:a@b.ch", now=NOW + timedelta(days=20))
    assert later.cooldown_until is None


def test_preferred_for_is_earned_by_acknowledgement_and_lost_by_misroute():
    key = "phone:41447117860"
    bounced = apply_outcome(
        None, "bounced", endpoint_key=key, now=NOW, role_type="operator", asset_class="school"
    )
    assert bounced.preferred_for_role_type == ""  # upstream recorded it on any outcome
    acked = apply_outcome(
        bounced, "ack", endpoint_key=key, now=NOW, role_type="operator", asset_class="school"
    )
    assert (acked.preferred_for_role_type, acked.preferred_for_asset_class) == (
        "operator",
        "school",
    )
    kept = apply_outcome(acked, "sent", endpoint_key=key, now=NOW, asset_class="")
    assert kept.preferred_for_asset_class == "school"  # an empty value never overwrites
    misrouted = apply_outcome(kept, "misrouted", endpoint_key=key, now=NOW, role_type="operator")
    assert misrouted.preferred_for_role_type == ""


def test_an_outcome_changes_the_next_plan():
    profile = routing_profile(["Facade bricks falling over school entrance"], severity=0.92)
    targets = [
        T(
            role_type="facility_manager",
            email="hausdienst@schule-zh.ch",
            organization="Schule Zürich",
            target_source="area_contact",
            confidence_score=0.9,
        ),
        T(
            role_type="operator",
            phone="+41 44 711 78 60",
            organization="Schule Zürich",
            target_source="area_contact",
            confidence_score=0.88,
        ),
    ]
    before = build_notify_plan(routed_targets(targets, profile), profile)
    assert [(i.endpoint_key, i.wave_number, i.selected) for i in before.items] == [
        ("email:hausdienst@schule-zh.ch", 1, True),
        ("phone:41447117860", 1, True),
    ]
    (task,) = execution_tasks(before, routed_targets(targets, profile))
    assert task.summary == "Call Schule Zürich"
    memory = {
        "phone:41447117860": apply_outcome(
            None, "wrong_recipient", endpoint_key="phone:41447117860", now=NOW
        )
    }
    after = build_notify_plan(routed_targets(targets, profile, memory), profile)
    item = after.items[-1]
    assert (item.endpoint_key, item.wave_number, item.selected) == ("phone:41447117860", 4, False)
    assert "wrong recipient" in item.reason_selected
    assert [i.wave_number for i in after.items] == [1, 4]


def test_memory_score_rewards_acknowledgements_and_punishes_bounces():
    def score(**counts):
        return routed_targets(
            [T(role_type="operator", email="ops@town.gov")],
            RoutingProfile(),
            {"email:ops@town.gov": EndpointMemory("email:ops@town.gov", **counts)},
        )[0].outcome_memory_score

    assert score(ack_count=2) > score() > score(bounce_count=1) > score(bounce_count=5)


# --------------------------------------------------------------------------- observations


def test_observations_keep_one_row_per_contact_value():
    routed = routed_targets(
        [
            T(
                role_type="operator",
                organization="Town",
                email="ops@town.gov",
                confidence_score=0.7,
            ),
            T(
                role_type="operator",
                organization="Town",
                phone="+41 44 711 78 60",
                confidence_score=0.8,
            ),
        ],
        RoutingProfile(),
    )
    observations = contact_observations(routed)
    assert [(o.channel_type, o.channel_value) for o in observations] == [
        ("phone", "+41447117860"),
        ("email", "ops@town.gov"),
    ]
    assert observations[0].key == "phone:+41447117860"
