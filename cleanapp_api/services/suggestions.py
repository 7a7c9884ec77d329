"""Suggestions of automatic matching: the lists a reviewer works from, accept and reject.

* ``GET /cases/{id}/suggestions?status=`` -- a case's suggestions (default: all), oldest
  first; ``GET /cases/suggestions?status=open&cursor=&limit=`` -- the reviewer queue
  across cases (default: ``open``), oldest first, cursor-paginated.
* ``POST /cases/{id}/suggestions/{sid}/accept`` -- ``attach``: the report is linked
  (``link_reason`` ``suggestion_accepted``), aggregates recomputed, the report's other open
  suggestions superseded; ``reopen``: the case also reopens (case editors only, the
  lifecycle's rules; ``status_changed`` with ``from_status``/``to_status`` and the reason).
  Audit ``suggestion_accepted``.
* ``POST /cases/{id}/suggestions/{sid}/reject`` -- audit ``suggestion_rejected``.

Both decisions take an optional ``note``; a decided suggestion cannot be decided again
(409), nor one of a merged case (409). One transaction each, with the locks of a case
write (:func:`cleanapp_api.db.repositories.lock_scope`, then the case row).
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa

from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories import suggestions as suggestion_repo
from cleanapp_api.domain_errors import (
    AlreadyMerged,
    CaseNotFound,
    Conflict,
    InvalidRequest,
    NotFound,
    TransitionNotAllowed,
)
from cleanapp_api.mappers import suggestion_from_row
from cleanapp_api.matching_schemas import (
    SuggestionDecisionRequest,
    SuggestionDecisionResponse,
    SuggestionsResponse,
)
from cleanapp_api.policy import AuthenticatedUser, require_case_editor
from cleanapp_api.services.cases import check_case_id, status_payload
from cleanapp_api.services.cursors import created_page, decode_created_cursor
from cleanapp_api.services.routing import sync_case
from cleanapp_geo.cases import StatusChangeError, check_status_change

__all__ = [
    "ACCEPTED_LINK_REASON",
    "MAX_PAGE",
    "case_suggestions",
    "decide_suggestion",
    "parse_statuses",
    "read_limit",
    "suggestion_queue",
]

ACCEPTED_LINK_REASON: Final = "suggestion_accepted"
MAX_PAGE: Final = 500
_DEFAULT_PAGE: Final = 100
_NOTE_CHARS: Final = 2_000
_CURSOR: Final = "suggestions"


def parse_statuses(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Read ``status`` (comma-separated, or ``all``); 400 naming an unknown one.

    Examples
    --------
    >>> parse_statuses(" Open,rejected ", ("open",)), parse_statuses("all", ("open",))
    (('open', 'rejected'), ())
    """
    text = (raw or "").strip().lower()
    if not text:
        return default
    if text == "all":
        return ()
    wanted = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in wanted if s not in t.SUGGESTION_STATUSES]
    if unknown:
        raise InvalidRequest(
            f"unknown suggestion status {', '.join(unknown)}; expected all or "
            f"{', '.join(t.SUGGESTION_STATUSES)}"
        )
    return wanted


def read_limit(raw: str | None) -> int:
    """Read ``limit``: empty → 100; 400 unless an integer in [1, 500]."""
    text = (raw or "").strip()
    if not text:
        return _DEFAULT_PAGE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise InvalidRequest(f"limit must be an integer in [1, {MAX_PAGE}], got {raw!r}")
    return int(text)


def case_suggestions(
    engine: sa.Engine, case_id: str, status: str | None = None
) -> SuggestionsResponse:
    """``GET /cases/{id}/suggestions``: a case's suggestions, oldest first (404 unknown case).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    case_id : str
        The case.
    status : str, optional
        Comma-separated statuses or ``all`` (the default).

    Returns
    -------
    SuggestionsResponse
    """
    case_id = check_case_id(case_id)
    statuses = parse_statuses(status, ())
    with engine.connect() as conn:
        exists = conn.execute(
            sa.select(t.cases.c.case_id).where(t.cases.c.case_id == case_id)
        ).first()
        if exists is None:
            raise CaseNotFound()
        rows = suggestion_repo.suggestion_rows(
            conn, case_id=case_id, statuses=statuses, limit=10_000
        )
    return SuggestionsResponse(suggestions=[suggestion_from_row(r) for r in rows], next_cursor=None)


def suggestion_queue(
    engine: sa.Engine,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: str | None = None,
) -> SuggestionsResponse:
    """``GET /cases/suggestions``: the reviewer queue across cases, oldest first.

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
    SuggestionsResponse
    """
    statuses = parse_statuses(status, ("open",))
    size = read_limit(limit)
    after = decode_created_cursor(_CURSOR, cursor)
    with engine.connect() as conn:
        rows = suggestion_repo.suggestion_rows(conn, statuses=statuses, after=after, limit=size + 1)
    page, next_cursor = created_page(_CURSOR, rows, size)
    return SuggestionsResponse(
        suggestions=[suggestion_from_row(r) for r in page], next_cursor=next_cursor
    )


def decide_suggestion(
    engine: sa.Engine,
    case_id: str,
    suggestion_id: int,
    body: SuggestionDecisionRequest | None,
    user: AuthenticatedUser,
    *,
    accept: bool,
) -> SuggestionDecisionResponse:
    """Accept or reject a suggestion (module docstring); answer it and the case's detail.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    case_id : str
        The case of the path.
    suggestion_id : int
        The suggestion.
    body : SuggestionDecisionRequest or None
        An optional ``note``.
    user : AuthenticatedUser
        The reviewer (the audit actor).
    accept : bool
        Accept (True) or reject.

    Returns
    -------
    SuggestionDecisionResponse
    """
    case_id = check_case_id(case_id)
    note = ((body.note if body is not None else None) or "").strip()
    if len(note) > _NOTE_CHARS:
        raise InvalidRequest(f"note must be at most {_NOTE_CHARS} characters, got {len(note)}")
    with engine.begin() as conn:
        peek = conn.execute(
            sa.select(t.case_suggestions.c.seq, t.case_suggestions.c.case_id).where(
                t.case_suggestions.c.id == suggestion_id
            )
        ).first()
        if peek is None or peek.case_id != case_id:
            raise NotFound(f"suggestion {suggestion_id} of case {case_id} not found")
        if accept:
            repo.lock_scope(conn, seqs=[int(peek.seq)], bounds=None)
        row = repo.lock_case_rows(conn, [case_id]).get(case_id)
        if row is None:
            raise CaseNotFound()
        if row.status == "merged":
            raise AlreadyMerged(row.case_id, row.merged_into_case_id)
        suggestion = suggestion_repo.lock_suggestion(conn, suggestion_id)
        if suggestion is None or suggestion.case_id != case_id:
            raise NotFound(f"suggestion {suggestion_id} of case {case_id} not found")
        if suggestion.status != "open":
            raise Conflict(f"suggestion {suggestion_id} is already {suggestion.status}")
        payload = {
            "suggestion_id": suggestion_id,
            "seq": suggestion.seq,
            "kind": suggestion.kind,
            "note": note,
        }
        if accept:
            _accept(conn, row, suggestion, user, note)
        suggestion_repo.decide_suggestion(
            conn, suggestion_id, "accepted" if accept else "rejected", user.user_id, note
        )
        repo.insert_audit(
            conn,
            case_id,
            "suggestion_accepted" if accept else "suggestion_rejected",
            user.user_id,
            payload,
        )
        decided = suggestion_repo.suggestion_rows(conn, ids=[suggestion_id])[0]
        detail = repo.case_detail(conn, case_id)
    assert detail is not None
    return SuggestionDecisionResponse(suggestion=suggestion_from_row(decided), detail=detail)


def _accept(
    conn: sa.Connection, case: Any, suggestion: Any, user: AuthenticatedUser, note: str
) -> None:
    seq = int(suggestion.seq)
    state = repo.report_states(conn, [seq]).get(seq)
    if state is None or not state.linkable:
        raise Conflict(f"report {seq} is no longer visible; reject the suggestion")
    if suggestion.kind == "reopen" and case.status != "open":
        require_case_editor(user, case.created_by_user_id)
        try:
            check_status_change(case.status, "open")
        except StatusChangeError as exc:
            raise TransitionNotAllowed(str(exc)) from exc
        repo.update_status(conn, case.case_id, "open", None)
        reason = f"suggestion {suggestion.id} accepted: report {seq} shows the incident is back"
        repo.insert_audit(
            conn,
            case.case_id,
            "status_changed",
            user.user_id,
            status_payload(case.status, "open", "", {"reason": reason, "seq": seq, "note": note}),
        )
    repo.link_reports(
        conn,
        case.case_id,
        [seq],
        reason=ACCEPTED_LINK_REASON,
        confidence=min(1.0, max(float(suggestion.probability), 1e-6)),
        overwrite=False,
    )
    repo.recompute_aggregates(conn, case.case_id)
    sync_case(conn, case.case_id)
    suggestion_repo.supersede_suggestions(
        conn, seq, keep_case_id=case.case_id, user_id=user.user_id,
        note=f"report {seq} was attached to {case.case_id} (suggestion {suggestion.id})",
    )  # fmt: skip
