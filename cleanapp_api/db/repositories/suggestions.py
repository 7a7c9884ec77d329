"""Statements of case suggestions (automatic matching's review queue) and recurrence signals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import jsonb

__all__ = [
    "decide_suggestion",
    "insert_signal",
    "insert_suggestion",
    "lock_suggestion",
    "move_suggestions",
    "open_suggestion_count",
    "suggestion_rows",
    "supersede_suggestions",
]

_S = t.case_suggestions


def insert_suggestion(conn: sa.Connection, values: Mapping[str, Any]) -> int | None:
    """Store a suggestion unless the (case, report, kind) has one; return its id when new."""
    stmt = (
        pg.insert(_S)
        .values(**{k: (jsonb(v) if k.endswith("_json") else v) for k, v in values.items()})
        .on_conflict_do_nothing(index_elements=[_S.c.case_id, _S.c.seq, _S.c.kind])
        .returning(_S.c.id)
    )
    inserted = conn.execute(stmt).scalar()
    return None if inserted is None else int(inserted)


def insert_signal(conn: sa.Connection, case_id: str, seq: int, summary: str, metadata: Any) -> None:
    """Record a recurrence as a ``case_resolution_signals`` row (``source_type`` recurrence)."""
    conn.execute(
        sa.insert(t.case_resolution_signals).values(
            case_id=case_id,
            source_type="recurrence",
            summary=summary,
            linked_report_seq=seq,
            metadata_json=jsonb(metadata),
        )
    )


def _select() -> sa.Select[Any]:
    c, r, a = t.cases, t.reports, t.report_analysis
    title = sa.func.coalesce(a.c.title, "")
    return (
        sa.select(
            _S, c.c.title.label("case_title"), c.c.status.label("case_status"),
            title.label("report_title"), r.c.latitude, r.c.longitude,
        )
        .select_from(
            _S.join(c, c.c.case_id == _S.c.case_id)
            .join(r, r.c.seq == _S.c.seq)
            .outerjoin(a, sa.and_(a.c.seq == r.c.seq, a.c.language == r.c.preferred_language))
        )
    )  # fmt: skip


def suggestion_rows(
    conn: sa.Connection,
    *,
    case_id: str | None = None,
    statuses: Sequence[str] = (),
    after: tuple[datetime, int] | None = None,
    limit: int = 100,
    ids: Sequence[int] = (),
) -> list[sa.RowMapping]:
    """Suggestions oldest first (``created_at``, ``id``), with their case and report.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    case_id : str, optional
        Only this case's.
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
        The ``case_suggestions`` columns plus ``case_title``, ``case_status``,
        ``report_title``, ``latitude`` and ``longitude``.
    """
    stmt = _select()
    if case_id is not None:
        stmt = stmt.where(_S.c.case_id == case_id)
    if statuses:
        stmt = stmt.where(_S.c.status.in_(list(statuses)))
    if ids:
        stmt = stmt.where(_S.c.id.in_([int(i) for i in ids]))
    if after is not None:
        stmt = stmt.where(sa.tuple_(_S.c.created_at, _S.c.id) > sa.tuple_(*after))
    stmt = stmt.order_by(_S.c.created_at, _S.c.id).limit(limit)
    return list(conn.execute(stmt).mappings())


def lock_suggestion(conn: sa.Connection, suggestion_id: int) -> Any:
    """Lock a suggestion row (``FOR UPDATE``) and return it (None when unknown)."""
    return conn.execute(sa.select(_S).where(_S.c.id == suggestion_id).with_for_update()).first()


def decide_suggestion(
    conn: sa.Connection, suggestion_id: int, status: str, user_id: str, note: str
) -> None:
    """Close a suggestion: ``accepted`` or ``rejected``, by whom and why."""
    conn.execute(
        sa.update(_S)
        .where(_S.c.id == suggestion_id)
        .values(
            status=status,
            decided_at=sa.func.now(),
            decided_by_user_id=user_id,
            decision_note=note,
            updated_at=sa.func.now(),
        )
    )


def supersede_suggestions(
    conn: sa.Connection, seq: int, *, keep_case_id: str, user_id: str, note: str
) -> list[str]:
    """Close the open suggestions of a report for other cases (it found its case).

    Returns the cases whose suggestion was superseded.
    """
    rows = conn.execute(
        sa.update(_S)
        .where(_S.c.seq == seq, _S.c.status == "open", _S.c.case_id != keep_case_id)
        .values(
            status="superseded",
            decided_at=sa.func.now(),
            decided_by_user_id=user_id,
            decision_note=note,
            updated_at=sa.func.now(),
        )
        .returning(_S.c.case_id)
    ).scalars()
    return sorted(set(rows))


def open_suggestion_count(conn: sa.Connection, seq: int) -> tuple[int, str | None]:
    """Open suggestions of a report and the case of the oldest one."""
    rows = conn.execute(
        sa.select(_S.c.case_id)
        .where(_S.c.seq == seq, _S.c.status == "open")
        .order_by(_S.c.created_at, _S.c.id)
    ).scalars()
    cases = list(rows)
    return len(cases), (cases[0] if cases else None)


def move_suggestions(conn: sa.Connection, source_id: str, target_id: str) -> None:
    """Merge: the source's suggestions move to the target unless it has the same one."""
    target = sa.alias(_S, "target")
    duplicate = sa.exists().where(
        target.c.case_id == target_id, target.c.seq == _S.c.seq, target.c.kind == _S.c.kind
    )
    conn.execute(
        sa.update(_S).where(_S.c.case_id == source_id, ~duplicate).values(case_id=target_id)
    )
    conn.execute(sa.delete(_S).where(_S.c.case_id == source_id))
