"""Contact routing routes: execution-task outcomes of a case, a report's contact strategy.

``POST /cases/{case_id}/execution-tasks/{task_id}/outcome`` needs a bearer token (any
signed-in user may record what a call or a contact form gave; the actor is the caller, or
``actor_user_id`` for a service token). The report contact strategy (``GET
/reports/contact-strategy/...``) is public, as upstream; recording its tasks' outcomes needs
a token.
"""

from __future__ import annotations

from functools import partial

import anyio.to_thread
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from cleanapp_api.auth import BEARER_SECURITY, requires_auth
from cleanapp_api.dependencies import CurrentUser, DbEngine
from cleanapp_api.errors import error_responses
from cleanapp_api.routing_schemas import (
    ExecutionOutcomeRequest,
    ExecutionOutcomeResponse,
    ReportContactStrategyResponse,
)
from cleanapp_api.services import report_strategy, routing

__all__ = ["ExecutionTasksController", "ReportContactStrategyController"]

_OUTCOME_DESCRIPTION = (
    "Record what a task for a person gave (a call, a contact form): `outcome_type` is "
    "`acknowledged` (`ack`), `fixed` (`resolved`), `misrouted` (`wrong_recipient`), "
    "`no_response`, `bounced` (`bounce`), `sent` (`delivered`) or `opted_out`. The task is "
    "completed, the outcome stored (once per task and type: a repeat answers the stored one "
    "and changes nothing), the endpoint's memory updated (a bounce or misroute holds the "
    "endpoint and takes it out of wave 1), a resolution signal and an audit event written, "
    "and the case re-routed: the answer's memory is what the next plan uses."
)


class ExecutionTasksController(Controller):
    """Execution tasks of a case."""

    path = "/cases/{case_id:str}/execution-tasks"
    tags = ("routing",)

    @post(
        "/{task_id:str}/outcome",
        status_code=200,
        summary="Record an execution task's outcome",
        description=_OUTCOME_DESCRIPTION,
        guards=[requires_auth],
        security=BEARER_SECURITY,
        responses=error_responses(404, body=True, auth=True),
    )
    async def record_outcome(
        self,
        case_id: FromPath[str],
        task_id: FromPath[str],
        data: JSONBody[ExecutionOutcomeRequest],
        db_engine: DbEngine,
        current_user: CurrentUser,
    ) -> ExecutionOutcomeResponse:
        """Record a task's outcome; answer the task, the outcome and the endpoint's memory."""
        return await anyio.to_thread.run_sync(
            partial(routing.record_case_outcome, db_engine, case_id, task_id, data, current_user)
        )


_STRATEGY_DESCRIPTION = (
    "Who to notify about a solo report, in which waves, and how: its routed targets, the "
    "contact observations, the notify plan, the routing profile, the execution tasks and the "
    "outcomes recorded so far. The targets are suggested again from the stored sources "
    "(area, brand and inferred contacts) when `refresh_targets=true`, when the report has "
    "none, or when they are older than 12 hours. 404 for a report that is not public or "
    "has no analysis."
)


class ReportContactStrategyController(Controller):
    """Contact strategy of a solo report (public reads; outcomes need a token)."""

    path = "/reports/contact-strategy"
    tags = ("routing",)

    @get(
        "/by-seq",
        summary="A report's contact strategy, by seq (public)",
        description=_STRATEGY_DESCRIPTION,
        responses=error_responses(404),
    )
    async def by_seq(
        self,
        db_engine: DbEngine,
        seq: FromQuery[str | None] = None,
        refresh_targets: FromQuery[str | None] = None,
    ) -> ReportContactStrategyResponse:
        """Return a report's routed targets, plan, profile, tasks and outcomes."""
        key = report_strategy.parse_seq(seq)
        refresh = routing.parse_flag(refresh_targets)
        return await anyio.to_thread.run_sync(
            partial(
                report_strategy.report_contact_strategy, db_engine, key, refresh_targets=refresh
            )
        )

    @get(
        "/by-public-id",
        summary="A report's contact strategy, by public id (public)",
        description=_STRATEGY_DESCRIPTION,
        responses=error_responses(404),
    )
    async def by_public_id(
        self,
        db_engine: DbEngine,
        public_id: FromQuery[str | None] = None,
        refresh_targets: FromQuery[str | None] = None,
    ) -> ReportContactStrategyResponse:
        """Return a report's routed targets, plan, profile, tasks and outcomes."""
        key = report_strategy.parse_public_id(public_id)
        refresh = routing.parse_flag(refresh_targets)
        return await anyio.to_thread.run_sync(
            partial(
                report_strategy.report_contact_strategy, db_engine, key, refresh_targets=refresh
            )
        )

    @post(
        "/by-public-id/{public_id:str}/tasks/{task_id:str}/outcome",
        status_code=200,
        summary="Record a report task's outcome, by public id",
        description=_OUTCOME_DESCRIPTION.replace(
            "and the case re-routed", "and the report re-routed"
        ),
        guards=[requires_auth],
        security=BEARER_SECURITY,
        responses=error_responses(404, body=True, auth=True),
    )
    async def outcome_by_public_id(
        self,
        public_id: FromPath[str],
        task_id: FromPath[str],
        data: JSONBody[ExecutionOutcomeRequest],
        db_engine: DbEngine,
        current_user: CurrentUser,
    ) -> ExecutionOutcomeResponse:
        """Record a report task's outcome; answer the task, the outcome and the memory."""
        key = report_strategy.parse_public_id(public_id)
        return await anyio.to_thread.run_sync(
            partial(
                report_strategy.record_report_outcome, db_engine, key, task_id, data, current_user
            )
        )

    @post(
        "/by-seq/{seq:str}/tasks/{task_id:str}/outcome",
        status_code=200,
        summary="Record a report task's outcome, by seq",
        description=_OUTCOME_DESCRIPTION.replace(
            "and the case re-routed", "and the report re-routed"
        ),
        guards=[requires_auth],
        security=BEARER_SECURITY,
        responses=error_responses(404, body=True, auth=True),
    )
    async def outcome_by_seq(
        self,
        seq: FromPath[str],
        task_id: FromPath[str],
        data: JSONBody[ExecutionOutcomeRequest],
        db_engine: DbEngine,
        current_user: CurrentUser,
    ) -> ExecutionOutcomeResponse:
        """Record a report task's outcome; answer the task, the outcome and the memory."""
        key = report_strategy.parse_seq(seq)
        return await anyio.to_thread.run_sync(
            partial(
                report_strategy.record_report_outcome, db_engine, key, task_id, data, current_user
            )
        )
