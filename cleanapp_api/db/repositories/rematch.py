"""Statements of ``cleanapp-api cases rematch``: runs, unlinked reports, group suggestions.

A run is a row of ``case_rematch_runs`` keyed by its options; its cursor is the
``(ts, seq)`` of the last report it examined, so an interrupted run resumes after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import ARRAY_BIGINT
from cleanapp_api.db.repositories.ingest import (
    box_margin,
    expand_box,
    fact_columns,
    preferred_join,
    visible_report,
)

__all__ = [
    "advance_run",
    "count_unlinked",
    "finish_run",
    "insert_group_suggestion",
    "start_run",
    "unlinked_batch",
    "unlinked_near",
]


def start_run(
    conn: sa.Connection, run_key: str, *, since: datetime | None, scope_json: Any
) -> sa.Row[Any]:
    """Return the run's row, locked (a new run, or the unfinished one to resume).

    A finished run of the same options starts again from the beginning (its counts
    reset): new reports may have arrived since.
    """
    runs = t.case_rematch_runs
    conn.execute(
        pg.insert(runs)
        .values(run_key=run_key, since=since, scope_json=scope_json)
        .on_conflict_do_nothing(index_elements=[runs.c.run_key])
    )
    row = conn.execute(sa.select(runs).where(runs.c.run_key == run_key).with_for_update()).one()
    if row.finished:
        conn.execute(
            sa.update(runs)
            .where(runs.c.run_key == run_key)
            .values(
                since=since, finished=False, cursor_ts=None, cursor_seq=None, examined=0,
                attached=0, suggested=0, updated_at=sa.func.now(),
            )
        )  # fmt: skip
        row = conn.execute(sa.select(runs).where(runs.c.run_key == run_key)).one()
    return row


def advance_run(
    conn: sa.Connection,
    run_key: str,
    *,
    cursor: tuple[datetime, int],
    examined: int,
    attached: int,
    suggested: int,
) -> None:
    """Move the run's cursor past a batch and add its counts (in the batch's transaction)."""
    runs = t.case_rematch_runs
    conn.execute(
        sa.update(runs)
        .where(runs.c.run_key == run_key)
        .values(
            cursor_ts=cursor[0], cursor_seq=cursor[1], examined=runs.c.examined + examined,
            attached=runs.c.attached + attached, suggested=runs.c.suggested + suggested,
            updated_at=sa.func.now(),
        )
    )  # fmt: skip


def finish_run(conn: sa.Connection, run_key: str) -> None:
    """Mark the run finished."""
    runs = t.case_rematch_runs
    conn.execute(
        sa.update(runs)
        .where(runs.c.run_key == run_key)
        .values(finished=True, updated_at=sa.func.now())
    )


def _unlinked(since: datetime | None, scope_wkb: bytes | None) -> list[sa.ColumnElement[bool]]:
    r, cr = t.reports, t.case_reports
    where = [visible_report(), ~sa.exists().where(cr.c.seq == r.c.seq)]
    if since is not None:
        where.append(r.c.ts >= sa.bindparam("since", since, sa.DateTime(timezone=True)))
    if scope_wkb is not None:
        scope = sa.func.ST_GeomFromWKB(sa.bindparam("scope", scope_wkb, sa.LargeBinary), 4326)
        where.append(sa.func.ST_Intersects(r.c.geom, scope))
    return where


def _after(cursor: tuple[datetime, int] | None) -> list[sa.ColumnElement[bool]]:
    r = t.reports
    if cursor is None:
        return []
    return [sa.tuple_(r.c.ts, r.c.seq) > sa.tuple_(sa.literal(cursor[0]), sa.literal(cursor[1]))]


def unlinked_batch(
    conn: sa.Connection,
    *,
    since: datetime | None,
    scope_wkb: bytes | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[int, datetime]]:
    """Return the next visible unlinked reports (``seq``, ``ts``) after the cursor."""
    r = t.reports
    stmt = (
        sa.select(r.c.seq, r.c.ts)
        .where(*_unlinked(since, scope_wkb), *_after(after))
        .order_by(r.c.ts, r.c.seq)
        .limit(limit)
    )
    return [(int(seq), ts) for seq, ts in conn.execute(stmt)]


def count_unlinked(
    conn: sa.Connection,
    *,
    since: datetime | None,
    scope_wkb: bytes | None,
    after: tuple[datetime, int] | None,
) -> int:
    """Count the reports :func:`unlinked_batch` has left to give (for a progress bar)."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(t.reports)
        .where(*_unlinked(since, scope_wkb), *_after(after))
    )
    return int(conn.execute(stmt).scalar_one())


def unlinked_near(
    conn: sa.Connection, seqs: Sequence[int], *, radius_m: float, since: datetime | None
) -> list[sa.RowMapping]:
    """Visible unlinked reports within ``radius_m`` of a report of ``seqs`` (them too).

    Columns of :func:`cleanapp_api.db.repositories.ingest.report_fact_rows` but
    ``visible``, ordered by ``seq``.
    """
    if not seqs:
        return []
    r = t.reports
    focus = sa.alias(r, "focus")
    margin = box_margin(conn, seqs, radius_m)
    close = (
        sa.select(sa.literal(1))
        .where(
            focus.c.seq == sa.any_(sa.bindparam("focus", [int(s) for s in seqs], ARRAY_BIGINT)),
            r.c.geom.op("&&")(expand_box(focus.c.geom, margin)),
            sa.func.ST_DWithin(
                sa.func.geography(focus.c.geom), sa.func.geography(r.c.geom),
                sa.bindparam("near_radius", radius_m, sa.Double),
            ),
        )
        .exists()
    )  # fmt: skip
    stmt = (
        sa.select(*fact_columns())
        .select_from(preferred_join())
        .where(*_unlinked(since, None), close)
        .order_by(r.c.seq)
    )
    return list(conn.execute(stmt).mappings())


def insert_group_suggestion(conn: sa.Connection, values: Mapping[str, Any]) -> int | None:
    """Store a new-case suggestion unless its group was suggested before; return its id.

    A new one supersedes the open suggestions of groups it contains.
    """
    g = t.report_group_suggestions
    new_id = conn.execute(
        pg.insert(g)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[g.c.group_key])
        .returning(g.c.id)
    ).scalar()
    if new_id is None:
        return None
    seqs = sa.bindparam("group_seqs", list(values["report_seqs"]), ARRAY_BIGINT)
    conn.execute(
        sa.update(g)
        .where(g.c.status == "open", g.c.id != new_id, g.c.report_seqs.op("<@")(seqs))
        .values(status="superseded", updated_at=sa.func.now())
    )
    return int(new_id)
