"""All SQL of the case feature: SQLAlchemy Core statements with bound parameters only.

Every function takes an open :class:`sqlalchemy.Connection`; the caller (the services in
:mod:`cleanapp_api.services`) owns the transaction, so one mutation = one transaction that
takes the locks, re-reads what it needs, writes, recomputes aggregates, writes the audit
event and reloads the detail before committing.

Reads that return wire objects build the msgspec Structs of :mod:`cleanapp_api.schemas`
directly from rows (no intermediate frames), which keeps large analysis responses cheap.

Concurrency (:func:`lock_scope`)
--------------------------------
Case writes take transaction-scoped advisory locks before they read: one exclusive lock per
report seq they link, and exclusive locks on the 0.05° grid cells that the cluster's
matching neighbourhood (its bounds grown by :data:`cleanapp_geo.matching.MATCH_RADIUS_M`)
touches, under a shared global lock; a neighbourhood spanning more than 64 cells takes the
global lock exclusively instead. Locks are taken in one global order (global, cells, seqs;
ascending keys within each), so lockers never deadlock. Two creates over the same reports,
or whose clusters could match each other's cases, therefore run one after the other, and
the second one's re-match (inside its transaction, after the lock) sees the first one's
case.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec
import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_api.db import tables as t
from cleanapp_api.schemas import (
    AnalysisJSON,
    AuditEvent,
    Case,
    CaseDetail,
    CaseReportLink,
    EmailDelivery,
    EscalationAction,
    EscalationTarget,
    ReportCaseSummary,
    ReportJSON,
    ReportWithAnalysis,
    ResolutionSignal,
    SavedCluster,
    rfc3339,
)
from cleanapp_geo.cases import anchor_index, case_trend, case_urgency
from cleanapp_geo.matching import MATCH_RADIUS_M
from cleanapp_geo.targets import EscalationTarget as TargetRecord
from cleanapp_geo.targets import target_key as one_target_key

__all__ = [
    "CASE_ID_PATTERN",
    "ReportState",
    "action_from_row",
    "advisory_lock_key",
    "bounds_of",
    "candidate_case_records",
    "case_detail",
    "cases_for_report",
    "delivery_from_row",
    "grown_bounds",
    "insert_audit",
    "insert_case",
    "insert_saved_cluster",
    "insert_targets",
    "link_cluster",
    "link_reports",
    "lock_case_rows",
    "lock_scope",
    "merge_case_into",
    "recompute_aggregates",
    "report_details",
    "report_states",
    "target_key",
    "update_status",
]

CASE_ID_PATTERN: Final = r"^case_[0-9a-f]{24}$"

_LOCK_NAMESPACE: Final = "cleanapp_cases"
_CELL_DEG: Final = 0.05
_MAX_LOCKED_CELLS: Final = 64
_M_PER_DEG_LAT: Final = 110_574.0  # shortest degree of latitude (equator), in metres
_M_PER_DEG_LON_EQUATOR: Final = 111_320.0
_CANDIDATE_LIMIT: Final = 500

_ARRAY_BIGINT = pg.ARRAY(sa.BigInteger)
_ARRAY_TEXT = pg.ARRAY(sa.Text)
_PSYCOPG_DIALECT: Final = sa.engine.make_url("postgresql+psycopg://").get_dialect()()


def _json_text(value: Any) -> str:
    """JSON column → JSON text (``""`` when NULL), as upstream exposes JSON columns."""
    if value is None:
        return ""
    return msgspec.json.encode(value).decode()


def _jsonb(value: Any) -> Any:
    """Return a JSONB bind value; Python None becomes SQL NULL (not JSON ``null``)."""
    return sa.null() if value is None else value


def _ts(value: datetime | None) -> str:
    text = rfc3339(value)
    return "" if text is None else text


# =========================================================================== locks


def advisory_lock_key(*parts: object) -> int:
    """64-bit key of a PostgreSQL advisory lock named by ``parts`` (in our namespace)."""
    digest = hashlib.blake2b(
        ":".join([_LOCK_NAMESPACE, *map(str, parts)]).encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def _cell_keys(bounds: tuple[float, float, float, float]) -> list[int] | None:
    west, south, east, north = grown_bounds(bounds, MATCH_RADIUS_M)
    ix = range(math.floor(west / _CELL_DEG), math.floor(east / _CELL_DEG) + 1)
    iy = range(math.floor(south / _CELL_DEG), math.floor(north / _CELL_DEG) + 1)
    if len(ix) * len(iy) > _MAX_LOCKED_CELLS:
        return None
    return sorted(advisory_lock_key("cell", x, y) for x in ix for y in iy)


def _bounds(geometry: shapely.Geometry) -> tuple[float, float, float, float]:
    w, s, e, n = (float(v) for v in shapely.bounds(geometry))
    return w, s, e, n


def grown_bounds(
    bounds: tuple[float, float, float, float], metres: float
) -> tuple[float, float, float, float]:
    """Grow lon/lat bounds by at least ``metres`` on every side (clipped to the globe).

    Parameters
    ----------
    bounds : tuple of float
        ``(west, south, east, north)`` in degrees.
    metres : float
        Margin.

    Returns
    -------
    tuple of float
        The grown bounds.
    """
    west, south, east, north = bounds
    dlat = metres / _M_PER_DEG_LAT * 1.01
    south, north = max(-90.0, south - dlat), min(90.0, north + dlat)
    cos_phi = math.cos(math.radians(min(89.9, max(abs(south), abs(north)))))
    dlon = metres / (_M_PER_DEG_LON_EQUATOR * cos_phi) * 1.01
    return max(-180.0, west - dlon), south, min(180.0, east + dlon), north


def lock_scope(
    conn: sa.Connection,
    *,
    seqs: Iterable[int],
    bounds: tuple[float, float, float, float] | None,
) -> None:
    """Serialise case writes over the same reports or neighbourhood (module docstring).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction (the locks last until it ends).
    seqs : iterable of int
        Reports the write links.
    bounds : tuple of float, optional
        ``(west, south, east, north)`` of the cluster (its scope or its reports).
    """
    global_key = advisory_lock_key("global")
    cells = _cell_keys(bounds) if bounds is not None else []
    if cells is None:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(global_key)))
        cells = []
    else:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(global_key)))
    keys = cells + sorted(advisory_lock_key("seq", int(s)) for s in set(seqs))
    if keys:
        # unnest yields the array in order, so the locks are taken in ``keys`` order.
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(k) FROM unnest(:keys) AS k").bindparams(
                sa.bindparam("keys", keys, _ARRAY_BIGINT)
            )
        )


def lock_case_rows(conn: sa.Connection, case_ids: Iterable[str]) -> dict[str, Any]:
    """Lock case rows (``FOR UPDATE``, in ``case_id`` order) and return those that exist.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside a transaction.
    case_ids : iterable of str
        The cases.

    Returns
    -------
    dict of str to Row
        ``case_id`` → row with ``case_id, status, merged_into_case_id,
        created_by_user_id``.
    """
    c = t.cases
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    stmt = (
        sa.select(c.c.case_id, c.c.status, c.c.merged_into_case_id, c.c.created_by_user_id)
        .where(c.c.case_id == sa.any_(sa.bindparam("ids", ids, _ARRAY_TEXT)))
        .order_by(c.c.case_id)
        .with_for_update()
    )
    return {row.case_id: row for row in conn.execute(stmt)}


# =========================================================================== reports


@dataclass(frozen=True, slots=True)
class ReportState:
    """What the store knows about one report seq (reference §1.2).

    Attributes
    ----------
    seq : int
        The report.
    public : bool
        Rules 1–3: active, public visibility, no owner or a public one.
    has_analysis, has_valid_analysis : bool
        At least one analysis row / one with ``is_valid``.
    """

    seq: int
    public: bool
    has_analysis: bool
    has_valid_analysis: bool

    @property
    def linkable(self) -> bool:
        """Visible as ``GetReportsBySeqs`` sees it (public with a valid analysis)."""
        return self.public and self.has_valid_analysis

    @property
    def anchorable(self) -> bool:
        """Visible as ``GetReportBySeq`` sees it (public with any analysis)."""
        return self.public and self.has_analysis


def report_states(conn: sa.Connection, seqs: Iterable[int]) -> dict[int, ReportState]:
    """Return the :class:`ReportState` of each stored seq among ``seqs``.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    seqs : iterable of int
        Report seqs; unknown ones are absent from the result.

    Returns
    -------
    dict of int to ReportState
    """
    wanted = sorted({int(s) for s in seqs})
    if not wanted:
        return {}
    r, a = t.reports, t.report_analysis
    any_analysis = sa.exists().where(a.c.seq == r.c.seq)
    valid_analysis = sa.exists().where(a.c.seq == r.c.seq, a.c.is_valid)
    public = sa.and_(
        r.c.status == "active",
        r.c.visibility == "public",
        sa.or_(r.c.owner.is_(None), r.c.owner == "", r.c.owner_is_public),
    )
    stmt = sa.select(
        r.c.seq,
        public.label("public"),
        any_analysis.label("has_analysis"),
        valid_analysis.label("has_valid"),
    ).where(r.c.seq == sa.any_(sa.bindparam("seqs", wanted, _ARRAY_BIGINT)))
    return {
        int(row.seq): ReportState(
            int(row.seq), bool(row.public), bool(row.has_analysis), bool(row.has_valid)
        )
        for row in conn.execute(stmt)
    }


def _utc_text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """``YYYY-MM-DDTHH:MI:SS.ffffff`` in UTC, formatted by PostgreSQL (see :func:`_go_time`)."""
    return sa.func.to_char(sa.func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')


def _go_time(text: str) -> str:
    """Finish :func:`_utc_text` output as Go marshals times (no trailing zeros, ``Z``)."""
    return text.rstrip("0").rstrip(".") + "Z"


@functools.cache
def _details_statement() -> sa.engine.Compiled:
    """Compile the statement of :func:`report_details` for the psycopg driver (once)."""
    r, a = t.reports, t.report_analysis
    stmt = (
        sa.select(
            r.c.seq,
            r.c.public_id,
            _utc_text(r.c.ts),
            r.c.reporter_id,
            r.c.team,
            r.c.latitude,
            r.c.longitude,
            r.c.description,
            a.c.seq,
            a.c.source,
            a.c.analysis_text,
            a.c.title,
            a.c.description,
            a.c.brand_name,
            a.c.brand_display_name,
            a.c.litter_probability,
            a.c.hazard_probability,
            a.c.digital_bug_probability,
            a.c.severity_level,
            a.c.summary,
            a.c.language,
            a.c.classification,
            a.c.inferred_contact_emails,
            a.c.is_valid,
            _utc_text(a.c.created_at),
            _utc_text(a.c.updated_at),
        )
        .select_from(r.outerjoin(a, a.c.seq == r.c.seq))
        .where(r.c.seq == sa.any_(sa.bindparam("seqs", type_=_ARRAY_BIGINT)))
    )  # no ORDER BY: the wide rows would sort on disk; analyses are ordered below
    return stmt.compile(dialect=_PSYCOPG_DIALECT)


def report_details(conn: sa.Connection, seqs: Sequence[int]) -> list[ReportWithAnalysis]:
    """Load reports with every analysis row (reference §1.4), in the order of ``seqs``.

    Unlike upstream's loaders every analysis column is selected, so ``is_valid``,
    ``inferred_contact_emails`` and ``updated_at`` are the stored values. ``team``, ``id``
    and ``description`` are the report's; ``x``/``y`` are 0 and ``last_email_sent_at`` null
    (the store keeps no e-mail history of solo reports). One query; timestamps are
    formatted by PostgreSQL (this runs for up to 10k reports per analysis).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    seqs : sequence of int
        Report seqs; unknown ones are skipped.

    Returns
    -------
    list of ReportWithAnalysis
    """
    wanted = [int(s) for s in seqs]
    if not wanted:
        return []
    compiled = _details_statement()
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - a live connection always has one
        raise RuntimeError("the SQLAlchemy connection has no DBAPI connection")
    # The driver's tuples in binary (numbers are not parsed from text), fetched at once:
    # SQLAlchemy rows and row-by-row fetching each cost more than building the Structs.
    with raw.cursor(binary=True) as cursor:
        cursor.execute(str(compiled), compiled.construct_params({"seqs": wanted}))
        rows = cursor.fetchall()
    found: dict[int, ReportWithAnalysis] = {}
    times: dict[str, str] = {}
    for row in rows:
        (seq, public_id, ts, reporter_id, team, latitude, longitude, text, analysis_seq,
         source, analysis_text, title, description, brand_name, brand_display_name,
         litter, hazard, digital_bug, severity, summary, language, classification,
         inferred, is_valid, created_at, updated_at) = row  # fmt: skip
        item = found.get(seq)
        if item is None:
            item = found[seq] = ReportWithAnalysis(
                report=ReportJSON(
                    seq=seq,
                    public_id=public_id,
                    timestamp=_go_time(ts),
                    id=reporter_id,
                    team=team,
                    latitude=latitude,
                    longitude=longitude,
                    x=0.0,
                    y=0.0,
                    description=text,
                    last_email_sent_at=None,
                ),
                analysis=[],
            )
        if analysis_seq is not None:
            created = times.get(created_at)
            if created is None:
                created = times[created_at] = _go_time(created_at)
            updated = times.get(updated_at)
            if updated is None:
                updated = times[updated_at] = _go_time(updated_at)
            item.analysis.append(
                AnalysisJSON(
                    seq=analysis_seq,
                    source=source,
                    analysis_text=analysis_text,
                    title=title,
                    description=description,
                    brand_name=brand_name,
                    brand_display_name=brand_display_name,
                    litter_probability=litter,
                    hazard_probability=hazard,
                    digital_bug_probability=digital_bug,
                    severity_level=severity,
                    summary=summary,
                    language=language,
                    classification=classification,
                    inferred_contact_emails=inferred,
                    is_valid=is_valid,
                    created_at=created,
                    updated_at=updated,
                )
            )
    for item in found.values():
        if len(item.analysis) > 1:
            item.analysis.sort(key=lambda x: x.language)
    return [found[s] for s in wanted if s in found]


# =========================================================================== matching


def candidate_case_records(
    conn: sa.Connection,
    *,
    classification: str,
    area: shapely.Geometry | None,
    seqs: Sequence[int],
    active_statuses: Sequence[str],
    reopenable_statuses: Sequence[str],
    reopen_since: datetime,
    limit: int = _CANDIDATE_LIMIT,
) -> list[dict[str, Any]]:
    """Load the cases a cluster may match, for :func:`cleanapp_geo.matching.cases_frame`.

    A case qualifies when it has the classification, is not merged, is active (or
    reopenable and updated since ``reopen_since``) and either shares a report with the
    cluster (index on ``case_reports.seq``) or has its anchor or aggregate geometry within
    :data:`~cleanapp_geo.matching.MATCH_RADIUS_M` metres of the cluster's area (GiST
    indexes on ``anchor_geom`` / ``aggregate_geom`` through a bounding box, then the exact
    geodesic ``ST_DWithin``). At most ``limit`` cases, most recently updated first.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    classification : str
        Case classification.
    area : shapely.Geometry, optional
        The cluster's area (polygon) or points (multipoint), EPSG:4326.
    seqs : sequence of int
        The cluster's report seqs.
    active_statuses, reopenable_statuses : sequence of str
        Status sets of :mod:`cleanapp_geo.matching`.
    reopen_since : datetime
        Oldest ``updated_at`` of a reopenable case.
    limit : int, default 500
        Largest number of cases.

    Returns
    -------
    list of dict
        One record per case: the case columns, ``report_seqs`` (list of int) and
        ``geometry`` (the aggregate geometry as shapely, or None).
    """
    c, cr = t.cases, t.case_reports
    near: list[sa.ColumnElement[bool]] = []
    wanted = sorted({int(s) for s in seqs})
    if wanted:
        shares = sa.select(cr.c.case_id).where(
            cr.c.seq == sa.any_(sa.bindparam("seqs", wanted, _ARRAY_BIGINT))
        )
        near.append(c.c.case_id.in_(shares))
    if area is not None and not shapely.is_empty(area):
        west, south, east, north = grown_bounds(_bounds(area), MATCH_RADIUS_M)
        box = sa.func.ST_MakeEnvelope(
            sa.bindparam("west", west, sa.Double),
            sa.bindparam("south", south, sa.Double),
            sa.bindparam("east", east, sa.Double),
            sa.bindparam("north", north, sa.Double),
            4326,
        )
        cluster = sa.func.geography(
            sa.func.ST_GeomFromWKB(
                sa.bindparam("area_wkb", shapely.to_wkb(area, output_dimension=2), sa.LargeBinary),
                4326,
            )
        )
        radius = sa.bindparam("radius_m", MATCH_RADIUS_M, sa.Double)
        for column in (c.c.anchor_geom, c.c.aggregate_geom):
            near.append(
                sa.and_(
                    column.op("&&")(box),
                    sa.func.ST_DWithin(sa.func.geography(column), cluster, radius),
                )
            )
    if not near:
        return []
    status_ok = sa.or_(
        c.c.status == sa.any_(sa.bindparam("active", list(active_statuses), _ARRAY_TEXT)),
        sa.and_(
            c.c.status
            == sa.any_(sa.bindparam("reopenable", list(reopenable_statuses), _ARRAY_TEXT)),
            c.c.updated_at >= sa.bindparam("since", reopen_since, c.c.updated_at.type),
        ),
    )
    linked = (
        sa.select(
            sa.func.coalesce(sa.func.array_agg(cr.c.seq), sa.cast(sa.text("'{}'"), _ARRAY_BIGINT))
        )
        .where(cr.c.case_id == c.c.case_id)
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            c.c.case_id,
            c.c.slug,
            c.c.title,
            c.c.status,
            c.c.classification,
            c.c.summary,
            c.c.geometry_json,
            c.c.aggregate_geometry_json,
            c.c.aggregate_bbox_json,
            c.c.anchor_report_seq,
            c.c.anchor_lat,
            c.c.anchor_lng,
            c.c.cluster_count,
            c.c.linked_report_count,
            c.c.updated_at,
            linked.label("report_seqs"),
            sa.func.ST_AsBinary(c.c.aggregate_geom).label("area_wkb"),
        )
        .where(
            c.c.classification == sa.bindparam("classification", classification, sa.String),
            c.c.merged_into_case_id.is_(None),
            status_ok,
            sa.or_(*near),
        )
        .order_by(c.c.updated_at.desc(), c.c.case_id)
        .limit(sa.bindparam("limit", limit, sa.Integer))
    )
    records = []
    for row in conn.execute(stmt).mappings():
        record = dict(row)
        wkb = record.pop("area_wkb")
        record["geometry"] = None if wkb is None else shapely.from_wkb(bytes(wkb))
        record["report_seqs"] = list(record["report_seqs"] or [])
        records.append(record)
    return records


# =========================================================================== case writes


def insert_case(conn: sa.Connection, values: Mapping[str, Any]) -> None:
    """Insert a case row (JSON values may be None → SQL NULL).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    values : mapping
        Column values of ``cases``.
    """
    row = {k: (_jsonb(v) if k.endswith("_json") else v) for k, v in values.items()}
    conn.execute(sa.insert(t.cases).values(**row))


def insert_saved_cluster(conn: sa.Connection, values: Mapping[str, Any]) -> None:
    """Insert a cluster snapshot; ``geometry`` (shapely or None) fills ``geom``.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    values : mapping
        Column values of ``saved_clusters`` plus ``geometry``.
    """
    row = {k: (_jsonb(v) if k.endswith("_json") else v) for k, v in values.items()}
    geometry = row.pop("geometry", None)
    if geometry is not None:
        row["geom"] = sa.func.ST_GeomFromWKB(
            sa.bindparam("geom_wkb", shapely.to_wkb(geometry, output_dimension=2), sa.LargeBinary),
            4326,
        )
    conn.execute(sa.insert(t.saved_clusters).values(**row))


def link_cluster(
    conn: sa.Connection, case_id: str, cluster_id: str, *, score: float, reason: str | None
) -> None:
    """Link a snapshot to a case; on a repeat keep the greatest score and the newer reason.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    case_id, cluster_id : str
        The link.
    score : float
        Match score in [0, 1].
    reason : str, optional
        Match reasons ("; "-joined).
    """
    cc = t.case_clusters
    stmt = pg.insert(cc).values(
        case_id=case_id, cluster_id=cluster_id, match_score=score, match_reason=reason
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[cc.c.case_id, cc.c.cluster_id],
        set_={
            "match_score": sa.func.greatest(cc.c.match_score, stmt.excluded.match_score),
            "match_reason": sa.func.coalesce(
                sa.func.nullif(stmt.excluded.match_reason, ""), cc.c.match_reason
            ),
        },
    )
    conn.execute(stmt)


def link_reports(
    conn: sa.Connection,
    case_id: str,
    seqs: Sequence[int],
    *,
    reason: str,
    confidence: float,
    overwrite: bool,
) -> None:
    """Link reports to a case.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    case_id : str
        The case.
    seqs : sequence of int
        Report seqs (checked to exist by the caller).
    reason : str
        ``link_reason`` of new links.
    confidence : float
        ``confidence`` of new links.
    overwrite : bool
        On an existing link: True replaces reason and confidence (an explicit
        ``POST /cases/{id}/reports``); False keeps the reason and raises the confidence to
        ``confidence`` if it is higher (attach: upstream overwrote the reason, §13.2 #17).
    """
    if not seqs:
        return
    cr = t.case_reports
    stmt = pg.insert(cr).values(
        [
            {"case_id": case_id, "seq": int(s), "link_reason": reason, "confidence": confidence}
            for s in seqs
        ]
    )
    update: dict[str, Any]
    if overwrite:
        update = {"link_reason": stmt.excluded.link_reason, "confidence": stmt.excluded.confidence}
    else:
        update = {"confidence": sa.func.greatest(cr.c.confidence, stmt.excluded.confidence)}
    conn.execute(stmt.on_conflict_do_update(index_elements=[cr.c.case_id, cr.c.seq], set_=update))


def target_key(target: Mapping[str, Any]) -> str:
    """De-duplication key of a target row: the one key of :func:`cleanapp_geo.targets.target_key`.

    Parameters
    ----------
    target : mapping
        A stored row or column values (unknown keys and None values are ignored).

    Returns
    -------
    str
        ``email:…``, ``phone:…``, ``social:…:…`` or ``website:…``; ``""`` without a contact
        method.

    Examples
    --------
    >>> target_key({"email": "ops@example.org", "id": 3})
    'email:ops@example.org'
    >>> target_key({"phone": "+41 (44) 123-45-67"})
    'phone:41441234567'
    """
    return one_target_key(TargetRecord.from_record(target))


def _target_keys(conn: sa.Connection, case_id: str) -> dict[str, int]:
    et = t.case_escalation_targets
    rows = conn.execute(
        sa.select(
            et.c.id, et.c.email, et.c.phone, et.c.social_platform, et.c.social_handle,
            et.c.contact_url, et.c.website,
        )
        .where(et.c.case_id == case_id)
        .order_by(et.c.id)
    ).mappings()  # fmt: skip
    keys: dict[str, int] = {}
    for row in rows:
        keys.setdefault(target_key(dict(row)), int(row["id"]))
    return keys


def insert_targets(conn: sa.Connection, case_id: str, targets: Sequence[Mapping[str, Any]]) -> int:
    """Insert targets whose :func:`target_key` the case does not hold yet.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    case_id : str
        The case.
    targets : sequence of mapping
        Validated column values of ``case_escalation_targets`` (without ``case_id``).

    Returns
    -------
    int
        Number of rows inserted.
    """
    known = _target_keys(conn, case_id)
    rows = []
    for target in targets:
        key = target_key(target)
        if not key or key in known:
            continue
        known[key] = 0
        rows.append({**target, "case_id": case_id})
    if rows:
        conn.execute(sa.insert(t.case_escalation_targets), rows)
    return len(rows)


def insert_audit(
    conn: sa.Connection, case_id: str, event_type: str, actor: str | None, payload: Any
) -> None:
    """Write one audit event.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    case_id : str
        The case.
    event_type : str
        Reference §9.2.
    actor : str, optional
        The acting user (NULL when empty).
    payload : any JSON
        ``payload_json``.
    """
    conn.execute(
        sa.insert(t.case_audit_events).values(
            case_id=case_id,
            event_type=event_type,
            actor_user_id=actor or None,
            payload_json=_jsonb(payload),
        )
    )


def update_status(conn: sa.Connection, case_id: str, status: str, summary: str | None) -> None:
    """Set a case's status (and summary when given); ``updated_at`` = now.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction (the row is locked by the caller).
    case_id, status : str
        The case and its new status.
    summary : str, optional
        New summary (unchanged when None or empty).
    """
    values: dict[str, Any] = {"status": status, "updated_at": sa.func.now()}
    if summary:
        values["summary"] = summary
    conn.execute(sa.update(t.cases).where(t.cases.c.case_id == case_id).values(**values))


def _geometries(objects: Iterable[Any]) -> list[dict[str, Any]]:
    """Upstream's aggregate FeatureCollection members (Features kept, collections flattened)."""
    features: list[dict[str, Any]] = []
    for obj in objects:
        if not isinstance(obj, dict) or not obj:
            continue
        kind = obj.get("type")
        if kind == "Feature":
            features.append(obj)
        elif kind == "FeatureCollection":
            features.extend(f for f in obj.get("features") or [] if isinstance(f, dict))
        else:
            features.append({"type": "Feature", "properties": {}, "geometry": obj})
    return features


def _area_of(features: Sequence[Mapping[str, Any]]) -> shapely.Geometry | None:
    parts = []
    for feature in features:
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict):
            continue
        try:
            geom = shapely.from_geojson(json.dumps(geometry))
        except shapely.errors.GEOSException:
            continue
        if not geom.is_empty and shapely.is_valid(geom):
            parts.append(geom)
    if not parts:
        return None
    return shapely.union_all(parts)


def recompute_aggregates(conn: sa.Connection, case_id: str) -> None:
    """Recompute a case's aggregates from its links (reference §5.3, in the caller's tx).

    Sets ``cluster_count``, ``last_cluster_at``, ``aggregate_geometry_json`` (a
    FeatureCollection of the snapshots' geometries, else of the case's own),
    ``aggregate_bbox_json``, ``aggregate_geom`` (their union, for the GiST lookup),
    ``linked_report_count``, the anchor (:func:`cleanapp_geo.cases.anchor_index`),
    ``first_seen_at``/``last_seen_at``, ``severity_score = criticality_score`` (max
    severity), ``urgency_score`` (:func:`cleanapp_geo.cases.case_urgency`), ``trend_score``
    (:func:`cleanapp_geo.cases.case_trend`) and ``updated_at``. Severity of a report is its
    English analysis's, else the highest over languages, else 0. ``confidence_score`` and
    ``exposure_score`` are left alone.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    case_id : str
        The case.
    """
    c, cc, sc, cr, r, a = (
        t.cases, t.case_clusters, t.saved_clusters, t.case_reports, t.reports, t.report_analysis,
    )  # fmt: skip
    snapshots = conn.execute(
        sa.select(sc.c.geometry_json, cc.c.linked_at)
        .select_from(cc.join(sc, sc.c.cluster_id == cc.c.cluster_id))
        .where(cc.c.case_id == case_id)
        .order_by(cc.c.linked_at, cc.c.cluster_id)
    ).all()
    cluster_count = len(snapshots)
    last_cluster_at = max((row.linked_at for row in snapshots), default=None)
    geometries = [row.geometry_json for row in snapshots if row.geometry_json]
    if not geometries:
        own = conn.execute(sa.select(c.c.geometry_json).where(c.c.case_id == case_id)).scalar()
        geometries = [own] if own else []
    features = _geometries(geometries)
    area = _area_of(features)
    aggregate_json = {"type": "FeatureCollection", "features": features} if features else None
    bbox = list(_bounds(area)) if area is not None else None

    english = (
        sa.select(a.c.severity_level)
        .where(a.c.seq == cr.c.seq, sa.func.lower(a.c.language) == "en")
        .order_by(a.c.language)
        .limit(1)
        .scalar_subquery()
    )
    highest = sa.select(sa.func.max(a.c.severity_level)).where(a.c.seq == cr.c.seq)
    severity = sa.func.coalesce(english, highest.scalar_subquery(), 0.0)
    linked = (
        sa.select(cr.c.seq, r.c.latitude, r.c.longitude, r.c.ts, severity.label("severity"))
        .select_from(cr.join(r, r.c.seq == cr.c.seq))
        .where(cr.c.case_id == case_id)
        .subquery()
    )
    stats = conn.execute(
        sa.select(
            sa.func.count().label("n"),
            sa.func.min(linked.c.ts).label("first"),
            sa.func.max(linked.c.ts).label("last"),
            sa.func.max(linked.c.severity).label("max"),
            sa.func.avg(linked.c.severity).label("avg"),
        )
    ).one()
    rows = conn.execute(
        sa.select(
            linked.c.seq, linked.c.latitude, linked.c.longitude, linked.c.ts, linked.c.severity
        )
    ).all()
    best = anchor_index([r.severity for r in rows], [r.ts for r in rows], [r.seq for r in rows])
    anchor = None if best is None else rows[best]
    n = int(stats.n)
    max_severity = float(stats.max or 0.0)
    avg_severity = float(stats.avg or 0.0)
    area_value: Any = sa.null()
    if area is not None:
        area_value = sa.func.ST_GeomFromWKB(
            sa.bindparam("area_wkb", shapely.to_wkb(area, output_dimension=2), sa.LargeBinary),
            4326,
        )
    conn.execute(
        sa.update(c)
        .where(c.c.case_id == case_id)
        .values(
            cluster_count=cluster_count,
            last_cluster_at=last_cluster_at,
            aggregate_geometry_json=_jsonb(aggregate_json),
            aggregate_bbox_json=_jsonb(bbox),
            aggregate_geom=area_value,
            linked_report_count=n,
            anchor_report_seq=None if anchor is None else anchor.seq,
            anchor_lat=None if anchor is None else anchor.latitude,
            anchor_lng=None if anchor is None else anchor.longitude,
            first_seen_at=stats.first,
            last_seen_at=stats.last,
            severity_score=max_severity,
            criticality_score=max_severity,
            urgency_score=case_urgency(max_severity, avg_severity, cluster_count, n),
            trend_score=case_trend(cluster_count),
            updated_at=sa.func.now(),
        )
    )


def merge_case_into(conn: sa.Connection, source_id: str, target_id: str) -> None:
    """Move everything of ``source_id`` to ``target_id`` and mark the source merged.

    Report links and snapshot links are copied (``link_reason = merged_from:<source>``, the
    original confidence and times; links the target already has are kept) and then removed
    from the source. Targets move, except duplicates (same :func:`target_key`) of the
    target's own, whose actions and deliveries are re-pointed to the target's copy before
    the duplicate is deleted. Actions, deliveries and resolution signals move. Cases
    merged into the source are re-pointed to the target (no merge chains). The source gets
    ``status = merged``, ``merged_into_case_id`` and recomputed (empty) aggregates. Audit
    events stay where they were written. The caller recomputes the target and audits.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction; both rows locked by the caller.
    source_id, target_id : str
        The cases.
    """
    cr, cc, et = t.case_reports, t.case_clusters, t.case_escalation_targets
    reason = sa.bindparam("reason", f"merged_from:{source_id}", sa.String)
    conn.execute(
        pg.insert(cr)
        .from_select(
            ["case_id", "seq", "link_reason", "confidence", "attached_at"],
            sa.select(
                sa.bindparam("target", target_id, sa.String),
                cr.c.seq,
                reason,
                cr.c.confidence,
                cr.c.attached_at,
            ).where(cr.c.case_id == source_id),
        )
        .on_conflict_do_nothing(index_elements=["case_id", "seq"])
    )
    conn.execute(
        pg.insert(cc)
        .from_select(
            ["case_id", "cluster_id", "match_score", "match_reason", "linked_at"],
            sa.select(
                sa.bindparam("target", target_id, sa.String),
                cc.c.cluster_id,
                cc.c.match_score,
                cc.c.match_reason,
                cc.c.linked_at,
            ).where(cc.c.case_id == source_id),
        )
        .on_conflict_do_nothing(index_elements=["case_id", "cluster_id"])
    )
    conn.execute(sa.delete(cr).where(cr.c.case_id == source_id))
    conn.execute(sa.delete(cc).where(cc.c.case_id == source_id))

    kept = _target_keys(conn, target_id)
    for key, source_target in _target_keys(conn, source_id).items():
        duplicate_of = kept.get(key) if key else None
        if duplicate_of is None:
            conn.execute(sa.update(et).where(et.c.id == source_target).values(case_id=target_id))
            continue
        for table in (t.case_escalation_actions, t.case_email_deliveries):
            conn.execute(
                sa.update(table)
                .where(table.c.target_id == source_target)
                .values(target_id=duplicate_of)
            )
        conn.execute(sa.delete(et).where(et.c.id == source_target))
    # Targets without a key (none are inserted without a contact method) follow too.
    conn.execute(sa.update(et).where(et.c.case_id == source_id).values(case_id=target_id))
    for table in (t.case_escalation_actions, t.case_email_deliveries, t.case_resolution_signals):
        conn.execute(sa.update(table).where(table.c.case_id == source_id).values(case_id=target_id))
    c = t.cases
    conn.execute(
        sa.update(c)
        .where(c.c.merged_into_case_id == source_id)
        .values(merged_into_case_id=target_id)
    )
    conn.execute(
        sa.update(c)
        .where(c.c.case_id == source_id)
        .values(status="merged", merged_into_case_id=target_id)
    )
    recompute_aggregates(conn, source_id)


# =========================================================================== case reads


def _case(row: Any) -> Case:
    return Case(
        case_id=row["case_id"],
        slug=row["slug"],
        title=row["title"],
        type=row["type"],
        status=row["status"],
        classification=row["classification"],
        summary=row["summary"],
        uncertainty_notes=row["uncertainty_notes"],
        geometry_json=_json_text(row["geometry_json"]),
        aggregate_geometry_json=_json_text(row["aggregate_geometry_json"]),
        aggregate_bbox_json=_json_text(row["aggregate_bbox_json"]),
        anchor_report_seq=row["anchor_report_seq"],
        anchor_lat=row["anchor_lat"],
        anchor_lng=row["anchor_lng"],
        building_id=row["building_id"],
        parcel_id=row["parcel_id"],
        severity_score=row["severity_score"],
        urgency_score=row["urgency_score"],
        confidence_score=row["confidence_score"],
        exposure_score=row["exposure_score"],
        criticality_score=row["criticality_score"],
        trend_score=row["trend_score"],
        cluster_count=row["cluster_count"],
        linked_report_count=row["linked_report_count"],
        first_seen_at=rfc3339(row["first_seen_at"]),
        last_seen_at=rfc3339(row["last_seen_at"]),
        last_cluster_at=rfc3339(row["last_cluster_at"]),
        merged_into_case_id=row["merged_into_case_id"],
        created_by_user_id=row["created_by_user_id"],
        created_at=_ts(row["created_at"]),
        updated_at=_ts(row["updated_at"]),
    )


def _case_columns() -> list[sa.Column[Any]]:
    skip = {"aggregate_geom", "anchor_geom"}
    return [col for col in t.cases.columns if col.name not in skip]


def _linked_reports(conn: sa.Connection, case_id: str) -> list[CaseReportLink]:
    cr, r, a = t.case_reports, t.reports, t.report_analysis
    english = (
        sa.select(a.c.title, a.c.summary, a.c.classification, a.c.severity_level)
        .where(a.c.seq == cr.c.seq, sa.func.lower(a.c.language) == "en")
        .order_by(a.c.language)
        .limit(1)
        .lateral("en")
    )
    highest = (
        sa.select(
            sa.func.max(a.c.title).label("title"),
            sa.func.max(a.c.summary).label("summary"),
            sa.func.max(a.c.classification).label("classification"),
            sa.func.max(a.c.severity_level).label("severity_level"),
        )
        .where(a.c.seq == cr.c.seq)
        .lateral("mx")
    )
    stmt = (
        sa.select(
            cr.c.case_id,
            cr.c.seq,
            r.c.public_id,
            cr.c.link_reason,
            cr.c.confidence,
            cr.c.attached_at,
            sa.func.coalesce(english.c.title, highest.c.title, "").label("title"),
            sa.func.coalesce(english.c.summary, highest.c.summary, "").label("summary"),
            sa.func.coalesce(english.c.classification, highest.c.classification, "physical").label(
                "classification"
            ),
            sa.func.coalesce(english.c.severity_level, highest.c.severity_level, 0.0).label(
                "severity_level"
            ),
            r.c.latitude,
            r.c.longitude,
            r.c.ts,
        )
        .select_from(
            cr.join(r, r.c.seq == cr.c.seq)
            .join(english, sa.true(), isouter=True)
            .join(highest, sa.true(), isouter=True)
        )
        .where(cr.c.case_id == case_id)
        .order_by(cr.c.attached_at, cr.c.seq)
    )
    return [
        CaseReportLink(
            case_id=row.case_id,
            seq=row.seq,
            public_id=row.public_id,
            link_reason=row.link_reason,
            confidence=row.confidence,
            attached_at=_ts(row.attached_at),
            title=row.title,
            summary=row.summary,
            classification=row.classification,
            severity_level=row.severity_level,
            latitude=row.latitude,
            longitude=row.longitude,
            report_timestamp=_ts(row.ts),
            last_email_sent_at=None,
            recipient_count=0,
        )
        for row in conn.execute(stmt)
    ]


def _clusters(conn: sa.Connection, case_id: str) -> list[SavedCluster]:
    cc, sc = t.case_clusters, t.saved_clusters
    columns = [col for col in sc.columns if col.name != "geom"]
    stmt = (
        sa.select(*columns, cc.c.match_score, cc.c.match_reason, cc.c.linked_at)
        .select_from(cc.join(sc, sc.c.cluster_id == cc.c.cluster_id))
        .where(cc.c.case_id == case_id)
        .order_by(cc.c.linked_at, cc.c.cluster_id)
    )
    return [
        SavedCluster(
            cluster_id=row["cluster_id"],
            source_type=row["source_type"],
            classification=row["classification"],
            geometry_json=_json_text(row["geometry_json"]),
            bbox_json=_json_text(row["bbox_json"]),
            centroid_lat=row["centroid_lat"],
            centroid_lng=row["centroid_lng"],
            cluster_fingerprint=row["cluster_fingerprint"],
            seed_report_seq=row["seed_report_seq"],
            report_count=row["report_count"],
            summary=row["summary"],
            stats_json=_json_text(row["stats_json"]),
            analysis_json=_json_text(row["analysis_json"]),
            created_by_user_id=row["created_by_user_id"],
            created_at=_ts(row["created_at"]),
            updated_at=_ts(row["updated_at"]),
            match_score=row["match_score"],
            match_reason=row["match_reason"] or "",
            linked_at=_ts(row["linked_at"]),
        )
        for row in conn.execute(stmt).mappings()
    ]


_TARGET_TEXT: Final = (
    "organization", "display_name", "email", "phone", "website", "contact_url",
    "social_platform", "social_handle", "source_url", "evidence_text", "verification_level",
    "reason_selected", "rationale",
)  # fmt: skip


def _targets(conn: sa.Connection, case_id: str) -> list[EscalationTarget]:
    et = t.case_escalation_targets
    stmt = (
        sa.select(et)
        .where(et.c.case_id == case_id)
        .order_by(
            et.c.notify_tier,
            et.c.actionability_score.desc(),
            et.c.confidence_score.desc(),
            et.c.created_at,
            et.c.id,
        )
    )
    out = []
    for row in conn.execute(stmt).mappings():
        values = dict(row)
        for name in _TARGET_TEXT:
            values[name] = values[name] or ""
        values["cooldown_until"] = rfc3339(values["cooldown_until"])
        values["created_at"] = _ts(values["created_at"])
        out.append(EscalationTarget(**values))
    return out


def _case_rows(conn: sa.Connection, table: sa.Table, case_id: str) -> sa.MappingResult:
    """Rows of a case's child table, oldest first (ties by id)."""
    return conn.execute(
        sa.select(table).where(table.c.case_id == case_id).order_by(table.c.created_at, table.c.id)
    ).mappings()


def action_from_row(row: sa.RowMapping) -> EscalationAction:
    """Wire form of a ``case_escalation_actions`` row."""
    return EscalationAction(
        id=row["id"],
        case_id=row["case_id"],
        target_id=row["target_id"],
        channel=row["channel"],
        status=row["status"],
        subject=row["subject"] or "",
        body=row["body"] or "",
        attachments_json=_json_text(row["attachments_json"]),
        sent_by_user_id=row["sent_by_user_id"] or "",
        provider_message_id=row["provider_message_id"] or "",
        sent_at=rfc3339(row["sent_at"]),
        created_at=_ts(row["created_at"]),
    )


def delivery_from_row(row: sa.RowMapping) -> EmailDelivery:
    """Wire form of a ``case_email_deliveries`` row."""
    return EmailDelivery(
        id=row["id"],
        case_id=row["case_id"],
        action_id=row["action_id"],
        target_id=row["target_id"],
        recipient_email=row["recipient_email"],
        delivery_status=row["delivery_status"],
        delivery_source=row["delivery_source"],
        provider=row["provider"],
        provider_message_id=row["provider_message_id"] or "",
        sent_at=rfc3339(row["sent_at"]),
        error_message=row["error_message"] or "",
        created_at=_ts(row["created_at"]),
        updated_at=_ts(row["updated_at"]),
    )


def _actions(conn: sa.Connection, case_id: str) -> list[EscalationAction]:
    return [action_from_row(row) for row in _case_rows(conn, t.case_escalation_actions, case_id)]


def _deliveries(conn: sa.Connection, case_id: str) -> list[EmailDelivery]:
    return [delivery_from_row(row) for row in _case_rows(conn, t.case_email_deliveries, case_id)]


def _signals(conn: sa.Connection, case_id: str) -> list[ResolutionSignal]:
    return [
        ResolutionSignal(
            id=row["id"],
            case_id=row["case_id"],
            source_type=row["source_type"],
            summary=row["summary"],
            linked_report_seq=row["linked_report_seq"],
            metadata_json=_json_text(row["metadata_json"]),
            created_at=_ts(row["created_at"]),
        )
        for row in _case_rows(conn, t.case_resolution_signals, case_id)
    ]


def _audit(conn: sa.Connection, case_id: str) -> list[AuditEvent]:
    return [
        AuditEvent(
            id=row["id"],
            case_id=row["case_id"],
            event_type=row["event_type"],
            actor_user_id=row["actor_user_id"],
            payload_json=_json_text(row["payload_json"]),
            created_at=_ts(row["created_at"]),
        )
        for row in _case_rows(conn, t.case_audit_events, case_id)
    ]


def case_detail(conn: sa.Connection, case_id: str) -> CaseDetail | None:
    """Load a case with everything attached to it (``CaseDetail``), or None.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store (inside the write transaction after a mutation).
    case_id : str
        The case.

    Returns
    -------
    CaseDetail or None
        None when the case does not exist.
    """
    row = (
        conn.execute(sa.select(*_case_columns()).where(t.cases.c.case_id == case_id))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return CaseDetail(
        case=_case(row),
        linked_reports=_linked_reports(conn, case_id),
        clusters=_clusters(conn, case_id),
        escalation_targets=_targets(conn, case_id),
        contact_observations=[],
        execution_tasks=[],
        notify_outcomes=[],
        escalation_actions=_actions(conn, case_id),
        email_deliveries=_deliveries(conn, case_id),
        resolution_signals=_signals(conn, case_id),
        audit_events=_audit(conn, case_id),
    )


def cases_for_report(conn: sa.Connection, seq: int) -> list[ReportCaseSummary]:
    """Cases linked to a report, most recently updated first (R4).

    Merged cases are not listed: a merge moves their links to the target.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    seq : int
        The report.

    Returns
    -------
    list of ReportCaseSummary
    """
    c, cr, et, d = t.cases, t.case_reports, t.case_escalation_targets, t.case_email_deliveries
    targets = sa.select(sa.func.count()).where(et.c.case_id == c.c.case_id).scalar_subquery()
    deliveries = (
        sa.select(sa.func.count())
        .where(d.c.case_id == c.c.case_id, d.c.delivery_status == "sent")
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            c.c.case_id,
            c.c.slug,
            c.c.title,
            c.c.status,
            c.c.classification,
            c.c.summary,
            c.c.severity_score,
            c.c.urgency_score,
            c.c.updated_at,
            targets.label("targets"),
            deliveries.label("deliveries"),
        )
        .select_from(c.join(cr, cr.c.case_id == c.c.case_id))
        .where(cr.c.seq == sa.bindparam("seq", int(seq), sa.BigInteger))
        .order_by(c.c.updated_at.desc(), c.c.created_at.desc(), c.c.case_id)
    )
    return [
        ReportCaseSummary(
            case_id=row.case_id,
            slug=row.slug,
            title=row.title,
            status=row.status,
            classification=row.classification,
            summary=row.summary,
            severity_score=row.severity_score,
            urgency_score=row.urgency_score,
            updated_at=_ts(row.updated_at),
            escalation_target_count=int(row.targets),
            delivery_count=int(row.deliveries),
        )
        for row in conn.execute(stmt)
    ]


def bounds_of(
    geometries: Iterable[shapely.Geometry | None],
) -> tuple[float, float, float, float] | None:
    """Union bounds of some geometries (None when there are none).

    Parameters
    ----------
    geometries : iterable of shapely.Geometry or None
        Geometries in EPSG:4326.

    Returns
    -------
    tuple of float or None
        ``(west, south, east, north)``.
    """
    present = [g for g in geometries if g is not None and not shapely.is_empty(g)]
    if not present:
        return None
    arr = np.array([_bounds(g) for g in present], dtype=np.float64)
    return (
        float(arr[:, 0].min()),
        float(arr[:, 1].min()),
        float(arr[:, 2].max()),
        float(arr[:, 3].max()),
    )
