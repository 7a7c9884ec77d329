"""Case routes: create/attach, merge, detail, add reports, status, and public matching.

All but ``POST /cases/match-cluster`` need a bearer token (the ``requires_auth`` guard runs
before the body is read, so a missing token is 401 whatever the body).
"""

from __future__ import annotations

from functools import partial

import anyio.to_thread
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from cleanapp_api.auth import BEARER_SECURITY, requires_auth
from cleanapp_api.dependencies import CurrentUser, DbEngine, Discovery
from cleanapp_api.errors import error_responses
from cleanapp_api.matching_schemas import NearbyCasesResponse
from cleanapp_api.schemas import (
    AddReportsRequest,
    CaseDetail,
    CaseListResponse,
    CaseUpsertResponse,
    CreateCaseRequest,
    MatchClusterRequest,
    MatchClusterResponse,
    MergeCasesRequest,
    StatusRequest,
)
from cleanapp_api.services import case_list, cases, clusters, routing

__all__ = ["CasesController"]

_GUARDS = [requires_auth]
_ATTACHED = {
    200: ResponseSpec(
        data_container=CaseUpsertResponse,
        description='The cluster was attached to an existing case (`"action": "attached"`).',
    ),
    **error_responses(404, 409, body=True, auth=True),
}
_UPSERT_DESCRIPTION = (
    "Create a case from a cluster, or attach the cluster to an existing case. The answer says "
    'which: `"action": "created"` (201) or `"attached"` (200), with `match_score`, '
    "`match_reasons` and the `candidate_cases` considered. `existing_case_id` attaches "
    "explicitly (404 unknown, 409 merged); `force_new_case` always creates; neither: "
    "auto-attach when the best open case is in the calibrated `auto` match band."
)


class CasesController(Controller):
    """Durable cases."""

    path = "/cases"
    tags = ("cases",)

    async def _upsert(
        self, data: CreateCaseRequest, db_engine: DbEngine, current_user: CurrentUser
    ) -> Response[CaseUpsertResponse]:
        response, created = await anyio.to_thread.run_sync(
            partial(cases.create_or_attach, db_engine, data, current_user)
        )
        return Response(response, status_code=201 if created else 200)

    @post(
        "/",
        summary="Create a case or attach a cluster",
        description=_UPSERT_DESCRIPTION,
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=_ATTACHED,
    )
    async def create(
        self, data: JSONBody[CreateCaseRequest], db_engine: DbEngine, current_user: CurrentUser
    ) -> Response[CaseUpsertResponse]:
        """Create a case from a cluster, or attach the cluster to the best-matching open case."""
        return await self._upsert(data, db_engine, current_user)

    @post(
        "/upsert-from-cluster",
        summary="Create a case or attach a cluster (alias of POST /cases)",
        description=_UPSERT_DESCRIPTION,
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=_ATTACHED,
    )
    async def upsert_from_cluster(
        self, data: JSONBody[CreateCaseRequest], db_engine: DbEngine, current_user: CurrentUser
    ) -> Response[CaseUpsertResponse]:
        """Create a case or attach the cluster (the web client's name for ``POST /cases``)."""
        return await self._upsert(data, db_engine, current_user)

    @get(
        "/",
        summary="List cases (new)",
        description=(
            "Query: `status` (comma-separated), `near` (`latitude,longitude`) with `radius_m` "
            "(default 1000, at most 50000; nearest first, with `distance_m`), `mine` "
            "(`true`: cases the caller created), `updated_since` (RFC 3339), `limit` "
            "(default 100, at most 500), `cursor` (the previous page's `next_cursor`). "
            "Without `status`, merged cases are left out. Most recently updated first."
        ),
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(auth=True),
    )
    async def list_cases(
        self,
        db_engine: DbEngine,
        current_user: CurrentUser,
        status: FromQuery[str | None] = None,
        near: FromQuery[str | None] = None,
        radius_m: FromQuery[str | None] = None,
        mine: FromQuery[str | None] = None,
        updated_since: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> CaseListResponse:
        """List cases, filtered by status, nearness, creator and last update, a page at a time."""
        filters = case_list.parse_case_filters(
            current_user,
            status=status,
            near=near,
            radius_m=radius_m,
            mine=mine,
            updated_since=updated_since,
            limit=limit,
            cursor=cursor,
        )
        return await anyio.to_thread.run_sync(
            partial(case_list.list_case_summaries, db_engine, filters)
        )

    @get(
        "/nearby",
        summary="Cases near a point (public, new)",
        description=(
            "Query: `lat`, `lon` (required, degrees), `radius_m` (default 1000, at most 50000), "
            "`status` (comma-separated; default the active ones: open, investigating, "
            "escalated, monitoring), `limit` (default 20, at most 100), `cursor` (the previous "
            "page's `next_cursor`). Nearest first by the geodesic distance to the case's "
            "anchor; a few fields per case, for a phone's map or list."
        ),
        responses=error_responses(),
    )
    async def nearby(
        self,
        db_engine: DbEngine,
        lat: FromQuery[str | None] = None,
        lon: FromQuery[str | None] = None,
        radius_m: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> NearbyCasesResponse:
        """List the cases near a point, nearest first, a page at a time."""
        filters = case_list.parse_nearby(
            lat=lat, lon=lon, radius_m=radius_m, status=status, limit=limit, cursor=cursor
        )
        return await anyio.to_thread.run_sync(partial(case_list.nearby_cases, db_engine, filters))

    @post(
        "/merge",
        status_code=200,
        summary="Merge cases into a target case",
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(403, 404, 409, body=True, auth=True),
    )
    async def merge(
        self, data: JSONBody[MergeCasesRequest], db_engine: DbEngine, current_user: CurrentUser
    ) -> CaseDetail:
        """Merge the source cases into the target case and answer the target's detail."""
        return await anyio.to_thread.run_sync(
            partial(cases.merge_cases, db_engine, data, current_user)
        )

    @post(
        "/match-cluster",
        status_code=200,
        summary="Candidate cases for a cluster (public)",
        responses=error_responses(body=True),
    )
    async def match_cluster(
        self, data: JSONBody[MatchClusterRequest], db_engine: DbEngine
    ) -> MatchClusterResponse:
        """List the stored cases a cluster may belong to, scored and banded (auto, review, new)."""
        return await anyio.to_thread.run_sync(partial(clusters.match_cluster, db_engine, data))

    @get(
        "/{case_id:str}",
        summary="Case detail",
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(404, auth=True),
    )
    async def detail(
        self,
        case_id: FromPath[str],
        db_engine: DbEngine,
        discovery: Discovery,
        refresh_targets: FromQuery[str | None] = None,
    ) -> CaseDetail:
        """Return a case with its reports, clusters, targets, routing, actions and audit.

        `refresh_targets=true` suggests targets again from the stored sources (area, brand
        and inferred contacts) and, when contact discovery is enabled, from OpenStreetMap and
        official websites within its time budget, then re-routes the case before answering.
        """
        refresh = routing.parse_flag(refresh_targets)
        return await anyio.to_thread.run_sync(
            partial(
                cases.get_case, db_engine, case_id, refresh_targets=refresh, discovery=discovery
            )
        )

    @post(
        "/{case_id:str}/reports",
        status_code=200,
        summary="Link reports to a case",
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(404, 409, body=True, auth=True),
    )
    async def add_reports(
        self,
        case_id: FromPath[str],
        data: JSONBody[AddReportsRequest],
        db_engine: DbEngine,
        current_user: CurrentUser,
    ) -> CaseDetail:
        """Link visible reports to a case, recompute its aggregates and answer its detail."""
        return await anyio.to_thread.run_sync(
            partial(cases.add_reports, db_engine, case_id, data, current_user)
        )

    @post(
        "/{case_id:str}/status",
        status_code=200,
        summary="Change a case's status",
        guards=_GUARDS,
        security=BEARER_SECURITY,
        responses=error_responses(403, 404, 409, 422, body=True, auth=True),
    )
    async def status(
        self,
        case_id: FromPath[str],
        data: JSONBody[StatusRequest],
        db_engine: DbEngine,
        current_user: CurrentUser,
    ) -> CaseDetail:
        """Change a case's status along the lifecycle (creator, admin or service token only)."""
        return await anyio.to_thread.run_sync(
            partial(cases.change_status, db_engine, case_id, data, current_user)
        )
