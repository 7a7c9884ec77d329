"""Report frames whose points are two float columns: no shapely object per report.

Between the tasks of a distributed analysis a partition's reports travel as a plain
:class:`pandas.DataFrame`: the report columns with ``geometry`` replaced by the
coordinates :data:`LON` and :data:`LAT` (degrees, validated). Building a shapely point
per report costs about a second of one core per million reports (more than reading the
file), and the kernels only ever read the coordinates
(:func:`~cleanapp_geo.arrays.prepare_reports` takes them as ``lon_lat``); a frame of
floats also slices, concatenates and pickles faster than one of shapely objects.
"""

from __future__ import annotations

from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cleanapp_geo.schema import GEOMETRY

__all__ = ["LAT", "LON", "coordinates", "point_coordinates", "with_coordinates"]

#: Column of the longitudes (degrees) of a coordinate frame.
LON: Final = "_cleanapp_lon"
#: Column of the latitudes (degrees) of a coordinate frame.
LAT: Final = "_cleanapp_lat"


def with_coordinates(frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Return ``frame`` without its geometry, with the coordinates as :data:`LON`, :data:`LAT`.

    Parameters
    ----------
    frame : pandas.DataFrame
        Report columns (a ``geometry`` column, if any, is dropped).
    lon, lat : numpy.ndarray
        Degrees, one per row.

    Returns
    -------
    pandas.DataFrame
        A plain frame (never a GeoDataFrame), ``frame``'s index kept.
    """
    columns = [c for c in frame.columns if c not in (GEOMETRY, LON, LAT)]
    out = pd.DataFrame(frame[columns], copy=False)
    out[LON] = np.asarray(lon, dtype=np.float64)
    out[LAT] = np.asarray(lat, dtype=np.float64)
    return out


def coordinates(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return the longitudes and latitudes (float64 degrees) of a coordinate frame."""
    return (
        frame[LON].to_numpy(dtype=np.float64),
        frame[LAT].to_numpy(dtype=np.float64),
    )


def point_coordinates(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of a GeoDataFrame's points; NaN where a row holds no point."""
    geoms = np.asarray(frame.geometry.array)
    points = shapely.get_type_id(geoms) == shapely.GeometryType.POINT
    lon = np.where(points, shapely.get_x(geoms), np.nan)
    lat = np.where(points, shapely.get_y(geoms), np.nan)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
