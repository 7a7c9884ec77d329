"""Case writes inside the caller's transaction: cases, links, targets, audit, aggregates, merges."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_api.db import direct
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import (
    ARRAY_TEXT,
    jsonb,
)
from cleanapp_api.db.repositories.suggestions import move_suggestions
from cleanapp_geo.cases import anchor_index, case_trend, case_urgency
from cleanapp_geo.footprint import case_footprint
from cleanapp_geo.targets import EscalationTarget as TargetRecord
from cleanapp_geo.targets import target_key as one_target_key

__all__ = [
    "find_snapshot",
    "insert_audit",
    "insert_case",
    "insert_saved_cluster",
    "insert_targets",
    "link_cluster",
    "link_reports",
    "merge_case_into",
    "recompute_aggregates",
    "recompute_many",
    "target_key",
    "update_status",
]

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
    row = {k: (jsonb(v) if k.endswith("_json") else v) for k, v in values.items()}
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
    row = {k: (jsonb(v) if k.endswith("_json") else v) for k, v in values.items()}
    geometry = row.pop("geometry", None)
    if geometry is not None:
        row["geom"] = sa.func.ST_GeomFromWKB(
            sa.bindparam("geom_wkb", shapely.to_wkb(geometry, output_dimension=2), sa.LargeBinary),
            4326,
        )
    conn.execute(sa.insert(t.saved_clusters).values(**row))


def find_snapshot(conn: sa.Connection, fingerprint: str) -> str | None:
    """Return the oldest stored snapshot with this fingerprint (None when none or "").

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    fingerprint : str
        :func:`cleanapp_geo.cases.snapshot_fingerprint` of a snapshot.

    Returns
    -------
    str or None
        Its ``cluster_id``.
    """
    if not fingerprint:
        return None
    sc = t.saved_clusters
    return conn.execute(
        sa.select(sc.c.cluster_id)
        .where(sc.c.cluster_fingerprint == fingerprint)
        .order_by(sc.c.created_at, sc.c.cluster_id)
        .limit(1)
    ).scalar()


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
        ``confidence`` if it is higher (attach: upstream overwrote the reason).
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
        See ``case_audit_events``.
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
            payload_json=jsonb(payload),
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


def recompute_aggregates(conn: sa.Connection, case_id: str) -> None:
    """Recompute a case's aggregates from its links.

    Sets ``cluster_count``, ``last_cluster_at``, ``aggregate_geometry_json`` (a
    FeatureCollection of the snapshots' geometries, else of the case's own, plus the
    buffered hull of the linked reports whenever one lies outside them:
    :func:`cleanapp_geo.footprint.case_footprint`), ``aggregate_bbox_json``,
    ``aggregate_geom`` (their union, for the GiST lookup; it covers every linked report),
    ``linked_report_count``, the anchor (:func:`cleanapp_geo.cases.anchor_index`),
    ``first_seen_at``/``last_seen_at``, ``severity_score = criticality_score`` (max
    severity), ``urgency_score`` (:func:`cleanapp_geo.cases.case_urgency`), ``trend_score``
    (:func:`cleanapp_geo.cases.case_trend`) and ``updated_at``. Severity of a report is its
    preferred analysis's (``reports.preferred_language``, the rule of
    :mod:`cleanapp_geo.io.read`), else 0. ``confidence_score`` and
    ``exposure_score`` are left alone.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    case_id : str
        The case.
    """
    recompute_many(conn, [case_id])


def _bind_type(column: sa.Column[Any]) -> Any:
    """Return the column's type; JSONB binds None as SQL NULL (not JSON ``null``)."""
    if isinstance(column.type, pg.JSONB):
        return pg.JSONB(none_as_null=True)
    return column.type


def recompute_many(conn: sa.Connection, case_ids: Sequence[str]) -> None:
    """:func:`recompute_aggregates` of many cases in three statements (a batch's links).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction.
    case_ids : sequence of str
        The cases.
    """
    ids_list = sorted(set(case_ids))
    if not ids_list:
        return
    q = _recompute_statements()
    ids = {"recompute_ids": ids_list}
    snapshots: dict[str, list[Any]] = {k: [] for k in ids_list}
    own: dict[str, Any] = {}
    for case_id, geometry_json, cluster_id, snapshot_json, linked_at in direct.execute(
        conn, q.cases, ids
    ):
        own[case_id] = geometry_json
        if cluster_id is not None:  # the outer join's row of a case without snapshots
            snapshots[case_id].append((snapshot_json, linked_at))
    rows: dict[str, list[Any]] = {k: [] for k in ids_list}
    for row in direct.execute(conn, q.linked, ids):
        rows[row.case_id].append(row)
    updates = []
    for case_id in ids_list:
        if case_id not in own:
            continue
        cluster_count = len(snapshots[case_id])
        last_cluster_at = max((at for _, at in snapshots[case_id]), default=None)
        geometries = [g for g, _ in snapshots[case_id] if g]
        if not geometries:
            geometries = [own[case_id]] if own[case_id] else []
        linked_rows = rows[case_id]
        best = anchor_index(
            [x.severity for x in linked_rows], [x.ts for x in linked_rows],
            [x.seq for x in linked_rows],
        )  # fmt: skip
        anchor = None if best is None else linked_rows[best]
        footprint = case_footprint(
            geometries, [x.longitude for x in linked_rows], [x.latitude for x in linked_rows]
        )
        stat = _linked_stats(linked_rows)
        n = 0 if stat is None else stat.n
        max_severity = 0.0 if stat is None else stat.max
        avg_severity = 0.0 if stat is None else stat.avg
        updates.append(
            {
                "b_case_id": case_id,
                "cluster_count": cluster_count,
                "last_cluster_at": last_cluster_at,
                "aggregate_geometry_json": footprint.feature_collection(),
                "aggregate_bbox_json": None if footprint.bbox is None else list(footprint.bbox),
                "area_wkb": None
                if footprint.area is None
                else shapely.to_wkb(footprint.area, output_dimension=2),
                "linked_report_count": n,
                "anchor_report_seq": None if anchor is None else anchor.seq,
                "anchor_lat": None if anchor is None else anchor.latitude,
                "anchor_lng": None if anchor is None else anchor.longitude,
                "first_seen_at": None if stat is None else stat.first,
                "last_seen_at": None if stat is None else stat.last,
                "severity_score": max_severity,
                "criticality_score": max_severity,
                "urgency_score": case_urgency(max_severity, avg_severity, cluster_count, n),
                "trend_score": case_trend(cluster_count),
            }
        )
    if not updates:
        return
    direct.executemany(conn, q.update, updates)


@dataclass(frozen=True, slots=True)
class _LinkedStats:
    n: int
    first: Any
    last: Any
    max: float
    avg: float


def _linked_stats(rows: Sequence[Any]) -> _LinkedStats | None:
    """``count``, ``min``/``max`` of ``ts``, ``max``/``avg`` of severity of a case's links.

    What the recompute's ``GROUP BY case_id`` statement gave, from the rows it reads anyway
    (one statement fewer per recompute). ``avg`` is PostgreSQL's for ``float8``: the plain
    sum, in row order (``seq``), divided by the count (a loop, not ``sum``: Python 3.12's
    ``sum`` of floats compensates its rounding, PostgreSQL's does not).
    """
    if not rows:
        return None
    total = 0.0
    for row in rows:
        total += row.severity
    return _LinkedStats(
        n=len(rows),
        first=min(row.ts for row in rows),
        last=max(row.ts for row in rows),
        max=max(row.severity for row in rows),
        avg=total / len(rows),
    )


@dataclass(frozen=True, slots=True)
class _RecomputeStatements:
    cases: sa.Select[Any]
    linked: sa.Select[Any]
    update: sa.Update


@functools.cache
def _recompute_statements() -> _RecomputeStatements:
    """Build the statements of :func:`recompute_many` once (every linking ingest runs them)."""
    c, cc, sc, cr, r, a = (
        t.cases, t.case_clusters, t.saved_clusters, t.case_reports, t.reports, t.report_analysis,
    )  # fmt: skip
    ids = sa.bindparam("recompute_ids", type_=ARRAY_TEXT)
    preferred = (
        sa.select(a.c.severity_level)
        .where(a.c.seq == r.c.seq, a.c.language == r.c.preferred_language)
        .scalar_subquery()
    )
    severity = sa.func.coalesce(preferred, 0.0)
    linked = (
        sa.select(cr.c.case_id, cr.c.seq, r.c.latitude, r.c.longitude, r.c.ts,
                  severity.label("severity"))
        .select_from(cr.join(r, r.c.seq == cr.c.seq))
        .where(cr.c.case_id == sa.any_(ids))
        .subquery()
    )  # fmt: skip
    plain = (
        "cluster_count", "last_cluster_at", "aggregate_geometry_json", "aggregate_bbox_json",
        "linked_report_count", "anchor_report_seq", "anchor_lat", "anchor_lng",
        "first_seen_at", "last_seen_at", "severity_score", "criticality_score",
        "urgency_score", "trend_score",
    )  # fmt: skip
    return _RecomputeStatements(
        # Each case's own geometry and its snapshots (a row without cluster_id when it has
        # none) in one statement.
        cases=sa.select(
            c.c.case_id,
            c.c.geometry_json,
            cc.c.cluster_id,
            sc.c.geometry_json.label("snapshot_json"),
            cc.c.linked_at,
        )
        .select_from(
            c.outerjoin(
                cc.join(sc, sc.c.cluster_id == cc.c.cluster_id), cc.c.case_id == c.c.case_id
            )
        )
        .where(c.c.case_id == sa.any_(ids))
        .order_by(c.c.case_id, cc.c.linked_at, cc.c.cluster_id),
        linked=sa.select(*linked.c).order_by(linked.c.case_id, linked.c.seq),
        update=sa.update(c)
        .where(c.c.case_id == sa.bindparam("b_case_id"))
        .values(
            **{name: sa.bindparam(name, type_=_bind_type(c.c[name])) for name in plain},
            aggregate_geom=sa.func.ST_GeomFromWKB(
                sa.bindparam("area_wkb", type_=sa.LargeBinary), 4326
            ),
            updated_at=sa.func.now(),
        ),
    )


def merge_case_into(conn: sa.Connection, source_id: str, target_id: str) -> None:
    """Move everything of ``source_id`` to ``target_id`` and mark the source merged.

    Report links and snapshot links are copied (``link_reason = merged_from:<source>``, the
    original confidence and times; links the target already has are kept) and then removed
    from the source. Targets move, except duplicates (same :func:`target_key`) of the
    target's own, whose actions and deliveries are re-pointed to the target's copy before
    the duplicate is deleted. Actions, deliveries, sends (so an ``Idempotency-Key`` replay
    still answers), resolution signals and suggestions (unless the target has the same one)
    move. Cases merged into the source are re-pointed to the target (no merge chains). The
    source gets
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
    move_suggestions(conn, source_id, target_id)
    # Targets without a key (none are inserted without a contact method) follow too.
    conn.execute(sa.update(et).where(et.c.case_id == source_id).values(case_id=target_id))
    for table in (
        t.case_escalation_actions,
        t.case_email_deliveries,
        t.case_escalation_sends,
        t.case_resolution_signals,
    ):
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
