"""SQLAlchemy Core tables of contact routing (migration 0006; ``docs/routing.md``).

They share :data:`cleanapp_geo.io.tables.metadata` with :mod:`cleanapp_api.db.tables`,
which re-exports every one of them (the service names one tables module); they live here
so that module stays small.

* ``case_contact_observations`` -- the contact values of a case's visible targets, as the
  last routing saw them (one per channel and value).
* ``case_notify_plans`` and ``case_notify_plan_items`` -- a case's notify plan in waves.
  At most one plan per case is ``active`` (a partial unique index); a changed plan
  supersedes the active one and takes the next ``plan_version``.
* ``subject_routing_profiles`` -- the routing profile of a case or a solo report.
* ``contact_endpoint_memory`` -- what outcomes taught about one endpoint, across subjects.
* ``notify_execution_tasks`` -- tasks for people (a call, a contact form); at most one
  pending task per subject and endpoint, completed tasks are kept.
* ``notify_outcomes`` -- what happened (a delivery, a task's outcome); one row per source,
  outcome and endpoint, so a delivery or a task records an outcome once.
* ``report_escalation_targets`` -- a solo report's targets (the report contact strategy),
  a mirror of ``case_escalation_targets`` keyed by report.
* ``authority_directory_rules`` -- which authority roles to look for, per jurisdiction,
  asset class and defect class (seeded with upstream's rules, editable; read by contact
  discovery).

Vocabularies come from :mod:`cleanapp_geo.routing` and :mod:`cleanapp_geo.targets`.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from cleanapp_geo.io.tables import (
    check_in,
    created_at_column,
    metadata,
    now_default,
    report_fk,
    unit_interval,
    updated_at_column,
)
from cleanapp_geo.routing import (
    ASSET_CLASSES,
    DEFECT_CLASSES,
    DEFECT_MODES,
    EXPOSURE_MODES,
    HAZARD_MODES,
    OUTCOME_TYPES,
    PLAN_STATUSES,
    SEVERITY_BANDS,
    SUBJECT_KINDS,
    URGENCY_BANDS,
)
from cleanapp_geo.targets import (
    CHANNELS,
    DECISION_SCOPES,
    EXECUTION_MODES,
    SCORE_FIELDS,
    SEND_ELIGIBILITIES,
)

__all__ = [
    "OUTCOME_SOURCE_TYPES",
    "TASK_STATUSES",
    "authority_directory_rules",
    "case_contact_observations",
    "case_notify_plan_items",
    "case_notify_plans",
    "contact_endpoint_memory",
    "notify_execution_tasks",
    "notify_outcomes",
    "report_escalation_targets",
    "subject_routing_profiles",
]

#: Statuses of an execution task (``in_progress`` orders before the rest, as upstream).
TASK_STATUSES: Final = ("pending", "in_progress", "completed")
#: Where an outcome came from: a delivery of an escalation email, or a person's task.
OUTCOME_SOURCE_TYPES: Final = ("case_email_delivery", "execution_task")
_RECIPIENT_ROLES: Final = ("to", "cc", "task", "")
_MEMORY_COUNTS: Final = (
    "success_count",
    "bounce_count",
    "ack_count",
    "fix_count",
    "misroute_count",
    "no_response_count",
)


def _case_fk() -> sa.Column[object]:
    return sa.Column(
        "case_id", sa.String(64), sa.ForeignKey("cases.case_id", ondelete="CASCADE"), nullable=False
    )


def _text(name: str, length: int | None = 255, default: str = "") -> sa.Column[object]:
    """Return a NOT NULL text column defaulting to ``default`` (routing values are never NULL)."""
    kind = sa.Text if length is None else sa.String(length)
    return sa.Column(name, kind, nullable=False, server_default=default)


def _wave(name: str = "wave_number") -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{name} >= 1 AND {name} <= 4", name=f"{name}_range")


case_contact_observations = sa.Table(
    "case_contact_observations",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _case_fk(),
    sa.Column(
        "target_id",
        sa.BigInteger,
        sa.ForeignKey("case_escalation_targets.id", ondelete="SET NULL"),
        nullable=True,
    ),
    _text("endpoint_key"),
    _text("role_type", 64, "contact"),
    _text("decision_scope", 64, "other"),
    _text("organization_name"),
    _text("person_name"),
    _text("channel_type", 32, "email"),
    _text("channel_value", 512),
    _text("email"),
    _text("phone", 64),
    _text("website", 512),
    _text("contact_url", 512),
    _text("social_platform", 64),
    _text("social_handle"),
    _text("source_url", 512),
    _text("evidence_text", None),
    _text("verification_level", 64),
    _text("attribution_class", 64, "heuristic"),
    sa.Column("confidence_score", sa.Double, nullable=False, server_default="0"),
    _text("target_source", 64),
    sa.Column(
        "discovered_at", sa.DateTime(timezone=True), nullable=False, server_default=now_default()
    ),
    sa.UniqueConstraint("case_id", "channel_type", "channel_value"),
    sa.CheckConstraint("channel_value <> ''", name="channel_value_not_empty"),
    sa.CheckConstraint(check_in("channel_type", CHANNELS), name="channel_type"),
    sa.CheckConstraint(check_in("decision_scope", DECISION_SCOPES), name="decision_scope"),
    unit_interval("confidence_score"),
    sa.Index(
        "ix_case_contact_observations_case_id_confidence_score", "case_id", "confidence_score"
    ),
    sa.Index("ix_case_contact_observations_case_id_decision_scope", "case_id", "decision_scope"),
    sa.Index("ix_case_contact_observations_target_id", "target_id"),
)

case_notify_plans = sa.Table(
    "case_notify_plans",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _case_fk(),
    sa.Column("plan_version", sa.Integer, nullable=False, server_default="1"),
    _text("hazard_mode", 32, "standard"),
    _text("status", 16, "active"),
    _text("summary", None),
    created_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("case_id", "plan_version"),
    sa.CheckConstraint("plan_version >= 1", name="plan_version_positive"),
    sa.CheckConstraint(check_in("hazard_mode", HAZARD_MODES), name="hazard_mode"),
    sa.CheckConstraint(check_in("status", PLAN_STATUSES), name="status"),
    sa.Index(
        "ix_case_notify_plans_case_id_active",
        "case_id",
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    ),
)

case_notify_plan_items = sa.Table(
    "case_notify_plan_items",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "plan_id",
        sa.BigInteger,
        sa.ForeignKey("case_notify_plans.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "target_id",
        sa.BigInteger,
        sa.ForeignKey("case_escalation_targets.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column(
        "observation_id",
        sa.BigInteger,
        sa.ForeignKey(
            "case_contact_observations.id",
            ondelete="SET NULL",
            name="fk_case_notify_plan_items_observation_id",
        ),
        nullable=True,
    ),
    _text("endpoint_key"),
    sa.Column("wave_number", sa.Integer, nullable=False, server_default="1"),
    sa.Column("priority_rank", sa.Integer, nullable=False, server_default="1"),
    _text("role_type", 64, "contact"),
    _text("decision_scope", 64, "other"),
    _text("channel", 32, "email"),
    sa.Column("actionability_score", sa.Double, nullable=False, server_default="0"),
    _text("send_eligibility", 32, "review"),
    _text("execution_mode", 32, "review"),
    _text("recipient_role", 16),
    _text("reason_selected", None),
    sa.Column("selected", sa.Boolean, nullable=False, server_default=sa.false()),
    created_at_column(),
    sa.UniqueConstraint("plan_id", "wave_number", "priority_rank"),
    _wave(),
    sa.CheckConstraint("priority_rank >= 1", name="priority_rank_positive"),
    sa.CheckConstraint(check_in("decision_scope", DECISION_SCOPES), name="decision_scope"),
    sa.CheckConstraint(check_in("channel", CHANNELS), name="channel"),
    sa.CheckConstraint(check_in("send_eligibility", SEND_ELIGIBILITIES), name="send_eligibility"),
    sa.CheckConstraint(check_in("execution_mode", EXECUTION_MODES), name="execution_mode"),
    sa.CheckConstraint(check_in("recipient_role", _RECIPIENT_ROLES), name="recipient_role"),
    sa.CheckConstraint("selected OR recipient_role = ''", name="recipient_when_selected"),
    unit_interval("actionability_score"),
    sa.Index("ix_case_notify_plan_items_target_id", "target_id"),
    sa.Index("ix_case_notify_plan_items_observation_id", "observation_id"),
)

subject_routing_profiles = sa.Table(
    "subject_routing_profiles",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _text("subject_kind", 16, "case"),
    _text("subject_ref", 64),
    _text("classification", 32, "physical"),
    _text("defect_class", 64, "general_defect"),
    _text("defect_mode", 32, "standard"),
    _text("asset_class", 64, "general_site"),
    _text("jurisdiction_key"),
    _text("exposure_mode", 32, "localized"),
    _text("severity_band", 16, "medium"),
    _text("urgency_band", 16, "medium"),
    sa.Column("context_json", JSONB, nullable=True),
    sa.Column(
        "refreshed_at", sa.DateTime(timezone=True), nullable=False, server_default=now_default()
    ),
    sa.UniqueConstraint("subject_kind", "subject_ref"),
    sa.CheckConstraint(check_in("subject_kind", SUBJECT_KINDS), name="subject_kind"),
    sa.CheckConstraint("subject_ref <> ''", name="subject_ref_not_empty"),
    sa.CheckConstraint(check_in("defect_class", DEFECT_CLASSES), name="defect_class"),
    sa.CheckConstraint(check_in("defect_mode", DEFECT_MODES), name="defect_mode"),
    sa.CheckConstraint(check_in("asset_class", ASSET_CLASSES), name="asset_class"),
    sa.CheckConstraint(check_in("exposure_mode", EXPOSURE_MODES), name="exposure_mode"),
    sa.CheckConstraint(check_in("severity_band", SEVERITY_BANDS), name="severity_band"),
    sa.CheckConstraint(check_in("urgency_band", URGENCY_BANDS), name="urgency_band"),
)

contact_endpoint_memory = sa.Table(
    "contact_endpoint_memory",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _text("endpoint_key"),
    _text("organization_key"),
    _text("channel_type", 32),
    _text("channel_value", 512),
    _text("last_result", 32),
    *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in _MEMORY_COUNTS),
    sa.Column("last_contacted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=True),
    _text("preferred_for_role_type", 64),
    _text("preferred_for_asset_class", 64),
    updated_at_column(),
    sa.UniqueConstraint("endpoint_key"),
    sa.CheckConstraint("endpoint_key <> ''", name="endpoint_key_not_empty"),
    sa.CheckConstraint(check_in("last_result", (*OUTCOME_TYPES, "")), name="last_result"),
    *(sa.CheckConstraint(f"{name} >= 0", name=f"{name}_non_negative") for name in _MEMORY_COUNTS),
    sa.Index("ix_contact_endpoint_memory_organization_key", "organization_key"),
)

notify_execution_tasks = sa.Table(
    "notify_execution_tasks",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _text("subject_kind", 16, "case"),
    _text("subject_ref", 64),
    # No foreign key: a case's or a report's target (case_ / report_escalation_targets).
    sa.Column("target_id", sa.BigInteger, nullable=True),
    _text("endpoint_key"),
    sa.Column("wave_number", sa.Integer, nullable=False, server_default="1"),
    _text("role_type", 64, "contact"),
    _text("channel_type", 32, "phone"),
    _text("execution_mode", 32, "task"),
    _text("task_status", 16, "pending"),
    _text("summary"),
    sa.Column("payload_json", JSONB, nullable=True),
    sa.Column("assigned_user_id", sa.String(255), nullable=True),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    created_at_column(),
    updated_at_column(),
    sa.CheckConstraint(check_in("subject_kind", SUBJECT_KINDS), name="subject_kind"),
    sa.CheckConstraint("subject_ref <> ''", name="subject_ref_not_empty"),
    _wave(),
    sa.CheckConstraint(check_in("channel_type", CHANNELS), name="channel_type"),
    sa.CheckConstraint(check_in("execution_mode", EXECUTION_MODES), name="execution_mode"),
    sa.CheckConstraint(check_in("task_status", TASK_STATUSES), name="task_status"),
    sa.CheckConstraint(
        "(task_status = 'completed') = (completed_at IS NOT NULL)", name="completed_when_done"
    ),
    sa.Index(
        "ix_notify_execution_tasks_subject_kind_subject_ref_task_status",
        "subject_kind",
        "subject_ref",
        "task_status",
    ),
    sa.Index(
        "ix_notify_execution_tasks_one_pending",
        "subject_kind",
        "subject_ref",
        "endpoint_key",
        unique=True,
        postgresql_where=sa.text("task_status = 'pending'"),
    ),
)

notify_outcomes = sa.Table(
    "notify_outcomes",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _text("subject_kind", 16, "case"),
    _text("subject_ref", 64),
    sa.Column("target_id", sa.BigInteger, nullable=True),
    _text("endpoint_key"),
    _text("outcome_type", 32),
    _text("source_type", 64, "execution_task"),
    _text("source_ref"),
    sa.Column("evidence_json", JSONB, nullable=True),
    sa.Column(
        "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=now_default()
    ),
    sa.UniqueConstraint(
        "source_type",
        "source_ref",
        "outcome_type",
        "endpoint_key",
        name="uq_notify_outcomes_source_outcome_endpoint",
    ),
    sa.CheckConstraint(check_in("subject_kind", SUBJECT_KINDS), name="subject_kind"),
    sa.CheckConstraint("subject_ref <> ''", name="subject_ref_not_empty"),
    sa.CheckConstraint("endpoint_key <> ''", name="endpoint_key_not_empty"),
    sa.CheckConstraint(check_in("outcome_type", OUTCOME_TYPES), name="outcome_type"),
    sa.CheckConstraint(check_in("source_type", OUTCOME_SOURCE_TYPES), name="source_type"),
    sa.Index(
        "ix_notify_outcomes_subject_kind_subject_ref_recorded_at",
        "subject_kind",
        "subject_ref",
        "recorded_at",
    ),
    sa.Index("ix_notify_outcomes_endpoint_key", "endpoint_key"),
)

report_escalation_targets = sa.Table(
    "report_escalation_targets",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    report_fk("report_seq", ondelete="CASCADE", nullable=False),
    _text("role_type", 64, "contact"),
    _text("decision_scope", 64, "other"),
    _text("endpoint_key"),
    _text("organization_key"),
    sa.Column("organization", sa.String(255), nullable=True),
    sa.Column("display_name", sa.String(255), nullable=True),
    _text("channel", 32, "email"),
    sa.Column("email", sa.String(255), nullable=True),
    sa.Column("phone", sa.String(64), nullable=True),
    sa.Column("website", sa.String(512), nullable=True),
    sa.Column("contact_url", sa.String(512), nullable=True),
    sa.Column("source_url", sa.String(512), nullable=True),
    sa.Column("social_platform", sa.String(64), nullable=True),
    sa.Column("social_handle", sa.String(255), nullable=True),
    sa.Column("evidence_text", sa.Text, nullable=True),
    sa.Column("verification_level", sa.String(64), nullable=True),
    _text("attribution_class", 64, "heuristic"),
    _text("target_source", 64, "suggested"),
    *(sa.Column(name, sa.Double, nullable=False, server_default="0") for name in SCORE_FIELDS),
    sa.Column("notify_tier", sa.Integer, nullable=False, server_default="3"),
    _text("send_eligibility", 32, "review"),
    _text("execution_mode", 32, "review"),
    sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("rationale", sa.Text, nullable=True),
    sa.Column("reason_selected", sa.Text, nullable=True),
    created_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("report_seq", "endpoint_key"),
    sa.CheckConstraint("endpoint_key <> ''", name="endpoint_key_not_empty"),
    *(unit_interval(name) for name in SCORE_FIELDS),
    _wave("notify_tier"),
    sa.CheckConstraint(check_in("channel", CHANNELS), name="channel"),
    sa.CheckConstraint(check_in("decision_scope", DECISION_SCOPES), name="decision_scope"),
    sa.CheckConstraint(check_in("send_eligibility", SEND_ELIGIBILITIES), name="send_eligibility"),
    sa.CheckConstraint(check_in("execution_mode", EXECUTION_MODES), name="execution_mode"),
)

authority_directory_rules = sa.Table(
    "authority_directory_rules",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _text("jurisdiction_key", 128, "*"),
    _text("asset_class", 64, "general_site"),
    _text("defect_class", 64, "general_defect"),
    _text("role_type", 64),
    sa.Column("query_templates_json", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column(
        "official_domains_json", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")
    ),
    sa.Column("priority", sa.Integer, nullable=False, server_default="50"),
    created_at_column(),
    updated_at_column(),
    sa.UniqueConstraint(
        "jurisdiction_key",
        "asset_class",
        "defect_class",
        "role_type",
        name="uq_authority_directory_rules_rule",
    ),
    sa.CheckConstraint("jurisdiction_key <> ''", name="jurisdiction_key_not_empty"),
    sa.CheckConstraint("role_type <> ''", name="role_type_not_empty"),
    sa.CheckConstraint(check_in("asset_class", ASSET_CLASSES), name="asset_class"),
    sa.CheckConstraint(check_in("defect_class", DEFECT_CLASSES), name="defect_class"),
    sa.CheckConstraint("priority >= 0", name="priority_non_negative"),
    sa.CheckConstraint(
        "jsonb_typeof(query_templates_json) = 'array'", name="query_templates_json_array"
    ),
    sa.CheckConstraint(
        "jsonb_typeof(official_domains_json) = 'array'", name="official_domains_json_array"
    ),
    sa.Index(
        "ix_authority_directory_rules_defect_class_asset_class", "defect_class", "asset_class"
    ),
)
