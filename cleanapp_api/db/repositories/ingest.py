"""Statements of automatic matching: store one report, read what matching needs near it.

Ingest runs many times a second, so every function is one statement (two for a report
stored before) with bound parameters, and the lookups use the GiST indexes through a
bounding box before the exact geodesic test.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.sql.selectable import LateralFromClause

from cleanapp_api.db import direct
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import ARRAY_BIGINT, ARRAY_TEXT
from cleanapp_api.db.repositories.locks import grown_bounds
from cleanapp_api.domain_errors import Conflict

__all__ = [
    "AggregateInputs",
    "StoredReportConflict",
    "aggregate_inputs",
    "analysis_rows",
    "box_margin",
    "case_evidence",
    "case_records",
    "check_public_id",
    "expand_box",
    "fact_columns",
    "insert_audits",
    "link_many",
    "near_cases_lateral",
    "nearby_case_records",
    "pair_evidence",
    "preferred_join",
    "preferred_language",
    "records_of",
    "report_bounds",
    "report_fact_rows",
    "store_report",
    "supersede_many",
    "visible_report",
]

_CASE_LIMIT = 50


class StoredReportConflict(Conflict):
    """The report's ``seq`` (or ``public_id``) is stored with other values."""


def store_report(
    conn: sa.Connection, report: Mapping[str, Any], analyses: Sequence[Mapping[str, Any]]
) -> bool:
    """Store a report and its analyses unless stored; return whether the report was new.

    A report stored before must have the same timestamp and location (and ``public_id``
    when one is given); analyses of languages not stored yet are added, stored ones are
    kept (re-ingesting is idempotent).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the ingest transaction.
    report : mapping
        Column values of ``reports`` (``seq``, ``ts``, ``latitude``, ``longitude``, and
        optionally ``public_id``, ``reporter_id``, ``team``, ``description``).
    analyses : sequence of mapping
        Column values of ``report_analysis`` without ``seq``.

    Returns
    -------
    bool

    Raises
    ------
    StoredReportConflict
        409 naming what differs.
    """
    r = t.reports
    seq = int(report["seq"])
    public_id = report.get("public_id")
    check_public_id(conn, seq, public_id)
    rows = [{**row, "seq": seq} for row in analyses]
    groups = _by_columns(rows)
    values = {**report, "preferred_language": preferred_language(rows)} if rows else dict(report)
    first = next(iter(groups.items()), None)
    # One statement for the report and its analyses (the common case: every analysis
    # with the same columns): the report insert and the analyses insert as data-modifying
    # CTEs. The report's preferred language is stored with it; the insert trigger of
    # report_analysis keeps its own choice when the two differ (it only replaces a
    # language that ranks after a new one), so the column ends as before.
    if first is not None:
        names, group = first
        params = dict(values)
        for i, row in enumerate(group):
            params.update({f"a{i}_{name}": row[name] for name in names})
        inserted = conn.execute(
            _report_and_analyses_insert(tuple(sorted(values)), names, len(group)), params
        ).scalar()
        rest = list(groups.items())[1:]
    else:
        inserted = conn.execute(_report_insert(tuple(sorted(values))), values).scalar()
        rest = []
    if inserted is None:
        stored = conn.execute(
            sa.select(r.c.public_id, r.c.ts, r.c.latitude, r.c.longitude).where(r.c.seq == seq)
        ).one()
        differs = [
            name
            for name, mine, theirs in (
                ("timestamp", report["ts"], stored.ts),
                ("latitude", report["latitude"], stored.latitude),
                ("longitude", report["longitude"], stored.longitude),
                ("public_id", public_id or stored.public_id, stored.public_id),
            )
            if mine != theirs
        ]
        if differs:
            # The analyses the statement added go with the transaction this error ends.
            raise StoredReportConflict(
                f"report {seq} is already stored with another {', '.join(differs)}"
            )
    for names, group in rest:
        conn.execute(_analysis_insert(names), group)
    return inserted is not None


def preferred_language(analyses: Sequence[Mapping[str, Any]]) -> str:
    """Return the language migration 0003's trigger prefers: ``en`` (any case), else the least."""
    languages = [str(row["language"]) for row in analyses]
    return min(languages, key=lambda code: (code.lower() != "en", code.lower(), code))


def check_public_id(conn: sa.Connection, seq: int, public_id: str | None) -> None:
    """Raise :class:`StoredReportConflict` when ``public_id`` belongs to another report."""
    if public_id:
        r = t.reports
        owner = conn.execute(sa.select(r.c.seq).where(r.c.public_id == public_id)).scalar()
        if owner is not None and owner != seq:
            raise StoredReportConflict(f"public_id {public_id} belongs to report {owner}")


def _by_columns(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(dict(row))
    return groups


# The inserts of an ingest, built once per set of columns (an ingest runs many times a
# second, and building an insert costs more than running it).
@functools.lru_cache(maxsize=64)
def _report_insert(names: tuple[str, ...]) -> Any:
    r = t.reports
    return (
        pg.insert(r)
        .values({name: sa.bindparam(name, type_=r.c[name].type) for name in names})
        .on_conflict_do_nothing(index_elements=[r.c.seq])
        .returning(r.c.seq)
    )


@functools.lru_cache(maxsize=64)
def _report_and_analyses_insert(
    report_names: tuple[str, ...], analysis_names: tuple[str, ...], n_analyses: int
) -> Any:
    r, a = t.reports, t.report_analysis
    report = (
        pg.insert(r)
        .values({name: sa.bindparam(name, type_=r.c[name].type) for name in report_names})
        .on_conflict_do_nothing(index_elements=[r.c.seq])
        .returning(r.c.seq)
        .cte("new_report")
    )
    analyses = (
        pg.insert(a)
        .from_select(list(analysis_names), analysis_rows(analysis_names, n_analyses))
        .on_conflict_do_nothing(index_elements=[a.c.seq, a.c.language])
        .cte("new_analyses")
    )
    return sa.select(report.c.seq).add_cte(analyses)


def analysis_rows(names: tuple[str, ...], n_rows: int) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """``SELECT`` of ``n_rows`` rows of ``report_analysis`` columns bound as ``a{i}_{name}``.

    The rows of a multi-row insert as ``INSERT ... SELECT``: SQLAlchemy caches the compiled
    form of that, not of a multi-row ``VALUES`` (compiled anew at every execution).
    """
    a = t.report_analysis
    rows = [
        sa.select(*(sa.bindparam(f"a{i}_{name}", type_=a.c[name].type).label(name)
                    for name in names))
        for i in range(n_rows)
    ]  # fmt: skip
    return rows[0] if n_rows == 1 else sa.union_all(*rows)


@functools.lru_cache(maxsize=64)
def _analysis_insert(names: tuple[str, ...]) -> Any:
    a = t.report_analysis
    return (
        pg.insert(a)
        .values({name: sa.bindparam(name, type_=a.c[name].type) for name in names})
        .on_conflict_do_nothing(index_elements=[a.c.seq, a.c.language])
    )


def visible_report() -> sa.ColumnElement[bool]:
    """Whether a ``reports`` row may be matched: active, public, no private owner, valid."""
    r, a = t.reports, t.report_analysis
    any_analysis = sa.alias(a, "any_analysis")
    valid = sa.exists().where(any_analysis.c.seq == r.c.seq, any_analysis.c.is_valid)
    return sa.and_(
        r.c.status == "active",
        r.c.visibility == "public",
        sa.or_(r.c.owner.is_(None), r.c.owner == "", r.c.owner_is_public),
        valid,
    )


def fact_columns() -> list[sa.ColumnElement[Any]]:
    """Return the columns of :func:`report_fact_rows` but ``visible``."""
    r, a = t.reports, t.report_analysis
    return [
        r.c.seq, r.c.longitude, r.c.latitude, r.c.ts, a.c.severity_level, a.c.classification,
        a.c.brand_display_name, a.c.title, a.c.summary, a.c.description,
    ]  # fmt: skip


def preferred_join() -> sa.FromClause:
    """Return ``reports`` left-joined to their preferred analysis."""
    r, a = t.reports, t.report_analysis
    return r.outerjoin(a, sa.and_(a.c.seq == r.c.seq, a.c.language == r.c.preferred_language))


def report_fact_rows(conn: sa.Connection, seqs: Sequence[int]) -> list[sa.RowMapping]:
    """Return reports with their preferred analysis' values and their visibility.

    Columns: ``seq, longitude, latitude, ts, severity_level, classification,
    brand_display_name, title, summary, description, visible`` (active, public, no private
    owner, with a valid analysis) and ``linked_case_id`` (the case it was linked to last,
    NULL when none); the analysis columns are NULL without an analysis.
    """
    return list(conn.execute(_fact_rows_stmt(), {"seqs": [int(s) for s in seqs]}).mappings())


@functools.cache
def _fact_rows_stmt() -> sa.Select[Any]:
    # Built once (as the other lookups of a match): building a select with its subqueries
    # costs about as much as running it for one report.
    r, a, cr = t.reports, t.report_analysis, t.case_reports
    visible = visible_report()
    linked = (
        sa.select(cr.c.case_id)
        .where(cr.c.seq == r.c.seq)
        .order_by(cr.c.attached_at.desc(), cr.c.case_id)
        .limit(1)
        .scalar_subquery()
    )
    return (
        sa.select(
            r.c.seq, r.c.longitude, r.c.latitude, r.c.ts, a.c.severity_level, a.c.classification,
            a.c.brand_display_name, a.c.title, a.c.summary, a.c.description,
            visible.label("visible"), linked.label("linked_case_id"),
        )
        .select_from(r.outerjoin(a, sa.and_(a.c.seq == r.c.seq,
                                            a.c.language == r.c.preferred_language)))
        .where(r.c.seq == sa.any_(sa.bindparam("seqs", type_=ARRAY_BIGINT)))
        .order_by(r.c.seq)
    )  # fmt: skip


def report_bounds(
    conn: sa.Connection, seqs: Sequence[int]
) -> tuple[float, float, float, float] | None:
    """``(west, south, east, north)`` of the stored reports of ``seqs`` (None: none stored)."""
    r = t.reports
    row = conn.execute(
        sa.select(
            sa.func.min(r.c.longitude), sa.func.min(r.c.latitude),
            sa.func.max(r.c.longitude), sa.func.max(r.c.latitude),
        ).where(r.c.seq == sa.any_(sa.bindparam("seqs", [int(s) for s in seqs], ARRAY_BIGINT)))
    ).one()  # fmt: skip
    if row[0] is None:
        return None
    return float(row[0]), float(row[1]), float(row[2]), float(row[3])


def expand_box(geom: sa.ColumnElement[Any], margin: tuple[float, float]) -> sa.ColumnElement[Any]:
    """Return ``geom``'s box grown by ``margin`` (degrees of longitude, latitude)."""
    return sa.func.ST_Expand(
        geom,
        sa.bindparam("dlon", margin[0], sa.Double),
        sa.bindparam("dlat", margin[1], sa.Double),
    )


def box_margin(
    conn: sa.Connection,
    seqs: Sequence[int],
    radius_m: float,
    *,
    max_abs_lat: float | None = None,
) -> tuple[float, float]:
    """Degrees that cover ``radius_m`` metres around every report of ``seqs`` (a box test).

    ``max_abs_lat``: the largest absolute latitude of the reports when the caller knows it
    (no statement then).
    """
    r = t.reports
    if max_abs_lat is None:
        top = conn.execute(
            sa.select(sa.func.max(sa.func.abs(r.c.latitude))).where(
                r.c.seq == sa.any_(sa.bindparam("seqs", list(seqs), ARRAY_BIGINT))
            )
        ).scalar()
    else:
        top = max_abs_lat
    lat = float(top or 0.0)
    _, _, east, north = grown_bounds((0.0, lat, 0.0, lat), radius_m)
    return east, north - lat  # half-widths of the box, in degrees


def nearby_case_records(
    conn: sa.Connection,
    seqs: Sequence[int],
    *,
    radius_m: float,
    active_statuses: Sequence[str],
    reopenable_statuses: Sequence[str],
    reopen_since: datetime,
    limit: int = _CASE_LIMIT,
    max_abs_lat: float | None = None,
) -> list[dict[str, Any]]:
    """Cases each report of ``seqs`` may match: anchor or area within ``radius_m`` of it.

    Not merged, active or reopenable-and-updated-since; per report at most ``limit``, most
    recently updated first. Records for :meth:`cleanapp_geo.ingest.CaseFacts.from_record`
    plus ``report_seq`` (the report they are near), the area as shapely ``geometry``, and no
    ``report_seqs`` (a new report shares none). One statement for the whole batch: the
    GiST indexes through a box around each report, then the exact geodesic test.
    """
    if not seqs:
        return []
    margin = box_margin(conn, seqs, radius_m, max_abs_lat=max_abs_lat)
    params = {
        "dlon": margin[0], "dlat": margin[1], "radius_m": radius_m,
        "active": list(active_statuses), "reopenable": list(reopenable_statuses),
        "since": reopen_since, "case_limit": limit, "batch": [int(s) for s in seqs],
    }  # fmt: skip
    return records_of(conn.execute(_nearby_stmt(), params).mappings())


@functools.cache
def _nearby_stmt() -> sa.Select[Any]:
    r = t.reports
    near_cases = near_cases_lateral(r, r.c.geom)
    return (
        sa.select(r.c.seq.label("report_seq"), *near_cases.c)
        .select_from(r.join(near_cases, sa.true()))
        .where(r.c.seq == sa.any_(sa.bindparam("batch", type_=ARRAY_BIGINT)))
        .order_by(r.c.seq, near_cases.c.updated_at.desc(), near_cases.c.case_id)
    )


def near_cases_lateral(source: sa.FromClause, point: sa.ColumnElement[Any]) -> LateralFromClause:
    """Return the cases of :func:`nearby_case_records` near ``point`` (of ``source``).

    A LATERAL subquery correlated to ``source`` (one probe per row of it), with the
    columns of :func:`nearby_case_records` but ``report_seq``, the area as ``area_wkb``,
    most recently updated first. Bound parameters: ``dlon``, ``dlat``, ``radius_m``,
    ``active``, ``reopenable``, ``since``, ``case_limit``.
    """
    c = t.cases
    geography = sa.func.geography(point)
    radius = sa.bindparam("radius_m", type_=sa.Double)
    box = expand_box(point, (0.0, 0.0))
    near = sa.or_(
        *(
            sa.and_(
                column.op("&&")(box),
                sa.func.ST_DWithin(sa.func.geography(column), geography, radius),
            )
            for column in (c.c.anchor_geom, c.c.aggregate_geom)
        )
    )
    # The index probe alone, fenced (OFFSET 0: no condition below is pushed into it): with
    # the status and merge conditions beside it, the planner ANDed the GiST probes with
    # scans of the status or merged-into indexes, which return every open case (at 1M
    # reports, 0.7 ms of each 0.75 ms probe).
    probe = (
        sa.select(
            c.c.case_id, c.c.title, c.c.status, c.c.classification, c.c.summary,
            c.c.anchor_lat, c.c.anchor_lng, c.c.cluster_count, c.c.linked_report_count,
            c.c.updated_at, c.c.aggregate_geom, c.c.merged_into_case_id,
        )
        .where(near)
        .correlate(source)
        .offset(0)
        .lateral("probe")
    )  # fmt: skip
    status_ok = sa.or_(
        probe.c.status == sa.any_(sa.bindparam("active", type_=ARRAY_TEXT)),
        sa.and_(
            probe.c.status == sa.any_(sa.bindparam("reopenable", type_=ARRAY_TEXT)),
            probe.c.updated_at >= sa.bindparam("since", type_=c.c.updated_at.type),
        ),
    )  # as matchable_status, on the probe's rows
    # One indexed probe of the cases per report (LATERAL), whatever the planner knows of
    # the batch's reports (a file's reports are not analysed yet when they are matched).
    return (
        sa.select(*_case_columns(probe))
        .where(probe.c.merged_into_case_id.is_(None), status_ok)
        .order_by(probe.c.updated_at.desc(), probe.c.case_id)
        .limit(sa.bindparam("case_limit", type_=sa.Integer))
        .lateral("near_cases")
    )  # fmt: skip


def _case_columns(c: sa.FromClause = t.cases) -> list[sa.ColumnElement[Any]]:
    """Return the columns of a case record (of ``cases`` or a subquery of its columns)."""
    return [
        c.c.case_id, c.c.title, c.c.status, c.c.classification, c.c.summary, c.c.anchor_lat,
        c.c.anchor_lng, c.c.cluster_count, c.c.linked_report_count, c.c.updated_at,
        sa.func.ST_AsBinary(c.c.aggregate_geom).label("area_wkb"),
    ]  # fmt: skip


def records_of(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Return the records with each area decoded once per distinct WKB."""
    areas: dict[bytes, shapely.Geometry] = {}
    records = []
    for row in rows:
        record = dict(row)
        wkb = record.pop("area_wkb")
        if wkb is not None:
            key = bytes(wkb)
            if key not in areas:
                areas[key] = shapely.from_wkb(key)
            record["geometry"] = areas[key]
        else:
            record["geometry"] = None
        records.append(record)
    return records


def case_records(conn: sa.Connection, case_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Return the records of :func:`nearby_case_records` for cases (no ``report_seq``).

    For a case a batch linked a report to, read again before a later report looks at it.
    """
    c = t.cases
    stmt = (
        sa.select(*_case_columns())
        .where(c.c.case_id == sa.any_(sa.bindparam("case_ids", list(case_ids), ARRAY_TEXT)))
        .order_by(c.c.case_id)
    )
    return records_of(conn.execute(stmt).mappings())


def case_evidence(
    conn: sa.Connection,
    case_ids: Sequence[str],
    seqs: Sequence[int],
    *,
    radius_m: float,
    max_abs_lat: float | None = None,
) -> list[sa.RowMapping]:
    """Linked reports of ``case_ids`` within ``radius_m`` of a report of ``seqs``.

    Columns: ``case_id`` and those of :func:`report_fact_rows` (without ``visible``).
    """
    if not case_ids or not seqs:
        return []
    margin = box_margin(conn, seqs, radius_m, max_abs_lat=max_abs_lat)
    params = {
        "dlon": margin[0], "dlat": margin[1], "ev_radius": radius_m,
        "case_ids": list(case_ids), "batch": [int(s) for s in seqs],
    }  # fmt: skip
    return list(conn.execute(_evidence_stmt(), params).mappings())


@functools.cache
def _evidence_stmt() -> sa.Select[Any]:
    cr, r, a = t.case_reports, t.reports, t.report_analysis
    new = sa.alias(r, "new")
    # Driven by the cases (their links through the primary keys), never by a scan of all
    # reports, whatever the planner knows of the batch's freshly stored reports.
    ids = (
        sa.func.unnest(sa.bindparam("case_ids", type_=ARRAY_TEXT))
        .table_valued("case_id")
        .render_derived(name="ids")
    )
    close = (
        sa.select(sa.literal(1))
        .where(
            new.c.seq == sa.any_(sa.bindparam("batch", type_=ARRAY_BIGINT)),
            _within_evidence_radius(new, r),
        )
        .exists()
    )  # fmt: skip
    links = (
        sa.select(*_evidence_columns())
        .select_from(
            cr.join(r, r.c.seq == cr.c.seq).outerjoin(
                a, sa.and_(a.c.seq == r.c.seq, a.c.language == r.c.preferred_language)
            )
        )
        .where(cr.c.case_id == ids.c.case_id, close)
        .lateral("links")
    )  # fmt: skip
    return (
        sa.select(*links.c)
        .select_from(ids.join(links, sa.true()))
        .order_by(links.c.case_id, links.c.seq)
    )


def _evidence_columns() -> list[sa.ColumnElement[Any]]:
    """Return the columns of an evidence row: the case and its linked report's facts."""
    cr, r, a = t.case_reports, t.reports, t.report_analysis
    return [
        cr.c.case_id, r.c.seq, r.c.longitude, r.c.latitude, r.c.ts, a.c.severity_level,
        a.c.classification, a.c.brand_display_name, a.c.title, a.c.summary, a.c.description,
    ]  # fmt: skip


def _within_evidence_radius(new: sa.FromClause, linked: sa.FromClause) -> sa.ColumnElement[bool]:
    """Return whether a linked report is within ``ev_radius`` m of a new one (box, geodesic)."""
    return sa.and_(
        new.c.geom.op("&&")(expand_box(linked.c.geom, (0.0, 0.0))),
        sa.func.ST_DWithin(
            sa.func.geography(new.c.geom),
            sa.func.geography(linked.c.geom),
            sa.bindparam("ev_radius", type_=sa.Double),
        ),
    )


def pair_evidence(
    conn: sa.Connection,
    pairs: Sequence[tuple[int, str]],
    *,
    radius_m: float,
    max_abs_lat: float | None = None,
) -> list[Any]:
    """Linked reports of each pair's case within ``radius_m`` of the pair's report.

    ``pairs``: ``(seq, case_id)``, a new report and a case near it. The rows of
    :func:`case_evidence` that matching can use: a case's linked report counts as evidence
    for a new report only within the radius of that report (farther, its pair score is 0),
    and only for the cases near that report, so a batch gets what each of its reports would
    get alone. Each ``(case_id, seq)`` once, by ``case_id`` then ``seq``.

    Columns: ``case_id`` and those of :func:`report_fact_rows` (without ``visible``), as
    attributes of named tuples.
    """
    if not pairs:
        return []
    seqs = sorted({int(seq) for seq, _ in pairs})
    margin = box_margin(conn, seqs, radius_m, max_abs_lat=max_abs_lat)
    params = {
        "dlon": margin[0], "dlat": margin[1], "ev_radius": radius_m,
        "pair_seqs": [int(seq) for seq, _ in pairs], "pair_cases": [c for _, c in pairs],
    }  # fmt: skip
    out: list[Any] = []
    for row in direct.execute(conn, _pair_evidence_stmt(), params):
        # A link near two reports of the batch comes twice, one after the other.
        if not out or (out[-1].case_id, out[-1].seq) != (row.case_id, row.seq):
            out.append(row)
    return out


@functools.cache
def _pair_evidence_stmt() -> sa.Select[Any]:
    cr, r, a = t.case_reports, t.reports, t.report_analysis
    new = sa.alias(r, "new")
    # One probe per pair through primary keys (the new report, the case's links, their
    # reports and analyses), then the distance test: never a scan of all reports, and no
    # test of a link against every report of the batch.
    given = (
        sa.func.unnest(
            sa.bindparam("pair_seqs", type_=ARRAY_BIGINT),
            sa.bindparam("pair_cases", type_=ARRAY_TEXT),
        )
        .table_valued("seq", "case_id")
        .render_derived(name="pairs")
    )
    links = (
        sa.select(*_evidence_columns())
        .select_from(
            new.join(cr, cr.c.case_id == given.c.case_id)
            .join(r, r.c.seq == cr.c.seq)
            .outerjoin(a, sa.and_(a.c.seq == r.c.seq, a.c.language == r.c.preferred_language))
        )
        .where(
            new.c.seq == given.c.seq,
            _within_evidence_radius(new, r),
        )
        .lateral("links")
    )  # fmt: skip
    return (
        sa.select(*links.c)
        .select_from(given.join(links, sa.true()))
        .order_by(links.c.case_id, links.c.seq)
    )


@dataclass
class AggregateInputs:
    """What a case's anchor and area are computed from (see ``recompute_aggregates``).

    Attributes
    ----------
    geometries : list
        The ``geometry_json`` of its snapshots (in link order), else its own, else none.
    seqs, latitudes, longitudes, timestamps, severities : list
        Its linked reports, by ``seq`` (severity: the preferred analysis', else 0).
    """

    geometries: list[Any] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    latitudes: list[float] = field(default_factory=list)
    longitudes: list[float] = field(default_factory=list)
    timestamps: list[Any] = field(default_factory=list)
    severities: list[float] = field(default_factory=list)


def aggregate_inputs(conn: sa.Connection, case_ids: Sequence[str]) -> dict[str, AggregateInputs]:
    """Load :class:`AggregateInputs` of many cases in three statements.

    The same reads as :func:`cleanapp_api.db.repositories.recompute_aggregates` makes for
    one case, so a batch that links reports can know a case's new anchor and area without
    recomputing it in the store after every link.
    """
    out = {case_id: AggregateInputs() for case_id in case_ids}
    if not out:
        return out
    c, cc, sc, cr, r, a = (
        t.cases, t.case_clusters, t.saved_clusters, t.case_reports, t.reports, t.report_analysis,
    )  # fmt: skip
    ids = sa.bindparam("agg_ids", list(out), ARRAY_TEXT)
    snapshots = conn.execute(
        sa.select(cc.c.case_id, sc.c.geometry_json)
        .select_from(cc.join(sc, sc.c.cluster_id == cc.c.cluster_id))
        .where(cc.c.case_id == sa.any_(ids))
        .order_by(cc.c.case_id, cc.c.linked_at, cc.c.cluster_id)
    )
    for case_id, geometry in snapshots:
        if geometry:
            out[case_id].geometries.append(geometry)
    own = conn.execute(sa.select(c.c.case_id, c.c.geometry_json).where(c.c.case_id == sa.any_(ids)))
    for case_id, geometry in own:
        if geometry and not out[case_id].geometries:
            out[case_id].geometries.append(geometry)
    preferred = (
        sa.select(a.c.severity_level)
        .where(a.c.seq == r.c.seq, a.c.language == r.c.preferred_language)
        .scalar_subquery()
    )
    linked = conn.execute(
        sa.select(cr.c.case_id, cr.c.seq, r.c.latitude, r.c.longitude, r.c.ts,
                  sa.func.coalesce(preferred, 0.0))
        .select_from(cr.join(r, r.c.seq == cr.c.seq))
        .where(cr.c.case_id == sa.any_(ids))
        .order_by(cr.c.case_id, cr.c.seq)
    )  # fmt: skip
    for case_id, seq, lat, lon, ts, severity in linked:
        inputs = out[case_id]
        inputs.seqs.append(int(seq))
        inputs.latitudes.append(lat)
        inputs.longitudes.append(lon)
        inputs.timestamps.append(ts)
        inputs.severities.append(float(severity))
    return out


def link_many(conn: sa.Connection, rows: Sequence[Mapping[str, Any]], *, reason: str) -> None:
    """Link reports to cases in one executemany (``case_id``, ``seq``, ``confidence`` each).

    As :func:`cleanapp_api.db.repositories.link_reports` with ``overwrite=False``: an
    existing link keeps its reason and the higher confidence.
    """
    if not rows:
        return
    direct.executemany(
        conn,
        _LINK_STMT,
        [
            {"l_case_id": r["case_id"], "l_seq": int(r["seq"]), "l_reason": reason,
             "l_confidence": r["confidence"]}
            for r in rows
        ],
    )  # fmt: skip


def _link_stmt() -> Any:
    cr = t.case_reports
    stmt = pg.insert(cr).values(
        case_id=sa.bindparam("l_case_id"), seq=sa.bindparam("l_seq"),
        link_reason=sa.bindparam("l_reason"), confidence=sa.bindparam("l_confidence"),
    )  # fmt: skip
    return stmt.on_conflict_do_update(
        index_elements=[cr.c.case_id, cr.c.seq],
        set_={"confidence": sa.func.greatest(cr.c.confidence, stmt.excluded.confidence)},
    )


# Built once, run as an executemany: a statement with one VALUES row per link would be
# compiled anew for every batch size.
_LINK_STMT = _link_stmt()


def insert_audits(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write audit events in one executemany, in order.

    Each row: ``case_id``, ``event_type``, ``actor_user_id``, ``payload_json``.
    """
    direct.executemany(conn, _AUDIT_STMT, rows)


_AUDIT_STMT = sa.insert(t.case_audit_events).values(
    {
        **{name: sa.bindparam(name) for name in ("case_id", "event_type", "actor_user_id")},
        "payload_json": sa.bindparam("payload_json", type_=t.case_audit_events.c.payload_json.type),
    }
)


def supersede_many(conn: sa.Connection, notes: Mapping[int, str], *, user_id: str) -> None:
    """Close every open suggestion of the reports of ``notes`` (seq → decision note)."""
    if not notes:
        return
    direct.execute(
        conn,
        _supersede_stmt(),
        {"sup_seqs": [int(k) for k in notes], "sup_notes": list(notes.values()),
         "sup_user": user_id},
    )  # fmt: skip


@functools.cache
def _supersede_stmt() -> sa.Update:
    s = t.case_suggestions
    seqs = sa.func.unnest(sa.bindparam("sup_seqs", type_=ARRAY_BIGINT))
    texts = sa.func.unnest(sa.bindparam("sup_notes", type_=ARRAY_TEXT))
    given = sa.select(seqs.label("seq"), texts.label("note")).subquery("given")
    return (
        sa.update(s)
        .where(s.c.seq == given.c.seq, s.c.status == "open")
        .values(
            status="superseded", decided_at=sa.func.now(),
            decided_by_user_id=sa.bindparam("sup_user", type_=s.c.decided_by_user_id.type),
            decision_note=given.c.note, updated_at=sa.func.now(),
        )
    )  # fmt: skip
