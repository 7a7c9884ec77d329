"""Escalation sends: recorded send intents (idempotency, replay) and the email message log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-15

``case_escalation_sends`` holds one row per ``POST /cases/{id}/escalations/send``: written
before the email service is called, finalised after; the ``Idempotency-Key`` is unique per
actor. ``email_messages`` is the email service's per-message log (a message key sent twice
is answered from the log instead of being mailed again).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SEND_STATUSES = ("pending", "sent", "partial", "failed", "dry_run")


def _now(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    listed = ", ".join(f"'{v}'" for v in _SEND_STATUSES)
    op.create_table(
        "case_escalation_sends",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("actor_user_id", sa.String(255), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), server_default="", nullable=False),
        sa.Column("recipients_json", postgresql.JSONB(), nullable=False),
        sa.Column(
            "sent_emails",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_json", postgresql.JSONB(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_escalation_sends")),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.case_id"],
            name=op.f("fk_case_escalation_sends_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "actor_user_id",
            "idempotency_key",
            name=op.f("uq_case_escalation_sends_actor_user_id_idempotency_key"),
        ),
        sa.CheckConstraint(f"status IN ({listed})", name=op.f("ck_case_escalation_sends_status")),
        sa.CheckConstraint(
            "request_hash ~ '^[0-9a-f]{64}$'",
            name=op.f("ck_case_escalation_sends_request_hash_sha256_hex"),
        ),
        sa.CheckConstraint(
            "content_hash ~ '^[0-9a-f]{64}$'",
            name=op.f("ck_case_escalation_sends_content_hash_sha256_hex"),
        ),
        sa.CheckConstraint(
            "idempotency_key IS NULL OR idempotency_key <> ''",
            name=op.f("ck_case_escalation_sends_idempotency_key_not_empty"),
        ),
        sa.CheckConstraint(
            "attempts >= 0", name=op.f("ck_case_escalation_sends_attempts_non_negative")
        ),
    )
    for columns in (
        ("case_id", "created_at"),
        ("actor_user_id", "created_at"),
        ("status", "created_at"),
    ):
        op.create_index(
            f"ix_case_escalation_sends_{'_'.join(columns)}",
            "case_escalation_sends",
            list(columns),
            unique=False,
        )

    op.create_table(
        "email_messages",
        sa.Column("message_key", sa.String(255), nullable=False),
        sa.Column("case_id", sa.String(64), server_default="", nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("message_key", name=op.f("pk_email_messages")),
        sa.CheckConstraint(
            "message_key <> ''", name=op.f("ck_email_messages_message_key_not_empty")
        ),
    )
    op.create_index(
        "ix_email_messages_email_created_at",
        "email_messages",
        ["email", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("email_messages")
    op.drop_table("case_escalation_sends")
