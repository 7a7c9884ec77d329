"""Helpers every repository module shares: array types, JSONB binds, bounds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_api.db import tables as t

__all__ = [
    "ARRAY_BIGINT",
    "ARRAY_TEXT",
    "CASE_ID_PATTERN",
    "PSYCOPG_DIALECT",
    "bounds_of",
    "geometry_bounds",
    "jsonb",
    "matchable_status",
]

CASE_ID_PATTERN: Final = r"^case_[0-9a-f]{24}$"
ARRAY_BIGINT = pg.ARRAY(sa.BigInteger)
ARRAY_TEXT = pg.ARRAY(sa.Text)
PSYCOPG_DIALECT: Final = sa.engine.make_url("postgresql+psycopg://").get_dialect()()


def jsonb(value: Any) -> Any:
    """Return a JSONB bind value; Python None becomes SQL NULL (not JSON ``null``)."""
    return sa.null() if value is None else value


def matchable_status(
    active_statuses: Sequence[str], reopenable_statuses: Sequence[str], reopen_since: datetime
) -> sa.ColumnElement[bool]:
    """Cases matching may consider: active, or reopenable and updated since ``reopen_since``."""
    c = t.cases
    return sa.or_(
        c.c.status == sa.any_(sa.bindparam("active", list(active_statuses), ARRAY_TEXT)),
        sa.and_(
            c.c.status
            == sa.any_(sa.bindparam("reopenable", list(reopenable_statuses), ARRAY_TEXT)),
            c.c.updated_at >= sa.bindparam("since", reopen_since, c.c.updated_at.type),
        ),
    )


def geometry_bounds(geometry: shapely.Geometry) -> tuple[float, float, float, float]:
    """Return ``(west, south, east, north)`` of a geometry as floats."""
    w, s, e, n = (float(v) for v in shapely.bounds(geometry))
    return w, s, e, n


def bounds_of(
    geometries: Iterable[shapely.Geometry | None],
) -> tuple[float, float, float, float] | None:
    """Union bounds of some geometries (None when there are none).

    Parameters
    ----------
    geometries : iterable of shapely.Geometry or None
        Geometries in EPSG:4326.

    Returns
    -------
    tuple of float or None
        ``(west, south, east, north)``.
    """
    present = [g for g in geometries if g is not None and not shapely.is_empty(g)]
    if not present:
        return None
    arr = np.array([geometry_bounds(g) for g in present], dtype=np.float64)
    return (
        float(arr[:, 0].min()),
        float(arr[:, 1].min()),
        float(arr[:, 2].max()),
        float(arr[:, 3].max()),
    )
