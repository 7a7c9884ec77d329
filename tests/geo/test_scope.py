"""Tests for cleanapp_geo.scope: GeoJSON validation, radius scopes, report selection."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from cleanapp_geo import (
    InvalidReportsError,
    InvalidScopeError,
    UnknownReportError,
    reports_from_records,
)
from cleanapp_geo.scope import (
    MAX_RADIUS_M,
    RadiusScope,
    as_scope,
    parse_scope_geojson,
    radius_scope,
    radius_scope_around_report,
    scope_geojson,
    scope_mask,
    scope_reports,
)

GEOD = pyproj.Geod(ellps="WGS84")

SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
HOLE = [[4, 4], [4, 6], [6, 6], [6, 4], [4, 4]]
SQUARE_WITH_HOLE = shapely.Polygon(SQUARE, [HOLE])
TWO_SQUARES = shapely.MultiPolygon([shapely.box(0, 0, 2, 2), shapely.box(5, 5, 8, 9)])
CONCAVE = shapely.Polygon([(0, 0), (10, 0), (10, 10), (5, 3), (0, 10), (0, 0)])


def polygon(*rings: list[Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def feature(geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {}, "geometry": geometry}


def frame(lons: Any, lats: Any, index: Any = None) -> gpd.GeoDataFrame:
    records = [
        {
            "seq": i + 1,
            "ts": "2026-03-10T10:00:00Z",
            "longitude": float(lon),
            "latitude": float(lat),
            "severity_level": 0.5,
            "title": f"report {i + 1}",
        }
        for i, (lon, lat) in enumerate(zip(lons, lats, strict=True))
    ]
    out = reports_from_records(records)
    if index is not None:
        out.index = pd.Index(index)
    return out


# --------------------------------------------------------------------------- invalid GeoJSON

CLOSED_RING_ERRORS = [
    (None, "geometry is required"),
    ({}, "geometry is required"),
    ("", "geometry is required"),
    ("   ", "geometry is required"),
    ("{not json", "invalid geometry payload: not valid JSON"),
    ([SQUARE], "geometry must be a GeoJSON object"),
    (42, "geometry must be a GeoJSON object"),
    ({"type": "Point", "coordinates": [0, 0]}, "unsupported geometry type: Point"),
    ({"type": "LineString", "coordinates": SQUARE}, "unsupported geometry type: LineString"),
    ({"type": "polygon", "coordinates": [SQUARE]}, "unsupported geometry type: polygon"),
    ({"coordinates": [SQUARE]}, "unsupported geometry type:  ("),
    (
        {"type": "GeometryCollection", "geometries": []},
        "unsupported geometry type: GeometryCollection",
    ),
    (
        feature({"type": "Point", "coordinates": [0, 0]}),
        "Feature geometry must be a Polygon or MultiPolygon, got Point",
    ),
    (feature(polygon(SQUARE) | {"type": None}), "must be a Polygon or MultiPolygon, got no type"),
    (feature(feature(polygon(SQUARE))), "must be a Polygon or MultiPolygon, got Feature"),
    (feature(None), "feature missing geometry"),
    ({"type": "Feature", "properties": {}}, "feature missing geometry"),
    (feature([SQUARE]), "Feature geometry must be a GeoJSON object, got an array"),
    ({"type": "Polygon"}, "Polygon is missing 'coordinates'"),
    ({"type": "Polygon", "coordinates": None}, "Polygon coordinates must be an array, got null"),
    ({"type": "Polygon", "coordinates": "0 0"}, "Polygon coordinates must be an array"),
    ({"type": "Polygon", "coordinates": []}, "Polygon coordinates are empty"),
    ({"type": "MultiPolygon", "coordinates": []}, "MultiPolygon coordinates are empty"),
    ({"type": "MultiPolygon", "coordinates": [[]]}, "polygon 0 has no rings"),
    (polygon([]), "ring 0 of polygon 0 has 0 positions; a linear ring needs at least 4"),
    (
        polygon([[0, 0], [1, 0], [0, 0]]),
        "ring 0 of polygon 0 has 3 positions; a linear ring needs at least 4",
    ),
    (
        polygon([[0, 0], [1, 0], [1, 1], [0, 1]]),
        "ring 0 of polygon 0 is not closed (first position [0, 0] != last [0, 1])",
    ),
    (
        polygon(SQUARE, [[4, 4], [4, 6], [6, 6], [6, 4], [4, 5]]),
        "ring 1 of polygon 0 is not closed (first position [4, 4] != last [4, 5])",
    ),
    (
        polygon([[0, 0], [200, 10], [1, 1], [0, 0]]),
        "coordinate [200, 10] is out of range (longitude must lie in [-180, 180], "
        "latitude in [-90, 90])",
    ),
    (polygon([[0, 0], [10, 95.5], [1, 1], [0, 0]]), "coordinate [10, 95.5] is out of range"),
    (polygon([[0, 0], [-180.5, 0], [1, 1], [0, 0]]), "coordinate [-180.5, 0] is out of range"),
    (polygon([[0, 0], ["abc", 1], [1, 1], [0, 0]]), "coordinates must be numbers, got 'abc'"),
    (polygon([[0, 0], ["1", 1], [1, 1], [0, 0]]), "coordinates must be numbers, got '1'"),
    (polygon([[0, 0], [True, 1], [1, 1], [0, 0]]), "coordinates must be numbers, got True"),
    (polygon([[0, 0], [1, None], [1, 1], [0, 0]]), "coordinates must be numbers, got None"),
    (polygon([[0, 0], [1, {}], [1, 1], [0, 0]]), "coordinates must be numbers, got {}"),
    (
        polygon([[0, 0], [math.nan, 1], [1, 1], [0, 0]]),
        "coordinates must be finite numbers, got [nan, 1]",
    ),
    (
        polygon([[0, 0], [1, math.inf], [1, 1], [0, 0]]),
        "coordinates must be finite numbers, got [1, inf]",
    ),
    (
        '{"type": "Polygon", "coordinates": [[[0, 0], [NaN, 1], [1, 1], [0, 0]]]}',
        "coordinates must be finite numbers",
    ),
    (polygon([[0, 0], [10**400, 1], [1, 1], [0, 0]]), "coordinates must be finite numbers"),
    (polygon([[0], [1, 0], [1, 1], [0]]), "position 0 of ring 0 of polygon 0 has 1 values"),
    (polygon([[0, 0, 0, 0], [1, 0], [1, 1], [0, 0]]), "has 4 values; a position needs 2 or 3"),
    (polygon([[], [1, 0], [1, 1], []]), "has 0 values"),
    # Wrong nesting depth: a ring given as Polygon coordinates, and one level too many.
    ({"type": "Polygon", "coordinates": SQUARE}, "nested too shallowly"),
    ({"type": "Polygon", "coordinates": [[SQUARE]]}, "coordinates must be numbers, got [0, 0]"),
    ({"type": "Polygon", "coordinates": [[SQUARE]]}, "nested too deeply"),
    ({"type": "MultiPolygon", "coordinates": [SQUARE]}, "nested too shallowly"),
    ({"type": "MultiPolygon", "coordinates": [[[SQUARE]]]}, "nested too deeply"),
    ({"type": "MultiPolygon", "coordinates": [1]}, "polygon 0 must be an array of linear rings"),
    ({"type": "Polygon", "coordinates": [SQUARE, 5]}, "ring 1 of polygon 0 must be an array"),
    (
        polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]),
        "polygon is not valid: Self-intersection[0.5 0.5]",
    ),
    (polygon([[0, 0], [1, 1], [2, 2], [0, 0]]), "polygon is not valid"),
    (polygon([[0, 0], [0, 0], [0, 0], [0, 0]]), "polygon is not valid: Too few points"),
    (
        polygon(SQUARE, [[20, 20], [20, 21], [21, 21], [20, 20]]),
        "polygon is not valid: Hole lies outside shell",
    ),
    (
        {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[5, 5], [15, 5], [15, 15], [5, 5]]]]},
        "polygon is not valid",
    ),
    ({"type": "FeatureCollection", "features": []}, "FeatureCollection has no features"),
    ({"type": "FeatureCollection"}, "FeatureCollection 'features' must be an array, got null"),
    (
        {"type": "FeatureCollection", "features": [polygon(SQUARE)]},
        "feature 0: FeatureCollection members must be Features, got 'Polygon'",
    ),
    (
        {"type": "FeatureCollection", "features": [feature(polygon(SQUARE)), feature(None)]},
        "feature 1: feature missing geometry",
    ),
    (
        {
            "type": "FeatureCollection",
            "features": [
                feature(polygon(SQUARE)),
                feature(polygon([[0, 0], [1, 0], [1, 1], [0, 1]])),
            ],
        },
        "feature 1: ring 0 of polygon 0 is not closed",
    ),
    (
        {
            "type": "FeatureCollection",
            "features": [feature({"type": "Point", "coordinates": [0, 0]})],
        },
        "feature 0: Feature geometry must be a Polygon or MultiPolygon, got Point",
    ),
]


@pytest.mark.parametrize(("obj", "message"), CLOSED_RING_ERRORS)
def test_invalid_geojson_raises_a_precise_error(obj: Any, message: str) -> None:
    with pytest.raises(InvalidScopeError) as info:
        parse_scope_geojson(obj)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unsupported_type_keeps_the_upstream_wording() -> None:
    with pytest.raises(InvalidScopeError, match=r"^unsupported geometry type: Point \(expected"):
        parse_scope_geojson({"type": "Point", "coordinates": [1, 2]})


def test_invalid_json_is_chained() -> None:
    with pytest.raises(InvalidScopeError) as info:
        parse_scope_geojson('{"type": "Polygon", ')
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


def test_vertex_limit() -> None:
    angles = np.linspace(0, 2 * np.pi, 10_001)
    ring = np.column_stack([np.cos(angles), np.sin(angles)]).tolist()
    ring[-1] = ring[0]
    with pytest.raises(InvalidScopeError, match="scope has 10001 vertices; at most 10000"):
        parse_scope_geojson(polygon(ring))
    assert parse_scope_geojson(polygon([*ring[::2], ring[0]])).is_valid
    with pytest.raises(InvalidScopeError, match="scope has 5 vertices; at most 4 are allowed"):
        parse_scope_geojson(polygon(SQUARE), max_vertices=4)
    collection = {"type": "FeatureCollection", "features": [feature(polygon(SQUARE))] * 3}
    with pytest.raises(InvalidScopeError, match="scope has 15 vertices; at most 12"):
        parse_scope_geojson(collection, max_vertices=12)


@pytest.mark.parametrize("bad", [0, 3, -1, 2.5, True, "10"])
def test_max_vertices_must_be_a_sane_integer(bad: Any) -> None:
    with pytest.raises(InvalidScopeError, match="max_vertices must be an integer"):
        parse_scope_geojson(polygon(SQUARE), max_vertices=bad)


# --------------------------------------------------------------------------- valid GeoJSON


def test_polygon_with_hole_parses() -> None:
    geom = parse_scope_geojson(polygon(SQUARE, HOLE))
    assert isinstance(geom, shapely.Polygon)
    assert geom.equals(SQUARE_WITH_HOLE)
    assert geom.area == 96.0


def test_both_orientations_and_tuples_are_accepted() -> None:
    clockwise = [tuple(p) for p in reversed(SQUARE)]
    geom = parse_scope_geojson({"type": "Polygon", "coordinates": (clockwise,)})
    assert geom.equals(shapely.box(0, 0, 10, 10))


def test_altitude_is_dropped() -> None:
    ring = [[*p, 400.0] for p in SQUARE]
    geom = parse_scope_geojson(polygon(ring))
    assert not shapely.has_z(geom)
    assert geom.equals(shapely.box(0, 0, 10, 10))


def test_multipolygon_parses() -> None:
    obj = {
        "type": "MultiPolygon",
        "coordinates": [[SQUARE, HOLE], [[[20, 20], [21, 20], [21, 21], [20, 21], [20, 20]]]],
    }
    geom = parse_scope_geojson(obj)
    assert isinstance(geom, shapely.MultiPolygon)
    assert len(geom.geoms) == 2
    assert geom.area == 97.0


def test_single_part_multipolygon_stays_multi() -> None:
    geom = parse_scope_geojson({"type": "MultiPolygon", "coordinates": [[SQUARE]]})
    assert isinstance(geom, shapely.MultiPolygon)


def test_feature_and_json_text_parse() -> None:
    obj = feature(polygon(SQUARE))
    assert parse_scope_geojson(obj).equals(shapely.box(0, 0, 10, 10))
    assert parse_scope_geojson(json.dumps(obj)).equals(shapely.box(0, 0, 10, 10))
    assert parse_scope_geojson(json.dumps(obj).encode()).equals(shapely.box(0, 0, 10, 10))


def test_feature_collection_of_one_polygon_is_a_polygon() -> None:
    geom = parse_scope_geojson({"type": "FeatureCollection", "features": [feature(polygon(HOLE))]})
    assert isinstance(geom, shapely.Polygon)
    assert geom.equals(shapely.box(4, 4, 6, 6))


def test_feature_collection_is_the_union() -> None:
    far = [[20, 20], [21, 20], [21, 21], [20, 21], [20, 20]]
    overlapping = [[8, 8], [12, 8], [12, 12], [8, 12], [8, 8]]
    disjoint = parse_scope_geojson(
        {
            "type": "FeatureCollection",
            "features": [
                feature(polygon(SQUARE)),
                feature({"type": "MultiPolygon", "coordinates": [[far]]}),
            ],
        }
    )
    assert isinstance(disjoint, shapely.MultiPolygon)
    assert len(disjoint.geoms) == 2
    merged = parse_scope_geojson(
        {
            "type": "FeatureCollection",
            "features": [feature(polygon(SQUARE)), feature(polygon(overlapping))],
        }
    )
    assert merged.is_valid
    assert merged.area == pytest.approx(100 + 16 - 4)
    assert merged.equals(shapely.union(shapely.box(0, 0, 10, 10), shapely.box(8, 8, 12, 12)))


# --------------------------------------------------------------------------- radius scopes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"longitude": math.nan}, "longitude must be a finite number"),
        ({"latitude": math.inf}, "latitude must be a finite number"),
        ({"radius_m": True}, "radius_m must be a finite number, got True"),
        ({"longitude": "8.5"}, "longitude must be a finite number, got '8.5'"),
        ({"longitude": None}, "longitude must be a finite number, got None"),
        ({"longitude": 180.5}, "longitude must lie in [-180, 180], got 180.5"),
        ({"latitude": -90.5}, "latitude must lie in [-90, 90], got -90.5"),
        ({"radius_m": 0}, "radius_m must lie in (0, 1000000] metres, got 0.0"),
        ({"radius_m": -5}, "radius_m must lie in (0, 1000000] metres"),
        ({"radius_m": 1_000_000.5}, "radius_m must lie in (0, 1000000] metres"),
    ],
)
def test_radius_scope_validation(kwargs: dict[str, Any], message: str) -> None:
    args = {"longitude": 8.54, "latitude": 47.37, "radius_m": 250.0} | kwargs
    with pytest.raises(InvalidScopeError) as info:
        RadiusScope(**args)
    assert message in str(info.value)


def test_radius_scope_is_a_frozen_slotted_value() -> None:
    scope = radius_scope(8, np.float64(47.5), 1_000_000)
    assert scope == RadiusScope(8.0, 47.5, MAX_RADIUS_M)
    assert isinstance(scope.longitude, float)
    assert not hasattr(scope, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        scope.radius_m = 5.0  # type: ignore[misc]
    assert scope.center.equals(shapely.Point(8, 47.5))
    assert radius_scope(-180, 90, 1).latitude == 90.0


def test_radius_249_and_251_metres() -> None:
    center_lon, center_lat = 8.5417, 47.3769
    lons, lats, _ = GEOD.fwd(
        [center_lon] * 3, [center_lat] * 3, [30.0, 210.0, 100.0], [249.0, 251.0, 0.0]
    )
    scope = radius_scope(center_lon, center_lat, 250)
    assert scope.contains_xy(np.asarray(lons), np.asarray(lats)).tolist() == [True, False, True]
    assert scope.distance_m(np.asarray(lons), np.asarray(lats)) == pytest.approx(
        [249, 251, 0], abs=1e-6
    )


@pytest.mark.parametrize("latitude", [0.0, 47.37])
def test_circle_not_the_upstream_square_box(latitude: float) -> None:
    radius_m = 1_000.0
    degrees = radius_m / 1000 / 111  # upstream: ±radius_km/111 on both axes, no cos(lat)
    scope = radius_scope(10.0, latitude, radius_m)
    corner_lon, corner_lat = np.array([10.0 + degrees]), np.array([latitude + degrees])
    corner_distance = scope.distance_m(corner_lon, corner_lat)[0]
    assert corner_distance > 1.2 * radius_m
    if latitude == 0.0:
        assert corner_distance == pytest.approx(math.sqrt(2) * radius_m, rel=0.01)
    assert not scope.contains_xy(corner_lon, corner_lat)[0]
    # Along a diagonal, points just inside the circle are kept.
    lon, lat, _ = GEOD.fwd(10.0, latitude, 45.0, 0.99 * radius_m)
    assert scope.contains_xy(np.array([lon]), np.array([lat]))[0]


def test_contains_xy_handles_empty_and_nan() -> None:
    scope = radius_scope(0, 0, 100)
    assert scope.contains_xy(np.array([]), np.array([])).shape == (0,)
    assert scope.contains_xy(np.array([np.nan, 0.0]), np.array([0.0, 0.0])).tolist() == [
        False,
        True,
    ]


def test_to_polygon_is_a_geodesic_circle() -> None:
    scope = radius_scope(8.54, 47.37, 500)
    circle = scope.to_polygon(64)
    assert isinstance(circle, shapely.Polygon)
    assert circle.is_valid
    coords = shapely.get_coordinates(circle.exterior)
    assert len(coords) == 65
    assert shapely.is_ccw(circle.exterior)
    assert scope.distance_m(coords[:, 0], coords[:, 1]) == pytest.approx(500.0, abs=1e-6)
    assert circle.contains(scope.center)
    assert len(shapely.get_coordinates(scope.to_polygon().exterior)) == 129


def test_to_polygon_near_the_antimeridian_stays_continuous() -> None:
    circle = radius_scope(179.999, 0.0, 1_000).to_polygon()
    assert circle.is_valid
    xmin, _, xmax, _ = circle.bounds
    assert xmax > 180.0
    assert xmax - xmin < 0.1


@pytest.mark.parametrize("bad", [7, 0, 8.0, True])
def test_to_polygon_vertex_count_is_checked(bad: Any) -> None:
    with pytest.raises(InvalidScopeError, match="n_vertices must be an integer >= 8"):
        radius_scope(0, 0, 10).to_polygon(bad)


def test_radius_scope_around_report() -> None:
    reports = frame([8.54, 8.55], [47.37, 47.38], index=[10, 20])
    scope = radius_scope_around_report(reports, 2)
    assert scope == RadiusScope(8.55, 47.38, 250.0)
    assert radius_scope_around_report(reports, np.int64(1), radius_m=50).radius_m == 50.0
    with pytest.raises(UnknownReportError, match="report with seq 99 not found") as info:
        radius_scope_around_report(reports, 99)
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "report with seq 99 not found"
    with pytest.raises(UnknownReportError, match="seq must be an integer"):
        radius_scope_around_report(reports, "1")  # type: ignore[arg-type]
    with pytest.raises(InvalidScopeError, match="radius_m"):
        radius_scope_around_report(reports, 1, radius_m=0)


# --------------------------------------------------------------------------- as_scope


def test_as_scope_accepts_scopes_and_geojson() -> None:
    circle = radius_scope(0, 0, 10)
    assert as_scope(circle) is circle
    box = shapely.box(0, 0, 1, 1)
    assert as_scope(box) is box
    assert as_scope(TWO_SQUARES) is TWO_SQUARES
    assert as_scope(polygon(SQUARE)).equals(shapely.box(0, 0, 10, 10))
    assert as_scope(json.dumps(feature(polygon(SQUARE)))).equals(shapely.box(0, 0, 10, 10))
    flat = as_scope(shapely.Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 5), (0, 0, 5)]))
    assert not shapely.has_z(flat)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (shapely.Point(1, 2), "got a shapely Point"),
        (shapely.LineString([(0, 0), (1, 1)]), "got a shapely LineString"),
        (shapely.GeometryCollection([shapely.box(0, 0, 1, 1)]), "got a shapely GeometryCollection"),
        (5, "got int"),
        ([SQUARE], "got an array"),
        (None, "geometry is required"),
        (shapely.Polygon(), "scope geometry is empty"),
        (
            shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]),
            "polygon is not valid: Self-intersection",
        ),
        (shapely.box(500_000, 5_000_000, 600_000, 5_100_000), "out of range"),
        ({"type": "Point", "coordinates": [0, 0]}, "unsupported geometry type: Point"),
    ],
)
def test_as_scope_rejects_other_values(obj: Any, message: str) -> None:
    with pytest.raises(InvalidScopeError) as info:
        as_scope(obj)
    assert message in str(info.value)


# --------------------------------------------------------------------------- scope_reports


def test_boundary_and_hole_semantics() -> None:
    points = {
        "inside": (1, 1),
        "on edge": (5, 0),
        "on vertex": (10, 10),
        "in hole": (5, 5),
        "on hole edge": (4, 5),
        "on hole vertex": (6, 6),
        "outside": (11, 5),
        "just outside": (10.000001, 5),
    }
    lons, lats = zip(*points.values(), strict=True)
    reports = frame(lons, lats)
    mask = scope_mask(reports, SQUARE_WITH_HOLE)
    assert mask.dtype == bool
    assert dict(zip(points, mask.tolist(), strict=True)) == {
        "inside": True,
        "on edge": True,
        "on vertex": True,
        "in hole": False,
        "on hole edge": True,
        "on hole vertex": True,
        "outside": False,
        "just outside": False,
    }
    assert scope_reports(reports, polygon(SQUARE, HOLE))["seq"].tolist() == [1, 2, 3, 5, 6]


def test_radius_boundary_is_included() -> None:
    reports = frame([0.0, 0.0], [0.0, 0.001])
    distance = radius_scope(0, 0, 1).distance_m(np.array([0.0]), np.array([0.001]))[0]
    assert scope_reports(reports, radius_scope(0, 0, distance))["seq"].tolist() == [1, 2]
    assert scope_reports(reports, radius_scope(0, 0, math.nextafter(distance, 0)))[
        "seq"
    ].tolist() == [1]


def test_scope_reports_keeps_index_order_and_columns_without_mutating() -> None:
    reports = frame([9, 1, 50, 2, 3], [9, 1, 50, 2, 3], index=[40, 30, 20, 10, 0])
    reports["incident_id"] = ["a", "b", "c", "d", "e"]
    before = reports.copy()
    out = scope_reports(reports, shapely.box(0, 0, 10, 10))
    assert isinstance(out, gpd.GeoDataFrame)
    assert out.index.tolist() == [40, 30, 10, 0]
    assert out["seq"].tolist() == [1, 2, 4, 5]
    assert list(out.columns) == list(reports.columns)
    assert out.crs == reports.crs
    pd.testing.assert_frame_equal(reports, before)
    pd.testing.assert_frame_equal(out, reports.loc[[40, 30, 10, 0]])


def test_scope_reports_on_an_empty_frame() -> None:
    empty = reports_from_records([])
    for scope in (SQUARE_WITH_HOLE, radius_scope(0, 0, 100), polygon(SQUARE)):
        out = scope_reports(empty, scope)
        assert out.empty
        assert list(out.columns) == list(empty.columns)
        assert scope_mask(empty, scope).shape == (0,)


def test_scope_reports_checks_the_frame() -> None:
    reports = frame([1], [1])
    with pytest.raises(InvalidReportsError, match="CRS EPSG:4326"):
        scope_reports(reports.to_crs(3857), SQUARE_WITH_HOLE)
    with pytest.raises(InvalidReportsError, match="GeoDataFrame"):
        scope_reports(pd.DataFrame(reports), SQUARE_WITH_HOLE)  # type: ignore[arg-type]
    with pytest.raises(InvalidScopeError, match="got a shapely Point"):
        scope_reports(reports, shapely.Point(1, 1))  # type: ignore[arg-type]


def test_rows_without_a_point_are_never_in_scope() -> None:
    reports = frame([1, 2], [1, 2])
    reports.loc[1, "geometry"] = None
    assert scope_mask(reports, SQUARE_WITH_HOLE).tolist() == [True, False]
    assert scope_mask(reports, radius_scope(1, 1, 1000)).tolist() == [True, False]


# --------------------------------------------------------------------------- scope_geojson


def test_scope_geojson_round_trips() -> None:
    for geom in (SQUARE_WITH_HOLE, TWO_SQUARES, CONCAVE):
        out = scope_geojson(geom)
        assert out["type"] == geom.geom_type
        assert isinstance(out["coordinates"], list)
        assert parse_scope_geojson(out).equals(geom)
        assert json.loads(json.dumps(out)) == out
    unwrapped = scope_geojson(feature(polygon(SQUARE)))
    assert unwrapped == {
        "type": "Polygon",
        "coordinates": [[[float(x), float(y)] for x, y in SQUARE]],
    }
    circle = scope_geojson(radius_scope(8.54, 47.37, 250))
    assert circle["type"] == "Polygon"
    assert len(circle["coordinates"][0]) == 129
    assert parse_scope_geojson(circle).is_valid


# --------------------------------------------------------------------------- properties

coordinate = st.floats(-2, 12, allow_nan=False, allow_infinity=False)


@st.composite
def points_near(draw: st.DrawFn, geom: shapely.Geometry) -> list[tuple[float, float]]:
    """Random points plus points exactly on the scope's vertices."""
    vertices = [tuple(map(float, xy)) for xy in shapely.get_coordinates(geom)]
    free = st.tuples(coordinate, coordinate)
    on_vertex = st.sampled_from(vertices)
    grid = st.tuples(st.integers(-1, 11).map(float), st.integers(-1, 11).map(float))
    return draw(st.lists(st.one_of(free, on_vertex, grid), min_size=0, max_size=25))


@st.composite
def polygon_cases(draw: st.DrawFn) -> tuple[shapely.Geometry, list[tuple[float, float]]]:
    fixed = st.sampled_from([SQUARE_WITH_HOLE, TWO_SQUARES, CONCAVE])
    boxes = (
        st.tuples(coordinate, coordinate, coordinate, coordinate)
        .filter(lambda b: abs(b[0] - b[2]) > 1e-3 and abs(b[1] - b[3]) > 1e-3)
        .map(lambda b: shapely.box(*b))
    )
    geom = draw(st.one_of(fixed, boxes))
    return geom, draw(points_near(geom))


@given(polygon_cases())
def test_polygon_scope_matches_a_per_point_reference(
    case: tuple[shapely.Geometry, list[tuple[float, float]]],
) -> None:
    geom, points = case
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    reports = frame(lons, lats, index=range(100, 100 + len(points)))
    out = scope_reports(reports, geom)
    reference = [shapely.Point(x, y).intersects(geom) for x, y in points]
    assert set(out.index) <= set(reports.index)
    assert out.index.tolist() == reports.index[np.array(reference, dtype=bool)].tolist()
    pd.testing.assert_frame_equal(out, reports.loc[np.array(reference, dtype=bool)])


@given(
    center_lon=st.floats(-179, 179),
    center_lat=st.floats(-85, 85),
    radius_m=st.floats(1, 1_000_000),
    offsets=st.lists(st.tuples(st.floats(0, 360), st.floats(0, 2)), min_size=0, max_size=25),
)
def test_radius_scope_matches_a_per_point_reference(
    center_lon: float,
    center_lat: float,
    radius_m: float,
    offsets: list[tuple[float, float]],
) -> None:
    scope = radius_scope(center_lon, center_lat, radius_m)
    points = [
        GEOD.fwd(center_lon, center_lat, azimuth, factor * radius_m)[:2]
        for azimuth, factor in offsets
    ]
    reports = frame([p[0] for p in points], [p[1] for p in points])
    out = scope_reports(reports, scope)
    reference = [GEOD.inv(center_lon, center_lat, lon, lat)[2] <= radius_m for lon, lat in points]
    assert set(out.index) <= set(reports.index)
    assert out["seq"].tolist() == reports["seq"][np.array(reference, dtype=bool)].tolist()


def test_radius_scope_around_a_pole_and_across_the_antimeridian() -> None:
    reports = frame([-180, 0, 90, 179.9, -179.9], [82, 82, 81, -0.1, 0.1])
    near_pole = scope_mask(reports, radius_scope(0, 90, 1_000_000))
    assert near_pole.tolist() == [True, True, False, False, False]
    across = scope_mask(reports, radius_scope(180, 0, 50_000))
    assert across.tolist() == [False, False, False, True, True]
