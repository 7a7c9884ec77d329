"""SQLAlchemy Core tables of the PostGIS store (one :data:`metadata` for every table).

The migrations in ``cleanapp_api/db/migrations`` create exactly these tables; a test compares
the migrated database with this module so the two cannot drift apart. Table and column names
follow the upstream CleanApp schema (reference ``upstream-cases.md`` §1.1 and §3) with these
deliberate changes:

* ``reports`` folds upstream ``reports``, ``reports_geometry``, ``report_status``,
  ``reports_owners`` and ``report_raw.visibility`` into one row per report. The reporter id
  (upstream column ``id``) is ``reporter_id``. ``geom`` is a generated
  ``geometry(Point, 4326)`` column computed from ``longitude``/``latitude`` so the two can
  never disagree. Its GiST index serves polygon scopes (``ST_Intersects``) and, through a
  conservative bounding box, metre-radius scopes (``ST_DWithin`` on geography), so no second
  (geography) index has to be maintained on bulk loads; see :mod:`cleanapp_geo.io.read`.
* ``reports.preferred_language`` (new, migration 0003) is the language of the report's
  preferred analysis (reference §1.3; NULL when it has none), so readers join that analysis
  on the ``(seq, language)`` primary key instead of ranking every report's analyses.
  Statement-level triggers on ``report_analysis`` (created by the migration; a MetaData
  cannot declare them) keep it right for every writer: inserts, updates, deletes,
  truncation. :func:`cleanapp_geo.io.write_reports` stores it with new reports, so its
  bulk loads cost the triggers one join and no update.
* ``seq`` is the stable key of a report: bulk imports are idempotent on it. ``public_id``
  always holds an upstream-format id (``rpt_`` + 22 base64url characters); when an import
  does not supply one, the database draws a random one (:data:`NEW_PUBLIC_ID_SQL`).
* ``areas`` folds upstream ``areas`` and ``area_index``; ``area_contacts`` is upstream
  ``contact_emails``.
* Case tables keep the upstream columns and JSON fields (stored as JSONB) and add real
  geometry columns with GiST indexes: ``cases.anchor_geom`` (generated from
  ``anchor_lng``/``anchor_lat``), ``cases.aggregate_geom`` and ``saved_clusters.geom``
  (written by the repositories next to their ``*_json`` twins), CHECK constraints for
  enumerations and score ranges, and foreign keys with the upstream ON DELETE rules.
* New (migration 0002, the escalation send flow): ``case_escalation_sends`` -- one row per
  send request, written *before* the email service is called (the recorded intent): the
  planned recipients, the ``Idempotency-Key`` and the stored response it replays; and
  ``email_messages`` -- the email service's own per-message log keyed by a message key, so
  a retried send never mails a recipient twice.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from cleanapp_geo.targets import (
    CHANNELS,
    DECISION_SCOPES,
    EXECUTION_MODES,
    SCORE_FIELDS,
    SEND_ELIGIBILITIES,
)

__all__ = [
    "CASE_STATUSES",
    "CLASSIFICATIONS",
    "NEW_PUBLIC_ID_SQL",
    "PUBLIC_ID_PATTERN",
    "REPORT_STATUSES",
    "REPORT_VISIBILITIES",
    "SEND_STATUSES",
    "area_contacts",
    "areas",
    "auth_tokens",
    "brand_contacts",
    "case_audit_events",
    "case_clusters",
    "case_email_deliveries",
    "case_escalation_actions",
    "case_escalation_sends",
    "case_escalation_targets",
    "case_reports",
    "case_resolution_signals",
    "cases",
    "email_messages",
    "metadata",
    "opted_out_emails",
    "report_analysis",
    "reports",
    "saved_clusters",
]

#: Case lifecycle values (reference §9.1 recommendation).
CASE_STATUSES: Final = (
    "open",
    "investigating",
    "escalated",
    "monitoring",
    "resolved",
    "closed",
    "merged",
)
#: Statuses of an escalation send request (``case_escalation_sends.status``).
SEND_STATUSES: Final = ("pending", "sent", "partial", "failed", "dry_run")
#: Report classifications (upstream ENUM of ``report_analysis.classification``).
CLASSIFICATIONS: Final = ("physical", "digital")
#: Report statuses (upstream ``report_status.status``).
REPORT_STATUSES: Final = ("active", "resolved")
#: Report visibilities (upstream ``report_raw.visibility``).
REPORT_VISIBILITIES: Final = ("public", "shadow", "quarantine")
#: PostgreSQL regular expression every ``reports.public_id`` matches.
PUBLIC_ID_PATTERN: Final = "^rpt_[A-Za-z0-9_-]{22}$"
#: SQL expression drawing a fresh random public id (``rpt_`` + 22 base64url characters, about
#: 126 random bits from two version-4 UUIDs); the server default of ``reports.public_id``.
NEW_PUBLIC_ID_SQL: Final = (
    "'rpt_' || substr(translate(encode(decode("
    "replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), "
    "'hex'), 'base64'), '+/', '-_'), 1, 22)"
)

_CASE_ID_PATTERN: Final = "^case_[0-9a-f]{24}$"
_CLUSTER_ID_PATTERN: Final = "^clst_[0-9a-f]{24}$"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _in(column: str, values: tuple[str, ...]) -> str:
    """Return SQL text ``column IN (...)`` over constant literals (never user values)."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


def _unit(column: str) -> sa.CheckConstraint:
    """CHECK that a score column lies in [0, 1]."""
    return sa.CheckConstraint(f"{column} >= 0 AND {column} <= 1", name=f"{column}_range")


def _now() -> sa.TextClause:
    return sa.text("now()")


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()
    )


def _updated_at() -> sa.Column[object]:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()
    )


def _case_fk(*, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(
        "case_id",
        sa.String(64),
        sa.ForeignKey("cases.case_id", ondelete="CASCADE"),
        nullable=nullable,
    )


def _report_fk(name: str, *, ondelete: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(
        name, sa.BigInteger, sa.ForeignKey("reports.seq", ondelete=ondelete), nullable=nullable
    )


def _geometry(geometry_type: str) -> Geometry:
    # Spatial indexes are declared explicitly (named, visible to migrations).
    return Geometry(geometry_type, srid=4326, spatial_index=False)


# --------------------------------------------------------------------------------------------
# Reports and their analyses (reference §1.1, §1.2)
# --------------------------------------------------------------------------------------------

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    # Collation "C": ids are ASCII, byte order is their order, and the unique index builds
    # twice as fast as under a linguistic collation.
    sa.Column(
        "public_id",
        sa.String(32, collation="C"),
        nullable=False,
        server_default=sa.text(NEW_PUBLIC_ID_SQL),
    ),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reporter_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("team", sa.Integer, nullable=False, server_default="0"),
    sa.Column("latitude", sa.Double, nullable=False),
    sa.Column("longitude", sa.Double, nullable=False),
    sa.Column(
        "geom",
        _geometry("POINT"),
        sa.Computed("ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)", persisted=True),
        nullable=False,
    ),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("visibility", sa.String(16), nullable=False, server_default="public"),
    sa.Column("owner", sa.String(255), nullable=True),
    sa.Column("owner_is_public", sa.Boolean, nullable=False, server_default=sa.false()),
    _created_at(),
    # Language of the preferred analysis (reference §1.3), NULL without analyses; kept up to
    # date by the triggers of migration 0003 on report_analysis (see the module docstring).
    sa.Column("preferred_language", sa.String(16), nullable=True),
    sa.UniqueConstraint("public_id"),
    # Same language as PUBLIC_ID_PATTERN, about four times cheaper for PostgreSQL's regex
    # engine than a counted repetition (it matters on million-row imports).
    sa.CheckConstraint(
        "length(public_id) = 26 AND public_id ~ '^rpt_[-_A-Za-z0-9]+$'", name="public_id_format"
    ),
    sa.CheckConstraint("latitude >= -90 AND latitude <= 90", name="latitude_range"),
    sa.CheckConstraint("longitude >= -180 AND longitude <= 180", name="longitude_range"),
    sa.CheckConstraint(_in("status", REPORT_STATUSES), name="status"),
    sa.CheckConstraint(_in("visibility", REPORT_VISIBILITIES), name="visibility"),
    sa.Index("ix_reports_geom", "geom", postgresql_using="gist"),
    sa.Index("ix_reports_ts_seq", "ts", "seq"),
)

#: Text columns of ``report_analysis`` beyond the report-frame contract's core.
ANALYSIS_TEXT_COLUMNS: Final = (
    "source",
    "analysis_text",
    "title",
    "description",
    "summary",
    "brand_name",
    "brand_display_name",
    "inferred_contact_emails",
)
#: Probability columns of ``report_analysis``, each in [0, 1].
PROBABILITY_COLUMNS: Final = ("litter_probability", "hazard_probability", "digital_bug_probability")

report_analysis = sa.Table(
    "report_analysis",
    metadata,
    _report_fk("seq", ondelete="CASCADE", nullable=False),
    sa.Column("language", sa.String(16), nullable=False, server_default="en"),
    sa.Column("source", sa.String(255), nullable=False, server_default=""),
    sa.Column("analysis_text", sa.Text, nullable=False, server_default=""),
    sa.Column("title", sa.String(500), nullable=False, server_default=""),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("brand_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("brand_display_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("litter_probability", sa.Double, nullable=False, server_default="0"),
    sa.Column("hazard_probability", sa.Double, nullable=False, server_default="0"),
    sa.Column("digital_bug_probability", sa.Double, nullable=False, server_default="0"),
    sa.Column("severity_level", sa.Double, nullable=False, server_default="0"),
    sa.Column("classification", sa.String(16), nullable=False, server_default="physical"),
    sa.Column("inferred_contact_emails", sa.Text, nullable=False, server_default=""),
    sa.Column("is_valid", sa.Boolean, nullable=False, server_default=sa.true()),
    _created_at(),
    _updated_at(),
    sa.PrimaryKeyConstraint("seq", "language"),
    sa.CheckConstraint("language <> ''", name="language_not_empty"),
    sa.CheckConstraint(_in("classification", CLASSIFICATIONS), name="classification"),
    _unit("severity_level"),
    _unit("litter_probability"),
    _unit("hazard_probability"),
    _unit("digital_bug_probability"),
)

# --------------------------------------------------------------------------------------------
# Contact sources and auth
# --------------------------------------------------------------------------------------------

areas = sa.Table(
    "areas",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("geom", _geometry("MULTIPOLYGON"), nullable=False),
    _created_at(),
    _updated_at(),
    sa.Index("ix_areas_geom", "geom", postgresql_using="gist"),
)

area_contacts = sa.Table(
    "area_contacts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "area_id", sa.BigInteger, sa.ForeignKey("areas.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("consent_report", sa.Boolean, nullable=False, server_default=sa.false()),
    _created_at(),
    sa.UniqueConstraint("area_id", "email"),
    sa.CheckConstraint("position('@' in email) > 1", name="email_format"),
)

brand_contacts = sa.Table(
    "brand_contacts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("brand_key", sa.String(255), nullable=False),
    sa.Column("organization", sa.String(255), nullable=False, server_default=""),
    sa.Column("role", sa.String(64), nullable=False, server_default="contact"),
    sa.Column("emails", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
    sa.Column("website", sa.String(512), nullable=False, server_default=""),
    sa.Column("contact_url", sa.String(512), nullable=False, server_default=""),
    sa.Column("source", sa.String(64), nullable=False, server_default=""),
    _created_at(),
    _updated_at(),
    sa.UniqueConstraint("brand_key", "role", "organization"),
    sa.CheckConstraint("brand_key <> ''", name="brand_key_not_empty"),
    sa.CheckConstraint("brand_key = lower(brand_key)", name="brand_key_lower"),
)

opted_out_emails = sa.Table(
    "opted_out_emails",
    metadata,
    sa.Column("email", sa.String(255), primary_key=True),
    sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("email = lower(email)", name="email_lower"),
)

auth_tokens = sa.Table(
    "auth_tokens",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("token_type", sa.String(16), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    _created_at(),
    sa.UniqueConstraint("token_hash"),
    sa.CheckConstraint("token_hash ~ '^[0-9a-f]{64}$'", name="token_hash_sha256_hex"),
    sa.CheckConstraint(_in("token_type", ("access", "refresh")), name="token_type"),
    sa.Index("ix_auth_tokens_user_id_expires_at", "user_id", "expires_at"),
)

# --------------------------------------------------------------------------------------------
# Cases (reference §3.1-§3.9)
# --------------------------------------------------------------------------------------------

saved_clusters = sa.Table(
    "saved_clusters",
    metadata,
    sa.Column("cluster_id", sa.String(64), primary_key=True),
    sa.Column("source_type", sa.String(32), nullable=False, server_default="geometry"),
    sa.Column("classification", sa.String(32), nullable=False, server_default="physical"),
    sa.Column("geometry_json", JSONB, nullable=True),
    sa.Column("geom", _geometry("GEOMETRY"), nullable=True),
    sa.Column("bbox_json", JSONB, nullable=True),
    sa.Column("centroid_lat", sa.Double, nullable=True),
    sa.Column("centroid_lng", sa.Double, nullable=True),
    sa.Column("cluster_fingerprint", sa.String(64), nullable=False, server_default=""),
    _report_fk("seed_report_seq", ondelete="SET NULL", nullable=True),
    sa.Column("report_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("stats_json", JSONB, nullable=True),
    sa.Column("analysis_json", JSONB, nullable=True),
    sa.Column("created_by_user_id", sa.String(255), nullable=False),
    _created_at(),
    _updated_at(),
    sa.CheckConstraint(f"cluster_id ~ '{_CLUSTER_ID_PATTERN}'", name="cluster_id_format"),
    sa.CheckConstraint(_in("classification", CLASSIFICATIONS), name="classification"),
    sa.CheckConstraint("report_count >= 0", name="report_count_non_negative"),
    sa.CheckConstraint(
        "centroid_lat IS NULL OR (centroid_lat >= -90 AND centroid_lat <= 90)",
        name="centroid_lat_range",
    ),
    sa.CheckConstraint(
        "centroid_lng IS NULL OR (centroid_lng >= -180 AND centroid_lng <= 180)",
        name="centroid_lng_range",
    ),
    sa.Index("ix_saved_clusters_created_by_user_id_created_at", "created_by_user_id", "created_at"),
    sa.Index("ix_saved_clusters_seed_report_seq", "seed_report_seq"),
    sa.Index("ix_saved_clusters_cluster_fingerprint", "cluster_fingerprint"),
    sa.Index("ix_saved_clusters_geom", "geom", postgresql_using="gist"),
)

_CASE_SCORES: Final = (
    "severity_score",
    "urgency_score",
    "confidence_score",
    "exposure_score",
    "criticality_score",
    "trend_score",
)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("slug", sa.String(128), nullable=False),
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("type", sa.String(64), nullable=False, server_default="incident"),
    sa.Column("status", sa.String(32), nullable=False, server_default="open"),
    sa.Column("classification", sa.String(32), nullable=False, server_default="physical"),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("uncertainty_notes", sa.Text, nullable=False, server_default=""),
    sa.Column("geometry_json", JSONB, nullable=True),
    sa.Column("aggregate_geometry_json", JSONB, nullable=True),
    sa.Column("aggregate_bbox_json", JSONB, nullable=True),
    sa.Column("aggregate_geom", _geometry("GEOMETRY"), nullable=True),
    _report_fk("anchor_report_seq", ondelete="SET NULL", nullable=True),
    sa.Column("anchor_lat", sa.Double, nullable=True),
    sa.Column("anchor_lng", sa.Double, nullable=True),
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
    *(sa.Column(name, sa.Double, nullable=False, server_default="0") for name in _CASE_SCORES),
    sa.Column("cluster_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("linked_report_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_cluster_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column(
        "merged_into_case_id",
        sa.String(64),
        sa.ForeignKey("cases.case_id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("created_by_user_id", sa.String(255), nullable=False),
    _created_at(),
    _updated_at(),
    sa.UniqueConstraint("slug"),
    sa.CheckConstraint(f"case_id ~ '{_CASE_ID_PATTERN}'", name="case_id_format"),
    sa.CheckConstraint("slug <> ''", name="slug_not_empty"),
    sa.CheckConstraint(_in("status", CASE_STATUSES), name="status"),
    sa.CheckConstraint(_in("classification", CLASSIFICATIONS), name="classification"),
    *(_unit(name) for name in _CASE_SCORES),
    sa.CheckConstraint("cluster_count >= 0", name="cluster_count_non_negative"),
    sa.CheckConstraint("linked_report_count >= 0", name="linked_report_count_non_negative"),
    sa.CheckConstraint(
        "anchor_lat IS NULL OR (anchor_lat >= -90 AND anchor_lat <= 90)", name="anchor_lat_range"
    ),
    sa.CheckConstraint(
        "anchor_lng IS NULL OR (anchor_lng >= -180 AND anchor_lng <= 180)",
        name="anchor_lng_range",
    ),
    sa.CheckConstraint(
        "first_seen_at IS NULL OR last_seen_at IS NULL OR first_seen_at <= last_seen_at",
        name="seen_order",
    ),
    sa.CheckConstraint(
        "merged_into_case_id IS NULL OR (status = 'merged' AND merged_into_case_id <> case_id)",
        name="merged_into",
    ),
    sa.Index("ix_cases_status_updated_at", "status", "updated_at"),
    sa.Index("ix_cases_created_by_user_id_created_at", "created_by_user_id", "created_at"),
    sa.Index("ix_cases_anchor_report_seq", "anchor_report_seq"),
    sa.Index("ix_cases_merged_into_case_id", "merged_into_case_id"),
    sa.Index(
        "ix_cases_status_classification_last_cluster_at",
        "status",
        "classification",
        "last_cluster_at",
    ),
    sa.Index("ix_cases_anchor_geom", "anchor_geom", postgresql_using="gist"),
    sa.Index("ix_cases_aggregate_geom", "aggregate_geom", postgresql_using="gist"),
)

case_reports = sa.Table(
    "case_reports",
    metadata,
    _case_fk(),
    _report_fk("seq", ondelete="CASCADE", nullable=False),
    sa.Column("link_reason", sa.String(128), nullable=False, server_default="manual"),
    sa.Column("confidence", sa.Double, nullable=False, server_default="1"),
    sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.PrimaryKeyConstraint("case_id", "seq"),
    _unit("confidence"),
    sa.Index("ix_case_reports_seq", "seq"),
)

case_clusters = sa.Table(
    "case_clusters",
    metadata,
    _case_fk(),
    sa.Column(
        "cluster_id",
        sa.String(64),
        sa.ForeignKey("saved_clusters.cluster_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("match_score", sa.Double, nullable=False, server_default="0"),
    sa.Column("match_reason", sa.Text, nullable=True),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.PrimaryKeyConstraint("case_id", "cluster_id"),
    _unit("match_score"),
    sa.Index("ix_case_clusters_cluster_id", "cluster_id"),
)

_TARGET_SCORES: Final = SCORE_FIELDS

case_escalation_targets = sa.Table(
    "case_escalation_targets",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _case_fk(),
    sa.Column("role_type", sa.String(64), nullable=False, server_default="contact"),
    sa.Column("decision_scope", sa.String(64), nullable=False, server_default="other"),
    sa.Column("endpoint_key", sa.String(255), nullable=False, server_default=""),
    sa.Column("organization_key", sa.String(255), nullable=False, server_default=""),
    sa.Column("organization", sa.String(255), nullable=True),
    sa.Column("display_name", sa.String(255), nullable=True),
    sa.Column("channel", sa.String(32), nullable=False, server_default="email"),
    sa.Column("email", sa.String(255), nullable=True),
    sa.Column("phone", sa.String(64), nullable=True),
    sa.Column("website", sa.String(512), nullable=True),
    sa.Column("contact_url", sa.String(512), nullable=True),
    sa.Column("source_url", sa.String(512), nullable=True),
    sa.Column("social_platform", sa.String(64), nullable=True),
    sa.Column("social_handle", sa.String(255), nullable=True),
    sa.Column("evidence_text", sa.Text, nullable=True),
    sa.Column("verification_level", sa.String(64), nullable=True),
    sa.Column("attribution_class", sa.String(64), nullable=False, server_default="heuristic"),
    sa.Column("target_source", sa.String(64), nullable=False, server_default="suggested"),
    *(sa.Column(name, sa.Double, nullable=False, server_default="0") for name in _TARGET_SCORES),
    sa.Column("notify_tier", sa.Integer, nullable=False, server_default="3"),
    sa.Column("send_eligibility", sa.String(32), nullable=False, server_default="review"),
    sa.Column("execution_mode", sa.String(32), nullable=False, server_default="review"),
    sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("rationale", sa.Text, nullable=True),
    sa.Column("reason_selected", sa.Text, nullable=True),
    _created_at(),
    *(_unit(name) for name in _TARGET_SCORES),
    sa.CheckConstraint("notify_tier >= 1 AND notify_tier <= 4", name="notify_tier_range"),
    sa.CheckConstraint(_in("channel", CHANNELS), name="channel"),
    sa.CheckConstraint(
        _in("decision_scope", DECISION_SCOPES),
        name="decision_scope",
    ),
    sa.CheckConstraint(_in("send_eligibility", SEND_ELIGIBILITIES), name="send_eligibility"),
    sa.CheckConstraint(_in("execution_mode", EXECUTION_MODES), name="execution_mode"),
    sa.CheckConstraint(
        "coalesce(email, '') <> '' OR coalesce(phone, '') <> '' OR coalesce(website, '') <> '' "
        "OR coalesce(contact_url, '') <> '' OR coalesce(social_handle, '') <> ''",
        name="has_contact_method",
    ),
    sa.Index("ix_case_escalation_targets_case_id", "case_id"),
    sa.Index("ix_case_escalation_targets_email", "email"),
    sa.Index("ix_case_escalation_targets_case_id_channel", "case_id", "channel"),
)

case_escalation_actions = sa.Table(
    "case_escalation_actions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _case_fk(),
    sa.Column(
        "target_id",
        sa.BigInteger,
        sa.ForeignKey("case_escalation_targets.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("channel", sa.String(32), nullable=False, server_default="email"),
    sa.Column("status", sa.String(32), nullable=False, server_default="pending"),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("attachments_json", JSONB, nullable=True),
    sa.Column("sent_by_user_id", sa.String(255), nullable=True),
    sa.Column("provider_message_id", sa.String(255), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    _created_at(),
    sa.Index("ix_case_escalation_actions_case_id_created_at", "case_id", "created_at"),
    sa.Index("ix_case_escalation_actions_target_id", "target_id"),
)

case_email_deliveries = sa.Table(
    "case_email_deliveries",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _case_fk(),
    sa.Column(
        "action_id",
        sa.BigInteger,
        sa.ForeignKey("case_escalation_actions.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column(
        "target_id",
        sa.BigInteger,
        sa.ForeignKey("case_escalation_targets.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("recipient_email", sa.String(255), nullable=False),
    sa.Column("delivery_status", sa.String(32), nullable=False, server_default="sent"),
    sa.Column("delivery_source", sa.String(64), nullable=False, server_default="case_target"),
    sa.Column("provider", sa.String(64), nullable=False, server_default="sendgrid"),
    sa.Column("provider_message_id", sa.String(255), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    _created_at(),
    _updated_at(),
    sa.Index("ix_case_email_deliveries_case_id_created_at", "case_id", "created_at"),
    sa.Index("ix_case_email_deliveries_action_id", "action_id"),
    sa.Index("ix_case_email_deliveries_target_id", "target_id"),
    sa.Index("ix_case_email_deliveries_recipient_email", "recipient_email"),
)

case_resolution_signals = sa.Table(
    "case_resolution_signals",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _case_fk(),
    sa.Column("source_type", sa.String(64), nullable=False, server_default="notify_outcome"),
    sa.Column("summary", sa.Text, nullable=False, server_default="Resolution signal recorded"),
    _report_fk("linked_report_seq", ondelete="SET NULL", nullable=True),
    sa.Column("metadata_json", JSONB, nullable=True),
    _created_at(),
    sa.Index("ix_case_resolution_signals_case_id_created_at", "case_id", "created_at"),
    sa.Index("ix_case_resolution_signals_linked_report_seq", "linked_report_seq"),
)

case_audit_events = sa.Table(
    "case_audit_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _case_fk(),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("actor_user_id", sa.String(255), nullable=True),
    sa.Column("payload_json", JSONB, nullable=True),
    _created_at(),
    sa.CheckConstraint("event_type <> ''", name="event_type_not_empty"),
    sa.Index("ix_case_audit_events_case_id_created_at", "case_id", "created_at"),
)

# --------------------------------------------------------------------------------------------
# Escalation sends (new; cleanapp_api.escalation.sending and cleanapp_api.email_service)
# --------------------------------------------------------------------------------------------

case_escalation_sends = sa.Table(
    "case_escalation_sends",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _case_fk(),
    sa.Column("actor_user_id", sa.String(255), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False, server_default=""),
    sa.Column("recipients_json", JSONB, nullable=False),
    sa.Column(
        "sent_emails", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")
    ),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("response_json", JSONB, nullable=True),
    _created_at(),
    _updated_at(),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("actor_user_id", "idempotency_key"),
    sa.CheckConstraint(_in("status", SEND_STATUSES), name="status"),
    sa.CheckConstraint("request_hash ~ '^[0-9a-f]{64}$'", name="request_hash_sha256_hex"),
    sa.CheckConstraint("content_hash ~ '^[0-9a-f]{64}$'", name="content_hash_sha256_hex"),
    sa.CheckConstraint(
        "idempotency_key IS NULL OR idempotency_key <> ''", name="idempotency_key_not_empty"
    ),
    sa.CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    sa.Index("ix_case_escalation_sends_case_id_created_at", "case_id", "created_at"),
    sa.Index("ix_case_escalation_sends_actor_user_id_created_at", "actor_user_id", "created_at"),
    sa.Index("ix_case_escalation_sends_status_created_at", "status", "created_at"),
)

email_messages = sa.Table(
    "email_messages",
    metadata,
    sa.Column("message_key", sa.String(255), primary_key=True),
    sa.Column("case_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("provider_message_id", sa.String(255), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    _created_at(),
    _updated_at(),
    sa.CheckConstraint("message_key <> ''", name="message_key_not_empty"),
    sa.Index("ix_email_messages_email_created_at", "email", "created_at"),
)
