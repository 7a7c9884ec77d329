"""Case use cases: create or attach, add reports, change status, merge, and the reads.

Every mutation is one transaction that (1) takes the locks of
:func:`cleanapp_api.db.repositories.lock_scope` and/or the case rows, (2) re-reads and
re-validates what it depends on, (3) writes, (4) recomputes the aggregates of every case it
touched, (5) writes the audit events with the authenticated actor and
(6) reloads the detail it answers with, before committing.

Locks
-----
Creates and report additions first take the advisory locks of
:func:`~cleanapp_api.db.repositories.lock_scope` (per report and per neighbourhood), then
the rows of the cases they write (``FOR UPDATE``, in ``case_id`` order), then write links;
merges and status changes take case rows only. One order everywhere, so writers wait for
each other instead of deadlocking, and a create re-matches after its locks: two
simultaneous creates over the same reports give one case and one attach.

Create vs attach (``POST /cases`` / ``upsert-from-cluster``)
------------------------
* ``existing_case_id`` given → attach to it: 404 ``existing case not found: <id>`` when it
  does not exist, 409 when it is merged. Any status other than merged is accepted (the case
  is not reopened: reopening is a status change, for case editors).
* ``force_new_case: true`` → a new case, always. Giving both is 400.
* Neither → the cluster is matched (inside the transaction, after the locks) and attached to
  the best candidate whose suggested action is ``attach`` when its band is ``auto``
  (:func:`cleanapp_geo.matching.match_band`, calibrated by issue 6: score >=
  :func:`cleanapp_geo.matching.auto_attach_score`; upstream used 0.58); otherwise a new case.
* The response is the case detail plus ``action`` (``created`` → HTTP 201, ``attached`` →
  HTTP 200), ``match_score``, ``match_reasons`` and the ``candidate_cases`` considered.
* The anchor report is always linked. Every seq must be a visible report with a valid
  analysis (the anchor: a visible report with any analysis), else 400 listing them.
* Links: a new case links with ``initial_selection``/1.0; an attach links new reports with
  ``cluster_match``/0.95 and keeps the reason of reports already linked (raising their
  confidence to 0.95 if lower; upstream overwrote the reason).

Statuses
--------
The lifecycle is the library's (:mod:`cleanapp_geo.cases`, its
:func:`~cleanapp_geo.cases.check_status_change`); setting the current status again records
the new summary/payload. Unknown statuses and forbidden transitions are 422 naming the allowed
ones. Only case editors (creator, admin, service) may change status
(:func:`cleanapp_api.auth.require_case_editor`).

Merge (``POST /cases/merge``)
----------
400 when the target or the sources are missing, or the target is among the sources; 404
listing unknown cases; 409 when the target or a source is already merged; 403 unless the
caller is an editor of the target and of every source. Everything moves (see
:func:`cleanapp_api.db.repositories.merge_case_into`); both sides are audited.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import unicodedata
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import shapely
import sqlalchemy as sa

import cleanapp_geo.io as cio
from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.domain_errors import (
    AlreadyMerged,
    CaseNotFound,
    Conflict,
    InvalidRequest,
    NotFound,
    TransitionNotAllowed,
)
from cleanapp_api.policy import AuthenticatedUser, effective_actor, require_case_editor
from cleanapp_api.schemas import (
    AddReportsRequest,
    CaseDetail,
    CaseUpsertResponse,
    CreateCaseRequest,
    EscalationTargetInput,
    MergeCasesRequest,
    ReportCasesResponse,
    StatusRequest,
)
from cleanapp_api.services.clusters import (
    MAX_SEQ,
    candidate_json,
    find_candidates,
    parse_classification,
    parse_geometry,
    parse_seqs,
)
from cleanapp_api.services.discovery import CaseDiscovery, discover_case_targets
from cleanapp_api.services.routing import refresh_case_targets, sync_case
from cleanapp_api.services.targets import suggest_targets, target_rows
from cleanapp_geo.cases import (
    StatusChangeError,
    check_initial_status,
    check_status_change,
    snapshot_fingerprint,
)
from cleanapp_geo.matching import CaseMatchCandidate, auto_attach_score
from cleanapp_geo.targets import InvalidTargetError, validate_target

__all__ = [
    "add_reports",
    "cases_for_report",
    "change_status",
    "check_case_id",
    "create_or_attach",
    "get_case",
    "merge_cases",
    "new_case_id",
    "parse_seq_param",
    "slugify",
    "status_payload",
]

MSG_TITLE_REQUIRED: Final = "title is required"
MSG_ANCHOR_NOT_FOUND: Final = "anchor report not found"
MSG_CASE_NOT_FOUND: Final = "case not found"
MSG_STATUS_REQUIRED: Final = "status is required"
MSG_REPORT_SEQS_REQUIRED: Final = "report_seqs is required"
MSG_MERGE_REQUIRED: Final = "target_case_id and source_case_ids are required"
MSG_MERGE_SELF: Final = "cannot merge a case into itself"
MSG_EXISTING_AND_FORCE: Final = "existing_case_id and force_new_case cannot both be set"
MSG_SEQ_REQUIRED: Final = "seq is required"
MSG_SEQ_INVALID: Final = "seq must be a positive integer"

_AUTO_ATTACH_BAND: Final = "auto"
_ATTACH_CONFIDENCE: Final = 0.95
_SLUG_BASE_CHARS: Final = 119  # slug column is 128: base + "-" + 8 hex
_CASE_ID = re.compile(repo.CASE_ID_PATTERN)


# =========================================================================== helpers


def new_case_id() -> str:
    """Return ``case_`` + 24 random lowercase hex characters."""
    return "case_" + secrets.token_hex(12)


def _new_cluster_id() -> str:
    return "clst_" + secrets.token_hex(12)


def slugify(title: str) -> str:
    """Upstream's slug: lowercase letters/digits, other runs → ``-``, + 8 hex characters.

    The base is cut to 119 characters so the slug always fits its column (upstream failed
    with a 500 for titles longer than about 119 characters).

    Examples
    --------
    >>> slugify("Loose bricks @ Main St.")[:-9]
    'loose-bricks-main-st'
    >>> slugify("!!!")[:5]
    'case-'
    """
    chars = [
        ch if unicodedata.category(ch)[0] in "LN" else "-"
        for ch in unicodedata.normalize("NFC", title.lower())
    ]
    base = re.sub("-+", "-", "".join(chars)).strip("-")[:_SLUG_BASE_CHARS].strip("-") or "case"
    salt = f"{base}-{time.time_ns()}-{secrets.token_hex(4)}"
    return f"{base}-{hashlib.sha1(salt.encode()).hexdigest()[:8]}"


def _text(value: str | None) -> str:
    return (value or "").strip()


def _check_length(name: str, value: str, column: sa.Column[Any]) -> None:
    length = getattr(column.type, "length", None)
    if length is not None and len(value) > length:
        raise InvalidRequest(f"{name} must be at most {length} characters, got {len(value)}")


def _status_change(current: str | None, wanted: str) -> str:
    try:
        return check_status_change(current, wanted)
    except StatusChangeError as exc:
        raise TransitionNotAllowed(str(exc)) from exc


def status_payload(current: str, wanted: str, summary: str, given: Any = None) -> Any:
    """Audit payload of a status change: ``from_status``/``to_status`` (the web client's keys).

    Without a client payload: ``{status, from_status, to_status, summary}``. A client's JSON
    object keeps its keys and gains ``from_status``/``to_status`` when it lacks them; any
    other client value is kept under ``payload``.

    Examples
    --------
    >>> status_payload("open", "resolved", "fixed")
    {'status': 'resolved', 'from_status': 'open', 'to_status': 'resolved', 'summary': 'fixed'}
    >>> status_payload("open", "closed", "", {"note": "dup"})
    {'note': 'dup', 'from_status': 'open', 'to_status': 'closed'}
    """
    keys = {"from_status": current, "to_status": wanted}
    if given is None:
        return {"status": wanted, **keys, "summary": summary}
    if isinstance(given, dict):
        return {**given, **{k: v for k, v in keys.items() if k not in given}}
    return {"status": wanted, **keys, "summary": summary, "payload": given}


def check_case_id(case_id: str) -> str:
    """Return the trimmed case id of a path (404 ``case not found`` when malformed)."""
    case_id = case_id.strip()
    if not _CASE_ID.match(case_id):
        raise CaseNotFound()
    return case_id


def _merged_conflict(row: Any) -> AlreadyMerged:
    return AlreadyMerged(row.case_id, row.merged_into_case_id)


# =========================================================================== targets


def _target_row(i: int, target: EscalationTargetInput) -> dict[str, Any] | None:
    """Validate one request target; return its column values (None: no contact method).

    The store's column lengths are checked here, everything else by the library's one
    validator, :func:`cleanapp_geo.targets.validate_target`;
    :func:`cleanapp_api.services.targets.target_rows` then normalises and merges the targets
    with the one key scheme of :func:`cleanapp_geo.targets.target_key`.
    """
    where = f"escalation_targets[{i}]"
    record = msgspec.structs.asdict(target)
    for name, column in t.case_escalation_targets.c.items():
        if isinstance(record.get(name), str):
            _check_length(f"{where}.{name}", _text(record[name]), column)
    try:
        checked = validate_target(record)
    except InvalidTargetError as exc:
        raise InvalidRequest(f"{where}.{exc}") from exc
    if checked is None:
        return None
    return {**checked.to_record(), "cooldown_until": target.cooldown_until}


# =========================================================================== create


@dataclass(slots=True)
class _CreatePlan:
    title: str
    type: str
    status: str
    classification: str
    summary: str
    uncertainty_notes: str
    geometry: shapely.Geometry | None
    geometry_json: dict[str, Any] | None
    anchor: int | None
    seqs: list[int]
    existing_case_id: str
    force_new_case: bool
    cluster_summary: str
    cluster_source_type: str
    cluster_stats: Any
    cluster_analysis: Any
    targets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def linked(self) -> list[int]:
        """Seqs to link: the request's, then the anchor (always linked)."""
        seqs = list(self.seqs)
        if self.anchor is not None and self.anchor not in seqs:
            seqs.append(self.anchor)
        return seqs

    @property
    def makes_snapshot(self) -> bool:
        """Upstream's rule for writing a cluster snapshot."""
        return (
            self.cluster_stats is not None
            or self.cluster_analysis is not None
            or bool(self.cluster_summary)
            or self.geometry is not None
        )


def _create_plan(request: CreateCaseRequest) -> _CreatePlan:
    c = t.cases
    title = _text(request.title)
    if not title:
        raise InvalidRequest(MSG_TITLE_REQUIRED)
    _check_length("title", title, c.c.title)
    case_type = _text(request.type) or "incident"
    _check_length("type", case_type, c.c.type)
    try:
        status = check_initial_status(_text(request.status))
    except StatusChangeError as exc:
        raise TransitionNotAllowed(str(exc)) from exc
    geometry, _ = parse_geometry(request.geometry, required=False)
    anchor = request.anchor_report_seq or None
    if anchor is not None and not 0 < anchor <= MAX_SEQ:
        raise InvalidRequest(f"anchor_report_seq must be a positive integer, got {anchor}")
    existing = _text(request.existing_case_id)
    force = bool(request.force_new_case)
    if existing and force:
        raise InvalidRequest(MSG_EXISTING_AND_FORCE)
    source_type = _text(request.cluster_source_type) or "geometry"
    _check_length("cluster_source_type", source_type, t.saved_clusters.c.source_type)
    targets = target_rows(
        row
        for i, target in enumerate(request.escalation_targets or [])
        if (row := _target_row(i, target)) is not None
    )
    return _CreatePlan(
        title=title,
        type=case_type,
        status=status,
        classification=parse_classification(request.classification),
        summary=request.summary or "",
        uncertainty_notes=request.uncertainty_notes or "",
        geometry=geometry,
        geometry_json=None
        if geometry is None
        else msgspec.json.decode(shapely.to_geojson(geometry)),
        anchor=anchor,
        seqs=parse_seqs(request.report_seqs),
        existing_case_id=existing,
        force_new_case=force,
        cluster_summary=request.cluster_summary or "",
        cluster_source_type=source_type,
        cluster_stats=request.cluster_stats,
        cluster_analysis=request.cluster_analysis,
        targets=targets,
    )


def _check_reports(conn: sa.Connection, plan: _CreatePlan) -> None:
    states = repo.report_states(conn, plan.linked)
    if plan.anchor is not None:
        anchor = states.get(plan.anchor)
        if anchor is None or not anchor.anchorable:
            raise InvalidRequest(MSG_ANCHOR_NOT_FOUND)
    missing = [s for s in plan.seqs if s not in states or not states[s].linkable]
    if missing:
        raise InvalidRequest(f"unknown or invisible report seqs: {missing[:50]}")


def _snapshot(conn: sa.Connection, plan: _CreatePlan, actor: str) -> str | None:
    """Store the cluster snapshot, or reuse the stored one with the same fingerprint."""
    if not plan.makes_snapshot:
        return None
    bbox = centroid = None
    geometry_text = ""
    if plan.geometry is not None:
        w, s, e, n = (float(v) for v in shapely.bounds(plan.geometry))
        bbox = [w, s, e, n]
        centroid = ((s + n) / 2, (w + e) / 2)
        geometry_text = shapely.to_geojson(plan.geometry)
    fingerprint = snapshot_fingerprint(
        plan.classification, geometry_text, plan.cluster_summary, plan.linked
    )
    existing = repo.find_snapshot(conn, fingerprint)
    if existing is not None:
        return existing
    cluster_id = _new_cluster_id()
    repo.insert_saved_cluster(
        conn,
        {
            "cluster_id": cluster_id,
            "source_type": plan.cluster_source_type,
            "classification": plan.classification,
            "geometry_json": plan.geometry_json,
            "geometry": plan.geometry,
            "bbox_json": bbox,
            "centroid_lat": None if centroid is None else centroid[0],
            "centroid_lng": None if centroid is None else centroid[1],
            "cluster_fingerprint": fingerprint,
            "seed_report_seq": plan.anchor,
            "report_count": len(plan.linked),
            "summary": plan.cluster_summary,
            "stats_json": plan.cluster_stats,
            "analysis_json": plan.cluster_analysis,
            "created_by_user_id": actor,
        },
    )
    return cluster_id


def _choose(
    conn: sa.Connection, plan: _CreatePlan, candidates: list[CaseMatchCandidate]
) -> tuple[str | None, float, list[str]]:
    """Pick the case to attach to (None: create) with the match score and reasons."""
    if plan.existing_case_id:
        rows = repo.lock_case_rows(conn, [plan.existing_case_id])
        row = rows.get(plan.existing_case_id)
        if row is None:
            raise NotFound(f"existing case not found: {plan.existing_case_id}")
        if row.status == "merged":
            raise _merged_conflict(row)
        for candidate in candidates:
            if candidate.case_id == plan.existing_case_id:
                return row.case_id, candidate.match_score, list(candidate.match_reasons)
        return row.case_id, 1.0, ["case selected explicitly"]
    if plan.force_new_case:
        return None, 0.0, ["force_new_case"]
    best = next((c for c in candidates if c.suggested_action == "attach"), None)
    if best is not None and best.band == _AUTO_ATTACH_BAND:
        # Lock the row before writing links (the lock order of a merge: case rows, then
        # links). A merge that committed after the match has made the case merged: refuse.
        row = repo.lock_case_rows(conn, [best.case_id]).get(best.case_id)
        if row is None or row.status == "merged":
            raise Conflict(
                f"case {best.case_id} changed while attaching (merged or deleted); retry"
            )
        return best.case_id, best.match_score, list(best.match_reasons)
    if best is None:
        return None, 0.0, ["no open case matched"]
    return (
        None,
        0.0,
        [
            f"best open case {best.case_id} scored {best.match_score:.3f}, below the auto-attach "
            f"score {auto_attach_score():.3f}"
        ],
    )


def create_or_attach(
    engine: sa.Engine,
    request: CreateCaseRequest,
    user: AuthenticatedUser,
    *,
    conn: sa.Connection | None = None,
) -> tuple[CaseUpsertResponse, bool]:
    """Create a case from a cluster, or attach the cluster to an existing case.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    request : CreateCaseRequest
        The parsed body.
    user : AuthenticatedUser
        The caller (creator / actor).
    conn : sqlalchemy.Connection, optional
        Write inside this transaction (the caller's, which commits or rolls back the case
        with its own writes, e.g. accepting a new-case suggestion) instead of a new one.

    Returns
    -------
    tuple
        The response and whether a case was created (201) rather than attached (200).
    """
    plan = _create_plan(request)
    actor = user.user_id
    with nullcontext(conn) if conn is not None else engine.begin() as conn:
        _check_reports(conn, plan)
        linked = plan.linked
        frame = cio.read_reports(conn, seqs=linked, visible_only=False)
        bounds = repo.bounds_of([plan.geometry, *frame.geometry])
        repo.lock_scope(conn, seqs=linked, bounds=bounds)
        texts = [plan.title, plan.summary, plan.cluster_summary]
        candidates = find_candidates(
            conn,
            classification=plan.classification,
            reports=frame,
            area=plan.geometry,
            texts=texts,
        )
        case_id, score, reasons = _choose(conn, plan, candidates)
        created = case_id is None
        if case_id is None:
            case_id = new_case_id()
            repo.insert_case(
                conn,
                {
                    "case_id": case_id,
                    "slug": slugify(plan.title),
                    "title": plan.title,
                    "type": plan.type,
                    "status": plan.status,
                    "classification": plan.classification,
                    "summary": plan.summary,
                    "uncertainty_notes": plan.uncertainty_notes,
                    "geometry_json": plan.geometry_json,
                    "confidence_score": 0.8 if plan.anchor is not None else 0.0,
                    "exposure_score": 0.6 if plan.anchor is not None else 0.0,
                    "created_by_user_id": actor,
                },
            )
            repo.link_reports(
                conn, case_id, linked, reason="initial_selection", confidence=1.0, overwrite=False
            )
        else:
            repo.link_reports(
                conn,
                case_id,
                linked,
                reason="cluster_match",
                confidence=_ATTACH_CONFIDENCE,
                overwrite=False,
            )
        cluster_id = _snapshot(conn, plan, actor)
        if cluster_id is not None:
            repo.link_cluster(
                conn,
                case_id,
                cluster_id,
                score=0.0 if created else score,
                reason=None if created else "; ".join(reasons),
            )
        # Without targets in the request, suggest them (area, brand and inferred contacts), as
        # upstream does, so every new case or attached cluster gets its escalation targets.
        targets = plan.targets or target_rows(
            suggest_targets(conn, reports=frame, area=plan.geometry)
        )
        target_count = repo.insert_targets(conn, case_id, targets)
        repo.recompute_aggregates(conn, case_id)
        repo.insert_audit(
            conn,
            case_id,
            "case_created" if created else "cluster_attached",
            actor,
            {
                "report_seqs": linked,
                "anchor_seq": plan.anchor or 0,
                "cluster_ids": [cluster_id] if cluster_id else [],
                "target_count": target_count,
                "classification": plan.classification,
                "existing_case": "" if created else case_id,
                "action": "created" if created else "attached",
                "match_score": score,
                "match_reasons": reasons,
                "candidate_cases": [c.to_dict() for c in candidates],
            },
        )
        sync_case(conn, case_id)
        detail = repo.case_detail(conn, case_id)
    assert detail is not None
    response = CaseUpsertResponse(
        **{f: getattr(detail, f) for f in detail.__struct_fields__},
        action="created" if created else "attached",
        match_score=score,
        match_reasons=reasons,
        candidate_cases=[candidate_json(c) for c in candidates],
    )
    return response, created


# =========================================================================== other writes


def _lock_existing(conn: sa.Connection, case_id: str) -> Any:
    row = repo.lock_case_rows(conn, [case_id]).get(case_id)
    if row is None:
        raise CaseNotFound()
    return row


def add_reports(
    engine: sa.Engine, case_id: str, request: AddReportsRequest, user: AuthenticatedUser
) -> CaseDetail:
    """Link reports to a case (any authenticated user), recompute, audit.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    case_id : str
        The case.
    request : AddReportsRequest
        ``report_seqs`` (required), ``link_reason`` (default ``manual``), ``confidence``
        (default 1.0; must lie in (0, 1]).
    user : AuthenticatedUser
        The actor.

    Returns
    -------
    CaseDetail
    """
    case_id = check_case_id(case_id)
    seqs = parse_seqs(request.report_seqs)
    if not seqs:
        raise InvalidRequest(MSG_REPORT_SEQS_REQUIRED)
    reason = _text(request.link_reason) or "manual"
    _check_length("link_reason", reason, t.case_reports.c.link_reason)
    confidence = request.confidence or 1.0
    if not 0.0 < confidence <= 1.0:
        raise InvalidRequest(f"confidence must lie in (0, 1], got {confidence}")
    with engine.begin() as conn:
        states = repo.report_states(conn, seqs)
        missing = [s for s in seqs if s not in states or not states[s].linkable]
        if missing:
            raise InvalidRequest(f"unknown or invisible report seqs: {missing[:50]}")
        repo.lock_scope(conn, seqs=seqs, bounds=None)
        row = _lock_existing(conn, case_id)
        if row.status == "merged":
            raise _merged_conflict(row)
        repo.link_reports(conn, case_id, seqs, reason=reason, confidence=confidence, overwrite=True)
        repo.recompute_aggregates(conn, case_id)
        repo.insert_audit(
            conn,
            case_id,
            "reports_added",
            user.user_id,
            {"report_seqs": seqs, "link_reason": reason, "confidence": confidence},
        )
        sync_case(conn, case_id)
        detail = repo.case_detail(conn, case_id)
    assert detail is not None
    return detail


def change_status(
    engine: sa.Engine, case_id: str, request: StatusRequest, user: AuthenticatedUser
) -> CaseDetail:
    """Change a case's status along the library's lifecycle (case editors only).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    case_id : str
        The case.
    request : StatusRequest
        ``status`` (required), optional ``summary``, ``payload`` and ``actor_user_id``
        (honoured for service tokens only).
    user : AuthenticatedUser
        The caller.

    Returns
    -------
    CaseDetail
    """
    case_id = check_case_id(case_id)
    if not _text(request.status):
        raise InvalidRequest(MSG_STATUS_REQUIRED)
    wanted = _status_change(None, request.status or "")
    summary = request.summary or ""
    with engine.begin() as conn:
        row = _lock_existing(conn, case_id)
        require_case_editor(user, row.created_by_user_id)
        current = row.status
        _status_change(current, wanted)
        repo.update_status(conn, case_id, wanted, summary or None)
        payload = status_payload(current, wanted, summary, request.payload)
        repo.insert_audit(
            conn, case_id, "status_changed", effective_actor(user, request.actor_user_id), payload
        )
        detail = repo.case_detail(conn, case_id)
    assert detail is not None
    return detail


def merge_cases(
    engine: sa.Engine, request: MergeCasesRequest, user: AuthenticatedUser
) -> CaseDetail:
    """``POST /cases/merge``: merge source cases into a target case (editors of all of them only).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    request : MergeCasesRequest
        ``target_case_id`` and ``source_case_ids``.
    user : AuthenticatedUser
        The caller.

    Returns
    -------
    CaseDetail
        The target's detail.
    """
    target = _text(request.target_case_id)
    sources = list(dict.fromkeys(s.strip() for s in request.source_case_ids or [] if s.strip()))
    if not target or not sources:
        raise InvalidRequest(MSG_MERGE_REQUIRED)
    if target in sources:
        raise InvalidRequest(MSG_MERGE_SELF)
    with engine.begin() as conn:
        rows = repo.lock_case_rows(conn, [target, *sources])
        missing = [c for c in [target, *sources] if c not in rows]
        if missing:
            raise NotFound(f"cases not found: {', '.join(missing)}")
        for case_id in [target, *sources]:
            if rows[case_id].status == "merged":
                raise _merged_conflict(rows[case_id])
        for case_id in [target, *sources]:
            require_case_editor(user, rows[case_id].created_by_user_id)
        for source in sources:
            repo.merge_case_into(conn, source, target)
            repo.insert_audit(
                conn,
                source,
                "case_merged_into",
                user.user_id,
                {
                    "target_case_id": target,
                    "from_status": rows[source].status,
                    "to_status": "merged",
                },
            )
        repo.recompute_aggregates(conn, target)
        repo.insert_audit(conn, target, "case_merged", user.user_id, {"source_case_ids": sources})
        # The target routes the moved targets; a source's plan and pending tasks are emptied.
        for case_id in sorted([target, *sources]):
            sync_case(conn, case_id)
        detail = repo.case_detail(conn, target)
    assert detail is not None
    return detail


# =========================================================================== reads


def get_case(
    engine: sa.Engine,
    case_id: str,
    *,
    refresh_targets: bool = False,
    discovery: CaseDiscovery | None = None,
) -> CaseDetail:
    """``GET /cases/{id}``: the case detail (404 ``case not found``).

    It writes only when asked (``refresh_targets``: suggest targets again from the stored
    sources and re-route, :func:`cleanapp_api.services.routing.refresh_case_targets`), or
    once for a case with targets that was never routed (created before routing existed).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    case_id : str
        The case.
    refresh_targets : bool, default False
        Refresh and re-route the targets first.
    discovery : CaseDiscovery, optional
        With ``refresh_targets``, also discover contacts (within its budget, before the
        write transaction).

    Returns
    -------
    CaseDetail
    """
    case_id = check_case_id(case_id)
    if not refresh_targets:
        with engine.connect() as conn:
            detail = repo.case_detail(conn, case_id)
        if detail is None:
            raise CaseNotFound()
        if detail.routing_profile is not None or not detail.escalation_targets:
            return detail
    discovered = discover_case_targets(engine, case_id, discovery) if refresh_targets else ()
    with engine.begin() as conn:
        if refresh_targets:
            refresh_case_targets(conn, case_id, discovered=discovered)
        else:
            sync_case(conn, case_id)
        detail = repo.case_detail(conn, case_id)
    if detail is None:
        raise CaseNotFound()
    return detail


def parse_seq_param(raw: str | None) -> int:
    """Validate the ``seq`` query value of ``GET /reports/cases`` (upstream's messages)."""
    text = (raw or "").strip()
    if not text:
        raise InvalidRequest(MSG_SEQ_REQUIRED)
    # At most 19 digits before int(): 2**63 has 19, and int() of a 4,301-digit text raises.
    if len(text) > 19 or not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise InvalidRequest(MSG_SEQ_INVALID)
    return int(text)


def cases_for_report(engine: sa.Engine, seq: int) -> ReportCasesResponse:
    """``GET /reports/cases``: the cases that hold a report, most recently updated first.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    seq : int
        The report.

    Returns
    -------
    ReportCasesResponse
    """
    with engine.connect() as conn:
        cases = repo.cases_for_report(conn, seq)
    return ReportCasesResponse(seq=seq, cases=cases)
