"""Report and analysis frames as Arrow tables for ``COPY``: checked, defaulted, ordered.

:func:`report_table` and :func:`analysis_table` turn a report frame (and its analyses)
into the columns of the staging tables of :mod:`cleanapp_geo.io.write`, refusing values
the store's constraints would refuse with a message naming the offending ``seq`` values.
Rows are written in spatial order (:func:`spatial_order`) so that the GiST index and the
table pages follow each other.
"""

import base64
import os
from collections.abc import Sequence
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import shapely

from cleanapp_geo.errors import InvalidReportsError
from cleanapp_geo.io import tables as t
from cleanapp_geo.schema import (
    CLASSIFICATION,
    LANGUAGE,
    PUBLIC_ID,
    SEQ,
    SEVERITY_LEVEL,
    TS,
)

__all__ = [
    "MAX_LISTED",
    "analysis_order",
    "analysis_table",
    "csv_bytes",
    "listed",
    "raise_for_nul",
    "report_table",
    "seqs_of",
    "spatial_order",
]

_DEFAULT_LANGUAGE: Final = "en"
_DEFAULT_CLASSIFICATION: Final = "physical"
MAX_LISTED: Final = 5


def listed(values: Sequence[Any] | np.ndarray) -> str:
    """Return the first :data:`MAX_LISTED` values for a message, and how many more.

    Examples
    --------
    >>> listed([1, 2, 3, 4, 5, 6, 7])
    '[1, 2, 3, 4, 5 and 2 more]'
    """
    items = list(np.asarray(values).tolist())
    shown = ", ".join(repr(v) for v in items[:MAX_LISTED])
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return f"[{shown}{more}]"


def seqs_of(frame: pd.DataFrame, mask: np.ndarray) -> str:
    """Return ``seq [...]`` of the rows of ``frame`` selected by ``mask``, for a message."""
    return "seq " + listed(frame[SEQ].to_numpy()[mask])


def _strings(column: pd.Series) -> pa.Array | pa.ChunkedArray:
    """Convert a text column to Arrow strings (missing values become "")."""
    if column.isna().any():
        column = column.fillna("")
    if not isinstance(column.dtype, pd.StringDtype):
        column = column.astype(str)
    return pa.array(column, type=pa.string(), from_pandas=True)


def _enum(
    frame: pd.DataFrame, name: str, allowed: Sequence[str], default: str
) -> pa.Array | pa.ChunkedArray:
    raw = frame[name].fillna(default).astype(str)
    values = raw
    if not raw.isin(list(allowed)).all():  # slow path: normalise, then check
        values = raw.str.strip().str.lower().replace("", default)
        bad = ~values.isin(list(allowed)).to_numpy()
        if bad.any():
            raise InvalidReportsError(
                f"column {name!r} must be one of {list(allowed)}; got "
                f"{listed(raw[bad].unique())} for {seqs_of(frame, bad)}"
            )
    return _strings(values)


def _unit_interval(frame: pd.DataFrame, name: str, default: float) -> pa.Array:
    values = pd.to_numeric(frame[name], errors="coerce").fillna(default).to_numpy(dtype=float)
    bad = ~((values >= 0.0) & (values <= 1.0))
    if bad.any():
        raise InvalidReportsError(
            f"column {name!r} must lie in [0, 1]; not for {seqs_of(frame, bad)}"
        )
    return pa.array(values)


_BOOLEANS: Final[dict[object, bool]] = {
    True: True,
    False: False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "1.0": True,
    "0.0": False,
}


def _flag(frame: pd.DataFrame, name: str, default: bool) -> pa.Array:
    column = frame[name]
    if pd.api.types.is_bool_dtype(column.dtype):
        return pa.array(column.fillna(default).to_numpy(dtype=bool))
    missing = column.isna().to_numpy()
    keys = column.map(lambda v: v if isinstance(v, bool | np.bool_) else str(v).strip().lower())
    parsed = np.array(keys.map(lambda v: _BOOLEANS.get(v)).to_numpy(dtype=object), copy=True)
    bad = ~missing & pd.isna(parsed)
    if bad.any():
        raise InvalidReportsError(
            f"column {name!r} must hold booleans; not for {seqs_of(frame, bad)}"
        )
    parsed[missing] = default
    return pa.array(parsed.astype(bool))


def _random_public_ids(n: int) -> np.ndarray:
    """``n`` fresh public ids: ``rpt_`` + 22 base64url characters of random bytes."""
    if n == 0:
        return np.array([], dtype="<U26")
    encoded = base64.urlsafe_b64encode(os.urandom(18 * n))  # 18 bytes -> 24 characters
    chars = np.frombuffer(encoded, dtype=np.uint8).reshape(n, 24)[:, :22]
    out = np.empty((n, 26), dtype=np.uint8)
    out[:, :4] = np.frombuffer(b"rpt_", dtype=np.uint8)
    out[:, 4:] = chars
    return out.view("S26").ravel().astype("<U26")


_BASE64URL: Final = np.zeros(256, dtype=bool)
_BASE64URL[
    np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", np.uint8)
] = True


def _public_id_check(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Check public ids on their raw Arrow bytes (ten times faster than regex and hashing).

    Returns the masks of non-empty and of well-formed ids (``rpt_`` + 22 base64url
    characters) and whether two well-formed ids may be equal (False means they are all
    distinct: their 64-bit fingerprints are).
    """
    array = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    array = array.cast(pa.large_string())
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + n + 1]
    lengths = np.diff(offsets)
    given = lengths > 0
    well_formed = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(lengths == 26)
    if rows.size == 0:
        return given, well_formed, False
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    if rows.size == n:  # every id has 26 bytes: the buffer is an (n, 26) matrix
        chars = data[offsets[0] : offsets[-1]].reshape(n, 26)
    else:
        chars = data[offsets[rows][:, None] + np.arange(26)]
    prefix = (chars[:, :4] == np.frombuffer(b"rpt_", dtype=np.uint8)).all(axis=1)
    good = prefix & _BASE64URL[chars[:, 4:]].all(axis=1)
    well_formed[rows] = good
    body = np.zeros((int(good.sum()), 24), dtype=np.uint8)
    body[:, :22] = chars[good, 4:]
    words = body.view(np.uint64)  # three words per id
    mixed = words[:, 0] * np.uint64(0x9E3779B97F4A7C15)
    mixed ^= words[:, 1] * np.uint64(0xC2B2AE3D27D4EB4F)
    mixed ^= words[:, 2] * np.uint64(0x165667B19E3779F9)
    fingerprints = np.sort(mixed ^ (words[:, 1] >> np.uint64(17)))
    return given, well_formed, bool((fingerprints[1:] == fingerprints[:-1]).any())


def report_table(frame: gpd.GeoDataFrame) -> pa.Table:
    """Stage columns of ``reports`` for a validated frame (optional columns when present)."""
    n = len(frame)
    public_id = frame[PUBLIC_ID]
    ids = _strings(public_id)
    given, well_formed, maybe_repeated = _public_id_check(ids)
    if given.any():
        malformed = given & ~well_formed
        if malformed.any():
            raise InvalidReportsError(
                "column 'public_id' must be empty or 'rpt_' + 22 base64url characters; got "
                f"{listed(public_id[malformed].unique())} for {seqs_of(frame, malformed)}"
            )
        repeated = np.zeros(len(frame), dtype=bool)
        if maybe_repeated:  # exact check only when two fingerprints collide
            repeated = given & public_id.duplicated(keep=False).to_numpy()
        if repeated.any():
            raise InvalidReportsError(
                f"column 'public_id' must be unique; {listed(public_id[repeated].unique())} "
                f"repeat for {seqs_of(frame, repeated)}"
            )
    ts_ns = frame[TS].to_numpy(dtype="datetime64[ns]").view(np.int64)
    columns: dict[str, Any] = {
        "seq": pa.array(frame[SEQ].to_numpy(dtype=np.int64)),
        "public_id": ids,
        "ts_us": pa.array(np.floor_divide(ts_ns, 1000)),
        "latitude": pa.array(shapely.get_y(frame.geometry.array)),
        "longitude": pa.array(shapely.get_x(frame.geometry.array)),
    }
    if not given.all():
        fresh = np.full(n, "", dtype="<U26")
        fresh[~given] = _random_public_ids(int((~given).sum()))
        columns["new_public_id"] = pa.array(fresh)
    if "reporter_id" in frame.columns:
        columns["reporter_id"] = _strings(frame["reporter_id"])
    if "team" in frame.columns:
        team = pd.to_numeric(frame["team"], errors="coerce").fillna(0).to_numpy(dtype=float)
        bad = (np.mod(team, 1) != 0) | (np.abs(team) > 2**31 - 1)
        if bad.any():
            raise InvalidReportsError(
                f"column 'team' must hold 32-bit integers; not for {seqs_of(frame, bad)}"
            )
        columns["team"] = pa.array(team.astype(np.int32))
    if "report_description" in frame.columns:
        columns["description"] = _strings(frame["report_description"])
    if "status" in frame.columns:
        columns["status"] = _enum(frame, "status", t.REPORT_STATUSES, "active")
    if "visibility" in frame.columns:
        columns["visibility"] = _enum(frame, "visibility", t.REPORT_VISIBILITIES, "public")
    if "owner" in frame.columns:
        owner = frame["owner"].fillna("").astype(str).str.strip()
        columns["owner"] = pa.array(
            owner.where(owner != "", None), type=pa.string(), from_pandas=True
        )
    if "owner_is_public" in frame.columns:
        columns["owner_is_public"] = _flag(frame, "owner_is_public", False)
    return pa.table(columns)


def analysis_table(frame: pd.DataFrame, seqs: np.ndarray, *, one_per_report: bool) -> pa.Table:
    """Stage columns of ``report_analysis`` (one row per row of ``frame``).

    ``one_per_report``: the rows are the reports themselves (unique seqs), so the
    (seq, language) pairs need no uniqueness check.
    """
    if SEQ not in frame.columns:
        raise InvalidReportsError("analyses are missing the 'seq' column")
    seq = pd.to_numeric(frame[SEQ], errors="coerce")
    if seq.isna().any() or not np.all(np.mod(seq.to_numpy(dtype=float), 1) == 0):
        raise InvalidReportsError("analyses column 'seq' must hold integers")
    seq_values = seq.to_numpy(dtype=np.int64)
    unknown = ~np.isin(seq_values, seqs)
    if unknown.any():
        raise InvalidReportsError(
            "analyses refer to reports that are not in the frame: "
            f"seq {listed(seq_values[unknown])}"
        )
    frame = frame.assign(**{SEQ: seq_values})
    if LANGUAGE in frame.columns:
        language = frame[LANGUAGE].fillna("").astype(str)
        empty = (language == "").to_numpy()
        if empty.any():
            language = language.where(~empty, _DEFAULT_LANGUAGE)
    else:
        language = pd.Series(_DEFAULT_LANGUAGE, index=frame.index, dtype=str)
    too_long = (language.str.len() > 16).to_numpy()
    if too_long.any():
        raise InvalidReportsError(
            "column 'language' holds codes longer than 16 characters for "
            f"{seqs_of(frame, too_long)}"
        )
    pairs = pd.DataFrame({"seq": seq_values, "language": language.to_numpy()})
    repeated = np.zeros(len(frame), dtype=bool)
    if not one_per_report:
        repeated = pairs.duplicated(keep=False).to_numpy()
    if repeated.any():
        raise InvalidReportsError(
            "each report may have one analysis per language; repeated (seq, language) for seq "
            f"{listed(np.unique(seq_values[repeated]))}"
        )
    if SEVERITY_LEVEL not in frame.columns:
        raise InvalidReportsError("analyses are missing the 'severity_level' column")
    severity = pd.to_numeric(frame[SEVERITY_LEVEL], errors="coerce").to_numpy(dtype=float)
    bad = ~((severity >= 0.0) & (severity <= 1.0))
    if bad.any():
        raise InvalidReportsError(
            f"column 'severity_level' must lie in [0, 1]; not for {seqs_of(frame, bad)}"
        )
    if CLASSIFICATION in frame.columns:
        classification = _enum(
            frame.assign(**{CLASSIFICATION: frame[CLASSIFICATION].fillna("")}),
            CLASSIFICATION,
            t.CLASSIFICATIONS,
            _DEFAULT_CLASSIFICATION,
        )
    else:
        classification = pa.array(np.full(len(frame), _DEFAULT_CLASSIFICATION))
    columns: dict[str, Any] = {
        "seq": pa.array(seq_values),
        "language": _strings(language),
        "severity_level": pa.array(severity),
        "classification": classification,
    }
    for name in t.ANALYSIS_TEXT_COLUMNS:
        if name in frame.columns:
            columns[name] = _strings(frame[name])
    for name in t.PROBABILITY_COLUMNS:
        if name in frame.columns:
            columns[name] = _unit_interval(frame, name, 0.0)
    if "is_valid" in frame.columns:
        columns["is_valid"] = _flag(frame, "is_valid", True)
    return pa.table(columns)


def spatial_order(table: pa.Table) -> np.ndarray:
    """Row order along a Z-order (Morton) curve of the points (ties in row order).

    Writing in this order puts reports that are near each other on the same heap pages, so
    a spatial read touches few pages (measured about 1.5x faster for a 30k-report polygon
    of a million-report table than writing in seq order).
    """
    lon = table.column("longitude").to_numpy()
    lat = table.column("latitude").to_numpy()
    if len(lon) == 0:
        return np.zeros(0, dtype=np.intp)

    def cells(values: np.ndarray) -> np.ndarray:
        low, high = float(values.min()), float(values.max())
        scale = (2**21 - 1) / (high - low) if high > low else 0.0
        return ((values - low) * scale).astype(np.uint64)

    def spread(v: np.ndarray) -> np.ndarray:  # insert a zero bit between the 21 low bits
        v = v & np.uint64(0x1FFFFF)
        for shift, mask in (
            (32, 0x1F00000000FFFF),
            (16, 0x1F0000FF0000FF),
            (8, 0x100F00F00F00F00F),
            (4, 0x10C30C30C30C30C3),
            (2, 0x1249249249249249),
        ):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    key = spread(cells(lon)) | (spread(cells(lat)) << np.uint64(1))
    return np.argsort(key, kind="stable")


def analysis_order(analyses: pa.Table, reports: pa.Table, report_order: np.ndarray) -> np.ndarray:
    """Order analysis rows like their reports (seq order inside a report is kept)."""
    report_seq = reports.column("seq").to_numpy()
    rank = np.empty(len(report_seq), dtype=np.int64)
    rank[report_order] = np.arange(len(report_seq))
    by_seq = np.argsort(report_seq, kind="stable")
    analysis_seq = analyses.column("seq").to_numpy()
    position = by_seq[np.searchsorted(report_seq[by_seq], analysis_seq)]
    return np.argsort(rank[position], kind="stable")


def csv_bytes(table: pa.Table) -> bytes:
    """Encode ``table`` as headerless CSV for ``COPY ... (FORMAT csv)``."""
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    payload = sink.getvalue().to_pybytes()
    if b"\x00" in payload:
        raise_for_nul(table)
    return payload


def raise_for_nul(table: pa.Table) -> None:
    """Raise :class:`InvalidReportsError` naming the column and seqs holding a NUL character."""
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type):
            hit = pc.match_substring(column, "\x00").to_numpy(zero_copy_only=False)
            hit = np.asarray(hit, dtype=bool)
            if hit.any():
                seqs = table.column("seq").to_numpy()[hit]
                raise InvalidReportsError(
                    f"column {name!r} holds a NUL character (PostgreSQL text cannot) for "
                    f"seq {listed(seqs)}"
                )
    raise InvalidReportsError("a value holds a NUL character (PostgreSQL text cannot)")
