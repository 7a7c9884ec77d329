"""Read and write reports in the PostGIS store (SQLAlchemy Core, bound parameters only).

Loaders return the library's frames: :func:`read_reports` gives a report frame (see
:mod:`cleanapp_geo.schema`) with the preferred analysis of each report, filtered by the
upstream public-visibility rules and by a scope pushed into PostGIS. :func:`write_reports`
bulk-inserts a report frame with ``COPY`` and is idempotent on ``seq``.

Every function takes ``con``, a SQLAlchemy :class:`~sqlalchemy.engine.Engine` or
:class:`~sqlalchemy.engine.Connection` on a database migrated with
``cleanapp-api db upgrade``. Readers open a connection from an engine or use the given
one. Writers run in their own transaction when given an engine or a connection outside a
transaction, and in a savepoint of the caller's transaction otherwise (so a failed write
leaves the caller's transaction usable and the caller decides when to commit).

Visibility (reference §1.2)
---------------------------
With ``visible_only=True`` a report is returned only when its ``status`` is ``active``, its
``visibility`` is ``public``, it has no owner (NULL or "") or ``owner_is_public`` is true,
and it has at least one analysis with ``is_valid`` (of the requested classification, when
one is given).

Preferred analysis (reference §1.3)
-----------------------------------
Each returned row carries one analysis of the report, chosen among **all** its analyses
(valid or not, as upstream): the one whose language is ``en`` (case-insensitive), else the
one with the smallest lower-cased language code (ties by the raw code). It is chosen in
SQL with a ``LATERAL ... ORDER BY ... LIMIT 1`` subquery over the ``(seq, language)``
primary key.

Scopes
------
A polygon scope becomes ``ST_Intersects(geom, ST_GeomFromWKB(:wkb, 4326))`` (boundary
included, served by the GiST index on ``reports.geom``). A
:class:`~cleanapp_geo.scope.RadiusScope` becomes ``geom && <box>`` plus the exact
``ST_DWithin(geography(geom), geography(centre), :radius_m)`` (WGS84 spheroid, boundary
included). The box is a rigorous bound of the geodesic circle (see
:func:`radius_bounding_boxes`), split in two at the antimeridian and widened to every
longitude when the circle reaches a pole, so the same GiST index serves radius queries
and no geography index has to be maintained. Both agree with
:func:`cleanapp_geo.scope.scope_reports` (a property test checks this).
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_geo.errors import InvalidReportsError
from cleanapp_geo.io import tables as t
from cleanapp_geo.io.errors import InvalidQueryError, ReportConflictError
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    BRAND_NAME,
    CLASSIFICATION,
    CRS,
    DESCRIPTION,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
    PUBLIC_ID,
    REPORT_COLUMNS,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TITLE,
    TS,
    validate_reports,
)
from cleanapp_geo.scope import RadiusScope, Scope, as_scope

__all__ = [
    "ANALYSIS_COLUMNS",
    "OPTIONAL_ANALYSIS_COLUMNS",
    "OPTIONAL_REPORT_COLUMNS",
    "Connectable",
    "ProgressCallback",
    "WriteResult",
    "insert_reports",
    "radius_bounding_boxes",
    "read_analyses",
    "read_areas",
    "read_reports",
    "select_reports",
    "write_reports",
]

#: A SQLAlchemy engine or connection.
Connectable: TypeAlias = sa.Engine | sa.Connection

#: ``progress(phase, done, total)``: called while writing; ``phase`` is ``"staging"``
#: (``done``/``total`` count rows), ``"inserting"`` or ``"indexing"`` (``0``/``1`` when the
#: phase starts, ``1``/``1`` when it ends).
ProgressCallback: TypeAlias = Callable[[str, int, int], None]

#: Optional report-level columns a frame may carry for :func:`write_reports`, with the
#: value used when a column is absent. ``report_description`` is the reporter's own text
#: (upstream ``reports.description``); the frame's ``description`` is the analysis's.
OPTIONAL_REPORT_COLUMNS: Final[dict[str, object]] = {
    "reporter_id": "",
    "team": 0,
    "report_description": "",
    "status": "active",
    "visibility": "public",
    "owner": "",
    "owner_is_public": False,
}

#: Optional analysis columns (beyond the report-frame contract) and their defaults.
OPTIONAL_ANALYSIS_COLUMNS: Final[dict[str, object]] = {
    "source": "",
    "analysis_text": "",
    "litter_probability": 0.0,
    "hazard_probability": 0.0,
    "digital_bug_probability": 0.0,
    "is_valid": True,
}

#: Columns of :func:`read_analyses`, in order.
ANALYSIS_COLUMNS: Final = (
    "seq",
    "language",
    "source",
    "analysis_text",
    "title",
    "description",
    "summary",
    "brand_name",
    "brand_display_name",
    "litter_probability",
    "hazard_probability",
    "digital_bug_probability",
    "severity_level",
    "classification",
    "inferred_contact_emails",
    "is_valid",
    "created_at",
    "updated_at",
)

_PREFERRED_LANGUAGE: Final = "en"
_DEFAULT_LANGUAGE: Final = "en"
_DEFAULT_CLASSIFICATION: Final = "physical"
_PROBABILITIES: Final = ("litter_probability", "hazard_probability", "digital_bug_probability")
_ANALYSIS_TEXT: Final = (
    "source",
    "analysis_text",
    TITLE,
    DESCRIPTION,
    SUMMARY,
    BRAND_NAME,
    BRAND_DISPLAY_NAME,
    INFERRED_CONTACT_EMAILS,
)
_MAX_LISTED: Final = 5

# Writes of at least this many new reports into a table holding fewer rows drop the
# secondary indexes and the analysis foreign key, insert, and rebuild them (PostgreSQL's
# "populating a database" advice); measured about twice as fast at one million rows.
_REBUILD_MIN_ROWS: Final = 100_000
_REBUILD_MAINTENANCE_WORK_MEM: Final = "256MB"

# WGS84 constants for the radius bounding box (see radius_bounding_boxes).
_WGS84_A: Final = 6_378_137.0
_WGS84_E2: Final = 0.00669437999014
_MIN_METRES_PER_DEGREE_LAT: Final = _WGS84_A * (1.0 - _WGS84_E2) * math.pi / 180.0
_BOX_RELATIVE_MARGIN: Final = 1e-6
_BOX_ABSOLUTE_MARGIN_DEG: Final = 1e-9


# ============================================================================ connections


@contextmanager
def _connection(con: Connectable) -> Iterator[sa.Connection]:
    if isinstance(con, sa.Engine):
        with con.connect() as conn:
            yield conn
    elif isinstance(con, sa.Connection):
        yield con
    else:
        raise TypeError(f"con must be a SQLAlchemy Engine or Connection, got {type(con).__name__}")


@contextmanager
def _write_transaction(con: Connectable) -> Iterator[sa.Connection]:
    if isinstance(con, sa.Engine):
        with con.begin() as conn:
            yield conn
    elif isinstance(con, sa.Connection):
        if con.in_transaction():
            with con.begin_nested():
                yield con
        else:
            with con.begin():
                yield con
    else:
        raise TypeError(f"con must be a SQLAlchemy Engine or Connection, got {type(con).__name__}")


# ============================================================================ reading


def radius_bounding_boxes(scope: RadiusScope) -> list[tuple[float, float, float, float]]:
    """Longitude/latitude boxes that together contain a geodesic circle.

    The boxes are a prefilter for the GiST index; the exact test is ``ST_DWithin`` on
    geography. The bound is rigorous on the WGS84 ellipsoid: a path of length ``r`` changes
    latitude by at most ``r / m_min`` degrees, where ``m_min`` is the shortest degree of
    meridian (at the equator), and longitude by at most ``r / (a · cos φmax)`` radians,
    because the length element is at least ``N(φ)·cos φ·|dλ|`` with ``N(φ) >= a`` and
    ``|φ| <= φmax`` along the path. A relative margin of 1e-6 and 1e-9° absorb rounding.

    Parameters
    ----------
    scope : RadiusScope
        The circle.

    Returns
    -------
    list of tuple
        One ``(west, south, east, north)`` box, two when the circle crosses the
        antimeridian; longitudes span [-180, 180] when the circle reaches a pole or is
        wider than half the globe.

    Examples
    --------
    >>> from cleanapp_geo.scope import RadiusScope
    >>> [round(v, 5) for v in radius_bounding_boxes(RadiusScope(8.54, 47.37, 250))[0]]
    [8.5367, 47.36775, 8.5433, 47.37225]
    >>> len(radius_bounding_boxes(RadiusScope(179.9999, 0.0, 1_000)))
    2
    """
    grow = 1.0 + _BOX_RELATIVE_MARGIN
    dlat = scope.radius_m / _MIN_METRES_PER_DEGREE_LAT * grow + _BOX_ABSOLUTE_MARGIN_DEG
    south = max(-90.0, scope.latitude - dlat)
    north = min(90.0, scope.latitude + dlat)
    phi_max = max(abs(south), abs(north))
    if phi_max >= 90.0:
        return [(-180.0, south, 180.0, north)]
    cos_phi = math.cos(math.radians(phi_max))
    dlon = math.degrees(scope.radius_m / (_WGS84_A * cos_phi)) * grow + _BOX_ABSOLUTE_MARGIN_DEG
    if dlon >= 180.0:
        return [(-180.0, south, 180.0, north)]
    west, east = scope.longitude - dlon, scope.longitude + dlon
    if west < -180.0:
        return [(west + 360.0, south, 180.0, north), (-180.0, south, east, north)]
    if east > 180.0:
        return [(west, south, 180.0, north), (-180.0, south, east - 360.0, north)]
    return [(west, south, east, north)]


def _scope_condition(scope: Scope) -> sa.ColumnElement[bool]:
    r = t.reports
    if isinstance(scope, RadiusScope):
        boxes = [
            r.c.geom.op("&&")(
                sa.func.ST_MakeEnvelope(
                    sa.bindparam(None, w, sa.Double),
                    sa.bindparam(None, s, sa.Double),
                    sa.bindparam(None, e, sa.Double),
                    sa.bindparam(None, n, sa.Double),
                    4326,
                )
            )
            for w, s, e, n in radius_bounding_boxes(scope)
        ]
        centre = sa.func.ST_SetSRID(
            sa.func.ST_MakePoint(
                sa.bindparam("centre_lon", scope.longitude, sa.Double),
                sa.bindparam("centre_lat", scope.latitude, sa.Double),
            ),
            4326,
        )
        within = sa.func.ST_DWithin(
            sa.func.geography(r.c.geom),
            sa.func.geography(centre),
            sa.bindparam("radius_m", scope.radius_m, sa.Double),
            sa.true(),
        )
        return sa.and_(sa.or_(*boxes), within)
    wkb = shapely.to_wkb(scope, output_dimension=2)
    polygon = sa.func.ST_GeomFromWKB(sa.bindparam("scope_wkb", wkb, sa.LargeBinary), 4326)
    return sa.func.ST_Intersects(r.c.geom, polygon)


def _classification(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in t.CLASSIFICATIONS:
        raise InvalidQueryError(
            f"classification must be one of {list(t.CLASSIFICATIONS)} or None, got {value!r}"
        )
    return value.strip().lower()


def _timestamp(value: datetime | pd.Timestamp | str | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidQueryError(f"{name} must be a timestamp, got {value!r}") from exc
    if pd.isna(stamp):
        raise InvalidQueryError(f"{name} must be a timestamp, got {value!r}")
    if stamp.tzinfo is None:
        raise InvalidQueryError(
            f"{name} must be timezone-aware (e.g. '2026-03-10T00:00:00Z'), got {value!r}"
        )
    return stamp.tz_convert("UTC")


def _seq_array(seqs: Sequence[int] | np.ndarray | pd.Series) -> list[int]:
    try:
        values = np.asarray(seqs)
        if values.dtype.kind not in "iu":
            if values.size and not np.all(np.mod(values.astype(float), 1) == 0):
                raise ValueError("not integral")
            values = values.astype(np.int64)
    except (ValueError, TypeError) as exc:
        raise InvalidQueryError(f"seqs must be integers, got {seqs!r:.80}") from exc
    return [int(v) for v in np.unique(values.astype(np.int64))]


def _epoch_us(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Microseconds since the epoch, exactly (``extract`` returns numeric)."""
    return sa.cast(sa.extract("epoch", column) * 1_000_000, sa.BigInteger)


def select_reports(
    *,
    scope: Scope | dict[str, Any] | str | None = None,
    seqs: Sequence[int] | np.ndarray | pd.Series | None = None,
    classification: str | None = None,
    since: datetime | pd.Timestamp | str | None = None,
    until: datetime | pd.Timestamp | str | None = None,
    limit: int | None = None,
    visible_only: bool = True,
) -> sa.Select[Any]:
    """Build the ``SELECT`` behind :func:`read_reports` (bound parameters only).

    Parameters
    ----------
    scope, seqs, classification, since, until, limit, visible_only
        As in :func:`read_reports`.

    Returns
    -------
    sqlalchemy.Select
        Columns ``seq, public_id, ts_us`` (microseconds since the epoch), ``longitude,
        latitude`` and the preferred analysis's ``classification, severity_level, title,
        summary, description, brand_name, brand_display_name, inferred_contact_emails,
        language``; newest first.

    Raises
    ------
    InvalidScopeError
        When ``scope`` is not a valid scope.
    InvalidQueryError
        When another argument is invalid.
    """
    r = t.reports
    a = t.report_analysis
    wanted = _classification(classification)
    lang = sa.func.lower(a.c.language)
    preferred = (
        sa.select(
            a.c.classification,
            a.c.severity_level,
            a.c.title,
            a.c.summary,
            a.c.description,
            a.c.brand_name,
            a.c.brand_display_name,
            a.c.inferred_contact_emails,
            a.c.language,
        )
        .where(a.c.seq == r.c.seq)
        .order_by(lang != _PREFERRED_LANGUAGE, lang, a.c.language)
        .limit(1)
        .lateral("preferred")
    )
    p = preferred.c

    def text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return column if visible_only else sa.func.coalesce(column, "")

    columns = [
        r.c.seq,
        r.c.public_id,
        _epoch_us(r.c.ts).label("ts_us"),
        r.c.longitude,
        r.c.latitude,
        text(p.classification).label(CLASSIFICATION),
        (p.severity_level if visible_only else sa.func.coalesce(p.severity_level, 0.0)).label(
            SEVERITY_LEVEL
        ),
        text(p.title).label(TITLE),
        text(p.summary).label(SUMMARY),
        text(p.description).label(DESCRIPTION),
        text(p.brand_name).label(BRAND_NAME),
        text(p.brand_display_name).label(BRAND_DISPLAY_NAME),
        text(p.inferred_contact_emails).label(INFERRED_CONTACT_EMAILS),
        text(p.language).label(LANGUAGE),
    ]
    source = r.join(preferred, sa.true(), isouter=not visible_only)
    stmt = sa.select(*columns).select_from(source)

    checked = a.alias("checked_analysis")
    has_analysis = sa.select(sa.literal(1)).select_from(checked).where(checked.c.seq == r.c.seq)
    if visible_only:
        stmt = stmt.where(
            r.c.status == "active",
            r.c.visibility == "public",
            sa.or_(r.c.owner.is_(None), r.c.owner == "", r.c.owner_is_public),
        )
        has_analysis = has_analysis.where(checked.c.is_valid)
    if wanted is not None:
        has_analysis = has_analysis.where(checked.c.classification == wanted)
    if visible_only or wanted is not None:
        stmt = stmt.where(sa.exists(has_analysis))

    if scope is not None:
        stmt = stmt.where(_scope_condition(as_scope(scope)))
    if seqs is not None:
        stmt = stmt.where(
            r.c.seq == sa.any_(sa.bindparam("seqs", _seq_array(seqs), pg.ARRAY(sa.BigInteger)))
        )
    start = _timestamp(since, "since")
    end = _timestamp(until, "until")
    if start is not None:
        stmt = stmt.where(r.c.ts >= sa.bindparam("since", start.to_pydatetime(), r.c.ts.type))
    if end is not None:
        stmt = stmt.where(r.c.ts < sa.bindparam("until", end.to_pydatetime(), r.c.ts.type))
    stmt = stmt.order_by(r.c.ts.desc(), r.c.seq.desc())
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
            raise InvalidQueryError(f"limit must be a positive integer or None, got {limit!r}")
        stmt = stmt.limit(sa.bindparam("limit", int(limit), sa.Integer))
    return stmt


def read_reports(
    con: Connectable,
    *,
    scope: Scope | dict[str, Any] | str | None = None,
    seqs: Sequence[int] | np.ndarray | pd.Series | None = None,
    classification: str | None = None,
    since: datetime | pd.Timestamp | str | None = None,
    until: datetime | pd.Timestamp | str | None = None,
    limit: int | None = None,
    visible_only: bool = True,
) -> gpd.GeoDataFrame:
    """Load reports as a report frame, newest first.

    Parameters
    ----------
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store.
    scope : Scope, GeoJSON mapping or str, optional
        A (multi)polygon (boundary included) or a
        :class:`~cleanapp_geo.scope.RadiusScope` (geodesic distance <= ``radius_m``);
        anything :func:`cleanapp_geo.scope.as_scope` accepts. Evaluated in PostGIS.
    seqs : sequence of int, optional
        Only these reports (unknown or hidden seqs are silently dropped, as upstream).
    classification : {"physical", "digital"}, optional
        Only reports with an analysis of this classification (case-insensitive); with
        ``visible_only`` that analysis must also be valid (reference §1.2 rule 4). The
        returned row still carries the preferred analysis, which may have another
        classification when a report has several analyses. ``None`` (default): any.
    since, until : datetime, pandas.Timestamp or ISO 8601 str, optional
        Timezone-aware bounds on ``ts``: ``since <= ts < until``.
    limit : int, optional
        Largest number of rows (the newest ones).
    visible_only : bool, default True
        Apply the public-visibility rules (see the module docstring). With ``False``
        every report is returned, also one without analyses (its analysis columns are ""
        and its severity 0, as upstream's "no preferred analysis").

    Returns
    -------
    geopandas.GeoDataFrame
        Exactly the columns of :data:`cleanapp_geo.schema.REPORT_COLUMNS`, ordered by
        ``ts`` then ``seq``, both descending, with a fresh ``RangeIndex``.

    Raises
    ------
    InvalidScopeError
        When ``scope`` is not a valid scope.
    InvalidQueryError
        When another argument is invalid.

    Examples
    --------
    >>> import cleanapp_geo.io as cio  # doctest: +SKIP
    >>> cio.read_reports(engine, scope=cg.scope.RadiusScope(8.54, 47.37, 250))  # doctest: +SKIP
    """
    if seqs is not None and len(_seq_array(seqs)) == 0:
        return _report_frame([])
    stmt = select_reports(
        scope=scope,
        seqs=seqs,
        classification=classification,
        since=since,
        until=until,
        limit=limit,
        visible_only=visible_only,
    )
    with _connection(con) as conn:
        rows = conn.execute(stmt).all()
    return _report_frame(rows)


_READ_TEXT: Final = (
    PUBLIC_ID,
    CLASSIFICATION,
    TITLE,
    SUMMARY,
    DESCRIPTION,
    BRAND_NAME,
    BRAND_DISPLAY_NAME,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
)


def _report_frame(rows: Sequence[Sequence[Any]]) -> gpd.GeoDataFrame:
    names = (
        SEQ,
        PUBLIC_ID,
        "ts_us",
        "longitude",
        "latitude",
        CLASSIFICATION,
        SEVERITY_LEVEL,
        TITLE,
        SUMMARY,
        DESCRIPTION,
        BRAND_NAME,
        BRAND_DISPLAY_NAME,
        INFERRED_CONTACT_EMAILS,
        LANGUAGE,
    )
    columns = dict(zip(names, zip(*rows, strict=True), strict=True)) if rows else {}

    def values(name: str, dtype: Any) -> np.ndarray:
        return np.asarray(columns.get(name, ()), dtype=dtype)

    data: dict[str, Any] = {
        SEQ: values(SEQ, np.int64),
        TS: pd.to_datetime(values("ts_us", np.int64), unit="us", utc=True).astype(
            "datetime64[ns, UTC]"
        ),
        SEVERITY_LEVEL: values(SEVERITY_LEVEL, float),
    }
    for name in _READ_TEXT:
        data[name] = pd.array(list(columns.get(name, ())), dtype=str)
    points = shapely.points(values("longitude", float), values("latitude", float))
    frame = pd.DataFrame({c: data[c] for c in REPORT_COLUMNS if c in data})
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, crs=CRS).array, crs=CRS)
    return validate_reports(gdf[list(REPORT_COLUMNS)])


def read_analyses(con: Connectable, seqs: Sequence[int] | np.ndarray | pd.Series) -> pd.DataFrame:
    """Load every analysis row of the given reports (no visibility filter).

    Parameters
    ----------
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store.
    seqs : sequence of int
        Report seqs; unknown ones are ignored.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`ANALYSIS_COLUMNS` (``created_at``/``updated_at`` as UTC
        datetimes), one row per report and language, ordered by ``seq`` then
        ``language``.

    Raises
    ------
    InvalidQueryError
        When ``seqs`` are not integers.
    """
    wanted = _seq_array(seqs)
    a = t.report_analysis
    rows: Sequence[Sequence[Any]] = []
    if wanted:
        stmt = (
            sa.select(*(a.c[name] for name in ANALYSIS_COLUMNS))
            .where(a.c.seq == sa.any_(sa.bindparam("seqs", wanted, pg.ARRAY(sa.BigInteger))))
            .order_by(a.c.seq, a.c.language)
        )
        with _connection(con) as conn:
            rows = conn.execute(stmt).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(ANALYSIS_COLUMNS))
    frame["seq"] = frame["seq"].astype(np.int64)
    for name in (*_PROBABILITIES, SEVERITY_LEVEL):
        frame[name] = frame[name].astype(float)
    frame["is_valid"] = frame["is_valid"].astype(bool)
    for name in ("created_at", "updated_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[ns, UTC]")
    for name in ("language", "classification", *_ANALYSIS_TEXT):
        frame[name] = frame[name].astype(str)
    return frame


def read_areas(
    con: Connectable, geometry: shapely.Geometry | RadiusScope | dict[str, Any] | str
) -> gpd.GeoDataFrame:
    """Load the mapped areas that intersect a geometry, with their consented contacts.

    Parameters
    ----------
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store.
    geometry : shapely geometry, RadiusScope, GeoJSON mapping or str
        Any shapely geometry in EPSG:4326 (points and lines too), a radius scope
        (areas within ``radius_m`` metres, geodesic) or a GeoJSON scope.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``area_id`` (int64), ``name``, ``description``, ``emails`` (a list of the
        area's contact emails with ``consent_report``, sorted; empty when none) and
        ``geometry`` (MultiPolygon, EPSG:4326); ordered by ``name`` then ``area_id``.

    Raises
    ------
    InvalidScopeError
        When ``geometry`` is GeoJSON or a value that is not a valid scope.
    """
    ar = t.areas
    ac = t.area_contacts
    if isinstance(geometry, shapely.Geometry):
        wkb = shapely.to_wkb(geometry, output_dimension=2)
        other = sa.func.ST_GeomFromWKB(sa.bindparam("area_wkb", wkb, sa.LargeBinary), 4326)
        condition = sa.func.ST_Intersects(ar.c.geom, other)
    else:
        scope = as_scope(geometry)
        if isinstance(scope, RadiusScope):
            centre = sa.func.ST_SetSRID(
                sa.func.ST_MakePoint(
                    sa.bindparam("centre_lon", scope.longitude, sa.Double),
                    sa.bindparam("centre_lat", scope.latitude, sa.Double),
                ),
                4326,
            )
            condition = sa.func.ST_DWithin(
                sa.func.geography(ar.c.geom),
                sa.func.geography(centre),
                sa.bindparam("radius_m", scope.radius_m, sa.Double),
                sa.true(),
            )
        else:
            wkb = shapely.to_wkb(scope, output_dimension=2)
            other = sa.func.ST_GeomFromWKB(sa.bindparam("area_wkb", wkb, sa.LargeBinary), 4326)
            condition = sa.func.ST_Intersects(ar.c.geom, other)
    emails = (
        sa.select(
            sa.func.coalesce(
                sa.func.array_agg(pg.aggregate_order_by(ac.c.email, ac.c.email)),
                sa.literal_column("'{}'::text[]"),
            )
        )
        .where(ac.c.area_id == ar.c.id, ac.c.consent_report)
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            ar.c.id,
            ar.c.name,
            ar.c.description,
            emails.label("emails"),
            sa.func.ST_AsBinary(ar.c.geom).label("wkb"),
        )
        .where(condition)
        .order_by(ar.c.name, ar.c.id)
    )
    with _connection(con) as conn:
        rows = conn.execute(stmt).all()
    geoms = shapely.from_wkb(np.asarray([bytes(row.wkb) for row in rows], dtype=object))
    frame = pd.DataFrame(
        {
            "area_id": np.asarray([row.id for row in rows], dtype=np.int64),
            "name": pd.array([row.name for row in rows], dtype=str),
            "description": pd.array([row.description for row in rows], dtype=str),
            "emails": pd.Series([list(row.emails) for row in rows], dtype=object),
        }
    )
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=CRS).array, crs=CRS)


# ============================================================================ writing


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What :func:`insert_reports` did.

    Attributes
    ----------
    seqs : numpy.ndarray
        The ``seq`` of every report of the frame, in frame order (all are stored now).
    inserted_reports : int
        Reports that were new.
    inserted_analyses : int
        Analysis rows that were new.
    rebuilt_indexes : bool
        Whether the secondary indexes were dropped and rebuilt (large loads).
    """

    seqs: np.ndarray
    inserted_reports: int
    inserted_analyses: int
    rebuilt_indexes: bool


_stage_metadata = sa.MetaData()

_stage_reports = sa.Table(
    "_cleanapp_stage_reports",
    _stage_metadata,
    sa.Column("seq", sa.BigInteger),
    sa.Column("public_id", sa.Text),
    sa.Column("new_public_id", sa.Text),
    sa.Column("ts_us", sa.BigInteger),
    sa.Column("reporter_id", sa.Text),
    sa.Column("team", sa.Integer),
    sa.Column("latitude", sa.Double),
    sa.Column("longitude", sa.Double),
    sa.Column("description", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("visibility", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("owner_is_public", sa.Boolean),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

_stage_analysis = sa.Table(
    "_cleanapp_stage_analysis",
    _stage_metadata,
    sa.Column("seq", sa.BigInteger),
    sa.Column("language", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("analysis_text", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("summary", sa.Text),
    sa.Column("brand_name", sa.Text),
    sa.Column("brand_display_name", sa.Text),
    sa.Column("litter_probability", sa.Double),
    sa.Column("hazard_probability", sa.Double),
    sa.Column("digital_bug_probability", sa.Double),
    sa.Column("severity_level", sa.Double),
    sa.Column("classification", sa.Text),
    sa.Column("inferred_contact_emails", sa.Text),
    sa.Column("is_valid", sa.Boolean),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

_ARROW_TYPES: Final[dict[type[sa.types.TypeEngine[Any]], pa.DataType]] = {
    sa.BigInteger: pa.int64(),
    sa.Integer: pa.int32(),
    sa.Double: pa.float64(),
    sa.Text: pa.string(),
    sa.Boolean: pa.bool_(),
}


def _listed(values: Sequence[Any] | np.ndarray) -> str:
    items = list(np.asarray(values).tolist())
    shown = ", ".join(repr(v) for v in items[:_MAX_LISTED])
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def _text(frame: pd.DataFrame, name: str, default: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(default, index=frame.index, dtype=str)
    return frame[name].fillna(default).astype(str)


def _enum(frame: pd.DataFrame, name: str, allowed: Sequence[str], default: str) -> pd.Series:
    raw = _text(frame, name, default)
    values = raw.str.strip().str.lower().replace("", default)
    bad = ~values.isin(list(allowed)).to_numpy()
    if bad.any():
        raise InvalidReportsError(
            f"column {name!r} must be one of {list(allowed)}; got {_listed(raw[bad].unique())} "
            f"for seq {_listed(frame[SEQ].to_numpy()[bad])}"
        )
    return values


def _unit_interval(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), default, dtype=float)
    values = pd.to_numeric(frame[name], errors="coerce").fillna(default).to_numpy(dtype=float)
    bad = ~((values >= 0.0) & (values <= 1.0))
    if bad.any():
        raise InvalidReportsError(
            f"column {name!r} must lie in [0, 1]; not for seq {_listed(frame[SEQ].to_numpy()[bad])}"
        )
    return values


def _flag(frame: pd.DataFrame, name: str, default: bool) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), default, dtype=bool)
    column = frame[name]
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.fillna(default).to_numpy(dtype=bool)
    raw = column.map(lambda v: v if isinstance(v, bool | np.bool_) else str(v).strip().lower())
    mapping = {
        True: True,
        False: False,
        "true": True,
        "false": False,
        "1": True,
        "0": False,
        "1.0": True,
        "0.0": False,
        "": default,
        "nan": default,
        "none": default,
    }
    parsed = raw.map(lambda v: mapping.get(v))
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise InvalidReportsError(
            f"column {name!r} must hold booleans; not for seq {_listed(frame[SEQ].to_numpy()[bad])}"
        )
    return parsed.to_numpy(dtype=bool)


def _check_no_nul(frame: pd.DataFrame, names: Sequence[str]) -> None:
    for name in names:
        bad = frame[name].str.contains("\x00", regex=False).to_numpy(dtype=bool)
        if bad.any():
            raise InvalidReportsError(
                f"column {name!r} holds a NUL character (PostgreSQL text cannot) for seq "
                f"{_listed(frame[SEQ].to_numpy()[bad])}"
            )


def _random_public_ids(n: int) -> np.ndarray:
    """``n`` fresh public ids: ``rpt_`` + 22 base64url characters of random bytes."""
    if n == 0:
        return np.array([], dtype=str)
    encoded = base64.urlsafe_b64encode(os.urandom(18 * n))  # 18 bytes -> 24 characters
    chars = np.frombuffer(encoded, dtype=np.uint8).reshape(n, 24)[:, :22]
    out = np.empty((n, 26), dtype=np.uint8)
    out[:, :4] = np.frombuffer(b"rpt_", dtype=np.uint8)
    out[:, 4:] = chars
    return out.view("S26").ravel().astype(str)


def _report_rows(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """Build the staging rows of ``reports`` for a validated frame."""
    public_id = frame[PUBLIC_ID].str.strip()
    malformed = (public_id != "") & ~public_id.str.fullmatch(r"rpt_[A-Za-z0-9_-]{22}")
    if malformed.any():
        raise InvalidReportsError(
            "column 'public_id' must be empty or 'rpt_' + 22 base64url characters; got "
            f"{_listed(public_id[malformed].unique())} for seq "
            f"{_listed(frame.loc[malformed, SEQ].to_numpy())}"
        )
    given = public_id[public_id != ""]
    repeated = given.duplicated(keep=False)
    if repeated.any():
        raise InvalidReportsError(
            f"column 'public_id' must be unique; {_listed(given[repeated].unique())} repeat "
            f"for seq {_listed(frame.loc[repeated[repeated].index, SEQ].to_numpy())}"
        )
    ts_ns = frame[TS].to_numpy(dtype="datetime64[ns]").view(np.int64)
    team = pd.to_numeric(
        frame["team"] if "team" in frame.columns else pd.Series(0, index=frame.index),
        errors="coerce",
    )
    bad_team = (
        team.isna()
        | (np.mod(team.fillna(0).to_numpy(dtype=float), 1) != 0)
        | (team.abs() > 2**31 - 1)
    ).to_numpy()
    if bad_team.any():
        raise InvalidReportsError(
            "column 'team' must hold 32-bit integers; not for "
            f"seq {_listed(frame[SEQ].to_numpy()[bad_team])}"
        )
    owner = _text(frame, "owner", "").str.strip()
    rows = pd.DataFrame(
        {
            "seq": frame[SEQ].to_numpy(dtype=np.int64),
            "public_id": public_id.to_numpy(),
            "new_public_id": _random_public_ids(len(frame)),
            "ts_us": np.floor_divide(ts_ns, 1000),
            "reporter_id": _text(frame, "reporter_id", "").to_numpy(),
            "team": team.to_numpy(dtype=np.int32),
            "latitude": shapely.get_y(frame.geometry.array),
            "longitude": shapely.get_x(frame.geometry.array),
            "description": _text(frame, "report_description", "").to_numpy(),
            "status": _enum(frame, "status", t.REPORT_STATUSES, "active").to_numpy(),
            "visibility": _enum(frame, "visibility", t.REPORT_VISIBILITIES, "public").to_numpy(),
            "owner": owner.where(owner != "", None).to_numpy(dtype=object),
            "owner_is_public": _flag(frame, "owner_is_public", False),
        }
    )
    _check_no_nul(rows, ["public_id", "reporter_id", "description", "status", "visibility"])
    return rows


def _analysis_rows(frame: pd.DataFrame, seqs: np.ndarray) -> pd.DataFrame:
    """Build the staging rows of ``report_analysis`` (one per row of ``frame``)."""
    if SEQ not in frame.columns:
        raise InvalidReportsError("analyses are missing the 'seq' column")
    seq = pd.to_numeric(frame[SEQ], errors="coerce")
    if seq.isna().any() or not np.all(np.mod(seq.to_numpy(dtype=float), 1) == 0):
        raise InvalidReportsError("analyses column 'seq' must hold integers")
    seq_values = seq.to_numpy(dtype=np.int64)
    unknown = ~np.isin(seq_values, seqs)
    if unknown.any():
        raise InvalidReportsError(
            "analyses refer to reports that are not in the frame: "
            f"seq {_listed(seq_values[unknown])}"
        )
    frame = frame.assign(**{SEQ: seq_values})
    language = _text(frame, LANGUAGE, _DEFAULT_LANGUAGE).str.strip().replace("", _DEFAULT_LANGUAGE)
    too_long = (language.str.len() > 16).to_numpy()
    if too_long.any():
        raise InvalidReportsError(
            "column 'language' holds codes longer than 16 characters for "
            f"seq {_listed(seq_values[too_long])}"
        )
    repeated = pd.DataFrame({"seq": seq_values, "language": language.to_numpy()}).duplicated(
        keep=False
    )
    if repeated.any():
        raise InvalidReportsError(
            "each report may have one analysis per language; repeated (seq, language) for seq "
            f"{_listed(np.unique(seq_values[repeated.to_numpy()]))}"
        )
    if SEVERITY_LEVEL not in frame.columns:
        raise InvalidReportsError("analyses are missing the 'severity_level' column")
    severity = pd.to_numeric(frame[SEVERITY_LEVEL], errors="coerce").to_numpy(dtype=float)
    bad = ~((severity >= 0.0) & (severity <= 1.0))
    if bad.any():
        raise InvalidReportsError(
            f"column 'severity_level' must lie in [0, 1]; not for seq {_listed(seq_values[bad])}"
        )
    rows = pd.DataFrame(
        {
            "seq": seq_values,
            "language": language.to_numpy(),
            **{name: _text(frame, name, "").to_numpy() for name in _ANALYSIS_TEXT},
            **{name: _unit_interval(frame, name, 0.0) for name in _PROBABILITIES},
            "severity_level": severity,
            "classification": _enum(
                frame, CLASSIFICATION, t.CLASSIFICATIONS, _DEFAULT_CLASSIFICATION
            ).to_numpy(),
            "is_valid": _flag(frame, "is_valid", True),
        }
    )
    _check_no_nul(rows, ["language", *_ANALYSIS_TEXT])
    return rows[[c.name for c in _stage_analysis.columns]]


def _csv_chunks(
    rows: pd.DataFrame, table: sa.Table, chunk_size: int
) -> Iterator[tuple[int, bytes]]:
    schema = pa.schema([(c.name, _ARROW_TYPES[type(c.type)]) for c in table.columns])
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    for lo in range(0, len(rows), chunk_size):
        chunk = rows.iloc[lo : lo + chunk_size]
        arrow = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(arrow, sink, options)
        yield len(chunk), sink.getvalue().to_pybytes()


def _stage(
    conn: sa.Connection,
    table: sa.Table,
    rows: pd.DataFrame,
    chunk_size: int,
    progress: ProgressCallback | None,
    done: int,
    total: int,
) -> int:
    conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
    conn.execute(sa.text(f"TRUNCATE {table.name}"))
    columns = ", ".join(c.name for c in table.columns)
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - a live connection always has one
        raise RuntimeError("the SQLAlchemy connection has no DBAPI connection")
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN (FORMAT csv)") as copy,
    ):
        for n, payload in _csv_chunks(rows, table, chunk_size):
            copy.write(payload)
            done += n
            if progress is not None:
                progress("staging", done, total)
    return done


def _ts_from_us(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    epoch = sa.func.to_timestamp(sa.literal_column("0"))
    return sa.type_coerce(
        epoch + column * sa.literal_column("interval '1 microsecond'"),
        sa.DateTime(timezone=True),
    )


def _find_conflicts(conn: sa.Connection) -> pd.DataFrame:
    s = _stage_reports
    r = t.reports
    stored_ts = _ts_from_us(s.c.ts_us)
    pid_differs = sa.and_(s.c.public_id != "", r.c.public_id != s.c.public_id)
    ts_differs = r.c.ts != stored_ts
    location_differs = sa.or_(r.c.latitude != s.c.latitude, r.c.longitude != s.c.longitude)
    same_seq = (
        sa.select(
            s.c.seq,
            pid_differs.label("pid"),
            ts_differs.label("ts"),
            location_differs.label("location"),
        )
        .select_from(s.join(r, r.c.seq == s.c.seq))
        .where(sa.or_(pid_differs, ts_differs, location_differs))
    )
    other_seq = (
        sa.select(s.c.seq, s.c.public_id, r.c.seq.label("stored_seq"))
        .select_from(s.join(r, sa.and_(r.c.public_id == s.c.public_id, r.c.seq != s.c.seq)))
        .where(s.c.public_id != "")
    )
    found: list[tuple[int, str]] = []
    for row in conn.execute(same_seq):
        what = [
            name
            for name, differs in (
                ("public_id", row.pid),
                ("ts", row.ts),
                ("location", row.location),
            )
            if differs
        ]
        found.append(
            (int(row.seq), f"seq {row.seq} is already stored with a different {', '.join(what)}")
        )
    for row in conn.execute(other_seq):
        found.append(
            (int(row.seq), f"public_id {row.public_id} is already stored for seq {row.stored_seq}")
        )
    listed = pd.DataFrame(found, columns=["seq", "reason"])
    reasons = listed.groupby("seq", sort=True)["reason"].agg("; ".join)
    return pd.DataFrame(
        {"seq": reasons.index.to_numpy(dtype=np.int64), "reason": reasons.to_numpy(dtype=str)}
    )


def _should_rebuild(conn: sa.Connection, n_new: int, requested: bool | None) -> bool:
    if requested is not None:
        return requested
    if n_new < _REBUILD_MIN_ROWS:
        return False
    sample = sa.select(sa.literal(1)).select_from(t.reports).limit(n_new).subquery()
    existing = conn.execute(sa.select(sa.func.count()).select_from(sample)).scalar_one()
    return int(existing) < n_new


def _rebuilt_objects() -> tuple[list[sa.Index], list[sa.Constraint]]:
    indexes = sorted(t.reports.indexes, key=lambda ix: str(ix.name))
    constraints: list[sa.Constraint] = [
        c for c in t.reports.constraints if isinstance(c, sa.UniqueConstraint)
    ]
    constraints += [
        fk for fk in t.report_analysis.foreign_key_constraints if fk.referred_table is t.reports
    ]
    return indexes, constraints


def insert_reports(
    frame: gpd.GeoDataFrame,
    con: Connectable,
    *,
    analyses: pd.DataFrame | None = None,
    chunk_size: int = 50_000,
    rebuild_indexes: bool | None = None,
    progress: ProgressCallback | None = None,
) -> WriteResult:
    """Bulk-insert reports and their analyses; like :func:`write_reports`, with counts.

    Parameters
    ----------
    frame, con, analyses, chunk_size, rebuild_indexes, progress
        As in :func:`write_reports`.

    Returns
    -------
    WriteResult
        The seqs and what was inserted.

    Raises
    ------
    InvalidReportsError
        As in :func:`write_reports`.
    ReportConflictError
        As in :func:`write_reports`.
    """
    reports = validate_reports(frame)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidQueryError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    seqs = reports[SEQ].to_numpy(dtype=np.int64)
    report_rows = _report_rows(reports)
    analysis_rows = _analysis_rows(reports if analyses is None else analyses, seqs)
    # Seq order: the primary-key B-trees then grow at their right edge.
    report_rows = report_rows.sort_values("seq", kind="stable")
    analysis_rows = analysis_rows.sort_values(["seq", "language"], kind="stable")
    total = len(report_rows) + len(analysis_rows)

    with _write_transaction(con) as conn:
        done = _stage(conn, _stage_reports, report_rows, chunk_size, progress, 0, total)
        _stage(conn, _stage_analysis, analysis_rows, chunk_size, progress, done, total)
        conflicts = _find_conflicts(conn)
        if len(conflicts):
            raise ReportConflictError(
                f"{len(conflicts)} report(s) clash with stored ones, nothing was written: "
                + "; ".join(conflicts["reason"].head(_MAX_LISTED))
                + (" ..." if len(conflicts) > _MAX_LISTED else ""),
                conflicts,
            )
        rebuild = _should_rebuild(conn, len(report_rows), rebuild_indexes)
        indexes, constraints = _rebuilt_objects()
        if rebuild:
            conn.execute(
                sa.text("SELECT set_config('maintenance_work_mem', :value, true)"),
                {"value": _REBUILD_MAINTENANCE_WORK_MEM},
            )
            for constraint in constraints:
                conn.execute(sa.schema.DropConstraint(constraint))
            for index in indexes:
                conn.execute(sa.schema.DropIndex(index))

        if progress is not None:
            progress("inserting", 0, 1)
        inserted_reports = _insert_stage_reports(conn)
        inserted_analyses = _insert_stage_analysis(conn)
        if progress is not None:
            progress("inserting", 1, 1)

        if rebuild:
            if progress is not None:
                progress("indexing", 0, 1)
            for index in indexes:
                conn.execute(sa.schema.CreateIndex(index))
            for constraint in constraints:
                conn.execute(sa.schema.AddConstraint(constraint))
            if progress is not None:
                progress("indexing", 1, 1)
    return WriteResult(
        seqs=seqs,
        inserted_reports=inserted_reports,
        inserted_analyses=inserted_analyses,
        rebuilt_indexes=rebuild,
    )


def _insert_stage_reports(conn: sa.Connection) -> int:
    s = _stage_reports
    r = t.reports
    public_id = sa.func.coalesce(sa.func.nullif(s.c.public_id, ""), s.c.new_public_id)
    select = sa.select(
        s.c.seq,
        public_id,
        _ts_from_us(s.c.ts_us),
        s.c.reporter_id,
        s.c.team,
        s.c.latitude,
        s.c.longitude,
        s.c.description,
        s.c.status,
        s.c.visibility,
        s.c.owner,
        s.c.owner_is_public,
    )
    names = [
        "seq",
        "public_id",
        "ts",
        "reporter_id",
        "team",
        "latitude",
        "longitude",
        "description",
        "status",
        "visibility",
        "owner",
        "owner_is_public",
    ]
    stmt = pg.insert(r).from_select(names, select).on_conflict_do_nothing(index_elements=["seq"])
    return int(conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount)


def _insert_stage_analysis(conn: sa.Connection) -> int:
    s = _stage_analysis
    names = [c.name for c in s.columns]
    stmt = (
        pg.insert(t.report_analysis)
        .from_select(names, sa.select(*s.columns))
        .on_conflict_do_nothing(index_elements=["seq", "language"])
    )
    return int(conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount)


def write_reports(
    frame: gpd.GeoDataFrame,
    con: Connectable,
    *,
    analyses: pd.DataFrame | None = None,
    chunk_size: int = 50_000,
    rebuild_indexes: bool | None = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Bulk-insert a report frame (``COPY``); idempotent on ``seq``.

    Rows are staged with ``COPY ... FROM STDIN`` into temporary tables (Arrow-encoded CSV,
    ``chunk_size`` rows at a time), checked against the store, then inserted with
    ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, all in one transaction.

    *Idempotence.* ``seq`` is the stable key: a report whose ``seq`` is stored with the
    same ``public_id``, ``ts`` and location is skipped, and analysis rows whose
    ``(seq, language)`` is stored are skipped, so writing the same frame twice stores
    nothing new. A report whose ``seq`` is stored with a different ``public_id``,
    timestamp or location, or whose ``public_id`` belongs to another ``seq``, is a
    conflict: nothing is written and :class:`~cleanapp_geo.io.errors.ReportConflictError`
    lists them (stored reports are never overwritten).

    *Mapping.* Each report row gets ``seq``, ``public_id`` ("" draws a random id in the
    upstream format), ``ts`` (PostgreSQL keeps microseconds; finer parts are floored),
    ``latitude``/``longitude`` from the point, and the optional
    :data:`OPTIONAL_REPORT_COLUMNS`. Without ``analyses``, each report gets one analysis
    row from the frame's analysis columns (``title`` ... ``language``) and the optional
    :data:`OPTIONAL_ANALYSIS_COLUMNS`; an empty ``language`` is stored as ``en`` and an
    empty ``classification`` as ``physical`` (the upstream column defaults).

    *Large loads.* When at least 100,000 new reports go into a table holding fewer
    rows (or ``rebuild_indexes=True``), the secondary indexes of ``reports`` and the
    foreign key of ``report_analysis`` are dropped, the rows inserted and the indexes
    rebuilt, in the same transaction. This holds an exclusive lock on both tables until
    the transaction ends.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        A report frame (validated with :func:`cleanapp_geo.schema.validate_reports`).
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store. With a connection inside a transaction the write runs in a savepoint
        and the caller commits.
    analyses : pandas.DataFrame, optional
        All analysis rows to store instead of one per report: ``seq`` and ``language``
        columns plus any analysis columns (missing ones take their defaults;
        ``severity_level`` is required). Every ``seq`` must be in ``frame``; ``(seq,
        language)`` must be unique.
    chunk_size : int, default 50_000
        Rows per ``COPY`` chunk (and per ``progress`` call).
    rebuild_indexes : bool, optional
        Force (``True``) or forbid (``False``) the drop-and-rebuild path; ``None`` (default)
        decides as described above.
    progress : callable, optional
        ``progress(phase, done, total)`` (see :data:`ProgressCallback`).

    Returns
    -------
    numpy.ndarray
        The int64 ``seq`` of every report of ``frame``, in frame order.

    Raises
    ------
    InvalidReportsError
        When the frame breaks the report-frame contract, an optional column holds an
        invalid value (unknown status, visibility or classification, probability outside
        [0, 1], non-integer team, malformed or repeated ``public_id``), text holds a NUL
        character, or ``analyses`` is inconsistent.
    ReportConflictError
        When reports clash with stored ones (see above); nothing is written.
    """
    return insert_reports(
        frame,
        con,
        analyses=analyses,
        chunk_size=chunk_size,
        rebuild_indexes=rebuild_indexes,
        progress=progress,
    ).seqs
