"""One new report in one statement: store it, read its facts and the cases near it.

``POST /reports`` stores one report and matches it in one transaction. For a report not
stored before, what matching reads first -- the report's facts
(:func:`~cleanapp_api.db.repositories.ingest.report_fact_rows`) and the cases near it
(:func:`~cleanapp_api.db.repositories.ingest.nearby_case_records`) -- comes back from the
statement that stores it: the inserts are data-modifying CTEs whose ``RETURNING`` rows
stand in for the stored rows (the statement's own snapshot does not see them), so the
ingest makes one round trip where it made three. A report stored before gets no row, and
its caller takes the statements of a re-ingest.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_api.db import direct
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories.ingest import (
    analysis_rows,
    box_margin,
    check_public_id,
    near_cases_lateral,
    preferred_language,
    records_of,
)

__all__ = ["FactRow", "NewReport", "store_new_report"]

_CASE_LIMIT = 50
#: The columns of a near case, renamed apart from the report's analysis columns.
_CASE_COLUMNS = (
    "case_id", "title", "status", "classification", "summary", "anchor_lat", "anchor_lng",
    "cluster_count", "linked_report_count", "updated_at", "area_wkb",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FactRow:
    """A row of :func:`~cleanapp_api.db.repositories.ingest.report_fact_rows`."""

    seq: int
    longitude: float
    latitude: float
    ts: datetime
    severity_level: float | None
    classification: str | None
    brand_display_name: str | None
    title: str | None
    summary: str | None
    description: str | None
    visible: bool
    linked_case_id: str | None


@dataclass(frozen=True, slots=True)
class NewReport:
    """What :func:`store_new_report` read: the report's facts and the cases near it.

    Attributes
    ----------
    facts : FactRow
        As :func:`~cleanapp_api.db.repositories.ingest.report_fact_rows` reads it after
        the insert (a new report is linked to no case).
    near : list of dict
        As :func:`~cleanapp_api.db.repositories.ingest.nearby_case_records` reads them
        for the report (with ``report_seq``).
    """

    facts: FactRow
    near: list[dict[str, Any]]


def store_new_report(
    conn: sa.Connection,
    report: Mapping[str, Any],
    analyses: Sequence[Mapping[str, Any]],
    *,
    radius_m: float,
    active_statuses: Sequence[str],
    reopenable_statuses: Sequence[str],
    reopen_since: datetime,
    limit: int = _CASE_LIMIT,
) -> NewReport | None:
    """Store a report not stored before; return its facts and the cases near it.

    One statement (module docstring). The analyses must share one set of columns (as
    :func:`cleanapp_api.services.ingest.parse_ingest` gives them); the cases are those
    :func:`~cleanapp_api.db.repositories.ingest.nearby_case_records` gives with the same
    arguments.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the ingest transaction, after the report's locks.
    report : mapping
        Column values of ``reports``, as for
        :func:`~cleanapp_api.db.repositories.ingest.store_report`.
    analyses : sequence of mapping
        Column values of ``report_analysis`` without ``seq`` (at least one).
    radius_m, active_statuses, reopenable_statuses, reopen_since, limit
        As for :func:`~cleanapp_api.db.repositories.ingest.nearby_case_records`.

    Returns
    -------
    NewReport or None
        None when ``seq`` was stored before: nothing of the report was read, and its
        analyses of new languages were added (the caller goes on with
        :func:`~cleanapp_api.db.repositories.ingest.store_report`, which checks the
        stored values).

    Raises
    ------
    StoredReportConflict
        409 when the ``public_id`` belongs to another report.
    """
    seq = int(report["seq"])
    check_public_id(conn, seq, report.get("public_id"))
    rows = [{**row, "seq": seq} for row in analyses]
    names = tuple(sorted(rows[0]))
    if any(tuple(sorted(row)) != names for row in rows):
        raise ValueError("every analysis must have the same columns")
    values = {**report, "preferred_language": preferred_language(rows)}
    params: dict[str, Any] = dict(values)
    for i, row in enumerate(rows):
        params.update({f"a{i}_{name}": row[name] for name in names})
    dlon, dlat = box_margin(conn, [seq], radius_m, max_abs_lat=abs(float(report["latitude"])))
    params.update(
        {
            "dlon": dlon, "dlat": dlat, "radius_m": radius_m, "active": list(active_statuses),
            "reopenable": list(reopenable_statuses), "since": reopen_since, "case_limit": limit,
        }
    )  # fmt: skip
    statement = _statement(tuple(sorted(values)), names, len(rows))
    found = direct.execute(conn, statement, params).mappings()
    if not found:
        return None
    first = found[0]
    facts = FactRow(
        seq=int(first["seq"]), longitude=first["longitude"], latitude=first["latitude"],
        ts=first["ts"], severity_level=first["severity_level"],
        classification=first["classification"],
        brand_display_name=first["brand_display_name"], title=first["title"],
        summary=first["summary"], description=first["description"],
        visible=bool(first["visible"]), linked_case_id=None,
    )  # fmt: skip
    near = records_of(
        {"report_seq": seq, **{name: row[f"case_{name}"] for name in _CASE_COLUMNS}}
        for row in found
        if row["case_case_id"] is not None
    )
    return NewReport(facts, near)


@functools.lru_cache(maxsize=64)
def _statement(
    report_names: tuple[str, ...], analysis_names: tuple[str, ...], n_analyses: int
) -> sa.Select[Any]:
    """Build the statement of :func:`store_new_report` (once per shape of its input)."""
    r, a = t.reports, t.report_analysis
    new = (
        pg.insert(r)
        .values({name: sa.bindparam(name, type_=r.c[name].type) for name in report_names})
        .on_conflict_do_nothing(index_elements=[r.c.seq])
        .returning(
            r.c.seq, r.c.longitude, r.c.latitude, r.c.ts, r.c.geom, r.c.status,
            r.c.visibility, r.c.owner, r.c.owner_is_public,
        )
        .cte("new_report")
    )  # fmt: skip
    added = (
        pg.insert(a)
        .from_select(list(analysis_names), analysis_rows(analysis_names, n_analyses))
        .on_conflict_do_nothing(index_elements=[a.c.seq, a.c.language])
        .returning(
            a.c.language, a.c.is_valid, a.c.severity_level, a.c.classification,
            a.c.brand_display_name, a.c.title, a.c.summary, a.c.description,
        )
        .cte("new_analyses")
    )  # fmt: skip
    # The preferred analysis by the rule of migration 0003's trigger, which sets
    # reports.preferred_language to the same one when the statement ends: a new report's
    # analyses are all in new_analyses.
    lowered = sa.func.lower(added.c.language)
    preferred = (
        sa.select(added)
        .order_by(lowered != "en", lowered, added.c.language)
        .limit(1)
        .lateral("preferred")
    )
    # visible_report() on the returned row: active, public, no private owner, valid.
    visible = sa.and_(
        new.c.status == "active",
        new.c.visibility == "public",
        sa.or_(new.c.owner.is_(None), new.c.owner == "", new.c.owner_is_public),
        sa.exists().where(added.c.is_valid),
    )
    near = near_cases_lateral(new, new.c.geom)
    return (
        sa.select(
            new.c.seq, new.c.longitude, new.c.latitude, new.c.ts, preferred.c.severity_level,
            preferred.c.classification, preferred.c.brand_display_name, preferred.c.title,
            preferred.c.summary, preferred.c.description, visible.label("visible"),
            *(near.c[name].label(f"case_{name}") for name in _CASE_COLUMNS),
        )
        .select_from(new.outerjoin(preferred, sa.true()).outerjoin(near, sa.true()))
        .order_by(near.c.updated_at.desc(), near.c.case_id)
    )  # fmt: skip
