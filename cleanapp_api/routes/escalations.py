"""Escalation routes: list, draft and send.

All need a bearer token; any signed-in user may draft (it stores nothing); sending is for
the case's editors (the creator, an admin or a service token) unless
``ESCALATION_SEND_ANY_USER`` opens it to every signed-in user.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import anyio.to_thread
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from cleanapp_api.auth import BEARER_SECURITY, requires_auth
from cleanapp_api.dependencies import AppSettings, CurrentUser, DbEngine, Discovery
from cleanapp_api.errors import error_responses
from cleanapp_api.escalation import sending, service
from cleanapp_api.escalation.schemas import (
    CaseEscalationsResponse,
    DraftEscalationRequest,
    EscalationDraftResponse,
    EscalationSendResponse,
    SendEscalationRequest,
)
from cleanapp_api.services.routing import parse_flag

__all__ = ["EscalationsController"]

_GUARDS = [requires_auth]
_SEND_DESCRIPTION = (
    "Send the escalation e-mail to explicit `target_ids` (at most 50, plus at most 20 "
    "`cc_emails`) through the email service, one message per recipient, exactly once. Hidden "
    "or held targets need `force`. An `Idempotency-Key` header replays a settled send and "
    "retries a failed one for its failed recipients only; without one the same subject and "
    "body are not sent again to a recipient within the de-duplication window unless "
    "`force`. 200 when every recipient is settled, 202 while some are `pending` or "
    "`unknown`, 502 when the email service delivered nothing, 429 beyond the per-user or "
    "per-case send limit."
)


class EscalationsController(Controller):
    """Escalation targets, drafts and sends of a case."""

    path = "/cases/{case_id:str}/escalations"
    tags = ("escalations",)

    @get(
        "/",
        summary="Targets, routing, actions and deliveries",
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(404, auth=True),
    )
    async def list_escalations(
        self,
        case_id: FromPath[str],
        db_engine: DbEngine,
        discovery: Discovery,
        refresh_targets: FromQuery[str | None] = None,
    ) -> CaseEscalationsResponse:
        """Return a case's visible targets, its routing, every action and delivery.

        The routing: `observations`, `notify_plan` (waves of recipients), `routing_profile`,
        `execution_tasks` and `notify_outcomes`. `refresh_targets=true` suggests targets
        again from the stored sources (and, when contact discovery is enabled, from
        OpenStreetMap and official websites within its time budget) and re-routes the case
        first.
        """
        refresh = parse_flag(refresh_targets)
        return await anyio.to_thread.run_sync(
            partial(
                service.view_escalations,
                db_engine,
                case_id,
                refresh_targets=refresh,
                discovery=discovery,
            )
        )

    @post(
        "/draft",
        status_code=200,
        summary="Draft the escalation e-mail (nothing stored)",
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(404, body=True, auth=True),
    )
    async def draft(
        self,
        case_id: FromPath[str],
        db_engine: DbEngine,
        settings: AppSettings,
        current_user: CurrentUser,
        data: JSONBody[DraftEscalationRequest | None] = None,
    ) -> EscalationDraftResponse:
        """Draft the escalation e-mail in the requested or inferred locale; nothing is stored."""
        return await anyio.to_thread.run_sync(
            partial(service.draft_escalation, db_engine, settings, case_id, data, current_user)
        )

    @post(
        "/send",
        status_code=200,
        summary="Send the escalation e-mail",
        description=_SEND_DESCRIPTION,
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses={
            202: ResponseSpec(
                data_container=EscalationSendResponse,
                description=(
                    "Recorded, not settled yet: some recipients are `pending` (the email "
                    "service retries) or `unknown` (it did not answer in time); the "
                    "reconciler settles them (docs/delivery.md)."
                ),
            ),
            **error_responses(403, 404, 409, 422, 502, body=True, auth=True),
        },
    )
    async def send(
        self,
        case_id: FromPath[str],
        data: JSONBody[SendEscalationRequest],
        db_engine: DbEngine,
        settings: AppSettings,
        current_user: CurrentUser,
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[EscalationSendResponse]:
        """Send the escalation e-mail, one message per recipient; answer the stored rows."""
        result = await anyio.to_thread.run_sync(
            partial(
                sending.send_escalation,
                db_engine,
                settings,
                case_id,
                data,
                current_user,
                idempotency_key=idempotency_key,
            )
        )
        return Response(result.response, status_code=result.status_code, headers=result.headers)
