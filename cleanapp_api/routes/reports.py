"""Public report routes: ``GET /reports/cases?seq=N``."""

from __future__ import annotations

from functools import partial

import anyio.to_thread
from litestar import Controller, get
from litestar.params import FromQuery

from cleanapp_api.dependencies import DbEngine
from cleanapp_api.schemas import ReportCasesResponse
from cleanapp_api.services import cases

__all__ = ["ReportsController"]


class ReportsController(Controller):
    """Case lookups by report."""

    path = "/reports"
    tags = ("reports",)

    @get(
        "/cases",
        summary="Cases holding a report",
        description="Query `seq` (a positive integer). Public. Most recently updated first.",
    )
    async def cases_by_report(
        self, db_engine: DbEngine, seq: FromQuery[str | None] = None
    ) -> ReportCasesResponse:
        """Return the cases that hold report ``seq``, most recently updated first."""
        number = cases.parse_seq_param(seq)
        return await anyio.to_thread.run_sync(partial(cases.cases_for_report, db_engine, number))
