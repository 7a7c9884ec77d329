"""Build report frames from plain records or GeoJSON, and pick the preferred analysis."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from cleanapp_geo.errors import InvalidReportsError
from cleanapp_geo.schema import (
    CLASSIFICATION,
    CRS,
    DESCRIPTION,
    GEOMETRY,
    LANGUAGE,
    REPORT_COLUMNS,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TEXT_COLUMNS,
    TITLE,
    arrow_text,
    validate_reports,
)

__all__ = [
    "display_titles",
    "display_titles_at",
    "reports_from_features",
    "reports_from_records",
    "select_preferred_analysis",
]

#: Values given to optional columns that a record leaves out.
RECORD_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(TEXT_COLUMNS, ""),
    CLASSIFICATION: "physical",
    LANGUAGE: "en",
    SEVERITY_LEVEL: float("nan"),  # unknown
}

_PREFERRED_LANGUAGE = "en"


def select_preferred_analysis(analyses: pd.DataFrame) -> pd.DataFrame:
    """Keep one analysis row per report: English first, else the smallest language code.

    This is the upstream "preferred analysis" rule: the first analysis whose ``language``
    equals ``en`` (case-insensitive); otherwise the first one in ``language`` order.

    Parameters
    ----------
    analyses : pandas.DataFrame or geopandas.GeoDataFrame
        One row per report and language, with ``seq`` and ``language`` columns.

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        One row per ``seq`` (same type and columns as the input, original index kept),
        in the order of first appearance of each ``seq``.

    Raises
    ------
    InvalidReportsError
        When ``seq`` or ``language`` is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"seq": [7, 7], "language": ["de", "en"], "title": ["Titel", "Title"]})
    >>> select_preferred_analysis(rows)["title"].tolist()
    ['Title']
    """
    for column in (SEQ, LANGUAGE):
        if column not in analyses.columns:
            raise InvalidReportsError(f"analyses are missing the {column!r} column")
    language = analyses[LANGUAGE].fillna("").astype(str)
    lowered = language.str.lower()
    order = pd.DataFrame(
        {
            "seq": analyses[SEQ].to_numpy(),
            "not_en": (lowered != _PREFERRED_LANGUAGE).to_numpy(),
            "lang": lowered.to_numpy(),
            "raw": language.to_numpy(),
            "pos": np.arange(len(analyses)),
        }
    )
    first_pos = order.groupby("seq", sort=False)["pos"].transform("min")
    order["first_pos"] = first_pos.to_numpy()
    chosen = (
        order.sort_values(["first_pos", "not_en", "lang", "raw", "pos"], kind="mergesort")
        .drop_duplicates("seq", keep="first")["pos"]
        .to_numpy()
    )
    return analyses.iloc[chosen]


def reports_from_records(records: Iterable[Mapping[str, Any]]) -> gpd.GeoDataFrame:
    """Build a validated report frame from plain dictionaries.

    Each record needs ``seq``, ``ts`` (timezone-aware) and a location, given either as
    ``latitude``/``longitude`` or as a shapely Point in ``geometry``. Missing text fields
    default to "" (``classification`` to ``physical``, ``language`` to ``en``); a missing
    ``severity_level`` is unknown (NaN), which similarity treats as no evidence. Records
    that repeat a ``seq`` are analyses of one report in several languages and are
    reduced with :func:`select_preferred_analysis`.

    Parameters
    ----------
    records : iterable of mapping
        The reports.

    Returns
    -------
    geopandas.GeoDataFrame
        A frame that satisfies :func:`cleanapp_geo.schema.validate_reports`.

    Raises
    ------
    InvalidReportsError
        When a record has no location or any value breaks the contract.

    Examples
    --------
    >>> frame = reports_from_records([
    ...     {"seq": 1, "ts": "2026-03-10T10:00:00Z", "latitude": 47.37, "longitude": 8.54,
    ...      "severity_level": 0.9, "title": "Loose bricks"},
    ... ])
    >>> frame.loc[0, "classification"], frame.crs.to_string()
    ('physical', 'EPSG:4326')
    """
    rows = [dict(r) for r in records]
    for i, row in enumerate(rows):
        if not isinstance(row.get(GEOMETRY), shapely.Point) and (
            row.get("latitude") is None or row.get("longitude") is None
        ):
            raise InvalidReportsError(
                f"record {i} (seq {row.get(SEQ)!r}) needs 'latitude' and 'longitude' "
                "or a shapely Point in 'geometry'"
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return _empty_frame()
    return _finish_frame(frame)


def reports_from_features(
    features: Mapping[str, Any] | Iterable[Mapping[str, Any]],
) -> gpd.GeoDataFrame:
    """Build a validated report frame from GeoJSON Point Features.

    Parameters
    ----------
    features : mapping or iterable of mapping
        A GeoJSON ``FeatureCollection`` or an iterable of ``Feature`` objects whose
        geometry is a ``Point`` and whose ``properties`` hold the report fields (as in
        :func:`reports_from_records`).

    Returns
    -------
    geopandas.GeoDataFrame
        A validated report frame.

    Raises
    ------
    InvalidReportsError
        When an item is not a Feature with a Point geometry, or a property is invalid.
    """
    if isinstance(features, Mapping):
        if features.get("type") != "FeatureCollection":
            raise InvalidReportsError(
                f"expected a GeoJSON FeatureCollection, got type {features.get('type')!r}"
            )
        items = features.get("features")
        if not isinstance(items, list):
            raise InvalidReportsError("FeatureCollection 'features' must be a list")
    else:
        items = list(features)
    records = []
    for i, feature in enumerate(items):
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            raise InvalidReportsError(f"item {i} is not a GeoJSON Feature")
        geometry = feature.get("geometry")
        if not isinstance(geometry, Mapping) or geometry.get("type") != "Point":
            got = geometry.get("type") if isinstance(geometry, Mapping) else geometry
            raise InvalidReportsError(f"feature {i} must have a Point geometry, got {got!r}")
        coords = geometry.get("coordinates")
        if (
            not isinstance(coords, list | tuple)
            or len(coords) < 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])
        ):
            raise InvalidReportsError(f"feature {i} has invalid Point coordinates {coords!r}")
        props = dict(feature.get("properties") or {})
        props["longitude"], props["latitude"] = float(coords[0]), float(coords[1])
        records.append(props)
    return reports_from_records(records)


def _finish_frame(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    for column, default in RECORD_DEFAULTS.items():
        if column not in frame.columns:
            frame[column] = default
        else:
            frame[column] = frame[column].fillna(default) if default else frame[column]
    if GEOMETRY in frame.columns and frame[GEOMETRY].notna().all():
        geometry = gpd.GeoSeries(frame[GEOMETRY], crs=CRS)
    else:
        try:
            lon = pd.to_numeric(frame["longitude"]).to_numpy(dtype=float)
            lat = pd.to_numeric(frame["latitude"]).to_numpy(dtype=float)
        except (ValueError, TypeError) as exc:
            raise InvalidReportsError(f"latitude/longitude must be numbers: {exc}") from exc
        geometry = gpd.GeoSeries(shapely.points(lon, lat), crs=CRS)
    frame = frame.drop(
        columns=[c for c in ("latitude", "longitude", GEOMETRY) if c in frame.columns]
    )
    if SEQ in frame.columns and frame[SEQ].duplicated().any():
        keep = select_preferred_analysis(frame)
        geometry = geometry.iloc[keep.index]
        frame = keep
    gdf = gpd.GeoDataFrame(
        frame.reset_index(drop=True), geometry=geometry.reset_index(drop=True).array, crs=CRS
    )
    ordered = [c for c in REPORT_COLUMNS if c in gdf.columns]
    extra = [c for c in gdf.columns if c not in REPORT_COLUMNS]
    return validate_reports(gdf[ordered + extra])


def _empty_frame() -> gpd.GeoDataFrame:
    columns: dict[str, Any] = {c: pd.Series([], dtype=str) for c in TEXT_COLUMNS}
    columns[SEQ] = pd.Series([], dtype=np.int64)
    columns["ts"] = pd.Series([], dtype="datetime64[ns, UTC]")
    columns["severity_level"] = pd.Series([], dtype=float)
    frame = pd.DataFrame(columns)
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=CRS).array, crs=CRS)
    return validate_reports(gdf[list(REPORT_COLUMNS)])


def display_titles(reports: pd.DataFrame) -> np.ndarray:
    """Each report's display title: the first non-blank of title, summary, description.

    This is upstream's ``titleText`` rule, used for hypothesis titles and
    case-matching texts.

    Parameters
    ----------
    reports : pandas.DataFrame
        Has ``title``, ``summary`` and ``description`` columns.

    Returns
    -------
    numpy.ndarray
        Object array of titles, "" where all three are blank.
    """
    return display_titles_at(reports, None)


def display_titles_at(reports: pd.DataFrame, rows: np.ndarray | None) -> np.ndarray:
    """:func:`display_titles` of the rows at positions ``rows`` (all rows when None).

    Arrow-backed text columns are read with :mod:`pyarrow.compute` (the kernels the
    pandas ``.str`` methods call), without building pandas objects: for a small frame
    most of the cost of the pandas calls is their own overhead.
    """
    n = len(reports) if rows is None else len(rows)
    result = np.full(n, "", dtype=object)
    unset = np.ones(n, dtype=bool)
    for column in (TITLE, SUMMARY, DESCRIPTION):
        series = reports[column]
        array = arrow_text(series)
        if array is not None:
            if rows is not None:
                array = array.take(pa.array(rows, type=pa.int64()))
            blank = pc.equal(pc.utf8_trim_whitespace(array), "")
            take = unset & ~blank.to_numpy(zero_copy_only=False)
            values = array.to_numpy(zero_copy_only=False)
        else:
            values_series = series if rows is None else series.iloc[rows]
            take = unset & (values_series.str.strip() != "").to_numpy(dtype=bool)
            values = values_series.to_numpy(dtype=object)
        result[take] = values[take]
        unset &= ~take
    return result
