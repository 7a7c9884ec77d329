"""Report contact strategy (R16–R19, reference §11): who to notify about a solo report.

The same engine as a case's (:mod:`cleanapp_api.services.routing`), with subject
``report`` (its ``public_id``):

* the report's targets live in ``report_escalation_targets``; they are suggested again from
  the stored sources (area contacts around the report, brand and inferred contacts) when
  ``refresh_targets`` is true, when the report has none, or when the newest is older than
  12 hours;
* each request routes them with the endpoints' memory (the routing columns are written
  back), builds the observations and the plan in memory, stores the routing profile and the
  execution tasks (a pending task is updated in place, a completed one kept);
* an outcome of one of its tasks (R18/R19) completes the task, records the outcome, updates
  the endpoint's memory and re-routes -- without the resolution signal and audit event of a
  case.

A report that is not public (private, resolved, quarantined) or has no analysis is "not
found". Requests for one report are serialised by a transaction-level advisory lock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

import cleanapp_geo.io as cio
from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories import routing as store
from cleanapp_api.domain_errors import InvalidRequest, NotFound
from cleanapp_api.mappers import (
    memory_json,
    outcome_json,
    plan_waves,
    profile_json,
    task_json,
    timestamp_text,
)
from cleanapp_api.policy import AuthenticatedUser, effective_actor
from cleanapp_api.routing_schemas import (
    ContactObservationJSON,
    ExecutionOutcomeRequest,
    ExecutionOutcomeResponse,
    NotifyPlanItemJSON,
    NotifyPlanJSON,
    ReportContactStrategyResponse,
    ReportEscalationTargetJSON,
)
from cleanapp_api.services.routing import (
    MSG_TASK_NOT_FOUND,
    MSG_TASK_TARGET_NOT_FOUND,
    apply_task_outcome,
    parse_task_id,
    route_stored_targets,
)
from cleanapp_api.services.targets import suggest_targets, target_rows
from cleanapp_geo.io.tables import PUBLIC_ID_PATTERN
from cleanapp_geo.routing import (
    RoutingProfile,
    build_notify_plan,
    contact_observations,
    execution_tasks,
    normalize_outcome_type,
    routing_profile,
)

__all__ = [
    "MSG_PUBLIC_ID_INVALID",
    "MSG_PUBLIC_ID_MISSING",
    "MSG_REPORT_NOT_FOUND",
    "MSG_SEQ_INVALID",
    "MSG_SEQ_MISSING",
    "REFRESH_AFTER",
    "ReportKey",
    "parse_public_id",
    "parse_seq",
    "record_report_outcome",
    "report_contact_strategy",
]

MSG_SEQ_MISSING: Final = "Missing 'seq' parameter"
MSG_SEQ_INVALID: Final = "Invalid 'seq' parameter. Must be a positive integer."
MSG_PUBLIC_ID_MISSING: Final = "Missing 'public_id' parameter"
MSG_PUBLIC_ID_INVALID: Final = "Invalid 'public_id' parameter"
MSG_REPORT_NOT_FOUND: Final = "Report not found"
#: Stored targets older than this are suggested again.
REFRESH_AFTER: Final = timedelta(hours=12)
#: Largest number of suggested targets of a report (upstream's limit).
REPORT_TARGET_LIMIT: Final = 12
_PUBLIC_ID: Final = re.compile(PUBLIC_ID_PATTERN)
_TARGET_TEXT: Final = (
    "organization", "display_name", "email", "phone", "website", "contact_url",
    "social_platform", "social_handle", "source_url", "evidence_text", "verification_level",
    "rationale", "reason_selected",
)  # fmt: skip

ReportKey = tuple[str, int | str]


def parse_seq(raw: str | None) -> ReportKey:
    """Validate a ``seq`` parameter (upstream's messages); return ``("seq", n)``."""
    text = (raw or "").strip()
    if not text:
        raise InvalidRequest(MSG_SEQ_MISSING)
    if len(text) > 19 or not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise InvalidRequest(MSG_SEQ_INVALID)
    return ("seq", int(text))


def parse_public_id(raw: str | None) -> ReportKey:
    """Validate a ``public_id`` parameter (``rpt_`` + 22 base64url characters)."""
    text = (raw or "").strip()
    if not text:
        raise InvalidRequest(MSG_PUBLIC_ID_MISSING)
    if not _PUBLIC_ID.match(text):
        raise InvalidRequest(MSG_PUBLIC_ID_INVALID)
    return ("public_id", text)


def _report(conn: sa.Connection, key: ReportKey) -> sa.RowMapping:
    r = t.reports
    column = r.c.seq if key[0] == "seq" else r.c.public_id
    row = (
        conn.execute(sa.select(r.c.seq, r.c.public_id, r.c.description).where(column == key[1]))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(MSG_REPORT_NOT_FOUND)
    state = repo.report_states(conn, [int(row["seq"])]).get(int(row["seq"]))
    if state is None or not state.anchorable:
        raise NotFound(MSG_REPORT_NOT_FOUND)
    repo.take_advisory_lock(conn, repo.advisory_lock_key("report-routing", row["seq"]))
    return row


def _profile(conn: sa.Connection, report: sa.RowMapping) -> RoutingProfile:
    a = t.report_analysis
    rows = (
        conn.execute(
            sa.select(
                a.c.title, a.c.summary, a.c.description, a.c.analysis_text, a.c.classification,
                a.c.severity_level,
            )
            .where(a.c.seq == report["seq"])
            .order_by(a.c.language)
        )
        .mappings()
        .all()
    )  # fmt: skip
    texts = [row[k] or "" for row in rows for k in ("title", "summary", "description",
                                                     "analysis_text")]  # fmt: skip
    texts.append(report["description"] or "")
    classification = next((row["classification"] for row in rows if row["classification"]), "")
    return routing_profile(
        texts,
        classification=classification or "physical",
        severity=max((float(row["severity_level"] or 0.0) for row in rows), default=0.0),
        subject="report",
    )


def _needs_refresh(rows: list[sa.RowMapping], refresh: bool, now: datetime) -> bool:
    if refresh or not rows:
        return True
    newest = max(row["updated_at"] for row in rows)
    return bool(now - newest > REFRESH_AFTER)


def _refresh(conn: sa.Connection, seq: int) -> None:
    frame = cio.read_reports(conn, seqs=[seq], visible_only=True)
    suggested = target_rows(
        suggest_targets(conn, reports=frame, area=None, limit=REPORT_TARGET_LIMIT)
    )
    store.replace_report_targets(conn, seq, suggested)


def _target_json(row: Any) -> ReportEscalationTargetJSON:
    values = dict(row)
    for name in _TARGET_TEXT:
        values[name] = values[name] or ""
    values["cooldown_until"] = timestamp_text(values["cooldown_until"]) or None
    values["created_at"] = timestamp_text(values["created_at"])
    values["updated_at"] = timestamp_text(values["updated_at"])
    return ReportEscalationTargetJSON(**values)


def _route(
    conn: sa.Connection, report: sa.RowMapping, *, refresh: bool, now: datetime
) -> ReportContactStrategyResponse:
    seq, ref = int(report["seq"]), str(report["public_id"])
    rows = store.report_target_rows(conn, seq)
    refreshed = _needs_refresh(rows, refresh, now)
    if refreshed:
        _refresh(conn, seq)
        rows = store.report_target_rows(conn, seq)
    profile = _profile(conn, report)
    rt = t.report_escalation_targets
    index, routed = route_stored_targets(conn, rt, rows, profile, now)
    store.upsert_profile(conn, "report", ref, profile, now)
    targets = [r.target for r in routed]
    observations = contact_observations(targets)
    first = index.first
    plan = build_notify_plan(targets, profile) if targets else None
    store.sync_tasks(conn, "report", ref, execution_tasks(plan, targets) if plan else (), first)
    by_id = {int(row["id"]): row for row in store.report_target_rows(conn, seq)}
    stamp = timestamp_text(now)
    items = [
        NotifyPlanItemJSON(
            target_id=first.get(item.endpoint_key),
            **{k: getattr(item, k) for k in _ITEM_FIELDS},
        )
        for item in (plan.items if plan else ())
    ]
    profile_row = store.profile_row(conn, "report", ref)
    return ReportContactStrategyResponse(
        report_seq=seq,
        public_id=ref,
        escalation_targets=[_target_json(by_id[first[t.endpoint_key]]) for t in targets],
        contact_observations=[
            ContactObservationJSON(
                target_id=first.get(o.endpoint_key), **o.to_record(), discovered_at=stamp
            )
            for o in observations
        ],
        notify_plan=(
            NotifyPlanJSON(
                plan_version=1,
                hazard_mode=plan.hazard_mode,
                status="active",
                summary=plan.summary,
                waves=plan_waves(items),
                items=items,
            )
            if plan is not None
            else None
        ),
        routing_profile=profile_json(profile_row) if profile_row is not None else None,
        execution_tasks=[task_json(row) for row in store.task_rows(conn, "report", ref)],
        notify_outcomes=[outcome_json(row) for row in store.outcome_rows(conn, "report", ref)],
        refreshed=refreshed,
    )


_ITEM_FIELDS: Final = (
    "endpoint_key", "wave_number", "priority_rank", "role_type", "decision_scope", "channel",
    "actionability_score", "send_eligibility", "execution_mode", "recipient_role",
    "reason_selected", "selected",
)  # fmt: skip


def report_contact_strategy(
    engine: sa.Engine, key: ReportKey, *, refresh_targets: bool = False
) -> ReportContactStrategyResponse:
    """``GET /reports/contact-strategy/by-seq`` and ``.../by-public-id`` (R16, R17).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    key : tuple
        ``("seq", n)`` or ``("public_id", "rpt_...")`` (:func:`parse_seq`,
        :func:`parse_public_id`).
    refresh_targets : bool, default False
        Suggest the targets again from the stored sources first.

    Returns
    -------
    ReportContactStrategyResponse

    Raises
    ------
    CaseServiceError
        404 ``Report not found``.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        return _route(conn, _report(conn, key), refresh=refresh_targets, now=now)


def record_report_outcome(
    engine: sa.Engine,
    key: ReportKey,
    raw_task_id: str,
    request: ExecutionOutcomeRequest,
    user: AuthenticatedUser,
) -> ExecutionOutcomeResponse:
    """``POST /reports/contact-strategy/.../tasks/{task_id}/outcome`` (R18, R19).

    Raises
    ------
    CaseServiceError
        400 invalid task id, unsupported outcome type, note too long; 404 report, task or
        task target not found.
    """
    task_id = parse_task_id(raw_task_id)
    outcome = normalize_outcome_type(request.outcome_type)
    note = (request.note or "").strip()
    if len(note) > 4000:
        raise InvalidRequest("note must be at most 4000 characters")
    actor = effective_actor(user, request.actor_user_id)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        report = _report(conn, key)
        seq, ref = int(report["seq"]), str(report["public_id"])
        task = store.task_row(conn, "report", ref, task_id, lock=True)
        if task is None:
            raise NotFound(MSG_TASK_NOT_FOUND)
        rt = t.report_escalation_targets
        target = (
            conn.execute(sa.select(rt).where(rt.c.id == task["target_id"], rt.c.report_seq == seq))
            .mappings()
            .first()
        )
        if target is None:
            raise NotFound(MSG_TASK_TARGET_NOT_FOUND)
        profile = store.profile_row(conn, "report", ref)
        task_row, outcome_row, memory_row, new = apply_task_outcome(
            conn,
            kind="report",
            ref=ref,
            task=task,
            target_row=target,
            outcome=outcome,
            note=note,
            actor=actor,
            asset_class=str(profile["asset_class"]) if profile is not None else "",
            now=now,
        )
        if new:
            _route(conn, report, refresh=False, now=now)
        task_row = store.task_row(conn, "report", ref, task_id) or task_row
    return ExecutionOutcomeResponse(
        task=task_json(task_row),
        outcome=outcome_json(outcome_row),
        endpoint_memory=memory_json(memory_row) if memory_row is not None else None,
    )
