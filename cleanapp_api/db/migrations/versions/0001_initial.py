"""Initial schema: reports and analyses, contact sources, auth tokens and the case tables.

Revision ID: 0001
Revises:
Create Date: 2026-03-14

Creates the ``postgis`` extension when missing (never drops it). The schema is a frozen
copy of the tables at this revision (then all in ``cleanapp_geo/io/tables.py``; now split
between it and ``cleanapp_api/db/tables.py``; a test checks that the migrated database
matches the tables modules); later changes go in new revisions. Constraint names
are given in full and wrapped in ``op.f`` so the metadata's naming convention is not
applied twice.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_NEW_PUBLIC_ID = (
    "'rpt_' || substr(translate(encode(decode("
    "replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), "
    "'hex'), 'base64'), '+/', '-_'), 1, 22)"
)
_CASE_STATUSES = (
    "open",
    "investigating",
    "escalated",
    "monitoring",
    "resolved",
    "closed",
    "merged",
)
_CASE_SCORES = (
    "severity_score",
    "urgency_score",
    "confidence_score",
    "exposure_score",
    "criticality_score",
    "trend_score",
)
_TARGET_SCORES = (
    "confidence_score",
    "site_match_score",
    "source_quality_score",
    "role_fit_score",
    "channel_quality_score",
    "outcome_memory_score",
    "actionability_score",
)


def _geometry(kind: str) -> Geometry:
    return Geometry(geometry_type=kind, srid=4326, spatial_index=False)


def _now(name: str) -> sa.Column[Any]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _text(name: str, length: int | None = None, default: str = "") -> sa.Column[Any]:
    kind = sa.Text() if length is None else sa.String(length)
    return sa.Column(name, kind, server_default=default, nullable=False)


def _zero(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Double(), server_default="0", nullable=False)


def _in(
    table: str, column: str, values: tuple[str, ...], name: str | None = None
) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{name or column}"))


def _unit(table: str, column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"{column} >= 0 AND {column} <= 1", name=op.f(f"ck_{table}_{column}_range")
    )


def _identity() -> sa.Column[Any]:
    return sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False)


def _case_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["case_id"], ["cases.case_id"], name=op.f(f"fk_{table}_case_id_cases"), ondelete="CASCADE"
    )


def _gist(name: str, table: str, column: str) -> None:
    op.create_index(name, table, [column], unique=False, postgresql_using="gist")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    # ------------------------------------------------------------------ reports, analyses
    op.create_table(
        "reports",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "public_id",
            sa.String(32, collation="C"),
            server_default=sa.text(_NEW_PUBLIC_ID),
            nullable=False,
        ),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        _text("reporter_id", 255),
        sa.Column("team", sa.Integer(), server_default="0", nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column(
            "geom",
            _geometry("POINT"),
            sa.Computed("ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)", persisted=True),
            nullable=False,
        ),
        _text("description"),
        _text("status", 16, "active"),
        _text("visibility", 16, "public"),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("owner_is_public", sa.Boolean(), server_default=sa.false(), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_reports")),
        sa.UniqueConstraint("public_id", name=op.f("uq_reports_public_id")),
        sa.CheckConstraint(
            "length(public_id) = 26 AND public_id ~ '^rpt_[-_A-Za-z0-9]+$'",
            name=op.f("ck_reports_public_id_format"),
        ),
        sa.CheckConstraint(
            "latitude >= -90 AND latitude <= 90", name=op.f("ck_reports_latitude_range")
        ),
        sa.CheckConstraint(
            "longitude >= -180 AND longitude <= 180", name=op.f("ck_reports_longitude_range")
        ),
        _in("reports", "status", ("active", "resolved")),
        _in("reports", "visibility", ("public", "shadow", "quarantine")),
    )
    _gist("ix_reports_geom", "reports", "geom")
    op.create_index("ix_reports_ts_seq", "reports", ["ts", "seq"], unique=False)

    op.create_table(
        "report_analysis",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        _text("language", 16, "en"),
        _text("source", 255),
        _text("analysis_text"),
        _text("title", 500),
        _text("description"),
        _text("summary"),
        _text("brand_name", 255),
        _text("brand_display_name", 255),
        _zero("litter_probability"),
        _zero("hazard_probability"),
        _zero("digital_bug_probability"),
        _zero("severity_level"),
        _text("classification", 16, "physical"),
        _text("inferred_contact_emails"),
        sa.Column("is_valid", sa.Boolean(), server_default=sa.true(), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("seq", "language", name=op.f("pk_report_analysis")),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["reports.seq"],
            name=op.f("fk_report_analysis_seq_reports"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("language <> ''", name=op.f("ck_report_analysis_language_not_empty")),
        _in("report_analysis", "classification", ("physical", "digital")),
        _unit("report_analysis", "severity_level"),
        _unit("report_analysis", "litter_probability"),
        _unit("report_analysis", "hazard_probability"),
        _unit("report_analysis", "digital_bug_probability"),
    )

    # ------------------------------------------------------------------ contacts and auth
    op.create_table(
        "areas",
        _identity(),
        sa.Column("name", sa.String(255), nullable=False),
        _text("description"),
        sa.Column("geom", _geometry("MULTIPOLYGON"), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
    )
    _gist("ix_areas_geom", "areas", "geom")

    op.create_table(
        "area_contacts",
        _identity(),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("consent_report", sa.Boolean(), server_default=sa.false(), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area_contacts")),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.id"],
            name=op.f("fk_area_contacts_area_id_areas"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("area_id", "email", name=op.f("uq_area_contacts_area_id_email")),
        sa.CheckConstraint(
            "position('@' in email) > 1", name=op.f("ck_area_contacts_email_format")
        ),
    )

    op.create_table(
        "brand_contacts",
        _identity(),
        sa.Column("brand_key", sa.String(255), nullable=False),
        _text("organization", 255),
        _text("role", 64, "contact"),
        sa.Column(
            "emails",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        _text("website", 512),
        _text("contact_url", 512),
        _text("source", 64),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_contacts")),
        sa.UniqueConstraint(
            "brand_key",
            "role",
            "organization",
            name=op.f("uq_brand_contacts_brand_key_role_organization"),
        ),
        sa.CheckConstraint("brand_key <> ''", name=op.f("ck_brand_contacts_brand_key_not_empty")),
        sa.CheckConstraint(
            "brand_key = lower(brand_key)", name=op.f("ck_brand_contacts_brand_key_lower")
        ),
    )

    op.create_table(
        "opted_out_emails",
        sa.Column("email", sa.String(255), nullable=False),
        _now("opted_out_at"),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_opted_out_emails")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_opted_out_emails_email_lower")),
    )

    op.create_table(
        "auth_tokens",
        _identity(),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_type", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_tokens_token_hash")),
        sa.CheckConstraint(
            "token_hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_auth_tokens_token_hash_sha256_hex")
        ),
        _in("auth_tokens", "token_type", ("access", "refresh")),
    )
    op.create_index(
        "ix_auth_tokens_user_id_expires_at", "auth_tokens", ["user_id", "expires_at"], unique=False
    )

    # ------------------------------------------------------------------ cases
    op.create_table(
        "saved_clusters",
        sa.Column("cluster_id", sa.String(64), nullable=False),
        _text("source_type", 32, "geometry"),
        _text("classification", 32, "physical"),
        sa.Column("geometry_json", postgresql.JSONB(), nullable=True),
        sa.Column("geom", _geometry("GEOMETRY"), nullable=True),
        sa.Column("bbox_json", postgresql.JSONB(), nullable=True),
        sa.Column("centroid_lat", sa.Double(), nullable=True),
        sa.Column("centroid_lng", sa.Double(), nullable=True),
        _text("cluster_fingerprint", 64),
        sa.Column("seed_report_seq", sa.BigInteger(), nullable=True),
        sa.Column("report_count", sa.Integer(), server_default="0", nullable=False),
        _text("summary"),
        sa.Column("stats_json", postgresql.JSONB(), nullable=True),
        sa.Column("analysis_json", postgresql.JSONB(), nullable=True),
        sa.Column("created_by_user_id", sa.String(255), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("cluster_id", name=op.f("pk_saved_clusters")),
        sa.ForeignKeyConstraint(
            ["seed_report_seq"],
            ["reports.seq"],
            name=op.f("fk_saved_clusters_seed_report_seq_reports"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "cluster_id ~ '^clst_[0-9a-f]{24}$'", name=op.f("ck_saved_clusters_cluster_id_format")
        ),
        _in("saved_clusters", "classification", ("physical", "digital")),
        sa.CheckConstraint(
            "report_count >= 0", name=op.f("ck_saved_clusters_report_count_non_negative")
        ),
        sa.CheckConstraint(
            "centroid_lat IS NULL OR (centroid_lat >= -90 AND centroid_lat <= 90)",
            name=op.f("ck_saved_clusters_centroid_lat_range"),
        ),
        sa.CheckConstraint(
            "centroid_lng IS NULL OR (centroid_lng >= -180 AND centroid_lng <= 180)",
            name=op.f("ck_saved_clusters_centroid_lng_range"),
        ),
    )
    op.create_index(
        "ix_saved_clusters_created_by_user_id_created_at",
        "saved_clusters",
        ["created_by_user_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_saved_clusters_seed_report_seq", "saved_clusters", ["seed_report_seq"], unique=False
    )
    op.create_index(
        "ix_saved_clusters_cluster_fingerprint",
        "saved_clusters",
        ["cluster_fingerprint"],
        unique=False,
    )
    _gist("ix_saved_clusters_geom", "saved_clusters", "geom")

    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("slug", sa.String(128), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        _text("type", 64, "incident"),
        _text("status", 32, "open"),
        _text("classification", 32, "physical"),
        _text("summary"),
        _text("uncertainty_notes"),
        sa.Column("geometry_json", postgresql.JSONB(), nullable=True),
        sa.Column("aggregate_geometry_json", postgresql.JSONB(), nullable=True),
        sa.Column("aggregate_bbox_json", postgresql.JSONB(), nullable=True),
        sa.Column("aggregate_geom", _geometry("GEOMETRY"), nullable=True),
        sa.Column("anchor_report_seq", sa.BigInteger(), nullable=True),
        sa.Column("anchor_lat", sa.Double(), nullable=True),
        sa.Column("anchor_lng", sa.Double(), nullable=True),
        sa.Column(
            "anchor_geom",
            _geometry("POINT"),
            sa.Computed(
                "CASE WHEN anchor_lng IS NULL OR anchor_lat IS NULL THEN NULL "
                "ELSE ST_SetSRID(ST_MakePoint(anchor_lng, anchor_lat), 4326) END",
                persisted=True,
            ),
            nullable=True,
        ),
        sa.Column("building_id", sa.String(128), nullable=True),
        sa.Column("parcel_id", sa.String(128), nullable=True),
        *(_zero(name) for name in _CASE_SCORES),
        sa.Column("cluster_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("linked_report_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_cluster_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_into_case_id", sa.String(64), nullable=True),
        sa.Column("created_by_user_id", sa.String(255), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_cases")),
        sa.UniqueConstraint("slug", name=op.f("uq_cases_slug")),
        sa.ForeignKeyConstraint(
            ["anchor_report_seq"],
            ["reports.seq"],
            name=op.f("fk_cases_anchor_report_seq_reports"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_case_id"],
            ["cases.case_id"],
            name=op.f("fk_cases_merged_into_case_id_cases"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("case_id ~ '^case_[0-9a-f]{24}$'", name=op.f("ck_cases_case_id_format")),
        sa.CheckConstraint("slug <> ''", name=op.f("ck_cases_slug_not_empty")),
        _in("cases", "status", _CASE_STATUSES),
        _in("cases", "classification", ("physical", "digital")),
        *(_unit("cases", name) for name in _CASE_SCORES),
        sa.CheckConstraint("cluster_count >= 0", name=op.f("ck_cases_cluster_count_non_negative")),
        sa.CheckConstraint(
            "linked_report_count >= 0", name=op.f("ck_cases_linked_report_count_non_negative")
        ),
        sa.CheckConstraint(
            "anchor_lat IS NULL OR (anchor_lat >= -90 AND anchor_lat <= 90)",
            name=op.f("ck_cases_anchor_lat_range"),
        ),
        sa.CheckConstraint(
            "anchor_lng IS NULL OR (anchor_lng >= -180 AND anchor_lng <= 180)",
            name=op.f("ck_cases_anchor_lng_range"),
        ),
        sa.CheckConstraint(
            "first_seen_at IS NULL OR last_seen_at IS NULL OR first_seen_at <= last_seen_at",
            name=op.f("ck_cases_seen_order"),
        ),
        sa.CheckConstraint(
            "merged_into_case_id IS NULL OR (status = 'merged' AND merged_into_case_id <> case_id)",
            name=op.f("ck_cases_merged_into"),
        ),
    )
    op.create_index("ix_cases_status_updated_at", "cases", ["status", "updated_at"], unique=False)
    op.create_index(
        "ix_cases_created_by_user_id_created_at",
        "cases",
        ["created_by_user_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_cases_anchor_report_seq", "cases", ["anchor_report_seq"], unique=False)
    op.create_index("ix_cases_merged_into_case_id", "cases", ["merged_into_case_id"], unique=False)
    op.create_index(
        "ix_cases_status_classification_last_cluster_at",
        "cases",
        ["status", "classification", "last_cluster_at"],
        unique=False,
    )
    _gist("ix_cases_anchor_geom", "cases", "anchor_geom")
    _gist("ix_cases_aggregate_geom", "cases", "aggregate_geom")

    op.create_table(
        "case_reports",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        _text("link_reason", 128, "manual"),
        sa.Column("confidence", sa.Double(), server_default="1", nullable=False),
        _now("attached_at"),
        sa.PrimaryKeyConstraint("case_id", "seq", name=op.f("pk_case_reports")),
        _case_fk("case_reports"),
        sa.ForeignKeyConstraint(
            ["seq"], ["reports.seq"], name=op.f("fk_case_reports_seq_reports"), ondelete="CASCADE"
        ),
        _unit("case_reports", "confidence"),
    )
    op.create_index("ix_case_reports_seq", "case_reports", ["seq"], unique=False)

    op.create_table(
        "case_clusters",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("cluster_id", sa.String(64), nullable=False),
        _zero("match_score"),
        sa.Column("match_reason", sa.Text(), nullable=True),
        _now("linked_at"),
        sa.PrimaryKeyConstraint("case_id", "cluster_id", name=op.f("pk_case_clusters")),
        _case_fk("case_clusters"),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["saved_clusters.cluster_id"],
            name=op.f("fk_case_clusters_cluster_id_saved_clusters"),
            ondelete="CASCADE",
        ),
        _unit("case_clusters", "match_score"),
    )
    op.create_index("ix_case_clusters_cluster_id", "case_clusters", ["cluster_id"], unique=False)

    op.create_table(
        "case_escalation_targets",
        _identity(),
        sa.Column("case_id", sa.String(64), nullable=False),
        _text("role_type", 64, "contact"),
        _text("decision_scope", 64, "other"),
        _text("endpoint_key", 255),
        _text("organization_key", 255),
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
        *(_zero(name) for name in _TARGET_SCORES),
        sa.Column("notify_tier", sa.Integer(), server_default="3", nullable=False),
        _text("send_eligibility", 32, "review"),
        _text("execution_mode", 32, "review"),
        sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("reason_selected", sa.Text(), nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_escalation_targets")),
        _case_fk("case_escalation_targets"),
        *(_unit("case_escalation_targets", name) for name in _TARGET_SCORES),
        sa.CheckConstraint(
            "notify_tier >= 1 AND notify_tier <= 4",
            name=op.f("ck_case_escalation_targets_notify_tier_range"),
        ),
        _in("case_escalation_targets", "channel", ("email", "phone", "website", "social")),
        _in(
            "case_escalation_targets",
            "decision_scope",
            ("site_ops", "asset_owner", "regulator", "project_party", "other"),
        ),
        _in("case_escalation_targets", "send_eligibility", ("auto", "review", "hold")),
        _in("case_escalation_targets", "execution_mode", ("auto", "review", "task", "hold")),
        sa.CheckConstraint(
            "coalesce(email, '') <> '' OR coalesce(phone, '') <> '' "
            "OR coalesce(website, '') <> '' OR coalesce(contact_url, '') <> '' "
            "OR coalesce(social_handle, '') <> ''",
            name=op.f("ck_case_escalation_targets_has_contact_method"),
        ),
    )
    op.create_index(
        "ix_case_escalation_targets_case_id", "case_escalation_targets", ["case_id"], unique=False
    )
    op.create_index(
        "ix_case_escalation_targets_email", "case_escalation_targets", ["email"], unique=False
    )
    op.create_index(
        "ix_case_escalation_targets_case_id_channel",
        "case_escalation_targets",
        ["case_id", "channel"],
        unique=False,
    )

    op.create_table(
        "case_escalation_actions",
        _identity(),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        _text("channel", 32, "email"),
        _text("status", 32, "pending"),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("attachments_json", postgresql.JSONB(), nullable=True),
        sa.Column("sent_by_user_id", sa.String(255), nullable=True),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_escalation_actions")),
        _case_fk("case_escalation_actions"),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["case_escalation_targets.id"],
            name=op.f("fk_case_escalation_actions_target_id_case_escalation_targets"),
            ondelete="SET NULL",
        ),
    )
    op.create_index(
        "ix_case_escalation_actions_case_id_created_at",
        "case_escalation_actions",
        ["case_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_case_escalation_actions_target_id",
        "case_escalation_actions",
        ["target_id"],
        unique=False,
    )

    op.create_table(
        "case_email_deliveries",
        _identity(),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("action_id", sa.BigInteger(), nullable=True),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("recipient_email", sa.String(255), nullable=False),
        _text("delivery_status", 32, "sent"),
        _text("delivery_source", 64, "case_target"),
        _text("provider", 64, "sendgrid"),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_email_deliveries")),
        _case_fk("case_email_deliveries"),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["case_escalation_actions.id"],
            name=op.f("fk_case_email_deliveries_action_id_case_escalation_actions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["case_escalation_targets.id"],
            name=op.f("fk_case_email_deliveries_target_id_case_escalation_targets"),
            ondelete="SET NULL",
        ),
    )
    op.create_index(
        "ix_case_email_deliveries_case_id_created_at",
        "case_email_deliveries",
        ["case_id", "created_at"],
        unique=False,
    )
    for column in ("action_id", "target_id", "recipient_email"):
        op.create_index(
            f"ix_case_email_deliveries_{column}", "case_email_deliveries", [column], unique=False
        )

    op.create_table(
        "case_resolution_signals",
        _identity(),
        sa.Column("case_id", sa.String(64), nullable=False),
        _text("source_type", 64, "notify_outcome"),
        _text("summary", None, "Resolution signal recorded"),
        sa.Column("linked_report_seq", sa.BigInteger(), nullable=True),
        sa.Column("metadata_json", postgresql.JSONB(), nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_resolution_signals")),
        _case_fk("case_resolution_signals"),
        sa.ForeignKeyConstraint(
            ["linked_report_seq"],
            ["reports.seq"],
            name=op.f("fk_case_resolution_signals_linked_report_seq_reports"),
            ondelete="SET NULL",
        ),
    )
    op.create_index(
        "ix_case_resolution_signals_case_id_created_at",
        "case_resolution_signals",
        ["case_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_case_resolution_signals_linked_report_seq",
        "case_resolution_signals",
        ["linked_report_seq"],
        unique=False,
    )

    op.create_table(
        "case_audit_events",
        _identity(),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("actor_user_id", sa.String(255), nullable=True),
        sa.Column("payload_json", postgresql.JSONB(), nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_audit_events")),
        _case_fk("case_audit_events"),
        sa.CheckConstraint(
            "event_type <> ''", name=op.f("ck_case_audit_events_event_type_not_empty")
        ),
    )
    op.create_index(
        "ix_case_audit_events_case_id_created_at",
        "case_audit_events",
        ["case_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints; children before parents.
    for table in (
        "case_audit_events",
        "case_resolution_signals",
        "case_email_deliveries",
        "case_escalation_actions",
        "case_escalation_targets",
        "case_clusters",
        "case_reports",
        "cases",
        "saved_clusters",
        "auth_tokens",
        "opted_out_emails",
        "brand_contacts",
        "area_contacts",
        "areas",
        "report_analysis",
        "reports",
    ):
        op.drop_table(table)
