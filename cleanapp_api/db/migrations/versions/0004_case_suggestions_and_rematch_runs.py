"""Case suggestions (automatic matching's review queue) and re-match runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

``case_suggestions`` holds one row per (case, report, kind) that automatic matching thought
worth a person's review: ``attach`` (the report may belong to an open case) or ``reopen``
(it may show that a resolved or closed case is back). People accept or reject them; the
unique key makes a re-ingested report suggest once. ``case_rematch_runs`` keeps the
position of ``cleanapp-api cases rematch`` runs, so an interrupted run resumes. A new
index on ``cases (created_by_user_id, updated_at)`` serves a user's case list.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_KINDS = ("attach", "reopen")
_STATUSES = ("open", "accepted", "rejected", "superseded")
_BANDS = ("auto", "review")
_SCORES = ("probability", "case_score", "evidence_score")


def _now(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.create_table(
        "case_suggestions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        *(sa.Column(name, sa.Double(), server_default="0", nullable=False) for name in _SCORES),
        sa.Column("evidence_seq", sa.BigInteger(), nullable=True),
        sa.Column("match_json", postgresql.JSONB(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_user_id", sa.String(255), nullable=True),
        sa.Column("decision_note", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_suggestions")),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.case_id"],
            name=op.f("fk_case_suggestions_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["reports.seq"],
            name=op.f("fk_case_suggestions_seq_reports"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "case_id", "seq", "kind", name=op.f("uq_case_suggestions_case_id_seq_kind")
        ),
        sa.CheckConstraint(f"kind IN ({_listed(_KINDS)})", name=op.f("ck_case_suggestions_kind")),
        sa.CheckConstraint(
            f"status IN ({_listed(_STATUSES)})", name=op.f("ck_case_suggestions_status")
        ),
        sa.CheckConstraint(f"band IN ({_listed(_BANDS)})", name=op.f("ck_case_suggestions_band")),
        *(
            sa.CheckConstraint(
                f"{name} >= 0 AND {name} <= 1", name=op.f(f"ck_case_suggestions_{name}_range")
            )
            for name in _SCORES
        ),
        sa.CheckConstraint(
            "(status = 'open') = (decided_at IS NULL)",
            name=op.f("ck_case_suggestions_decided_when_closed"),
        ),
    )
    for columns in (("status", "created_at", "id"), ("case_id", "status"), ("seq",)):
        op.create_index(
            f"ix_case_suggestions_{'_'.join(columns)}", "case_suggestions", list(columns)
        )

    op.create_table(
        "case_rematch_runs",
        sa.Column("run_key", sa.String(64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scope_json", postgresql.JSONB(), nullable=True),
        sa.Column("cursor_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor_seq", sa.BigInteger(), nullable=True),
        sa.Column("finished", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("examined", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("attached", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("suggested", sa.BigInteger(), server_default="0", nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("run_key", name=op.f("pk_case_rematch_runs")),
        sa.CheckConstraint(
            "run_key ~ '^[0-9a-f]{64}$'", name=op.f("ck_case_rematch_runs_run_key_sha256_hex")
        ),
    )
    op.create_index(
        "ix_cases_created_by_user_id_updated_at", "cases", ["created_by_user_id", "updated_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_cases_created_by_user_id_updated_at", table_name="cases")
    op.drop_table("case_rematch_runs")
    op.drop_table("case_suggestions")
