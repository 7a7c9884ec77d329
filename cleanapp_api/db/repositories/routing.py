"""Contact routing in the store: profiles, endpoint memory, observations, plans, tasks, outcomes.

The service (:mod:`cleanapp_api.services.routing`) computes with :mod:`cleanapp_geo.routing`
and writes through these functions inside its transaction, holding the case row's lock
(``FOR UPDATE``), so two syncs of one case run one after the other; the partial unique
index on ``case_notify_plans`` backs that up (one active plan per case).

No churn (upstream rewrote every row on every sync, reference §13 #23): observations are
upserted by (case, channel, value), a plan is replaced (superseded, next ``plan_version``)
only when it changed, a pending task is updated in place and a completed task is kept and
never re-created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cleanapp_api.db import direct
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import ARRAY_TEXT
from cleanapp_geo.routing import (
    ContactObservation,
    EndpointMemory,
    ExecutionTaskSpec,
    NotifyPlan,
    RoutingProfile,
)

__all__ = [
    "active_plan",
    "all_authority_rules",
    "authority_rules",
    "case_routing_inputs",
    "case_target_rows",
    "cases_routing_inputs",
    "complete_task",
    "insert_outcome",
    "insert_signal",
    "lock_memory",
    "memories",
    "memory_row",
    "observation_rows",
    "outcome_rows",
    "plan_items",
    "profile_row",
    "replace_plan",
    "replace_report_targets",
    "report_target_rows",
    "save_memory",
    "sync_tasks",
    "task_row",
    "task_rows",
    "update_case_scores",
    "update_cases_scores",
    "update_target_routing",
    "upsert_observations",
    "upsert_profile",
    "upsert_profiles",
]

_MEMORY_FIELDS: Final = tuple(EndpointMemory.__dataclass_fields__)
_ROUTING_COLUMNS: Final = (
    "role_type", "decision_scope", "endpoint_key", "organization_key", "attribution_class",
    "verification_level", "confidence_score", "site_match_score", "source_quality_score",
    "role_fit_score", "channel_quality_score", "outcome_memory_score", "actionability_score",
    "notify_tier", "send_eligibility", "execution_mode", "reason_selected", "cooldown_until",
)  # fmt: skip
#: Task order: pending first, then in progress, then the rest; then wave, id.
_TASK_ORDER: Final = sa.case(
    (t.notify_execution_tasks.c.task_status == "pending", 0),
    (t.notify_execution_tasks.c.task_status == "in_progress", 1),
    else_=2,
)


# --------------------------------------------------------------------------- inputs


def case_routing_inputs(conn: sa.Connection, case_id: str) -> dict[str, Any]:
    """Return what a case's routing reads: its row, its reports' texts, severity, reporters.

    Returns
    -------
    dict
        ``case`` (row mapping) and ``reports`` (rows with ``title``, ``summary``,
        ``severity_level``, ``confidence`` (the link's) and ``reporter_id``).
    """
    return cases_routing_inputs(conn, [case_id])[case_id]


def cases_routing_inputs(
    conn: sa.Connection, case_ids: Sequence[str], *, lock: bool = False
) -> dict[str, dict[str, Any]]:
    """:func:`case_routing_inputs` of many cases in two statements; absent cases are left out.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the caller's transaction.
    case_ids : sequence of str
        The cases.
    lock : bool, default False
        Lock the case rows (``FOR UPDATE``, in ``case_id`` order, as
        :func:`cleanapp_api.db.repositories.lock_case_rows` does) while reading them.

    Returns
    -------
    dict of str to dict
        ``case_id`` → ``{"case": ..., "reports": [...], "routed": bool}``: ``case`` and
        ``reports`` as in :func:`case_routing_inputs`; ``routed`` whether the case has
        anything routing wrote or routes (a target, an observation, an active plan or an
        execution task). A case that is not routed has nothing a sync would write but its
        scores and profile.
    """
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    stmt = _CASES_STMT_LOCKED if lock else _CASES_STMT
    out: dict[str, dict[str, Any]] = {}
    for case in direct.execute(conn, stmt, {"routing_ids": ids}).mappings():
        row = {k: case[k] for k in case if k != "routed"}
        out[case["case_id"]] = {"case": row, "reports": [], "routed": bool(case["routed"])}
    if out:
        reports = direct.execute(conn, _REPORTS_STMT, {"routing_ids": sorted(out)}).mappings()
        for report in reports:
            out[report["case_id"]]["reports"].append(report)
    return out


def _cases_stmt() -> sa.Select[Any]:
    c, et, o, p, x = (
        t.cases, t.case_escalation_targets, t.case_contact_observations, t.case_notify_plans,
        t.notify_execution_tasks,
    )  # fmt: skip
    routed = sa.or_(
        sa.exists().where(et.c.case_id == c.c.case_id),
        sa.exists().where(o.c.case_id == c.c.case_id),
        sa.exists().where(p.c.case_id == c.c.case_id, p.c.status == "active"),
        sa.exists().where(x.c.subject_kind == "case", x.c.subject_ref == c.c.case_id),
    )
    return (
        sa.select(
            c.c.case_id, c.c.title, c.c.summary, c.c.uncertainty_notes, c.c.classification,
            c.c.severity_score, c.c.urgency_score, routed.label("routed"),
        )
        .where(c.c.case_id == sa.any_(sa.bindparam("routing_ids", type_=ARRAY_TEXT)))
        .order_by(c.c.case_id)
    )  # fmt: skip


def _reports_stmt() -> sa.Select[Any]:
    cr, r, a = t.case_reports, t.reports, t.report_analysis
    return (
        sa.select(
            cr.c.case_id,
            cr.c.seq,
            cr.c.confidence,
            r.c.reporter_id,
            sa.func.coalesce(a.c.title, "").label("title"),
            sa.func.coalesce(a.c.summary, "").label("summary"),
            sa.func.coalesce(a.c.severity_level, 0.0).label("severity_level"),
        )
        .select_from(
            cr.join(r, r.c.seq == cr.c.seq).join(
                a,
                sa.and_(a.c.seq == r.c.seq, a.c.language == r.c.preferred_language),
                isouter=True,
            )
        )
        .where(cr.c.case_id == sa.any_(sa.bindparam("routing_ids", type_=ARRAY_TEXT)))
        .order_by(cr.c.case_id, cr.c.seq)
    )


# Built once: a sync runs in every write of a case, and building a select costs more than
# running these small ones.
_CASES_STMT: Final = _cases_stmt()
_CASES_STMT_LOCKED: Final = _CASES_STMT.with_for_update(of=t.cases)
_REPORTS_STMT: Final = _reports_stmt()


def update_case_scores(
    conn: sa.Connection, case_id: str, *, confidence: float, exposure: float
) -> None:
    """Store a case's confidence and exposure (derived from evidence by the library)."""
    update_cases_scores(conn, {case_id: (confidence, exposure)})


def update_cases_scores(conn: sa.Connection, scores: Mapping[str, tuple[float, float]]) -> None:
    """Store many cases' ``(confidence, exposure)`` in one statement (``case_id`` order)."""
    if not scores:
        return
    direct.executemany(
        conn,
        _SCORES_STMT,
        [
            {"s_case_id": case_id, "s_confidence": float(conf), "s_exposure": float(exp)}
            for case_id, (conf, exp) in sorted(scores.items())
        ],
    )


_SCORES_STMT: Final = (
    sa.update(t.cases)
    .where(t.cases.c.case_id == sa.bindparam("s_case_id"))
    .values(
        confidence_score=sa.bindparam("s_confidence"),
        exposure_score=sa.bindparam("s_exposure"),
    )
)


def update_target_routing(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[tuple[Sequence[int], Mapping[str, Any]]],
    stored: Mapping[int, Mapping[Any, Any]] | None = None,
) -> int:
    """Write the routing columns onto stored target rows (every row of one endpoint alike).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the sync's transaction.
    table : sqlalchemy.Table
        ``case_escalation_targets`` or ``report_escalation_targets``.
    rows : sequence of (ids, values)
        The stored ids of one endpoint and its routed column values.
    stored : mapping of int to row, optional
        The stored rows by id: a row whose routing columns already hold the values is not
        written (a sync that changes nothing writes nothing).

    Returns
    -------
    int
        Number of rows written.
    """
    changed: list[dict[str, Any]] = []
    for ids, values in rows:
        update = {name: values[name] for name in _ROUTING_COLUMNS if name in values}
        for row_id in ids:
            old = (stored or {}).get(row_id)
            if old is None or any(old[k] != v for k, v in update.items()):
                changed.append({"_id": row_id, **update})
    if not changed:
        return 0
    # One executemany per set of columns (every routed row has all of them: one statement).
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in changed:
        groups.setdefault(tuple(sorted(row)), []).append({f"v{k}": v for k, v in row.items()})
    for names, group in groups.items():
        conn.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("v_id"))
            .values({k: sa.bindparam(f"v{k}") for k in names if k != "_id"}),
            group,
        )
    return len(changed)


# --------------------------------------------------------------------------- profiles


_PROFILE_COLUMNS: Final = (
    "classification", "defect_class", "defect_mode", "asset_class", "jurisdiction_key",
    "exposure_mode", "severity_band", "urgency_band",
)  # fmt: skip


def upsert_profile(
    conn: sa.Connection, kind: str, ref: str, profile: RoutingProfile, now: datetime
) -> None:
    """Insert or replace a subject's routing profile."""
    upsert_profiles(conn, kind, {ref: profile}, now)


def upsert_profiles(
    conn: sa.Connection, kind: str, profiles: Mapping[str, RoutingProfile], now: datetime
) -> None:
    """Insert or replace the routing profiles of many subjects of one kind (one executemany)."""
    if not profiles:
        return
    rows = []
    for ref, profile in sorted(profiles.items()):
        record = profile.to_record()
        rows.append(
            {
                "subject_kind": kind,
                "subject_ref": ref,
                **{name: record[name] for name in _PROFILE_COLUMNS},
                "context_json": profile.context(),
                "refreshed_at": now,
            }
        )
    direct.executemany(conn, _PROFILE_STMT, rows)


def _profile_stmt() -> Any:
    p = t.subject_routing_profiles
    names = ("subject_kind", "subject_ref", *_PROFILE_COLUMNS, "context_json", "refreshed_at")
    stmt = pg_insert(p).values({name: sa.bindparam(name, type_=p.c[name].type) for name in names})
    return stmt.on_conflict_do_update(
        index_elements=[p.c.subject_kind, p.c.subject_ref],
        set_={k: stmt.excluded[k] for k in names if k not in ("subject_kind", "subject_ref")},
    )


_PROFILE_STMT: Final = _profile_stmt()


def profile_row(conn: sa.Connection, kind: str, ref: str) -> sa.RowMapping | None:
    """Return a subject's stored routing profile, or None."""
    p = t.subject_routing_profiles
    return (
        conn.execute(sa.select(p).where(p.c.subject_kind == kind, p.c.subject_ref == ref))
        .mappings()
        .first()
    )


# --------------------------------------------------------------------------- endpoint memory


def _memory(row: Mapping[Any, Any]) -> EndpointMemory:
    return EndpointMemory(**{name: row[name] for name in _MEMORY_FIELDS})


def memories(conn: sa.Connection, keys: Iterable[str]) -> dict[str, EndpointMemory]:
    """Return the stored memory of the endpoints that have one (endpoint key → memory)."""
    m = t.contact_endpoint_memory
    wanted = sorted(set(keys) - {""})
    if not wanted:
        return {}
    rows = conn.execute(sa.select(m).where(m.c.endpoint_key.in_(wanted))).mappings()
    return {row["endpoint_key"]: _memory(row) for row in rows}


def lock_memory(conn: sa.Connection, key: str) -> EndpointMemory | None:
    """Lock an endpoint's memory row (``FOR UPDATE``) and return it, or None when absent.

    Concurrent outcomes of one endpoint serialise on this lock: an absent row is created
    first (``ON CONFLICT DO NOTHING``) so there is always a row to lock.
    """
    m = t.contact_endpoint_memory
    conn.execute(pg_insert(m).values(endpoint_key=key).on_conflict_do_nothing())
    row = (
        conn.execute(sa.select(m).where(m.c.endpoint_key == key).with_for_update()).mappings().one()
    )
    if not row["last_result"] and row["last_contacted_at"] is None:
        return None
    return _memory(row)


def save_memory(conn: sa.Connection, memory: EndpointMemory) -> sa.RowMapping:
    """Write an endpoint's memory (the row :func:`lock_memory` locked) and return the row."""
    m = t.contact_endpoint_memory
    values = {name: getattr(memory, name) for name in _MEMORY_FIELDS}
    stmt = pg_insert(m).values(**values, updated_at=sa.func.now())
    stmt = stmt.on_conflict_do_update(
        index_elements=[m.c.endpoint_key],
        set_={k: stmt.excluded[k] for k in (*values, "updated_at") if k != "endpoint_key"},
    )
    return conn.execute(stmt.returning(*m.c)).mappings().one()


# --------------------------------------------------------------------------- observations


def upsert_observations(
    conn: sa.Connection,
    case_id: str,
    observations: Sequence[ContactObservation],
    target_ids: Mapping[str, int],
    now: datetime,
) -> dict[str, int]:
    """Make the case's observations these (upsert by channel and value; others deleted).

    An observation whose stored row already holds its values is not written; a value seen
    again keeps its first discovery time.

    Returns
    -------
    dict of str to int
        Observation key (``<channel>:<value>``, lower case) → id.
    """
    o = t.case_contact_observations
    existing = {
        (row["channel_type"], row["channel_value"]): row
        for row in conn.execute(sa.select(o).where(o.c.case_id == case_id)).mappings()
    }
    ids: dict[str, int] = {}
    writes: list[dict[str, Any]] = []
    for obs in observations:
        record = {**obs.to_record(), "target_id": target_ids.get(obs.endpoint_key)}
        old = existing.get((obs.channel_type, obs.channel_value))
        if old is not None and all(old[k] == v for k, v in record.items()):
            ids[obs.key] = int(old["id"])
            continue
        writes.append({**record, "case_id": case_id, "discovered_at": now})
    if writes:
        stmt = pg_insert(o).values(writes)
        stmt = stmt.on_conflict_do_update(
            index_elements=[o.c.case_id, o.c.channel_type, o.c.channel_value],
            set_={
                k: stmt.excluded[k]
                for k in writes[0]
                if k not in ("case_id", "channel_type", "channel_value", "discovered_at")
            },
        )
        for row in conn.execute(stmt.returning(o.c.id, o.c.channel_type, o.c.channel_value)):
            ids[f"{row.channel_type}:{row.channel_value}".lower()] = int(row.id)
    stale = [int(r["id"]) for r in existing.values() if int(r["id"]) not in set(ids.values())]
    if stale:
        conn.execute(sa.delete(o).where(o.c.id.in_(stale)))
    return ids


def observation_rows(conn: sa.Connection, case_id: str) -> list[sa.RowMapping]:
    """Return a case's observations: confidence descending, then discovery, then id."""
    o = t.case_contact_observations
    return list(
        conn.execute(
            sa.select(o)
            .where(o.c.case_id == case_id)
            .order_by(o.c.confidence_score.desc(), o.c.discovered_at, o.c.id)
        )
        .mappings()
        .all()
    )


# --------------------------------------------------------------------------- plans


def active_plan(conn: sa.Connection, case_id: str) -> sa.RowMapping | None:
    """Return the case's active plan row, or None."""
    p = t.case_notify_plans
    return (
        conn.execute(sa.select(p).where(p.c.case_id == case_id, p.c.status == "active"))
        .mappings()
        .first()
    )


def plan_items(conn: sa.Connection, plan_id: int) -> list[sa.RowMapping]:
    """Return a plan's items: wave, rank, actionability descending, id."""
    i = t.case_notify_plan_items
    return list(
        conn.execute(
            sa.select(i)
            .where(i.c.plan_id == plan_id)
            .order_by(i.c.wave_number, i.c.priority_rank, i.c.actionability_score.desc(), i.c.id)
        )
        .mappings()
        .all()
    )


def _signature(items: Iterable[Mapping[Any, Any]]) -> tuple[tuple[Any, ...], ...]:
    return tuple(
        (i["endpoint_key"], i["wave_number"], i["priority_rank"], i["send_eligibility"],
         i["selected"], i["recipient_role"])
        for i in items
    )  # fmt: skip


def replace_plan(
    conn: sa.Connection,
    case_id: str,
    plan: NotifyPlan,
    *,
    target_ids: Mapping[str, int],
    observation_ids: Mapping[str, int],
    observation_keys: Mapping[str, str],
) -> int:
    """Make ``plan`` the case's active plan; return its id.

    An unchanged plan (same items, waves, ranks, eligibility, selection, hazard mode and
    summary) keeps its row and version; a changed one supersedes the active plan and is
    inserted with the next ``plan_version``. The caller holds the case row's lock.
    """
    p, i = t.case_notify_plans, t.case_notify_plan_items
    current = active_plan(conn, case_id)
    new_items = [item.to_record() for item in plan.items]
    if current is not None and (
        current["hazard_mode"] == plan.hazard_mode
        and current["summary"] == plan.summary
        and _signature(plan_items(conn, int(current["id"]))) == _signature(new_items)
    ):
        return int(current["id"])
    version = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(p.c.plan_version), 0)).where(p.c.case_id == case_id)
    ).scalar_one()
    if current is not None:
        conn.execute(
            sa.update(p)
            .where(p.c.id == current["id"])
            .values(status="superseded", updated_at=sa.func.now())
        )
    plan_id = int(
        conn.execute(
            sa.insert(p)
            .values(
                case_id=case_id,
                plan_version=int(version) + 1,
                hazard_mode=plan.hazard_mode,
                status="active",
                summary=plan.summary,
            )
            .returning(p.c.id)
        ).scalar_one()
    )
    if new_items:
        conn.execute(
            sa.insert(i),
            [
                {
                    "plan_id": plan_id,
                    "target_id": target_ids.get(item["endpoint_key"]),
                    "observation_id": observation_ids.get(
                        observation_keys.get(item["endpoint_key"], "")
                    ),
                    **{k: item[k] for k in _ITEM_COLUMNS},
                }
                for item in new_items
            ],
        )
    return plan_id


_ITEM_COLUMNS: Final = (
    "endpoint_key", "wave_number", "priority_rank", "role_type", "decision_scope", "channel",
    "actionability_score", "send_eligibility", "execution_mode", "recipient_role",
    "reason_selected", "selected",
)  # fmt: skip


# --------------------------------------------------------------------------- tasks


def sync_tasks(
    conn: sa.Connection,
    kind: str,
    ref: str,
    specs: Sequence[ExecutionTaskSpec],
    target_ids: Mapping[str, int],
) -> None:
    """Make the subject's open tasks these specs.

    A pending or in-progress task of an endpoint still wanted is updated in place; one no
    longer wanted is deleted if pending; an endpoint whose task is completed gets no new
    task (upstream re-created it, reference §13 #23).
    """
    x = t.notify_execution_tasks
    existing = conn.execute(
        sa.select(x).where(x.c.subject_kind == kind, x.c.subject_ref == ref)
    ).all()
    open_rows = {row.endpoint_key: row for row in existing if row.task_status != "completed"}
    done = {row.endpoint_key for row in existing if row.task_status == "completed"}
    wanted = {spec.endpoint_key for spec in specs}
    stale = [
        row.id
        for row in existing
        if row.task_status == "pending" and row.endpoint_key not in wanted
    ]
    if stale:
        conn.execute(sa.delete(x).where(x.c.id.in_(stale)))
    for spec in specs:
        values = {
            "target_id": target_ids.get(spec.endpoint_key),
            "wave_number": spec.wave_number,
            "role_type": spec.role_type,
            "channel_type": spec.channel_type,
            "execution_mode": spec.execution_mode,
            "summary": spec.summary,
            "payload_json": {"target_id": target_ids.get(spec.endpoint_key), **spec.payload},
        }
        current = open_rows.get(spec.endpoint_key)
        if current is not None:
            if any(getattr(current, k) != v for k, v in values.items()):
                conn.execute(
                    sa.update(x)
                    .where(x.c.id == current.id)
                    .values(**values, updated_at=sa.func.now())
                )
        elif spec.endpoint_key not in done:
            conn.execute(
                sa.insert(x).values(
                    subject_kind=kind, subject_ref=ref, endpoint_key=spec.endpoint_key, **values
                )
            )


def task_rows(conn: sa.Connection, kind: str, ref: str) -> list[sa.RowMapping]:
    """Return a subject's tasks: pending, in progress, the rest; then wave, id."""
    x = t.notify_execution_tasks
    return list(
        conn.execute(
            sa.select(x)
            .where(x.c.subject_kind == kind, x.c.subject_ref == ref)
            .order_by(_TASK_ORDER, x.c.wave_number, x.c.id)
        )
        .mappings()
        .all()
    )


def task_row(
    conn: sa.Connection, kind: str, ref: str, task_id: int, *, lock: bool = False
) -> sa.RowMapping | None:
    """Return one task of a subject (locked ``FOR UPDATE`` when ``lock``), or None."""
    x = t.notify_execution_tasks
    stmt = sa.select(x).where(x.c.id == task_id, x.c.subject_kind == kind, x.c.subject_ref == ref)
    if lock:
        stmt = stmt.with_for_update()
    return conn.execute(stmt).mappings().first()


def complete_task(conn: sa.Connection, task_id: int, actor: str, now: datetime) -> sa.RowMapping:
    """Mark a task completed by ``actor`` at ``now``; return the row."""
    x = t.notify_execution_tasks
    return (
        conn.execute(
            sa.update(x)
            .where(x.c.id == task_id)
            .values(
                task_status="completed", assigned_user_id=actor, completed_at=now, updated_at=now
            )
            .returning(*x.c)
        )
        .mappings()
        .one()
    )


# --------------------------------------------------------------------------- outcomes


def insert_outcome(conn: sa.Connection, values: Mapping[str, Any]) -> sa.RowMapping | None:
    """Record an outcome once per (source, outcome, endpoint); None when already recorded."""
    n = t.notify_outcomes
    stmt = pg_insert(n).values(**values).on_conflict_do_nothing().returning(*n.c)
    return conn.execute(stmt).mappings().first()


def outcome_rows(conn: sa.Connection, kind: str, ref: str) -> list[sa.RowMapping]:
    """Return a subject's outcomes, most recent first."""
    n = t.notify_outcomes
    return list(
        conn.execute(
            sa.select(n)
            .where(n.c.subject_kind == kind, n.c.subject_ref == ref)
            .order_by(n.c.recorded_at.desc(), n.c.id.desc())
        )
        .mappings()
        .all()
    )


# --------------------------------------------------------------------------- report targets


def report_target_rows(conn: sa.Connection, seq: int) -> list[sa.RowMapping]:
    """Return a solo report's stored targets: wave, actionability descending, confidence, id."""
    rt = t.report_escalation_targets
    return list(
        conn.execute(
            sa.select(rt)
            .where(rt.c.report_seq == seq)
            .order_by(
                rt.c.notify_tier,
                rt.c.actionability_score.desc(),
                rt.c.confidence_score.desc(),
                rt.c.id,
            )
        )
        .mappings()
        .all()
    )


def replace_report_targets(
    conn: sa.Connection, seq: int, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Make a report's targets these (upsert by endpoint key, keeping ids; others deleted)."""
    rt = t.report_escalation_targets
    keys = [str(row["endpoint_key"]) for row in rows]
    delete = sa.delete(rt).where(rt.c.report_seq == seq)
    if keys:
        delete = delete.where(rt.c.endpoint_key.not_in(keys))
    conn.execute(delete)
    columns = set(rt.c.keys()) - {"id", "report_seq", "created_at", "updated_at"}
    for row in rows:
        values = {k: v for k, v in row.items() if k in columns}
        stmt = pg_insert(rt).values(report_seq=seq, **values)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[rt.c.report_seq, rt.c.endpoint_key],
                set_={k: stmt.excluded[k] for k in values} | {"updated_at": sa.func.now()},
            )
        )


def memory_row(conn: sa.Connection, key: str) -> sa.RowMapping | None:
    """Return an endpoint's stored memory row, or None."""
    m = t.contact_endpoint_memory
    return conn.execute(sa.select(m).where(m.c.endpoint_key == key)).mappings().first()


def insert_signal(
    conn: sa.Connection,
    case_id: str,
    *,
    summary: str,
    linked_report_seq: int | None,
    metadata: Mapping[str, Any],
) -> None:
    """Write a resolution signal of an execution task's outcome."""
    conn.execute(
        sa.insert(t.case_resolution_signals).values(
            case_id=case_id,
            source_type="notify_execution_task",
            summary=summary,
            linked_report_seq=linked_report_seq,
            metadata_json=dict(metadata),
        )
    )


def authority_rules(
    conn: sa.Connection, *, defect_class: str, asset_class: str, jurisdiction_key: str = ""
) -> list[sa.RowMapping]:
    """Return the authority directory rules for a defect and an asset (reference §3.10).

    Rows whose defect class is ``defect_class`` or ``general_defect`` and whose asset class
    is ``asset_class`` or ``general_site``, of any jurisdiction (``*``) or of one the
    subject's ``jurisdiction_key`` starts with (``country:ch`` matches
    ``country:ch/state:zuerich``); jurisdiction-specific rows first, then priority (lower is
    stronger), then id.
    """
    r = t.authority_directory_rules
    key = jurisdiction_key.strip().lower()
    prefixes = ["*"] + [key[: m.start()] for m in re.finditer(r"/|$", key) if m.start() > 0]
    stmt = (
        sa.select(r)
        .where(
            r.c.defect_class.in_([defect_class, "general_defect"]),
            r.c.asset_class.in_([asset_class, "general_site"]),
            r.c.jurisdiction_key.in_(sorted(set(prefixes))),
        )
        .order_by((r.c.jurisdiction_key == "*").asc(), r.c.priority, r.c.id)
    )
    return list(conn.execute(stmt).mappings().all())


def all_authority_rules(conn: sa.Connection) -> list[sa.RowMapping]:
    """Return every authority directory rule, oldest first.

    Contact discovery matches the jurisdiction itself: it learns it from the case's location.
    """
    r = t.authority_directory_rules
    return list(conn.execute(sa.select(r).order_by(r.c.id)).mappings().all())


def case_target_rows(conn: sa.Connection, case_id: str) -> list[sa.RowMapping]:
    """Return a case's stored targets (any order)."""
    et = t.case_escalation_targets
    stmt = sa.select(et).where(et.c.case_id == case_id).order_by(et.c.id)
    return list(conn.execute(stmt).mappings().all())
