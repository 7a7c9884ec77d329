"""Hypotheses in columnar form: Arrow tables, GeoParquet files and streamed records.

:class:`~cleanapp_geo.hypotheses.HypothesisTable` keeps every hypothesis of an analysis
as arrays. This module writes them out without building a Python object per hypothesis:
ids are hashed by a compiled loop (:mod:`cleanapp_geo._hash_accel`), member seqs and
rationales become Arrow list columns over the table's arrays, and the representative's
location becomes a WKB point column, so the table is also GeoParquet.

The columns of :func:`hypotheses_arrow` are the wire fields of
:class:`~cleanapp_geo.hypotheses.IncidentHypothesis`, in order, plus ``geometry``:

============================== ================= =========================================
column                         Arrow type        meaning
============================== ================= =========================================
``hypothesis_id``              string            ``hyp_`` + 12 hex digits
``title``                      string            representative's title (or top tokens)
``classification``             string            the representative's classification
``representative_report_seq``  int64
``report_seqs``                list<int64>       members, in hypothesis order
``report_count``               int64
``confidence``                 float64
``severity_score``             float64           null when no member has a severity
``urgency_score``              float64
``rationale``                  list<string>      sorted rationale strings
``geometry``                   binary (WKB)      the representative's location, EPSG:4326
============================== ================= =========================================

pyarrow is imported on first use, so ``import cleanapp_geo`` stays light.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from cleanapp_geo.hypotheses import HypothesisTable, IncidentHypothesis, title_from_tokens
from cleanapp_geo.model import FEATURES, REASONS
from cleanapp_geo.schema import CRS, DESCRIPTION, SUMMARY, TITLE

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "GEOMETRY_COLUMN",
    "HYPOTHESIS_COLUMNS",
    "geoparquet_metadata",
    "hypotheses_arrow",
    "hypothesis_id_array",
    "iter_hypotheses",
    "select_hypotheses",
    "write_geoparquet",
]

#: Columns of :func:`hypotheses_arrow` before ``geometry``: the wire fields, in order.
HYPOTHESIS_COLUMNS: Final = (
    "hypothesis_id",
    "title",
    "classification",
    "representative_report_seq",
    "report_seqs",
    "report_count",
    "confidence",
    "severity_score",
    "urgency_score",
    "rationale",
)
#: The WKB point column of the representative's location.
GEOMETRY_COLUMN: Final = "geometry"
#: Hypotheses hashed on one thread; more are split over two (the loop releases the GIL).
_THREADED_MIN_HYPOTHESES: Final = 200_000
#: Hypotheses per batch of :func:`iter_hypotheses`.
_BATCH: Final = 10_000
_STRING_MAX_BYTES: Final = 2**31 - 1
_WKB_POINT: Final = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def select_hypotheses(
    table: HypothesisTable, *, limit: int | None = None, min_reports: int | None = None
) -> np.ndarray:
    """Positions of the hypotheses to export, in output order.

    Parameters
    ----------
    table : HypothesisTable
        The hypotheses.
    limit : int, optional
        At most this many (the first ones, after ``min_reports``).
    min_reports : int, optional
        Only hypotheses of at least this many reports.

    Returns
    -------
    numpy.ndarray
        int64 positions into ``table``, ascending.

    Raises
    ------
    ValueError
        When ``limit`` or ``min_reports`` is negative.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be None or >= 0, got {limit}")
    if min_reports is not None and min_reports < 0:
        raise ValueError(f"min_reports must be None or >= 0, got {min_reports}")
    if min_reports is None or min_reports <= 1:
        return np.arange(len(table) if limit is None else min(limit, len(table)), dtype=np.int64)
    positions = np.flatnonzero(table.report_count >= min_reports)
    return positions if limit is None else positions[:limit]


def _rows_of(positions: np.ndarray) -> slice | np.ndarray:
    """``positions`` as an index: a slice when they are ``0, 1, ..., n - 1``.

    Indexing the table's arrays with the slice gives views, which Arrow wraps without a
    copy; a whole table is exported that way (:func:`select_hypotheses` without
    ``min_reports``).
    """
    n = len(positions)
    if n and positions[0] == 0 and positions[-1] == n - 1 and (np.diff(positions) == 1).all():
        return slice(0, n)
    return positions


def _members(table: HypothesisTable, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and member seqs of the hypotheses at ``positions`` (vectorised gather)."""
    rows = _rows_of(positions)
    if isinstance(rows, slice):  # a prefix: plain slices
        offsets = table.offsets[: rows.stop + 1] - table.offsets[0]
        return offsets, table.member_seqs[table.offsets[0] : table.offsets[rows.stop]]
    starts = table.offsets[positions]
    sizes = table.offsets[positions + 1] - starts
    offsets = np.zeros(len(positions) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], sizes)
    return offsets, table.member_seqs[np.repeat(starts, sizes) + within]


def _string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int32 or int64, as stored) and UTF-8 bytes of a string Arrow array."""
    import pyarrow as pa

    _, offsets, data = values.buffers()
    n = len(values)
    start = values.offset
    dtype = np.int64 if pa.types.is_large_string(values.type) else np.int32
    width = np.dtype(dtype).itemsize
    offsets_np = np.frombuffer(offsets, dtype=dtype, count=n + 1, offset=width * start)
    data_np = np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else None
    return offsets_np, np.zeros(1, np.uint8) if data_np is None else data_np


def _blank(values: pa.Array) -> np.ndarray:
    """Which strings are empty or whitespace only (as ``str.strip() == ""``).

    Only strings that are empty or start with a space or a non-ASCII byte (possibly Unicode
    whitespace) can be blank, so Arrow's trim runs on those alone: most titles start with
    a letter, and trimming them all would write a second copy of every title.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    offsets, data = _string_buffers(values)
    starts, stops = offsets[:-1], offsets[1:]
    first = data[np.minimum(starts, len(data) - 1)]
    maybe = (stops == starts) | (first <= 0x20) | (first >= 0x80)
    blank = np.zeros(len(values), dtype=bool)
    todo = np.flatnonzero(maybe)
    if len(todo):
        trimmed = pc.utf8_trim_whitespace(values.take(pa.array(todo)))
        blank[todo] = np.asarray(pc.equal(trimmed, ""), dtype=bool)
    return blank


def hypothesis_id_array(
    titles: pa.Array, offsets: np.ndarray, member_seqs: np.ndarray, *, threads: int = 2
) -> pa.Array:
    """Hypothesis ids of many groups at once (compiled SHA-1, OpenSSL's where it loads).

    Parameters
    ----------
    titles : pyarrow.Array
        ``string`` or ``large_string`` titles, one per hypothesis.
    offsets, member_seqs : numpy.ndarray
        Hypothesis ``h`` has the seqs ``member_seqs[offsets[h]:offsets[h + 1]]``.
    threads : int, default 2
        1 or 2: with 2, from 200,000 hypotheses on, the ids are hashed on two threads.

    Returns
    -------
    pyarrow.Array
        The ids, a ``string`` array equal to
        ``[hypothesis_id(t, seqs) for t, seqs in ...]``.
    """
    import pyarrow as pa

    from cleanapp_geo import _hash_accel

    n = len(titles)
    title_offsets, title_data = _string_buffers(titles)
    out = np.empty((n, _hash_accel.ID_BYTES), dtype=np.uint8)
    seqs = np.ascontiguousarray(member_seqs, dtype=np.int64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)

    openssl = _hash_accel.openssl_sha1()

    def run(start: int, stop: int) -> None:
        if openssl is None:
            _hash_accel.hypothesis_ids(title_data, title_offsets, seqs, offsets, start, stop, out)
        else:
            _hash_accel.hypothesis_ids_openssl(
                title_data, title_offsets, seqs, offsets, start, stop, out, *openssl
            )

    if n < _THREADED_MIN_HYPOTHESES or threads < 2:
        run(0, n)
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(run, (0, n // 2), (n // 2, n)))
    id_offsets = np.arange(0, (n + 1) * _hash_accel.ID_BYTES, _hash_accel.ID_BYTES, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(id_offsets), pa.py_buffer(out))


def _rationale_array(bits: np.ndarray) -> pa.Array:
    """``list<string>`` of the sorted rationale strings of each reason bit mask."""
    import pyarrow as pa

    bits = np.asarray(bits, dtype=np.int64)
    n_patterns = 1 << len(FEATURES)
    strings: list[str] = []
    starts = np.zeros(n_patterns, dtype=np.int64)
    lengths = np.zeros(n_patterns, dtype=np.int64)
    for pattern in np.flatnonzero(np.bincount(bits, minlength=n_patterns)).tolist():
        reasons = sorted(REASONS[f] for bit, f in enumerate(FEATURES) if pattern >> bit & 1)
        starts[pattern], lengths[pattern] = len(strings), len(reasons)
        strings.extend(reasons)
    start, length = starts[bits], lengths[bits]
    offsets = np.zeros(len(bits) + 1, dtype=np.int32)
    np.cumsum(length, out=offsets[1:])
    within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], length)
    values = pa.array(strings, pa.string()).take(pa.array(np.repeat(start, length) + within))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _arrow_column(frame: pd.DataFrame, name: str) -> pa.ChunkedArray | None:
    """Return the Arrow strings behind a pandas column (None when not Arrow-backed)."""
    import pyarrow as pa

    values = frame[name].array
    if not isinstance(values, pd.arrays.ArrowStringArray):
        return None
    arrow = pa.array(values)
    arrow = arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])
    # A random take from ``large_string`` is ten times slower than from ``string`` (Arrow
    # 26): take from 32-bit offsets whenever the bytes fit them.
    return arrow.cast(pa.string()) if arrow.nbytes < _STRING_MAX_BYTES else arrow


def titles_arrow(table: HypothesisTable, positions: np.ndarray) -> pa.Array:
    """Titles of the hypotheses at ``positions`` as Arrow strings (as ``titles_at``).

    The representative's first non-blank of title, summary and description is taken
    column by column in Arrow (pandas' ``str.strip`` of Arrow strings is the same
    ``utf8_trim_whitespace`` kernel), so no Python string is made; only hypotheses
    without any text are titled from their tokens in Python. The type is ``string``
    when the reports' texts are (pandas' Arrow strings), else ``large_string``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = table.arrays
    columns = [_arrow_column(arrays.titles, name) for name in (TITLE, SUMMARY, DESCRIPTION)]
    if any(column is None for column in columns) or table.has_titles(positions):
        return pa.array(table.titles_at(positions), pa.large_string())
    rows = arrays.frame_position[table.representative_positions[positions]]
    out = columns[0].take(pa.array(rows)).combine_chunks()  # type: ignore[union-attr]
    blank = _blank(out)
    for column in columns[1:]:
        todo = np.flatnonzero(blank)
        if not len(todo):
            break
        candidates = column.take(pa.array(rows[todo])).combine_chunks()  # type: ignore[union-attr]
        found = ~_blank(candidates)
        mask = np.zeros(len(out), dtype=bool)
        mask[todo[found]] = True
        replacement = candidates.filter(pa.array(found)).cast(out.type)
        out = pc.replace_with_mask(out, pa.array(mask), replacement)
        blank[todo[found]] = False
    todo = np.flatnonzero(blank)
    if len(todo):
        fallback = []
        for h in positions[todo].tolist():
            members = table.member_positions[table.offsets[h] : table.offsets[h + 1]]
            fallback.append(title_from_tokens(arrays, members))
        out = pc.replace_with_mask(out, pa.array(blank), pa.array(fallback, out.type))
    return out


def wkb_points(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """Little-endian WKB points, written straight into one buffer (21 bytes each).

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Degrees.

    Returns
    -------
    pyarrow.Array
        ``binary`` WKB, as :func:`shapely.to_wkb` writes 2-D points.
    """
    import pyarrow as pa

    records = np.empty(len(lon), dtype=_WKB_POINT)
    records["order"], records["type"], records["x"], records["y"] = 1, 1, lon, lat
    offsets = np.arange(len(lon) + 1, dtype=np.int32) * np.int32(_WKB_POINT.itemsize)
    return pa.BinaryArray.from_buffers(
        pa.binary(), len(lon), [None, pa.py_buffer(offsets), pa.py_buffer(records.view(np.uint8))]
    )


def geoparquet_metadata() -> dict[bytes, bytes]:
    """Return the schema metadata that makes a WKB ``geometry`` column GeoParquet 1.0."""
    import pyproj

    geo = {
        "version": "1.0.0",
        "primary_column": GEOMETRY_COLUMN,
        "columns": {
            GEOMETRY_COLUMN: {
                "encoding": "WKB",
                "geometry_types": ["Point"],
                "crs": pyproj.CRS.from_user_input(CRS).to_json_dict(),
            }
        },
    }
    return {b"geo": json.dumps(geo).encode()}


def hypotheses_arrow(
    table: HypothesisTable,
    positions: np.ndarray | None = None,
    *,
    geometry: bool = True,
) -> pa.Table:
    """Arrow table of hypotheses (see the module docstring for the columns).

    Parameters
    ----------
    table : HypothesisTable
        The hypotheses.
    positions : numpy.ndarray, optional
        Which hypotheses, in output order (from :func:`select_hypotheses`); all by default.
    geometry : bool, default True
        Add the ``geometry`` column and the GeoParquet ``geo`` schema metadata.

    Returns
    -------
    pyarrow.Table
    """
    import pyarrow as pa

    if positions is None:
        positions = np.arange(len(table), dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    offsets, member_seqs = _members(table, positions)
    if len(positions) < _THREADED_MIN_HYPOTHESES:
        titles, ids = _titles_and_ids(table, positions, offsets, member_seqs)
        rest = _other_columns(table, positions, offsets, member_seqs, geometry=geometry)
    else:
        # Titles (Arrow takes) and ids (compiled), both releasing the GIL, for each half of
        # the hypotheses on a thread of its own while this one builds the other columns;
        # the two halves are the two chunks of the text columns.
        half = len(positions) // 2
        halves = [(0, half), (half, len(positions))]
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cleanapp-export") as pool:
            texts = [
                pool.submit(
                    _titles_and_ids,
                    table,
                    positions[start:stop],
                    offsets[start : stop + 1] - offsets[start],
                    member_seqs[offsets[start] : offsets[stop]],
                    threads=1,
                )
                for start, stop in halves
            ]
            rest = _other_columns(table, positions, offsets, member_seqs, geometry=geometry)
            parts = [text.result() for text in texts]
        titles = pa.chunked_array([p[0].cast(pa.string()) for p in parts], pa.string())
        ids = pa.chunked_array([p[1] for p in parts], pa.string())
    columns = {"hypothesis_id": ids, "title": titles.cast(pa.string()), **rest}
    if not geometry:
        return pa.table(columns)
    return pa.table(columns).replace_schema_metadata(geoparquet_metadata())


def _titles_and_ids(
    table: HypothesisTable,
    positions: np.ndarray,
    offsets: np.ndarray,
    member_seqs: np.ndarray,
    *,
    threads: int = 2,
) -> tuple[pa.Array, pa.Array]:
    """Build the ``title`` and ``hypothesis_id`` columns (the ids hash the titles)."""
    titles = titles_arrow(table, positions)
    return titles, hypothesis_id_array(titles, offsets, member_seqs, threads=threads)


def _other_columns(
    table: HypothesisTable,
    positions: np.ndarray,
    offsets: np.ndarray,
    member_seqs: np.ndarray,
    *,
    geometry: bool,
) -> dict[str, pa.Array]:
    """Build the columns after ``title``, in order (``geometry`` last when asked for)."""
    import pyarrow as pa

    rows = _rows_of(positions)
    representative = table.representative_positions[rows]
    classification = pa.DictionaryArray.from_arrays(
        pa.array(table.arrays.classification[representative]),
        pa.array(table.arrays.classification_labels.astype(str).tolist(), pa.string()),
    ).cast(pa.string())
    columns: dict[str, pa.Array] = {
        "classification": classification,
        "representative_report_seq": pa.array(table.representative_report_seq[rows]),
        "report_seqs": pa.ListArray.from_arrays(
            pa.array(offsets.astype(np.int32)), pa.array(member_seqs, pa.int64())
        ),
        "report_count": pa.array(np.asarray(table.report_count[rows], dtype=np.int64)),
        "confidence": pa.array(table.confidence[rows], pa.float64()),
        "severity_score": pa.array(table.severity_score[rows], pa.float64(), from_pandas=True),
        "urgency_score": pa.array(table.urgency_score[rows], pa.float64()),
        "rationale": _rationale_array(table.reason_bits[rows]),
    }
    if geometry:
        columns[GEOMETRY_COLUMN] = wkb_points(
            table.arrays.lon[representative], table.arrays.lat[representative]
        )
    return columns


def write_geoparquet(data: pa.Table, path: str | Path, *, row_group_size: int = 250_000) -> Path:
    """Write an Arrow table of hypotheses to one (Geo)Parquet file.

    Parameters
    ----------
    data : pyarrow.Table
        From :func:`hypotheses_arrow` (with ``geometry``, the file is GeoParquet 1.0).
    path : str or pathlib.Path
        The file to write (parent directories are created).
    row_group_size : int, default 250_000
        Rows per Parquet row group.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import pyarrow.parquet as pq

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # No dictionary pages: ids, titles, seqs and points are nearly all distinct, and
    # trying a dictionary for each column doubled the write time (a 300k-hypothesis test).
    pq.write_table(
        data,
        target,
        row_group_size=row_group_size,
        compression="snappy",
        use_dictionary=False,
    )
    return target


def iter_hypotheses(
    table: HypothesisTable, positions: np.ndarray | None = None
) -> Iterator[IncidentHypothesis]:
    """Yield the hypotheses one by one, materialising them a batch at a time.

    Parameters
    ----------
    table : HypothesisTable
        The hypotheses.
    positions : numpy.ndarray, optional
        Which hypotheses, in output order; all by default.

    Yields
    ------
    IncidentHypothesis
    """
    if positions is None:
        positions = np.arange(len(table), dtype=np.int64)
    for start in range(0, len(positions), _BATCH):
        yield from table.to_hypotheses(positions=positions[start : start + _BATCH])
