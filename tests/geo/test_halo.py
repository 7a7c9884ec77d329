"""Halos on the chord-cell grid: every report within the gate of a partition is in its halo."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cleanapp_geo.arrays import EARTH_RADIUS_M, haversine_m
from cleanapp_geo.distributed.halo import (
    MIN_CELL_SIDE_M,
    cell_keys,
    cell_side_m,
    footprint,
    halo_mask,
)


def destination(lon, lat, bearing_deg, distance_m):
    """The point ``distance_m`` from (lon, lat) along a great circle (spherical Earth)."""
    phi, lam = math.radians(lat), math.radians(lon)
    theta, delta = math.radians(bearing_deg), distance_m / EARTH_RADIUS_M
    phi2 = math.asin(
        math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(theta)
    )
    lam2 = lam + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi),
        math.cos(delta) - math.sin(phi) * math.sin(phi2),
    )
    lon2 = (math.degrees(lam2) + 540.0) % 360.0 - 180.0
    return lon2, math.degrees(phi2)


@given(
    lon=st.one_of(st.floats(-180, 180), st.sampled_from([-180.0, 180.0, 179.9999, 0.0])),
    lat=st.one_of(st.floats(-90, 90), st.sampled_from([-90.0, 90.0, 89.9999, -89.9999])),
    bearing=st.floats(0, 360),
    share=st.floats(0, 1),
    gate_m=st.sampled_from([1.0, 40.0, 150.0, 5_000.0]),
)
def test_a_report_within_the_gate_is_in_the_halo(lon, lat, bearing, share, gate_m):
    # Anywhere on the sphere: across the antimeridian, at the poles, along any bearing.
    lon2, lat2 = destination(lon, lat, bearing, share * gate_m)
    if (
        haversine_m(np.array([lon]), np.array([lat]), np.array([lon2]), np.array([lat2]))[0]
        > gate_m
    ):
        return  # the destination formula rounded past the gate: not an edge anyway
    side = cell_side_m(gate_m)
    partition = footprint(cell_keys(np.array([lon]), np.array([lat]), side))
    other = cell_keys(np.array([lon2]), np.array([lat2]), side)
    assert halo_mask(other, partition)[0]
    assert partition.near(footprint(other))


def test_far_reports_are_not_in_the_halo():
    side = cell_side_m(150.0)
    partition = footprint(cell_keys(np.array([8.54]), np.array([47.37]), side))
    far_lon = np.array([8.54, 8.56, -171.46])
    far_lat = np.array([47.38, 47.37, -47.37])
    assert not halo_mask(cell_keys(far_lon, far_lat, side), partition).any()
    assert side >= MIN_CELL_SIDE_M
    assert not halo_mask(np.empty(0, np.int64), partition).any()
    assert not halo_mask(cell_keys(far_lon, far_lat, side), footprint(np.empty(0))).any()
