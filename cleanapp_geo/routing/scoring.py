"""Per-target routing: scores, wave, send eligibility, execution mode and reason (pure).

:func:`route_targets` reads each target against a :class:`~cleanapp_geo.routing.RoutingProfile`
and the endpoint memory, and fills the routing fields of :class:`EscalationTarget`.

Scores (each in [0, 1])
-----------------------
==========================  ===============================================================
score                       from
==========================  ===============================================================
``source_quality_score``    attribution: official_direct 1.0, official_registry 0.85,
                            heuristic 0.45; an inferred contact 0.25
``channel_quality_score``   email 1.0 (official) / 0.9; website 0.8 with a contact page, else
                            0.5; phone 0.75; social 0.55
``site_match_score``        0.2, +0.15 when a jurisdiction word appears in the target's names,
                            URLs or evidence, +0.10 for an asset-class word, +0.15 for the
                            asset phrase, +0.20 when official_direct
``role_fit_score``          the role for the asset (transit station, road/bridge, school), else
                            for the defect class (digital ones) or the decision scope, else 0.55
``outcome_memory_score``    :func:`~cleanapp_geo.routing.memory.outcome_memory_score` (no
                            memory: 0.6, an inferred contact 0.35)
``actionability_score``     0.30 source + 0.25 role + 0.20 site + 0.15 channel + 0.10 memory
                            + 0.08 confidence, with the adjustments below
==========================  ===============================================================

Adjustments: +0.08 a regulator under immediate danger; +0.08 security roles for a digital
security defect; +0.07 support/engineering/product roles for a digital product bug; +0.06
support/product roles for a digital accessibility defect; +0.04 project parties of a
structural problem, −0.14 otherwise; −0.18 while the endpoint is in cooldown.

Wave (``notify_tier``): site operators and asset owners 1; regulators 1 in an emergency,
else 2; project parties 3; others 4 (1 for security roles of a security defect). A
*blocked* endpoint (cooldown, or a last result of bounced, misrouted or opted out) waits in
wave 4 and is held (upstream kept it in its wave, where a later send could reach it).

These are upstream's weights, kept exactly: its worked examples (T31, T32) pin them.

Examples
--------
>>> from datetime import UTC, datetime
>>> from cleanapp_geo.routing import routing_profile
>>> from cleanapp_geo.targets import EscalationTarget
>>> profile = routing_profile(["Major crack in a metro station support beam"], severity=0.96,
...                           subject="report")
>>> routed = route_targets([
...     EscalationTarget(role_type="transit_authority", email="ops@metro.example",
...                      verification_level="official_site_page", confidence_score=0.9),
...     EscalationTarget(role_type="building_authority", email="building@authority.example",
...                      verification_level="official_authority_page", confidence_score=0.89),
... ], profile, now=datetime(2026, 3, 10, tzinfo=UTC))
>>> [(r.target.role_type, round(r.target.actionability_score, 3)) for r in routed]
[('transit_authority', 0.912), ('building_authority', 0.906)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from cleanapp_geo.routing import keywords as kw
from cleanapp_geo.routing.memory import (
    EndpointMemory,
    blocked_reason,
    outcome_memory_score,
)
from cleanapp_geo.routing.profile import RoutingProfile
from cleanapp_geo.targets import (
    INFERRED_CONTACT,
    ROLE_DECISION_SCOPES,
    EscalationTarget,
    attribution_class_of,
    merge_targets,
    normalize_target,
    organization_key,
    target_key,
)

__all__ = [
    "AUTHORITY_ROLES",
    "RoutedTarget",
    "route_target",
    "route_targets",
]

#: Roles of public authorities.
AUTHORITY_ROLES: Final = frozenset(
    {
        "building_authority", "fire_authority", "public_safety", "transit_authority",
        "transit_safety", "public_works", "traffic_authority", "infrastructure_authority",
    }
)  # fmt: skip
SOURCE_QUALITY: Final = {"official_direct": 1.0, "official_registry": 0.85, "heuristic": 0.45}
INFERRED_SOURCE_QUALITY: Final = 0.25
DEFAULT_MEMORY_SCORE: Final = 0.6
INFERRED_MEMORY_SCORE: Final = 0.35
WEIGHTS: Final = {
    "source_quality_score": 0.30,
    "role_fit_score": 0.25,
    "site_match_score": 0.20,
    "channel_quality_score": 0.15,
    "outcome_memory_score": 0.10,
    "confidence_score": 0.08,
}
_ASSET_ROLE_FIT: Final[dict[str, dict[str, float]]] = {
    "transit_station": {
        "transit_authority": 1.0, "transit_safety": 0.94, "public_safety": 0.84,
        "fire_authority": 0.84, "building_authority": 0.66,
    },
    "roadway": {
        "public_works": 0.97, "traffic_authority": 0.97, "infrastructure_authority": 0.97,
        "public_safety": 0.84,
    },
    "school": {
        "facility_manager": 0.98, "operator": 0.98, "building_authority": 0.9,
        "public_safety": 0.82, "fire_authority": 0.82,
    },
}  # fmt: skip
_ASSET_ROLE_FIT["bridge"] = _ASSET_ROLE_FIT["roadway"]
_DIGITAL_ROLE_FIT: Final[dict[str, dict[str, float]]] = {
    "digital_security": {"security": 1.0, "trust_safety": 0.88, "engineering": 0.8, "support": 0.7},
    "digital_product_bug": {
        "support": 0.95, "engineering": 0.9, "product_owner": 0.82, "operator": 0.78,
    },
    "digital_accessibility": {"support": 0.9, "product_owner": 0.88, "engineering": 0.8},
}  # fmt: skip
_FALLBACK_ROLE_FIT: Final = 0.55
_SCOPE_PHRASES: Final = {
    "site_ops": "can act directly at the site",
    "asset_owner": "appears accountable for the asset",
    "regulator": "has oversight or enforcement responsibility",
    "project_party": "is connected to the design or construction chain",
    "other": "is plausibly relevant to this case",
}
_SOURCE_PHRASES: Final = {
    "official_direct": "sourced from an official contact surface",
    "official_registry": "sourced from a directory or registry-style official page",
    "heuristic": "sourced from heuristic discovery",
}
_JURISDICTION_LABELS: Final = frozenset({"country", "country-name", "state", "city", "name"})


@dataclass(frozen=True, slots=True)
class RoutedTarget:
    """A target with its routing fields filled, and the endpoint's cooldown.

    Parameters
    ----------
    target : EscalationTarget
        Normalised, with every score, ``notify_tier``, ``send_eligibility``,
        ``execution_mode`` and ``reason_selected`` set.
    cooldown_until : datetime or None
        The endpoint memory's cooldown when it runs past ``now`` (the store keeps it on the
        target row).
    blocked : str
        Why the endpoint may not be contacted now (``""``: it may).
    """

    target: EscalationTarget
    cooldown_until: datetime | None = None
    blocked: str = ""


def _source_quality(target: EscalationTarget) -> float:
    if target.target_source == INFERRED_CONTACT:
        return INFERRED_SOURCE_QUALITY
    return SOURCE_QUALITY.get(target.attribution_class, SOURCE_QUALITY["heuristic"])


def _channel_quality(target: EscalationTarget) -> float:
    channel = target.channel
    if channel == "email":
        return 1.0 if target.attribution_class == "official_direct" else 0.9
    if channel == "website":
        return 0.8 if target.contact_url else 0.5
    return {"phone": 0.75, "social": 0.55}.get(channel, 0.3)


def _jurisdiction_words(key: str) -> tuple[str, ...]:
    words = []
    for part in key.replace("/", " ").replace(":", " ").split():
        if part in _JURISDICTION_LABELS:
            continue
        for word in part.replace("-", " ").split():
            if len(word) >= 3 and word not in _JURISDICTION_LABELS:
                words.append(word)
    return tuple(dict.fromkeys(words))


def _site_match(target: EscalationTarget, profile: RoutingProfile) -> float:
    corpus = " \n ".join(
        (target.organization, target.display_name, target.website, target.contact_url,
         target.source_url, target.evidence_text)
    ).lower()  # fmt: skip
    score = 0.2
    if kw.has_any(corpus, _jurisdiction_words(profile.jurisdiction_key)):
        score += 0.15
    if profile.asset_class != "general_site":
        asset_words = tuple(w for w in profile.asset_class.split("_") if len(w) >= 3)
        if kw.has_any(corpus, asset_words):
            score += 0.10
        if profile.asset_class.replace("_", " ") in corpus:
            score += 0.15
    if target.attribution_class == "official_direct":
        score += 0.20
    return min(1.0, max(0.2, score))


def _role_fit(target: EscalationTarget, profile: RoutingProfile) -> float:
    role, scope = target.role_type, target.decision_scope
    by_asset = _ASSET_ROLE_FIT.get(profile.asset_class, {})
    if role in by_asset:
        return by_asset[role]
    if profile.digital:
        return _DIGITAL_ROLE_FIT.get(profile.defect_class, {}).get(role, _FALLBACK_ROLE_FIT)
    if scope == "site_ops":
        return 0.92
    if scope == "asset_owner":
        return 0.8
    if scope == "regulator":
        return 0.9 if (profile.severe or profile.urgent or profile.immediate_danger) else 0.72
    if scope == "project_party":
        return 0.7 if profile.structural else 0.4
    return _FALLBACK_ROLE_FIT


def _adjustment(target: EscalationTarget, profile: RoutingProfile, cooling: bool) -> float:
    role, scope, defect = target.role_type, target.decision_scope, profile.defect_class
    change = 0.0
    if profile.immediate_danger and scope == "regulator":
        change += 0.08
    if defect == "digital_security" and role in ("security", "trust_safety"):
        change += 0.08
    if defect == "digital_product_bug" and role in ("support", "engineering", "product_owner"):
        change += 0.07
    if defect == "digital_accessibility" and role in ("support", "product_owner"):
        change += 0.06
    if scope == "project_party":
        change += 0.04 if profile.structural else -0.14
    if cooling:
        change -= 0.18
    return change


def _tier(target: EscalationTarget, profile: RoutingProfile) -> int:
    scope = target.decision_scope
    if scope in ("site_ops", "asset_owner"):
        return 1
    if scope == "regulator":
        return 1 if profile.hazard_mode == "emergency" else 2
    if scope == "project_party":
        return 3
    security = profile.defect_class == "digital_security"
    return 1 if security and target.role_type in ("security", "trust_safety") else 4


def _eligibility(
    target: EscalationTarget, profile: RoutingProfile, actionability: float, blocked: bool
) -> str:
    if blocked:
        return "hold"
    direct = bool(target.email or target.phone or target.contact_url)
    attribution = target.attribution_class
    official = attribution != "heuristic"
    pressing = profile.severe or profile.urgent or profile.immediate_danger
    scope = target.decision_scope
    if scope == "site_ops":
        if direct and official and actionability >= 0.72:
            return "auto"
        return "review" if direct else "hold"
    if scope == "asset_owner":
        if direct and attribution == "official_direct" and actionability >= 0.74:
            return "auto"
        return "review" if direct else "hold"
    if scope == "regulator":
        if direct and pressing and official and actionability >= 0.75:
            return "auto"
        return "review" if direct and official else "hold"
    if scope == "project_party":
        return "review" if profile.structural and direct and official else "hold"
    if direct and attribution == "official_direct" and actionability >= 0.68:
        return "review"
    return "hold"


def _execution_mode(target: EscalationTarget, eligibility: str) -> str:
    channel = target.channel
    if eligibility == "hold":
        return "hold"
    if channel == "email":
        return "auto" if eligibility == "auto" else "review"
    if channel == "phone":
        return "task"
    if channel == "website":
        return "task" if target.contact_url else "hold"
    return "review" if channel == "social" else "hold"


def _reason(target: EscalationTarget, profile: RoutingProfile, mode: str, blocked: str) -> str:
    role, scope = target.role_type, target.decision_scope
    clauses = [
        _SCOPE_PHRASES.get(scope, _SCOPE_PHRASES["other"]),
        _SOURCE_PHRASES.get(target.attribution_class, _SOURCE_PHRASES["heuristic"]),
    ]
    optional = (
        (profile.structural and scope == "regulator",
         "structural risk warrants authority oversight"),
        (profile.digital and role == "support",
         "support channel is the fastest credible path for a digital defect"),
        (profile.defect_class == "digital_security" and role == "security",
         "security-sensitive defects should reach security response directly"),
        (mode == "task",
         "best handled as a structured follow-up task rather than an immediate email blast"),
        (profile.structural and scope == "project_party",
         "structural risk makes project-chain stakeholders relevant"),
        (profile.asset_class == "transit_station" and role == "transit_authority",
         "transit infrastructure hazards are best routed to the station operator"),
        (profile.asset_class in ("roadway", "bridge")
         and role in ("public_works", "traffic_authority", "infrastructure_authority"),
         "road and bridge hazards should reach the infrastructure operator quickly"),
        (profile.immediate_danger and role == "public_safety",
         "immediate danger cues warrant public-safety awareness"),
    )  # fmt: skip
    clauses.extend(text for holds, text in optional if holds)
    if blocked:
        clauses.append(f"held in the last wave: {blocked}")
    return "; ".join(clauses)


def route_target(
    target: EscalationTarget,
    profile: RoutingProfile,
    *,
    memory: EndpointMemory | None = None,
    now: datetime,
) -> RoutedTarget | None:
    """Route one target (see the module docstring); None when it does not normalise.

    The target is normalised first (:func:`cleanapp_geo.targets.normalize_target`); its
    decision scope and attribution class are kept when set, else derived. The result depends
    only on the target's own fields, the profile, the memory and ``now``: previous routing
    scores on the target are ignored.

    Parameters
    ----------
    target : EscalationTarget
        Any target.
    profile : RoutingProfile
        The subject's profile.
    memory : EndpointMemory, optional
        The endpoint's memory (:func:`cleanapp_geo.targets.target_key`).
    now : datetime
        Reference time for cooldowns (timezone-aware).

    Returns
    -------
    RoutedTarget or None
    """
    normalised = normalize_target(target)
    if normalised is None:
        return None
    t = replace(
        normalised,
        decision_scope=normalised.decision_scope
        or ROLE_DECISION_SCOPES.get(normalised.role_type, "other"),
        attribution_class=normalised.attribution_class
        or attribution_class_of(normalised.verification_level, normalised.target_source),
        endpoint_key=normalised.endpoint_key or target_key(normalised),
        organization_key=normalised.organization_key
        or organization_key(normalised.organization or normalised.display_name),
    )
    blocked = blocked_reason(memory, now) or ""
    cooling = memory is not None and memory.in_cooldown(now)
    default_memory = (
        INFERRED_MEMORY_SCORE if t.target_source == INFERRED_CONTACT else DEFAULT_MEMORY_SCORE
    )
    scores = {
        "source_quality_score": _source_quality(t),
        "role_fit_score": _role_fit(t, profile),
        "site_match_score": _site_match(t, profile),
        "channel_quality_score": _channel_quality(t),
        "outcome_memory_score": outcome_memory_score(
            memory,
            role_type=t.role_type,
            asset_class=profile.asset_class,
            now=now,
            default=default_memory,
        ),
        "confidence_score": t.confidence_score,
    }
    base = sum(WEIGHTS[name] * value for name, value in scores.items())
    actionability = min(1.0, max(0.0, base + _adjustment(t, profile, cooling)))
    eligibility = _eligibility(t, profile, actionability, bool(blocked))
    mode = _execution_mode(t, eligibility)
    routed = replace(
        t,
        source_quality_score=scores["source_quality_score"],
        role_fit_score=scores["role_fit_score"],
        site_match_score=scores["site_match_score"],
        channel_quality_score=scores["channel_quality_score"],
        outcome_memory_score=scores["outcome_memory_score"],
        actionability_score=actionability,
        notify_tier=4 if blocked else _tier(t, profile),
        send_eligibility=eligibility,
        execution_mode=mode,
        reason_selected=_reason(t, profile, mode, blocked),
    )
    cooldown = memory.cooldown_until if memory is not None and cooling else None
    return RoutedTarget(target=routed, cooldown_until=cooldown, blocked=blocked)


def _order(routed: RoutedTarget) -> tuple[int, float, float, str, str]:
    t = routed.target
    return (
        t.notify_tier,
        -t.actionability_score,
        -t.confidence_score,
        t.display_name.casefold(),
        t.endpoint_key,
    )


def route_targets(
    targets: Iterable[EscalationTarget],
    profile: RoutingProfile,
    *,
    memory: Mapping[str, EndpointMemory] | None = None,
    now: datetime,
) -> tuple[RoutedTarget, ...]:
    """Route targets and order them: wave, actionability, confidence, name, key.

    Targets are merged first (:func:`cleanapp_geo.targets.merge_targets`: one per endpoint
    key; those that do not normalise are dropped); the order is total, so the result does
    not depend on the input order.

    Parameters
    ----------
    targets : iterable of EscalationTarget
        The subject's targets.
    profile : RoutingProfile
        The subject's profile.
    memory : mapping of str to EndpointMemory, optional
        Endpoint memory by endpoint key.
    now : datetime
        Reference time (timezone-aware).

    Returns
    -------
    tuple of RoutedTarget
    """
    memories = memory or {}
    out = []
    for target in merge_targets(targets):
        routed = route_target(target, profile, memory=memories.get(target.endpoint_key), now=now)
        if routed is not None:
            out.append(routed)
    return tuple(sorted(out, key=_order))
