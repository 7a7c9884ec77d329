"""Polygon rings across the antimeridian and around the poles (pure, RFC 7946 §3.1.9).

GeoJSON positions are longitude/latitude and its edges are straight lines between them. A
ring edge from longitude 170 to -170 is read the way RFC 7946 §3.1.9 and every web map
read it: it crosses the antimeridian (a 20° edge), it does not run 340° the other way round
the world. :func:`cut_polygon` turns such a polygon into the parts RFC 7946 asks for, cut
along the antimeridian, so a planar ``ST_Intersects`` and a geodesic ``geography`` agree on
what lies inside.

Refused, with a message saying why (:class:`~cleanapp_geo.errors.InvalidScopeError`):

* an edge spanning exactly 180° of longitude (either way round is as short, and PostGIS
  ``geography`` calls it an "antipodal edge") or 360° (from -180 to 180: the same meridian,
  as a whole-world box writes it), or 180° of latitude (pole to pole);
* a ring that goes round a pole (its edges add up to ±360° of longitude): a cap over a pole
  has no planar form that keeps its meaning.

Examples
--------
>>> import numpy as np
>>> ring = np.array([[170, 0], [-170, 0], [-170, 10], [170, 10], [170, 0]], dtype=float)
>>> [p.bounds for p in cut_polygon([ring], "")]
[(-180.0, 0.0, -170.0, 10.0), (170.0, 0.0, 180.0, 10.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import shapely
import shapely.affinity

from cleanapp_geo.errors import InvalidScopeError

__all__ = ["check_edge_spans", "cut_polygon", "unwrap_ring"]

_HALF: Final = 180.0
_FULL: Final = 360.0
_ADVICE: Final = (
    "split the scope into parts of less than 180° each, cut at the antimeridian (RFC 7946 §3.1.9)"
)


def _point(xy: np.ndarray) -> str:
    return f"[{xy[0]:g}, {xy[1]:g}]"


def check_edge_spans(xy: np.ndarray, at: str) -> None:
    """Refuse a ring with an edge of exactly 180° or 360° of longitude or 180° of latitude.

    Parameters
    ----------
    xy : numpy.ndarray
        The ring's ``(n, 2)`` longitudes and latitudes, as written.
    at : str
        Where the ring is, for the message (``ring 0 of polygon 1``).

    Raises
    ------
    InvalidScopeError
        Naming the edge and why it cannot be read.
    """
    dlon = np.abs(np.diff(xy[:, 0]))
    dlat = np.abs(np.diff(xy[:, 1]))
    bad = np.flatnonzero((dlon == _HALF) | (dlon == _FULL) | (dlat == _HALF))
    if bad.size == 0:
        return
    i = int(bad[0])
    span = f"{dlat[i]:g}° of latitude" if dlat[i] == _HALF else f"{dlon[i]:g}° of longitude"
    raise InvalidScopeError(
        f"the edge from {_point(xy[i])} to {_point(xy[i + 1])} of {at} spans {span}; "
        "an edge must span less than 180° (its direction round the globe is ambiguous, "
        f"and a whole-world or hemisphere box cannot be told from a thin sliver): {_ADVICE}"
    )


def unwrap_ring(xy: np.ndarray, at: str) -> np.ndarray:
    """Return a ring with continuous longitudes: every edge takes the short way round.

    An edge whose longitudes differ by more than 180° crosses the antimeridian; the
    longitudes after it are shifted by ±360°, so the result may leave [-180, 180].

    Parameters
    ----------
    xy : numpy.ndarray
        The ring's ``(n, 2)`` longitudes and latitudes (closed).
    at : str
        Where the ring is, for the messages.

    Returns
    -------
    numpy.ndarray
        ``xy`` itself when no edge crosses the antimeridian, else the unwrapped copy.

    Raises
    ------
    InvalidScopeError
        For an edge :func:`check_edge_spans` refuses, or a ring that goes round a pole.

    Examples
    --------
    >>> import numpy as np
    >>> unwrap_ring(np.array([[179.0, 0], [-179, 0], [-179, 1], [179, 1], [179, 0]]), "")[:, 0]
    array([179., 181., 181., 179., 179.])
    """
    check_edge_spans(xy, at)
    step = np.diff(xy[:, 0])
    crossing = np.abs(step) > _HALF
    if not crossing.any():
        return xy
    step = np.where(step > _HALF, step - _FULL, np.where(step < -_HALF, step + _FULL, step))
    lon = xy[0, 0] + np.concatenate([[0.0], np.cumsum(step)])
    if abs(lon[-1] - lon[0]) > 1e-9:
        pole = "north" if float(np.mean(xy[:, 1])) >= 0 else "south"
        raise InvalidScopeError(
            f"{at} goes round the {pole} pole (its edges add up to 360° of longitude); "
            "a scope may not cover a pole: use parts that stop short of it"
        )
    return np.column_stack([lon, xy[:, 1]])


def cut_polygon(rings: Sequence[np.ndarray], where: str, p: int = 0) -> list[shapely.Polygon]:
    """Build one GeoJSON polygon, cut along the antimeridian where it crosses it.

    Parameters
    ----------
    rings : sequence of numpy.ndarray
        The shell, then the holes: ``(n, 2)`` closed rings as written, longitudes in
        [-180, 180].
    where : str
        Prefix of the messages (``feature 2: ``).
    p : int, default 0
        The polygon's place in its MultiPolygon, for the messages.

    Returns
    -------
    list of shapely.Polygon
        One polygon when nothing crosses the antimeridian; else the parts, each within
        [-180, 180], ordered by their west and south bounds.

    Raises
    ------
    InvalidScopeError
        For refused edges and rings round a pole (see the module docstring), or when the
        unwrapped polygon is not valid.
    """
    unwrapped = [unwrap_ring(xy, f"{where}ring {r} of polygon {p}") for r, xy in enumerate(rings)]
    if all(u is xy for u, xy in zip(unwrapped, rings, strict=True)):
        return [shapely.Polygon(rings[0], list(rings[1:]))]
    shell = unwrapped[0]
    centre = 0.5 * (shell[:, 0].min() + shell[:, 0].max())
    holes = []
    for hole in unwrapped[1:]:
        shift = _FULL * round((centre - 0.5 * (hole[:, 0].min() + hole[:, 0].max())) / _FULL)
        holes.append(hole + np.array([shift, 0.0]))
    whole = shapely.Polygon(shell, holes)
    if not shapely.is_valid(whole):
        raise InvalidScopeError(
            f"{where}polygon {p} is not valid: {shapely.is_valid_reason(whole)} "
            "(read with its edges crossing the antimeridian)"
        )
    parts: list[shapely.Polygon] = []
    for k in (-1, 0, 1):
        window = shapely.box(-_HALF + _FULL * k, -90.0, _HALF + _FULL * k, 90.0)
        piece = shapely.intersection(whole, window)
        moved = shapely.affinity.translate(piece, xoff=-_FULL * k) if k else piece
        parts.extend(x for x in shapely.get_parts(moved) if isinstance(x, shapely.Polygon))
    kept = [part for part in parts if not part.is_empty and part.area > 0]
    return sorted(kept, key=lambda part: part.bounds[:2])
