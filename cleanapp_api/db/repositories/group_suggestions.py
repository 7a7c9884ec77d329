"""Statements of new-case suggestions (``report_group_suggestions``): list, lock, decide.

``cleanapp-api cases rematch`` writes them (:mod:`.rematch`); a person accepts (a case is
created from the group's reports) or rejects them. The table has no decision columns: the
decision (who, when, note, the case created, the reports left out) is kept under
``decision`` in ``group_json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import ARRAY_BIGINT

__all__ = [
    "decide_group",
    "group_rows",
    "linked_seqs",
    "lock_group",
    "peek_group_seqs",
    "supersede_overlapping",
]

_G = t.report_group_suggestions


def group_rows(
    conn: sa.Connection,
    *,
    statuses: Sequence[str] = (),
    after: tuple[datetime, int] | None = None,
    limit: int = 100,
    ids: Sequence[int] = (),
) -> list[sa.RowMapping]:
    """New-case suggestions oldest first (``created_at``, ``id``).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    statuses : sequence of str, optional
        Only these statuses (default: all).
    after : tuple, optional
        ``(created_at, id)`` of the last row of the previous page.
    limit : int, default 100
        Page size.
    ids : sequence of int, optional
        Only these suggestions.

    Returns
    -------
    list of RowMapping
        The ``report_group_suggestions`` columns.
    """
    stmt = sa.select(_G)
    if statuses:
        stmt = stmt.where(_G.c.status.in_(list(statuses)))
    if ids:
        stmt = stmt.where(_G.c.id.in_([int(i) for i in ids]))
    if after is not None:
        stmt = stmt.where(sa.tuple_(_G.c.created_at, _G.c.id) > sa.tuple_(*after))
    stmt = stmt.order_by(_G.c.created_at, _G.c.id).limit(limit)
    return list(conn.execute(stmt).mappings())


def peek_group_seqs(conn: sa.Connection, group_id: int) -> list[int] | None:
    """Return the reports of a suggestion without locking it (None when unknown)."""
    seqs = conn.execute(sa.select(_G.c.report_seqs).where(_G.c.id == group_id)).scalar()
    return None if seqs is None else [int(s) for s in seqs]


def lock_group(conn: sa.Connection, group_id: int) -> Any:
    """Lock a suggestion row (``FOR UPDATE``) and return it (None when unknown)."""
    return conn.execute(sa.select(_G).where(_G.c.id == group_id).with_for_update()).first()


def linked_seqs(conn: sa.Connection, seqs: Sequence[int]) -> dict[int, str]:
    """Map the reports of ``seqs`` linked to a case to the case (the first, by id)."""
    cr = t.case_reports
    rows = conn.execute(
        sa.select(cr.c.seq, sa.func.min(cr.c.case_id))
        .where(cr.c.seq == sa.any_(sa.bindparam("linked", [int(s) for s in seqs], ARRAY_BIGINT)))
        .group_by(cr.c.seq)
    )
    return {int(seq): str(case_id) for seq, case_id in rows}


def _decision(decision: Mapping[str, Any]) -> sa.ColumnElement[Any]:
    stamped = sa.func.jsonb_build_object("decided_at", sa.func.now()).op("||")(
        sa.cast(sa.bindparam("decision", dict(decision), JSONB), JSONB)
    )
    return sa.func.coalesce(_G.c.group_json, sa.cast(sa.literal("{}"), JSONB)).op("||")(
        sa.func.jsonb_build_object("decision", stamped)
    )


def decide_group(
    conn: sa.Connection, group_id: int, status: str, decision: Mapping[str, Any]
) -> None:
    """Close a suggestion with ``status``; ``decision`` (plus ``decided_at``) is kept."""
    conn.execute(
        sa.update(_G)
        .where(_G.c.id == group_id)
        .values(status=status, group_json=_decision(decision), updated_at=sa.func.now())
    )


def supersede_overlapping(
    conn: sa.Connection, seqs: Sequence[int], decision: Mapping[str, Any]
) -> list[int]:
    """Close the open suggestions sharing a report with ``seqs`` (they found a case)."""
    overlap = _G.c.report_seqs.op("&&")(
        sa.bindparam("overlap", [int(s) for s in seqs], ARRAY_BIGINT)
    )
    rows = conn.execute(
        sa.update(_G)
        .where(_G.c.status == "open", overlap)
        .values(status="superseded", group_json=_decision(decision), updated_at=sa.func.now())
        .returning(_G.c.id)
    ).scalars()
    return sorted(int(r) for r in rows)
