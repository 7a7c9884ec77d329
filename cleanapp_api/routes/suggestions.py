"""Suggestion routes (new): the reviewer queue, a case's suggestions, accept and reject.

All need a bearer token. Accepting a ``reopen`` suggestion reopens the case, which only its
editors may do (the creator, an admin or a service token).
"""

from __future__ import annotations

from functools import partial

import anyio.to_thread
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from cleanapp_api.auth import BEARER_SECURITY, requires_auth
from cleanapp_api.dependencies import CurrentUser, DbEngine
from cleanapp_api.errors import error_responses
from cleanapp_api.matching_schemas import (
    SuggestionDecisionRequest,
    SuggestionDecisionResponse,
    SuggestionsResponse,
)
from cleanapp_api.services import suggestions

__all__ = ["SuggestionsController"]

_GUARDS = [requires_auth]


class SuggestionsController(Controller):
    """What automatic matching asks people to decide."""

    path = "/cases"
    tags = ("suggestions",)

    @get(
        "/suggestions",
        summary="The reviewer queue of suggestions (new)",
        description=(
            "Query: `status` (comma-separated `open`, `accepted`, `rejected`, `superseded`, "
            "or `all`; default `open`), `limit` (default 100, at most 500), `cursor` (the "
            "previous page's `next_cursor`). Oldest first, across cases."
        ),
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(auth=True),
    )
    async def queue(
        self,
        db_engine: DbEngine,
        status: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
    ) -> SuggestionsResponse:
        """List suggestions across cases, oldest first, a page at a time."""
        return await anyio.to_thread.run_sync(
            partial(
                suggestions.suggestion_queue, db_engine, status=status, cursor=cursor, limit=limit
            )
        )

    @get(
        "/{case_id:str}/suggestions",
        summary="A case's suggestions (new)",
        description="Query: `status` (comma-separated, or `all`, the default). Oldest first.",
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(404, auth=True),
    )
    async def for_case(
        self, case_id: FromPath[str], db_engine: DbEngine, status: FromQuery[str | None] = None
    ) -> SuggestionsResponse:
        """List the reports automatic matching suggested for a case, and what became of them."""
        return await anyio.to_thread.run_sync(
            partial(suggestions.case_suggestions, db_engine, case_id, status)
        )

    async def _decide(
        self,
        case_id: str,
        suggestion_id: int,
        data: SuggestionDecisionRequest | None,
        db_engine: DbEngine,
        current_user: CurrentUser,
        *,
        accept: bool,
    ) -> SuggestionDecisionResponse:
        return await anyio.to_thread.run_sync(
            partial(
                suggestions.decide_suggestion,
                db_engine,
                case_id,
                suggestion_id,
                data,
                current_user,
                accept=accept,
            )
        )

    @post(
        "/{case_id:str}/suggestions/{suggestion_id:int}/accept",
        status_code=200,
        summary="Accept a suggestion (new)",
        description=(
            "`attach`: the report joins the case. `reopen`: the case also reopens (case "
            "editors only). Body (optional): `{note}`. 409 when already decided or the case "
            "is merged; the answer is the suggestion and the case's detail."
        ),
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(403, 404, 409, body=True, auth=True),
    )
    async def accept(
        self,
        case_id: FromPath[str],
        suggestion_id: FromPath[int],
        db_engine: DbEngine,
        current_user: CurrentUser,
        data: JSONBody[SuggestionDecisionRequest | None] = None,
    ) -> SuggestionDecisionResponse:
        """Accept a suggestion: link the report (and reopen the case for a recurrence)."""
        return await self._decide(
            case_id, suggestion_id, data, db_engine, current_user, accept=True
        )

    @post(
        "/{case_id:str}/suggestions/{suggestion_id:int}/reject",
        status_code=200,
        summary="Reject a suggestion (new)",
        description="Body (optional): `{note}`. 409 when already decided.",
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(403, 404, 409, body=True, auth=True),
    )
    async def reject(
        self,
        case_id: FromPath[str],
        suggestion_id: FromPath[int],
        db_engine: DbEngine,
        current_user: CurrentUser,
        data: JSONBody[SuggestionDecisionRequest | None] = None,
    ) -> SuggestionDecisionResponse:
        """Reject a suggestion: the report stays where it is."""
        return await self._decide(
            case_id, suggestion_id, data, db_engine, current_user, accept=False
        )
