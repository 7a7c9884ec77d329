"""Report routes: ingest, the cases of a report, and the reports of a scope.

``POST /reports`` (service tokens), ``GET /reports/cases?seq=N`` and
``POST /reports/by-geometry`` (both public).
"""

from __future__ import annotations

from functools import partial

import anyio.to_thread
from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, JSONBody

from cleanapp_api.auth import BEARER_SECURITY, requires_auth
from cleanapp_api.dependencies import AppSettings, CurrentUser, DbEngine
from cleanapp_api.errors import error_responses
from cleanapp_api.matching_schemas import ByGeometryRequest, IngestReportRequest, IngestResponse
from cleanapp_api.schemas import ReportCasesResponse, ReportWithAnalysis
from cleanapp_api.services import cases, ingest, report_scope

__all__ = ["ReportsController"]


class ReportsController(Controller):
    """Case lookups by report."""

    path = "/reports"
    tags = ("reports",)

    @post(
        "/",
        summary="Ingest a report and match it to the cases near it (new)",
        description=(
            "Service tokens only (403 otherwise). Body: `{report: {seq, timestamp, latitude, "
            "longitude, id?, public_id?, team?, description?}, analysis: [{language, title, "
            "summary, severity_level, classification, ...}]}` (the shape of the analysis "
            "routes' `reports`). The report is stored (idempotent on `seq`; 409 when `seq` is "
            "stored with another time or place) and matched in the same transaction: it joins "
            "an open case in the calibrated `auto` band, becomes a suggestion (`review`, or a "
            "resolved/closed case that may be back), or nothing. The answer tells the "
            "reporter: `case.action` is `attached`, `suggested` or `none`. 201 when stored "
            "now, 200 when stored before (the same answer again)."
        ),
        guards=[requires_auth],
        security=BEARER_SECURITY,
        responses={
            200: ResponseSpec(
                data_container=IngestResponse,
                description="The report was stored before; its current case.",
            ),
            **error_responses(403, 409, body=True, auth=True),
        },
    )
    async def ingest(
        self,
        data: JSONBody[IngestReportRequest],
        db_engine: DbEngine,
        settings: AppSettings,
        current_user: CurrentUser,
        state: State,
    ) -> Response[IngestResponse]:
        """Store a report and say which case it joined (or was suggested for)."""
        # At most INGEST_CONCURRENCY at once per process; the rest wait here, holding no
        # thread, pooled connection or advisory lock (an ingest locks its neighbourhood
        # for its whole transaction, so a crowd of them inside the database mostly waits
        # on each other's locks while their threads contend for the GIL).
        answer, stored = await anyio.to_thread.run_sync(
            partial(ingest.ingest_report, db_engine, settings, data, current_user),
            limiter=state.ingest_limiter,
        )
        return Response(answer, status_code=201 if stored else 200)

    @get(
        "/cases",
        summary="Cases holding a report",
        description="Query `seq` (a positive integer). Public. Most recently updated first.",
        responses=error_responses(),
    )
    async def cases_by_report(
        self, db_engine: DbEngine, seq: FromQuery[str | None] = None
    ) -> ReportCasesResponse:
        """Return the cases that hold report ``seq``, most recently updated first."""
        number = cases.parse_seq_param(seq)
        return await anyio.to_thread.run_sync(partial(cases.cases_for_report, db_engine, number))

    @post(
        "/by-geometry",
        status_code=200,
        summary="The reports inside a GeoJSON scope (public)",
        description=(
            "The place search's preview. Body as `POST /clusters/analyze`: `geometry` "
            "(required), `classification` (default `physical`), `n` (default 250, at most "
            "10000). Query `full_data` (`true`: every analysis row of each report; default: "
            "the preferred one). A JSON array of `{report, analysis}`, newest first: the "
            "visible reports whose point lies in the scope with a valid analysis of the "
            "classification."
        ),
        responses=error_responses(body=True),
    )
    async def by_geometry(
        self,
        data: JSONBody[ByGeometryRequest],
        db_engine: DbEngine,
        full_data: FromQuery[str | None] = None,
    ) -> list[ReportWithAnalysis]:
        """List the visible reports inside a scope, newest first."""
        full = report_scope.parse_full_data(full_data)
        return await anyio.to_thread.run_sync(
            partial(report_scope.reports_by_geometry, db_engine, data, full_data=full)
        )
