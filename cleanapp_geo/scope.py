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
are straight lines in degrees, and a polygon that crosses the antimeridian must be split
into parts (a MultiPolygon).
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from cleanapp_geo.errors import InvalidReportsError, InvalidScopeError, UnknownReportError
from cleanapp_geo.schema import CRS, SEQ

__all__ = [
    "MAX_RADIUS_M",
    "MAX_SCOPE_VERTICES",
    "RadiusScope",
    "Scope",
    "as_scope",
    "parse_scope_geojson",
    "radius_scope",
    "radius_scope_around_report",
    "scope_geojson",
    "scope_mask",
    "scope_reports",
]

#: Largest radius a :class:`RadiusScope` may have, in metres.
MAX_RADIUS_M: Final = 1_000_000.0

#: Default limit on the number of positions in a GeoJSON scope.
MAX_SCOPE_VERTICES: Final = 10_000

#: The WGS84 ellipsoid, as PostGIS ``geography`` uses it (read-only after construction).
_WGS84: Final = pyproj.Geod(ellps="WGS84")

# Shortest length of one degree of meridian on WGS84 (at the equator: a·(1 - e²)·π/180),
# less a safety margin; bounds the latitude band a radius scope can reach.
_MIN_METRES_PER_DEGREE_LAT: Final = _WGS84.a * (1.0 - _WGS84.es) * math.pi / 180.0 * 0.999

_POLYGONAL_TYPES: Final = ("Polygon", "MultiPolygon")
_SUPPORTED_TYPES: Final = "Polygon, MultiPolygon, Feature or FeatureCollection"
_MAX_REPR: Final = 60

# One polygon as raw GeoJSON: a sequence of rings, each a sequence of positions.
_RawPolygon: TypeAlias = Sequence[Sequence[Any]]


# --------------------------------------------------------------------------- GeoJSON


def parse_scope_geojson(
    obj: Mapping[str, Any] | str, *, max_vertices: int = MAX_SCOPE_VERTICES
) -> shapely.Polygon | shapely.MultiPolygon:
    """Parse and validate a GeoJSON scope into a shapely (multi)polygon.

    Accepted inputs are a GeoJSON ``Polygon`` or ``MultiPolygon``, a ``Feature`` whose
    geometry is one of those, or a ``FeatureCollection`` of such Features. The polygons of
    a FeatureCollection are unioned into one geometry (a Polygon when only one polygon
    results, else a MultiPolygon); overlapping features are merged, so they do not make
    the result invalid. Coordinates are ``[longitude, latitude]`` in EPSG:4326; a third
    (altitude) value is accepted and dropped. Both ring orientations are accepted.

    Parameters
    ----------
    obj : mapping or str
        The GeoJSON object, or its JSON text.
    max_vertices : int, default 10_000
        Largest number of positions (over all rings and features, closing positions
        included) that is accepted.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        A valid, non-empty, two-dimensional geometry.

    Raises
    ------
    InvalidScopeError
        When the input is not valid JSON, not one of the accepted types, a Feature has no
        or a non-polygonal geometry, a FeatureCollection has no features, coordinates are
        missing, empty, nested wrongly or not finite numbers, a position has fewer than 2
        or more than 3 values, a coordinate is out of range, a ring is not closed or has
        fewer than 4 positions, the geometry is not valid (self-intersection, hole outside
        its shell, ... as reported by :func:`shapely.is_valid_reason`), or there are more
        than ``max_vertices`` positions. The message names the problem and where it is.

    Examples
    --------
    >>> square = {"type": "Polygon",
    ...           "coordinates": [[[8.5, 47.3], [8.6, 47.3], [8.6, 47.4], [8.5, 47.4],
    ...                            [8.5, 47.3]]]}
    >>> parse_scope_geojson(square).bounds
    (8.5, 47.3, 8.6, 47.4)
    >>> parse_scope_geojson('{"type": "Point", "coordinates": [8.5, 47.3]}')
    Traceback (most recent call last):
    ...
    cleanapp_geo.errors.InvalidScopeError: unsupported geometry type: Point (expected Polygon, MultiPolygon, Feature or FeatureCollection)
    """  # noqa: E501
    if isinstance(max_vertices, bool) or not isinstance(max_vertices, int) or max_vertices < 4:
        raise InvalidScopeError(f"max_vertices must be an integer >= 4, got {max_vertices!r}")
    if isinstance(obj, str | bytes | bytearray):
        obj = _loads(obj)
    if obj is None or (isinstance(obj, Mapping) and not obj):
        raise InvalidScopeError("geometry is required")
    if not isinstance(obj, Mapping):
        raise InvalidScopeError(
            f"geometry must be a GeoJSON object ({_SUPPORTED_TYPES}), got {_type_name(obj)}"
        )

    kind = obj.get("type")
    if kind in _POLYGONAL_TYPES or kind == "Feature":
        geometry = obj if kind in _POLYGONAL_TYPES else _feature_geometry(obj, "")
        raw = _raw_polygons(geometry, "")
        _check_vertex_count(raw, max_vertices)
        multi = geometry["type"] == "MultiPolygon"
        return _validated(_build(raw, "", multi=multi), "")
    if kind == "FeatureCollection":
        return _parse_feature_collection(obj, max_vertices)
    shown = "" if kind is None else str(kind)
    raise InvalidScopeError(f"unsupported geometry type: {shown} (expected {_SUPPORTED_TYPES})")


def _loads(text: str | bytes | bytearray) -> Any:
    if not text.strip():
        raise InvalidScopeError("geometry is required")
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidScopeError(f"invalid geometry payload: not valid JSON ({exc})") from exc


def _parse_feature_collection(
    obj: Mapping[str, Any], max_vertices: int
) -> shapely.Polygon | shapely.MultiPolygon:
    features = obj.get("features")
    if not isinstance(features, list | tuple):
        raise InvalidScopeError(
            f"FeatureCollection 'features' must be an array, got {_type_name(features)}"
        )
    if not features:
        raise InvalidScopeError("FeatureCollection has no features; at least one is required")
    raws: list[list[_RawPolygon]] = []
    for i, feature in enumerate(features):
        where = f"feature {i}: "
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            got = feature.get("type") if isinstance(feature, Mapping) else _type_name(feature)
            raise InvalidScopeError(
                f"{where}FeatureCollection members must be Features, got {_short(got)}"
            )
        raws.append(_raw_polygons(_feature_geometry(feature, where), where))
    _check_vertex_count([p for raw in raws for p in raw], max_vertices)
    parts: list[shapely.Polygon] = []
    for i, raw in enumerate(raws):
        where = f"feature {i}: "
        geom = _validated(_build(raw, where, multi=True), where)
        parts.extend(shapely.get_parts(geom).tolist())
    if len(parts) == 1:
        return parts[0]
    combined: shapely.Geometry = shapely.MultiPolygon(parts)
    if not shapely.is_valid(combined):  # features overlap or share edges: merge them
        combined = shapely.union_all(parts)
    if not isinstance(combined, shapely.Polygon | shapely.MultiPolygon):  # pragma: no cover
        raise InvalidScopeError(f"the union of the features is a {type(combined).__name__}")
    return _validated(combined, "")


def _feature_geometry(feature: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    geometry = feature.get("geometry")
    if geometry is None:
        raise InvalidScopeError(f"{where}feature missing geometry")
    if not isinstance(geometry, Mapping):
        raise InvalidScopeError(
            f"{where}Feature geometry must be a GeoJSON object, got {_type_name(geometry)}"
        )
    kind = geometry.get("type")
    if kind not in _POLYGONAL_TYPES:
        shown = "no type" if kind is None else _short(kind).strip("'")
        raise InvalidScopeError(
            f"{where}Feature geometry must be a Polygon or MultiPolygon, got {shown}"
        )
    return geometry


def _raw_polygons(geometry: Mapping[str, Any], where: str) -> list[_RawPolygon]:
    """Check the nesting of a Polygon/MultiPolygon down to the rings; return its polygons."""
    kind = geometry["type"]
    if "coordinates" not in geometry:
        raise InvalidScopeError(f"{where}{kind} is missing 'coordinates'")
    coords = geometry["coordinates"]
    if not isinstance(coords, list | tuple):
        raise InvalidScopeError(
            f"{where}{kind} coordinates must be an array, got {_type_name(coords)}"
        )
    if not coords:
        raise InvalidScopeError(f"{where}{kind} coordinates are empty")
    polygons: Sequence[Any] = [coords] if kind == "Polygon" else coords
    for p, polygon in enumerate(polygons):
        if not isinstance(polygon, list | tuple):
            raise InvalidScopeError(
                f"{where}polygon {p} must be an array of linear rings, got {_short(polygon)} "
                "(are the MultiPolygon coordinates nested too shallowly?)"
            )
        if not polygon:
            raise InvalidScopeError(f"{where}polygon {p} has no rings")
        for r, ring in enumerate(polygon):
            if not isinstance(ring, list | tuple):
                raise InvalidScopeError(
                    f"{where}ring {r} of polygon {p} must be an array of positions, "
                    f"got {_short(ring)} (are the coordinates nested too shallowly?)"
                )
    return list(polygons)


def _check_vertex_count(polygons: Sequence[_RawPolygon], max_vertices: int) -> None:
    n = sum(len(ring) for polygon in polygons for ring in polygon)
    if n > max_vertices:
        raise InvalidScopeError(
            f"scope has {n} vertices; at most {max_vertices} are allowed (simplify the geometry)"
        )


def _build(
    polygons: Sequence[_RawPolygon], where: str, *, multi: bool
) -> shapely.Polygon | shapely.MultiPolygon:
    built = [
        shapely.Polygon(
            _ring_array(polygon[0], 0, p, where),
            [_ring_array(ring, r, p, where) for r, ring in enumerate(polygon[1:], start=1)],
        )
        for p, polygon in enumerate(polygons)
    ]
    return shapely.MultiPolygon(built) if multi else built[0]


def _ring_array(ring: Sequence[Any], r: int, p: int, where: str) -> np.ndarray:
    """Validate one linear ring and return its (n, 2) float array of lon/lat."""
    at = f"ring {r} of polygon {p}"
    for i, position in enumerate(ring):
        if not isinstance(position, list | tuple):
            raise InvalidScopeError(
                f"{where}position {i} of {at} must be an array [longitude, latitude], "
                f"got {_short(position)} (are the coordinates nested too shallowly?)"
            )
        for value in position:
            if not _is_number(value):
                hint = (
                    " (are the coordinates nested too deeply?)"
                    if isinstance(value, list | tuple)
                    else ""
                )
                raise InvalidScopeError(
                    f"{where}coordinates must be numbers, got {_short(value)} "
                    f"in position {i} of {at}{hint}"
                )
        if not 2 <= len(position) <= 3:
            raise InvalidScopeError(
                f"{where}position {i} of {at} has {len(position)} values; a position needs "
                "2 or 3 (longitude, latitude and an optional altitude)"
            )
    try:
        xy = np.array([position[:2] for position in ring], dtype=float).reshape(-1, 2)
    except OverflowError:  # an integer beyond the float range
        xy = np.array([[_as_float(v) for v in position[:2]] for position in ring]).reshape(-1, 2)
    finite = np.isfinite(xy)
    if not finite.all():
        i = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise InvalidScopeError(
            f"{where}coordinates must be finite numbers, got {_position(ring[i])} "
            f"in position {i} of {at}"
        )
    out_of_range = (np.abs(xy[:, 0]) > 180.0) | (np.abs(xy[:, 1]) > 90.0)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise InvalidScopeError(
            f"{where}coordinate {_position(ring[i])} is out of range "
            "(longitude must lie in [-180, 180], latitude in [-90, 90]); "
            f"position {i} of {at}"
        )
    if len(xy) < 4:
        raise InvalidScopeError(
            f"{where}{at} has {len(xy)} positions; a linear ring needs at least 4 "
            "(the last repeating the first)"
        )
    if not np.array_equal(xy[0], xy[-1]):
        raise InvalidScopeError(
            f"{where}{at} is not closed (first position {_position(ring[0])} != "
            f"last {_position(ring[-1])})"
        )
    return xy


def _validated(
    geom: shapely.Polygon | shapely.MultiPolygon, where: str
) -> shapely.Polygon | shapely.MultiPolygon:
    if shapely.is_empty(geom):
        raise InvalidScopeError(f"{where}scope geometry is empty")
    if not shapely.is_valid(geom):
        raise InvalidScopeError(f"{where}polygon is not valid: {shapely.is_valid_reason(geom)}")
    return geom


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _position(position: Sequence[Any]) -> str:
    return "[" + ", ".join(repr(v) for v in position) + "]"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        return f"a string {_short(value)}"
    return type(value).__name__


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
            if not _is_number(value) or not math.isfinite(float(value)):
                raise InvalidScopeError(f"{name} must be a finite number, got {_short(value)}")
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
    got = (
        f"a shapely {type(obj).__name__}" if isinstance(obj, shapely.Geometry) else _type_name(obj)
    )
    raise InvalidScopeError(
        f"scope must be a Polygon, MultiPolygon, RadiusScope or GeoJSON, got {got}"
    )


def _checked_shapely(
    geom: shapely.Polygon | shapely.MultiPolygon,
) -> shapely.Polygon | shapely.MultiPolygon:
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    geom = _validated(geom, "")
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
    if isinstance(resolved, RadiusScope):
        return resolved.contains_xy(lon, lat)
    shapely.prepare(resolved)
    finite = np.isfinite(lon) & np.isfinite(lat)
    mask = np.zeros(len(points), dtype=bool)
    mask[finite] = shapely.intersects_xy(resolved, lon[finite], lat[finite])
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
