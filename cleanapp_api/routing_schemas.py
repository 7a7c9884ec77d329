"""Wire types of contact routing (msgspec Structs; ``docs/routing.md``, ``docs/api.md``).

The keys are upstream's (reference §3.10, §7): a case detail and the escalations view carry
``contact_observations`` / ``observations``, ``notify_plan``, ``routing_profile``,
``execution_tasks`` and ``notify_outcomes``; ``POST .../outcome`` answers a task, its
outcome and the endpoint's memory. JSON columns (``payload_json``, ``evidence_json``,
``context_json``) are JSON *text*, as upstream exposes them. Keys beyond upstream are marked
"new".
"""

from __future__ import annotations

import msgspec

__all__ = [
    "ContactObservationJSON",
    "EndpointMemoryJSON",
    "ExecutionOutcomeRequest",
    "ExecutionOutcomeResponse",
    "ExecutionTaskJSON",
    "NotifyOutcomeJSON",
    "NotifyPlanItemJSON",
    "NotifyPlanJSON",
    "NotifyWaveJSON",
    "ReportContactStrategyResponse",
    "ReportEscalationTargetJSON",
    "RoutingProfileJSON",
]


class ContactObservationJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A contact value of a visible target, as the last routing saw it.

    ``id`` and ``case_id`` are absent for a solo report (its observations are not stored);
    ``target_id`` and ``endpoint_key`` are new.
    """

    id: int | None = None
    case_id: str | None = None
    target_id: int | None = None
    endpoint_key: str
    role_type: str
    decision_scope: str
    organization_name: str
    person_name: str
    channel_type: str
    channel_value: str
    email: str
    phone: str
    website: str
    contact_url: str
    social_platform: str
    social_handle: str
    source_url: str
    evidence_text: str
    verification_level: str
    attribution_class: str
    confidence_score: float
    target_source: str
    discovered_at: str


class NotifyPlanItemJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One target in the notify plan.

    New: ``endpoint_key``, ``channel``, ``execution_mode`` and ``recipient_role`` (``to``,
    ``cc``, ``task``, or ``""`` when not selected).
    """

    id: int | None = None
    plan_id: int | None = None
    target_id: int | None = None
    observation_id: int | None = None
    endpoint_key: str
    wave_number: int
    priority_rank: int
    role_type: str
    decision_scope: str
    channel: str
    actionability_score: float
    send_eligibility: str
    execution_mode: str
    recipient_role: str
    reason_selected: str
    selected: bool
    created_at: str = ""


class NotifyWaveJSON(msgspec.Struct, kw_only=True):
    """A wave of the plan (new): its number, how many items it holds and how many are selected."""

    wave_number: int
    item_count: int
    selected_count: int


class NotifyPlanJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``CaseNotifyPlan``: the active plan, its items (wave, rank order) and ``waves`` (new).

    ``id``, ``case_id`` and the timestamps are absent for a solo report's plan (not stored).
    """

    id: int | None = None
    case_id: str | None = None
    plan_version: int
    hazard_mode: str
    status: str
    summary: str
    created_at: str = ""
    updated_at: str = ""
    waves: list[NotifyWaveJSON]
    items: list[NotifyPlanItemJSON]


class RoutingProfileJSON(msgspec.Struct, kw_only=True):
    """A case's or a report's routing profile; ``context_json`` holds the flags (JSON text).

    ``hazard_mode`` (also in ``context_json``) is new.
    """

    subject_kind: str
    subject_ref: str
    classification: str
    defect_class: str
    defect_mode: str
    asset_class: str
    jurisdiction_key: str
    exposure_mode: str
    severity_band: str
    urgency_band: str
    hazard_mode: str
    context_json: str
    refreshed_at: str


class ExecutionTaskJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A task for a person (a call, a contact form); ``payload_json`` is JSON text.

    ``task_status``: ``pending`` until an outcome is recorded, then ``completed``.
    ``endpoint_key`` is new.
    """

    id: int
    subject_kind: str
    subject_ref: str
    target_id: int | None = None
    endpoint_key: str
    wave_number: int
    role_type: str
    channel_type: str
    execution_mode: str
    task_status: str
    summary: str
    payload_json: str
    assigned_user_id: str = ""
    due_at: str | None = None
    completed_at: str | None = None
    created_at: str
    updated_at: str


class NotifyOutcomeJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What happened: a delivery's result or a task's recorded outcome (the stored row)."""

    id: int
    subject_kind: str
    subject_ref: str
    target_id: int | None = None
    endpoint_key: str
    outcome_type: str
    source_type: str
    source_ref: str
    evidence_json: str
    recorded_at: str


class EndpointMemoryJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``ContactEndpointMemory``: what outcomes taught about one endpoint, across subjects."""

    endpoint_key: str
    organization_key: str
    channel_type: str
    channel_value: str
    last_result: str
    success_count: int
    bounce_count: int
    ack_count: int
    fix_count: int
    misroute_count: int
    no_response_count: int
    last_contacted_at: str | None = None
    cooldown_until: str | None = None
    preferred_for_role_type: str
    preferred_for_asset_class: str
    updated_at: str


class ExecutionOutcomeRequest(msgspec.Struct, kw_only=True):
    """``POST .../execution-tasks/{task_id}/outcome`` (and the report variants).

    ``outcome_type`` (required): ``acknowledged`` (``ack``), ``fixed`` (``resolved``),
    ``misrouted`` (``wrong_recipient``), ``no_response``, ``bounced`` (``bounce``), ``sent``
    (``delivered``) or ``opted_out`` (new), any case. ``actor_user_id`` is honoured for
    service tokens only.
    """

    outcome_type: str | None = None
    note: str | None = None
    actor_user_id: str | None = None


class ExecutionOutcomeResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The completed task, the stored outcome (with its id) and the endpoint's memory."""

    task: ExecutionTaskJSON
    outcome: NotifyOutcomeJSON
    endpoint_memory: EndpointMemoryJSON | None = None


class ReportEscalationTargetJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A solo report's stored escalation target (``report_escalation_targets``)."""

    id: int
    report_seq: int
    role_type: str
    decision_scope: str
    endpoint_key: str
    organization_key: str
    organization: str
    display_name: str
    channel: str
    email: str
    phone: str
    website: str
    contact_url: str
    social_platform: str
    social_handle: str
    source_url: str
    evidence_text: str
    verification_level: str
    attribution_class: str
    target_source: str
    confidence_score: float
    site_match_score: float
    source_quality_score: float
    role_fit_score: float
    channel_quality_score: float
    outcome_memory_score: float
    actionability_score: float
    notify_tier: int
    send_eligibility: str
    execution_mode: str
    cooldown_until: str | None = None
    reason_selected: str
    rationale: str
    created_at: str
    updated_at: str


class ReportContactStrategyResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /reports/contact-strategy/...``: who to notify about a solo report, and how.

    ``escalation_targets`` are the visible routed targets (wave, then actionability);
    ``contact_observations`` and ``notify_plan`` are computed on each request (not stored,
    so they carry no ids); ``execution_tasks`` and ``notify_outcomes`` are stored (their
    outcomes are recorded through the ``.../tasks/{task_id}/outcome`` routes). ``refreshed``
    says whether the targets were suggested again from the stored sources; the arrays are
    ``[]`` when empty and ``notify_plan`` / ``routing_profile`` absent without targets.
    ``contact_strategy_stale`` is never set (the refresh reads only the store).
    """

    report_seq: int
    public_id: str
    escalation_targets: list[ReportEscalationTargetJSON]
    contact_observations: list[ContactObservationJSON]
    notify_plan: NotifyPlanJSON | None = None
    routing_profile: RoutingProfileJSON | None = None
    execution_tasks: list[ExecutionTaskJSON]
    notify_outcomes: list[NotifyOutcomeJSON]
    refreshed: bool
    contact_strategy_stale: bool = False
