"""Contact routing: observations, notify plans, routing profiles, endpoint memory, tasks.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

The tables of ``docs/routing.md`` ("In the service"):

* ``case_contact_observations``: a case's contact values as the last routing saw them.
* ``case_notify_plans`` / ``case_notify_plan_items``: the notify plan in waves; at most one
  ``active`` plan per case (partial unique index), versions unique per case.
* ``subject_routing_profiles``: the routing profile of a case or a solo report.
* ``contact_endpoint_memory``: outcomes per endpoint, across cases and reports.
* ``notify_execution_tasks``: tasks for people; at most one pending per subject and endpoint.
* ``notify_outcomes``: what happened, once per source, outcome and endpoint.
* ``report_escalation_targets``: a solo report's targets (report contact strategy).
* ``authority_directory_rules``: seeded with upstream's rules (reference Appendix C).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CHANNELS = ("email", "phone", "website", "social")
_SCOPES = ("site_ops", "asset_owner", "regulator", "project_party", "other")
_ELIGIBILITIES = ("auto", "review", "hold")
_MODES = ("auto", "review", "task", "hold")
_RECIPIENT_ROLES = ("to", "cc", "task", "")
_HAZARD_MODES = ("standard", "urgent", "emergency")
_PLAN_STATUSES = ("active", "superseded")
_SUBJECT_KINDS = ("case", "report")
_ASSETS = (
    "transit_station", "bridge", "roadway", "school", "hospital", "retail_site",
    "public_building", "industrial_site", "residential_site", "general_site",
)  # fmt: skip
_DEFECTS = (
    "physical_structural", "physical_sanitation", "physical_accessibility", "physical_safety",
    "operational_service", "digital_security", "digital_accessibility", "digital_product_bug",
    "digital_fraud", "general_defect",
)  # fmt: skip
_DEFECT_MODES = ("standard", "emergency", "abuse")
_EXPOSURE_MODES = ("public_exposure", "user_exposure", "localized")
_SEVERITY_BANDS = ("critical", "high", "medium", "low")
_URGENCY_BANDS = ("immediate", "high", "medium", "low")
_OUTCOMES = ("sent", "bounced", "acknowledged", "fixed", "misrouted", "no_response", "opted_out")
_TASK_STATUSES = ("pending", "in_progress", "completed")
_SOURCE_TYPES = ("case_email_delivery", "execution_task")
_SCORES = (
    "confidence_score", "site_match_score", "source_quality_score", "role_fit_score",
    "channel_quality_score", "outcome_memory_score", "actionability_score",
)  # fmt: skip
_COUNTS = (
    "success_count", "bounce_count", "ack_count", "fix_count", "misroute_count",
    "no_response_count",
)  # fmt: skip

_STAR_CH = ("*.admin.ch", "*.ch")
_CH_ADMIN = ("*.ch", "*.admin.ch")
_US = ("*.gov", "*.us")
#: Upstream's seeded rules (reference Appendix C): jurisdiction, asset, defect, role,
#: query templates, official domains, priority (lower is stronger).
_RULES: tuple[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...], int], ...] = (
    ("*", "school", "physical_structural", "building_authority",
     ("building department", "building safety", "planning office"), (), 10),
    ("*", "school", "physical_structural", "public_safety",
     ("public safety", "police", "emergency management"), (), 20),
    ("*", "transit_station", "physical_structural", "transit_authority",
     ("station authority", "transit authority", "operations"), (), 10),
    ("*", "transit_station", "physical_structural", "transit_safety",
     ("rail safety", "transit safety"), (), 20),
    ("*", "roadway", "physical_safety", "public_works",
     ("public works", "roads maintenance", "highway maintenance"), (), 10),
    ("*", "bridge", "physical_structural", "infrastructure_authority",
     ("bridge maintenance", "infrastructure maintenance"), (), 10),
    ("*", "general_site", "digital_product_bug", "support",
     ("support", "contact", "help center"), (), 10),
    ("*", "general_site", "digital_product_bug", "engineering",
     ("engineering", "product team", "developer relations"), (), 20),
    ("*", "general_site", "digital_security", "security",
     ("security", "security contact", "responsible disclosure"), (), 10),
    ("*", "general_site", "digital_security", "trust_safety",
     ("trust and safety", "abuse", "platform integrity"), (), 20),
    ("*", "general_site", "digital_accessibility", "support",
     ("accessibility", "support", "help center"), (), 10),
    ("*", "general_site", "digital_accessibility", "product_owner",
     ("product", "accessibility", "engineering"), (), 20),
    ("*", "retail_site", "physical_safety", "facility_manager",
     ("facility management", "store management", "site contact"), (), 15),
    ("*", "hospital", "physical_structural", "facility_manager",
     ("facilities", "building management", "site operations"), (), 15),
    ("*", "hospital", "physical_structural", "building_authority",
     ("building department", "life safety", "inspection office"), (), 20),
    ("*", "public_building", "physical_structural", "building_authority",
     ("building department", "inspection office", "planning office"), (), 18),
    ("*", "public_building", "physical_structural", "fire_authority",
     ("fire marshal", "fire prevention", "life safety"), (), 24),
    ("*", "industrial_site", "physical_structural", "facility_manager",
     ("plant operations", "maintenance", "site contact"), (), 15),
    ("*", "industrial_site", "physical_structural", "public_safety",
     ("public safety", "emergency management", "hazmat"), (), 24),
    ("*", "general_site", "physical_sanitation", "public_works",
     ("public works", "sanitation department", "waste management"), (), 16),
    ("*", "general_site", "physical_sanitation", "operator",
     ("site management", "facilities", "contact"), (), 20),
    ("*", "roadway", "physical_accessibility", "traffic_authority",
     ("traffic engineering", "transportation department", "accessibility office"), (), 16),
    ("*", "general_site", "physical_accessibility", "operator",
     ("accessibility", "site management", "contact"), (), 20),
    ("*", "general_site", "digital_fraud", "trust_safety",
     ("trust and safety", "fraud", "abuse"), (), 10),
    ("*", "general_site", "digital_fraud", "support",
     ("support", "fraud support", "customer support"), (), 20),
    ("*", "general_site", "digital_fraud", "security",
     ("security", "report abuse", "integrity"), (), 30),
    ("*", "general_site", "operational_service", "operator",
     ("operations", "contact", "customer support"), (), 12),
    ("*", "general_site", "operational_service", "support",
     ("support", "service desk", "help center"), (), 18),
    ("*", "transit_station", "physical_safety", "transit_authority",
     ("station management", "transit authority", "operations"), (), 12),
    ("country:ch", "general_site", "physical_structural", "building_authority",
     ("bauamt", "bau und planung", "hochbau"), _STAR_CH, 8),
    ("country:ch", "general_site", "physical_structural", "fire_authority",
     ("feuerpolizei", "feuerwehr", "brandschutz"), _STAR_CH, 14),
    ("country:ch", "school", "physical_structural", "facility_manager",
     ("hausdienst", "schulverwaltung", "kontakt"), ("*.schule-*.ch", "*.schulen-*.ch", "*.ch"), 9),
    ("country:ch", "transit_station", "physical_structural", "transit_authority",
     ("verkehrsbetriebe", "bahnhof kontakt", "betriebsleitung"), _CH_ADMIN, 10),
    ("country:ch", "transit_station", "physical_structural", "transit_safety",
     ("bahnsicherheit", "verkehrssicherheit"), _CH_ADMIN, 18),
    ("country:ch", "general_site", "physical_sanitation", "public_works",
     ("werkhof", "tiefbauamt", "entsorgung", "abfall"), _STAR_CH, 12),
    ("country:us", "general_site", "physical_structural", "building_authority",
     ("building department", "building safety", "code enforcement"), _US, 8),
    ("country:us", "general_site", "physical_structural", "fire_authority",
     ("fire marshal", "fire prevention", "life safety"), _US, 14),
    ("country:us", "roadway", "physical_safety", "public_works",
     ("public works", "street maintenance", "road maintenance"), _US, 10),
    ("country:us", "roadway", "physical_safety", "traffic_authority",
     ("traffic engineering", "transportation department", "mobility division"), _US, 16),
    ("country:us", "bridge", "physical_structural", "infrastructure_authority",
     ("bridge maintenance", "bridge division", "infrastructure maintenance"), _US, 10),
    ("country:us", "transit_station", "physical_structural", "transit_authority",
     ("transit authority", "station management", "rail operations"), (*_US, "*.org"), 10),
    ("country:us", "transit_station", "physical_structural", "transit_safety",
     ("rail safety", "transit safety", "system safety"), (*_US, "*.org"), 18),
    ("country:us", "general_site", "digital_security", "security",
     ("security", "responsible disclosure", "security contact"), (), 10),
    ("country:us", "general_site", "digital_fraud", "trust_safety",
     ("trust and safety", "fraud", "abuse"), (), 12),
    ("country:de", "general_site", "physical_structural", "building_authority",
     ("bauamt", "bauaufsicht", "bauordnung"), ("*.de",), 8),
    ("country:de", "general_site", "physical_structural", "fire_authority",
     ("feuerwehr", "brandschutz", "feuerpolizei"), ("*.de",), 14),
    ("country:at", "general_site", "physical_structural", "building_authority",
     ("bauamt", "baupolizei", "bauwesen"), ("*.gv.at", "*.at"), 8),
    ("country:fr", "general_site", "physical_structural", "building_authority",
     ("service urbanisme", "bâtiments", "sécurité bâtiment"), ("*.fr", "*.gouv.fr"), 8),
    ("country:it", "general_site", "physical_structural", "building_authority",
     ("ufficio tecnico", "edilizia", "sicurezza edificio"), ("*.it", "*.gov.it"), 8),
)  # fmt: skip


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _ck(table: str, name: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}"))


def _text(name: str, length: int | None = 255, default: str = "") -> sa.Column[object]:
    kind = sa.Text() if length is None else sa.String(length)
    return sa.Column(name, kind, server_default=default, nullable=False)


def _now(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _id() -> sa.Column[object]:
    return sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False)


def _case_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["case_id"], ["cases.case_id"], name=op.f(f"fk_{table}_case_id_cases"), ondelete="CASCADE"
    )


def _target_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["target_id"],
        ["case_escalation_targets.id"],
        name=op.f(f"fk_{table}_target_id_case_escalation_targets"),
        ondelete="SET NULL",
    )


def _unit(table: str, column: str) -> sa.CheckConstraint:
    return _ck(table, f"{column}_range", f"{column} >= 0 AND {column} <= 1")


def _wave(table: str, column: str = "wave_number") -> sa.CheckConstraint:
    return _ck(table, f"{column}_range", f"{column} >= 1 AND {column} <= 4")


def _observations() -> None:
    t = "case_contact_observations"
    op.create_table(
        t,
        _id(),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
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
        sa.Column("confidence_score", sa.Double(), server_default="0", nullable=False),
        _text("target_source", 64),
        _now("discovered_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        _case_fk(t),
        _target_fk(t),
        sa.UniqueConstraint(
            "case_id",
            "channel_type",
            "channel_value",
            name=op.f(f"uq_{t}_case_id_channel_type_channel_value"),
        ),
        _ck(t, "channel_value_not_empty", "channel_value <> ''"),
        _ck(t, "channel_type", _in("channel_type", _CHANNELS)),
        _ck(t, "decision_scope", _in("decision_scope", _SCOPES)),
        _unit(t, "confidence_score"),
    )
    op.create_index(f"ix_{t}_case_id_confidence_score", t, ["case_id", "confidence_score"])
    op.create_index(f"ix_{t}_case_id_decision_scope", t, ["case_id", "decision_scope"])
    op.create_index(f"ix_{t}_target_id", t, ["target_id"])


def _plans() -> None:
    t = "case_notify_plans"
    op.create_table(
        t,
        _id(),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("plan_version", sa.Integer(), server_default="1", nullable=False),
        _text("hazard_mode", 32, "standard"),
        _text("status", 16, "active"),
        _text("summary", None),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        _case_fk(t),
        sa.UniqueConstraint("case_id", "plan_version", name=op.f(f"uq_{t}_case_id_plan_version")),
        _ck(t, "plan_version_positive", "plan_version >= 1"),
        _ck(t, "hazard_mode", _in("hazard_mode", _HAZARD_MODES)),
        _ck(t, "status", _in("status", _PLAN_STATUSES)),
    )
    op.create_index(
        f"ix_{t}_case_id_active",
        t,
        ["case_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    t = "case_notify_plan_items"
    op.create_table(
        t,
        _id(),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("observation_id", sa.BigInteger(), nullable=True),
        _text("endpoint_key"),
        sa.Column("wave_number", sa.Integer(), server_default="1", nullable=False),
        sa.Column("priority_rank", sa.Integer(), server_default="1", nullable=False),
        _text("role_type", 64, "contact"),
        _text("decision_scope", 64, "other"),
        _text("channel", 32, "email"),
        sa.Column("actionability_score", sa.Double(), server_default="0", nullable=False),
        _text("send_eligibility", 32, "review"),
        _text("execution_mode", 32, "review"),
        _text("recipient_role", 16),
        _text("reason_selected", None),
        sa.Column("selected", sa.Boolean(), server_default=sa.false(), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["case_notify_plans.id"],
            name=op.f(f"fk_{t}_plan_id_case_notify_plans"),
            ondelete="CASCADE",
        ),
        _target_fk(t),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["case_contact_observations.id"],
            name=op.f(f"fk_{t}_observation_id"),
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint(
            "plan_id",
            "wave_number",
            "priority_rank",
            name=op.f(f"uq_{t}_plan_id_wave_number_priority_rank"),
        ),
        _wave(t),
        _ck(t, "priority_rank_positive", "priority_rank >= 1"),
        _ck(t, "decision_scope", _in("decision_scope", _SCOPES)),
        _ck(t, "channel", _in("channel", _CHANNELS)),
        _ck(t, "send_eligibility", _in("send_eligibility", _ELIGIBILITIES)),
        _ck(t, "execution_mode", _in("execution_mode", _MODES)),
        _ck(t, "recipient_role", _in("recipient_role", _RECIPIENT_ROLES)),
        _ck(t, "recipient_when_selected", "selected OR recipient_role = ''"),
        _unit(t, "actionability_score"),
    )
    op.create_index(f"ix_{t}_target_id", t, ["target_id"])
    op.create_index(f"ix_{t}_observation_id", t, ["observation_id"])


def _profiles_and_memory() -> None:
    t = "subject_routing_profiles"
    op.create_table(
        t,
        _id(),
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
        sa.Column("context_json", postgresql.JSONB(), nullable=True),
        _now("refreshed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint(
            "subject_kind", "subject_ref", name=op.f(f"uq_{t}_subject_kind_subject_ref")
        ),
        _ck(t, "subject_kind", _in("subject_kind", _SUBJECT_KINDS)),
        _ck(t, "subject_ref_not_empty", "subject_ref <> ''"),
        _ck(t, "defect_class", _in("defect_class", _DEFECTS)),
        _ck(t, "defect_mode", _in("defect_mode", _DEFECT_MODES)),
        _ck(t, "asset_class", _in("asset_class", _ASSETS)),
        _ck(t, "exposure_mode", _in("exposure_mode", _EXPOSURE_MODES)),
        _ck(t, "severity_band", _in("severity_band", _SEVERITY_BANDS)),
        _ck(t, "urgency_band", _in("urgency_band", _URGENCY_BANDS)),
    )
    t = "contact_endpoint_memory"
    op.create_table(
        t,
        _id(),
        _text("endpoint_key"),
        _text("organization_key"),
        _text("channel_type", 32),
        _text("channel_value", 512),
        _text("last_result", 32),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in _COUNTS),
        sa.Column("last_contacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=True),
        _text("preferred_for_role_type", 64),
        _text("preferred_for_asset_class", 64),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("endpoint_key", name=op.f(f"uq_{t}_endpoint_key")),
        _ck(t, "endpoint_key_not_empty", "endpoint_key <> ''"),
        _ck(t, "last_result", _in("last_result", (*_OUTCOMES, ""))),
        *(_ck(t, f"{name}_non_negative", f"{name} >= 0") for name in _COUNTS),
    )
    op.create_index(f"ix_{t}_organization_key", t, ["organization_key"])


def _tasks_and_outcomes() -> None:
    t = "notify_execution_tasks"
    op.create_table(
        t,
        _id(),
        _text("subject_kind", 16, "case"),
        _text("subject_ref", 64),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        _text("endpoint_key"),
        sa.Column("wave_number", sa.Integer(), server_default="1", nullable=False),
        _text("role_type", 64, "contact"),
        _text("channel_type", 32, "phone"),
        _text("execution_mode", 32, "task"),
        _text("task_status", 16, "pending"),
        _text("summary"),
        sa.Column("payload_json", postgresql.JSONB(), nullable=True),
        sa.Column("assigned_user_id", sa.String(255), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        _ck(t, "subject_kind", _in("subject_kind", _SUBJECT_KINDS)),
        _ck(t, "subject_ref_not_empty", "subject_ref <> ''"),
        _wave(t),
        _ck(t, "channel_type", _in("channel_type", _CHANNELS)),
        _ck(t, "execution_mode", _in("execution_mode", _MODES)),
        _ck(t, "task_status", _in("task_status", _TASK_STATUSES)),
        _ck(t, "completed_when_done", "(task_status = 'completed') = (completed_at IS NOT NULL)"),
    )
    op.create_index(
        f"ix_{t}_subject_kind_subject_ref_task_status",
        t,
        ["subject_kind", "subject_ref", "task_status"],
    )
    op.create_index(
        f"ix_{t}_one_pending",
        t,
        ["subject_kind", "subject_ref", "endpoint_key"],
        unique=True,
        postgresql_where=sa.text("task_status = 'pending'"),
    )
    t = "notify_outcomes"
    op.create_table(
        t,
        _id(),
        _text("subject_kind", 16, "case"),
        _text("subject_ref", 64),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        _text("endpoint_key"),
        _text("outcome_type", 32),
        _text("source_type", 64, "execution_task"),
        _text("source_ref"),
        sa.Column("evidence_json", postgresql.JSONB(), nullable=True),
        _now("recorded_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint(
            "source_type",
            "source_ref",
            "outcome_type",
            "endpoint_key",
            name=op.f(f"uq_{t}_source_outcome_endpoint"),
        ),
        _ck(t, "subject_kind", _in("subject_kind", _SUBJECT_KINDS)),
        _ck(t, "subject_ref_not_empty", "subject_ref <> ''"),
        _ck(t, "endpoint_key_not_empty", "endpoint_key <> ''"),
        _ck(t, "outcome_type", _in("outcome_type", _OUTCOMES)),
        _ck(t, "source_type", _in("source_type", _SOURCE_TYPES)),
    )
    op.create_index(
        f"ix_{t}_subject_kind_subject_ref_recorded_at",
        t,
        ["subject_kind", "subject_ref", "recorded_at"],
    )
    op.create_index(f"ix_{t}_endpoint_key", t, ["endpoint_key"])


def _report_targets() -> None:
    t = "report_escalation_targets"
    op.create_table(
        t,
        _id(),
        sa.Column("report_seq", sa.BigInteger(), nullable=False),
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
        sa.Column("evidence_text", sa.Text(), nullable=True),
        sa.Column("verification_level", sa.String(64), nullable=True),
        _text("attribution_class", 64, "heuristic"),
        _text("target_source", 64, "suggested"),
        *(sa.Column(name, sa.Double(), server_default="0", nullable=False) for name in _SCORES),
        sa.Column("notify_tier", sa.Integer(), server_default="3", nullable=False),
        _text("send_eligibility", 32, "review"),
        _text("execution_mode", 32, "review"),
        sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("reason_selected", sa.Text(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.ForeignKeyConstraint(
            ["report_seq"],
            ["reports.seq"],
            name=op.f(f"fk_{t}_report_seq_reports"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "report_seq", "endpoint_key", name=op.f(f"uq_{t}_report_seq_endpoint_key")
        ),
        _ck(t, "endpoint_key_not_empty", "endpoint_key <> ''"),
        *(_unit(t, name) for name in _SCORES),
        _wave(t, "notify_tier"),
        _ck(t, "channel", _in("channel", _CHANNELS)),
        _ck(t, "decision_scope", _in("decision_scope", _SCOPES)),
        _ck(t, "send_eligibility", _in("send_eligibility", _ELIGIBILITIES)),
        _ck(t, "execution_mode", _in("execution_mode", _MODES)),
    )


def _authority_rules() -> None:
    t = "authority_directory_rules"
    table = op.create_table(
        t,
        _id(),
        _text("jurisdiction_key", 128, "*"),
        _text("asset_class", 64, "general_site"),
        _text("defect_class", 64, "general_defect"),
        _text("role_type", 64),
        sa.Column(
            "query_templates_json",
            postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "official_domains_json",
            postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), server_default="50", nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint(
            "jurisdiction_key",
            "asset_class",
            "defect_class",
            "role_type",
            name=op.f(f"uq_{t}_rule"),
        ),
        _ck(t, "jurisdiction_key_not_empty", "jurisdiction_key <> ''"),
        _ck(t, "role_type_not_empty", "role_type <> ''"),
        _ck(t, "asset_class", _in("asset_class", _ASSETS)),
        _ck(t, "defect_class", _in("defect_class", _DEFECTS)),
        _ck(t, "priority_non_negative", "priority >= 0"),
        _ck(t, "query_templates_json_array", "jsonb_typeof(query_templates_json) = 'array'"),
        _ck(t, "official_domains_json_array", "jsonb_typeof(official_domains_json) = 'array'"),
    )
    op.create_index(f"ix_{t}_defect_class_asset_class", t, ["defect_class", "asset_class"])
    assert table is not None
    op.bulk_insert(
        table,
        [
            {
                "jurisdiction_key": jurisdiction,
                "asset_class": asset,
                "defect_class": defect,
                "role_type": role,
                "query_templates_json": list(templates),
                "official_domains_json": list(domains),
                "priority": priority,
            }
            for jurisdiction, asset, defect, role, templates, domains, priority in _RULES
        ],
    )


def upgrade() -> None:
    _observations()
    _plans()
    _profiles_and_memory()
    _tasks_and_outcomes()
    _report_targets()
    _authority_rules()


def downgrade() -> None:
    for table in (
        "authority_directory_rules",
        "report_escalation_targets",
        "notify_outcomes",
        "notify_execution_tasks",
        "contact_endpoint_memory",
        "subject_routing_profiles",
        "case_notify_plan_items",
        "case_notify_plans",
        "case_contact_observations",
    ):
        op.drop_table(table)
