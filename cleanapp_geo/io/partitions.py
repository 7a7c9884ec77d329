"""Read the reports of a large scope from PostGIS as a Dask frame of spatial tiles.

:func:`read_reports_dask` splits the scope's bounding box (or the stored reports' extent)
into a grid of tiles; each partition is one :func:`~cleanapp_geo.io.read.read_reports` of
one tile, run by a Dask worker on its own connection. Tiles are half-open boxes on the
stored longitude and latitude, open at the grid's outer edges, so every report falls in
exactly one partition, and partitions are spatially compact, as
:func:`cleanapp_geo.distributed.analyze` wants them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa

from cleanapp_geo.io import tables as t
from cleanapp_geo.io.errors import InvalidQueryError
from cleanapp_geo.io.read import Tile, _report_frame, read_reports
from cleanapp_geo.scope import RadiusScope, as_scope

__all__ = ["read_reports_dask", "tile_grid"]


def tile_grid(bounds: tuple[float, float, float, float], columns: int, rows: int) -> list[Tile]:
    """Half-open tiles covering the plane, cut at a regular grid over ``bounds``.

    Parameters
    ----------
    bounds : tuple of float
        ``(west, south, east, north)`` of the reports.
    columns, rows : int
        Tiles along longitude and latitude.

    Returns
    -------
    list of tuple
        ``(west, south, east, north)`` per tile, row by row; the outer sides are ``None``
        (open), so no report is outside every tile.

    Examples
    --------
    >>> tile_grid((0.0, 0.0, 2.0, 1.0), 2, 1)
    [(None, None, 1.0, None), (1.0, None, None, None)]
    """
    if columns < 1 or rows < 1:
        raise InvalidQueryError(f"tiles must be at least 1 x 1, got {columns} x {rows}")
    west, south, east, north = bounds
    xs: list[float | None] = [None, *np.linspace(west, east, columns + 1)[1:-1].tolist(), None]
    ys: list[float | None] = [None, *np.linspace(south, north, rows + 1)[1:-1].tolist(), None]
    return [(xs[i], ys[j], xs[i + 1], ys[j + 1]) for j in range(rows) for i in range(columns)]


def _extent(url: str) -> tuple[float, float, float, float]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            r = t.reports.c
            row = conn.execute(
                sa.select(
                    sa.func.min(r.longitude),
                    sa.func.min(r.latitude),
                    sa.func.max(r.longitude),
                    sa.func.max(r.latitude),
                )
            ).one()
    finally:
        engine.dispose()
    if row[0] is None:
        return (-180.0, -90.0, 180.0, 90.0)
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def _read_tile(tile: Tile, *, url: str, **filters: Any) -> Any:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return read_reports(engine, tile=tile, **filters)
    finally:
        engine.dispose()


def read_reports_dask(
    url: str,
    *,
    scope: Any = None,
    classification: str | None = None,
    since: Any = None,
    until: Any = None,
    visible_only: bool = True,
    tiles: tuple[int, int] = (4, 4),
) -> Any:
    """Read the reports of a scope as a ``dask_geopandas.GeoDataFrame``, a partition per tile.

    Parameters
    ----------
    url : str
        SQLAlchemy URL of the store (each worker opens its own connection).
    scope, classification, since, until, visible_only
        As in :func:`~cleanapp_geo.io.read.read_reports`.
    tiles : tuple of int, default (4, 4)
        Columns and rows of the grid over the scope's bounding box (else over the stored
        reports' extent).

    Returns
    -------
    dask_geopandas.GeoDataFrame
        Lazy; each partition a report frame (the columns of ``read_reports``).

    Examples
    --------
    >>> import cleanapp_geo.distributed as cgd  # doctest: +SKIP
    >>> frame = read_reports_dask(url, scope=country, tiles=(8, 8))  # doctest: +SKIP
    >>> cgd.analyze(frame, scope=country, client=client)  # doctest: +SKIP
    """
    import dask.dataframe as dd
    import dask_geopandas  # noqa: F401  (registers the GeoDataFrame collection)

    if scope is not None:
        resolved = as_scope(scope)
        shape = resolved.to_polygon() if isinstance(resolved, RadiusScope) else resolved
        west, south, east, north = (float(v) for v in shape.bounds)
        bounds = (west, south, east, north)
    else:
        bounds = _extent(url)
    filters = {
        "scope": scope,
        "classification": classification,
        "since": since,
        "until": until,
        "visible_only": visible_only,
    }
    meta = _report_frame([])
    parts = tile_grid(bounds, *tiles)
    return dd.from_map(  # type: ignore[no-untyped-call]
        _read_tile, parts, url=url, meta=meta, enforce_metadata=False, **filters
    )
