"""The footprint of a case: the geometry, bounding box and area that cover its reports (pure).

A case's aggregate geometry is upstream's FeatureCollection of its cluster snapshots'
geometries (Features kept, FeatureCollections flattened, bare geometries wrapped in a
Feature). Upstream left it empty for a case made from reports alone, and a report linked
later (by hand or by automatic matching) could lie outside it; the web client's mini-map
then showed nothing, or not the whole case. :func:`case_footprint` keeps upstream's features
and, whenever a linked report lies outside their area (or there is no area at all), adds one
Feature: the convex hull of every linked report buffered by :data:`CASE_BUFFER_M` metres
(:func:`report_hull`). So the area always covers every linked report, and a case whose
snapshots already cover its reports keeps upstream's geometry unchanged.

Hulls are buffered in a local equirectangular projection centred on the reports
(``x = R · cos(φ0) · Δλ``, ``y = R · Δφ``): over the few kilometres a case spans the
projection distorts lengths by far less than a metre, and it costs no projection set-up.

Examples
--------
>>> fp = case_footprint([], [8.5417, 8.5419], [47.3769, 47.3770])
>>> [f["properties"]["source"] for f in fp.features]
['linked_reports']
>>> bool(fp.area.covers(shapely.points(8.5417, 47.3769)))
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from cleanapp_geo.errors import CleanAppGeoError

__all__ = [
    "CASE_BUFFER_M",
    "HULL_SOURCE",
    "CaseFootprint",
    "InvalidFootprintError",
    "case_footprint",
    "covering_area",
    "report_hull",
    "snapshot_area",
    "snapshot_features",
]

#: Metres by which the hull of a case's reports is buffered (a phone's GPS error).
CASE_BUFFER_M: Final = 10.0
#: ``properties.source`` of the Feature that holds the hull of the linked reports.
HULL_SOURCE: Final = "linked_reports"

_EARTH_RADIUS_M: Final = 6_371_008.8
_M_PER_DEG: Final = math.pi * _EARTH_RADIUS_M / 180.0
_QUAD_SEGMENTS: Final = 8


class InvalidFootprintError(CleanAppGeoError, ValueError):
    """Report coordinates of a footprint are malformed."""


@dataclass(frozen=True, slots=True)
class CaseFootprint:
    """Where a case is: its aggregate Features, their union and its bounding box.

    Attributes
    ----------
    features : tuple of dict
        GeoJSON Features of the aggregate FeatureCollection (empty when the case has
        neither a geometry nor reports).
    area : shapely.Geometry or None
        Union of the Features' valid geometries (EPSG:4326), None when there are none.
    bbox : tuple of float or None
        ``(west, south, east, north)`` of ``area``.
    """

    features: tuple[dict[str, Any], ...]
    area: shapely.Geometry | None
    bbox: tuple[float, float, float, float] | None

    def feature_collection(self) -> dict[str, Any] | None:
        """Return the aggregate geometry as a GeoJSON FeatureCollection (None without features)."""
        if not self.features:
            return None
        return {"type": "FeatureCollection", "features": list(self.features)}


def snapshot_features(geometries: Iterable[object]) -> list[dict[str, Any]]:
    """Upstream's aggregate members: Features kept, collections flattened, geometries wrapped.

    Parameters
    ----------
    geometries : iterable
        GeoJSON objects (parsed); anything that is not a non-empty mapping is skipped.

    Returns
    -------
    list of dict
        GeoJSON Features.

    Examples
    --------
    >>> point = {"type": "Point", "coordinates": [8.5, 47.3]}
    >>> [f["type"] for f in snapshot_features([point, None, {"type": "Feature",
    ...     "properties": {}, "geometry": point}])]
    ['Feature', 'Feature']
    """
    features: list[dict[str, Any]] = []
    for obj in geometries:
        if not isinstance(obj, Mapping) or not obj:
            continue
        kind = obj.get("type")
        if kind == "Feature":
            features.append(dict(obj))
        elif kind == "FeatureCollection":
            members = obj.get("features") or []
            features.extend(dict(f) for f in members if isinstance(f, Mapping))
        else:
            features.append({"type": "Feature", "properties": {}, "geometry": dict(obj)})
    return features


def _feature_area(features: Sequence[Mapping[str, Any]]) -> shapely.Geometry | None:
    parts = []
    for feature in features:
        geometry = feature.get("geometry")
        if not isinstance(geometry, Mapping):
            continue
        try:
            geom = shapely.from_geojson(json.dumps(geometry))
        except (shapely.errors.GEOSException, TypeError, ValueError):
            continue
        if not geom.is_empty and shapely.is_valid(geom):
            parts.append(geom)
    if not parts:
        return None
    return shapely.union_all(parts)


def _coordinates(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(lon, dtype=np.float64).ravel()
    y = np.asarray(lat, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InvalidFootprintError(
            f"lon and lat must have the same length, got {len(x)} and {len(y)}"
        )
    bad = ~(np.isfinite(x) & np.isfinite(y)) | (np.abs(x) > 180) | (np.abs(y) > 90)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InvalidFootprintError(
            f"report coordinates must be finite longitudes in [-180, 180] and latitudes in "
            f"[-90, 90], got ({x[k]!r}, {y[k]!r}) at position {k}"
        )
    return x, y


def report_hull(
    lon: npt.ArrayLike, lat: npt.ArrayLike, *, buffer_m: float = CASE_BUFFER_M
) -> shapely.Polygon | None:
    """Convex hull of report points buffered by ``buffer_m`` metres (None without points).

    One point gives a disc, two a capsule. The buffer is applied in a local metric
    projection (see the module docstring), so it is ``buffer_m`` metres in every
    direction.

    Parameters
    ----------
    lon, lat : array-like of float
        Report coordinates in degrees (EPSG:4326).
    buffer_m : float, default CASE_BUFFER_M
        Buffer in metres, > 0.

    Returns
    -------
    shapely.Polygon or None
        A valid polygon in longitude/latitude.

    Raises
    ------
    InvalidFootprintError
        When the coordinates are not finite, out of range or of unequal length, or
        ``buffer_m`` is not a positive number.

    Examples
    --------
    >>> hull = report_hull([8.5417], [47.3769], buffer_m=10.0)
    >>> round(hull.bounds[3] - 47.3769, 6)  # 10 m north, in degrees
    9e-05
    """
    if isinstance(buffer_m, bool) or not (
        isinstance(buffer_m, int | float) and math.isfinite(buffer_m) and buffer_m > 0
    ):
        raise InvalidFootprintError(f"buffer_m must be a positive number, got {buffer_m!r}")
    x, y = _coordinates(lon, lat)
    if len(x) == 0:
        return None
    lon0, lat0 = float(np.mean(x)), float(np.mean(y))
    scale_x = _M_PER_DEG * math.cos(math.radians(lat0))
    local = shapely.multipoints(np.column_stack(((x - lon0) * scale_x, (y - lat0) * _M_PER_DEG)))
    shape = shapely.buffer(shapely.convex_hull(local), float(buffer_m), quad_segs=_QUAD_SEGMENTS)
    ring = shapely.get_coordinates(shapely.get_exterior_ring(shape))
    # An affine map of a convex polygon: still a valid convex polygon.
    return shapely.Polygon(
        np.column_stack((lon0 + ring[:, 0] / scale_x, lat0 + ring[:, 1] / _M_PER_DEG))
    )


def snapshot_area(geometries: Iterable[object]) -> shapely.Geometry | None:
    """Return the union of the snapshots' valid geometries (None: there are none).

    The area :func:`case_footprint` starts from; a link does not change it, so a caller
    that refreshes a case after each link computes it once (see :func:`covering_area`).
    """
    return _feature_area(snapshot_features(geometries))


def covering_area(
    area: shapely.Geometry | None,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    buffer_m: float = CASE_BUFFER_M,
) -> shapely.Geometry | None:
    """Return ``case_footprint(geometries, lon, lat).area`` from ``snapshot_area(geometries)``.

    The same area, without building the hull's GeoJSON Feature.

    Examples
    --------
    >>> geoms, lon, lat = [], [8.5417, 8.5419], [47.3769, 47.3770]
    >>> covering_area(snapshot_area(geoms), lon, lat).equals_exact(
    ...     case_footprint(geoms, lon, lat).area, 0.0)
    True
    """
    x, y = _coordinates(lon, lat)
    if len(x) and (area is None or not bool(np.all(shapely.intersects_xy(area, x, y)))):
        hull = report_hull(x, y, buffer_m=buffer_m)
        area = hull if area is None else shapely.union(area, hull)
    return area


def case_footprint(
    geometries: Iterable[object],
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    buffer_m: float = CASE_BUFFER_M,
) -> CaseFootprint:
    """Compute a case's aggregate geometry, area and bounding box (module docstring).

    Parameters
    ----------
    geometries : iterable
        GeoJSON objects of the case's snapshots (or its own scope when it has none),
        parsed.
    lon, lat : array-like of float
        Coordinates of every linked report.
    buffer_m : float, default CASE_BUFFER_M
        Buffer of the report hull, metres.

    Returns
    -------
    CaseFootprint
        Upstream's Features, plus the buffered hull of the reports when one lies outside
        their area; ``area`` covers every report.

    Raises
    ------
    InvalidFootprintError
        As :func:`report_hull`.

    Examples
    --------
    >>> square = {"type": "Polygon", "coordinates": [[[8.5, 47.3], [8.6, 47.3], [8.6, 47.4],
    ...                                                [8.5, 47.4], [8.5, 47.3]]]}
    >>> len(case_footprint([square], [8.55], [47.35]).features)  # covered: unchanged
    1
    >>> len(case_footprint([square], [8.55, 8.7], [47.35, 47.35]).features)
    2
    """
    features = snapshot_features(geometries)
    area = _feature_area(features)
    x, y = _coordinates(lon, lat)
    if len(x) and (area is None or not bool(np.all(shapely.intersects_xy(area, x, y)))):
        hull = report_hull(x, y, buffer_m=buffer_m)
        assert hull is not None
        features.append(
            {
                "type": "Feature",
                "properties": {"source": HULL_SOURCE, "buffer_m": float(buffer_m)},
                "geometry": json.loads(shapely.to_geojson(hull)),
            }
        )
        area = hull if area is None else shapely.union(area, hull)
    bbox = None
    if area is not None:
        w, s, e, n = (float(v) for v in shapely.bounds(area))
        bbox = (w, s, e, n)
    return CaseFootprint(features=tuple(features), area=area, bbox=bbox)
