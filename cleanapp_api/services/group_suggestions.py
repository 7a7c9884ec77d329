"""New-case suggestions of re-matching: the list a reviewer works from, accept and reject.

* ``GET /reports/group-suggestions?status=open&cursor=&limit=`` -- oldest first,
  cursor-paginated (default status ``open``).
* ``POST /reports/group-suggestions/{id}/accept`` -- a case is created from the group's
  reports through :func:`cleanapp_api.services.cases.create_or_attach` (``force_new_case``:
  aggregates, footprint, suggested targets, routing sync and the ``case_created`` audit as
  for ``POST /cases``), in the same transaction as the decision. Reports linked to a case
  meanwhile (or no longer visible) are left out; fewer than two left: 409. The other open
  new-case suggestions sharing a report are superseded. Audit ``group_suggestion_accepted``
  on the new case.
* ``POST /reports/group-suggestions/{id}/reject`` -- no case, so no audit event; the
  decision is kept with the suggestion.

Both take an optional ``note``; a decided suggestion cannot be decided again (409).
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd
import sqlalchemy as sa

import cleanapp_geo.io as cio
from cleanapp_api.db import repositories as repo
from cleanapp_api.db.repositories import group_suggestions as group_repo
from cleanapp_api.domain_errors import Conflict, InvalidRequest, NotFound
from cleanapp_api.mappers import group_suggestion_from_row
from cleanapp_api.matching_schemas import (
    GroupSuggestionDecisionResponse,
    GroupSuggestionsResponse,
    SuggestionDecisionRequest,
)
from cleanapp_api.policy import AuthenticatedUser
from cleanapp_api.schemas import CaseDetail, CreateCaseRequest
from cleanapp_api.services.cases import create_or_attach
from cleanapp_api.services.cursors import created_page, decode_created_cursor
from cleanapp_api.services.suggestions import parse_statuses, read_limit
from cleanapp_geo.schema import CLASSIFICATION, SEQ

__all__ = ["decide_group_suggestion", "group_suggestion_queue"]

_NOTE_CHARS: Final = 2_000
_TITLE_CHARS: Final = 255  # cases.title
_CURSOR: Final = "group-suggestions"


def group_suggestion_queue(
    engine: sa.Engine,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: str | None = None,
) -> GroupSuggestionsResponse:
    """``GET /reports/group-suggestions``: new-case suggestions, oldest first.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    status : str, optional
        Comma-separated statuses or ``all`` (default ``open``).
    cursor : str, optional
        ``next_cursor`` of the previous page.
    limit : str, optional
        Page size (default 100, at most 500).

    Returns
    -------
    GroupSuggestionsResponse
    """
    statuses = parse_statuses(status, ("open",))
    size = read_limit(limit)
    after = decode_created_cursor(_CURSOR, cursor)
    with engine.connect() as conn:
        rows = group_repo.group_rows(conn, statuses=statuses, after=after, limit=size + 1)
    page, next_cursor = created_page(_CURSOR, rows, size)
    return GroupSuggestionsResponse(
        group_suggestions=[group_suggestion_from_row(r) for r in page], next_cursor=next_cursor
    )


def decide_group_suggestion(
    engine: sa.Engine,
    group_id: int,
    body: SuggestionDecisionRequest | None,
    user: AuthenticatedUser,
    *,
    accept: bool,
) -> GroupSuggestionDecisionResponse:
    """Accept (create the case) or reject a new-case suggestion (module docstring).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    group_id : int
        The suggestion.
    body : SuggestionDecisionRequest or None
        An optional ``note``.
    user : AuthenticatedUser
        The reviewer (the case's creator, the audit actor).
    accept : bool
        Accept (True) or reject.

    Returns
    -------
    GroupSuggestionDecisionResponse
        The decided suggestion and, when accepted, the new case's detail.
    """
    note = ((body.note if body is not None else None) or "").strip()
    if len(note) > _NOTE_CHARS:
        raise InvalidRequest(f"note must be at most {_NOTE_CHARS} characters, got {len(note)}")
    detail: CaseDetail | None = None
    with engine.begin() as conn:
        seqs = group_repo.peek_group_seqs(conn, group_id)
        if seqs is None:
            raise NotFound(f"group suggestion {group_id} not found")
        frame = None
        if accept:
            # The locks of a case write over these reports first (the order of POST /cases),
            # then the suggestion row.
            frame = cio.read_reports(conn, seqs=seqs, visible_only=False)
            repo.lock_scope(conn, seqs=seqs, bounds=repo.bounds_of(frame.geometry))
        group = group_repo.lock_group(conn, group_id)
        if group is None:
            raise NotFound(f"group suggestion {group_id} not found")
        if group.status != "open":
            decided = ((group.group_json or {}).get("decision") or {}).get("case_id")
            case = f" (case {decided})" if decided else ""
            raise Conflict(f"group suggestion {group_id} is already {group.status}{case}")
        decision: dict[str, Any] = {"user_id": user.user_id, "note": note}
        if frame is not None:
            detail = _accept(conn, engine, group, frame, user, note, decision)
            status = "accepted"
        else:
            status = "rejected"
        group_repo.decide_group(conn, group_id, status, decision)
        row = group_repo.group_rows(conn, ids=[group_id])[0]
    return GroupSuggestionDecisionResponse(suggestion=group_suggestion_from_row(row), detail=detail)


def _accept(
    conn: sa.Connection,
    engine: sa.Engine,
    group: Any,
    frame: pd.DataFrame,
    user: AuthenticatedUser,
    note: str,
    decision: dict[str, Any],
) -> CaseDetail:
    seqs = [int(s) for s in group.report_seqs]
    linked = group_repo.linked_seqs(conn, seqs)
    states = repo.report_states(conn, seqs)
    usable = [s for s in seqs if s not in linked and s in states and states[s].linkable]
    left_out = [s for s in seqs if s not in usable]
    if len(usable) < 2:
        reasons = [
            f"report {s} is in case {linked[s]}" if s in linked else f"report {s} is not visible"
            for s in left_out
        ]
        raise Conflict(
            f"group suggestion {group.id} has fewer than 2 reports left without a case "
            f"({'; '.join(reasons)}); reject it"
        )
    title = (group.title or "").strip()[:_TITLE_CHARS]
    answer, _ = create_or_attach(
        engine,
        CreateCaseRequest(
            title=title or f"New case from {len(usable)} reports",
            classification=_classification(frame, usable),
            report_seqs=usable,
            force_new_case=True,
        ),
        user,
        conn=conn,
    )
    case_id = answer.case.case_id
    decision.update(case_id=case_id, report_seqs=usable, left_out_seqs=left_out)
    superseded = group_repo.supersede_overlapping(
        conn,
        usable,
        {"user_id": user.user_id, "note": f"reports joined {case_id} (group {group.id})",
         "case_id": case_id},
    )  # fmt: skip
    superseded = [i for i in superseded if i != group.id]
    repo.insert_audit(
        conn,
        case_id,
        "group_suggestion_accepted",
        user.user_id,
        {
            "group_suggestion_id": int(group.id),
            "report_seqs": usable,
            "left_out_seqs": left_out,
            "confidence": float(group.confidence),
            "superseded_group_suggestion_ids": superseded,
            "note": note,
        },
    )
    detail = repo.case_detail(conn, case_id)
    assert detail is not None
    return detail


def _classification(frame: pd.DataFrame, seqs: list[int]) -> str:
    """Return the classification most of the reports of ``seqs`` have (ties: physical)."""
    chosen = frame[frame[SEQ].isin(seqs)]
    counts = chosen[CLASSIFICATION].astype(str).str.lower().value_counts()
    physical, digital = int(counts.get("physical", 0)), int(counts.get("digital", 0))
    return "digital" if digital > physical else "physical"
