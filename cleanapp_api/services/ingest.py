"""Reports that keep cases up to date: store a report and match it (``POST /reports``).

:func:`ingest_report` stores one report (service tokens only) and matches it in the same
transaction; :func:`match_reports` matches stored reports in batches (``reports load``,
``cases rematch``). Both leave the decisions to the library
(:class:`cleanapp_geo.ingest_batch.BatchMatcher`: :func:`~cleanapp_geo.ingest.match_report`
and :func:`~cleanapp_geo.ingest.decide_ingest` for each report in turn, vectorised) and
only load, store and answer; a report and a file of reports take the same path.

One transaction per report (per batch for loads)
------------------------------------------------
1. The advisory locks of :func:`cleanapp_api.db.repositories.lock_scope` for the reports
   and their neighbourhood, in the one global order: concurrent ingests of reports of one
   incident, and creates over the same area, run one after the other, so every one sees
   the links the others made.
2. The report and its analyses are stored (idempotent on ``seq``; a stored report with
   another timestamp or location is 409). A new report is stored and read back with the
   cases near it in one statement
   (:func:`cleanapp_api.db.repositories.ingest_one.store_new_report`); the ingest's
   transaction runs with generic plans (see ``lock_scope``).
3. A report already linked to a case is not matched again (re-ingesting links once).
   Otherwise the cases near it (an indexed lookup within
   :data:`cleanapp_geo.matching.MATCH_RADIUS_M`) and their linked reports within the
   model's radius gate are loaded, and the library decides:

   * **attach** -- the case row is locked, the report linked (``link_reason`` ``auto_match``,
     ``confidence`` = the match probability), the aggregates recomputed (once per case at
     the end of the batch; a later report of the batch that looks at the case sees its
     anchor and area as they are after the link), the audit event
     ``reports_added`` written with actor ``system:auto-match`` and the match in its
     payload; other open suggestions of the report are superseded; the contact routing
     of every case linked to is synced once, after the recompute
     (:func:`cleanapp_api.services.routing.sync_cases`). With ``AUTO_REOPEN`` a
     resolved or closed case in the ``auto`` band is reopened first (``status_changed``,
     ``from_status``/``to_status`` and the reason in the payload) and gets a recurrence
     signal;
   * **suggest** -- one ``case_suggestions`` row per suggested case (``attach`` or
     ``reopen``), audited as ``suggestion_created``; a ``reopen`` suggestion also records a
     ``case_resolution_signals`` row (``source_type`` ``recurrence``);
   * **none** -- nothing else is written.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pandas as pd
import shapely
import sqlalchemy as sa

from cleanapp_api.db import direct
from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories import ingest as ingest_repo
from cleanapp_api.db.repositories import ingest_one
from cleanapp_api.db.repositories import suggestions as suggestion_repo
from cleanapp_api.db.repositories.ingest_one import NewReport
from cleanapp_api.domain_errors import InvalidRequest
from cleanapp_api.matching_schemas import (
    IngestCaseJSON,
    IngestReportRequest,
    IngestResponse,
)
from cleanapp_api.policy import AuthenticatedUser, require_service
from cleanapp_api.services.cases import status_payload
from cleanapp_api.services.routing import sync_cases
from cleanapp_api.settings import Settings
from cleanapp_geo.cases import StatusChangeError, anchor_index, check_status_change
from cleanapp_geo.footprint import covering_area, snapshot_area
from cleanapp_geo.ingest import (
    CaseFacts,
    IngestDecision,
    ReportFacts,
    ReportMatch,
)
from cleanapp_geo.ingest_batch import BatchMatcher
from cleanapp_geo.matching import ACTIVE_STATUSES, MATCH_RADIUS_M, REOPENABLE_STATUSES
from cleanapp_geo.model import DEFAULT_MODEL

__all__ = [
    "AUTO_LINK_REASON",
    "SYSTEM_ACTOR",
    "MatchOptions",
    "MatchOutcome",
    "MatchSummary",
    "ingest_report",
    "match_reports",
    "match_stored_reports",
    "parse_ingest",
    "report_facts",
]

SYSTEM_ACTOR: Final = "system:auto-match"
AUTO_LINK_REASON: Final = "auto_match"
_EVIDENCE_RADIUS_M: Final = DEFAULT_MODEL.radius_gate_m or MATCH_RADIUS_M
_MAX_SEQ: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """How matching runs: the reopen window, auto-reopen and the reference time."""

    reopen_window_s: float
    auto_reopen: bool
    now: datetime | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MatchOptions:
        """Return the options a service configuration sets."""
        return cls(reopen_window_s=settings.reopen_window_s, auto_reopen=settings.auto_reopen)


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """What happened to one report."""

    seq: int
    action: str
    case_id: str | None = None
    reopened: bool = False
    suggestion_count: int = 0


# =========================================================================== parsing


def _text(value: str | None, name: str, column: sa.Column[Any]) -> str:
    text = (value or "").strip()
    length = getattr(column.type, "length", None)
    if length is not None and len(text) > length:
        raise InvalidRequest(f"{name} must be at most {length} characters, got {len(text)}")
    return text


def _unit(value: float | None, name: str) -> float:
    number = 0.0 if value is None else float(value)
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise InvalidRequest(f"{name} must lie in [0, 1], got {value}")
    return number


def _timestamp(raw: str | None) -> datetime:
    text = (raw or "").strip()
    if not text:
        raise InvalidRequest("report.timestamp is required (RFC 3339)")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"report.timestamp must be an RFC 3339 time, e.g. 2026-03-10T08:00:00Z; got {raw!r}"
        ) from None
    if value.tzinfo is None:
        raise InvalidRequest(f"report.timestamp must have a time zone, got {raw!r}")
    return value.astimezone(UTC)


def parse_ingest(body: IngestReportRequest) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate an ingest body; return the ``reports`` row and the ``report_analysis`` rows.

    Raises
    ------
    InvalidRequest
        400 naming the first bad value.
    """
    report = body.report
    if report is None:
        raise InvalidRequest("report is required")
    if report.seq is None or not 0 < report.seq <= _MAX_SEQ:
        raise InvalidRequest(f"report.seq must be a positive integer, got {report.seq}")
    lat, lon = report.latitude, report.longitude
    if lat is None or lon is None:
        raise InvalidRequest("report.latitude and report.longitude are required")
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        raise InvalidRequest(f"report location ({lat}, {lon}) is out of range")
    r = t.reports
    row: dict[str, Any] = {
        "seq": report.seq,
        "ts": _timestamp(report.timestamp),
        "latitude": float(lat),
        "longitude": float(lon),
        "reporter_id": _text(report.id, "report.id", r.c.reporter_id),
        "team": int(report.team or 0),
        "description": (report.description or "").strip(),
    }
    public_id = (report.public_id or "").strip()
    if public_id:
        if len(public_id) != 26 or not public_id.startswith("rpt_"):
            raise InvalidRequest(
                f"report.public_id must look like rpt_ + 22 characters, got {public_id!r}"
            )
        row["public_id"] = public_id
    a = t.report_analysis
    analyses: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(body.analysis or []):
        where = f"analysis[{i}]"
        language = _text(item.language, f"{where}.language", a.c.language) or "en"
        if language in seen:
            raise InvalidRequest(f"{where}.language {language!r} is given twice")
        seen.add(language)
        classification = (item.classification or "physical").strip().lower()
        if classification not in t.CLASSIFICATIONS:
            raise InvalidRequest(
                f"{where}.classification must be one of {', '.join(t.CLASSIFICATIONS)}, "
                f"got {item.classification!r}"
            )
        analyses.append(
            {
                "language": language,
                "classification": classification,
                "severity_level": _unit(item.severity_level, f"{where}.severity_level"),
                "is_valid": True if item.is_valid is None else bool(item.is_valid),
                **{
                    name: _text(getattr(item, name), f"{where}.{name}", a.c[name])
                    for name in t.ANALYSIS_TEXT_COLUMNS
                },
                **{
                    name: _unit(getattr(item, name), f"{where}.{name}")
                    for name in t.PROBABILITY_COLUMNS
                },
            }
        )
    if not analyses:
        raise InvalidRequest("analysis must hold at least one analysis of the report")
    return row, analyses


# =========================================================================== matching


def report_facts(row: Any) -> ReportFacts:
    """Return the library's facts of a row of ``report_fact_rows`` (or of its columns)."""
    severity = row.severity_level
    return ReportFacts(
        seq=int(row.seq),
        longitude=float(row.longitude),
        latitude=float(row.latitude),
        ts=row.ts,
        severity_level=math.nan if severity is None else float(severity),
        classification=row.classification or "",
        brand_display_name=row.brand_display_name or "",
        title=row.title or "",
        summary=row.summary or "",
        description=row.description or "",
    )


def _linked_cases(conn: sa.Connection, seqs: Sequence[int]) -> dict[int, str]:
    cr = t.case_reports
    rows = conn.execute(
        sa.select(cr.c.seq, cr.c.case_id)
        .where(cr.c.seq.in_([int(s) for s in seqs]))
        .order_by(cr.c.seq, cr.c.attached_at.desc(), cr.c.case_id)
    )
    linked: dict[int, str] = {}
    for seq, case_id in rows:
        linked.setdefault(int(seq), case_id)
    return linked


def _near_case_terms(options: MatchOptions, now: datetime) -> dict[str, Any]:
    """Which cases count as near a report at ``now``: radius and matchable statuses.

    One set of terms for both reads of the cases near a report (a new report's
    store-and-read statement and :func:`ingest_repo.nearby_case_records`).
    """
    return {
        "radius_m": MATCH_RADIUS_M,
        "active_statuses": ACTIVE_STATUSES,
        "reopenable_statuses": REOPENABLE_STATUSES,
        "reopen_since": now - timedelta(seconds=options.reopen_window_s),
    }


def match_reports(
    conn: sa.Connection,
    seqs: Sequence[int],
    options: MatchOptions,
    *,
    new_report: NewReport | None = None,
) -> list[MatchOutcome]:
    """Match stored reports, one after the other, inside the caller's transaction.

    The caller holds the locks (:func:`cleanapp_api.db.repositories.lock_scope`). Cases and
    evidence are loaded once for the batch (three statements); a report attached earlier
    in the batch is evidence of its case for the later ones.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    seqs : sequence of int
        Stored reports.
    options : MatchOptions
        Reopen window, auto-reopen, reference time.
    new_report : NewReport, optional
        What :func:`~cleanapp_api.db.repositories.ingest_one.store_new_report` read of
        the one report of ``seqs`` when it stored it (with ``options.now``'s reopen
        window): its facts and cases are not read again.

    Returns
    -------
    list of MatchOutcome
        One per visible, not yet linked report of ``seqs``, in their order; reports
        already linked answer their case (``attached``), invisible ones ``none``.
    """
    wanted = list(dict.fromkeys(int(s) for s in seqs))
    if not wanted:
        return []
    now = options.now or datetime.now(UTC)
    if new_report is not None and (wanted != [new_report.facts.seq] or options.now is None):
        raise ValueError("new_report is one report of seqs, read with options.now")
    rows: dict[int, Any]
    if new_report is None:
        rows = {int(r.seq): r for r in ingest_repo.report_fact_rows(conn, wanted)}
    else:
        rows = {new_report.facts.seq: new_report.facts}
    linked = {s: row.linked_case_id for s, row in rows.items() if row.linked_case_id is not None}
    todo = [s for s in wanted if s in rows and s not in linked and rows[s].visible]
    top = max((abs(float(rows[s].latitude)) for s in todo), default=0.0)
    if new_report is not None:
        records = new_report.near if todo else []
    else:
        records = ingest_repo.nearby_case_records(
            conn, todo, **_near_case_terms(options, now), max_abs_lat=top
        )
    near: dict[int, list[CaseFacts]] = {}
    for record in records:
        near.setdefault(int(record["report_seq"]), []).append(CaseFacts.from_record(record))
    case_ids = sorted({c.case_id for cases in near.values() for c in cases})
    pairs = sorted({(seq, c.case_id) for seq, cases in near.items() for c in cases})
    evidence: dict[str, list[ReportFacts]] = {}
    for row in ingest_repo.pair_evidence(conn, pairs, radius_m=_EVIDENCE_RADIUS_M, max_abs_lat=top):
        evidence.setdefault(row.case_id, []).append(report_facts(row))
    matcher = BatchMatcher(
        [report_facts(rows[s]) for s in todo],
        [near.get(s, []) for s in todo],
        evidence,
        now=pd.Timestamp(now),
        reopen_window_s=options.reopen_window_s,
        auto_reopen=options.auto_reopen,
    )
    decided: dict[int, MatchOutcome] = {}
    stale: set[str] = set()  # cases linked to: their aggregates are recomputed at the end
    latest = {c.case_id: c for cases in near.values() for c in cases}
    refresh = _Refresh(conn, case_ids)
    # A report stored by this transaction has no suggestion to supersede yet.
    writes = _Writes(conn, case_ids, new_seq=None if new_report is None else new_report.facts.seq)
    for i in range(len(matcher)):
        item = matcher.decide(i)
        outcome = _apply(writes, item.report, item.decision)
        decided[item.report.seq] = outcome
        if outcome.action != "attached" or outcome.case_id is None:
            continue
        case_id = outcome.case_id
        stale.add(case_id)
        fresh = None
        if matcher.needed_later(i, case_id):
            # A later report looks at this case: it sees it as one arriving later would
            # (status, area and anchor after this link; the store's recompute at the end
            # computes the same from the same rows).
            fresh = refresh.after_link(latest[case_id], item.report, reopened=outcome.reopened)
            latest[case_id] = fresh
        matcher.attached(i, case_id, fresh)
    writes.flush()
    repo.recompute_many(conn, sorted(stale))  # once per case, after all its links
    sync_cases(conn, sorted(stale))  # the routing reads the recomputed cases
    outcomes = []
    for seq in wanted:
        if seq in linked:
            outcomes.append(MatchOutcome(seq, "attached", linked[seq]))
        else:
            outcomes.append(decided.get(seq, MatchOutcome(seq, "none")))
    return outcomes


class _Refresh:
    """A case's facts after links made in this batch, computed as the recompute does."""

    def __init__(self, conn: sa.Connection, case_ids: Sequence[str]) -> None:
        self._conn = conn
        self._case_ids = list(case_ids)
        self._inputs: dict[str, ingest_repo.AggregateInputs] | None = None
        self._now: datetime | None = None
        self._snapshot_areas: dict[str, shapely.Geometry | None] = {}

    def after_link(self, case: CaseFacts, report: ReportFacts, *, reopened: bool) -> CaseFacts:
        # Read once, the first time the batch needs it. Links still waiting in _Writes do
        # not matter: a case refreshed now was refreshed at each of its earlier links of
        # the batch too (a later report looked at it), so its inputs hold them already.
        if self._inputs is None:
            self._inputs = ingest_repo.aggregate_inputs(self._conn, self._case_ids)
            self._now = self._conn.execute(sa.select(sa.func.now())).scalar_one()
        inputs = self._inputs[case.case_id]
        severity = report.severity_level
        at = bisect.bisect(inputs.seqs, report.seq)  # by seq, as the recompute reads them
        inputs.seqs.insert(at, report.seq)
        inputs.latitudes.insert(at, report.latitude)
        inputs.longitudes.insert(at, report.longitude)
        inputs.timestamps.insert(at, report.ts.to_pydatetime())
        inputs.severities.insert(at, 0.0 if math.isnan(severity) else severity)
        best = anchor_index(inputs.severities, inputs.timestamps, inputs.seqs)
        if case.case_id not in self._snapshot_areas:  # a link does not change it
            self._snapshot_areas[case.case_id] = snapshot_area(inputs.geometries)
        area = covering_area(
            self._snapshot_areas[case.case_id], inputs.longitudes, inputs.latitudes
        )
        if area is not None:  # as the store gives it back
            area = shapely.from_wkb(shapely.to_wkb(area, output_dimension=2))
        return replace(
            case,
            status="open" if reopened else case.status,
            updated_at=case.updated_at if self._now is None else pd.Timestamp(self._now),
            anchor_longitude=None if best is None else inputs.longitudes[best],
            anchor_latitude=None if best is None else inputs.latitudes[best],
            area=area,
        )


class _Writes:
    """The writes of a batch's decisions, sent a few statements per batch.

    The candidate cases are locked once (``FOR UPDATE``, in ``case_id`` order) when the
    first report attaches; links, audit events (in decision order) and superseded
    suggestions wait for :meth:`flush`, which runs before the aggregates are recomputed.
    Suggestions are written at once (their ids go into the audit payloads).
    """

    def __init__(
        self, conn: sa.Connection, case_ids: Sequence[str], *, new_seq: int | None = None
    ) -> None:
        self.conn = conn
        self._new_seq = new_seq
        self._case_ids = list(case_ids)
        self._status: dict[str, str] | None = None
        self._links: list[dict[str, Any]] = []
        self._audits: list[dict[str, Any]] = []
        self._superseded: dict[int, str] = {}

    def status(self, case_id: str) -> str | None:
        """Return the case's status under its row lock (None: it is gone)."""
        if self._status is None:
            rows = repo.lock_case_rows(self.conn, self._case_ids)
            self._status = {
                k: row.status for k, row in rows.items() if row.merged_into_case_id is None
            }
        return self._status.get(case_id)

    def reopen(self, case_id: str) -> None:
        repo.update_status(self.conn, case_id, "open", None)
        if self._status is not None:
            self._status[case_id] = "open"

    def audit(self, case_id: str, event_type: str, payload: Any) -> None:
        self._audits.append(
            {"case_id": case_id, "event_type": event_type, "actor_user_id": SYSTEM_ACTOR,
             "payload_json": payload}
        )  # fmt: skip

    def link(self, case_id: str, seq: int, confidence: float) -> None:
        self._links.append({"case_id": case_id, "seq": seq, "confidence": confidence})

    def supersede(self, seq: int, note: str) -> None:
        if seq != self._new_seq:  # stored in this transaction: no suggestion of it exists
            self._superseded[seq] = note

    def flush(self) -> None:
        ingest_repo.link_many(self.conn, self._links, reason=AUTO_LINK_REASON)
        ingest_repo.insert_audits(self.conn, self._audits)
        ingest_repo.supersede_many(self.conn, self._superseded, user_id=SYSTEM_ACTOR)
        self._links, self._audits, self._superseded = [], [], {}


def _apply(writes: _Writes, report: ReportFacts, decision: IngestDecision) -> MatchOutcome:
    seq = report.seq
    if decision.action == "attach" and decision.match is not None:
        return _attach(writes, seq, decision.match, reopen=decision.reopen)
    if decision.action == "suggest":
        count = 0
        for match in decision.suggestions:
            count += _suggest(writes, seq, match)
        total, first = suggestion_repo.open_suggestion_count(writes.conn, seq)
        if total:
            return MatchOutcome(seq, "suggested", first, suggestion_count=total)
    return MatchOutcome(seq, "none")


def _attach(writes: _Writes, seq: int, match: ReportMatch, *, reopen: bool) -> MatchOutcome:
    status = writes.status(match.case_id)
    if status is None or status != match.status:
        # The case changed since the lookup (merged, closed, deleted): leave the report
        # unlinked; ``cases rematch`` looks at it again.
        return MatchOutcome(seq, "none")
    details = match.to_dict()
    reopened = False
    if reopen:
        try:
            check_status_change(status, "open")
        except StatusChangeError:
            return MatchOutcome(seq, "none")
        writes.reopen(match.case_id)
        reason = f"report {seq} matched this {status} case: the incident is back"
        writes.audit(
            match.case_id,
            "status_changed",
            status_payload(status, "open", "", {"reason": reason, "seq": seq, "match": details}),
        )
        suggestion_repo.insert_signal(
            writes.conn, match.case_id, seq, f"Recurrence: {reason}", details
        )
        reopened = True
    confidence = min(1.0, max(match.probability, 1e-6))
    writes.link(match.case_id, seq, confidence)
    writes.audit(
        match.case_id,
        "reports_added",
        {
            "report_seqs": [seq],
            "link_reason": AUTO_LINK_REASON,
            "confidence": confidence,
            "match": details,
        },
    )
    # Every open suggestion of the report is moot now, its own case's too (a re-match
    # can attach a report that an earlier pass suggested for the same case).
    writes.supersede(seq, f"report {seq} was attached to {match.case_id}")
    return MatchOutcome(seq, "attached", match.case_id, reopened=reopened)


def _suggest(writes: _Writes, seq: int, match: ReportMatch) -> int:
    kind = "reopen" if match.suggested_action == "reopen" else "attach"
    details = match.to_dict()
    suggestion_id = suggestion_repo.insert_suggestion(
        writes.conn,
        {
            "case_id": match.case_id,
            "seq": seq,
            "kind": kind,
            "band": match.band,
            "probability": match.probability,
            "case_score": match.case_score,
            "evidence_score": match.evidence_score,
            "evidence_seq": match.evidence_seq,
            "match_json": details,
        },
    )
    if suggestion_id is None:
        return 0  # suggested before (re-ingest): nothing new
    writes.audit(
        match.case_id,
        "suggestion_created",
        {"suggestion_id": suggestion_id, "seq": seq, "kind": kind, "match": details},
    )
    if kind == "reopen":
        suggestion_repo.insert_signal(
            writes.conn,
            match.case_id,
            seq,
            f"Recurrence: report {seq} may show this {match.status} incident again "
            f"({match.band} band); suggested to reopen",
            {**details, "suggestion_id": suggestion_id},
        )
    return 1


# =========================================================================== batches


@dataclass(frozen=True, slots=True)
class MatchSummary:
    """What :func:`match_stored_reports` did: reports looked at and their outcomes."""

    examined: int = 0
    attached: int = 0
    suggested: int = 0
    reopened: int = 0

    def __add__(self, other: MatchSummary) -> MatchSummary:
        return MatchSummary(
            self.examined + other.examined,
            self.attached + other.attached,
            self.suggested + other.suggested,
            self.reopened + other.reopened,
        )

    @classmethod
    def of(cls, outcomes: Sequence[MatchOutcome], *, already: int = 0) -> MatchSummary:
        """Count outcomes; ``already`` linked reports are not counted as attached now."""
        return cls(
            examined=len(outcomes),
            attached=sum(o.action == "attached" for o in outcomes) - already,
            suggested=sum(o.action == "suggested" for o in outcomes),
            reopened=sum(o.reopened for o in outcomes),
        )


def match_batch_in_transaction(
    engine: sa.Engine, seqs: Sequence[int], options: MatchOptions
) -> MatchSummary:
    """Lock the batch's neighbourhood and match its stored reports in one transaction.

    The reports' bounds are read first (one statement; a report's place never changes),
    then :func:`cleanapp_api.db.repositories.lock_scope` takes the locks that
    ``POST /reports`` takes for each of them, and :func:`match_reports` decides and
    stores. Reports linked before are counted as examined, not attached.
    """
    wanted = [int(s) for s in seqs]
    if not wanted:
        return MatchSummary()
    with engine.begin() as conn:
        bounds = ingest_repo.report_bounds(conn, wanted)
        repo.lock_scope(conn, seqs=wanted, bounds=bounds)
        already = len(_linked_cases(conn, wanted))
        outcomes = match_reports(conn, wanted, options)
    return MatchSummary.of(outcomes, already=already)


def match_stored_reports(
    engine: sa.Engine,
    seqs: Sequence[int],
    options: MatchOptions,
    *,
    batch_size: int = 500,
    progress: Callable[[str, int, int], None] | None = None,
) -> MatchSummary:
    """Match stored reports in batches, one transaction each (``reports load``).

    The same decisions as ``POST /reports`` for each report, in the order of ``seqs``
    (give them in arrival order: a report attached earlier is evidence for the later
    ones). Idempotent: a linked report is not matched again and a suggestion is made once,
    so matching a file twice links nothing twice.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    seqs : sequence of int
        Stored reports, in arrival order.
    options : MatchOptions
        Reopen window, auto-reopen, reference time.
    batch_size : int, default 500
        Reports per transaction (each holds one advisory lock per report).
    progress : callable, optional
        Called as ``progress("matching", done, total)`` after every batch.

    Returns
    -------
    MatchSummary
    """
    if batch_size < 1:
        raise InvalidRequest(f"batch_size must be at least 1, got {batch_size}")
    wanted = list(dict.fromkeys(int(s) for s in seqs))
    total = MatchSummary()
    if progress is not None:
        progress("matching", 0, len(wanted))
    for start in range(0, len(wanted), batch_size):
        batch = wanted[start : start + batch_size]
        total = total + match_batch_in_transaction(engine, batch, options)
        if progress is not None:
            progress("matching", start + len(batch), len(wanted))
    return total


# =========================================================================== the route


def _answer(conn: sa.Connection, outcome: MatchOutcome, stored: bool) -> IngestResponse:
    case = None
    if outcome.case_id is not None:
        case = direct.execute(conn, _ANSWER_CASE, {"answer_case_id": outcome.case_id}).first()
    return IngestResponse(
        seq=outcome.seq,
        stored=stored,
        case=IngestCaseJSON(
            case_id=None if case is None else case.case_id,
            title=None if case is None else case.title,
            status=None if case is None else case.status,
            report_count=0 if case is None else int(case.linked_report_count),
            action=outcome.action,
            reopened=outcome.reopened,
            suggestion_count=outcome.suggestion_count,
        ),
    )


_ANSWER_CASE: Final = sa.select(
    t.cases.c.case_id, t.cases.c.title, t.cases.c.status, t.cases.c.linked_report_count
).where(t.cases.c.case_id == sa.bindparam("answer_case_id", type_=t.cases.c.case_id.type))


def ingest_report(
    engine: sa.Engine, settings: Settings, body: IngestReportRequest, user: AuthenticatedUser
) -> tuple[IngestResponse, bool]:
    """``POST /reports``: store one report and match it (module docstring); service tokens only.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    settings : Settings
        ``REOPEN_WINDOW_DAYS`` and ``AUTO_REOPEN``.
    body : IngestReportRequest
        The report and its analyses.
    user : AuthenticatedUser
        The caller (a ``service`` token).

    Returns
    -------
    tuple
        The answer and whether the report was stored now (201) rather than before (200).
    """
    require_service(user)
    report, analyses = parse_ingest(body)
    bounds = (report["longitude"], report["latitude"], report["longitude"], report["latitude"])
    with engine.begin() as conn:
        repo.lock_scope(conn, seqs=[report["seq"]], bounds=bounds, generic_plans=True)
        now = datetime.now(UTC)  # after the locks, as match_reports takes it
        options = replace(MatchOptions.from_settings(settings), now=now)
        # A new report comes back from its insert with its facts and the cases near it
        # (one statement); one stored before takes the statements of a re-ingest.
        new_report = ingest_one.store_new_report(
            conn, report, analyses, **_near_case_terms(options, now)
        )
        stored = new_report is not None or ingest_repo.store_report(conn, report, analyses)
        outcome = match_reports(conn, [report["seq"]], options, new_report=new_report)[0]
        if outcome.action == "none" and not stored:
            total, first = suggestion_repo.open_suggestion_count(conn, outcome.seq)
            if total:
                outcome = MatchOutcome(outcome.seq, "suggested", first, suggestion_count=total)
        response = _answer(conn, outcome, stored)
    return response, stored
