"""GeoParquet files as partitions, read by the task that needs them (no shared frames).

A partition of a GeoParquet source is one file. The tasks of an analysis read it
themselves: the survey only its ``seq``, ``classification`` and point coordinates, a halo
task the rows next to its neighbours, the partition's own task all of it. So no frame is
kept alive between tasks (a Dask collection's partition would be, for every task that
depends on it), and a worker holds one partition at a time. Point coordinates are read
straight from the WKB bytes (21 bytes per 2-D point): no shapely object is built (see
:mod:`~cleanapp_geo.distributed.points`). A file is read on the task's own thread (a
worker runs one task per core; Arrow's thread pool would only compete with the others).
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cleanapp_geo.errors import InvalidReportsError
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    CATEGORY,
    CLASSIFICATION,
    DESCRIPTION,
    GEOMETRY,
    REPORT_COLUMNS,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TITLE,
    TS,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ParquetPart", "parquet_parts"]

_POINT_WKB_BYTES: Final = 21
#: The columns an analysis reads (the other report columns are only carried along).
ANALYSED_COLUMNS: Final = (
    SEQ,
    TS,
    CLASSIFICATION,
    SEVERITY_LEVEL,
    TITLE,
    SUMMARY,
    DESCRIPTION,
    BRAND_DISPLAY_NAME,
    CATEGORY,
    GEOMETRY,
)


def parquet_parts(source: str | Path) -> list[ParquetPart]:
    """List the files of a GeoParquet file, directory or glob, one partition each.

    Raises
    ------
    InvalidReportsError
        When nothing is found there.
    """
    text = str(source)
    if glob.has_magic(text):
        paths = sorted(glob.glob(text))
    elif os.path.isdir(text):
        paths = sorted(str(p) for p in Path(text).rglob("*.parquet"))
    elif os.path.exists(text):
        paths = [text]
    else:
        paths = []
    if not paths:
        raise InvalidReportsError(f"no GeoParquet file or directory at {text!r}")
    return [ParquetPart(p) for p in paths]


def _geometry_crs(table: pa.Table) -> tuple[str, Any]:
    """Read the geometry encoding and CRS from the GeoParquet ``geo`` metadata."""
    metadata = table.schema.metadata or {}
    geo = json.loads(metadata.get(b"geo", b"{}"))
    column = geo.get("columns", {}).get(GEOMETRY, {})
    crs = column.get("crs", "OGC:CRS84")  # GeoParquet: a missing crs is OGC:CRS84
    if isinstance(crs, dict):
        import pyproj

        crs = pyproj.CRS.from_json_dict(crs)
    return str(column.get("encoding", "")), crs


def lon_lat(wkb: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of WKB points, decoded in numpy when they are plain 2-D points.

    Anything else (big-endian, 3-D, empty or other geometries) goes through shapely, which
    gives NaN for what is not a point; validation reports those rows.
    """
    import pyarrow as pa

    array = wkb.combine_chunks() if isinstance(wkb, pa.ChunkedArray) else wkb
    array = array.cast(pa.binary()) if array.type != pa.binary() else array
    n = len(array)
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=n + 1, offset=4 * array.offset)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else None
    plain = (
        data is not None
        and array.null_count == 0
        and bool(np.all(np.diff(offsets) == _POINT_WKB_BYTES))
    )
    if plain and data is not None:
        rows = data[offsets[0] : offsets[-1]].reshape(n, _POINT_WKB_BYTES)
        kind = rows[:, 1:5].copy().view("<u4").ravel()
        if bool(np.all(rows[:, 0] == 1)) and bool(np.all(kind == 1)):
            xy = rows[:, 5:].copy().view("<f8")
            return xy[:, 0].copy(), xy[:, 1].copy()
    geoms = shapely.from_wkb(array.to_numpy(zero_copy_only=False), on_invalid="ignore")
    points = shapely.get_type_id(geoms) == shapely.GeometryType.POINT
    lon = np.where(points, shapely.get_x(geoms), np.nan)
    lat = np.where(points, shapely.get_y(geoms), np.nan)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class ParquetPart:
    """One GeoParquet file of reports (a partition)."""

    path: str

    def table(self, columns: list[str] | None = None) -> pa.Table:
        """Read the file as an Arrow table (only ``columns`` when given)."""
        import pyarrow.parquet as pq

        return pq.read_table(self.path, columns=columns, use_threads=False)

    def columns(self) -> list[str]:
        """Return the file's column names (from its footer)."""
        import pyarrow.parquet as pq

        return list(pq.read_schema(self.path).names)

    def light(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Read ``seq``, ``classification`` and the points' coordinates of every row.

        Raises
        ------
        InvalidReportsError
            When a required report column is missing (as validation would).
        """
        present = self.columns()
        missing = [c for c in REPORT_COLUMNS if c not in present]
        if missing:
            raise InvalidReportsError(
                f"reports frame is missing required columns {missing} ({self.path})"
            )
        table = self.table([SEQ, CLASSIFICATION, GEOMETRY])
        lon, lat = lon_lat(table.column(GEOMETRY))
        return table.select([SEQ, CLASSIFICATION]).to_pandas(), lon, lat

    def analysed_table(self) -> pa.Table:
        """Read only the columns an analysis uses (see :meth:`frame`)."""
        present = set(self.columns())
        return self.table([c for c in ANALYSED_COLUMNS if c in present])

    def row_groups(self) -> np.ndarray:
        """Return the first row of each row group, then the number of rows (int64)."""
        import pyarrow.parquet as pq

        metadata = pq.read_metadata(self.path)
        sizes = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
        return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)

    def analysed_rows(self, rows: np.ndarray) -> pa.Table:
        """Read the analysed columns of the rows at positions ``rows``, in that order.

        Only the row groups that hold one of them are read: a file written in several row
        groups in some spatial order gives its halo without decoding the text of the rest.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = np.asarray(rows, dtype=np.int64)
        starts = self.row_groups()
        group = np.searchsorted(starts, rows, side="right") - 1
        wanted = np.unique(group) if len(rows) else np.zeros(1, dtype=np.int64)
        present = set(self.columns())
        columns: list[str] = [c for c in ANALYSED_COLUMNS if c in present]
        if len(wanted) == len(starts) - 1:
            table = self.table(columns)
            local = rows
        else:
            table = pq.ParquetFile(self.path).read_row_groups(
                wanted.tolist(), columns=columns, use_threads=False
            )
            sizes = np.diff(starts)[wanted]
            first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
            local = rows - starts[group] + first[np.searchsorted(wanted, group)]
        return table.take(pa.array(local))

    def reports(
        self, rows: np.ndarray | None = None, table: pa.Table | None = None
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, Any]:
        """Read the reports without building points (only the row positions ``rows``).

        With ``table`` (e.g. :meth:`analysed_table`), the reports are taken from it;
        report columns the table lacks are filled with "" (an analysis never reads them).

        Returns
        -------
        frame : pandas.DataFrame
            The columns except ``geometry``.
        lon, lat : numpy.ndarray
            Each row's point (degrees); NaN where a row holds no point.
        crs : object
            The CRS of the geometry column.
        """
        import pyarrow as pa

        table = self.table() if table is None else table
        if rows is not None:
            table = table.take(pa.array(np.asarray(rows, dtype=np.int64)))
        encoding, crs = _geometry_crs(table)
        if encoding.upper() != "WKB":
            from cleanapp_geo.distributed.points import point_coordinates

            frame = gpd.read_parquet(self.path)
            if rows is not None:
                frame = frame.iloc[np.asarray(rows, dtype=np.int64)]
            lon, lat = point_coordinates(frame)
            return pd.DataFrame(frame.drop(columns=GEOMETRY)), lon, lat, frame.crs
        lon, lat = lon_lat(table.column(GEOMETRY))
        plain = table.drop_columns([GEOMETRY]).to_pandas()
        for name in REPORT_COLUMNS:  # carried-along columns that were not read
            if name not in plain.columns and name != GEOMETRY:
                plain[name] = ""
        return plain, lon, lat, crs

    def frame(
        self, rows: np.ndarray | None = None, table: pa.Table | None = None
    ) -> gpd.GeoDataFrame:
        """Read the reports as a GeoDataFrame (only the row positions ``rows`` when set).

        With ``table``, the frame is built from it (see :meth:`reports`, which reads the
        same without building a shapely point per row).
        """
        frame, lon, lat, crs = self.reports(rows, table)
        points = np.asarray(shapely.points(lon, lat), dtype=object)
        points[~(np.isfinite(lon) & np.isfinite(lat))] = None  # validation names these rows
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, index=frame.index, crs=crs))
