"""Scopes across the antimeridian and around the poles (cleanapp_geo.antimeridian)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from cleanapp_geo import InvalidScopeError, reports_from_records
from cleanapp_geo.scope import as_scope, parse_scope_geojson, scope_mask


def polygon(*rings: list[Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def frame(lons: Any, lats: Any) -> gpd.GeoDataFrame:
    return reports_from_records(
        [
            {"seq": i + 1, "ts": "2026-03-10T10:00:00Z", "longitude": x, "latitude": y}
            for i, (x, y) in enumerate(zip(lons, lats, strict=True))
        ]
    )


def test_a_box_across_the_antimeridian_is_cut_into_two_parts() -> None:
    scope = parse_scope_geojson(polygon([[170, 0], [-170, 0], [-170, 10], [170, 10], [170, 0]]))
    assert scope.geom_type == "MultiPolygon"
    assert [p.bounds for p in scope.geoms] == [(-180, 0, -170, 10), (170, 0, 180, 10)]
    reports = frame([179.9, -179.9, 175, -175, 0, 160, -160], [5, 5, 9, 1, 5, 5, 5])
    assert scope_mask(reports, scope).tolist() == [True] * 4 + [False] * 3


def test_a_hole_across_the_antimeridian_stays_a_hole() -> None:
    shell = [[170, 0], [-170, 0], [-170, 10], [170, 10], [170, 0]]
    hole = [[179, 4], [-179, 4], [-179, 6], [179, 6], [179, 4]]
    scope = parse_scope_geojson(polygon(shell, hole))
    reports = frame([179.5, -179.5, 179.5, -175], [5, 5, 2, 5])
    assert scope_mask(reports, scope).tolist() == [False, False, True, True]
    assert scope.area == pytest.approx(200 - 4)


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        (
            [[-90, 0], [90, 0], [90, 10], [-90, 10], [-90, 0]],
            "the edge from [-90, 0] to [90, 0] of ring 0 of polygon 0 spans 180° of longitude; "
            "an edge must span less than 180°",
        ),
        (
            [[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]],
            "the edge from [-180, -90] to [180, -90] of ring 0 of polygon 0 spans 360° of "
            "longitude",
        ),
        ([[0, -90], [0, 90], [10, 90], [0, -90]], "spans 180° of latitude"),
        (
            [[0, 80], [120, 80], [-120, 80], [0, 80]],
            "ring 0 of polygon 0 goes round the north pole (its edges add up to 360° of "
            "longitude); a scope may not cover a pole",
        ),
        (
            [[0, -80], [-120, -80], [120, -80], [0, -80]],
            "ring 0 of polygon 0 goes round the south pole",
        ),
    ],
)
def test_ambiguous_edges_and_polar_caps_are_refused(ring: list[Any], message: str) -> None:
    with pytest.raises(InvalidScopeError) as info:
        parse_scope_geojson(polygon(ring))
    assert message in str(info.value)
    assert "RFC 7946" in str(info.value) or "pole" in str(info.value)


def test_shapely_scopes_are_refused_with_the_same_rule() -> None:
    with pytest.raises(InvalidScopeError, match="an edge must span less than 180°"):
        as_scope(shapely.box(-180, -90, 180, 90))
    assert as_scope(shapely.box(-179, -89, 179, 89)).area == pytest.approx(358 * 178)


def test_already_cut_parts_are_accepted_unchanged() -> None:
    parts = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[170, 0], [180, 0], [180, 10], [170, 10], [170, 0]]],
            [[[-180, 0], [-170, 0], [-170, 10], [-180, 10], [-180, 0]]],
        ],
    }
    scope = parse_scope_geojson(parts)
    assert sorted(p.bounds for p in scope.geoms) == [(-180, 0, -170, 10), (170, 0, 180, 10)]


@given(
    west=st.floats(100.0, 179.0),
    width=st.floats(2.0, 150.0),
    south=st.floats(-80.0, 70.0),
    height=st.floats(1.0, 10.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_cut_boxes_select_what_the_box_on_the_sphere_holds(
    west: float, width: float, south: float, height: float, seed: int
) -> None:
    east = west + width  # beyond 180: the box crosses the antimeridian when east > 180
    east_written = east - 360.0 if east > 180.0 else east
    ring = [[west, south], [east_written, south], [east_written, south + height],
            [west, south + height], [west, south]]  # fmt: skip
    scope = parse_scope_geojson(polygon(ring))
    rng = np.random.default_rng(seed)
    lon = rng.uniform(-180.0, 180.0, 300)
    lat = rng.uniform(south - 2.0, south + height + 2.0, 300)
    lat = np.clip(lat, -90.0, 90.0)
    # Reference: a point lies in the box when its longitude, taken east of ``west``, is
    # within the width (the box on the globe), and its latitude within the band.
    east_of_west = (lon - west) % 360.0
    inside = (east_of_west <= width) & (lat >= south) & (lat <= south + height)
    on_edge = (
        np.isclose(east_of_west, 0.0) | np.isclose(east_of_west, width)
        | np.isclose(east_of_west, 360.0) | np.isclose(lat, south)
        | np.isclose(lat, south + height)
    )  # fmt: skip
    got = scope_mask(frame(lon, lat), scope)
    assert (got[~on_edge] == inside[~on_edge]).all()
