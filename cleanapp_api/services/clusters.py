"""Scope analysis and candidate-case matching behind the cluster routes (read-only).

Request options and limits
--------------------------
* ``classification``: ``physical`` (default) or ``digital``, case-insensitive, trimmed;
  anything else is 400 (the store holds only these two).
* ``n``: reports analysed, newest first. Missing, null or 0 → 250 (upstream's default);
  negative → 400; more than :data:`MAX_ANALYSIS_N` = 10,000 → 400. Upstream capped at
  100,000 with an O(n²) grouping; ours is exact and fast at 10k (p99 well under 1 s), and
  10k also bounds the response (about 1 KB per report).
* ``model``: ``"default"`` (the default: :data:`cleanapp_geo.DEFAULT_MODEL`, smooth kernels,
  a 150 m radius gate and a time feature) or ``"upstream"`` (:data:`cleanapp_geo.UPSTREAM_MODEL`,
  the Go system's weights, stop words and threshold, for wire fidelity and regression
  checks); anything else is 400. The response echoes the preset in ``model``. Why not
  upstream by default: the response *shape* is upstream's either way, but upstream's
  grouping links reports kilometres apart on a 16% text overlap and,
  without a radius gate, costs about 1 s of CPU per 10k reports (the default model: about
  0.3 s), which would break the 1 s budget of a 10k-report scope.
* ``from-report``: ``radius_m`` (metres, new) wins over upstream's ``radius_km``; neither
  → 250 m; negative → 400; more than :data:`MAX_RADIUS_M` = 50 km → 400. The scope is a true
  geodesic circle and any classification is analysed (upstream: a ±radius/111° square box,
  physical only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.domain_errors import InvalidRequest, NotFound
from cleanapp_api.schemas import (
    AnalyzeRequest,
    CaseMatchCandidateJSON,
    ClusterAnalysisResponse,
    ClusterStatsJSON,
    FromReportRequest,
    HypothesisJSON,
    MatchClusterRequest,
    MatchClusterResponse,
    ReportWithAnalysis,
)
from cleanapp_api.services.targets import suggest_targets_for_details
from cleanapp_api.streaming import STREAM_MIN_ITEMS, StreamedJSON, batched
from cleanapp_geo.matching import (
    ACTIVE_STATUSES,
    REOPEN_WINDOW_S,
    REOPENABLE_STATUSES,
    CaseMatchCandidate,
    cases_frame,
    match_cases,
)
from cleanapp_geo.schema import CLASSIFICATION, SEQ, classification_mask

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_N",
    "DEFAULT_RADIUS_M",
    "MAX_ANALYSIS_N",
    "MAX_RADIUS_M",
    "MAX_REPORT_SEQS",
    "MAX_SEQ",
    "MODELS",
    "PARALLEL_MIN_REPORTS",
    "analyze_from_report",
    "analyze_geometry",
    "candidate_json",
    "find_candidates",
    "match_cluster",
    "parse_classification",
    "parse_geometry",
    "parse_n",
    "parse_seqs",
]

DEFAULT_N: Final = 250
MAX_ANALYSIS_N: Final = 10_000
DEFAULT_RADIUS_M: Final = 250.0
MAX_RADIUS_M: Final = 50_000.0
MAX_REPORT_SEQS: Final = 10_000
#: Largest report seq (the store's BIGINT).
MAX_SEQ: Final = 2**63 - 1
#: From this many analysed reports on, details, candidates and targets load in parallel.
PARALLEL_MIN_REPORTS: Final = 2_000
MODELS: Final = {"default": cg.DEFAULT_MODEL, "upstream": cg.UPSTREAM_MODEL}
DEFAULT_MODEL_NAME: Final = "default"

_T = TypeVar("_T")

MSG_SEQ_REQUIRED: Final = "seq is required"
MSG_SEED_NOT_FOUND: Final = "seed report not found"


# =========================================================================== parsing


def parse_classification(value: str | None) -> str:
    """Return ``physical`` or ``digital`` (default ``physical``), else raise 400."""
    text = (value or "").strip().lower()
    if not text:
        return "physical"
    if text not in t.CLASSIFICATIONS:
        raise InvalidRequest(
            f"classification must be one of {', '.join(t.CLASSIFICATIONS)}, got {value!r}"
        )
    return text


def parse_n(value: int | None) -> int:
    """Read ``n``: missing, null or 0 → 250; negative or above 10,000 → 400."""
    if value is None or value == 0:
        return DEFAULT_N
    if value < 0:
        raise InvalidRequest(f"n must be a positive integer, got {value}")
    if value > MAX_ANALYSIS_N:
        raise InvalidRequest(f"n must be at most {MAX_ANALYSIS_N}, got {value}")
    return value


def _parse_model(value: str | None) -> tuple[str, cg.SimilarityModel]:
    name = (value or "").strip().lower() or DEFAULT_MODEL_NAME
    if name not in MODELS:
        raise InvalidRequest(f"model must be one of {', '.join(MODELS)}, got {value!r}")
    return name, MODELS[name]


def parse_geometry(
    obj: Mapping[str, Any] | None, *, required: bool
) -> tuple[shapely.Polygon | shapely.MultiPolygon | None, dict[str, Any] | None]:
    """Validate a GeoJSON scope; return it as shapely and as a Polygon/MultiPolygon object.

    Parameters
    ----------
    obj : mapping or None
        GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection.
    required : bool
        Whether a missing geometry is an error (``geometry is required``).

    Returns
    -------
    tuple
        ``(geometry, echo)``: the shapely geometry and the GeoJSON to echo (a Feature's
        geometry as sent; the union for a FeatureCollection), or ``(None, None)``.

    Raises
    ------
    InvalidScopeError
        Mapped to 400 with the library's message.
    """
    if obj is None and not required:
        return None, None
    geometry = cg.parse_scope_geojson(obj)  # type: ignore[arg-type]
    sent = obj.get("geometry") if obj is not None and obj.get("type") == "Feature" else obj
    kind = sent.get("type") if isinstance(sent, Mapping) else None
    # Echo a Polygon or MultiPolygon as sent, unless the library cut it at the antimeridian.
    parts_sent = 1 if kind == "Polygon" else len(sent["coordinates"]) if sent else 0
    if kind in ("Polygon", "MultiPolygon") and parts_sent == len(shapely.get_parts(geometry)):
        echo = dict(sent)  # type: ignore[arg-type]
    else:
        echo = cg.scope_geojson(geometry)
    return geometry, echo


def parse_seqs(values: Sequence[int] | None, *, name: str = "report_seqs") -> list[int]:
    """De-duplicate seqs keeping their order; 400 on non-positive values or too many."""
    seqs = list(dict.fromkeys(values or []))
    bad = [s for s in seqs if not 0 < s <= MAX_SEQ]
    if bad:
        raise InvalidRequest(f"{name} must be positive integers, got {bad[:10]}")
    if len(seqs) > MAX_REPORT_SEQS:
        raise InvalidRequest(f"{name} may hold at most {MAX_REPORT_SEQS} seqs, got {len(seqs)}")
    return seqs


# =========================================================================== matching


def candidate_json(candidate: CaseMatchCandidate) -> CaseMatchCandidateJSON:
    """Wire form of a library candidate."""
    return CaseMatchCandidateJSON(**candidate.to_dict())


def _points(reports: gpd.GeoDataFrame) -> shapely.Geometry | None:
    if len(reports) == 0:
        return None
    return shapely.MultiPoint(np.asarray(reports.geometry.array).tolist())


def find_candidates(
    conn: sa.Connection,
    *,
    classification: str,
    reports: gpd.GeoDataFrame,
    area: shapely.Geometry | cg.RadiusScope | None,
    texts: Sequence[str],
    now: datetime | None = None,
) -> list[CaseMatchCandidate]:
    """Look candidate cases up (indexed) and score them with :func:`match_cases`.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    classification : str
        The cluster's classification.
    reports : geopandas.GeoDataFrame
        The cluster's reports.
    area : shapely (multi)polygon, RadiusScope or None
        The cluster's scope.
    texts : sequence of str
        Match texts.
    now : datetime, optional
        Reference time (default: now).

    Returns
    -------
    list of CaseMatchCandidate
        Best first.
    """
    reference = now or datetime.now(UTC)
    lookup = area.to_polygon() if isinstance(area, cg.RadiusScope) else area
    if lookup is None:
        lookup = _points(reports)
    seqs = reports["seq"].to_numpy(dtype=np.int64).tolist() if len(reports) else []
    records = repo.candidate_case_records(
        conn,
        classification=classification,
        area=lookup,
        seqs=seqs,
        active_statuses=ACTIVE_STATUSES,
        reopenable_statuses=REOPENABLE_STATUSES,
        reopen_since=reference - timedelta(seconds=REOPEN_WINDOW_S),
    )
    if not records:
        return []
    return match_cases(
        cases_frame(records),
        reports,
        geometry=area,
        texts=texts,
        classification=classification,
        now=pd.Timestamp(reference),
    )


# =========================================================================== analysis


def _on_connection(engine: sa.Engine, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    with engine.connect() as conn:
        return fn(conn, *args, **kwargs)


def _details_and_targets(
    conn: sa.Connection, seqs: Sequence[int], area: shapely.Geometry
) -> tuple[list[ReportWithAnalysis], list[dict[str, Any]]]:
    """Load the reports' details, then suggest targets from their analyses (one connection)."""
    details = repo.report_details(conn, seqs)
    return details, suggest_targets_for_details(conn, details=details, area=area)


def _analysis_response(
    engine: sa.Engine,
    conn: sa.Connection,
    *,
    frame: gpd.GeoDataFrame,
    classification: str,
    model_name: str,
    scope_type: str,
    area: shapely.Geometry | cg.RadiusScope,
    echo: dict[str, Any] | None,
    anchor_seq: int | None = None,
    radius_m: float | None = None,
) -> ClusterAnalysisResponse | StreamedJSON:
    """Analyse the reports; load their details, candidate cases and targets.

    The loads need only the analysed reports, not the analysis: the details (every analysis
    row of each report), from which the targets are suggested (only areas and brand
    contacts are read for them), and the candidate cases. Below
    :data:`PARALLEL_MIN_REPORTS` reports they run one after the other on ``conn`` (the
    connection the reports were read on); from it on, on two threads with their own
    connections while this thread groups the reports, so PostgreSQL and numpy work overlap.
    Candidate matching uses the reports' texts, which contain every hypothesis title
    (upstream added the titles as separate match texts). From
    :data:`~cleanapp_api.streaming.STREAM_MIN_ITEMS` reports or hypotheses on, the answer is
    a :class:`~cleanapp_api.streaming.StreamedJSON` (the same JSON, written in batches).
    """
    kept = classification_mask(frame[CLASSIFICATION], classification)  # as cg.analyze
    analysed = frame if kept.all() else frame[kept]  # read by classification: all, no copy
    polygon = area.to_polygon() if isinstance(area, cg.RadiusScope) else area
    seqs = analysed[SEQ].tolist()
    model = MODELS[model_name]
    candidates: list[CaseMatchCandidate]
    if len(analysed) >= PARALLEL_MIN_REPORTS:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cleanapp-analysis") as pool:
            loaded = pool.submit(_on_connection, engine, _details_and_targets, seqs, polygon)
            matched = pool.submit(
                _on_connection,
                engine,
                find_candidates,
                classification=classification,
                reports=analysed,
                area=area,
                texts=(),
            )
            result = cg.analyze(analysed, classification=classification, model=model)
            details, targets = loaded.result()
            candidates = matched.result()
    else:
        details, targets = _details_and_targets(conn, seqs, polygon)
        candidates = find_candidates(
            conn, classification=classification, reports=analysed, area=area, texts=()
        )
        result = cg.analyze(analysed, classification=classification, model=model)
    large = max(len(details), len(result.table)) >= STREAM_MIN_ITEMS
    answer = ClusterAnalysisResponse(
        scope_type=scope_type,
        classification=classification,
        anchor_report_seq=anchor_seq,
        geometry=echo,
        radius_m=radius_m,
        model=model_name,
        reports=[] if large else details,
        stats=ClusterStatsJSON(**result.stats.to_dict()),
        hypotheses=[] if large else [HypothesisJSON(**r) for r in result.table.to_records()],
        suggested_targets=targets,
        candidate_cases=[candidate_json(c) for c in candidates],
    )
    if not large:
        return answer
    # Large answers are streamed: the same bytes, a batch of reports or hypotheses at a time.
    return StreamedJSON(
        answer, {"reports": batched(details), "hypotheses": _hypothesis_batches(result)}
    )


def _hypothesis_batches(
    result: cg.AnalysisResult, size: int = 500
) -> Callable[[], Iterator[list[dict[str, Any]]]]:
    """Wire objects of the hypotheses, ``size`` at a time, straight from the columns."""

    def batches() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(result.table), size):
            stop = min(start + size, len(result.table))
            yield result.table.to_records(positions=np.arange(start, stop))

    return batches


def analyze_geometry(
    engine: sa.Engine, request: AnalyzeRequest
) -> ClusterAnalysisResponse | StreamedJSON:
    """``POST /clusters/analyze``: analyse the visible reports inside a GeoJSON scope.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    request : AnalyzeRequest
        The parsed body.

    Returns
    -------
    ClusterAnalysisResponse or StreamedJSON
        The answer; a large one is streamed (see :func:`_analysis_response`).
    """
    geometry, echo = parse_geometry(request.geometry, required=True)
    assert geometry is not None
    classification = parse_classification(request.classification)
    n = parse_n(request.n)
    model_name, _ = _parse_model(request.model)
    with engine.connect() as conn:
        frame = cio.read_reports(conn, scope=geometry, classification=classification, limit=n)
        return _analysis_response(
            engine,
            conn,
            frame=frame,
            classification=classification,
            model_name=model_name,
            scope_type="geometry",
            area=geometry,
            echo=echo,
        )


def _radius_m(request: FromReportRequest) -> float:
    for name, value, scale in (
        ("radius_m", request.radius_m, 1.0),
        ("radius_km", request.radius_km, 1000.0),
    ):
        if value is None or value == 0:
            continue
        if not math.isfinite(value) or value < 0:
            raise InvalidRequest(f"{name} must be a positive number, got {value}")
        metres = value * scale
        if metres > MAX_RADIUS_M:
            raise InvalidRequest(f"{name} must be at most {MAX_RADIUS_M / scale:g}, got {value}")
        return metres
    return DEFAULT_RADIUS_M


def analyze_from_report(
    engine: sa.Engine, request: FromReportRequest
) -> ClusterAnalysisResponse | StreamedJSON:
    """``POST /clusters/from-report``: analyse the reports within a metre radius of a seed report.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    request : FromReportRequest
        The parsed body.

    Returns
    -------
    ClusterAnalysisResponse or StreamedJSON
        ``scope_type = seed_report``, ``anchor_report_seq`` = the seed, ``radius_m``.

    Raises
    ------
    CaseServiceError
        400 ``seq is required`` (missing or 0), 400 on a negative seq or a bad radius,
        404 ``seed report not found`` when the seed is unknown, hidden or has no analysis.
    """
    if request.seq is None or request.seq == 0:
        raise InvalidRequest(MSG_SEQ_REQUIRED)
    if not 0 < request.seq <= MAX_SEQ:
        raise InvalidRequest(f"seq must be a positive integer, got {request.seq}")
    radius = _radius_m(request)
    n = parse_n(request.n)
    model_name, _ = _parse_model(request.model)
    with engine.connect() as conn:
        state = repo.report_states(conn, [request.seq]).get(request.seq)
        if state is None or not state.anchorable:
            raise NotFound(MSG_SEED_NOT_FOUND)
        seed = cio.read_reports(conn, seqs=[request.seq], visible_only=False)
        point = seed.geometry.iloc[0]
        classification = (
            parse_classification(request.classification)
            if (request.classification or "").strip()
            else parse_classification(seed["classification"].iloc[0] or None)
        )
        scope = cg.RadiusScope(longitude=point.x, latitude=point.y, radius_m=radius)
        frame = cio.read_reports(conn, scope=scope, classification=classification, limit=n)
        return _analysis_response(
            engine,
            conn,
            frame=frame,
            classification=classification,
            model_name=model_name,
            scope_type="seed_report",
            area=scope,
            echo=None,
            anchor_seq=request.seq,
            radius_m=radius,
        )


def load_linkable(conn: sa.Connection, seqs: Sequence[int]) -> gpd.GeoDataFrame:
    """Load reports by seq; 400 listing the unknown or invisible ones.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    seqs : sequence of int
        Report seqs (positive, de-duplicated).

    Returns
    -------
    geopandas.GeoDataFrame
        The report frame (visible reports with a valid analysis).
    """
    states = repo.report_states(conn, seqs)
    missing = [s for s in seqs if s not in states or not states[s].linkable]
    if missing:
        raise InvalidRequest(f"unknown or invisible report seqs: {missing[:50]}")
    return cio.read_reports(conn, seqs=seqs, visible_only=False)


def match_cluster(engine: sa.Engine, request: MatchClusterRequest) -> MatchClusterResponse:
    """``POST /cases/match-cluster``: the cases a cluster (seqs, or a scope) may belong to.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    request : MatchClusterRequest
        The parsed body.

    Returns
    -------
    MatchClusterResponse
    """
    geometry, _ = parse_geometry(request.geometry, required=False)
    classification = parse_classification(request.classification)
    seqs = parse_seqs(request.report_seqs)
    n = parse_n(request.n)
    with engine.connect() as conn:
        if seqs:
            frame = load_linkable(conn, seqs)
        elif geometry is not None:
            frame = cio.read_reports(conn, scope=geometry, classification=classification, limit=n)
        else:
            frame = cio.read_reports(conn, seqs=[])
        texts = [request.title or "", request.summary or ""]
        candidates = find_candidates(
            conn, classification=classification, reports=frame, area=geometry, texts=texts
        )
    return MatchClusterResponse(
        classification=classification, candidate_cases=[candidate_json(c) for c in candidates]
    )
