"""The report-frame contract: column names, dtypes and validation.

A *report frame* is a :class:`geopandas.GeoDataFrame` with one row per report, CRS
EPSG:4326, point geometry (longitude, latitude) and the columns below, named as the
CleanApp wire names them. Each row carries the report's *preferred analysis*
(see :func:`cleanapp_geo.reports.select_preferred_analysis`).

=========================== ============================ =====================================
column                      dtype                        meaning
=========================== ============================ =====================================
``seq``                     int64, unique                report sequence number (primary key)
``public_id``               str                          ``rpt_`` + 22 base64url characters
``ts``                      datetime64[ns, UTC]          when the report was made
``classification``          str                          ``physical`` / ``digital`` ("" = unknown)
``severity_level``          float64 in [0, 1] or NaN     analysed severity (NaN = unknown)
``title``                   str                          analysis title
``summary``                 str                          analysis summary
``description``             str                          analysis description
``brand_name``              str                          normalised brand key
``brand_display_name``      str                          brand as displayed ("" = none)
``inferred_contact_emails`` str                          free text, comma/semicolon separated
``language``                str                          language code of the analysis
``geometry``                Point                        report location, EPSG:4326
=========================== ============================ =====================================

One optional column: ``category`` (str, "" = unknown), a fine-grained incident type such
as a city's 311 request type ("Pothole in Street"). CleanApp analyses do not have one yet:
a frame without the column has every category unknown. Unlike
``classification`` (physical or digital, and the analysis scope), it is only a
similarity feature.

Other columns are kept untouched (for example ``incident_id`` from
:mod:`cleanapp_geo.synthetic`).
"""

from __future__ import annotations

import functools
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely

from cleanapp_geo.errors import InvalidReportsError

__all__ = [
    "BRAND_DISPLAY_NAME",
    "BRAND_NAME",
    "CATEGORY",
    "CLASSIFICATION",
    "CRS",
    "DESCRIPTION",
    "GEOMETRY",
    "INFERRED_CONTACT_EMAILS",
    "LANGUAGE",
    "PUBLIC_ID",
    "REPORT_COLUMNS",
    "SEQ",
    "SEVERITY_LEVEL",
    "SUMMARY",
    "TEXT_COLUMNS",
    "TITLE",
    "TS",
    "validate_reports",
    "validate_reports_xy",
]

SEQ: Final = "seq"
PUBLIC_ID: Final = "public_id"
TS: Final = "ts"
CLASSIFICATION: Final = "classification"
SEVERITY_LEVEL: Final = "severity_level"
TITLE: Final = "title"
SUMMARY: Final = "summary"
DESCRIPTION: Final = "description"
BRAND_NAME: Final = "brand_name"
BRAND_DISPLAY_NAME: Final = "brand_display_name"
INFERRED_CONTACT_EMAILS: Final = "inferred_contact_emails"
LANGUAGE: Final = "language"
GEOMETRY: Final = "geometry"
CATEGORY: Final = "category"

#: Coordinate reference system of every report frame.
CRS: Final = "EPSG:4326"

#: Free-text columns; missing values are normalised to "".
TEXT_COLUMNS: Final = (
    PUBLIC_ID,
    CLASSIFICATION,
    TITLE,
    SUMMARY,
    DESCRIPTION,
    BRAND_NAME,
    BRAND_DISPLAY_NAME,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
)

#: Every column a report frame must have, in wire order.
REPORT_COLUMNS: Final = (
    SEQ,
    PUBLIC_ID,
    TS,
    CLASSIFICATION,
    SEVERITY_LEVEL,
    TITLE,
    SUMMARY,
    DESCRIPTION,
    BRAND_NAME,
    BRAND_DISPLAY_NAME,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
    GEOMETRY,
)

_MAX_LISTED = 5
#: The normalised dtypes of ``ts`` and of the text columns (what validation converts to).
_TS_DTYPE: Final = pd.DatetimeTZDtype("ns", "UTC")
_TEXT_DTYPE: Final = pd.StringDtype("pyarrow", na_value=np.nan)


@functools.cache
def _crs() -> pyproj.CRS:
    """:data:`CRS` as a pyproj CRS, parsed once (``CRS.equals`` of a string parses it)."""
    return pyproj.CRS.from_user_input(CRS)


def _listed(values: object) -> str:
    items = list(np.asarray(values).tolist())
    shown = ", ".join(repr(v) for v in items[:_MAX_LISTED])
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def _bad_seqs(frame: pd.DataFrame, mask: np.ndarray) -> str:
    if SEQ in frame.columns:
        return "seq " + _listed(frame[SEQ].to_numpy()[mask])
    return "rows " + _listed(np.flatnonzero(mask))


def validate_reports(reports: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Check a report frame against the contract and return a normalised copy.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        One row per report with the columns listed in :mod:`cleanapp_geo.schema`.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``seq`` as int64, ``ts`` as UTC datetimes, ``severity_level`` as
        float64 and missing text (and ``category``, when present) normalised to "". The
        index is kept.

    Raises
    ------
    InvalidReportsError
        When a column is missing, the CRS is not EPSG:4326, a geometry is missing, empty
        or not a point, a coordinate is out of range, a severity is outside [0, 1] (a
        missing severity is kept as NaN: unknown), a ``seq`` is missing or repeated, or a
        timestamp is naive or missing.
        The message names the offending column and up to five offending seqs.

    Examples
    --------
    >>> import cleanapp_geo as cg
    >>> frame = cg.reports_from_records(
    ...     [{"seq": 1, "ts": "2026-03-10T10:00:00Z", "latitude": 47.37, "longitude": 8.54,
    ...       "severity_level": 0.5, "title": "Overflowing bin"}]
    ... )
    >>> cg.validate_reports(frame)[["seq", "severity_level"]].to_dict("records")
    [{'seq': 1, 'severity_level': 0.5}]
    """
    if not isinstance(reports, gpd.GeoDataFrame):
        raise InvalidReportsError(
            f"reports must be a geopandas.GeoDataFrame, got {type(reports).__name__}; "
            "build one with cleanapp_geo.reports_from_records"
        )
    missing = [c for c in REPORT_COLUMNS if c not in reports.columns]
    if missing:
        raise InvalidReportsError(f"reports frame is missing required columns {missing}")
    # The active geometry column is looked up once (each ``.geometry`` or ``.crs`` access
    # is a column lookup, tens of microseconds); the copy below shares its array.
    geometry = reports.geometry
    if geometry.name != GEOMETRY:
        raise InvalidReportsError(
            f"the active geometry column must be {GEOMETRY!r}, got {geometry.name!r}"
        )
    geoms = geometry.array
    crs = geoms.crs
    if crs is None or not crs.equals(_crs()):
        raise InvalidReportsError(f"reports must have CRS {CRS}, got {crs}")

    out = reports.copy(deep=False)  # copy-on-write: new columns never touch the input
    _validate_seq(out)
    missing_geom = np.asarray(shapely.is_missing(geoms))
    if missing_geom.any():
        raise InvalidReportsError(f"geometry is missing for {_bad_seqs(out, missing_geom)}")
    type_ids = np.asarray(shapely.get_type_id(geoms))
    not_point = type_ids != shapely.GeometryType.POINT
    if not_point.any():
        raise InvalidReportsError(
            f"geometry must be a Point, got other types for {_bad_seqs(out, not_point)}"
        )
    empty = np.asarray(shapely.is_empty(geoms))
    if empty.any():
        raise InvalidReportsError(f"geometry is an empty Point for {_bad_seqs(out, empty)}")
    lon = np.asarray(shapely.get_x(geoms), dtype=float)
    lat = np.asarray(shapely.get_y(geoms), dtype=float)
    _validate_values(out, lon, lat)
    return out


def validate_reports_xy(
    reports: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, *, crs: object
) -> pd.DataFrame:
    """:func:`validate_reports` of reports whose points are given as coordinates.

    For readers that decode point locations straight from storage (e.g. the WKB of a
    GeoParquet file) and never build shapely points: the same checks and the same
    normalised copy, with the locations kept apart.

    Parameters
    ----------
    reports : pandas.DataFrame
        The report columns except ``geometry`` (a ``geometry`` column, if any, is not read).
    lon, lat : numpy.ndarray
        Each report's point, degrees; NaN where the row has no point (a missing, empty or
        other geometry).
    crs : object
        The coordinates' CRS, anything :class:`pyproj.CRS` accepts.

    Returns
    -------
    pandas.DataFrame
        A copy normalised as :func:`validate_reports` normalises its frame.

    Raises
    ------
    InvalidReportsError
        As :func:`validate_reports`; a row without finite coordinates is reported as a
        missing geometry.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> frame = pd.DataFrame({c: [""] for c in REPORT_COLUMNS if c != GEOMETRY})
    >>> frame[SEQ], frame[TS], frame[SEVERITY_LEVEL] = [7], ["2026-03-10T10:00:00Z"], [0.5]
    >>> out = validate_reports_xy(frame, np.array([8.54]), np.array([47.37]), crs="EPSG:4326")
    >>> out[[SEQ, SEVERITY_LEVEL]].to_dict("records")
    [{'seq': 7, 'severity_level': 0.5}]
    """
    import pyproj

    if not isinstance(reports, pd.DataFrame):
        raise InvalidReportsError(
            f"reports must be a pandas.DataFrame, got {type(reports).__name__}"
        )
    missing = [c for c in REPORT_COLUMNS if c not in reports.columns and c != GEOMETRY]
    if missing:
        raise InvalidReportsError(f"reports frame is missing required columns {missing}")
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if len(lon) != len(reports) or len(lat) != len(reports):
        raise InvalidReportsError(
            f"lon and lat must have one value per report ({len(reports)}), "
            f"got {len(lon)} and {len(lat)}"
        )
    if crs is None or not pyproj.CRS.from_user_input(crs).equals(CRS):
        raise InvalidReportsError(f"reports must have CRS {CRS}, got {crs}")
    out = reports.copy(deep=False)
    _validate_seq(out)
    no_point = ~(np.isfinite(lon) & np.isfinite(lat))
    if no_point.any():
        raise InvalidReportsError(f"geometry is missing for {_bad_seqs(out, no_point)}")
    _validate_values(out, lon, lat)
    return out


def _validate_seq(out: pd.DataFrame) -> None:
    """Check ``seq`` (present, integral, unique) and store it as int64 in ``out``."""
    # A column already in its normalised form (as read_reports returns them) is checked but
    # not re-assigned: each pandas assignment costs tens of microseconds, which dominates
    # the validation of a small frame (here and in _validate_values).
    seq = out[SEQ]
    if seq.dtype != np.int64:
        if seq.isna().any():
            raise InvalidReportsError(
                f"column 'seq' has missing values at {_bad_seqs(out, seq.isna().to_numpy())}"
            )
        if not pd.api.types.is_integer_dtype(seq.dtype):
            numeric = pd.to_numeric(seq, errors="coerce")
            if numeric.isna().any() or not np.all(np.equal(np.mod(numeric.to_numpy(float), 1), 0)):
                raise InvalidReportsError(f"column 'seq' must hold integers, got dtype {seq.dtype}")
            seq = numeric
        out[SEQ] = seq_values = seq.to_numpy(dtype=np.int64)
    else:
        seq_values = seq.to_numpy()
    if not pd.Index(seq_values).is_unique:
        dup = pd.Index(seq_values).duplicated(keep=False)
        raise InvalidReportsError(
            f"column 'seq' must be unique; repeated {_listed(np.unique(seq_values[dup]))}"
            " (several analyses per report? reduce them with select_preferred_analysis)"
        )


def _validate_values(out: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> None:
    """Check the coordinate ranges, severity and ts; normalise them and the text in ``out``."""
    n = len(out)
    bad_lon = ~(np.isfinite(lon) & (lon >= -180.0) & (lon <= 180.0))
    if bad_lon.any():
        raise InvalidReportsError(
            f"longitude must lie in [-180, 180] for {_bad_seqs(out, bad_lon)}"
        )
    bad_lat = ~(np.isfinite(lat) & (lat >= -90.0) & (lat <= 90.0))
    if bad_lat.any():
        raise InvalidReportsError(f"latitude must lie in [-90, 90] for {_bad_seqs(out, bad_lat)}")

    raw_severity = out[SEVERITY_LEVEL]
    severity = _validated_severity(out, raw_severity)
    if raw_severity.dtype != np.float64:
        out[SEVERITY_LEVEL] = severity
    ts = out[TS]
    if ts.dtype != _TS_DTYPE or ts.array.isna().any():  # the array: no Series built
        out[TS] = _validated_ts(out)
    for column in TEXT_COLUMNS:
        text = out[column]
        if text.dtype != _TEXT_DTYPE or _arrow_null_count(text) > 0:
            out[column] = text.fillna("").astype(str)
    if CATEGORY in out.columns:
        out[CATEGORY] = out[CATEGORY].fillna("").astype(str).str.strip()
    assert len(out) == n


def arrow_text(values: pd.Series) -> pa.Array | None:
    """Return the Arrow array of an Arrow-backed text column without missing values, else None.

    For string work on small frames: calling :mod:`pyarrow.compute` on this array gives
    what the pandas ``.str`` methods of the column give (they call the same kernels), at a
    fraction of pandas's per-call cost.
    """
    dtype = values.dtype
    if not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow":
        return None
    array = values.array.__arrow_array__()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return None if array.null_count else array


def classification_mask(values: pd.Series, classification: str) -> np.ndarray:
    """Return which values equal ``classification``, case-insensitively, as a bool array.

    ``(values.str.lower() == classification.lower()).to_numpy(bool)`` (missing values are
    False); on an Arrow-backed column without missing values the same Arrow kernels run
    directly (a small frame's pandas calls cost more than the comparison).
    """
    array = arrow_text(values)
    if array is None:
        return (values.str.lower() == classification.lower()).to_numpy(bool)
    equal = pc.equal(pc.utf8_lower(array), pa.scalar(classification.lower(), array.type))
    mask: np.ndarray = equal.to_numpy(zero_copy_only=False).astype(bool, copy=False)
    return mask


def _arrow_null_count(text: pd.Series) -> int:
    """Missing values of an Arrow-backed "str" column, as Arrow counts them (no mask built)."""
    count: int = text.array.__arrow_array__().null_count
    return count


def _validated_severity(frame: pd.DataFrame, raw: pd.Series) -> np.ndarray:
    if raw.dtype == np.float64:  # NaN is a missing (unknown) severity, kept
        severity: np.ndarray = raw.to_numpy()
    else:
        severity = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        not_numeric = np.isnan(severity) & raw.notna().to_numpy()
        if not_numeric.any():
            raise InvalidReportsError(
                f"column 'severity_level' must be numeric; not for {_bad_seqs(frame, not_numeric)}"
            )
    out_of_range = (severity < 0.0) | (severity > 1.0)
    if out_of_range.any():
        raise InvalidReportsError(
            f"column 'severity_level' must lie in [0, 1]; got {_listed(severity[out_of_range])} "
            f"for {_bad_seqs(frame, out_of_range)}"
        )
    return severity


def _validated_ts(frame: pd.DataFrame) -> pd.Series:
    ts = frame[TS]
    if ts.isna().any():
        raise InvalidReportsError(
            f"column 'ts' has missing values at {_bad_seqs(frame, ts.isna().to_numpy())}"
        )
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        if pd.api.types.is_datetime64_dtype(ts.dtype):
            raise InvalidReportsError(
                "column 'ts' holds naive timestamps; localise them first, "
                "e.g. frame['ts'] = frame['ts'].dt.tz_localize('UTC')"
            )
        parsed = _parse_aware(frame, ts)
        if not isinstance(parsed.dtype, pd.DatetimeTZDtype):
            raise InvalidReportsError(
                "column 'ts' holds naive timestamps; give an offset such as '2026-03-10T10:00:00Z'"
            )
        ts = parsed
    return ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


_OFFSET_SUFFIX = r"(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"


def _parse_aware(frame: pd.DataFrame, ts: pd.Series) -> pd.Series:
    """Parse timestamps given as strings or objects, refusing naive ones."""
    as_text = ts.astype(str)
    naive = ~as_text.str.contains(_OFFSET_SUFFIX, regex=True).to_numpy()
    aware_objects = ts.map(lambda v: getattr(v, "tzinfo", None) is not None).to_numpy()
    naive &= ~aware_objects
    if naive.any():
        raise InvalidReportsError(
            f"column 'ts' holds naive timestamps for {_bad_seqs(frame, naive)}; "
            "give an offset such as '2026-03-10T10:00:00Z'"
        )
    try:
        return pd.to_datetime(ts, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InvalidReportsError(f"column 'ts' must hold ISO 8601 timestamps: {exc}") from exc
