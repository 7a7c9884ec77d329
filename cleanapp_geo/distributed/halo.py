"""Which reports of other partitions a partition must see: halos on a grid of chord cells.

Reports are placed on a grid of cubes in Earth-centred coordinates (the ``xyz`` of
:class:`~cleanapp_geo.arrays.ReportArrays`) whose side is at least the chord of the
model's radius gate. Two reports within the gate (great-circle distance) are within that
chord of each other, so their cells differ by at most one step along each axis: a
partition's *halo* is every report of another partition whose cell is one of the 27
cells around a cell the partition occupies. This holds everywhere on the sphere (no
latitude scaling, nothing special at the antimeridian or the poles), and a report of the
halo that is not within the gate of any report of the partition only costs work, never
an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from cleanapp_geo.arrays import EARTH_RADIUS_M, chord_m

__all__ = ["Footprint", "cell_keys", "cell_side_m", "footprint", "halo_mask"]

#: Bits per axis of a packed cell key (three axes fit an int64).
_AXIS_BITS: Final = 20
_AXIS_CELLS: Final = 1 << _AXIS_BITS
#: Smallest cell side: the Earth's diameter over the cells one axis can hold, rounded up.
MIN_CELL_SIDE_M: Final = 2 * EARTH_RADIUS_M / (_AXIS_CELLS - 4) * 1.01
#: The 27 neighbour offsets of a packed key (components never under- or overflow: a
#: cell index lies in 1 .. _AXIS_CELLS - 2).
_NEIGHBOURS: Final = np.array(
    [
        (dx << (2 * _AXIS_BITS)) + (dy << _AXIS_BITS) + dz
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
        for dz in (-1, 0, 1)
    ],
    dtype=np.int64,
)


def cell_side_m(radius_gate_m: float) -> float:
    """Side of the grid cells for a radius gate: its chord, with a margin.

    Parameters
    ----------
    radius_gate_m : float
        Greatest great-circle distance of an edge.

    Returns
    -------
    float
        Metres; never below :data:`MIN_CELL_SIDE_M`.

    Examples
    --------
    >>> 150.0 < cell_side_m(150.0) < 150.01
    True
    """
    return max(chord_m(radius_gate_m) * (1 + 1e-6) + 1e-3, MIN_CELL_SIDE_M)


def _cells(lon: np.ndarray, lat: np.ndarray, side_m: float) -> np.ndarray:
    """(n, 3) int64 cell indices of points, each in 1 .. _AXIS_CELLS - 2."""
    lon_r, lat_r = np.radians(lon), np.radians(lat)
    cos_lat = np.cos(lat_r)
    xyz = EARTH_RADIUS_M * np.column_stack(
        (cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r))
    )
    return np.floor((xyz + EARTH_RADIUS_M) / side_m).astype(np.int64) + 1


def cell_keys(lon: np.ndarray, lat: np.ndarray, side_m: float) -> np.ndarray:
    """Packed int64 cell key of each point (degrees) on a grid of cubes of ``side_m``.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Degrees.
    side_m : float
        Cell side (see :func:`cell_side_m`).

    Returns
    -------
    numpy.ndarray
        int64 keys; two points within ``side_m`` of each other have keys that differ by
        one of the 27 neighbour offsets. -1 for a point without finite coordinates.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    keys = np.full(len(lon), -1, dtype=np.int64)
    finite = np.isfinite(lon) & np.isfinite(lat)
    cells = _cells(lon[finite], lat[finite], side_m)
    keys[finite] = (cells[:, 0] << (2 * _AXIS_BITS)) + (cells[:, 1] << _AXIS_BITS) + cells[:, 2]
    return keys


def _unpacked(keys: np.ndarray) -> np.ndarray:
    mask = np.int64(_AXIS_CELLS - 1)
    return np.column_stack(
        (keys >> (2 * _AXIS_BITS), (keys >> _AXIS_BITS) & mask, keys & mask)
    ).astype(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class Footprint:
    """The cells a partition's reports occupy.

    Attributes
    ----------
    keys : numpy.ndarray
        Sorted distinct int64 cell keys.
    low, high : numpy.ndarray
        Least and greatest cell index along each axis (int64, shape (3,)); for an empty
        footprint ``low > high``.
    """

    keys: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def near(self, other: Footprint) -> bool:
        """Whether some cell of ``other`` is within one step of the bounding box of this one."""
        if len(self) == 0 or len(other) == 0:
            return False
        return bool(np.all(other.low <= self.high + 1) and np.all(other.high >= self.low - 1))


def footprint(keys: np.ndarray) -> Footprint:
    """Footprint of the reports with these cell keys.

    Parameters
    ----------
    keys : numpy.ndarray
        From :func:`cell_keys`.

    Returns
    -------
    Footprint
    """
    distinct = np.unique(np.asarray(keys, dtype=np.int64))
    distinct = distinct[distinct >= 0]
    if len(distinct) == 0:
        return Footprint(distinct, np.full(3, 1, np.int64), np.zeros(3, np.int64))
    cells = _unpacked(distinct)
    return Footprint(distinct, cells.min(axis=0), cells.max(axis=0))


def halo_mask(keys: np.ndarray, of: Footprint) -> np.ndarray:
    """Which reports (by cell key) lie in a cell next to one of the footprint's cells.

    Parameters
    ----------
    keys : numpy.ndarray
        Cell keys of reports of another partition.
    of : Footprint
        The partition whose halo is wanted.

    Returns
    -------
    numpy.ndarray
        bool mask over ``keys``: every report within the gate of a report of ``of`` is
        in it.
    """
    keys = np.asarray(keys, dtype=np.int64)
    mask = np.zeros(len(keys), dtype=bool)
    if len(of) == 0 or len(keys) == 0:
        return mask
    cells = _unpacked(keys)
    near = np.flatnonzero(np.all((cells >= of.low - 1) & (cells <= of.high + 1), axis=1))
    if len(near) == 0:
        return mask
    around = keys[near, None] + _NEIGHBOURS[None, :]
    found = np.searchsorted(of.keys, around)
    found = np.minimum(found, len(of.keys) - 1)
    mask[near] = np.any(of.keys[found] == around, axis=1)
    return mask
