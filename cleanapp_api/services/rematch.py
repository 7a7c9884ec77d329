"""``cleanapp-api cases rematch``: look again at recent reports that no case took.

A report that matched nothing when it arrived may match now: a later report joined a case
next to it (its evidence), or later reports make it one incident with others. A run takes
the visible unlinked reports since ``since`` (inside ``scope``), oldest first, in batches,
one transaction each:

1. the locks of :func:`cleanapp_api.db.repositories.lock_scope` for the batch;
2. the batch against the open cases near it: :func:`cleanapp_api.services.ingest.match_reports`,
   the decisions of ``POST /reports``, again until none attaches (a report attached in the
   batch is evidence for the others, so one new report can take two earlier ones into its
   case);
3. the reports still unlinked against each other: with every unlinked report within the
   model's radius gate of them, :func:`cleanapp_geo.ingest_batch.unlinked_groups` groups
   them (one new report can bridge two earlier ones that are no pair of each other), and
   every group holding one of them becomes a new-case suggestion
   (``report_group_suggestions``, once per group; a larger group supersedes its subsets);
4. the run's cursor moves past the batch (``case_rematch_runs``).

An interrupted run resumes after its last committed batch; running it again when it has
finished looks at everything once more and changes nothing that is already decided
(links and suggestions are made once).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import shapely
import sqlalchemy as sa

from cleanapp_api.db import repositories as repo
from cleanapp_api.db.repositories import ingest as ingest_repo
from cleanapp_api.db.repositories import rematch as rematch_repo
from cleanapp_api.domain_errors import InvalidRequest
from cleanapp_api.services.ingest import (
    MatchOptions,
    match_reports,
    report_facts,
)
from cleanapp_geo.errors import CleanAppGeoError
from cleanapp_geo.ingest_batch import unlinked_groups
from cleanapp_geo.model import DEFAULT_MODEL
from cleanapp_geo.scope import RadiusScope, as_scope

__all__ = ["RematchSummary", "rematch", "run_key"]

_GROUP_RADIUS_M: Final = DEFAULT_MODEL.radius_gate_m or 150.0


@dataclass(frozen=True, slots=True)
class RematchSummary:
    """What a run did (this invocation) and where it stands."""

    run_key: str
    resumed: bool
    examined: int = 0
    attached: int = 0
    suggested: int = 0
    groups: int = 0
    finished: bool = False


def run_key(since: datetime | None, scope: Mapping[str, Any] | None) -> str:
    """SHA-256 hex of a run's options: the same options resume the same run."""
    text = json.dumps(
        {"since": None if since is None else since.isoformat(), "scope": scope}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _scope_wkb(scope: Mapping[str, Any] | None) -> bytes | None:
    if scope is None:
        return None
    try:
        geometry = as_scope(dict(scope))
    except (CleanAppGeoError, ValueError, TypeError) as exc:
        raise InvalidRequest(f"scope must be a GeoJSON Polygon or MultiPolygon: {exc}") from exc
    if isinstance(geometry, RadiusScope):
        geometry = geometry.to_polygon()
    return bytes(shapely.to_wkb(geometry, output_dimension=2))


def rematch(
    engine: sa.Engine,
    options: MatchOptions,
    *,
    since: datetime | None = None,
    scope: Mapping[str, Any] | None = None,
    batch_size: int = 200,
    progress: Callable[[str, int, int], None] | None = None,
) -> RematchSummary:
    """Re-examine the unlinked reports since ``since`` in ``scope`` (module docstring).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    options : MatchOptions
        Reopen window and auto-reopen, as for ``POST /reports``.
    since : datetime, optional
        Only reports made at or after it (timezone-aware); default: all.
    scope : GeoJSON mapping, optional
        Only reports inside it (Polygon, MultiPolygon or Feature).
    batch_size : int, default 200
        Reports per transaction.
    progress : callable, optional
        Called as ``progress("rematch", done, total)`` after every batch.

    Returns
    -------
    RematchSummary

    Raises
    ------
    InvalidRequest
        For a bad scope, a naive ``since`` or a batch size below 1.
    """
    if batch_size < 1:
        raise InvalidRequest(f"batch_size must be at least 1, got {batch_size}")
    if since is not None and since.tzinfo is None:
        raise InvalidRequest(f"since must have a time zone, got {since.isoformat()}")
    scope_wkb = _scope_wkb(scope)
    key = run_key(since, scope)
    with engine.begin() as conn:
        run = rematch_repo.start_run(conn, key, since=since, scope_json=scope)
        resumed = run.cursor_ts is not None
        cursor = (run.cursor_ts, int(run.cursor_seq)) if resumed else None
        total = rematch_repo.count_unlinked(conn, since=since, scope_wkb=scope_wkb, after=cursor)
    now = options.now or datetime.now(UTC)
    options = MatchOptions(options.reopen_window_s, options.auto_reopen, now)
    done = examined = attached = suggested = groups = 0
    if progress is not None:
        progress("rematch", 0, total)
    while True:
        with engine.begin() as conn:
            batch = rematch_repo.unlinked_batch(
                conn, since=since, scope_wkb=scope_wkb, after=cursor, limit=batch_size
            )
            if not batch:
                rematch_repo.finish_run(conn, key)
                break
            seqs = [seq for seq, _ in batch]
            repo.lock_scope(conn, seqs=seqs, bounds=ingest_repo.report_bounds(conn, seqs))
            now_attached, still, now_suggested = _match_until_settled(conn, seqs, options)
            new_groups = _suggest_groups(conn, still, since=since, run=key)
            cursor = (batch[-1][1], batch[-1][0])
            rematch_repo.advance_run(
                conn, key, cursor=cursor, examined=len(seqs), attached=now_attached,
                suggested=now_suggested + new_groups,
            )  # fmt: skip
        examined += len(seqs)
        attached += now_attached
        suggested += now_suggested
        groups += new_groups
        done += len(seqs)
        if progress is not None:
            progress("rematch", done, max(total, done))
    return RematchSummary(key, resumed, examined, attached, suggested, groups, finished=True)


def _match_until_settled(
    conn: sa.Connection, seqs: list[int], options: MatchOptions
) -> tuple[int, list[int], int]:
    """Match the batch against the open cases until no more of it attaches.

    A report attached in one pass is evidence for the others in the next (an earlier
    report may only match through a later one). Returns the reports attached, those left
    unlinked, and how many of those have open suggestions.
    """
    attached = 0
    pending = seqs
    while True:
        outcomes = match_reports(conn, pending, options)
        newly = sum(o.action == "attached" for o in outcomes)
        attached += newly
        left = [o for o in outcomes if o.action != "attached"]
        if not newly or not left:
            break
        pending = [o.seq for o in left]
    return attached, [o.seq for o in left], sum(o.action == "suggested" for o in left)


def _suggest_groups(
    conn: sa.Connection, seqs: list[int], *, since: datetime | None, run: str
) -> int:
    """New-case suggestions for the groups of unlinked reports holding one of ``seqs``."""
    if not seqs:
        return 0
    near = rematch_repo.unlinked_near(conn, seqs, radius_m=_GROUP_RADIUS_M, since=since)
    facts = [report_facts(row) for row in near]
    created = 0
    for group in unlinked_groups(facts, focus=seqs, model=DEFAULT_MODEL):
        new_id = rematch_repo.insert_group_suggestion(
            conn,
            {
                "group_key": group.key,
                "report_seqs": list(group.report_seqs),
                "confidence": min(1.0, max(0.0, group.confidence)),
                "title": group.title,
                "group_json": {"rationale": list(group.rationale), "model": "default"},
                "run_key": run,
            },
        )
        created += new_id is not None
    return created
