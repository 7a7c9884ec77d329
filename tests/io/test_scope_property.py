"""PostGIS scopes select exactly what cleanapp_geo.scope selects in memory.

Tolerance: points closer than 1e-9 degrees (about 0.1 mm) to a polygon's boundary, or whose
geodesic distance to a radius scope's centre is within 1 cm of the radius, are left out of
the comparison. On the boundary itself both sides include the point (ST_Intersects /
ST_DWithin vs scope_reports), but GEOS in shapely and PostGIS's own point-in-polygon code,
and PROJ's geodesic vs PostGIS's spheroid distance, may round differently in the last bits.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from io_support import clear

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_geo.scope import RadiusScope, scope_reports

pytestmark = pytest.mark.postgis

BOUNDARY_TOLERANCE_DEG = 1e-9
RADIUS_TOLERANCE_M = 0.01
WGS84 = pyproj.Geod(ellps="WGS84")


def _frame(lon: np.ndarray, lat: np.ndarray) -> gpd.GeoDataFrame:
    n = len(lon)
    return cg.reports_from_records(
        {
            "seq": i + 1,
            "ts": "2026-03-10T10:00:00Z",
            "longitude": float(lon[i]),
            "latitude": float(lat[i]),
            "severity_level": 0.5,
            "title": f"r{i}",
        }
        for i in range(n)
    )


def _store_and_compare(engine: sa.Engine, frame: gpd.GeoDataFrame, scope: cg.scope.Scope) -> None:
    clear(engine)
    cio.write_reports(frame, engine)
    in_db = set(cio.read_reports(engine, scope=scope)["seq"].tolist())
    in_memory = set(scope_reports(frame, scope)["seq"].tolist())
    assert in_db == in_memory


@st.composite
def star_polygons(draw: st.DrawFn) -> shapely.Polygon | shapely.MultiPolygon:
    """Star-shaped polygons (simple by construction), sometimes with a hole, or two of them."""

    def star(cx: float, cy: float, size: float, with_hole: bool) -> shapely.Polygon:
        k = draw(st.integers(4, 12))
        jitter = draw(st.lists(st.floats(-0.4, 0.4), min_size=k, max_size=k))
        radii = draw(st.lists(st.floats(0.3, 1.0), min_size=k, max_size=k))
        angles = (np.arange(k) + np.array(jitter)) * 2 * math.pi / k
        r = np.array(radii) * size
        shell = np.column_stack([cx + r * np.cos(angles), cy + r * np.sin(angles)])
        holes = []
        if with_hole:
            # Angular gaps are below pi, so the shell contains the disc of radius
            # min(r) * cos(max gap / 2) around the centre; the hole stays inside it.
            gaps = np.diff(np.append(angles, angles[0] + 2 * math.pi))
            inner = 0.5 * r.min() * math.cos(gaps.max() / 2)
            t = np.linspace(0, 2 * math.pi, 7)[:-1]
            holes.append(np.column_stack([cx + inner * np.cos(t), cy + inner * np.sin(t)]))
        return shapely.Polygon(shell, holes)

    cx = draw(st.floats(-170.0, 150.0))
    cy = draw(st.floats(-80.0, 80.0))
    size = draw(st.sampled_from([1e-4, 1e-2, 1.0, 5.0]))
    first = star(cx, cy, size, draw(st.booleans()))
    if not draw(st.booleans()):
        return first
    second = star(cx + 2.5 * size, cy, size, draw(st.booleans()))
    return shapely.MultiPolygon([first, second])


@given(polygon=star_polygons(), seed=st.integers(0, 2**32 - 1))
def test_polygon_scope_matches_shapely(
    engine: sa.Engine, polygon: shapely.Polygon | shapely.MultiPolygon, seed: int
) -> None:
    assert polygon.is_valid
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = polygon.bounds
    pad_x, pad_y = 0.2 * (xmax - xmin), 0.2 * (ymax - ymin)
    lon = rng.uniform(xmin - pad_x, xmax + pad_x, 150)
    lat = rng.uniform(ymin - pad_y, ymax + pad_y, 150)
    # Also points exactly at vertices: on the boundary, so included by both.
    coords = shapely.get_coordinates(polygon.boundary)
    lon = np.concatenate([lon, coords[:6, 0]])
    lat = np.concatenate([lat, coords[:6, 1]])
    keep = (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    points = shapely.points(lon[keep], lat[keep])
    near = shapely.distance(polygon.boundary, points) < BOUNDARY_TOLERANCE_DEG
    on_vertex = shapely.intersects(polygon.boundary, points) & np.isin(
        shapely.get_x(points), coords[:, 0]
    )
    chosen = ~near | on_vertex  # vertices are exact in both engines; keep them
    _store_and_compare(engine, _frame(lon[keep][chosen], lat[keep][chosen]), polygon)


@given(
    lon0=st.floats(-180.0, 180.0),
    lat0=st.floats(-90.0, 90.0),
    radius_m=st.sampled_from([1.0, 250.0, 5_000.0, 200_000.0, 1_000_000.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_radius_scope_matches_contains_xy(
    engine: sa.Engine, lon0: float, lat0: float, radius_m: float, seed: int
) -> None:
    scope = RadiusScope(lon0, lat0, radius_m)
    rng = np.random.default_rng(seed)
    n = 150
    azimuth = rng.uniform(-180, 180, n)
    distance = radius_m * rng.uniform(0.0, 2.0, n)
    lon, lat, _ = WGS84.fwd(np.full(n, lon0), np.full(n, lat0), azimuth, distance)
    lon = np.concatenate([np.asarray(lon), rng.uniform(-180, 180, 20)])
    lat = np.clip(np.concatenate([np.asarray(lat), rng.uniform(-90, 90, 20)]), -90, 90)
    lon = (lon + 180.0) % 360.0 - 180.0
    margin = np.abs(scope.distance_m(lon, lat) - radius_m)
    keep = margin > RADIUS_TOLERANCE_M
    _store_and_compare(engine, _frame(lon[keep], lat[keep]), scope)


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (RadiusScope(179.9999, 0.0, 1_000.0), 2),  # crosses the antimeridian: two boxes
        (RadiusScope(-179.9999, 10.0, 1_000.0), 2),
        (RadiusScope(0.0, 89.999, 1_000.0), 1),  # reaches the pole: every longitude
        (RadiusScope(8.54, 47.37, 250.0), 1),
    ],
)
def test_radius_bounding_boxes(scope: RadiusScope, expected: int) -> None:
    boxes = cio.radius_bounding_boxes(scope)
    assert len(boxes) == expected
    circle = scope.to_polygon(256)
    lon = shapely.get_coordinates(circle)[:, 0]
    lat = shapely.get_coordinates(circle)[:, 1]
    lon = (lon + 180.0) % 360.0 - 180.0
    inside = np.zeros(len(lon), dtype=bool)
    for west, south, east, north in boxes:
        inside |= (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    assert inside.all()


def test_antimeridian_and_pole_radius_queries(store: sa.Engine) -> None:
    frame = _frame(
        np.array([179.9995, -179.9995, 0.0, 120.0]), np.array([0.0, 0.0, 89.9995, 89.9995])
    )
    cio.write_reports(frame, store)
    east = cio.read_reports(store, scope=RadiusScope(180.0, 0.0, 100.0))
    assert sorted(east["seq"].tolist()) == [1, 2]
    pole = cio.read_reports(store, scope=RadiusScope(60.0, 90.0, 100.0))
    assert sorted(pole["seq"].tolist()) == [3, 4]
