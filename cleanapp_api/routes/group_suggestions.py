"""New-case suggestion routes (new): the list, accept and reject; all need a bearer token."""

from __future__ import annotations

from functools import partial

import anyio.to_thread
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from cleanapp_api.auth import BEARER_SECURITY, requires_auth
from cleanapp_api.dependencies import CurrentUser, DbEngine
from cleanapp_api.errors import error_responses
from cleanapp_api.matching_schemas import (
    GroupSuggestionDecisionResponse,
    GroupSuggestionsResponse,
    SuggestionDecisionRequest,
)
from cleanapp_api.services import group_suggestions

__all__ = ["GroupSuggestionsController"]

_GUARDS = [requires_auth]


class GroupSuggestionsController(Controller):
    """Reports without a case that re-matching found to be one incident."""

    path = "/reports/group-suggestions"
    tags = ("suggestions",)

    @get(
        "/",
        summary="New-case suggestions of re-matching (new)",
        description=(
            "Query: `status` (comma-separated `open`, `accepted`, `rejected`, `superseded`, "
            "or `all`; default `open`), `limit` (default 100, at most 500), `cursor` (the "
            "previous page's `next_cursor`). Oldest first."
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
    ) -> GroupSuggestionsResponse:
        """List new-case suggestions, oldest first, a page at a time."""
        return await anyio.to_thread.run_sync(
            partial(
                group_suggestions.group_suggestion_queue,
                db_engine,
                status=status,
                cursor=cursor,
                limit=limit,
            )
        )

    async def _decide(
        self,
        group_id: int,
        data: SuggestionDecisionRequest | None,
        db_engine: DbEngine,
        current_user: CurrentUser,
        *,
        accept: bool,
    ) -> GroupSuggestionDecisionResponse:
        return await anyio.to_thread.run_sync(
            partial(
                group_suggestions.decide_group_suggestion,
                db_engine,
                group_id,
                data,
                current_user,
                accept=accept,
            )
        )

    @post(
        "/{group_id:int}/accept",
        status_code=200,
        summary="Accept a new-case suggestion: create the case (new)",
        description=(
            "A case is created from the group's reports as `POST /cases` would (aggregates, "
            "footprint, targets, audit `case_created`, then `group_suggestion_accepted`); "
            "reports linked to a case meanwhile are left out. Body (optional): `{note}`. "
            "409 when already decided or fewer than 2 reports are left; the answer is the "
            "suggestion and the new case's detail."
        ),
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(404, 409, body=True, auth=True),
    )
    async def accept(
        self,
        group_id: FromPath[int],
        db_engine: DbEngine,
        current_user: CurrentUser,
        data: JSONBody[SuggestionDecisionRequest | None] = None,
    ) -> GroupSuggestionDecisionResponse:
        """Accept a new-case suggestion: create a case from its reports."""
        return await self._decide(group_id, data, db_engine, current_user, accept=True)

    @post(
        "/{group_id:int}/reject",
        status_code=200,
        summary="Reject a new-case suggestion (new)",
        description="Body (optional): `{note}`. 409 when already decided; `detail` is null.",
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(404, 409, body=True, auth=True),
    )
    async def reject(
        self,
        group_id: FromPath[int],
        db_engine: DbEngine,
        current_user: CurrentUser,
        data: JSONBody[SuggestionDecisionRequest | None] = None,
    ) -> GroupSuggestionDecisionResponse:
        """Reject a new-case suggestion: its reports stay without a case."""
        return await self._decide(group_id, data, db_engine, current_user, accept=False)
