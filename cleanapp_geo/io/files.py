"""Read report files (GeoJSON, CSV, GeoParquet) and validate them row by row.

:func:`read_report_file` reads the records as they are (one row per record, the original
fields kept for a rejects file); :func:`check_report_rows` checks every row, collects every
problem of every row (not just the first one) and builds the report frame and the
analysis rows of the valid rows, ready for :func:`cleanapp_geo.io.write.insert_reports`.

File layout
-----------
One record per report *and language*: records that share a ``seq`` are analyses of one
report in several languages and must agree on the report fields (``public_id``, ``ts``,
location, and the optional report columns). Columns (CSV header names, GeoJSON property
names, Parquet column names):

* required: ``seq`` (integer), ``ts`` (ISO 8601 with a UTC offset, e.g.
  ``2026-03-10T10:00:00Z``; ``timestamp`` is accepted as an alias), ``severity_level``
  (number in [0, 1]) and the location: ``latitude``/``longitude`` columns (CSV, plain
  Parquet) or a Point geometry (GeoJSON Features, GeoParquet; the geometry wins over
  properties of the same name);
* optional analysis fields: ``language`` (default ``en``), ``classification``
  (``physical`` default, or ``digital``), ``title``, ``summary``, ``description``,
  ``brand_name``, ``brand_display_name``, ``inferred_contact_emails``, ``source``,
  ``analysis_text``, ``litter_probability``/``hazard_probability``/
  ``digital_bug_probability`` (in [0, 1], default 0), ``is_valid`` (default true);
* optional report fields: ``public_id`` (``rpt_`` + 22 base64url characters; drawn at
  random when empty), ``reporter_id``, ``team``, ``report_description``, ``status``
  (``active``/``resolved``), ``visibility`` (``public``/``shadow``/``quarantine``),
  ``owner``, ``owner_is_public``.

Other columns are ignored. Row numbers are 1-based positions of the records in the file
(for a CSV file, row 1 is the first line after the header).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cleanapp_geo.errors import InvalidReportsError
from cleanapp_geo.io import tables as t
from cleanapp_geo.reports import select_preferred_analysis
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    BRAND_NAME,
    CLASSIFICATION,
    CRS,
    DESCRIPTION,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
    PUBLIC_ID,
    REPORT_COLUMNS,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TITLE,
    TS,
    validate_reports,
)

__all__ = [
    "FORMATS",
    "REASON",
    "ROW",
    "Format",
    "ReportFile",
    "check_report_rows",
    "detect_format",
    "read_report_file",
]

Format = Literal["geojson", "csv", "parquet"]

#: Supported file formats.
FORMATS: Final = ("geojson", "csv", "parquet")

_SUFFIXES: Final[dict[str, Format]] = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".csv": "csv",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".pq": "parquet",
}

#: Name of the structural-problem column that readers add (GeoJSON/GeoParquet geometry).
PROBLEM: Final = "_problem"
ROW: Final = "row"
REASON: Final = "reason"

_REQUIRED: Final = (SEQ, TS, "latitude", "longitude", SEVERITY_LEVEL)
_REPORT_TEXT: Final = ("reporter_id", "report_description", "owner")
_ANALYSIS_TEXT: Final = (
    TITLE,
    SUMMARY,
    DESCRIPTION,
    BRAND_NAME,
    BRAND_DISPLAY_NAME,
    INFERRED_CONTACT_EMAILS,
    "source",
    "analysis_text",
)
_PROBABILITIES: Final = ("litter_probability", "hazard_probability", "digital_bug_probability")
_PUBLIC_ID_RE: Final = r"rpt_[A-Za-z0-9_-]{22}"
_LANGUAGE_RE: Final = r"[A-Za-z][A-Za-z0-9_-]{0,15}"
_OFFSET_RE: Final = r"(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"
_TRUE: Final = frozenset({"true", "1", "yes", "t", "y"})
_FALSE: Final = frozenset({"false", "0", "no", "f", "n"})
_SHOWN_VALUE: Final = 40


@dataclass(frozen=True, slots=True)
class ReportFile:
    """The outcome of :func:`check_report_rows`.

    Attributes
    ----------
    n_rows : int
        Records read.
    reports : geopandas.GeoDataFrame
        One row per report of the valid records (a report frame with the preferred
        analysis, plus the optional report columns).
    analyses : pandas.DataFrame
        Every valid record as an analysis row (``row``, ``seq``, ``language`` and the
        analysis fields), for :func:`cleanapp_geo.io.write.insert_reports`.
    rejects : pandas.DataFrame
        One row per invalid record: ``row`` (1-based), ``reason`` (every problem,
        separated by "; ") and the record's original fields; ordered by ``row``.
    """

    n_rows: int
    reports: gpd.GeoDataFrame
    analyses: pd.DataFrame
    rejects: pd.DataFrame


# ============================================================================ reading


def detect_format(path: str | Path) -> Format:
    """Guess a file's format from its suffix.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    {"geojson", "csv", "parquet"}
        The format.

    Raises
    ------
    InvalidReportsError
        When the suffix is not one of .geojson, .json, .csv, .parquet, .geoparquet, .pq.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidReportsError(
            f"cannot tell the format of {str(path)!r} from its suffix {suffix!r}; "
            f"give one of {list(FORMATS)}"
        )
    return _SUFFIXES[suffix]


def read_report_file(path: str | Path, *, format: Format | None = None) -> pd.DataFrame:
    """Read the records of a report file as they are.

    Parameters
    ----------
    path : str or pathlib.Path
        A GeoJSON FeatureCollection of Point Features, a CSV file with a header, or a
        (Geo)Parquet file.
    format : {"geojson", "csv", "parquet"}, optional
        Default: from the suffix (:func:`detect_format`).

    Returns
    -------
    pandas.DataFrame
        One row per record, indexed by the 1-based row number. CSV values are kept as
        text. GeoJSON properties become columns, the geometry becomes ``longitude``,
        ``latitude`` and ``geometry`` (its GeoJSON text); GeoParquet geometries become
        ``longitude``, ``latitude`` and ``geometry`` (WKT), reprojected to EPSG:4326 when
        the file has another CRS. A record whose geometry is not a usable Point has a
        message in the ``_problem`` column.

    Raises
    ------
    InvalidReportsError
        When the format is unknown or the file cannot be parsed as a whole (not JSON, not
        a FeatureCollection, a malformed CSV ...).
    """
    fmt = detect_format(path) if format is None else format
    if fmt not in FORMATS:
        raise InvalidReportsError(f"format must be one of {list(FORMATS)}, got {fmt!r}")
    try:
        if fmt == "csv":
            records = _read_csv(Path(path))
        elif fmt == "geojson":
            records = _read_geojson(Path(path))
        else:
            records = _read_parquet(Path(path))
    except InvalidReportsError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidReportsError(f"cannot read {fmt} file {str(path)!r}: {exc}") from exc
    records.index = pd.RangeIndex(1, len(records) + 1, name=ROW)
    return records


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def _read_geojson(path: Path) -> pd.DataFrame:
    with path.open("rb") as handle:
        try:
            document = json.load(handle)
        except json.JSONDecodeError as exc:
            raise InvalidReportsError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(document, Mapping) or document.get("type") != "FeatureCollection":
        got = document.get("type") if isinstance(document, Mapping) else type(document).__name__
        raise InvalidReportsError(f"expected a GeoJSON FeatureCollection, got {got!r}")
    features = document.get("features")
    if not isinstance(features, list):
        raise InvalidReportsError("the FeatureCollection's 'features' must be an array")
    properties: list[dict[str, Any]] = []
    lon = np.full(len(features), np.nan)
    lat = np.full(len(features), np.nan)
    geometry_text: list[str] = []
    problems: list[str] = []
    for i, feature in enumerate(features):
        problem = ""
        props: dict[str, Any] = {}
        geometry: Any = None
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            problem = "record is not a GeoJSON Feature"
        else:
            raw_props = feature.get("properties")
            if isinstance(raw_props, Mapping):
                props = {k: _scalar(v) for k, v in raw_props.items()}
            elif raw_props is not None:
                problem = "Feature properties must be an object or null"
            geometry = feature.get("geometry")
            point, why = _point(geometry)
            if point is None:
                problem = "; ".join(p for p in (problem, why) if p)
            else:
                lon[i], lat[i] = point
        props.pop("longitude", None)
        props.pop("latitude", None)
        properties.append(props)
        geometry_text.append(json.dumps(geometry) if geometry is not None else "")
        problems.append(problem)
    records = pd.DataFrame(properties, index=pd.RangeIndex(len(features)))
    records["longitude"] = lon
    records["latitude"] = lat
    records["geometry"] = geometry_text
    records[PROBLEM] = problems
    return records


def _scalar(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _point(geometry: Any) -> tuple[tuple[float, float] | None, str]:
    if geometry is None:
        return None, "Feature has no geometry"
    if not isinstance(geometry, Mapping) or geometry.get("type") != "Point":
        got = geometry.get("type") if isinstance(geometry, Mapping) else type(geometry).__name__
        return None, f"geometry must be a Point, got {got!r}"
    coords = geometry.get("coordinates")
    if (
        not isinstance(coords, list)
        or not 2 <= len(coords) <= 3
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)
    ):
        return None, f"Point coordinates must be [longitude, latitude], got {_shown(coords)}"
    return (float(coords[0]), float(coords[1])), ""


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame: pd.DataFrame = gpd.read_parquet(path)
    except ValueError as exc:  # no GeoParquet metadata: a plain Parquet table
        if "geo" not in str(exc).lower():
            raise
        frame = pd.read_parquet(path)
    if not isinstance(frame, gpd.GeoDataFrame):
        return frame.reset_index(drop=True)
    if frame.crs is not None and not frame.crs.equals(CRS):
        frame = frame.to_crs(CRS)
    geoms = np.asarray(frame.geometry.array)
    name = frame.geometry.name
    records = pd.DataFrame(frame.drop(columns=[name])).reset_index(drop=True)
    records = records.drop(columns=[c for c in ("longitude", "latitude") if c in records])
    missing = np.asarray(shapely.is_missing(geoms))
    point = np.asarray(shapely.get_type_id(geoms)) == shapely.GeometryType.POINT
    empty = np.zeros(len(geoms), dtype=bool)
    empty[~missing] = np.asarray(shapely.is_empty(geoms[~missing]))
    usable = point & ~missing & ~empty
    records["longitude"] = np.where(usable, shapely.get_x(geoms), np.nan)
    records["latitude"] = np.where(usable, shapely.get_y(geoms), np.nan)
    types = np.asarray(shapely.get_type_id(geoms))
    problem = np.full(len(geoms), "", dtype=object)
    problem[missing] = "geometry is missing"
    problem[~missing & point & empty] = "geometry is an empty Point"
    wrong = ~missing & ~point
    problem[wrong] = [
        f"geometry must be a Point, got {shapely.GeometryType(k).name.title()}"
        for k in types[wrong]
    ]
    records["geometry"] = np.where(missing, "", shapely.to_wkt(geoms))
    records[PROBLEM] = problem
    return records


# ============================================================================ checking


def _shown(value: Any) -> str:
    """Quote a value as read (numbers as their text, so every format reads alike)."""
    text = repr(value if isinstance(value, str) else str(value))
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 3] + "..."


class _Problems:
    """Problems per row, collected check by check (vectorised), joined at the end."""

    def __init__(self, index: pd.Index) -> None:
        self.index = index
        self.mask = np.zeros(len(index), dtype=bool)
        self.parts: list[pd.Series] = []

    def add(
        self,
        mask: np.ndarray | pd.Series,
        reason: str,
        values: pd.Series | None = None,
        shown: bool = True,
    ) -> None:
        """Record ``reason`` for the rows in ``mask``.

        ``reason`` may hold one ``{}``, filled (only for the masked rows) with the row's
        value from ``values`` (shortened with :func:`_shown` unless ``shown`` is False).
        """
        mask_array = np.asarray(mask, dtype=bool)
        if not mask_array.any():
            return
        self.mask |= mask_array
        rows = self.index[mask_array]
        if values is None:
            self.parts.append(pd.Series(reason, index=rows, dtype=object))
            return
        picked = values.to_numpy(dtype=object)[mask_array]
        texts = [reason.format(_shown(v) if shown else v) for v in picked]
        self.parts.append(pd.Series(texts, index=rows, dtype=object))

    def reasons(self) -> pd.Series:
        if not self.parts:
            return pd.Series([], dtype=str, index=pd.Index([], name=ROW, dtype=np.int64))
        combined = pd.concat(self.parts)
        joined = combined.groupby(level=0, sort=True).agg("; ".join)
        joined.index.name = ROW
        return joined.astype(str)


def _text(records: pd.DataFrame, name: str) -> pd.Series:
    """Return a column as text ("" where missing); cheap for columns holding text."""
    if name not in records.columns:
        return pd.Series("", index=records.index, dtype=str)
    column = records[name]
    missing = column.isna().to_numpy()
    if isinstance(column.dtype, pd.StringDtype):
        return column.where(~missing, "") if missing.any() else column
    return column.astype(str).where(~missing, "").astype(str)


def _is_bool(column: pd.Series) -> np.ndarray:
    if column.dtype != object:
        return np.zeros(len(column), dtype=bool)
    return column.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)


def _raw(records: pd.DataFrame, name: str) -> pd.Series:
    """Return the column as read (to show offending values), or "" when absent."""
    if name not in records.columns:
        return pd.Series("", index=records.index, dtype=str)
    return records[name]


def _number(records: pd.DataFrame, name: str, problems: _Problems, *, required: bool) -> np.ndarray:
    if name not in records.columns:
        return np.full(len(records), np.nan)
    column = records[name]
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    ):  # typed input (Parquet, GeoJSON numbers): no text round trip
        numbers = column.to_numpy(dtype=float, na_value=np.nan)
        empty = column.isna().to_numpy()
    else:
        text = _text(records, name).str.strip()
        numeric = column.where(~_is_bool(column), None) if column.dtype == object else text
        numbers = pd.to_numeric(numeric, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        empty = (text == "").to_numpy()
    if required:
        problems.add(empty, f"{name} is missing")
    problems.add(~empty & ~np.isfinite(numbers), name + " {} is not a finite number", column)
    return numbers


def _in_range(
    numbers: np.ndarray,
    low: float,
    high: float,
    name: str,
    records: pd.DataFrame,
    problems: _Problems,
) -> None:
    finite = np.isfinite(numbers)
    outside = np.zeros(len(numbers), dtype=bool)
    outside[finite] = (numbers[finite] < low) | (numbers[finite] > high)
    problems.add(outside, name + " {} is outside " + f"[{low:g}, {high:g}]", _raw(records, name))


def _flag(records: pd.DataFrame, name: str, default: bool, problems: _Problems) -> np.ndarray:
    raw = _text(records, name).str.strip()
    text = raw.str.lower()
    truthy = text.isin(list(_TRUE)).to_numpy()
    falsy = text.isin(list(_FALSE)).to_numpy()
    empty = (text == "").to_numpy()
    problems.add(~(truthy | falsy | empty), name + " {} is not a boolean (true/false)", raw)
    return np.where(empty, default, truthy)


def _timestamps(records: pd.DataFrame, problems: _Problems) -> pd.Series:
    column = records[TS]
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        problems.add(column.isna().to_numpy(), "ts is missing")
        return column.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(column.dtype):
        problems.add(np.ones(len(column), dtype=bool), "ts has no UTC offset (naive timestamp)")
        return pd.Series(pd.NaT, index=records.index, dtype="datetime64[ns, UTC]")
    text = _text(records, TS).str.strip()
    empty = (text == "").to_numpy()
    has_offset = text.str.contains(_OFFSET_RE, regex=True).to_numpy(dtype=bool)
    if column.dtype == object:  # GeoJSON/Parquet values may be datetime objects
        has_offset |= column.map(lambda v: getattr(v, "tzinfo", None) is not None).to_numpy(
            dtype=bool
        )
    # utc=True reads naive values as UTC: they parse, and are then refused below.
    parsed = pd.to_datetime(text.where(~empty, None), utc=True, format="ISO8601", errors="coerce")
    unparsed = ~empty & parsed.isna().to_numpy()
    naive = ~empty & ~unparsed & ~has_offset
    problems.add(empty, "ts is missing")
    problems.add(unparsed, "ts {} is not an ISO 8601 timestamp", text)
    problems.add(naive, "ts {} has no UTC offset (e.g. 2026-03-10T10:00:00Z)", text)
    return parsed.where(~naive)


def check_report_rows(records: pd.DataFrame) -> ReportFile:
    """Validate every record of a report file and build the frames of the valid ones.

    Every row is checked against every rule and all of its problems are reported. Rows
    that pass are then checked together: rows of one ``seq`` must agree on the report
    fields, a ``(seq, language)`` pair and a ``public_id`` may appear once; rows breaking
    these are all rejected (it cannot be told which one is right).

    Parameters
    ----------
    records : pandas.DataFrame
        As returned by :func:`read_report_file` (index = 1-based row numbers).

    Returns
    -------
    ReportFile
        The valid reports and analyses, and the rejected rows with their reasons.

    Raises
    ------
    InvalidReportsError
        When a required column is missing altogether (a file-level problem).
    """
    records = records.copy()
    if TS not in records.columns and "timestamp" in records.columns:
        records = records.rename(columns={"timestamp": TS})
    missing = [c for c in _REQUIRED if c not in records.columns]
    if missing:
        raise InvalidReportsError(
            f"the file has no column(s) {missing}; found {sorted(map(str, records.columns))}"
        )
    problems = _Problems(records.index)
    if PROBLEM in records.columns:
        structural = _text(records, PROBLEM)
        problems.add((structural != "").to_numpy(), "{}", structural, shown=False)

    seq_float = _number(records, SEQ, problems, required=True)
    not_integer = np.isfinite(seq_float) & (
        (np.mod(seq_float, 1) != 0) | (np.abs(seq_float) >= 2.0**63)
    )
    problems.add(not_integer, "seq {} is not an integer", _raw(records, SEQ))
    ts = _timestamps(records, problems)

    has_geometry = PROBLEM in records.columns
    lon = _number(records, "longitude", problems, required=not has_geometry)
    lat = _number(records, "latitude", problems, required=not has_geometry)
    _in_range(lon, -180.0, 180.0, "longitude", records, problems)
    _in_range(lat, -90.0, 90.0, "latitude", records, problems)
    severity = _number(records, SEVERITY_LEVEL, problems, required=True)
    _in_range(severity, 0.0, 1.0, SEVERITY_LEVEL, records, problems)
    probabilities = {}
    for name in _PROBABILITIES:
        values = _number(records, name, problems, required=False)
        _in_range(values, 0.0, 1.0, name, records, problems)
        probabilities[name] = np.where(np.isfinite(values), values, 0.0)
    team = _number(records, "team", problems, required=False)
    problems.add(
        np.isfinite(team) & ((np.mod(team, 1) != 0) | (np.abs(team) > 2**31 - 1)),
        "team {} is not a 32-bit integer",
        _raw(records, "team"),
    )

    public_id = _text(records, PUBLIC_ID).str.strip()
    problems.add(
        ((public_id != "") & ~public_id.str.fullmatch(_PUBLIC_ID_RE)).to_numpy(dtype=bool),
        "public_id {} is not 'rpt_' + 22 base64url characters",
        public_id,
    )
    raw_classification = _text(records, CLASSIFICATION)
    classification = raw_classification.str.strip().str.lower().replace("", "physical")
    problems.add(
        ~classification.isin(list(t.CLASSIFICATIONS)).to_numpy(),
        "classification {} is not one of " + str(list(t.CLASSIFICATIONS)),
        raw_classification,
    )
    language = _text(records, LANGUAGE).str.strip().replace("", "en")
    problems.add(
        ~language.str.fullmatch(_LANGUAGE_RE).to_numpy(dtype=bool),
        "language {} is not a language code",
        language,
    )
    status = _text(records, "status").str.strip().str.lower().replace("", "active")
    problems.add(
        ~status.isin(list(t.REPORT_STATUSES)).to_numpy(),
        "status {} is not one of " + str(list(t.REPORT_STATUSES)),
        status,
    )
    visibility = _text(records, "visibility").str.strip().str.lower().replace("", "public")
    problems.add(
        ~visibility.isin(list(t.REPORT_VISIBILITIES)).to_numpy(),
        "visibility {} is not one of " + str(list(t.REPORT_VISIBILITIES)),
        visibility,
    )
    is_valid = _flag(records, "is_valid", True, problems)
    owner_is_public = _flag(records, "owner_is_public", False, problems)
    texts = {name: _text(records, name) for name in (*_REPORT_TEXT, *_ANALYSIS_TEXT)}
    for name, text in {**texts, PUBLIC_ID: public_id, LANGUAGE: language}.items():
        problems.add(
            text.str.contains("\x00", regex=False).to_numpy(dtype=bool),
            f"{name} contains a NUL character",
        )

    typed = pd.DataFrame(
        {
            SEQ: np.where(np.isfinite(seq_float) & ~not_integer, seq_float, 0).astype(np.int64),
            PUBLIC_ID: public_id,
            TS: ts,
            "longitude": lon,
            "latitude": lat,
            SEVERITY_LEVEL: severity,
            CLASSIFICATION: classification,
            LANGUAGE: language,
            "status": status,
            "visibility": visibility,
            "team": np.where(np.isfinite(team), team, 0).astype(np.int64),
            "is_valid": is_valid,
            "owner_is_public": owner_is_public,
            **probabilities,
            **texts,
        },
        index=records.index,
    )
    _check_consistency(typed, problems)

    reasons = problems.reasons()
    originals = records.loc[reasons.index].drop(columns=[PROBLEM], errors="ignore")
    rejects = pd.concat(
        [
            pd.DataFrame({ROW: reasons.index.to_numpy(dtype=np.int64), REASON: reasons.to_numpy()}),
            originals.reset_index(drop=True),
        ],
        axis=1,
    )
    good = typed.loc[~problems.mask]
    return ReportFile(
        n_rows=len(records),
        reports=_report_frame(good),
        analyses=_analyses(good),
        rejects=rejects,
    )


_REPORT_FIELDS: Final = (
    PUBLIC_ID,
    TS,
    "longitude",
    "latitude",
    "reporter_id",
    "team",
    "report_description",
    "status",
    "visibility",
    "owner",
    "owner_is_public",
)


def _check_consistency(typed: pd.DataFrame, problems: _Problems) -> None:
    """Cross-row rules among the rows that passed the per-row checks."""
    ok = ~problems.mask
    good = typed.loc[ok]
    if good.empty:
        return
    fields = good[[SEQ, *_REPORT_FIELDS]].copy()
    fields[TS] = fields[TS].astype("int64")
    variants = fields.drop_duplicates().groupby(SEQ).size()
    disagreeing = variants.index[variants.to_numpy() > 1]
    problems.add(
        typed[SEQ].isin(disagreeing).to_numpy() & ok,
        "rows of seq {} disagree on the report fields (public_id, ts, location or report columns)",
        typed[SEQ],
        shown=False,
    )
    pairs = pd.MultiIndex.from_frame(good[[SEQ, LANGUAGE]])
    repeated = pairs[pairs.duplicated(keep=False)]
    in_repeated = pd.MultiIndex.from_frame(typed[[SEQ, LANGUAGE]]).isin(repeated)
    repeated_rows = in_repeated & ok
    if repeated_rows.any():
        shown_pairs = typed[SEQ].astype(str) + ", " + typed[LANGUAGE].map(repr)
        problems.add(
            repeated_rows,
            "seq and language ({}) appear in more than one row",
            shown_pairs,
            shown=False,
        )
    ids = good.loc[good[PUBLIC_ID] != "", [SEQ, PUBLIC_ID]].drop_duplicates()
    shared = ids.loc[ids[PUBLIC_ID].duplicated(keep=False), PUBLIC_ID].unique()
    problems.add(
        typed[PUBLIC_ID].isin(shared).to_numpy() & ok,
        "public_id {} is used by more than one seq",
        typed[PUBLIC_ID],
        shown=False,
    )


def _report_frame(good: pd.DataFrame) -> gpd.GeoDataFrame:
    preferred = select_preferred_analysis(good) if len(good) else good
    points = shapely.points(
        preferred["longitude"].to_numpy(dtype=float), preferred["latitude"].to_numpy(dtype=float)
    )
    extra = [
        "reporter_id",
        "team",
        "report_description",
        "status",
        "visibility",
        "owner",
        "owner_is_public",
    ]
    columns = [c for c in REPORT_COLUMNS if c != "geometry"]
    frame = pd.DataFrame(preferred[columns + extra]).reset_index(drop=True)
    frame[TS] = frame[TS].astype("datetime64[ns, UTC]")
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, crs=CRS).array, crs=CRS)
    return validate_reports(gdf[[*REPORT_COLUMNS, *extra]])


def _analyses(good: pd.DataFrame) -> pd.DataFrame:
    columns = [
        SEQ,
        LANGUAGE,
        CLASSIFICATION,
        SEVERITY_LEVEL,
        *_ANALYSIS_TEXT,
        *_PROBABILITIES,
        "is_valid",
    ]
    analyses = pd.DataFrame(good[columns])
    analyses.insert(0, ROW, good.index.to_numpy(dtype=np.int64))
    return analyses.reset_index(drop=True)
