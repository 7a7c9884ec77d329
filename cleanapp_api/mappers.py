"""Rows of the store → the wire Structs of :mod:`cleanapp_api.schemas`.

The repositories read rows; these functions give them their wire form, so a field's wire
spelling is decided next to the schemas, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import msgspec
import sqlalchemy as sa

from cleanapp_api.common.timefmt import rfc3339
from cleanapp_api.matching_schemas import GroupSuggestionJSON, NearbyCase, SuggestionJSON
from cleanapp_api.routing_schemas import (
    ContactObservationJSON,
    EndpointMemoryJSON,
    ExecutionTaskJSON,
    NotifyOutcomeJSON,
    NotifyPlanItemJSON,
    NotifyPlanJSON,
    NotifyWaveJSON,
    RoutingProfileJSON,
)
from cleanapp_api.schemas import (
    AuditEvent,
    Case,
    CaseListItem,
    CaseReportLink,
    EmailDelivery,
    EscalationAction,
    EscalationTarget,
    ReportCaseSummary,
    ResolutionSignal,
    SavedCluster,
)

__all__ = [
    "action_from_row",
    "audit_from_row",
    "case_from_row",
    "case_list_item_from_row",
    "cluster_from_row",
    "delivery_from_row",
    "group_suggestion_from_row",
    "json_text",
    "link_from_row",
    "memory_json",
    "nearby_case_from_row",
    "observation_json",
    "outcome_json",
    "plan_json",
    "plan_waves",
    "profile_json",
    "report_case_from_row",
    "signal_from_row",
    "suggestion_from_row",
    "target_from_row",
    "task_json",
    "timestamp_text",
]


def json_text(value: Any) -> str:
    """JSON column → JSON text (``""`` when NULL), as upstream exposes JSON columns."""
    if value is None:
        return ""
    return msgspec.json.encode(value).decode()


def timestamp_text(value: datetime | None) -> str:
    """Return a stored timestamp as wire text (``""`` when NULL)."""
    text = rfc3339(value)
    return "" if text is None else text


def case_from_row(row: Any) -> Case:
    """Wire form of a ``cases`` row."""
    return Case(
        case_id=row["case_id"],
        slug=row["slug"],
        title=row["title"],
        type=row["type"],
        status=row["status"],
        classification=row["classification"],
        summary=row["summary"],
        uncertainty_notes=row["uncertainty_notes"],
        geometry_json=json_text(row["geometry_json"]),
        aggregate_geometry_json=json_text(row["aggregate_geometry_json"]),
        aggregate_bbox_json=json_text(row["aggregate_bbox_json"]),
        anchor_report_seq=row["anchor_report_seq"],
        anchor_lat=row["anchor_lat"],
        anchor_lng=row["anchor_lng"],
        building_id=row["building_id"],
        parcel_id=row["parcel_id"],
        severity_score=row["severity_score"],
        urgency_score=row["urgency_score"],
        confidence_score=row["confidence_score"],
        exposure_score=row["exposure_score"],
        criticality_score=row["criticality_score"],
        trend_score=row["trend_score"],
        cluster_count=row["cluster_count"],
        linked_report_count=row["linked_report_count"],
        first_seen_at=rfc3339(row["first_seen_at"]),
        last_seen_at=rfc3339(row["last_seen_at"]),
        last_cluster_at=rfc3339(row["last_cluster_at"]),
        merged_into_case_id=row["merged_into_case_id"],
        created_by_user_id=row["created_by_user_id"],
        created_at=timestamp_text(row["created_at"]),
        updated_at=timestamp_text(row["updated_at"]),
    )


def action_from_row(row: sa.RowMapping) -> EscalationAction:
    """Wire form of a ``case_escalation_actions`` row."""
    return EscalationAction(
        id=row["id"],
        case_id=row["case_id"],
        target_id=row["target_id"],
        channel=row["channel"],
        status=row["status"],
        subject=row["subject"] or "",
        body=row["body"] or "",
        attachments_json=json_text(row["attachments_json"]),
        sent_by_user_id=row["sent_by_user_id"] or "",
        provider_message_id=row["provider_message_id"] or "",
        sent_at=rfc3339(row["sent_at"]),
        created_at=timestamp_text(row["created_at"]),
    )


def delivery_from_row(row: sa.RowMapping) -> EmailDelivery:
    """Wire form of a ``case_email_deliveries`` row."""
    return EmailDelivery(
        id=row["id"],
        case_id=row["case_id"],
        action_id=row["action_id"],
        target_id=row["target_id"],
        recipient_email=row["recipient_email"],
        delivery_status=row["delivery_status"],
        delivery_source=row["delivery_source"],
        provider=row["provider"],
        provider_message_id=row["provider_message_id"] or "",
        sent_at=rfc3339(row["sent_at"]),
        error_message=row["error_message"] or "",
        created_at=timestamp_text(row["created_at"]),
        updated_at=timestamp_text(row["updated_at"]),
    )


def link_from_row(row: Any) -> CaseReportLink:
    """Wire form of a linked report (a ``case_reports`` row with its report and analysis)."""
    return CaseReportLink(
        case_id=row["case_id"],
        seq=row["seq"],
        public_id=row["public_id"],
        link_reason=row["link_reason"],
        confidence=row["confidence"],
        attached_at=timestamp_text(row["attached_at"]),
        title=row["title"],
        summary=row["summary"],
        classification=row["classification"],
        severity_level=row["severity_level"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        report_timestamp=timestamp_text(row["ts"]),
        last_email_sent_at=None,
        recipient_count=0,
    )


def cluster_from_row(row: Any) -> SavedCluster:
    """Wire form of a ``saved_clusters`` row with its ``case_clusters`` link."""
    return SavedCluster(
        cluster_id=row["cluster_id"],
        source_type=row["source_type"],
        classification=row["classification"],
        geometry_json=json_text(row["geometry_json"]),
        bbox_json=json_text(row["bbox_json"]),
        centroid_lat=row["centroid_lat"],
        centroid_lng=row["centroid_lng"],
        cluster_fingerprint=row["cluster_fingerprint"],
        seed_report_seq=row["seed_report_seq"],
        report_count=row["report_count"],
        summary=row["summary"],
        stats_json=json_text(row["stats_json"]),
        analysis_json=json_text(row["analysis_json"]),
        created_by_user_id=row["created_by_user_id"],
        created_at=timestamp_text(row["created_at"]),
        updated_at=timestamp_text(row["updated_at"]),
        match_score=row["match_score"],
        match_reason=row["match_reason"] or "",
        linked_at=timestamp_text(row["linked_at"]),
    )


#: Target text columns that are NULL in the store and "" on the wire.
_TARGET_TEXT: Final = (
    "organization", "display_name", "email", "phone", "website", "contact_url",
    "social_platform", "social_handle", "source_url", "evidence_text", "verification_level",
    "reason_selected", "rationale",
)  # fmt: skip


def target_from_row(row: Any) -> EscalationTarget:
    """Wire form of a ``case_escalation_targets`` row."""
    values = dict(row)
    for name in _TARGET_TEXT:
        values[name] = values[name] or ""
    values["cooldown_until"] = rfc3339(values["cooldown_until"])
    values["created_at"] = timestamp_text(values["created_at"])
    return EscalationTarget(**values)


def signal_from_row(row: Any) -> ResolutionSignal:
    """Wire form of a ``case_resolution_signals`` row."""
    return ResolutionSignal(
        id=row["id"],
        case_id=row["case_id"],
        source_type=row["source_type"],
        summary=row["summary"],
        linked_report_seq=row["linked_report_seq"],
        metadata_json=json_text(row["metadata_json"]),
        created_at=timestamp_text(row["created_at"]),
    )


def audit_from_row(row: Any) -> AuditEvent:
    """Wire form of a ``case_audit_events`` row."""
    return AuditEvent(
        id=row["id"],
        case_id=row["case_id"],
        event_type=row["event_type"],
        actor_user_id=row["actor_user_id"],
        payload_json=json_text(row["payload_json"]),
        created_at=timestamp_text(row["created_at"]),
    )


def report_case_from_row(row: Any) -> ReportCaseSummary:
    """Wire form of a case holding a report (with its target and delivery counts)."""
    return ReportCaseSummary(
        case_id=row["case_id"],
        slug=row["slug"],
        title=row["title"],
        status=row["status"],
        classification=row["classification"],
        summary=row["summary"],
        severity_score=row["severity_score"],
        urgency_score=row["urgency_score"],
        updated_at=timestamp_text(row["updated_at"]),
        escalation_target_count=int(row["targets"]),
        delivery_count=int(row["deliveries"]),
    )


def case_list_item_from_row(row: Any) -> CaseListItem:
    """Wire form of a case in the case list (``distance_m`` rounded to 0.1 m when asked)."""
    distance = row["distance_m"]
    return CaseListItem(
        case_id=row["case_id"],
        slug=row["slug"],
        title=row["title"],
        status=row["status"],
        classification=row["classification"],
        summary=row["summary"],
        severity_score=row["severity_score"],
        urgency_score=row["urgency_score"],
        linked_report_count=row["linked_report_count"],
        anchor_lat=row["anchor_lat"],
        anchor_lng=row["anchor_lng"],
        distance_m=None if distance is None else round(float(distance), 1),
        created_by_user_id=row["created_by_user_id"],
        updated_at=timestamp_text(row["updated_at"]),
    )


def nearby_case_from_row(row: Any) -> NearbyCase:
    """Wire form of a case near a point (``distance_m`` rounded to 0.1 m)."""
    return NearbyCase(
        case_id=row["case_id"],
        slug=row["slug"],
        title=row["title"],
        status=row["status"],
        classification=row["classification"],
        severity_score=row["severity_score"],
        urgency_score=row["urgency_score"],
        linked_report_count=row["linked_report_count"],
        distance_m=round(float(row["distance_m"]), 1),
        anchor_lat=row["anchor_lat"],
        anchor_lng=row["anchor_lng"],
        updated_at=timestamp_text(row["updated_at"]),
    )


def suggestion_from_row(row: Any) -> SuggestionJSON:
    """Wire form of a ``case_suggestions`` row joined with its case and report."""
    match = row["match_json"] or {}
    return SuggestionJSON(
        id=row["id"],
        case_id=row["case_id"],
        case_title=row["case_title"],
        case_status=row["case_status"],
        seq=row["seq"],
        report_title=row["report_title"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        kind=row["kind"],
        status=row["status"],
        band=row["band"],
        probability=row["probability"],
        case_score=row["case_score"],
        evidence_score=row["evidence_score"],
        evidence_seq=row["evidence_seq"],
        match_reasons=[str(r) for r in match.get("reasons", [])],
        created_at=timestamp_text(row["created_at"]),
        decided_at=rfc3339(row["decided_at"]),
        decided_by_user_id=row["decided_by_user_id"],
        decision_note=row["decision_note"],
    )


def group_suggestion_from_row(row: Any) -> GroupSuggestionJSON:
    """Wire form of a ``report_group_suggestions`` row (its decision from ``group_json``)."""
    extra = row["group_json"] or {}
    decision = extra.get("decision") or {}
    left_out = decision.get("left_out_seqs")
    decided_at = decision.get("decided_at")
    return GroupSuggestionJSON(
        id=row["id"],
        report_seqs=[int(s) for s in row["report_seqs"]],
        title=row["title"],
        status=row["status"],
        confidence=row["confidence"],
        rationale=[str(r) for r in extra.get("rationale", [])],
        created_at=timestamp_text(row["created_at"]),
        decided_at=None if decided_at is None else rfc3339(datetime.fromisoformat(decided_at)),
        decided_by_user_id=decision.get("user_id"),
        decision_note=decision.get("note"),
        case_id=decision.get("case_id"),
        left_out_seqs=None if left_out is None else [int(s) for s in left_out],
    )


# --------------------------------------------------------------------------- contact routing


def observation_json(row: Any) -> ContactObservationJSON:
    """Wire form of a ``case_contact_observations`` row."""
    values = {k: row[k] for k in ContactObservationJSON.__struct_fields__ if k != "discovered_at"}
    return ContactObservationJSON(**values, discovered_at=timestamp_text(row["discovered_at"]))


def plan_waves(items: list[NotifyPlanItemJSON]) -> list[NotifyWaveJSON]:
    """Each wave's number, item count and selected count, ascending."""
    waves = sorted({i.wave_number for i in items})
    return [
        NotifyWaveJSON(
            wave_number=w,
            item_count=sum(1 for i in items if i.wave_number == w),
            selected_count=sum(1 for i in items if i.wave_number == w and i.selected),
        )
        for w in waves
    ]


def plan_json(row: Any, item_rows: Any) -> NotifyPlanJSON:
    """Wire form of a ``case_notify_plans`` row and its items."""
    items = [
        NotifyPlanItemJSON(
            **{k: item[k] for k in NotifyPlanItemJSON.__struct_fields__ if k != "created_at"},
            created_at=timestamp_text(item["created_at"]),
        )
        for item in item_rows
    ]
    return NotifyPlanJSON(
        id=row["id"],
        case_id=row["case_id"],
        plan_version=row["plan_version"],
        hazard_mode=row["hazard_mode"],
        status=row["status"],
        summary=row["summary"],
        created_at=timestamp_text(row["created_at"]),
        updated_at=timestamp_text(row["updated_at"]),
        waves=plan_waves(items),
        items=items,
    )


def profile_json(row: Any) -> RoutingProfileJSON:
    """Wire form of a ``subject_routing_profiles`` row."""
    context = row["context_json"] or {}
    return RoutingProfileJSON(
        **{
            k: row[k]
            for k in RoutingProfileJSON.__struct_fields__
            if k not in ("hazard_mode", "context_json", "refreshed_at")
        },
        hazard_mode=str(context.get("hazard_mode", "standard")),
        context_json=json_text(row["context_json"]),
        refreshed_at=timestamp_text(row["refreshed_at"]),
    )


def task_json(row: Any) -> ExecutionTaskJSON:
    """Wire form of a ``notify_execution_tasks`` row."""
    return ExecutionTaskJSON(
        id=row["id"],
        subject_kind=row["subject_kind"],
        subject_ref=row["subject_ref"],
        target_id=row["target_id"],
        endpoint_key=row["endpoint_key"],
        wave_number=row["wave_number"],
        role_type=row["role_type"],
        channel_type=row["channel_type"],
        execution_mode=row["execution_mode"],
        task_status=row["task_status"],
        summary=row["summary"],
        payload_json=json_text(row["payload_json"]),
        assigned_user_id=row["assigned_user_id"] or "",
        due_at=rfc3339(row["due_at"]),
        completed_at=rfc3339(row["completed_at"]),
        created_at=timestamp_text(row["created_at"]),
        updated_at=timestamp_text(row["updated_at"]),
    )


def outcome_json(row: Any) -> NotifyOutcomeJSON:
    """Wire form of a ``notify_outcomes`` row."""
    return NotifyOutcomeJSON(
        id=row["id"],
        subject_kind=row["subject_kind"],
        subject_ref=row["subject_ref"],
        target_id=row["target_id"],
        endpoint_key=row["endpoint_key"],
        outcome_type=row["outcome_type"],
        source_type=row["source_type"],
        source_ref=row["source_ref"],
        evidence_json=json_text(row["evidence_json"]),
        recorded_at=timestamp_text(row["recorded_at"]),
    )


def memory_json(row: Any) -> EndpointMemoryJSON:
    """Wire form of a ``contact_endpoint_memory`` row."""
    times = ("last_contacted_at", "cooldown_until", "updated_at")
    return EndpointMemoryJSON(
        **{k: row[k] for k in EndpointMemoryJSON.__struct_fields__ if k not in times},
        last_contacted_at=rfc3339(row["last_contacted_at"]),
        cooldown_until=rfc3339(row["cooldown_until"]),
        updated_at=timestamp_text(row["updated_at"]),
    )
