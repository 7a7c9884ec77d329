"""Contact routing: who to notify about a case, in which waves, and what happened (pure).

A case (or a solo report) is read as a :class:`RoutingProfile`; each of its escalation
targets is scored and given a wave, a send eligibility and an execution mode
(:func:`route_targets`), using what earlier outcomes taught about its endpoint
(:class:`EndpointMemory`); the routed targets become contact observations, a notify plan
in waves and execution tasks for people (:func:`build_notify_plan`,
:func:`execution_tasks`). An outcome -- a delivery's bounce, an acknowledgement recorded
after a call -- updates the endpoint's memory (:func:`apply_outcome`), which changes the
next plan. ``docs/routing.md`` walks through one case.

=========================================  ==============================================
module                                     what
=========================================  ==============================================
:mod:`~cleanapp_geo.routing.keywords`      the word lists, matched at word starts
:mod:`~cleanapp_geo.routing.profile`       hazard profile, routing profile, vocabulary
:mod:`~cleanapp_geo.routing.scoring`       per-target scores, wave, eligibility, mode
:mod:`~cleanapp_geo.routing.plan`          observations, notify plan, execution tasks
:mod:`~cleanapp_geo.routing.memory`        outcomes, endpoint memory, cooldowns
=========================================  ==============================================

Examples
--------
>>> from datetime import UTC, datetime
>>> from cleanapp_geo.routing import build_notify_plan, route_targets, routing_profile
>>> from cleanapp_geo.targets import EscalationTarget
>>> profile = routing_profile(["Facade bricks falling over school entrance"], severity=0.92)
>>> routed = route_targets([
...     EscalationTarget(role_type="facility_manager", email="hausdienst@schule-zh.ch",
...                      organization="Schule Zürich", target_source="area_contact",
...                      confidence_score=0.9),
...     EscalationTarget(role_type="contractor", email="info@bau-ag.ch",
...                      organization="Bau AG", confidence_score=0.7),
... ], profile, now=datetime(2026, 3, 10, tzinfo=UTC))
>>> plan = build_notify_plan([r.target for r in routed], profile)
>>> [(i.endpoint_key, i.wave_number, i.send_eligibility, i.selected) for i in plan.items]
... # doctest: +NORMALIZE_WHITESPACE
[('email:hausdienst@schule-zh.ch', 1, 'auto', True),
 ('email:info@bau-ag.ch', 3, 'hold', False)]
"""

from __future__ import annotations

from cleanapp_geo.routing.memory import (
    BLOCKING_RESULTS,
    COOLDOWNS,
    OUTCOME_TYPES,
    EndpointMemory,
    InvalidOutcomeError,
    apply_outcome,
    blocked_reason,
    delivery_outcome,
    normalize_outcome_type,
    outcome_memory_score,
    outcome_summary,
)
from cleanapp_geo.routing.plan import (
    PLAN_STATUSES,
    RECIPIENT_ROLES,
    ContactObservation,
    ExecutionTaskSpec,
    NotifyPlan,
    PlanItem,
    build_notify_plan,
    contact_observations,
    endpoint_rank,
    execution_tasks,
    organization_bucket,
    target_label,
)
from cleanapp_geo.routing.profile import (
    ASSET_CLASSES,
    DEFECT_CLASSES,
    DEFECT_MODES,
    EXPOSURE_MODES,
    HAZARD_MODES,
    SEVERITY_BANDS,
    SUBJECT_KINDS,
    URGENCY_BANDS,
    HazardProfile,
    InvalidProfileError,
    RoutingProfile,
    hazard_profile,
    infer_asset_class,
    infer_defect_class,
    routing_profile,
)
from cleanapp_geo.routing.scoring import AUTHORITY_ROLES, RoutedTarget, route_target, route_targets

__all__ = [
    "ASSET_CLASSES",
    "AUTHORITY_ROLES",
    "BLOCKING_RESULTS",
    "COOLDOWNS",
    "DEFECT_CLASSES",
    "DEFECT_MODES",
    "EXPOSURE_MODES",
    "HAZARD_MODES",
    "OUTCOME_TYPES",
    "PLAN_STATUSES",
    "RECIPIENT_ROLES",
    "SEVERITY_BANDS",
    "SUBJECT_KINDS",
    "URGENCY_BANDS",
    "ContactObservation",
    "EndpointMemory",
    "ExecutionTaskSpec",
    "HazardProfile",
    "InvalidOutcomeError",
    "InvalidProfileError",
    "NotifyPlan",
    "PlanItem",
    "RoutedTarget",
    "RoutingProfile",
    "apply_outcome",
    "blocked_reason",
    "build_notify_plan",
    "contact_observations",
    "delivery_outcome",
    "endpoint_rank",
    "execution_tasks",
    "hazard_profile",
    "infer_asset_class",
    "infer_defect_class",
    "normalize_outcome_type",
    "organization_bucket",
    "outcome_memory_score",
    "outcome_summary",
    "route_target",
    "route_targets",
    "routing_profile",
    "target_label",
]
