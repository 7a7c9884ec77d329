"""GeoJSON scopes parsed into validated shapely (multi)polygons (pure).

A Polygon, MultiPolygon, Feature or FeatureCollection becomes one validated shapely
(multi)polygon, with messages that say where the input is wrong.

:func:`parse_scope_geojson` is the parser behind :func:`cleanapp_geo.scope.as_scope`; the
helpers at the end (:func:`short_repr`, :func:`type_name`, ...) phrase the given values in
error messages for :mod:`cleanapp_geo.scope` too.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

import numpy as np
import shapely

from cleanapp_geo.antimeridian import cut_polygon
from cleanapp_geo.errors import InvalidScopeError

__all__ = [
    "MAX_SCOPE_VERTICES",
    "is_number",
    "parse_scope_geojson",
    "short_repr",
    "type_name",
    "validated_polygonal",
]

#: Default limit on the number of positions in a GeoJSON scope.
MAX_SCOPE_VERTICES: Final = 10_000

_POLYGONAL_TYPES: Final = ("Polygon", "MultiPolygon")
_SUPPORTED_TYPES: Final = "Polygon, MultiPolygon, Feature or FeatureCollection"
_MAX_REPR: Final = 60

# One polygon as raw GeoJSON: a sequence of rings, each a sequence of positions.
_RawPolygon: TypeAlias = Sequence[Sequence[Any]]


def parse_scope_geojson(
    obj: Mapping[str, Any] | str, *, max_vertices: int = MAX_SCOPE_VERTICES
) -> shapely.Polygon | shapely.MultiPolygon:
    """Parse and validate a GeoJSON scope into a shapely (multi)polygon.

    Accepted inputs are a GeoJSON ``Polygon`` or ``MultiPolygon``, a ``Feature`` whose
    geometry is one of those, or a ``FeatureCollection`` of such Features. The polygons of
    a FeatureCollection are unioned into one geometry (a Polygon when only one polygon
    results, else a MultiPolygon); overlapping features are merged, so they do not make
    the result invalid. Coordinates are ``[longitude, latitude]`` in EPSG:4326; a third
    (altitude) value is accepted and dropped. Both ring orientations are accepted. An edge
    whose longitudes differ by more than 180° crosses the antimeridian, and its polygon is
    cut along it into parts (RFC 7946 §3.1.9; :mod:`cleanapp_geo.antimeridian`); edges of
    exactly 180° or 360° of longitude (e.g. a whole-world box) and rings round a pole are
    refused.

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
        fewer than 4 positions, an edge spans 180° or 360° of longitude, a ring goes round a
        pole, the geometry is not valid (self-intersection, hole outside
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
            f"geometry must be a GeoJSON object ({_SUPPORTED_TYPES}), got {type_name(obj)}"
        )

    kind = obj.get("type")
    if kind in _POLYGONAL_TYPES or kind == "Feature":
        geometry = obj if kind in _POLYGONAL_TYPES else _feature_geometry(obj, "")
        raw = _raw_polygons(geometry, "")
        _check_vertex_count(raw, max_vertices)
        multi = geometry["type"] == "MultiPolygon"
        return validated_polygonal(_build(raw, "", multi=multi), "")
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
            f"FeatureCollection 'features' must be an array, got {type_name(features)}"
        )
    if not features:
        raise InvalidScopeError("FeatureCollection has no features; at least one is required")
    raws: list[list[_RawPolygon]] = []
    for i, feature in enumerate(features):
        where = f"feature {i}: "
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            got = feature.get("type") if isinstance(feature, Mapping) else type_name(feature)
            raise InvalidScopeError(
                f"{where}FeatureCollection members must be Features, got {short_repr(got)}"
            )
        raws.append(_raw_polygons(_feature_geometry(feature, where), where))
    _check_vertex_count([p for raw in raws for p in raw], max_vertices)
    parts: list[shapely.Polygon] = []
    for i, raw in enumerate(raws):
        where = f"feature {i}: "
        geom = validated_polygonal(_build(raw, where, multi=True), where)
        parts.extend(shapely.get_parts(geom).tolist())
    if len(parts) == 1:
        return parts[0]
    combined: shapely.Geometry = shapely.MultiPolygon(parts)
    if not shapely.is_valid(combined):  # features overlap or share edges: merge them
        combined = shapely.union_all(parts)
    if not isinstance(combined, shapely.Polygon | shapely.MultiPolygon):  # pragma: no cover
        raise InvalidScopeError(f"the union of the features is a {type(combined).__name__}")
    return validated_polygonal(combined, "")


def _feature_geometry(feature: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    geometry = feature.get("geometry")
    if geometry is None:
        raise InvalidScopeError(f"{where}feature missing geometry")
    if not isinstance(geometry, Mapping):
        raise InvalidScopeError(
            f"{where}Feature geometry must be a GeoJSON object, got {type_name(geometry)}"
        )
    kind = geometry.get("type")
    if kind not in _POLYGONAL_TYPES:
        shown = "no type" if kind is None else short_repr(kind).strip("'")
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
            f"{where}{kind} coordinates must be an array, got {type_name(coords)}"
        )
    if not coords:
        raise InvalidScopeError(f"{where}{kind} coordinates are empty")
    polygons: Sequence[Any] = [coords] if kind == "Polygon" else coords
    for p, polygon in enumerate(polygons):
        if not isinstance(polygon, list | tuple):
            raise InvalidScopeError(
                f"{where}polygon {p} must be an array of linear rings, got {short_repr(polygon)} "
                "(are the MultiPolygon coordinates nested too shallowly?)"
            )
        if not polygon:
            raise InvalidScopeError(f"{where}polygon {p} has no rings")
        for r, ring in enumerate(polygon):
            if not isinstance(ring, list | tuple):
                raise InvalidScopeError(
                    f"{where}ring {r} of polygon {p} must be an array of positions, "
                    f"got {short_repr(ring)} (are the coordinates nested too shallowly?)"
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
        part
        for p, polygon in enumerate(polygons)
        for part in cut_polygon(
            [_ring_array(ring, r, p, where) for r, ring in enumerate(polygon)], where, p
        )
    ]
    return shapely.MultiPolygon(built) if multi or len(built) > 1 else built[0]


def _ring_array(ring: Sequence[Any], r: int, p: int, where: str) -> np.ndarray:
    """Validate one linear ring and return its (n, 2) float array of lon/lat."""
    at = f"ring {r} of polygon {p}"
    for i, position in enumerate(ring):
        if not isinstance(position, list | tuple):
            raise InvalidScopeError(
                f"{where}position {i} of {at} must be an array [longitude, latitude], "
                f"got {short_repr(position)} (are the coordinates nested too shallowly?)"
            )
        for value in position:
            # JSON numbers decode to exactly float or int: skip the ABC check for them.
            if type(value) is not float and type(value) is not int and not is_number(value):
                hint = (
                    " (are the coordinates nested too deeply?)"
                    if isinstance(value, list | tuple)
                    else ""
                )
                raise InvalidScopeError(
                    f"{where}coordinates must be numbers, got {short_repr(value)} "
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


def validated_polygonal(
    geom: shapely.Polygon | shapely.MultiPolygon, where: str
) -> shapely.Polygon | shapely.MultiPolygon:
    """Return ``geom`` when it is a non-empty valid (multi)polygon; else raise saying why."""
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


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (booleans are not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _position(position: Sequence[Any]) -> str:
    return "[" + ", ".join(repr(v) for v in position) + "]"


def short_repr(value: object) -> str:
    """Return ``repr(value)``, cut to 60 characters for a message."""
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def type_name(value: object) -> str:
    """Name the JSON type of ``value`` for a message (``null``, ``an array``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        return f"a string {short_repr(value)}"
    return type(value).__name__
