"""Delivery truth: one delivery per (send, recipient), sends of unknown outcome, the ledger.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

* ``case_escalation_sends.status`` may be ``unknown`` (the API lost track of the email
  service's answer: a timeout, a lost connection; the reconciler settles it).
* ``case_email_deliveries`` gets ``send_id`` and ``message_key``: a send records one
  ``pending`` delivery per recipient with its intent and updates it in place as the truth
  settles (unique per send and recipient); ``delivery_status`` may be ``pending`` or
  ``unknown``.
* ``email_messages`` (the email service's ledger) gets the send id, the recipient's
  details, the attempt count, when to try next and the claim lease of the process
  delivering it; its key is widened (a key holds an address of up to 254 characters).
* ``email_send_requests``: the content of each send as the email service received it, so
  its recovery loop can deliver what a crash left queued.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OLD_SEND_STATUSES = ("pending", "sent", "partial", "failed", "dry_run")
_SEND_STATUSES = ("pending", "unknown", "sent", "partial", "failed", "dry_run")


def _statuses(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.drop_constraint("ck_case_escalation_sends_status", "case_escalation_sends")
    op.create_check_constraint(
        op.f("ck_case_escalation_sends_status"), "case_escalation_sends", _statuses(_SEND_STATUSES)
    )
    op.add_column("case_email_deliveries", sa.Column("send_id", sa.BigInteger(), nullable=True))
    op.add_column("case_email_deliveries", sa.Column("message_key", sa.String(512), nullable=True))
    op.create_foreign_key(
        op.f("fk_case_email_deliveries_send_id_case_escalation_sends"),
        "case_email_deliveries",
        "case_escalation_sends",
        ["send_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_unique_constraint(
        op.f("uq_case_email_deliveries_send_id_recipient_email"),
        "case_email_deliveries",
        ["send_id", "recipient_email"],
    )

    op.alter_column("email_messages", "message_key", type_=sa.String(512))
    op.add_column("email_messages", sa.Column("send_id", sa.BigInteger(), nullable=True))
    op.add_column("email_messages", sa.Column("recipient_json", postgresql.JSONB(), nullable=True))
    op.add_column(
        "email_messages",
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "email_messages", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "email_messages", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_email_messages_send_id", "email_messages", ["send_id"], unique=False)
    op.create_index(
        "ix_email_messages_status_next_attempt_at",
        "email_messages",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "email_send_requests",
        sa.Column("send_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.String(64), server_default="", nullable=False),
        sa.Column("request_json", postgresql.JSONB(), nullable=False),
        sa.Column("public_url", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("send_id", name=op.f("pk_email_send_requests")),
    )


def downgrade() -> None:
    op.drop_table("email_send_requests")
    op.drop_index("ix_email_messages_status_next_attempt_at", table_name="email_messages")
    op.drop_index("ix_email_messages_send_id", table_name="email_messages")
    for column in ("claimed_until", "next_attempt_at", "attempts", "recipient_json", "send_id"):
        op.drop_column("email_messages", column)
    op.alter_column("email_messages", "message_key", type_=sa.String(255))
    op.drop_constraint("uq_case_email_deliveries_send_id_recipient_email", "case_email_deliveries")
    op.drop_constraint(
        "fk_case_email_deliveries_send_id_case_escalation_sends", "case_email_deliveries"
    )
    op.drop_column("case_email_deliveries", "message_key")
    op.drop_column("case_email_deliveries", "send_id")
    op.execute("UPDATE case_escalation_sends SET status = 'failed' WHERE status = 'unknown'")
    op.drop_constraint("ck_case_escalation_sends_status", "case_escalation_sends")
    op.create_check_constraint(
        op.f("ck_case_escalation_sends_status"),
        "case_escalation_sends",
        _statuses(_OLD_SEND_STATUSES),
    )
