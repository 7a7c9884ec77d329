"""Property tests of contact routing against references written from the documented rules."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanapp_geo.cases import case_confidence, case_exposure
from cleanapp_geo.routing import (
    ASSET_CLASSES,
    OUTCOME_TYPES,
    EndpointMemory,
    RoutingProfile,
    apply_outcome,
    blocked_reason,
    build_notify_plan,
    hazard_profile,
    organization_bucket,
    outcome_memory_score,
    route_targets,
)
from cleanapp_geo.targets import DECISION_SCOPES, EXECUTION_MODES, SEND_ELIGIBILITIES
from cleanapp_geo.targets import EscalationTarget as T

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
ROLES = [
    "contact",
    "operator",
    "operator_admin",
    "facility_manager",
    "owner",
    "building_authority",
    "public_safety",
    "fire_authority",
    "transit_authority",
    "public_works",
    "contractor",
    "architect",
    "support",
    "security",
    "trust_safety",
]
ORGS = ["", "Town Hall", "Metro Authority", "Schule Adliswil", "Bau AG"]
LOCALS = ["info", "ops", "bau.planung", "jane.doe", "press", "noreply", "kontakt", "x"]
DOMAINS = ["town.gov", "metro.example", "adliswil.ch", "bau-ag.ch"]
SOURCES = ["suggested", "area_contact", "inferred_contact", "google_places", "website_scrape"]
VERIFICATIONS = ["", "official_site_page", "directory_listing", "discovered", "inferred"]


@st.composite
def targets(draw: st.DrawFn) -> T:
    channel = draw(st.sampled_from(["email", "email", "phone", "website", "social"]))
    domain = draw(st.sampled_from(DOMAINS))
    values: dict[str, object] = {
        "role_type": draw(st.sampled_from(ROLES)),
        "organization": draw(st.sampled_from(ORGS)),
        "target_source": draw(st.sampled_from(SOURCES)),
        "verification_level": draw(st.sampled_from(VERIFICATIONS)),
        "confidence_score": draw(st.floats(0, 1)),
        "channel": channel,
    }
    n = draw(st.integers(0, 30))
    if channel == "email":
        values["email"] = f"{draw(st.sampled_from(LOCALS))}{n}@{domain}"
    elif channel == "phone":
        values["phone"] = f"+41 44 711 {n:02d} {draw(st.integers(10, 99))}"
    elif channel == "website":
        values["website"] = f"https://{domain}/"
        if draw(st.booleans()):
            values["contact_url"] = f"https://{domain}/kontakt/{n}"
    else:
        values["social_platform"] = "x"
        values["social_handle"] = f"handle{n}"
    return T(**values)  # type: ignore[arg-type]


@st.composite
def profiles(draw: st.DrawFn) -> RoutingProfile:
    flags = {
        name: draw(st.booleans())
        for name in ("structural", "severe", "urgent", "immediate_danger", "sensitive_occupancy")
    }
    digital = draw(st.booleans())
    return RoutingProfile(
        classification="digital" if digital else "physical",
        defect_class=draw(
            st.sampled_from(
                ["digital_security", "digital_product_bug", "digital_accessibility"]
                if digital
                else ["physical_structural", "physical_safety", "physical_sanitation"]
            )
        ),
        asset_class=draw(st.sampled_from(ASSET_CLASSES)),
        jurisdiction_key=draw(st.sampled_from(["", "country:ch/state:zuerich/city:adliswil"])),
        hazard_mode=draw(st.sampled_from(["standard", "urgent", "emergency"])),
        **flags,
    )


@st.composite
def memories(draw: st.DrawFn, keys: list[str]) -> dict[str, EndpointMemory]:
    out = {}
    for key in keys:
        if not draw(st.booleans()):
            continue
        memory = None
        for outcome in draw(st.lists(st.sampled_from(OUTCOME_TYPES), max_size=4)):
            when = NOW - timedelta(days=draw(st.integers(0, 40)))
            memory = apply_outcome(memory, outcome, endpoint_key=key, now=when)
        if memory is not None:
            out[key] = memory
    return out


@st.composite
def routing_cases(draw: st.DrawFn):
    listed = draw(st.lists(targets(), max_size=12))
    routed_keys = [r.target.endpoint_key for r in route_targets(listed, RoutingProfile(), now=NOW)]
    return listed, draw(profiles()), draw(memories(routed_keys))


SCORES = (
    "site_match_score",
    "source_quality_score",
    "role_fit_score",
    "channel_quality_score",
    "outcome_memory_score",
    "actionability_score",
)


@given(case=routing_cases())
def test_routed_fields_are_in_range_and_vocabulary(case):
    listed, profile, memory = case
    for r in route_targets(listed, profile, memory=memory, now=NOW):
        t = r.target
        assert all(0.0 <= getattr(t, name) <= 1.0 for name in SCORES)
        assert 1 <= t.notify_tier <= 4
        assert t.send_eligibility in SEND_ELIGIBILITIES
        assert t.execution_mode in EXECUTION_MODES
        assert t.decision_scope in DECISION_SCOPES
        assert t.reason_selected


@given(case=routing_cases(), seed=st.integers(0, 1000))
def test_routing_and_plan_do_not_depend_on_input_order(case, seed):
    listed, profile, memory = case
    shuffled = list(listed)
    random.Random(seed).shuffle(shuffled)
    first = route_targets(listed, profile, memory=memory, now=NOW)
    second = route_targets(shuffled, profile, memory=memory, now=NOW)
    assert first == second
    routed = [r.target for r in first]
    random.Random(seed + 1).shuffle(routed)
    assert build_notify_plan(routed, profile) == build_notify_plan(
        [r.target for r in first], profile
    )


def reference_actionability(t, profile, memory):
    """Upstream's documented formula, written out term by term."""
    official = t.attribution_class == "official_direct"
    source = (
        0.25
        if t.target_source == "inferred_contact"
        else {"official_direct": 1.0, "official_registry": 0.85}.get(t.attribution_class, 0.45)
    )
    channel = {
        "email": 1.0 if official else 0.9,
        "phone": 0.75,
        "social": 0.55,
        "website": 0.8 if t.contact_url else 0.5,
    }[t.channel]
    default = 0.35 if t.target_source == "inferred_contact" else 0.6
    mem = outcome_memory_score(
        memory, role_type=t.role_type, asset_class=profile.asset_class, now=NOW, default=default
    )
    value = (
        0.30 * source
        + 0.25 * t.role_fit_score
        + 0.20 * t.site_match_score
        + 0.15 * channel
        + 0.10 * mem
        + 0.08 * t.confidence_score
    )
    if profile.immediate_danger and t.decision_scope == "regulator":
        value += 0.08
    security = profile.defect_class == "digital_security"
    if security and t.role_type in ("security", "trust_safety"):
        value += 0.08
    bug = profile.defect_class == "digital_product_bug"
    if bug and t.role_type in ("support", "engineering", "product_owner"):
        value += 0.07
    a11y = profile.defect_class == "digital_accessibility"
    if a11y and t.role_type in ("support", "product_owner"):
        value += 0.06
    if t.decision_scope == "project_party":
        value += 0.04 if profile.structural else -0.14
    if memory is not None and memory.cooldown_until is not None and memory.cooldown_until > NOW:
        value -= 0.18
    return min(1.0, max(0.0, value))


@given(case=routing_cases())
def test_actionability_follows_the_documented_formula(case):
    listed, profile, memory = case
    for r in route_targets(listed, profile, memory=memory, now=NOW):
        expected = reference_actionability(r.target, profile, memory.get(r.target.endpoint_key))
        assert abs(r.target.actionability_score - expected) < 1e-9


@given(case=routing_cases())
def test_a_blocked_endpoint_is_never_in_wave_one_nor_selected(case):
    listed, profile, memory = case
    routed = route_targets(listed, profile, memory=memory, now=NOW)
    plan = build_notify_plan([r.target for r in routed], profile)
    for r in routed:
        remembered = memory.get(r.target.endpoint_key)
        cooling = remembered is not None and remembered.in_cooldown(NOW)
        bounced = remembered is not None and remembered.last_result == "bounced"
        if cooling or bounced:
            assert r.blocked and blocked_reason(remembered, NOW)
            assert r.target.notify_tier == 4
            assert r.target.send_eligibility == "hold"
    blocked = {r.target.endpoint_key for r in routed if r.blocked}
    for item in plan.items:
        if item.endpoint_key in blocked:
            assert item.wave_number != 1 and not item.selected


@given(case=routing_cases())
def test_plan_selects_only_auto_targets_within_the_caps(case):
    listed, profile, memory = case
    routed = [r.target for r in route_targets(listed, profile, memory=memory, now=NOW)]
    plan = build_notify_plan(routed, profile)
    by_key = {t.endpoint_key: t for t in routed}
    assert {i.endpoint_key for i in plan.items} == set(by_key)
    emergency = profile.hazard_mode == "emergency"
    scope_limit = {"site_ops": 3, "asset_owner": 2, "regulator": 2 if emergency else 1}
    per_scope, per_org, per_family = Counter(), Counter(), Counter()
    family = {"operator": "site_operator", "operator_admin": "site_operator",
              "site_leadership": "site_operator"}  # fmt: skip
    for item in plan.selected:
        t = by_key[item.endpoint_key]
        assert t.send_eligibility == "auto"
        per_scope[item.decision_scope] += 1
        per_org[(item.wave_number, organization_bucket(t), item.decision_scope)] += 1
        per_family[
            (item.wave_number, organization_bucket(t), family.get(t.role_type, t.role_type))
        ] += 1
    for scope, count in per_scope.items():
        assert count <= scope_limit.get(scope, 1)
    for (wave, _, scope), count in per_org.items():
        assert count <= (2 if scope in ("site_ops", "regulator") else 1)
        if scope == "site_ops" and wave != 1:
            assert count <= 1
    assert all(count == 1 for count in per_family.values())
    waves = [(i.wave_number, i.priority_rank) for i in plan.items]
    assert waves == sorted(waves)
    for wave in plan.waves:
        ranks = [i.priority_rank for i in plan.items if i.wave_number == wave]
        assert ranks == list(range(1, len(ranks) + 1))


@given(
    outcomes=st.lists(
        st.tuples(st.sampled_from(OUTCOME_TYPES), st.integers(0, 60)), min_size=1, max_size=8
    )
)
def test_memory_counts_grow_and_cooldowns_never_shrink(outcomes):
    memory = None
    clock = NOW - timedelta(days=100)
    for outcome, days in outcomes:
        clock += timedelta(days=days)
        before = memory
        memory = apply_outcome(memory, outcome, endpoint_key="email:a@b.ch", now=clock)
        assert memory.last_result == outcome
        if before is not None:
            for name in ("success_count", "bounce_count", "ack_count", "fix_count",
                         "misroute_count", "no_response_count"):  # fmt: skip
                assert getattr(memory, name) >= getattr(before, name)
            if before.in_cooldown(clock):
                assert memory.cooldown_until >= before.cooldown_until
        score = outcome_memory_score(memory, role_type="operator", asset_class="school", now=clock)
        assert 0.05 <= score <= 1.0


@given(
    links=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(["", "u1", "u2", "u3"])), max_size=8),
    extra=st.tuples(st.floats(0, 1), st.sampled_from(["", "u1", "u4"])),
    seed=st.integers(0, 100),
)
def test_case_confidence_is_in_range_order_invariant_and_grows_with_evidence(links, extra, seed):
    confidences = [c for c, _ in links]
    reporters = [r for _, r in links]
    value = case_confidence(confidences, reporters)
    assert 0.0 <= value <= 1.0
    shuffled = list(links)
    random.Random(seed).shuffle(shuffled)
    assert abs(case_confidence([c for c, _ in shuffled], [r for _, r in shuffled]) - value) < 1e-9
    more = case_confidence([*confidences, extra[0]], [*reporters, extra[1]])
    assert more >= value - 1e-12


@given(
    mode=st.sampled_from(["public_exposure", "user_exposure", "localized"]),
    sensitive=st.booleans(),
    reporters=st.integers(0, 50),
)
def test_case_exposure_is_in_range_and_grows_with_reporters(mode, sensitive, reporters):
    value = case_exposure(mode, sensitive_occupancy=sensitive, reporters=reporters)
    assert 0.0 <= value <= 1.0
    assert case_exposure(mode, sensitive_occupancy=sensitive, reporters=reporters + 1) >= value


WORDS = [
    "facade",
    "bricks",
    "falling",
    "school",
    "metro",
    "station",
    "litter",
    "crack",
    "bridge",
    "fence",
    "security",
    "urgent",
]


@settings(max_examples=50)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["physical", "digital"]),
            st.sampled_from([0.1, 0.5, 0.75, 0.85, 0.95]),
            st.lists(st.sampled_from(WORDS), max_size=5),
        ),
        max_size=8,
    ),
    seed=st.integers(0, 100),
)
def test_hazard_profile_does_not_depend_on_report_order(rows, seed):
    def frame(items):
        return pd.DataFrame(
            {
                "classification": [c for c, _, _ in items],
                "severity_level": [s for _, s, _ in items],
                "title": [" ".join(w) for _, _, w in items],
                "summary": [""] * len(items),
            }
        )

    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    assert hazard_profile(frame(rows)) == hazard_profile(frame(shuffled))
