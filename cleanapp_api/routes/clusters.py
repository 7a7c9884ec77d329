"""Public cluster-analysis routes: ``POST /clusters/analyze`` and ``/clusters/from-report``."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
from litestar import Controller, MediaType, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.response import Stream

from cleanapp_api.dependencies import DbEngine
from cleanapp_api.errors import error_responses
from cleanapp_api.schemas import (
    AnalyzeRequest,
    ClusterAnalysisResponse,
    ExplainPairRequest,
    FromReportRequest,
    PairExplanationJSON,
)
from cleanapp_api.services import clusters, explain
from cleanapp_api.streaming import StreamedJSON

__all__ = ["ClustersController"]

#: The 200 answer's schema (the handlers return responses: large answers are streamed).
_ANSWER = {
    200: ResponseSpec(
        data_container=ClusterAnalysisResponse,
        description="The analysis (answers of 2,000 or more reports or hypotheses are "
        "streamed in chunks; the JSON is the same)",
    )
}


def _respond(answer: ClusterAnalysisResponse | StreamedJSON) -> Response[Any]:
    if isinstance(answer, StreamedJSON):
        return Stream(answer.chunks(), media_type=MediaType.JSON)
    return Response(answer, media_type=MediaType.JSON)


class ClustersController(Controller):
    """Analyse the reports of a scope into incident hypotheses."""

    path = "/clusters"
    tags = ("clusters",)

    @post(
        "/analyze",
        status_code=200,
        summary="Analyse the reports inside a GeoJSON scope",
        description=(
            "Body: `geometry` (Polygon, MultiPolygon, Feature or FeatureCollection, required), "
            "`classification` (`physical`|`digital`), `n` (default 250, at most 10000), "
            "`model` (`default` (default) or `upstream`). Public."
        ),
        responses={**_ANSWER, **error_responses(body=True)},
    )
    async def analyze(self, data: JSONBody[AnalyzeRequest], db_engine: DbEngine) -> Response[Any]:
        """Group the visible reports of a scope into incidents, with targets and candidate cases."""
        return _respond(
            await anyio.to_thread.run_sync(partial(clusters.analyze_geometry, db_engine, data))
        )

    @post(
        "/from-report",
        status_code=200,
        summary="Analyse the reports around a seed report",
        description=(
            "Body: `seq` (required), `radius_m` or `radius_km` (default 250 m, at most 50 km; a "
            "true geodesic circle), `classification` (default: the seed's), `n`, `model`. Public."
        ),
        responses={**_ANSWER, **error_responses(404, body=True)},
    )
    async def from_report(
        self, data: JSONBody[FromReportRequest], db_engine: DbEngine
    ) -> Response[Any]:
        """Group the visible reports within a metre radius of a seed report, as analyze does."""
        return _respond(
            await anyio.to_thread.run_sync(partial(clusters.analyze_from_report, db_engine, data))
        )

    @post(
        "/explain-pair",
        status_code=200,
        summary="Explain why two reports are, or are not, grouped (new)",
        description=(
            "Body: `focal_seq`, `neighbor_seq` (visible reports, required), `model` "
            "(`default` or `upstream`), `classification`. Answer: the score, the threshold, "
            "`is_edge`, and per feature its kernel value and contribution, the raw measures "
            "(`distance_m`, `jaccard`, `severity_diff`, `time_diff_s`), the shared tokens and "
            "the features unknown on either side. 404 when a report is unknown or hidden. Public."
        ),
        responses=error_responses(404, body=True),
    )
    async def explain_pair(
        self, data: JSONBody[ExplainPairRequest], db_engine: DbEngine
    ) -> PairExplanationJSON:
        """Explain a pair of reports feature by feature (``cleanapp_geo.explain_pair``)."""
        return await anyio.to_thread.run_sync(partial(explain.explain_pair, db_engine, data))
