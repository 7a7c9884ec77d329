"""Group geolocated CleanApp reports into explainable incident hypotheses.

``import cleanapp_geo as cg`` gives the whole library; it never imports SQLAlchemy or
Litestar (the PostGIS loaders live in :mod:`cleanapp_geo.io` and are imported explicitly).

Examples
--------
>>> import cleanapp_geo as cg
>>> reports = cg.reports_from_records([
...     {"seq": 1, "ts": "2026-03-10T08:00:00Z", "latitude": 47.3769, "longitude": 8.5417,
...      "severity_level": 0.9, "title": "Facade bricks falling over entrance"},
...     {"seq": 2, "ts": "2026-03-10T08:30:00Z", "latitude": 47.3770, "longitude": 8.5418,
...      "severity_level": 0.8, "title": "Loose facade bricks above entrance"},
... ])
>>> result = cg.analyze(reports, model=cg.UPSTREAM_MODEL, now="2026-03-10T12:00:00Z")
>>> [h.report_seqs for h in result.hypotheses]
[(1, 2)]
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from cleanapp_geo import (
    calibration,
    evaluation,
    footprint,
    ingest,
    ingest_batch,
    matching,
    realdata,
    routing,
    streams,
    synthetic,
    targets,
    tuning,
)
from cleanapp_geo.analysis import AnalysisResult, IncidentClusterer, analyze
from cleanapp_geo.errors import (
    CleanAppGeoError,
    ExhaustiveScoringWarning,
    InvalidLabelledDataError,
    InvalidModelError,
    InvalidReportsError,
    InvalidScopeError,
    UnknownReportError,
)
from cleanapp_geo.hypotheses import ClusterStats, IncidentHypothesis, hypothesis_id
from cleanapp_geo.matching import CaseMatchCandidate, match_cases
from cleanapp_geo.model import DEFAULT_MODEL, UPSTREAM_MODEL, SimilarityModel
from cleanapp_geo.reports import (
    reports_from_features,
    reports_from_records,
    select_preferred_analysis,
)
from cleanapp_geo.schema import REPORT_COLUMNS, validate_reports
from cleanapp_geo.scope import (
    RadiusScope,
    Scope,
    as_scope,
    parse_scope_geojson,
    radius_scope,
    radius_scope_around_report,
    scope_geojson,
    scope_mask,
    scope_reports,
)
from cleanapp_geo.similarity import PairExplanation, explain_pair, similarity_edges
from cleanapp_geo.synthetic import make_reports
from cleanapp_geo.targets import (
    ContactDiscoveryProvider,
    EscalationTarget,
    is_valid_email,
    merge_targets,
    suggest_targets,
    suggest_targets_from_records,
)
from cleanapp_geo.text import tokenize

try:
    __version__ = version("cleanapp-cases")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "DEFAULT_MODEL",
    "REPORT_COLUMNS",
    "UPSTREAM_MODEL",
    "AnalysisResult",
    "CaseMatchCandidate",
    "CleanAppGeoError",
    "ClusterStats",
    "ContactDiscoveryProvider",
    "EscalationTarget",
    "ExhaustiveScoringWarning",
    "IncidentClusterer",
    "IncidentHypothesis",
    "InvalidLabelledDataError",
    "InvalidModelError",
    "InvalidReportsError",
    "InvalidScopeError",
    "PairExplanation",
    "RadiusScope",
    "Scope",
    "SimilarityModel",
    "UnknownReportError",
    "__version__",
    "analyze",
    "as_scope",
    "calibration",
    "evaluation",
    "explain_pair",
    "footprint",
    "hypothesis_id",
    "ingest",
    "ingest_batch",
    "is_valid_email",
    "make_reports",
    "match_cases",
    "matching",
    "merge_targets",
    "parse_scope_geojson",
    "radius_scope",
    "radius_scope_around_report",
    "realdata",
    "reports_from_features",
    "reports_from_records",
    "routing",
    "scope_geojson",
    "scope_mask",
    "scope_reports",
    "select_preferred_analysis",
    "similarity_edges",
    "streams",
    "suggest_targets",
    "suggest_targets_from_records",
    "synthetic",
    "targets",
    "tokenize",
    "tuning",
    "validate_reports",
]
