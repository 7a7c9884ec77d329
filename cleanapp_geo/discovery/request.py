"""The discovery request of a case: where to look and what for (pure, upstream §6.3 step 3)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from cleanapp_geo.routing.profile import HazardProfile, hazard_profile
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    BRAND_NAME,
    CLASSIFICATION,
    GEOMETRY,
    SEVERITY_LEVEL,
    TITLE,
    TS,
)
from cleanapp_geo.targets.suggest import DiscoveryRequest
from cleanapp_geo.targets.target import EscalationTarget

__all__ = ["case_discovery_request"]


def _column(frame: pd.DataFrame, name: str, default: object) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([default] * len(frame), index=frame.index)


def case_discovery_request(
    reports: pd.DataFrame,
    *,
    existing: Iterable[EscalationTarget] = (),
    limit: int = 16,
    budget_s: float = 5.0,
    hazard: HazardProfile | None = None,
) -> DiscoveryRequest:
    """Build the discovery request of a case from its reports.

    The seed is the most severe report with a point (ties: the newest), as upstream; its
    brand names (and, for a digital report, its title) are the candidate names; the hazard
    profile (:func:`~cleanapp_geo.routing.hazard_profile`) gives the defect and asset class.
    Upstream also tried a second seed at other coordinates; one is asked here, so a case
    costs one reverse geocode.

    Parameters
    ----------
    reports : pandas.DataFrame
        The case's reports (a report frame: ``geometry`` points in EPSG:4326,
        ``severity_level``, ``ts``, ``title``, ``classification``, brand columns).
    existing : iterable of EscalationTarget
        The case's current targets.
    limit : int, default 16
        Targets wanted (upstream's refresh limit).
    budget_s : float, default 5.0
        Wall-clock budget (upstream's refresh budget).
    hazard : HazardProfile, optional
        Computed from ``reports`` when omitted.

    Returns
    -------
    DiscoveryRequest
        Without a location when no report has a point.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> reports = gpd.GeoDataFrame({
    ...     "seq": [1, 2], "ts": pd.to_datetime(["2026-03-01", "2026-03-02"], utc=True),
    ...     "classification": ["physical", "physical"], "severity_level": [0.92, 0.4],
    ...     "title": ["Facade bricks falling over school entrance", "Loose bricks"],
    ...     "summary": ["", ""], "brand_display_name": ["Schulhaus Kopfholz", ""],
    ...     "brand_name": ["", ""]},
    ...     geometry=[Point(8.5245, 47.3105), Point(8.5246, 47.3106)], crs="EPSG:4326")
    >>> r = case_discovery_request(reports)
    >>> r.latitude, r.longitude, r.candidate_names, r.defect_class, r.asset_class
    (47.3105, 8.5245, ('Schulhaus Kopfholz',), 'physical_structural', 'school')
    """
    profile = hazard if hazard is not None else hazard_profile(reports)
    base = DiscoveryRequest(
        existing=tuple(existing),
        classification=profile.classification,
        limit=limit,
        budget_s=budget_s,
        defect_class=profile.defect_class,
        asset_class=profile.asset_class,
    )
    if len(reports) == 0 or GEOMETRY not in reports.columns:
        return base
    geometry = reports[GEOMETRY]
    has_point = np.array(
        [g is not None and not g.is_empty and g.geom_type == "Point" for g in geometry]
    )
    if not has_point.any():
        return base
    frame = pd.DataFrame(
        {
            "severity": pd.to_numeric(_column(reports, SEVERITY_LEVEL, 0.0), errors="coerce")
            .fillna(0.0)
            .to_numpy(),
            "ts": pd.to_datetime(_column(reports, TS, pd.NaT), utc=True, errors="coerce")
            .fillna(pd.Timestamp(0, tz="UTC"))
            .to_numpy(),
            "position": np.arange(len(reports)),
        }
    )[has_point]
    seed = int(frame.sort_values(["severity", "ts", "position"],
                                 ascending=[False, False, True])["position"].iloc[0])  # fmt: skip
    row = reports.iloc[seed]
    names = [str(row.get(BRAND_DISPLAY_NAME) or ""), str(row.get(BRAND_NAME) or "")]
    if str(row.get(CLASSIFICATION) or "") == "digital":
        names.append(str(row.get(TITLE) or ""))
    point = row[GEOMETRY]
    return DiscoveryRequest(
        longitude=round(float(point.x), 7),
        latitude=round(float(point.y), 7),
        candidate_names=tuple(dict.fromkeys(n.strip() for n in names if n.strip())),
        existing=base.existing,
        classification=base.classification,
        limit=limit,
        budget_s=budget_s,
        defect_class=base.defect_class,
        asset_class=base.asset_class,
    )
