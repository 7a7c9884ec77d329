"""Group geolocated CleanApp reports into explainable incident hypotheses.

``import cleanapp_geo as cg`` gives the whole library; it never imports SQLAlchemy or
Litestar (the PostGIS loaders live in :mod:`cleanapp_geo.io` and import lazily).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from cleanapp_geo.errors import (
    CleanAppGeoError,
    ExhaustiveScoringWarning,
    InvalidModelError,
    InvalidReportsError,
    InvalidScopeError,
    UnknownReportError,
)
from cleanapp_geo.reports import (
    reports_from_features,
    reports_from_records,
    select_preferred_analysis,
)
from cleanapp_geo.schema import REPORT_COLUMNS, validate_reports

try:
    __version__ = version("cleanapp-cases")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "REPORT_COLUMNS",
    "CleanAppGeoError",
    "ExhaustiveScoringWarning",
    "InvalidModelError",
    "InvalidReportsError",
    "InvalidScopeError",
    "UnknownReportError",
    "__version__",
    "reports_from_features",
    "reports_from_records",
    "select_preferred_analysis",
    "validate_reports",
]
