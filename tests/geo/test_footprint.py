"""cleanapp_geo.footprint: a case's geometry covers every linked report."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanapp_geo.footprint import (
    CASE_BUFFER_M,
    HULL_SOURCE,
    InvalidFootprintError,
    case_footprint,
    covering_area,
    report_hull,
    snapshot_area,
    snapshot_features,
)

M_PER_DEG = math.pi * 6_371_008.8 / 180.0

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[8.50, 47.30], [8.60, 47.30], [8.60, 47.40], [8.50, 47.40], [8.50, 47.30]]],
}


@st.composite
def point_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """1-25 points within about 2 km of a centre anywhere between 70°S and 70°N."""
    lat0 = draw(st.floats(-70, 70))
    lon0 = draw(st.floats(-179, 179))
    n = draw(st.integers(1, 25))
    offsets = draw(
        st.lists(st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000)), min_size=n, max_size=n)
    )
    dx = np.array([o[0] for o in offsets])
    dy = np.array([o[1] for o in offsets])
    lat = lat0 + dy / M_PER_DEG
    lon = lon0 + dx / (M_PER_DEG * math.cos(math.radians(lat0)))
    return lon, lat


@settings(max_examples=60, deadline=None)
@given(point_sets(), st.floats(1.0, 50.0))
def test_hull_covers_every_point_and_reaches_buffer_beyond_them(
    points: tuple[np.ndarray, np.ndarray], buffer_m: float
) -> None:
    lon, lat = points
    hull = report_hull(lon, lat, buffer_m=buffer_m)
    assert hull is not None and hull.is_valid
    assert shapely.intersects_xy(hull, lon, lat).all()
    # The buffer reaches buffer_m beyond the extreme points (a 32-gon per circle: within 1%).
    west, south, east, north = hull.bounds
    lat_mid = math.radians(float(np.mean(lat)))
    assert (north - lat.max()) * M_PER_DEG == pytest.approx(buffer_m, rel=0.02)
    assert (lat.min() - south) * M_PER_DEG == pytest.approx(buffer_m, rel=0.02)
    east_m = (east - lon.max()) * M_PER_DEG * math.cos(lat_mid)
    west_m = (lon.min() - west) * M_PER_DEG * math.cos(lat_mid)
    assert east_m == pytest.approx(buffer_m, rel=0.03)
    assert west_m == pytest.approx(buffer_m, rel=0.03)


@settings(max_examples=30, deadline=None)
@given(point_sets(), st.randoms(use_true_random=False))
def test_hull_does_not_depend_on_report_order(
    points: tuple[np.ndarray, np.ndarray], rnd: object
) -> None:
    lon, lat = points
    order = np.arange(len(lon))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    a = report_hull(lon, lat)
    b = report_hull(lon[order], lat[order])
    assert a is not None and b is not None
    assert shapely.equals_exact(a, b, tolerance=1e-9) or a.symmetric_difference(b).area < 1e-16


@settings(max_examples=60, deadline=None)
@given(point_sets(), st.sampled_from([[], [SQUARE], [None, SQUARE]]), st.integers(0, 3))
def test_covering_area_is_the_footprint_area(
    points: tuple[np.ndarray, np.ndarray], geometries: list[object], square_at: int
) -> None:
    """The area a store refresh computes from the cached snapshot area == the footprint's."""
    lon, lat = points
    if geometries and square_at:  # put the square around some of the reports
        west, south = float(lon[0]) - 0.01 * square_at, float(lat[0]) - 0.01 * square_at
        geometries = [{"type": "Polygon", "coordinates": [[
            [west, south], [west + 0.02, south], [west + 0.02, south + 0.02],
            [west, south + 0.02], [west, south]]]}]  # fmt: skip
    expected = case_footprint(geometries, lon, lat).area
    got = covering_area(snapshot_area(geometries), lon, lat)
    assert (got is None) == (expected is None)
    if got is not None:
        assert shapely.to_wkb(got) == shapely.to_wkb(expected)


def test_one_report_is_a_disc_of_the_buffer() -> None:
    hull = report_hull([8.5417], [47.3769])
    assert hull is not None
    area_m2 = hull.area * M_PER_DEG**2 * math.cos(math.radians(47.3769))
    assert area_m2 == pytest.approx(math.pi * CASE_BUFFER_M**2, rel=0.02)


def test_snapshots_that_cover_the_reports_stay_as_upstream() -> None:
    fp = case_footprint([SQUARE], [8.55, 8.56], [47.35, 47.36])
    assert fp.features == ({"type": "Feature", "properties": {}, "geometry": SQUARE},)
    assert fp.bbox == (8.5, 47.3, 8.6, 47.4)


def test_a_report_outside_the_snapshots_adds_the_hull_of_all_reports() -> None:
    lon, lat = [8.55, 8.70], [47.35, 47.35]
    fp = case_footprint([SQUARE], lon, lat)
    assert [f["properties"].get("source") for f in fp.features] == [None, HULL_SOURCE]
    assert fp.area is not None and shapely.intersects_xy(fp.area, lon, lat).all()
    assert fp.bbox is not None and fp.bbox[2] > 8.70
    assert fp.feature_collection() == {"type": "FeatureCollection", "features": list(fp.features)}


def test_a_case_from_reports_alone_gets_their_buffered_hull() -> None:
    fp = case_footprint([], [8.5417, 8.5420, 8.5419], [47.3769, 47.3769, 47.3772])
    assert len(fp.features) == 1
    assert fp.features[0]["geometry"]["type"] == "Polygon"
    assert fp.area is not None and fp.area.area > 0


def test_nothing_gives_an_empty_footprint() -> None:
    fp = case_footprint([None, {}], [], [])
    assert fp.features == () and fp.area is None and fp.bbox is None
    assert fp.feature_collection() is None


def test_snapshot_features_follow_upstream() -> None:
    point = {"type": "Point", "coordinates": [8.5, 47.3]}
    collection = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"a": 1}, "geometry": point}, "junk"],
    }
    features = snapshot_features([point, collection, None, "text"])
    assert features == [
        {"type": "Feature", "properties": {}, "geometry": point},
        {"type": "Feature", "properties": {"a": 1}, "geometry": point},
    ]


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        ([8.5], [47.3, 47.4], "same length"),
        ([float("nan")], [47.3], "finite"),
        ([181.0], [47.3], "finite"),
    ],
)
def test_bad_coordinates_are_refused(lon: list[float], lat: list[float], message: str) -> None:
    with pytest.raises(InvalidFootprintError, match=message):
        case_footprint([], lon, lat)


@pytest.mark.parametrize("buffer_m", [0, -1.0, float("inf"), True])
def test_bad_buffers_are_refused(buffer_m: float) -> None:
    with pytest.raises(InvalidFootprintError, match="buffer_m"):
        report_hull([8.5], [47.3], buffer_m=buffer_m)
