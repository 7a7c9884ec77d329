"""``POST /reports/by-geometry``: the reports of a scope (the place search's preview).

The web client's place search calls it before an analysis. The scope, ``classification``
and ``n`` are read exactly as ``POST /clusters/analyze`` reads them (same messages, same
limits), and the same reports are selected: visible ones whose point lies in the scope
(boundary included) with a valid analysis of the classification, newest first, at most
``n``. The answer is a JSON array of ``{"report", "analysis"}`` objects (the analysis
routes' ``reports`` entries): with ``?full_data=true`` every analysis row of each report,
else (the default) only its preferred one (English, else the smallest language code).
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

import cleanapp_geo.io as cio
from cleanapp_api.db import repositories as repo
from cleanapp_api.domain_errors import InvalidRequest
from cleanapp_api.matching_schemas import ByGeometryRequest
from cleanapp_api.schemas import ReportWithAnalysis
from cleanapp_api.services.clusters import parse_classification, parse_geometry, parse_n
from cleanapp_geo.schema import LANGUAGE, SEQ

__all__ = ["parse_full_data", "reports_by_geometry"]

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


def parse_full_data(raw: str | None) -> bool:
    """Read ``?full_data=`` (``true``/``false``, ``1``/``0``...; default false).

    Examples
    --------
    >>> parse_full_data("TRUE"), parse_full_data(None)
    (True, False)
    """
    text = (raw or "").strip().lower()
    if text not in _TRUE | _FALSE:
        raise InvalidRequest(f"full_data must be true or false, got {raw!r}")
    return text in _TRUE


def reports_by_geometry(
    engine: sa.Engine, request: ByGeometryRequest, *, full_data: bool = False
) -> list[ReportWithAnalysis]:
    """Select the visible reports of a scope (module docstring), newest first.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    request : ByGeometryRequest
        ``geometry`` (required), ``classification``, ``n``.
    full_data : bool, default False
        Every analysis row of each report instead of its preferred one.

    Returns
    -------
    list of ReportWithAnalysis
    """
    geometry, _ = parse_geometry(request.geometry, required=True)
    assert geometry is not None
    classification = parse_classification(request.classification)
    n = parse_n(request.n)
    with engine.connect() as conn:
        frame = cio.read_reports(conn, scope=geometry, classification=classification, limit=n)
        details = repo.report_details(conn, frame[SEQ].tolist())
    if full_data:
        return details
    preferred = dict(zip(frame[SEQ].tolist(), frame[LANGUAGE].tolist(), strict=True))
    for item in details:
        item.analysis = [a for a in item.analysis if a.language == preferred[item.report.seq]]
    return details
