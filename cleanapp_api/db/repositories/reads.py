"""Case reads: the queries of the case detail and of the cases holding a report.

Each query's rows get their wire form from :mod:`cleanapp_api.mappers`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories import routing
from cleanapp_api.mappers import (
    action_from_row,
    audit_from_row,
    case_from_row,
    cluster_from_row,
    delivery_from_row,
    link_from_row,
    observation_json,
    outcome_json,
    plan_json,
    profile_json,
    report_case_from_row,
    signal_from_row,
    target_from_row,
    task_json,
)
from cleanapp_api.schemas import (
    AuditEvent,
    CaseDetail,
    CaseReportLink,
    EmailDelivery,
    EscalationAction,
    EscalationTarget,
    ReportCaseSummary,
    ResolutionSignal,
    SavedCluster,
)

__all__ = [
    "case_detail",
    "cases_for_report",
    "routing_fields",
]

# =========================================================================== case reads


def _case_columns() -> list[sa.Column[Any]]:
    skip = {"aggregate_geom", "anchor_geom"}
    return [col for col in t.cases.columns if col.name not in skip]


def _linked_reports(conn: sa.Connection, case_id: str) -> list[CaseReportLink]:
    cr, r, a = t.case_reports, t.reports, t.report_analysis
    # The report's preferred analysis (the language in reports.preferred_language, kept by
    # the store's triggers): the one rule cleanapp_geo.io.read uses too.
    stmt = (
        sa.select(
            cr.c.case_id,
            cr.c.seq,
            r.c.public_id,
            cr.c.link_reason,
            cr.c.confidence,
            cr.c.attached_at,
            sa.func.coalesce(a.c.title, "").label("title"),
            sa.func.coalesce(a.c.summary, "").label("summary"),
            sa.func.coalesce(a.c.classification, "physical").label("classification"),
            sa.func.coalesce(a.c.severity_level, 0.0).label("severity_level"),
            r.c.latitude,
            r.c.longitude,
            r.c.ts,
        )
        .select_from(
            cr.join(r, r.c.seq == cr.c.seq).join(
                a,
                sa.and_(a.c.seq == r.c.seq, a.c.language == r.c.preferred_language),
                isouter=True,
            )
        )
        .where(cr.c.case_id == case_id)
        .order_by(cr.c.attached_at, cr.c.seq)
    )
    return [link_from_row(row) for row in conn.execute(stmt).mappings()]


def _clusters(conn: sa.Connection, case_id: str) -> list[SavedCluster]:
    cc, sc = t.case_clusters, t.saved_clusters
    columns = [col for col in sc.columns if col.name != "geom"]
    stmt = (
        sa.select(*columns, cc.c.match_score, cc.c.match_reason, cc.c.linked_at)
        .select_from(cc.join(sc, sc.c.cluster_id == cc.c.cluster_id))
        .where(cc.c.case_id == case_id)
        .order_by(cc.c.linked_at, cc.c.cluster_id)
    )
    return [cluster_from_row(row) for row in conn.execute(stmt).mappings()]


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
    return [target_from_row(row) for row in conn.execute(stmt).mappings()]


def _case_rows(conn: sa.Connection, table: sa.Table, case_id: str) -> sa.MappingResult:
    """Rows of a case's child table, oldest first (ties by id)."""
    return conn.execute(
        sa.select(table).where(table.c.case_id == case_id).order_by(table.c.created_at, table.c.id)
    ).mappings()


def _actions(conn: sa.Connection, case_id: str) -> list[EscalationAction]:
    return [action_from_row(row) for row in _case_rows(conn, t.case_escalation_actions, case_id)]


def _deliveries(conn: sa.Connection, case_id: str) -> list[EmailDelivery]:
    return [delivery_from_row(row) for row in _case_rows(conn, t.case_email_deliveries, case_id)]


def _signals(conn: sa.Connection, case_id: str) -> list[ResolutionSignal]:
    return [signal_from_row(row) for row in _case_rows(conn, t.case_resolution_signals, case_id)]


def _audit(conn: sa.Connection, case_id: str) -> list[AuditEvent]:
    return [audit_from_row(row) for row in _case_rows(conn, t.case_audit_events, case_id)]


def routing_fields(conn: sa.Connection, case_id: str) -> dict[str, Any]:
    """Return a case's stored contact routing as detail keys (plan, profile may be None)."""
    plan = routing.active_plan(conn, case_id)
    profile = routing.profile_row(conn, "case", case_id)
    return {
        "contact_observations": [
            observation_json(row) for row in routing.observation_rows(conn, case_id)
        ],
        "notify_plan": (
            plan_json(plan, routing.plan_items(conn, int(plan["id"]))) if plan is not None else None
        ),
        "routing_profile": profile_json(profile) if profile is not None else None,
        "execution_tasks": [task_json(row) for row in routing.task_rows(conn, "case", case_id)],
        "notify_outcomes": [
            outcome_json(row) for row in routing.outcome_rows(conn, "case", case_id)
        ],
    }


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
        case=case_from_row(row),
        linked_reports=_linked_reports(conn, case_id),
        clusters=_clusters(conn, case_id),
        escalation_targets=_targets(conn, case_id),
        **routing_fields(conn, case_id),
        escalation_actions=_actions(conn, case_id),
        email_deliveries=_deliveries(conn, case_id),
        resolution_signals=_signals(conn, case_id),
        audit_events=_audit(conn, case_id),
    )


def cases_for_report(conn: sa.Connection, seq: int) -> list[ReportCaseSummary]:
    """Cases linked to a report, most recently updated first.

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
    return [report_case_from_row(row) for row in conn.execute(stmt).mappings()]
