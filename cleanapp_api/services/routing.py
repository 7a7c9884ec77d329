"""Contact routing of cases: sync, refresh, execution-task outcomes, delivery outcomes.

:func:`sync_case` (reference §7.1) runs inside the transaction of every case write that
changes who to notify -- create, attach, add reports, merge, a refresh of the targets -- and
after a send settles; :func:`sync_cases` is the same for the many cases of a batch of
ingests. It reads the case as a routing profile, routes the visible targets
with the endpoints' memory, writes the routing columns onto the target rows, the contact
observations, the notify plan (a changed plan supersedes the active one and takes the next
version), the routing profile and the execution tasks, and derives the case's confidence
and exposure from its evidence. All computing is :mod:`cleanapp_geo.routing`'s.

:func:`record_case_outcome` is ``POST /cases/{id}/execution-tasks/{task_id}/outcome``
(R15): the task is completed, the outcome recorded once, the endpoint's memory updated
(:func:`cleanapp_geo.routing.apply_outcome`), a resolution signal and an audit event
written, and the case re-synced, so the next plan reflects what happened.

:func:`record_delivery_outcomes` turns settled deliveries of an escalation email into
outcomes (delivered → ``sent``, bounced or invalid → ``bounced``; a transient failure
records nothing), once per delivery.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa

import cleanapp_geo.io as cio
from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories import routing as store
from cleanapp_api.domain_errors import CaseNotFound, InvalidRequest, NotFound
from cleanapp_api.mappers import memory_json, outcome_json, task_json
from cleanapp_api.policy import AuthenticatedUser, effective_actor
from cleanapp_api.routing_schemas import ExecutionOutcomeRequest, ExecutionOutcomeResponse
from cleanapp_api.services.targets import suggest_targets, target_rows
from cleanapp_geo.cases import case_confidence, case_exposure
from cleanapp_geo.routing import (
    RoutedTarget,
    RoutingProfile,
    apply_outcome,
    build_notify_plan,
    contact_observations,
    delivery_outcome,
    execution_tasks,
    normalize_outcome_type,
    outcome_summary,
    route_targets,
    routing_profile,
    target_label,
)
from cleanapp_geo.targets import EscalationTarget, normalize_target, visible_targets

__all__ = [
    "MSG_INVALID_TASK_ID",
    "MSG_NOTE_TOO_LONG",
    "MSG_TASK_NOT_FOUND",
    "MSG_TASK_TARGET_NOT_FOUND",
    "TargetIndex",
    "parse_flag",
    "parse_task_id",
    "record_case_outcome",
    "record_delivery_outcomes",
    "refresh_case_targets",
    "route_stored_targets",
    "sync_case",
    "sync_case_after",
    "sync_cases",
]

logger = logging.getLogger(__name__)

MSG_INVALID_TASK_ID: Final = "invalid task id"
MSG_TASK_NOT_FOUND: Final = "execution task not found"
MSG_TASK_TARGET_NOT_FOUND: Final = "execution task target not found"
MSG_NOTE_TOO_LONG: Final = "note must be at most 4000 characters"
_NOTE_MAX: Final = 4000
_LEADING_INT: Final = re.compile(r"\s*(\d{1,18})")


def parse_task_id(raw: str) -> int:
    """Parse a task id leniently (its leading integer, as upstream); 400 unless positive.

    Examples
    --------
    >>> parse_task_id("12abc")
    12
    """
    match = _LEADING_INT.match(raw or "")
    if match is None or int(match.group(1)) <= 0:
        raise InvalidRequest(MSG_INVALID_TASK_ID)
    return int(match.group(1))


def parse_flag(raw: str | None) -> bool:
    """Parse a truthy query flag (``1``, ``t``, ``true``, ``yes``, ``y``, ``on``; any case).

    Empty or absent is false; anything else unknown is 400.

    Examples
    --------
    >>> parse_flag("TRUE"), parse_flag("0"), parse_flag(None)
    (True, False, False)
    """
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidRequest(f"refresh_targets must be a boolean (true or false), got {raw!r}")


_TRUE: Final = frozenset({"1", "t", "true", "yes", "y", "on"})
_FALSE: Final = frozenset({"", "0", "f", "false", "no", "n", "off"})


# --------------------------------------------------------------------------- routing


class TargetIndex:
    """Stored target rows by endpoint key: the first id of each key, and every id.

    Parameters
    ----------
    rows : iterable of mapping
        Stored target rows (any order; ``id`` order decides the first of a key).
    """

    def __init__(self, rows: Iterable[Mapping[Any, Any]]) -> None:
        self.targets: list[EscalationTarget] = []
        self.ids: dict[str, list[int]] = {}
        self.cooldowns: dict[str, datetime] = {}
        for row in sorted(rows, key=lambda r: int(r["id"])):
            target = EscalationTarget.from_record(row)
            normalised = normalize_target(target)
            if normalised is None:
                continue
            key = normalised.endpoint_key
            self.targets.append(target)
            self.ids.setdefault(key, []).append(int(row["id"]))
            if row.get("cooldown_until") is not None:
                self.cooldowns.setdefault(key, row["cooldown_until"])

    @property
    def first(self) -> dict[str, int]:
        """Endpoint key → the first stored id."""
        return {key: ids[0] for key, ids in self.ids.items()}


def route_stored_targets(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[Any, Any]],
    profile: RoutingProfile,
    now: datetime,
) -> tuple[TargetIndex, tuple[RoutedTarget, ...]]:
    """Route the visible stored targets with endpoint memory; write their routing columns.

    A stored cooldown (given by a client) is kept unless the memory's runs longer.
    """
    index = TargetIndex(rows)
    visible = visible_targets(index.targets)
    memory = store.memories(conn, (v.endpoint_key for v in visible))
    routed = route_targets(visible, profile, memory=memory, now=now)
    updates = []
    for r in routed:
        key = r.target.endpoint_key
        stored = index.cooldowns.get(key)
        cooldown = r.cooldown_until
        if stored is not None and (cooldown is None or stored > cooldown):
            cooldown = stored
        updates.append((index.ids[key], {**r.target.to_record(), "cooldown_until": cooldown}))
    store.update_target_routing(conn, table, updates, {int(row["id"]): row for row in rows})
    return index, routed


def _case_profile(inputs: Mapping[Any, Any]) -> RoutingProfile:
    case, reports = inputs["case"], inputs["reports"]
    texts = [case["title"], case["summary"], case["uncertainty_notes"]]
    for report in reports:
        texts += [report["title"], report["summary"]]
    severity = max([float(case["severity_score"])] + [float(r["severity_level"]) for r in reports])
    return routing_profile(
        texts,
        classification=case["classification"],
        severity=severity,
        urgency=float(case["urgency_score"]),
        subject="case",
    )


def _case_scores(inputs: Mapping[Any, Any], profile: RoutingProfile) -> tuple[float, float]:
    reports = inputs["reports"]
    reporters = [str(r["reporter_id"] or "") for r in reports]
    confidence = case_confidence([float(r["confidence"]) for r in reports], reporters)
    distinct = len({r for r in reporters if r}) + sum(1 for r in reporters if not r)
    exposure = case_exposure(
        profile.exposure_mode, sensitive_occupancy=profile.sensitive_occupancy, reporters=distinct
    )
    return confidence, exposure


def sync_case(conn: sa.Connection, case_id: str, *, now: datetime | None = None) -> None:
    """Re-route a case and store its observations, plan, profile and tasks (module docstring).

    Takes the case row's lock (``FOR UPDATE``; already held by the callers' writes), so
    concurrent syncs of one case run one after the other and leave one active plan.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the caller's write transaction.
    case_id : str
        An existing case.
    now : datetime, optional
        Reference time for cooldowns (default: now).

    Raises
    ------
    CaseNotFound
        When the case does not exist.
    """
    sync_cases(conn, [case_id], now=now)


def sync_cases(
    conn: sa.Connection, case_ids: Sequence[str], *, now: datetime | None = None
) -> None:
    """:func:`sync_case` of many cases (a batch's links), their shared reads done once.

    The case rows are locked and read with their reports in two statements, the scores
    and profiles of all of them written in two more. Only a case that has something to
    route or keep -- a target, an observation, an active plan or a task -- is routed on,
    one after the other in ``case_id`` order; for any other case that part of a sync
    reads nothing and writes nothing (no targets: no routing columns, no observations, no
    plan, no tasks), so it is not run.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the caller's write transaction.
    case_ids : sequence of str
        Existing cases.
    now : datetime, optional
        Reference time for cooldowns (default: now).

    Raises
    ------
    CaseNotFound
        When one of the cases does not exist.
    """
    ids = sorted(set(case_ids))
    if not ids:
        return
    now = now or datetime.now(UTC)
    inputs = store.cases_routing_inputs(conn, ids, lock=True)
    if len(inputs) != len(ids):
        raise CaseNotFound()
    profiles = {case_id: _case_profile(inputs[case_id]) for case_id in ids}
    store.update_cases_scores(
        conn, {case_id: _case_scores(inputs[case_id], profiles[case_id]) for case_id in ids}
    )
    store.upsert_profiles(conn, "case", profiles, now)
    for case_id in ids:
        if inputs[case_id]["routed"]:
            _route_case(conn, case_id, profiles[case_id], now)


def _route_case(conn: sa.Connection, case_id: str, profile: RoutingProfile, now: datetime) -> None:
    """Route a case's stored targets; store observations, the plan and the tasks."""
    et = t.case_escalation_targets
    rows = conn.execute(sa.select(et).where(et.c.case_id == case_id)).mappings().all()
    index, routed = route_stored_targets(conn, et, rows, profile, now)
    targets = [r.target for r in routed]
    observations = contact_observations(targets)
    observation_ids = store.upsert_observations(conn, case_id, observations, index.first, now)
    if targets or store.active_plan(conn, case_id) is not None:
        plan = build_notify_plan(targets, profile)
        store.replace_plan(
            conn,
            case_id,
            plan,
            target_ids=index.first,
            observation_ids=observation_ids,
            observation_keys={o.endpoint_key: o.key for o in observations},
        )
        specs = execution_tasks(plan, targets)
    else:
        specs = ()
    store.sync_tasks(conn, "case", case_id, specs, index.first)


def sync_case_after(engine: sa.Engine, case_id: str) -> None:
    """Sync a case in its own transaction, logging (never raising) a failure.

    For work that already committed (a send): the plan is advisory, and a failed sync must
    not turn a recorded send into an error.
    """
    try:
        with engine.begin() as conn:
            sync_case(conn, case_id)
    except Exception:
        logger.exception("contact routing sync of %s failed", case_id)


def refresh_case_targets(
    conn: sa.Connection, case_id: str, *, discovered: Sequence[EscalationTarget] = ()
) -> int:
    """Suggest targets again from the stored sources for the case's visible reports; sync.

    Area contacts around the reports, brand contacts and inferred contacts
    (:func:`cleanapp_api.services.targets.suggest_targets`), and the targets contact
    discovery found (``discovered``, from
    :func:`cleanapp_api.services.discovery.discover_case_targets`, run before this
    transaction); new endpoints are added, known ones kept.

    Returns
    -------
    int
        Number of targets added.
    """
    if case_id not in repo.lock_case_rows(conn, [case_id]):
        raise CaseNotFound()
    cr = t.case_reports
    seqs = list(conn.execute(sa.select(cr.c.seq).where(cr.c.case_id == case_id)).scalars())
    added = 0
    if seqs:
        frame = cio.read_reports(conn, seqs=seqs, visible_only=True)
        if len(frame):
            suggested = suggest_targets(conn, reports=frame, area=None, limit=16)
            rows = target_rows([*suggested, *(d.to_record() for d in discovered)])
            added = repo.insert_targets(conn, case_id, rows)
    sync_case(conn, case_id)
    return added


# --------------------------------------------------------------------------- outcomes


def _note(request: ExecutionOutcomeRequest) -> str:
    note = (request.note or "").strip()
    if len(note) > _NOTE_MAX:
        raise InvalidRequest(MSG_NOTE_TOO_LONG)
    return note


def _endpoint_of(task: Mapping[Any, Any], target: EscalationTarget) -> str:
    normalised = normalize_target(target)
    if task["endpoint_key"]:
        return str(task["endpoint_key"])
    return normalised.endpoint_key if normalised is not None else ""


def apply_task_outcome(
    conn: sa.Connection,
    *,
    kind: str,
    ref: str,
    task: Mapping[Any, Any],
    target_row: Mapping[Any, Any],
    outcome: str,
    note: str,
    actor: str,
    asset_class: str,
    now: datetime,
) -> tuple[Mapping[Any, Any], Mapping[Any, Any], Mapping[Any, Any] | None, bool]:
    """Record a task's outcome: complete it, store the outcome, update the endpoint's memory.

    The same outcome recorded twice for a task is stored once and counted once.

    Returns
    -------
    tuple
        The task row, the outcome row, the memory row, and whether the outcome is new.
    """
    target = EscalationTarget.from_record(target_row)
    key = _endpoint_of(task, target)
    label = target_label(target)
    recorded = store.insert_outcome(
        conn,
        {
            "subject_kind": kind,
            "subject_ref": ref,
            "target_id": target_row["id"],
            "endpoint_key": key,
            "outcome_type": outcome,
            "source_type": "execution_task",
            "source_ref": f"task:{task['id']}",
            "evidence_json": {
                "source_ref": task["summary"] or label,
                "note": note,
                "channel": task["channel_type"],
                "task_id": task["id"],
            },
            "recorded_at": now,
        },
    )
    task_row = task
    if task["task_status"] != "completed" or recorded is not None:
        task_row = store.complete_task(conn, int(task["id"]), actor, now)
    memory = store.lock_memory(conn, key)
    if recorded is None:
        existing = [
            row
            for row in store.outcome_rows(conn, kind, ref)
            if row["source_ref"] == f"task:{task['id']}" and row["outcome_type"] == outcome
        ]
        memory_row = store.memory_row(conn, key) if memory is not None else None
        return task_row, existing[0], memory_row, False
    updated = apply_outcome(
        memory,
        outcome,
        endpoint_key=key,
        now=now,
        role_type=target.role_type,
        asset_class=asset_class,
        organization_key=target.organization_key,
        channel_type=task["channel_type"],
        channel_value=_channel_value(target, str(task["channel_type"])),
    )
    return task_row, recorded, store.save_memory(conn, updated), True


def _channel_value(target: EscalationTarget, channel: str) -> str:
    return {
        "email": target.email,
        "phone": target.phone,
        "social": target.social_handle,
        "website": target.contact_url or target.website,
    }.get(channel, "")


def record_case_outcome(
    engine: sa.Engine,
    case_id: str,
    raw_task_id: str,
    request: ExecutionOutcomeRequest,
    user: AuthenticatedUser,
) -> ExecutionOutcomeResponse:
    """``POST /cases/{id}/execution-tasks/{task_id}/outcome`` (see the module docstring).

    Raises
    ------
    CaseServiceError
        400 invalid task id, unsupported outcome type, a note over 4000 characters; 404 case,
        task or task target not found.
    """
    task_id = parse_task_id(raw_task_id)
    outcome = normalize_outcome_type(request.outcome_type)
    note = _note(request)
    actor = effective_actor(user, request.actor_user_id)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        rows = repo.lock_case_rows(conn, [case_id.strip()])
        case = rows.get(case_id.strip())
        if case is None:
            raise CaseNotFound()
        case_id = case.case_id
        task = store.task_row(conn, "case", case_id, task_id, lock=True)
        if task is None:
            raise NotFound(MSG_TASK_NOT_FOUND)
        et = t.case_escalation_targets
        target_row = (
            conn.execute(sa.select(et).where(et.c.id == task["target_id"], et.c.case_id == case_id))
            .mappings()
            .first()
        )
        if target_row is None:
            raise NotFound(MSG_TASK_TARGET_NOT_FOUND)
        profile = store.profile_row(conn, "case", case_id)
        task_row, outcome_row, memory_row, new = apply_task_outcome(
            conn,
            kind="case",
            ref=case_id,
            task=task,
            target_row=target_row,
            outcome=outcome,
            note=note,
            actor=actor,
            asset_class=str(profile["asset_class"]) if profile is not None else "",
            now=now,
        )
        if new:
            _signal_and_audit(conn, case_id, task_row, target_row, outcome, note, actor)
            sync_case(conn, case_id, now=now)
        task_row = store.task_row(conn, "case", case_id, task_id) or task_row
    return ExecutionOutcomeResponse(
        task=task_json(task_row),
        outcome=outcome_json(outcome_row),
        endpoint_memory=memory_json(memory_row) if memory_row is not None else None,
    )


def _signal_and_audit(
    conn: sa.Connection,
    case_id: str,
    task: Mapping[Any, Any],
    target_row: Mapping[Any, Any],
    outcome: str,
    note: str,
    actor: str,
) -> None:
    label = target_label(EscalationTarget.from_record(target_row))
    anchor = conn.execute(
        sa.select(t.cases.c.anchor_report_seq).where(t.cases.c.case_id == case_id)
    ).scalar_one()
    store.insert_signal(
        conn,
        case_id,
        summary=outcome_summary(outcome, label, note),
        linked_report_seq=anchor,
        metadata={
            "task_id": task["id"],
            "target_id": target_row["id"],
            "outcome_type": outcome,
            "note": note,
            "channel_type": task["channel_type"],
            "execution_mode": task["execution_mode"],
        },
    )
    repo.insert_audit(
        conn,
        case_id,
        "execution_task_outcome_recorded",
        actor,
        {
            "task_id": task["id"],
            "target_id": target_row["id"],
            "outcome_type": outcome,
            "note": note,
        },
    )


def record_delivery_outcomes(
    conn: sa.Connection, case_id: str, deliveries: Sequence[Mapping[Any, Any]]
) -> int:
    """Turn settled deliveries into outcomes and endpoint memory, once per delivery.

    A delivered recipient records ``sent`` (a success; it never shortens a cooldown), a
    bounced or invalid address ``bounced``, an opted-out one ``opted_out``; pending,
    unknown and transiently failed deliveries record nothing (yet).

    Returns
    -------
    int
        Number of outcomes recorded now.
    """
    now = datetime.now(UTC)
    profile = store.profile_row(conn, "case", case_id)
    asset = str(profile["asset_class"]) if profile is not None else ""
    count = 0
    for row in sorted(deliveries, key=lambda d: str(d["recipient_email"])):
        kind = delivery_outcome(str(row["delivery_status"]))
        email = str(row["recipient_email"] or "").strip().lower()
        if kind is None or not email:
            continue
        key = f"email:{email}"
        recorded = store.insert_outcome(
            conn,
            {
                "subject_kind": "case",
                "subject_ref": case_id,
                "target_id": row["target_id"],
                "endpoint_key": key,
                "outcome_type": kind,
                "source_type": "case_email_delivery",
                "source_ref": f"delivery:{row['id']}",
                "evidence_json": {
                    "delivery_id": row["id"],
                    "delivery_status": row["delivery_status"],
                    "provider": row["provider"],
                    "error": row["error_message"] or "",
                },
                "recorded_at": now,
            },
        )
        if recorded is None:
            continue
        memory = store.lock_memory(conn, key)
        store.save_memory(
            conn,
            apply_outcome(
                memory,
                kind,
                endpoint_key=key,
                now=now,
                asset_class=asset,
                channel_type="email",
                channel_value=email,
            ),
        )
        count += 1
    return count
