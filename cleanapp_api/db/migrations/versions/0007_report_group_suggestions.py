"""Report group suggestions: unlinked reports that re-matching found to be one new incident.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

``cleanapp-api cases rematch`` re-examines recent unlinked reports against the open cases
and against each other: when reports without a case are one incident (one new report can
bridge two earlier ones), it records a new-case suggestion here, once per group of reports
(``group_key``: SHA-256 of the sorted seqs); a larger group supersedes the open suggestions
of its subsets (found through the GIN index of ``report_seqs``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_STATUSES = ("open", "accepted", "rejected", "superseded")


def _now(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    statuses = ", ".join(f"'{s}'" for s in _STATUSES)
    op.create_table(
        "report_group_suggestions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("report_seqs", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        sa.Column("confidence", sa.Double(), server_default="0", nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("group_json", postgresql.JSONB(), nullable=True),
        sa.Column("run_key", sa.String(64), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_group_suggestions")),
        sa.UniqueConstraint("group_key", name=op.f("uq_report_group_suggestions_group_key")),
        sa.CheckConstraint(
            f"status IN ({statuses})", name=op.f("ck_report_group_suggestions_status")
        ),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1",
            name=op.f("ck_report_group_suggestions_confidence_range"),
        ),
        sa.CheckConstraint(
            "cardinality(report_seqs) >= 2",
            name=op.f("ck_report_group_suggestions_two_reports_or_more"),
        ),
    )
    op.create_index(
        "ix_report_group_suggestions_status_created_at_id",
        "report_group_suggestions",
        ["status", "created_at", "id"],
    )
    op.create_index(
        "ix_report_group_suggestions_report_seqs",
        "report_group_suggestions",
        ["report_seqs"],
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_table("report_group_suggestions")
