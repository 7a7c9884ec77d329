"""Scopes: the area a cluster analysis looks at, and the reports inside it.

A *scope* is either a (multi)polygon in longitude/latitude (EPSG:4326), parsed and
validated from GeoJSON by :func:`parse_scope_geojson`, or a :class:`RadiusScope`, a true
geodesic circle of a given radius in metres around a point (not upstream's
``±radius/111``-degree square box). :func:`scope_reports` keeps the reports inside a scope.

Boundary semantics
------------------
* Polygon scopes include points on the boundary, like PostGIS ``ST_Intersects``
  (upstream used ``ST_Within``, which excludes the boundary). Points inside a hole are
  excluded; a point exactly on a hole's ring lies on the boundary and is included.
* Radius scopes include points whose geodesic distance on the WGS84 ellipsoid to the
  centre is at most ``radius_m``, like PostGIS
  ``ST_DWithin(geom::geography, centre::geography, radius_m)`` (spheroid distance).

Polygons are taken as planar in longitude/latitude, as PostGIS ``geometry`` does: edges
are straight lines in degrees. A GeoJSON polygon with an edge crossing the antimeridian
(longitudes more than 180° apart) is cut along it into parts (RFC 7946 §3.1.9,
:mod:`cleanapp_geo.antimeridian`); a shapely polygon is taken as given, and no scope may
have an edge of 180° or 360° of longitude (a whole-world box) or 180° of latitude.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from cleanapp_geo.antimeridian import check_edge_spans
from cleanapp_geo.errors import InvalidReportsError, InvalidScopeError, UnknownReportError
from cleanapp_geo.geojson import (
    MAX_SCOPE_VERTICES,
    is_number,
    parse_scope_geojson,
    short_repr,
    type_name,
    validated_polygonal,
)
from cleanapp_geo.schema import CRS, SEQ

__all__ = [
    "MAX_RADIUS_M",
    "MAX_SCOPE_VERTICES",
    "RadiusScope",
    "Scope",
    "as_scope",
    "parse_scope_geojson",
    "radius_bounding_boxes",
    "radius_scope",
    "radius_scope_around_report",
    "scope_geojson",
    "scope_mask",
    "scope_mask_xy",
    "scope_reports",
]

#: Largest radius a :class:`RadiusScope` may have, in metres.
MAX_RADIUS_M: Final = 1_000_000.0


#: The WGS84 ellipsoid, as PostGIS ``geography`` uses it (read-only after construction).
_WGS84: Final = pyproj.Geod(ellps="WGS84")

# Shortest length of one degree of meridian on WGS84 (at the equator: a·(1 - e²)·π/180),
# less a safety margin; bounds the latitude band a radius scope can reach.
_MIN_METRES_PER_DEGREE_LAT: Final = _WGS84.a * (1.0 - _WGS84.es) * math.pi / 180.0 * 0.999


# --------------------------------------------------------------------------- radius


@dataclass(frozen=True, slots=True)
class RadiusScope:
    """A geodesic circle: every point within ``radius_m`` metres of a centre.

    Distances are geodesic on the WGS84 ellipsoid, as PostGIS ``geography`` measures
    them, so ``contains_xy`` matches ``ST_DWithin(geom::geography, centre::geography,
    radius_m)``. The circle is round in metres at every latitude (unlike upstream's
    ``±radius/111``-degree box, whose corners reach about 1.41 × radius).

    Parameters
    ----------
    longitude : float
        Longitude of the centre in degrees, in [-180, 180].
    latitude : float
        Latitude of the centre in degrees, in [-90, 90].
    radius_m : float
        Radius in metres, in (0, 1_000_000].

    Raises
    ------
    InvalidScopeError
        When a value is not a finite number or is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> scope = RadiusScope(longitude=8.54, latitude=47.37, radius_m=250.0)
    >>> scope.contains_xy(np.array([8.54, 8.55]), np.array([47.371, 47.37])).tolist()
    [True, False]
    """

    longitude: float
    latitude: float
    radius_m: float

    def __post_init__(self) -> None:
        for name in ("longitude", "latitude", "radius_m"):
            value = getattr(self, name)
            if not is_number(value) or not math.isfinite(float(value)):
                raise InvalidScopeError(f"{name} must be a finite number, got {short_repr(value)}")
            object.__setattr__(self, name, float(value))
        if not -180.0 <= self.longitude <= 180.0:
            raise InvalidScopeError(f"longitude must lie in [-180, 180], got {self.longitude}")
        if not -90.0 <= self.latitude <= 90.0:
            raise InvalidScopeError(f"latitude must lie in [-90, 90], got {self.latitude}")
        if not 0.0 < self.radius_m <= MAX_RADIUS_M:
            raise InvalidScopeError(
                f"radius_m must lie in (0, {MAX_RADIUS_M:.0f}] metres, got {self.radius_m}"
            )

    @property
    def center(self) -> shapely.Point:
        """The centre as a shapely Point (longitude, latitude)."""
        return shapely.Point(self.longitude, self.latitude)

    def distance_m(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Geodesic distance in metres from the centre to each point (WGS84 ellipsoid).

        Parameters
        ----------
        lon, lat : numpy.ndarray
            Longitudes and latitudes in degrees, of the same shape.

        Returns
        -------
        numpy.ndarray
            Float distances in metres; NaN where a coordinate is NaN.
        """
        lon_arr = np.asarray(lon, dtype=float)
        lat_arr = np.asarray(lat, dtype=float)
        lon_arr, lat_arr = np.broadcast_arrays(lon_arr, lat_arr)
        if lon_arr.size == 0:
            return np.zeros(lon_arr.shape, dtype=float)
        _, _, dist = _WGS84.inv(
            np.full(lon_arr.shape, self.longitude),
            np.full(lon_arr.shape, self.latitude),
            np.ascontiguousarray(lon_arr),
            np.ascontiguousarray(lat_arr),
        )
        return np.asarray(dist, dtype=float)

    def contains_xy(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Whether each point lies within ``radius_m`` of the centre (boundary included).

        Parameters
        ----------
        lon, lat : numpy.ndarray
            Longitudes and latitudes in degrees, of the same shape.

        Returns
        -------
        numpy.ndarray
            Boolean array: geodesic distance <= ``radius_m``. NaN coordinates give False.

        Notes
        -----
        Only points in the latitude band that can hold the circle are measured: on the
        ellipsoid a geodesic is never shorter than the meridian arc between its end
        latitudes, and a degree of meridian is never shorter than at the equator.
        """
        lon_arr, lat_arr = np.broadcast_arrays(
            np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        )
        band = np.abs(lat_arr - self.latitude) <= self.radius_m / _MIN_METRES_PER_DEGREE_LAT
        inside = np.zeros(lat_arr.shape, dtype=bool)
        inside[band] = self.distance_m(lon_arr[band], lat_arr[band]) <= self.radius_m
        return inside

    def to_polygon(self, n_vertices: int = 128) -> shapely.Polygon:
        """Approximate the circle by a polygon with vertices exactly on it.

        The vertices are the points at geodesic distance ``radius_m`` from the centre at
        ``n_vertices`` equal azimuth steps, listed counter-clockwise. The polygon is for
        display and for echoing the scope as GeoJSON; :meth:`contains_xy` and
        :func:`scope_reports` use the exact distance, not this polygon. Its straight
        edges (in degrees) cut slightly inside the circle. Near the antimeridian the
        longitudes are unwrapped around the centre (they may pass ±180), and a circle
        that reaches a pole cannot be represented faithfully; both are approximate.

        Parameters
        ----------
        n_vertices : int, default 128
            Number of distinct vertices, at least 8.

        Returns
        -------
        shapely.Polygon
            The closed ring as a polygon in longitude/latitude.

        Raises
        ------
        InvalidScopeError
            When ``n_vertices`` is not an integer >= 8.
        """
        if isinstance(n_vertices, bool) or not isinstance(n_vertices, int) or n_vertices < 8:
            raise InvalidScopeError(f"n_vertices must be an integer >= 8, got {n_vertices!r}")
        azimuths = -np.arange(n_vertices, dtype=float) * (360.0 / n_vertices)
        lon, lat, _ = _WGS84.fwd(
            np.full(n_vertices, self.longitude),
            np.full(n_vertices, self.latitude),
            azimuths,
            np.full(n_vertices, self.radius_m),
        )
        lon = self.longitude + (np.asarray(lon) - self.longitude + 180.0) % 360.0 - 180.0
        return shapely.Polygon(np.column_stack([lon, np.asarray(lat)]))


def radius_scope(longitude: float, latitude: float, radius_m: float) -> RadiusScope:
    """Build a :class:`RadiusScope` (a geodesic circle of ``radius_m`` metres).

    Parameters
    ----------
    longitude, latitude : float
        Centre in degrees (EPSG:4326).
    radius_m : float
        Radius in metres, in (0, 1_000_000].

    Returns
    -------
    RadiusScope
        The validated scope.

    Raises
    ------
    InvalidScopeError
        When a value is not finite or out of range.

    Examples
    --------
    >>> radius_scope(8.54, 47.37, 250).radius_m
    250.0
    """
    return RadiusScope(longitude=longitude, latitude=latitude, radius_m=radius_m)


def radius_scope_around_report(
    reports: gpd.GeoDataFrame, seq: int, radius_m: float = 250.0
) -> RadiusScope:
    """Build a :class:`RadiusScope` centred on one report's location.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        A report frame (see :mod:`cleanapp_geo.schema`).
    seq : int
        The ``seq`` of the anchor report.
    radius_m : float, default 250.0
        Radius in metres, in (0, 1_000_000].

    Returns
    -------
    RadiusScope
        A circle around the anchor report's point.

    Raises
    ------
    UnknownReportError
        When no row of ``reports`` has this ``seq``.
    InvalidReportsError
        When ``reports`` has no ``seq`` column or the anchor has no valid point.
    InvalidScopeError
        When ``radius_m`` is out of range.

    Examples
    --------
    >>> import cleanapp_geo as cg
    >>> frame = cg.reports_from_records(
    ...     [{"seq": 7, "ts": "2026-03-10T10:00:00Z", "latitude": 47.37, "longitude": 8.54,
    ...       "severity_level": 0.5}]
    ... )
    >>> radius_scope_around_report(frame, 7)
    RadiusScope(longitude=8.54, latitude=47.37, radius_m=250.0)
    """
    if SEQ not in reports.columns:
        raise InvalidReportsError(f"reports frame is missing the {SEQ!r} column")
    try:
        key = operator.index(seq)
    except TypeError as exc:
        raise UnknownReportError(f"report seq must be an integer, got {seq!r}") from exc
    hits = np.flatnonzero(reports[SEQ].to_numpy() == key)
    if hits.size == 0:
        raise UnknownReportError(f"report with seq {key} not found")
    point = np.asarray(reports.geometry.array)[hits[:1]]
    lon = float(shapely.get_x(point)[0])
    lat = float(shapely.get_y(point)[0])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidReportsError(f"report with seq {key} has no valid point geometry")
    return RadiusScope(longitude=lon, latitude=lat, radius_m=radius_m)


# --------------------------------------------------------------------------- selection

#: Anything that selects reports: a validated (multi)polygon or a geodesic circle.
Scope: TypeAlias = shapely.Polygon | shapely.MultiPolygon | RadiusScope


def as_scope(obj: object, *, max_vertices: int = MAX_SCOPE_VERTICES) -> Scope:
    """Turn a scope-like value into a :data:`Scope`.

    Parameters
    ----------
    obj : Scope, mapping or str
        A :class:`RadiusScope`, a shapely Polygon/MultiPolygon (checked to be non-empty,
        valid and within longitude/latitude range; a Z coordinate is dropped) or GeoJSON
        (a mapping or JSON text, parsed by :func:`parse_scope_geojson`).
    max_vertices : int, default 10_000
        Passed to :func:`parse_scope_geojson` for GeoJSON input.

    Returns
    -------
    Scope
        The scope.

    Raises
    ------
    InvalidScopeError
        When ``obj`` is of another type (for example a shapely Point or LineString) or
        does not validate.

    Examples
    --------
    >>> import shapely
    >>> as_scope(shapely.box(8.5, 47.3, 8.6, 47.4)).geom_type
    'Polygon'
    >>> as_scope(shapely.Point(8.5, 47.3))
    Traceback (most recent call last):
    ...
    cleanapp_geo.errors.InvalidScopeError: scope must be a Polygon, MultiPolygon, RadiusScope or GeoJSON, got a shapely Point
    """  # noqa: E501
    if isinstance(obj, RadiusScope):
        return obj
    if isinstance(obj, shapely.Polygon | shapely.MultiPolygon):
        return _checked_shapely(obj)
    if obj is None or isinstance(obj, Mapping | str | bytes | bytearray):
        return parse_scope_geojson(obj, max_vertices=max_vertices)  # type: ignore[arg-type]
    got = f"a shapely {type(obj).__name__}" if isinstance(obj, shapely.Geometry) else type_name(obj)
    raise InvalidScopeError(
        f"scope must be a Polygon, MultiPolygon, RadiusScope or GeoJSON, got {got}"
    )


def _checked_shapely(
    geom: shapely.Polygon | shapely.MultiPolygon,
) -> shapely.Polygon | shapely.MultiPolygon:
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    geom = validated_polygonal(geom, "")
    for p, part in enumerate(shapely.get_parts(geom)):
        for r, ring in enumerate([part.exterior, *part.interiors]):
            check_edge_spans(shapely.get_coordinates(ring), f"ring {r} of polygon {p}")
    xmin, ymin, xmax, ymax = geom.bounds
    if xmin < -180.0 or xmax > 180.0 or ymin < -90.0 or ymax > 90.0:
        raise InvalidScopeError(
            f"scope bounds ({xmin}, {ymin}, {xmax}, {ymax}) are out of range "
            "(longitude must lie in [-180, 180], latitude in [-90, 90]); "
            "is the polygon in EPSG:4326?"
        )
    return geom


def scope_mask(reports: gpd.GeoDataFrame, scope: Scope | Mapping[str, Any] | str) -> np.ndarray:
    """Boolean mask of the reports that lie inside a scope.

    Polygon scopes include points on the boundary (PostGIS ``ST_Intersects``; upstream's
    ``ST_Within`` excluded it) and exclude points in holes (a point on a hole's ring is on
    the boundary, so included). Radius scopes include points at geodesic distance
    <= ``radius_m`` (PostGIS ``ST_DWithin`` on geography). Rows whose geometry is
    missing, empty or not a point are never inside.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        Point geometries in EPSG:4326 (a report frame).
    scope : Scope, mapping or str
        Anything :func:`as_scope` accepts.

    Returns
    -------
    numpy.ndarray
        Boolean array with one entry per row of ``reports``, in row order.

    Raises
    ------
    InvalidScopeError
        When ``scope`` is not a valid scope.
    InvalidReportsError
        When ``reports`` is not a GeoDataFrame in EPSG:4326.

    Notes
    -----
    A polygon scope is prepared in place (:func:`shapely.prepare`, a GEOS-level cache
    that does not change the geometry) so point-in-polygon tests are fast.
    """
    resolved = as_scope(scope)
    if not isinstance(reports, gpd.GeoDataFrame):
        raise InvalidReportsError(
            f"reports must be a geopandas.GeoDataFrame, got {type(reports).__name__}"
        )
    if reports.crs is None or not reports.crs.equals(CRS):
        raise InvalidReportsError(f"reports must have CRS {CRS}, got {reports.crs}")
    points = np.asarray(reports.geometry.array)
    if points.size == 0:
        return np.zeros(0, dtype=bool)
    lon = np.asarray(shapely.get_x(points), dtype=float)
    lat = np.asarray(shapely.get_y(points), dtype=float)
    return scope_mask_xy(lon, lat, resolved)


def scope_mask_xy(lon: np.ndarray, lat: np.ndarray, scope: Scope) -> np.ndarray:
    """Boolean mask of the points (degrees) inside a resolved scope, as :func:`scope_mask`.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Coordinates (NaN: never inside).
    scope : Scope
        From :func:`as_scope`.

    Returns
    -------
    numpy.ndarray
        Boolean array.
    """
    if isinstance(scope, RadiusScope):
        return scope.contains_xy(lon, lat)
    shapely.prepare(scope)
    finite = np.isfinite(lon) & np.isfinite(lat)
    mask = np.zeros(len(lon), dtype=bool)
    mask[finite] = shapely.intersects_xy(scope, lon[finite], lat[finite])
    return mask


def scope_reports(
    reports: gpd.GeoDataFrame, scope: Scope | Mapping[str, Any] | str
) -> gpd.GeoDataFrame:
    """Select the reports that lie inside a scope.

    Boundary semantics as in :func:`scope_mask`: polygon scopes include their boundary
    (PostGIS ``ST_Intersects``, unlike upstream's ``ST_Within``) and exclude holes;
    radius scopes include points at exactly ``radius_m`` (PostGIS ``ST_DWithin`` on
    geography).

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        A report frame (point geometries in EPSG:4326).
    scope : Scope, mapping or str
        A (multi)polygon, a :class:`RadiusScope` or GeoJSON accepted by
        :func:`parse_scope_geojson`.

    Returns
    -------
    geopandas.GeoDataFrame
        The rows inside the scope: same columns, original index and row order. The input
        is not modified.

    Raises
    ------
    InvalidScopeError
        When ``scope`` is not a valid scope.
    InvalidReportsError
        When ``reports`` is not a GeoDataFrame in EPSG:4326.

    Examples
    --------
    >>> import cleanapp_geo as cg
    >>> frame = cg.reports_from_records([
    ...     {"seq": 1, "ts": "2026-03-10T10:00:00Z", "latitude": 47.37, "longitude": 8.54,
    ...      "severity_level": 0.5},
    ...     {"seq": 2, "ts": "2026-03-10T11:00:00Z", "latitude": 47.50, "longitude": 8.54,
    ...      "severity_level": 0.5},
    ... ])
    >>> scope_reports(frame, radius_scope(8.54, 47.37, 1_000))["seq"].tolist()
    [1]
    """
    return reports.loc[scope_mask(reports, scope)]


def scope_geojson(scope: Scope | Mapping[str, Any] | str) -> dict[str, Any]:
    """Give the scope's geometry as a GeoJSON dictionary (to echo the normalised scope).

    Parameters
    ----------
    scope : Scope, mapping or str
        Anything :func:`as_scope` accepts. A :class:`RadiusScope` is given as its
        :meth:`RadiusScope.to_polygon` approximation.

    Returns
    -------
    dict
        A GeoJSON ``Polygon`` or ``MultiPolygon`` object with list coordinates.

    Raises
    ------
    InvalidScopeError
        When ``scope`` is not a valid scope.

    Examples
    --------
    >>> import shapely
    >>> scope_geojson(shapely.box(0, 0, 1, 1))["type"]
    'Polygon'
    """
    resolved = as_scope(scope)
    geom = resolved.to_polygon() if isinstance(resolved, RadiusScope) else resolved
    result: dict[str, Any] = json.loads(shapely.to_geojson(geom))
    return result


# ============================================================================ index boxes

# WGS84 constants of the radius bounding box (see radius_bounding_boxes).
_BOX_WGS84_A: Final = 6_378_137.0
_BOX_WGS84_E2: Final = 0.00669437999014
_BOX_MIN_METRES_PER_DEGREE_LAT: Final = _BOX_WGS84_A * (1.0 - _BOX_WGS84_E2) * math.pi / 180.0
_BOX_RELATIVE_MARGIN: Final = 1e-6
_BOX_ABSOLUTE_MARGIN_DEG: Final = 1e-9


def radius_bounding_boxes(scope: RadiusScope) -> list[tuple[float, float, float, float]]:
    """Longitude/latitude boxes that together contain a geodesic circle.

    The boxes are a prefilter for the GiST index; the exact test is ``ST_DWithin`` on
    geography. The bound is rigorous on the WGS84 ellipsoid: a path of length ``r`` changes
    latitude by at most ``r / m_min`` degrees, where ``m_min`` is the shortest degree of
    meridian (at the equator), and longitude by at most ``r / (a · cos φmax)`` radians,
    because the length element is at least ``N(φ)·cos φ·|dλ|`` with ``N(φ) >= a`` and
    ``|φ| <= φmax`` along the path. A relative margin of 1e-6 and 1e-9° absorb rounding.

    Parameters
    ----------
    scope : RadiusScope
        The circle.

    Returns
    -------
    list of tuple
        One ``(west, south, east, north)`` box, two when the circle crosses the
        antimeridian; longitudes span [-180, 180] when the circle reaches a pole or is
        wider than half the globe.

    Examples
    --------
    >>> from cleanapp_geo.scope import RadiusScope
    >>> [round(v, 5) for v in radius_bounding_boxes(RadiusScope(8.54, 47.37, 250))[0]]
    [8.53668, 47.36774, 8.54332, 47.37226]
    >>> len(radius_bounding_boxes(RadiusScope(179.9999, 0.0, 1_000)))
    2
    """
    grow = 1.0 + _BOX_RELATIVE_MARGIN
    dlat = scope.radius_m / _BOX_MIN_METRES_PER_DEGREE_LAT * grow + _BOX_ABSOLUTE_MARGIN_DEG
    south = max(-90.0, scope.latitude - dlat)
    north = min(90.0, scope.latitude + dlat)
    phi_max = max(abs(south), abs(north))
    if phi_max >= 90.0:
        return [(-180.0, south, 180.0, north)]
    cos_phi = math.cos(math.radians(phi_max))
    dlon = math.degrees(scope.radius_m / (_BOX_WGS84_A * cos_phi)) * grow + _BOX_ABSOLUTE_MARGIN_DEG
    if dlon >= 180.0:
        return [(-180.0, south, 180.0, north)]
    west, east = scope.longitude - dlon, scope.longitude + dlon
    if west < -180.0:
        return [(west + 360.0, south, 180.0, north), (-180.0, south, east, north)]
    if east > 180.0:
        return [(west, south, 180.0, north), (-180.0, south, east - 360.0, north)]
    return [(west, south, east, north)]
