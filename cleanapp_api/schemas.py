"""Wire types of the Cases API (msgspec Structs).

Field names are exactly the upstream / web-client names (see ``docs/api.md``); fields
upstream omits when empty are declared with a ``None`` default on ``omit_defaults``
Structs, every other field is always sent. Lists are always arrays (``[]``, never
``null``). Timestamps are RFC 3339 strings in UTC as Go marshals them
(:func:`rfc3339`). JSON columns are sent as JSON *text* (``geometry_json``, ``stats_json``,
...; ``""`` when absent), as upstream does.

Requests accept ``null`` for every optional field (Go's binding ignores nulls) and ignore
unknown fields. Keys added beyond upstream are marked "new" below.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from cleanapp_api.common.timefmt import rfc3339
from cleanapp_api.routing_schemas import (
    ContactObservationJSON,
    ExecutionTaskJSON,
    NotifyOutcomeJSON,
    NotifyPlanJSON,
    RoutingProfileJSON,
)

__all__ = [
    "AddReportsRequest",
    "AnalysisJSON",
    "AnalyzeRequest",
    "AuditEvent",
    "Case",
    "CaseDetail",
    "CaseListItem",
    "CaseListResponse",
    "CaseMatchCandidateJSON",
    "CaseReportLink",
    "CaseUpsertResponse",
    "ClusterAnalysisResponse",
    "ClusterStatsJSON",
    "CreateCaseRequest",
    "EmailDelivery",
    "EscalationAction",
    "EscalationTarget",
    "EscalationTargetInput",
    "ExplainPairRequest",
    "FromReportRequest",
    "HypothesisJSON",
    "MatchClusterRequest",
    "MatchClusterResponse",
    "MergeCasesRequest",
    "PairExplanationJSON",
    "ReportCaseSummary",
    "ReportCasesResponse",
    "ReportJSON",
    "ReportWithAnalysis",
    "ResolutionSignal",
    "SavedCluster",
    "StatusRequest",
    "rfc3339",
]


# =========================================================================== requests


class AnalyzeRequest(msgspec.Struct, kw_only=True):
    """``POST /clusters/analyze`` (``POST /clusters/analyze``).

    ``model`` (new) picks the similarity preset: ``"default"`` (ours, the default) or
    ``"upstream"`` (the Go system's weights, stop words and threshold).
    """

    geometry: dict[str, Any] | None = None
    classification: str | None = None
    n: int | None = None
    model: str | None = None


class FromReportRequest(msgspec.Struct, kw_only=True):
    """``POST /clusters/from-report``; ``radius_m`` (new) wins over ``radius_km``."""

    seq: int | None = None
    radius_km: float | None = None
    radius_m: float | None = None
    n: int | None = None
    classification: str | None = None
    model: str | None = None


class MatchClusterRequest(msgspec.Struct, kw_only=True):
    """``POST /cases/match-cluster`` (``POST /cases/match-cluster``)."""

    geometry: dict[str, Any] | None = None
    classification: str | None = None
    report_seqs: list[int] | None = None
    title: str | None = None
    summary: str | None = None
    n: int | None = None


class EscalationTargetInput(msgspec.Struct, kw_only=True):
    """A target in a create request; every column of ``case_escalation_targets`` is kept."""

    role_type: str | None = None
    decision_scope: str | None = None
    endpoint_key: str | None = None
    organization_key: str | None = None
    organization: str | None = None
    display_name: str | None = None
    channel: str | None = None
    email: str | None = None
    phone: str | None = None
    website: str | None = None
    contact_url: str | None = None
    source_url: str | None = None
    social_platform: str | None = None
    social_handle: str | None = None
    evidence_text: str | None = None
    verification_level: str | None = None
    attribution_class: str | None = None
    target_source: str | None = None
    confidence_score: float | None = None
    site_match_score: float | None = None
    source_quality_score: float | None = None
    role_fit_score: float | None = None
    channel_quality_score: float | None = None
    outcome_memory_score: float | None = None
    actionability_score: float | None = None
    notify_tier: int | None = None
    send_eligibility: str | None = None
    execution_mode: str | None = None
    cooldown_until: datetime | None = None
    rationale: str | None = None
    reason_selected: str | None = None


class CreateCaseRequest(msgspec.Struct, kw_only=True):
    """``POST /cases`` and ``POST /cases/upsert-from-cluster``."""

    title: str | None = None
    type: str | None = None
    status: str | None = None
    classification: str | None = None
    summary: str | None = None
    uncertainty_notes: str | None = None
    geometry: dict[str, Any] | None = None
    anchor_report_seq: int | None = None
    report_seqs: list[int] | None = None
    existing_case_id: str | None = None
    force_new_case: bool | None = None
    cluster_summary: str | None = None
    cluster_source_type: str | None = None
    cluster_stats: Any = None
    cluster_analysis: Any = None
    escalation_targets: list[EscalationTargetInput] | None = None


class MergeCasesRequest(msgspec.Struct, kw_only=True):
    """``POST /cases/merge`` (``POST /cases/merge``)."""

    target_case_id: str | None = None
    source_case_ids: list[str] | None = None


class AddReportsRequest(msgspec.Struct, kw_only=True):
    """``POST /cases/{case_id}/reports`` (``POST /cases/{id}/reports``)."""

    report_seqs: list[int] | None = None
    link_reason: str | None = None
    confidence: float | None = None


class StatusRequest(msgspec.Struct, kw_only=True):
    """``POST /cases/{case_id}/status``; ``actor_user_id`` counts for service tokens."""

    status: str | None = None
    summary: str | None = None
    payload: Any = None
    actor_user_id: str | None = None


# =========================================================================== analysis


class ReportJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The ``report`` of an upstream ``ReportWithAnalysis`` (``description`` omitted when "")."""

    seq: int
    public_id: str
    timestamp: str
    id: str
    team: int
    latitude: float
    longitude: float
    x: float
    y: float
    description: str = ""
    last_email_sent_at: str | None


class AnalysisJSON(msgspec.Struct, kw_only=True):
    """One analysis row of a report (every row, ordered by language)."""

    seq: int
    source: str
    analysis_text: str
    title: str
    description: str
    brand_name: str
    brand_display_name: str
    litter_probability: float
    hazard_probability: float
    digital_bug_probability: float
    severity_level: float
    summary: str
    language: str
    classification: str
    inferred_contact_emails: str
    is_valid: bool
    created_at: str
    updated_at: str


class ReportWithAnalysis(msgspec.Struct, kw_only=True):
    """``{"report": {...}, "analysis": [...]}``."""

    report: ReportJSON
    analysis: list[AnalysisJSON]


class ClusterStatsJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Scope statistics; first/last seen omitted when no report."""

    classification: str
    report_count: int
    severity_average: float
    severity_max: float
    high_priority_count: int
    medium_priority_count: int
    first_seen_at: str | None = None
    last_seen_at: str | None = None
    classification_breakdown: dict[str, int]


class HypothesisJSON(msgspec.Struct, kw_only=True):
    """An incident hypothesis."""

    hypothesis_id: str
    title: str
    classification: str
    representative_report_seq: int
    report_seqs: list[int]
    report_count: int
    confidence: float
    severity_score: float
    urgency_score: float
    rationale: list[str]


class CaseMatchCandidateJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A candidate case; ``suggested_action``, ``band``, ``distance_m`` new."""

    case_id: str
    slug: str
    title: str
    status: str
    classification: str
    summary: str
    geometry_json: str
    aggregate_geometry_json: str
    aggregate_bbox_json: str
    anchor_report_seq: int | None = None
    anchor_lat: float | None = None
    anchor_lng: float | None = None
    cluster_count: int
    linked_report_count: int
    shared_report_count: int
    match_score: float
    match_reasons: list[str]
    updated_at: str
    suggested_action: str
    band: str
    distance_m: float | None


class ClusterAnalysisResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Analysis response. ``model`` and ``radius_m`` are new; ``radius_m`` only for from-report."""

    scope_type: str
    classification: str
    anchor_report_seq: int | None = None
    geometry: dict[str, Any] | None = None
    radius_m: float | None = None
    model: str
    reports: list[ReportWithAnalysis]
    stats: ClusterStatsJSON
    hypotheses: list[HypothesisJSON]
    suggested_targets: list[Any]
    candidate_cases: list[CaseMatchCandidateJSON]


class MatchClusterResponse(msgspec.Struct, kw_only=True):
    """``POST /cases/match-cluster`` response."""

    classification: str
    candidate_cases: list[CaseMatchCandidateJSON]


# =========================================================================== cases


class Case(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A case row; nullable columns are omitted when null."""

    case_id: str
    slug: str
    title: str
    type: str
    status: str
    classification: str
    summary: str
    uncertainty_notes: str
    geometry_json: str
    aggregate_geometry_json: str
    aggregate_bbox_json: str
    anchor_report_seq: int | None = None
    anchor_lat: float | None = None
    anchor_lng: float | None = None
    building_id: str | None = None
    parcel_id: str | None = None
    severity_score: float
    urgency_score: float
    confidence_score: float
    exposure_score: float
    criticality_score: float
    trend_score: float
    cluster_count: int
    linked_report_count: int
    first_seen_at: str | None = None
    last_seen_at: str | None = None
    last_cluster_at: str | None = None
    merged_into_case_id: str | None = None
    created_by_user_id: str
    created_at: str
    updated_at: str


class CaseReportLink(msgspec.Struct, kw_only=True):
    """A linked report in a case detail."""

    case_id: str
    seq: int
    public_id: str
    link_reason: str
    confidence: float
    attached_at: str
    title: str
    summary: str
    classification: str
    severity_level: float
    latitude: float
    longitude: float
    report_timestamp: str
    last_email_sent_at: str | None
    recipient_count: int


class SavedCluster(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A cluster snapshot linked to a case.

    ``match_score``, ``match_reason`` and ``linked_at`` (from the case link) are new.
    """

    cluster_id: str
    source_type: str
    classification: str
    geometry_json: str
    bbox_json: str
    centroid_lat: float | None = None
    centroid_lng: float | None = None
    cluster_fingerprint: str
    seed_report_seq: int | None = None
    report_count: int
    summary: str
    stats_json: str
    analysis_json: str
    created_by_user_id: str
    created_at: str
    updated_at: str
    match_score: float
    match_reason: str
    linked_at: str


class EscalationTarget(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A stored escalation target."""

    id: int
    case_id: str
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


class EscalationAction(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One escalation send to one target."""

    id: int
    case_id: str
    target_id: int | None = None
    channel: str
    status: str
    subject: str
    body: str
    attachments_json: str
    sent_by_user_id: str
    provider_message_id: str
    sent_at: str | None = None
    created_at: str


class EmailDelivery(msgspec.Struct, kw_only=True):
    """One e-mail recipient of a send."""

    id: int
    case_id: str
    action_id: int | None
    target_id: int | None
    recipient_email: str
    delivery_status: str
    delivery_source: str
    provider: str
    provider_message_id: str
    sent_at: str | None
    error_message: str
    created_at: str
    updated_at: str


class ResolutionSignal(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A resolution signal."""

    id: int
    case_id: str
    source_type: str
    summary: str
    linked_report_seq: int | None = None
    metadata_json: str
    created_at: str


class AuditEvent(msgspec.Struct, kw_only=True):
    """An audit event; ``payload_json`` is JSON text."""

    id: int
    case_id: str
    event_type: str
    actor_user_id: str | None
    payload_json: str
    created_at: str


class CaseDetail(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``CaseDetail``: the case and everything attached to it.

    Contact routing (``docs/routing.md``): ``contact_observations``, ``execution_tasks`` and
    ``notify_outcomes`` (``[]`` when empty); ``notify_plan`` and ``routing_profile`` are
    omitted until the case has been routed.
    """

    case: Case
    linked_reports: list[CaseReportLink]
    clusters: list[SavedCluster]
    escalation_targets: list[EscalationTarget]
    contact_observations: list[ContactObservationJSON]
    notify_plan: NotifyPlanJSON | None = None
    routing_profile: RoutingProfileJSON | None = None
    execution_tasks: list[ExecutionTaskJSON]
    notify_outcomes: list[NotifyOutcomeJSON]
    escalation_actions: list[EscalationAction]
    email_deliveries: list[EmailDelivery]
    resolution_signals: list[ResolutionSignal]
    audit_events: list[AuditEvent]


class CaseUpsertResponse(CaseDetail, kw_only=True):
    """Create/attach response: the detail plus what happened (all four keys new).

    ``action`` is ``created`` (HTTP 201) or ``attached`` (HTTP 200); ``match_score`` and
    ``match_reasons`` explain the choice; ``candidate_cases`` are the cases that were
    considered.
    """

    action: str
    match_score: float
    match_reasons: list[str]
    candidate_cases: list[CaseMatchCandidateJSON]


class ReportCaseSummary(msgspec.Struct, kw_only=True):
    """A case holding a report (``GET /reports/cases``)."""

    case_id: str
    slug: str
    title: str
    status: str
    classification: str
    summary: str
    severity_score: float
    urgency_score: float
    updated_at: str
    escalation_target_count: int
    delivery_count: int


class ReportCasesResponse(msgspec.Struct, kw_only=True):
    """``GET /reports/cases`` response."""

    seq: int
    cases: list[ReportCaseSummary]


class CaseListItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A case in the case list (``GET /cases``, *new*)."""

    case_id: str
    slug: str
    title: str
    status: str
    classification: str
    summary: str
    severity_score: float
    urgency_score: float
    linked_report_count: int
    anchor_lat: float | None = None
    anchor_lng: float | None = None
    distance_m: float | None = None
    created_by_user_id: str
    updated_at: str


class CaseListResponse(msgspec.Struct, kw_only=True):
    """``GET /cases`` response: the matching cases, most recently updated first.

    ``next_cursor`` (*new*) pages on (pass it as ``cursor``); null on the last page.
    """

    cases: list[CaseListItem]
    next_cursor: str | None = None


class ExplainPairRequest(msgspec.Struct, kw_only=True):
    """``POST /clusters/explain-pair`` body (*new*)."""

    focal_seq: int | None = None
    neighbor_seq: int | None = None
    model: str | None = None
    classification: str | None = None


class PairExplanationJSON(msgspec.Struct, kw_only=True):
    """Why two reports are, or are not, grouped: one entry per feature."""

    focal_seq: int
    neighbor_seq: int
    model: str
    score: float
    threshold: float
    is_edge: bool
    contributions: dict[str, float]
    kernels: dict[str, float]
    measures: dict[str, float]
    reasons: list[str]
    shared_tokens: list[str]
    unknown: list[str]
