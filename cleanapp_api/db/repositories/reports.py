"""What the store knows about reports, for the case routes: states and details."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import (
    ARRAY_BIGINT,
    PSYCOPG_DIALECT,
)
from cleanapp_api.schemas import (
    AnalysisJSON,
    ReportJSON,
    ReportWithAnalysis,
)

__all__ = [
    "ReportState",
    "report_details",
    "report_states",
]

# =========================================================================== reports


@dataclass(frozen=True, slots=True)
class ReportState:
    """What the store knows about one report seq.

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
    ).where(r.c.seq == sa.any_(sa.bindparam("seqs", wanted, ARRAY_BIGINT)))
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
        .where(r.c.seq == sa.any_(sa.bindparam("seqs", type_=ARRAY_BIGINT)))
    )  # no ORDER BY: the wide rows would sort on disk; analyses are ordered below
    return stmt.compile(dialect=PSYCOPG_DIALECT)


def report_details(conn: sa.Connection, seqs: Sequence[int]) -> list[ReportWithAnalysis]:
    """Load reports with every analysis row, in the order of ``seqs``.

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
