"""Write reports and their analyses into the PostGIS store: bulk, idempotent on ``seq``.

:func:`write_reports` (and :func:`insert_reports`, which also says what it did) stage the
Arrow-encoded rows (:mod:`cleanapp_geo.io.encode`) with ``COPY`` into temporary tables,
refuse the whole write when a report clashes with a stored one, and insert the new rows in
spatial order; large loads into small tables drop and rebuild the indexes. Writers take
``con`` as described in :mod:`cleanapp_geo.io.connect`.
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_geo.io import tables as t
from cleanapp_geo.io.connect import Connectable, ProgressCallback, write_transaction
from cleanapp_geo.io.encode import (
    MAX_LISTED,
    analysis_table,
    csv_bytes,
    report_table,
    spatial_order,
)
from cleanapp_geo.io.encode import (
    analysis_order as order_analyses,
)
from cleanapp_geo.io.errors import InvalidQueryError, ReportConflictError
from cleanapp_geo.schema import (
    SEQ,
    validate_reports,
)

__all__ = [
    "OPTIONAL_ANALYSIS_COLUMNS",
    "OPTIONAL_REPORT_COLUMNS",
    "WriteResult",
    "insert_reports",
    "write_reports",
]

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

_PREFERRED_LANGUAGE: Final = "en"
# Writes of at least this many new reports into a table holding fewer rows drop the keys
# and indexes, insert, and rebuild them (see write_reports, "Large loads").
_REBUILD_MIN_ROWS: Final = 100_000
_REBUILD_MAINTENANCE_WORK_MEM: Final = "256MB"


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

# Staging tables: every column nullable; a COPY fills only the columns the frame has and the
# INSERT then names only those, so absent optional columns take the target's defaults.
_stage_reports = sa.Table(
    "_cleanapp_stage_reports",
    _stage_metadata,
    sa.Column("seq", sa.BigInteger),
    sa.Column("public_id", sa.Text),
    sa.Column("new_public_id", sa.Text),
    sa.Column("ts_us", sa.BigInteger),
    sa.Column("latitude", sa.Double),
    sa.Column("longitude", sa.Double),
    sa.Column("reporter_id", sa.Text),
    sa.Column("team", sa.Integer),
    sa.Column("description", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("visibility", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("owner_is_public", sa.Boolean),
    sa.Column("preferred_language", sa.Text),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

_stage_analysis = sa.Table(
    "_cleanapp_stage_analysis",
    _stage_metadata,
    sa.Column("seq", sa.BigInteger),
    sa.Column("language", sa.Text),
    sa.Column("severity_level", sa.Double),
    sa.Column("classification", sa.Text),
    *(sa.Column(name, sa.Text) for name in t.ANALYSIS_TEXT_COLUMNS),
    *(sa.Column(name, sa.Double) for name in t.PROBABILITY_COLUMNS),
    sa.Column("is_valid", sa.Boolean),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def _stage(
    conn: sa.Connection,
    table: sa.Table,
    rows: pa.Table,
    order: np.ndarray,
    chunk_size: int,
    progress: ProgressCallback | None,
    done: int,
    total: int,
) -> int:
    """COPY ``rows`` (taken in ``order``) into a fresh temporary table, chunk by chunk.

    The next chunk is gathered and CSV-encoded in a worker thread (Arrow releases the GIL)
    while the current one is sent.
    """
    conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
    conn.execute(sa.text(f"TRUNCATE {table.name}"))
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - a live connection always has one
        raise RuntimeError("the SQLAlchemy connection has no DBAPI connection")
    starts = list(range(0, rows.num_rows, chunk_size))

    def encode(start: int) -> bytes:
        return csv_bytes(rows.take(pa.array(order[start : start + chunk_size])))

    columns = ", ".join(rows.column_names)
    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN (FORMAT csv)") as copy,
    ):
        pending = pool.submit(encode, starts[0]) if starts else None
        for i, start in enumerate(starts):
            assert pending is not None
            payload = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(encode, starts[i + 1])
            copy.write(payload)
            done += min(chunk_size, rows.num_rows - start)
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


@dataclass(frozen=True, slots=True)
class _Rebuild:
    """What the drop-and-rebuild path drops, in drop order (rebuilt in reverse)."""

    foreign_keys: list[sa.ForeignKeyConstraint]
    keys: list[sa.Constraint]
    indexes: list[sa.Index]

    def drop(self, conn: sa.Connection) -> None:
        for fk in self.foreign_keys:
            conn.execute(sa.schema.DropConstraint(fk))
        for key in self.keys:
            conn.execute(sa.schema.DropConstraint(key))
        for index in self.indexes:
            conn.execute(sa.schema.DropIndex(index))

    def create(self, conn: sa.Connection) -> None:
        for key in reversed(self.keys):
            conn.execute(sa.schema.AddConstraint(key))
        for index in self.indexes:
            conn.execute(sa.schema.CreateIndex(index))
        for fk in self.foreign_keys:
            conn.execute(sa.schema.AddConstraint(fk))

    @property
    def primary_keys(self) -> bool:
        return any(isinstance(key, sa.PrimaryKeyConstraint) for key in self.keys)


def _rebuild_plan(conn: sa.Connection) -> _Rebuild:
    """Plan the drop-and-rebuild of ``reports``/``report_analysis`` keys and indexes.

    The primary keys are dropped too (rows are written in spatial, not seq, order, which
    would scatter primary-key inserts), together with every foreign key that references
    ``reports`` -- unless the database holds such a foreign key that the tables module does
    not declare, in which case the primary keys (and their foreign keys) stay.
    """
    referencing = [
        fk
        for table in t.metadata.sorted_tables
        for fk in table.foreign_key_constraints
        if fk.referred_table is t.reports
    ]
    declared = {str(fk.name) for fk in referencing}
    stored = conn.execute(
        sa.text(
            "SELECT conname FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = CAST(:table AS regclass)"
        ),
        {"table": t.reports.name},
    ).scalars()
    unique: list[sa.Constraint] = [
        c for c in t.reports.constraints if isinstance(c, sa.UniqueConstraint)
    ]
    indexes = sorted(t.reports.indexes, key=lambda ix: str(ix.name))
    if set(stored) <= declared:
        primary = [t.report_analysis.primary_key, t.reports.primary_key]
        return _Rebuild(foreign_keys=referencing, keys=[*unique, *primary], indexes=indexes)
    analysis_fk = [fk for fk in referencing if fk.table is t.report_analysis]
    return _Rebuild(foreign_keys=analysis_fk, keys=unique, indexes=indexes)


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
    report_rows = report_table(reports)
    if analyses is None:
        analysis_rows = analysis_table(reports, seqs, one_per_report=True)
        # Each report's only analysis is its preferred one.
        report_rows = report_rows.append_column(
            "preferred_language", analysis_rows.column("language")
        )
    else:
        analysis_rows = analysis_table(analyses, seqs, one_per_report=False)
    report_order = spatial_order(report_rows)
    if analyses is None:  # row i of both tables is report i
        analysis_order = report_order
    else:
        analysis_order = order_analyses(analysis_rows, report_rows, report_order)
    total = report_rows.num_rows + analysis_rows.num_rows

    with write_transaction(con) as conn:
        done = _stage(
            conn, _stage_reports, report_rows, report_order, chunk_size, progress, 0, total
        )
        _stage(
            conn, _stage_analysis, analysis_rows, analysis_order, chunk_size, progress, done, total
        )
        conflicts = _find_conflicts(conn)
        if len(conflicts):
            raise ReportConflictError(
                f"{len(conflicts)} report(s) clash with stored ones, nothing was written: "
                + "; ".join(conflicts["reason"].head(MAX_LISTED))
                + (" ..." if len(conflicts) > MAX_LISTED else ""),
                conflicts,
            )
        rebuild = _should_rebuild(conn, report_rows.num_rows, rebuild_indexes)
        plan = _rebuild_plan(conn) if rebuild else None
        if plan is not None:
            conn.execute(
                sa.text("SELECT set_config('maintenance_work_mem', :value, true)"),
                {"value": _REBUILD_MAINTENANCE_WORK_MEM},
            )
            plan.drop(conn)

        # Without primary keys (rebuild path) ON CONFLICT has no arbiter: skip stored rows
        # with an anti-join instead.
        keyed = plan is None or not plan.primary_keys
        if progress is not None:
            progress("inserting", 0, 1)
        inserted_reports = _insert_stage_reports(conn, report_rows.column_names, keyed=keyed)
        inserted_analyses = _insert_stage_analysis(conn, analysis_rows.column_names, keyed=keyed)
        if progress is not None:
            progress("inserting", 1, 1)

        if plan is not None:
            if progress is not None:
                progress("indexing", 0, 1)
            plan.create(conn)
            if progress is not None:
                progress("indexing", 1, 1)
    return WriteResult(
        seqs=seqs,
        inserted_reports=inserted_reports,
        inserted_analyses=inserted_analyses,
        rebuilt_indexes=rebuild,
    )


def _insert_stage_reports(conn: sa.Connection, staged: Sequence[str], *, keyed: bool) -> int:
    """INSERT the staged reports (only the staged columns; the others take defaults)."""
    s = _stage_reports
    r = t.reports
    public_id: sa.ColumnElement[Any] = s.c.public_id
    if "new_public_id" in staged:
        public_id = sa.func.coalesce(sa.func.nullif(s.c.public_id, ""), s.c.new_public_id)
    targets: dict[str, sa.ColumnElement[Any]] = {
        "seq": s.c.seq,
        "public_id": public_id,
        "ts": _ts_from_us(s.c.ts_us),
        "latitude": s.c.latitude,
        "longitude": s.c.longitude,
    }
    for name in ("reporter_id", "team", "description", "status", "visibility", "owner"):
        if name in staged:
            targets[name] = s.c[name]
    if "owner_is_public" in staged:
        targets["owner_is_public"] = s.c.owner_is_public
    source: sa.FromClause = s
    if "preferred_language" in staged:
        targets["preferred_language"] = s.c.preferred_language
    else:
        # A new report's analyses are all staged (none can be stored yet): its preferred
        # language is the first staged one in the order of select_preferred_analysis.
        new_analyses = _stage_analysis
        lang = sa.func.lower(new_analyses.c.language)
        best = (
            sa.select(new_analyses.c.seq, new_analyses.c.language)
            .ext(pg.distinct_on(new_analyses.c.seq))
            .order_by(
                new_analyses.c.seq, lang != _PREFERRED_LANGUAGE, lang, new_analyses.c.language
            )
            .subquery("best")
        )
        source = s.outerjoin(best, best.c.seq == s.c.seq)
        targets["preferred_language"] = best.c.language
    rows = sa.select(*targets.values()).select_from(source)
    if keyed:
        stmt: sa.Executable = (
            pg.insert(r)
            .from_select(list(targets), rows)
            .on_conflict_do_nothing(index_elements=["seq"])
        )
    else:
        stored = sa.select(sa.literal(1)).where(r.c.seq == s.c.seq)
        stmt = sa.insert(r).from_select(list(targets), rows.where(~sa.exists(stored)))
    return int(conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount)


def _insert_stage_analysis(conn: sa.Connection, staged: Sequence[str], *, keyed: bool) -> int:
    """INSERT the staged analysis rows (only the staged columns)."""
    s = _stage_analysis
    a = t.report_analysis
    names = [c.name for c in s.columns if c.name in staged]
    rows = sa.select(*(s.c[name] for name in names))
    if keyed:
        stmt: sa.Executable = (
            pg.insert(a)
            .from_select(names, rows)
            .on_conflict_do_nothing(index_elements=["seq", "language"])
        )
    else:
        stored = sa.select(sa.literal(1)).where(a.c.seq == s.c.seq, a.c.language == s.c.language)
        stmt = sa.insert(a).from_select(names, rows.where(~sa.exists(stored)))
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
    ``chunk_size`` rows at a time, the next chunk encoded in a worker thread while the
    current one is sent), checked against the store, then inserted with
    ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, all in one transaction. Rows are
    written along a Z-order curve of their points, so reports that are near each other
    share heap pages and spatial reads touch few pages. Only the columns the frame has are
    staged; the others take the table defaults.

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
    empty ``classification`` as ``physical`` (the upstream column defaults). A new report
    also stores the language of its preferred analysis (``reports.preferred_language``);
    analyses added to stored reports update it through the table's triggers.

    *Large loads.* When at least 100,000 new reports go into a table holding fewer
    rows (or ``rebuild_indexes=True``), the indexes, unique and primary keys of
    ``reports`` and ``report_analysis`` and the foreign keys that reference ``reports``
    are dropped, the rows inserted (stored ones skipped by an anti-join) and everything
    rebuilt, in the same transaction (PostgreSQL's "populating a database" advice; about
    three times faster at a million rows). The primary keys stay when a table the tables
    module does not declare references ``reports``. This holds exclusive locks on the
    tables involved until the transaction ends: meant for imports, not for a busy store.

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
