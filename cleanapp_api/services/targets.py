"""Escalation-target suggestion for analysed clusters (filled in by the escalation issue).

:func:`suggest_targets` is the single place the analysis routes (``POST /clusters/analyze``,
``POST /clusters/from-report``) ask for ``suggested_targets``. Until the escalation issue
implements it (``cleanapp_geo.targets`` plus the store queries) it suggests nothing.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely
import sqlalchemy as sa

__all__ = ["SUGGESTED_TARGETS_LIMIT", "suggest_targets"]

#: Upstream's limit on suggested targets per analysis (reference §2.2).
SUGGESTED_TARGETS_LIMIT = 8


def suggest_targets(
    conn: sa.Connection,
    *,
    reports: gpd.GeoDataFrame,
    area: shapely.Geometry | None,
    limit: int = SUGGESTED_TARGETS_LIMIT,
) -> list[dict[str, Any]]:
    """Suggest escalation targets for a cluster (none yet).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store (area and brand contacts live there).
    reports : geopandas.GeoDataFrame
        The analysed reports (a report frame).
    area : shapely.Geometry, optional
        The scope: a (multi)polygon, or None for a seed-report cluster without one.
    limit : int, default 8
        Largest number of targets.

    Returns
    -------
    list of dict
        Target objects with the wire fields of reference §3.5 (without ``id``,
        ``case_id`` and ``created_at``); currently always empty.
    """
    return []
