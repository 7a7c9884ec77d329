"""SQLAlchemy Core tables of the case service, and the whole store's :data:`metadata`.

The migrations in ``cleanapp_api/db/migrations`` create the tables of this module and of
:mod:`cleanapp_geo.io.tables` (the reports, analyses and contact sources the library reads
and writes), which share one :data:`metadata`; every library table is importable from here
too, so the service names one tables module. A test compares the migrated database with
the metadata so the two cannot drift apart (adding a column: ``docs/architecture.md``).

* Case tables keep the upstream columns and JSON fields (stored as JSONB) and add real
  geometry columns with GiST indexes: ``cases.anchor_geom`` (generated from
  ``anchor_lng``/``anchor_lat``), ``cases.aggregate_geom`` and ``saved_clusters.geom``
  (written by the repositories next to their ``*_json`` twins), CHECK constraints for
  enumerations and score ranges, and foreign keys with the upstream ON DELETE rules.
  The enumerations of ``case_escalation_targets`` are the library's vocabulary
  (:mod:`cleanapp_geo.targets`).
* New (migration 0002, the escalation send flow): ``case_escalation_sends`` -- one row per
  send request, written *before* the email service is called (the recorded intent): the
  planned recipients, the ``Idempotency-Key`` and the stored response it replays; and
  ``email_messages`` -- the email service's own per-message log keyed by a message key, so
  a retried send never mails a recipient twice.
* New (migration 0004, automatic matching): ``case_suggestions`` -- a report that may belong
  to a case (``attach``) or may show a resolved case is back (``reopen``), until a person
  accepts or rejects it (unique per case, report and kind, so re-ingesting suggests once);
  and ``case_rematch_runs`` -- the position of ``cleanapp-api cases rematch`` runs.
* New (migration 0005, delivery truth, ``docs/delivery.md``): one ``case_email_deliveries``
  row per send and recipient (``send_id``, ``message_key``), recorded ``pending`` with the
  intent and updated in place; sends of ``unknown`` outcome; the ledger columns of
  ``email_messages`` and ``email_send_requests`` (what the email service was asked to send).
* New (migration 0006, contact routing, ``docs/routing.md``): observations, notify plans and
  items, routing profiles, endpoint memory, execution tasks, outcomes, a solo report's
  targets and the authority directory rules, in :mod:`cleanapp_api.db.routing_tables`
  (re-exported here).
* New (migration 0007, re-matching): ``report_group_suggestions`` -- unlinked reports that
  ``cleanapp-api cases rematch`` found to be one incident with no case yet (one new report
  can bridge two earlier ones): a new-case suggestion, once per group of reports (a larger
  group supersedes the open suggestions of its subsets).
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from cleanapp_api.db.routing_tables import (
    authority_directory_rules,
    case_contact_observations,
    case_notify_plan_items,
    case_notify_plans,
    contact_endpoint_memory,
    notify_execution_tasks,
    notify_outcomes,
    report_escalation_targets,
    subject_routing_profiles,
)
from cleanapp_geo.cases import CASE_STATUSES
from cleanapp_geo.io.tables import (
    ANALYSIS_TEXT_COLUMNS,
    CLASSIFICATIONS,
    NEW_PUBLIC_ID_SQL,
    PROBABILITY_COLUMNS,
    PUBLIC_ID_PATTERN,
    REPORT_STATUSES,
    REPORT_VISIBILITIES,
    area_contacts,
    areas,
    brand_contacts,
    check_in,
    created_at_column,
    geometry_column,
    metadata,
    now_default,
    report_analysis,
    report_fk,
    reports,
    unit_interval,
    updated_at_column,
)
from cleanapp_geo.targets import (
    CHANNELS,
    DECISION_SCOPES,
    EXECUTION_MODES,
    SCORE_FIELDS,
    SEND_ELIGIBILITIES,
)

__all__ = [
    "ANALYSIS_TEXT_COLUMNS",
    "CASE_STATUSES",
    "CLASSIFICATIONS",
    "NEW_PUBLIC_ID_SQL",
    "PROBABILITY_COLUMNS",
    "PUBLIC_ID_PATTERN",
    "REPORT_STATUSES",
    "REPORT_VISIBILITIES",
    "SEND_STATUSES",
    "SUGGESTION_KINDS",
    "SUGGESTION_STATUSES",
    "area_contacts",
    "areas",
    "auth_tokens",
    "authority_directory_rules",
    "brand_contacts",
    "case_audit_events",
    "case_clusters",
    "case_contact_observations",
    "case_email_deliveries",
    "case_escalation_actions",
    "case_escalation_sends",
    "case_escalation_targets",
    "case_notify_plan_items",
    "case_notify_plans",
    "case_rematch_runs",
    "case_reports",
    "case_resolution_signals",
    "case_suggestions",
    "cases",
    "contact_endpoint_memory",
    "email_messages",
    "email_send_requests",
    "metadata",
    "notify_execution_tasks",
    "notify_outcomes",
    "opted_out_emails",
    "report_analysis",
    "report_escalation_targets",
    "report_group_suggestions",
    "reports",
    "saved_clusters",
    "subject_routing_profiles",
]

#: Kinds of a case suggestion: attach a report, or reopen a resolved/closed case for it.
SUGGESTION_KINDS: Final = ("attach", "reopen")
#: Statuses of a case suggestion (``open`` until a person or a later match decides).
SUGGESTION_STATUSES: Final = ("open", "accepted", "rejected", "superseded")
#: Bands a stored suggestion can have (``new`` is never suggested).
_SUGGESTION_BANDS: Final = ("auto", "review")
_SUGGESTION_SCORES: Final = ("probability", "case_score", "evidence_score")
#: Statuses of an escalation send request (``case_escalation_sends.status``).
SEND_STATUSES: Final = ("pending", "unknown", "sent", "partial", "failed", "dry_run")

_CASE_ID_PATTERN: Final = "^case_[0-9a-f]{24}$"
_CLUSTER_ID_PATTERN: Final = "^clst_[0-9a-f]{24}$"


def _case_fk(*, nullable: bool = False) -> sa.Column[object]:
    """Return a ``case_id`` column referring to ``cases.case_id`` (ON DELETE CASCADE)."""
    return sa.Column(
        "case_id",
        sa.String(64),
        sa.ForeignKey("cases.case_id", ondelete="CASCADE"),
        nullable=nullable,
    )


# --------------------------------------------------------------------------------------------
# Opt-outs and auth
# --------------------------------------------------------------------------------------------

opted_out_emails = sa.Table(
    "opted_out_emails",
    metadata,
    sa.Column("email", sa.String(255), primary_key=True),
    sa.Column(
        "opted_out_at", sa.DateTime(timezone=True), nullable=False, server_default=now_default()
    ),
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
    created_at_column(),
    sa.UniqueConstraint("token_hash"),
    sa.CheckConstraint("token_hash ~ '^[0-9a-f]{64}$'", name="token_hash_sha256_hex"),
    sa.CheckConstraint(check_in("token_type", ("access", "refresh")), name="token_type"),
    sa.Index("ix_auth_tokens_user_id_expires_at", "user_id", "expires_at"),
)

# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

saved_clusters = sa.Table(
    "saved_clusters",
    metadata,
    sa.Column("cluster_id", sa.String(64), primary_key=True),
    sa.Column("source_type", sa.String(32), nullable=False, server_default="geometry"),
    sa.Column("classification", sa.String(32), nullable=False, server_default="physical"),
    sa.Column("geometry_json", JSONB, nullable=True),
    sa.Column("geom", geometry_column("GEOMETRY"), nullable=True),
    sa.Column("bbox_json", JSONB, nullable=True),
    sa.Column("centroid_lat", sa.Double, nullable=True),
    sa.Column("centroid_lng", sa.Double, nullable=True),
    sa.Column("cluster_fingerprint", sa.String(64), nullable=False, server_default=""),
    report_fk("seed_report_seq", ondelete="SET NULL", nullable=True),
    sa.Column("report_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("stats_json", JSONB, nullable=True),
    sa.Column("analysis_json", JSONB, nullable=True),
    sa.Column("created_by_user_id", sa.String(255), nullable=False),
    created_at_column(),
    updated_at_column(),
    sa.CheckConstraint(f"cluster_id ~ '{_CLUSTER_ID_PATTERN}'", name="cluster_id_format"),
    sa.CheckConstraint(check_in("classification", CLASSIFICATIONS), name="classification"),
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
    sa.Column("aggregate_geom", geometry_column("GEOMETRY"), nullable=True),
    report_fk("anchor_report_seq", ondelete="SET NULL", nullable=True),
    sa.Column("anchor_lat", sa.Double, nullable=True),
    sa.Column("anchor_lng", sa.Double, nullable=True),
    sa.Column(
        "anchor_geom",
        geometry_column("POINT"),
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
    created_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("slug"),
    sa.CheckConstraint(f"case_id ~ '{_CASE_ID_PATTERN}'", name="case_id_format"),
    sa.CheckConstraint("slug <> ''", name="slug_not_empty"),
    sa.CheckConstraint(check_in("status", CASE_STATUSES), name="status"),
    sa.CheckConstraint(check_in("classification", CLASSIFICATIONS), name="classification"),
    *(unit_interval(name) for name in _CASE_SCORES),
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
    sa.Index("ix_cases_created_by_user_id_updated_at", "created_by_user_id", "updated_at"),
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
    report_fk("seq", ondelete="CASCADE", nullable=False),
    sa.Column("link_reason", sa.String(128), nullable=False, server_default="manual"),
    sa.Column("confidence", sa.Double, nullable=False, server_default="1"),
    sa.Column(
        "attached_at", sa.DateTime(timezone=True), nullable=False, server_default=now_default()
    ),
    sa.PrimaryKeyConstraint("case_id", "seq"),
    unit_interval("confidence"),
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
    sa.Column(
        "linked_at", sa.DateTime(timezone=True), nullable=False, server_default=now_default()
    ),
    sa.PrimaryKeyConstraint("case_id", "cluster_id"),
    unit_interval("match_score"),
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
    created_at_column(),
    *(unit_interval(name) for name in _TARGET_SCORES),
    sa.CheckConstraint("notify_tier >= 1 AND notify_tier <= 4", name="notify_tier_range"),
    sa.CheckConstraint(check_in("channel", CHANNELS), name="channel"),
    sa.CheckConstraint(
        check_in("decision_scope", DECISION_SCOPES),
        name="decision_scope",
    ),
    sa.CheckConstraint(check_in("send_eligibility", SEND_ELIGIBILITIES), name="send_eligibility"),
    sa.CheckConstraint(check_in("execution_mode", EXECUTION_MODES), name="execution_mode"),
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
    created_at_column(),
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
    created_at_column(),
    updated_at_column(),
    # New (0005): the send and message key of a delivery; one delivery per send and recipient.
    sa.Column(
        "send_id",
        sa.BigInteger,
        sa.ForeignKey("case_escalation_sends.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("message_key", sa.String(512), nullable=True),
    sa.UniqueConstraint("send_id", "recipient_email"),
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
    report_fk("linked_report_seq", ondelete="SET NULL", nullable=True),
    sa.Column("metadata_json", JSONB, nullable=True),
    created_at_column(),
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
    created_at_column(),
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
    created_at_column(),
    updated_at_column(),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("actor_user_id", "idempotency_key"),
    sa.CheckConstraint(check_in("status", SEND_STATUSES), name="status"),
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
    sa.Column("message_key", sa.String(512), primary_key=True),
    sa.Column("case_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("provider_message_id", sa.String(255), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    created_at_column(),
    updated_at_column(),
    # New (0005): the ledger's send, recipient, attempts, next try and claim lease.
    sa.Column("send_id", sa.BigInteger, nullable=True),
    sa.Column("recipient_json", JSONB, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("message_key <> ''", name="message_key_not_empty"),
    sa.Index("ix_email_messages_email_created_at", "email", "created_at"),
    sa.Index("ix_email_messages_send_id", "send_id"),
    sa.Index("ix_email_messages_status_next_attempt_at", "status", "next_attempt_at"),
)

email_send_requests = sa.Table(
    "email_send_requests",
    metadata,
    sa.Column("send_id", sa.BigInteger, primary_key=True),
    sa.Column("case_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("request_json", JSONB, nullable=False),
    sa.Column("public_url", sa.Text, nullable=False, server_default=""),
    created_at_column(),
)

# --------------------------------------------------------------------------------------------
# Automatic matching (new, migration 0004; cleanapp_api.services.ingest and .suggestions)
# --------------------------------------------------------------------------------------------

case_suggestions = sa.Table(
    "case_suggestions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _case_fk(),
    report_fk("seq", ondelete="CASCADE", nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("band", sa.String(16), nullable=False),
    *(
        sa.Column(name, sa.Double, nullable=False, server_default="0")
        for name in _SUGGESTION_SCORES
    ),
    sa.Column("evidence_seq", sa.BigInteger, nullable=True),
    sa.Column("match_json", JSONB, nullable=True),
    created_at_column(),
    updated_at_column(),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decided_by_user_id", sa.String(255), nullable=True),
    sa.Column("decision_note", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("case_id", "seq", "kind"),
    sa.CheckConstraint(check_in("kind", SUGGESTION_KINDS), name="kind"),
    sa.CheckConstraint(check_in("status", SUGGESTION_STATUSES), name="status"),
    sa.CheckConstraint(check_in("band", _SUGGESTION_BANDS), name="band"),
    *(unit_interval(name) for name in _SUGGESTION_SCORES),
    sa.CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided_when_closed"),
    sa.Index("ix_case_suggestions_status_created_at_id", "status", "created_at", "id"),
    sa.Index("ix_case_suggestions_case_id_status", "case_id", "status"),
    sa.Index("ix_case_suggestions_seq", "seq"),
)

case_rematch_runs = sa.Table(
    "case_rematch_runs",
    metadata,
    sa.Column("run_key", sa.String(64), primary_key=True),
    sa.Column("since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("scope_json", JSONB, nullable=True),
    sa.Column("cursor_ts", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cursor_seq", sa.BigInteger, nullable=True),
    sa.Column("finished", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("examined", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("attached", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("suggested", sa.BigInteger, nullable=False, server_default="0"),
    created_at_column(),
    updated_at_column(),
    sa.CheckConstraint("run_key ~ '^[0-9a-f]{64}$'", name="run_key_sha256_hex"),
)

report_group_suggestions = sa.Table(
    "report_group_suggestions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("group_key", sa.String(64), nullable=False),
    sa.Column("report_seqs", ARRAY(sa.BigInteger), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("confidence", sa.Double, nullable=False, server_default="0"),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("group_json", JSONB, nullable=True),
    sa.Column("run_key", sa.String(64), nullable=True),
    created_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("group_key"),
    sa.CheckConstraint(check_in("status", SUGGESTION_STATUSES), name="status"),
    unit_interval("confidence"),
    sa.CheckConstraint("cardinality(report_seqs) >= 2", name="two_reports_or_more"),
    sa.Index("ix_report_group_suggestions_status_created_at_id", "status", "created_at", "id"),
    sa.Index("ix_report_group_suggestions_report_seqs", "report_seqs", postgresql_using="gin"),
)
