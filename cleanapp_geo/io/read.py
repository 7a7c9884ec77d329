"""Read reports, analyses and areas from the PostGIS store (SQLAlchemy Core, bound parameters).

Loaders return the library's frames: :func:`read_reports` gives a report frame (see
:mod:`cleanapp_geo.schema`) with the preferred analysis of each report, filtered by the
upstream public-visibility rules and by a scope pushed into PostGIS. Every function takes
``con`` (see :mod:`cleanapp_geo.io.connect`).

Visibility
---------------------------
With ``visible_only=True`` a report is returned only when its ``status`` is ``active``, its
``visibility`` is ``public``, it has no owner (NULL or "") or ``owner_is_public`` is true,
and it has at least one analysis with ``is_valid`` (of the requested classification, when
one is given).

Preferred analysis
-----------------------------------
Each returned row carries one analysis of the report, chosen among **all** its analyses
(valid or not, as upstream): the one whose language is ``en`` (case-insensitive), else the
one with the smallest lower-cased language code (ties by the raw code). Its language is
stored in ``reports.preferred_language`` (written with new reports by
:func:`write_reports` and kept right for every writer by triggers on ``report_analysis``,
see :mod:`cleanapp_geo.io.tables`), so a read fetches it with one probe of the
``(seq, language)`` primary key per report.

Scopes
------
A polygon scope becomes ``ST_Intersects(geom, ST_GeomFromWKB(:wkb, 4326))`` (boundary
included, served by the GiST index on ``reports.geom``). A
:class:`~cleanapp_geo.scope.RadiusScope` becomes ``geom && <box>`` plus the exact
``ST_DWithin(geography(geom), geography(centre), :radius_m)`` (WGS84 spheroid, boundary
included). The box is a rigorous bound of the geodesic circle (see
:func:`cleanapp_geo.scope.radius_bounding_boxes`), split in two at the antimeridian and
widened to every longitude when the circle reaches a pole, so the same GiST index serves
radius queries and no geography index has to be maintained. Both agree with
:func:`cleanapp_geo.scope.scope_reports` (a property test checks this).

Performance
-----------
Statements are built once per combination of filters and cached (values are bound at
execution). Reads switch off JIT compilation for their transaction (PostGIS cost estimates
make PostgreSQL JIT-compile these short queries, which cost 0.4 s on a 30k-report polygon)
and read the driver's tuples directly, in binary, with Python's garbage collector paused
while the frame is built (see :func:`_gc_paused`).
"""

import functools
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_geo.io import tables as t
from cleanapp_geo.io.connect import Connectable, connection
from cleanapp_geo.io.errors import InvalidQueryError
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    BRAND_NAME,
    CLASSIFICATION,
    CRS,
    DESCRIPTION,
    GEOMETRY,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
    PUBLIC_ID,
    REPORT_COLUMNS,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TEXT_COLUMNS,
    TITLE,
    TS,
)
from cleanapp_geo.scope import RadiusScope, Scope, as_scope, radius_bounding_boxes

__all__ = [
    "ANALYSIS_COLUMNS",
    "read_analyses",
    "read_area_contacts",
    "read_areas",
    "read_reports",
    "select_reports",
]

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

_READ_WORK_MEM: Final = "64MB"
_PSYCOPG_DIALECT: Final = sa.engine.make_url("postgresql+psycopg://").get_dialect()()


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


_QueryShape: TypeAlias = tuple[str, int, bool, bool, bool, bool, bool, bool, tuple[bool, ...]]
_TILE_SIDES: Final = ("tile_w", "tile_s", "tile_e", "tile_n")
Tile: TypeAlias = tuple[float | None, float | None, float | None, float | None]


def _report_query(
    scope: Scope | dict[str, Any] | str | None,
    seqs: Sequence[int] | np.ndarray | pd.Series | None,
    classification: str | None,
    since: datetime | pd.Timestamp | str | None,
    until: datetime | pd.Timestamp | str | None,
    limit: int | None,
    visible_only: bool,
    tile: Tile | None = None,
) -> tuple[_QueryShape, dict[str, Any]]:
    """Validate the arguments; return the query's shape and its parameter values."""
    params: dict[str, Any] = {}
    tile_sides: tuple[bool, ...] = ()
    if tile is not None:
        if len(tile) != 4:
            raise InvalidQueryError(f"tile must be (west, south, east, north), got {tile!r}")
        tile_sides = tuple(v is not None for v in tile)
        for name, value in zip(_TILE_SIDES, tile, strict=True):
            if value is not None:
                params[name] = float(value)
    kind, n_boxes = "", 0
    if scope is not None:
        resolved = as_scope(scope)
        if isinstance(resolved, RadiusScope):
            boxes = radius_bounding_boxes(resolved)
            kind, n_boxes = "radius", len(boxes)
            for i, box in enumerate(boxes):
                params |= dict(
                    zip((f"box{i}_w", f"box{i}_s", f"box{i}_e", f"box{i}_n"), box, strict=True)
                )
            params |= {
                "centre_lon": resolved.longitude,
                "centre_lat": resolved.latitude,
                "radius_m": resolved.radius_m,
            }
        else:
            kind = "polygon"
            params["scope_wkb"] = shapely.to_wkb(resolved, output_dimension=2)
    if seqs is not None:
        params["seqs"] = _seq_array(seqs)
    wanted = _classification(classification)
    if wanted is not None:
        params["classification"] = wanted
    start = _timestamp(since, "since")
    end = _timestamp(until, "until")
    if start is not None:
        params["since"] = start.to_pydatetime()
    if end is not None:
        params["until"] = end.to_pydatetime()
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
            raise InvalidQueryError(f"limit must be a positive integer or None, got {limit!r}")
        params["limit"] = int(limit)
    shape: _QueryShape = (
        kind,
        n_boxes,
        seqs is not None,
        wanted is not None,
        start is not None,
        end is not None,
        limit is not None,
        bool(visible_only),
        tile_sides,
    )
    return shape, params


@functools.lru_cache(maxsize=256)
def _report_statement(shape: _QueryShape) -> sa.Select[Any]:
    """Build the statement for one combination of filters (values are bound at execution)."""
    kind, n_boxes, by_seqs, by_class, by_since, by_until, limited, visible_only, tile = shape
    r = t.reports
    a = t.report_analysis
    # The preferred analysis is the one in the report's preferred_language (kept by the
    # triggers of migration 0003): one probe of the (seq, language) primary key. LIMIT 1
    # (the key allows one row at most) keeps the lateral a per-report index probe; as a
    # plain join the planner would hash-join a scan of every analysis.
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
            a.c.is_valid,
        )
        .where(a.c.seq == r.c.seq, a.c.language == r.c.preferred_language)
        .limit(1)
        .lateral("preferred")
    )

    # Whether the report qualifies, over *all* its analyses: the preferred one usually
    # does; the other analyses are looked at (an EXISTS probe) only when it does not.
    def qualifying(analysis: Any) -> list[sa.ColumnElement[bool]]:
        tests: list[sa.ColumnElement[bool]] = []
        if visible_only:
            tests.append(analysis.is_valid)
        if by_class:
            wanted = sa.bindparam("classification", type_=sa.String)
            tests.append(analysis.classification == wanted)
        return tests

    p = preferred.c
    outer = not qualifying(p)  # every report, also one without analyses

    def text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(column, "") if outer else column

    columns = [
        r.c.seq,
        r.c.public_id,
        _epoch_us(r.c.ts).label("ts_us"),
        r.c.longitude,
        r.c.latitude,
        text(p.classification).label(CLASSIFICATION),
        (sa.func.coalesce(p.severity_level, 0.0) if outer else p.severity_level).label(
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
    stmt = sa.select(*columns).select_from(r.join(preferred, sa.true(), isouter=outer))
    if not outer:
        other = a.alias("other")
        stmt = stmt.where(
            sa.or_(
                sa.and_(*qualifying(p)),
                sa.exists().where(other.c.seq == r.c.seq, *qualifying(other.c)),
            )
        )
    if visible_only:
        stmt = stmt.where(
            r.c.status == "active",
            r.c.visibility == "public",
            sa.or_(r.c.owner.is_(None), r.c.owner == "", r.c.owner_is_public),
        )
    if kind == "polygon":
        polygon = sa.func.ST_GeomFromWKB(sa.bindparam("scope_wkb", type_=sa.LargeBinary), 4326)
        stmt = stmt.where(sa.func.ST_Intersects(r.c.geom, polygon))
    elif kind == "radius":
        boxes = [
            r.c.geom.op("&&")(
                sa.func.ST_MakeEnvelope(
                    *(sa.bindparam(f"box{i}_{side}", type_=sa.Double) for side in "wsen"), 4326
                )
            )
            for i in range(n_boxes)
        ]
        stmt = stmt.where(sa.or_(*boxes), _within_radius(r.c.geom))
    if any(tile):
        # A half-open box on the stored coordinates: west <= longitude < east, south <=
        # latitude < north (a missing side is open), so tiles partition the reports.
        column = {"tile_w": r.c.longitude, "tile_e": r.c.longitude}
        column |= {"tile_s": r.c.latitude, "tile_n": r.c.latitude}
        for name, present in zip(_TILE_SIDES, tile, strict=True):
            if present:
                bound = sa.bindparam(name, type_=sa.Double)
                low = name in ("tile_w", "tile_s")
                stmt = stmt.where(column[name] >= bound if low else column[name] < bound)
    if by_seqs:
        stmt = stmt.where(r.c.seq == sa.any_(sa.bindparam("seqs", type_=pg.ARRAY(sa.BigInteger))))
    if by_since:
        stmt = stmt.where(r.c.ts >= sa.bindparam("since", type_=r.c.ts.type))
    if by_until:
        stmt = stmt.where(r.c.ts < sa.bindparam("until", type_=r.c.ts.type))
    stmt = stmt.order_by(r.c.ts.desc(), r.c.seq.desc())
    if limited:
        stmt = stmt.limit(sa.bindparam("limit", type_=sa.Integer))
    return stmt


def select_reports(
    *,
    scope: Scope | dict[str, Any] | str | None = None,
    seqs: Sequence[int] | np.ndarray | pd.Series | None = None,
    classification: str | None = None,
    since: datetime | pd.Timestamp | str | None = None,
    until: datetime | pd.Timestamp | str | None = None,
    limit: int | None = None,
    visible_only: bool = True,
    tile: Tile | None = None,
) -> sa.Select[Any]:
    """Build the ``SELECT`` behind :func:`read_reports` (bound parameters only).

    Parameters
    ----------
    scope, seqs, classification, since, until, limit, visible_only, tile
        As in :func:`read_reports`.

    Returns
    -------
    sqlalchemy.Select
        Columns ``seq, public_id, ts_us`` (microseconds since the epoch), ``longitude,
        latitude`` and the preferred analysis's ``classification, severity_level, title,
        summary, description, brand_name, brand_display_name, inferred_contact_emails,
        language``; newest first. The parameter values are bound to the statement.

    Raises
    ------
    InvalidScopeError
        When ``scope`` is not a valid scope.
    InvalidQueryError
        When another argument is invalid.
    """
    shape, params = _report_query(
        scope, seqs, classification, since, until, limit, visible_only, tile
    )
    return _report_statement(shape).params(params)


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
    tile: Tile | None = None,
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
        ``visible_only`` that analysis must also be valid (visibility rule 4 above). The
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
    tile : tuple of float or None, optional
        ``(west, south, east, north)``: only reports with ``west <= longitude < east`` and
        ``south <= latitude < north`` (``None`` leaves a side open), so a grid of tiles
        splits the reports into disjoint parts (see :func:`read_reports_dask`).

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
    shape, params = _report_query(
        scope, seqs, classification, since, until, limit, visible_only, tile
    )
    if seqs is not None and not params["seqs"]:
        return _report_frame([])
    compiled = _compiled_statement(shape)
    with connection(con) as conn:
        _tune_read(conn)
        raw = conn.connection.driver_connection
        if raw is None:  # pragma: no cover - a live connection always has one
            raise RuntimeError("the SQLAlchemy connection has no DBAPI connection")
        # The selected columns need no result processing: read the driver's tuples directly
        # (SQLAlchemy Row objects cost about 4 µs each), in binary (numbers are not parsed
        # from text), with the garbage collector paused (see _gc_paused).
        with _gc_paused(), raw.cursor(binary=True) as cursor:
            cursor.execute(str(compiled), compiled.construct_params(params))
            return _report_frame(cursor.fetchall())


#: The pandas dtype of text columns ("str", Arrow-backed).
_TEXT_DTYPE: Final = pd.StringDtype("pyarrow", na_value=np.nan)
#: Statement of :func:`_tune_read`, built once.
_TUNE_STATEMENT: Final = sa.select(
    sa.func.set_config("jit", "off", sa.true()),
    sa.func.set_config("work_mem", _READ_WORK_MEM, sa.true()),
)


def _tune_read(conn: sa.Connection) -> None:
    """Tune the planner for this transaction: no JIT, room to sort in memory.

    PostGIS functions carry high cost estimates, which makes PostgreSQL JIT-compile these
    short queries (about 0.4 s lost on a 30k-row polygon); results of tens of thousands of
    rows also sort faster in memory. ``set_config(..., true)`` lasts until the end of the
    current transaction (the caller's, when ``con`` is a connection in a transaction).
    """
    if not conn.in_transaction():
        conn.begin()  # what conn.execute would do (autobegin): the caller commits or ends it
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - a live connection always has one
        raise RuntimeError("the SQLAlchemy connection has no DBAPI connection")
    # Straight to the driver: SQLAlchemy's execution path costs more than the statement.
    with raw.cursor() as cursor:
        cursor.execute(_tune_sql())


@functools.cache
def _tune_sql() -> str:
    """Return the SQL of :data:`_TUNE_STATEMENT` with its constant values inlined (once)."""
    compiled = _TUNE_STATEMENT.compile(
        dialect=_PSYCOPG_DIALECT, compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


@functools.lru_cache(maxsize=256)
def _compiled_statement(shape: _QueryShape) -> sa.engine.Compiled:
    """Compile the statement of one query shape for the psycopg driver, once."""
    return _report_statement(shape).compile(dialect=_PSYCOPG_DIALECT)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a frame is read and built.

    A 30k-report read creates 30k row tuples and 30k shapely points, all tracked by the
    collector: enough allocations to trigger several collections, and a full one now and
    then whose cost grows with everything the process holds (0.1-0.5 s in a process that
    also holds a million-report frame). The pause is short and bounded (one fetch and one
    frame): garbage cycles made meanwhile are collected by the next collection. The
    collector is switched back on at the end unless it was off already (then it is left
    alone), so overlapping reads in several threads never leave it off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


#: One row of the statement of :func:`select_reports`, as Arrow types.
_ROW_TYPE: Final = pa.struct(
    [
        (SEQ, pa.int64()),
        (PUBLIC_ID, pa.string()),
        ("ts_us", pa.int64()),
        ("longitude", pa.float64()),
        ("latitude", pa.float64()),
        (CLASSIFICATION, pa.string()),
        (SEVERITY_LEVEL, pa.float64()),
        *(
            (name, pa.string())
            for name in (
                TITLE,
                SUMMARY,
                DESCRIPTION,
                BRAND_NAME,
                BRAND_DISPLAY_NAME,
                INFERRED_CONTACT_EMAILS,
                LANGUAGE,
            )
        ),
    ]
)


def _report_frame(rows: Sequence[Sequence[Any]]) -> gpd.GeoDataFrame:
    # Arrow converts the tuples column by column in one pass (about half the time of
    # transposing them in Python and converting each column).
    columns = dict(zip(_ROW_TYPE.names, pa.array(rows, type=_ROW_TYPE).flatten(), strict=True))

    def values(name: str) -> np.ndarray:
        return np.array(columns[name].to_numpy())

    # pandas "str" columns straight from the Arrow arrays (a third of Table.to_pandas's cost).
    data: dict[str, Any] = {
        name: pd.array(columns[name], dtype=_TEXT_DTYPE) for name in TEXT_COLUMNS
    }
    data[SEQ] = values(SEQ)
    data[TS] = pd.array((values("ts_us") * 1_000).view("datetime64[ns]")).tz_localize("UTC")
    data[SEVERITY_LEVEL] = values(SEVERITY_LEVEL)
    points = shapely.points(values("longitude"), values("latitude"))
    # The database guarantees the contract (unique seq, coordinate and severity ranges,
    # non-null text and timestamps), so the frame is built directly, without re-validation.
    columns = {c: data[c] for c in REPORT_COLUMNS if c in data}
    columns[GEOMETRY] = gpd.array.from_shapely(points, crs=_crs())
    # Naming the geometry column (which carries the CRS) builds the frame in a third of the
    # time of passing a geometry array and a CRS (no CRS comparisons, no column insert).
    return gpd.GeoDataFrame(columns, geometry=GEOMETRY)


@functools.cache
def _crs() -> Any:
    """EPSG:4326 as a pyproj CRS, parsed once (parsing costs about a millisecond)."""
    import pyproj

    return pyproj.CRS.from_user_input(CRS)


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
        with connection(con) as conn:
            rows = conn.execute(stmt).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(ANALYSIS_COLUMNS))
    frame["seq"] = frame["seq"].astype(np.int64)
    for name in (*t.PROBABILITY_COLUMNS, SEVERITY_LEVEL):
        frame[name] = frame[name].astype(float)
    frame["is_valid"] = frame["is_valid"].astype(bool)
    for name in ("created_at", "updated_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[ns, UTC]")
    for name in ("language", "classification", *t.ANALYSIS_TEXT_COLUMNS):
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
    rows = _area_rows(con, geometry, with_geometry=True)
    geoms = shapely.from_wkb(np.asarray([bytes(row[4]) for row in rows], dtype=object))
    return gpd.GeoDataFrame(
        _area_frame(rows), geometry=gpd.array.from_shapely(geoms, crs=_crs()), crs=_crs()
    )


def read_area_contacts(
    con: Connectable, geometry: shapely.Geometry | RadiusScope | dict[str, Any] | str
) -> pd.DataFrame:
    """Load the mapped areas that intersect a geometry with their contacts, without shapes.

    The same rows as :func:`read_areas` without the ``geometry`` column: what target
    suggestion (:func:`cleanapp_geo.targets.area_contact_targets`) reads, at a fraction of
    the cost (no polygon is sent, parsed or wrapped in a GeoDataFrame).

    Parameters
    ----------
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store.
    geometry : shapely geometry, RadiusScope, GeoJSON mapping or str
        As for :func:`read_areas`.

    Returns
    -------
    pandas.DataFrame
        Columns ``area_id`` (int64), ``name``, ``description`` and ``emails`` (the consented
        contact emails, sorted), ordered by ``name`` then ``area_id``.

    Raises
    ------
    InvalidScopeError
        When ``geometry`` is GeoJSON or a value that is not a valid scope.
    """
    return _area_frame(_area_rows(con, geometry, with_geometry=False))


def _area_rows(
    con: Connectable,
    geometry: shapely.Geometry | RadiusScope | dict[str, Any] | str,
    *,
    with_geometry: bool,
) -> Sequence[Sequence[Any]]:
    """Rows ``(id, name, description, emails[, wkb])`` of the areas intersecting a geometry."""
    if isinstance(geometry, shapely.Geometry):
        scope: shapely.Geometry | RadiusScope = geometry
    else:
        scope = as_scope(geometry)
    if isinstance(scope, RadiusScope):
        params: dict[str, Any] = {
            "centre_lon": scope.longitude,
            "centre_lat": scope.latitude,
            "radius_m": scope.radius_m,
        }
    else:
        params = {"area_wkb": shapely.to_wkb(scope, output_dimension=2)}
    compiled = _areas_statement(isinstance(scope, RadiusScope), with_geometry)
    with connection(con) as conn:
        raw = conn.connection.driver_connection
        if raw is None:  # pragma: no cover - a live connection always has one
            raise RuntimeError("the SQLAlchemy connection has no DBAPI connection")
        with raw.cursor(binary=True) as cursor:
            cursor.execute(str(compiled), compiled.construct_params(params))
            return cursor.fetchall()


def _within_radius(geom: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """Geodesic ``ST_DWithin`` of ``geom`` and the bound ``centre_lon/lat``, ``radius_m``."""
    centre = sa.func.ST_SetSRID(
        sa.func.ST_MakePoint(
            sa.bindparam("centre_lon", type_=sa.Double),
            sa.bindparam("centre_lat", type_=sa.Double),
        ),
        4326,
    )
    return sa.func.ST_DWithin(
        sa.func.geography(geom),
        sa.func.geography(centre),
        sa.bindparam("radius_m", type_=sa.Double),
        sa.true(),
    )


@functools.cache
def _areas_statement(radius: bool, with_geometry: bool) -> sa.engine.Compiled:
    """Compile the areas query of a radius or a geometry once (values are bound per call)."""
    ar = t.areas
    ac = t.area_contacts
    if radius:
        condition = _within_radius(ar.c.geom)
    else:
        other = sa.func.ST_GeomFromWKB(sa.bindparam("area_wkb", type_=sa.LargeBinary), 4326)
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
    columns = [ar.c.id, ar.c.name, ar.c.description, emails.label("emails")]
    if with_geometry:
        columns.append(sa.func.ST_AsBinary(ar.c.geom).label("wkb"))
    stmt = sa.select(*columns).where(condition).order_by(ar.c.name, ar.c.id)
    return stmt.compile(dialect=_PSYCOPG_DIALECT)


def _area_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "area_id": np.asarray([row[0] for row in rows], dtype=np.int64),
            "name": pd.array([row[1] for row in rows], dtype=str),
            "description": pd.array([row[2] for row in rows], dtype=str),
            "emails": pd.Series([list(row[3]) for row in rows], dtype=object),
        }
    )
