"""Stored cases as a frame: the input of :func:`cleanapp_geo.matching.match_cases` (pure).

:func:`cases_frame` builds the frame from plain records (a store's rows); :func:`case_area`
reads a case's area from its JSON columns. Both are re-exported by
:mod:`cleanapp_geo.matching`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cleanapp_geo.errors import CleanAppGeoError, InvalidScopeError
from cleanapp_geo.schema import CRS
from cleanapp_geo.scope import RadiusScope, as_scope

__all__ = [
    "CASE_COLUMNS",
    "InvalidCasesError",
    "case_area",
    "cases_frame",
    "check_cases_frame",
]

#: Columns of a cases frame (see :func:`cases_frame`), besides ``geometry``.
CASE_COLUMNS: Final = (
    "case_id",
    "slug",
    "title",
    "status",
    "classification",
    "summary",
    "geometry_json",
    "aggregate_geometry_json",
    "aggregate_bbox_json",
    "anchor_report_seq",
    "anchor_lat",
    "anchor_lng",
    "cluster_count",
    "linked_report_count",
    "updated_at",
    "report_seqs",
)
_TEXT_DEFAULTS: Final = {
    "slug": "",
    "title": "",
    "classification": "physical",
    "summary": "",
    "geometry_json": "",
    "aggregate_geometry_json": "",
    "aggregate_bbox_json": "",
}


class InvalidCasesError(CleanAppGeoError, ValueError):
    """A cases frame (or a case record) is malformed."""


def case_area(
    *,
    aggregate_geometry_json: object = None,
    geometry_json: object = None,
    aggregate_bbox_json: object = None,
) -> shapely.Geometry | None:
    """Return a case's area: the polygons of its aggregate geometry, else of its scope.

    Parameters
    ----------
    aggregate_geometry_json, geometry_json : str, mapping or None
        GeoJSON (as text or parsed): a geometry, Feature or FeatureCollection. Only the
        polygonal parts count.
    aggregate_bbox_json : str, sequence or mapping, optional
        ``[west, south, east, north]`` (or an object with those keys); used as a box when
        neither geometry has polygons.

    Returns
    -------
    shapely.Geometry or None
        A valid (multi)polygon, or None when the case has no area.

    Examples
    --------
    >>> case_area(aggregate_bbox_json="[8.5, 47.3, 8.6, 47.4]").bounds
    (8.5, 47.3, 8.6, 47.4)
    >>> case_area() is None
    True
    """
    for raw in (aggregate_geometry_json, geometry_json):
        parts = _polygons(_parsed(raw))
        if parts:
            geom = shapely.union_all(parts)
            if not geom.is_empty and geom.area > 0:
                return geom
    bbox = _bbox(_parsed(aggregate_bbox_json))
    if bbox is not None and bbox[0] < bbox[2] and bbox[1] < bbox[3]:
        return shapely.box(*bbox)
    return None


def _parsed(raw: object) -> object:
    if isinstance(raw, str | bytes | bytearray):
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return raw


def _polygons(obj: object) -> list[shapely.Geometry]:
    """Polygonal parts of any GeoJSON object (invalid parts are skipped)."""
    if not isinstance(obj, Mapping):
        return []
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list):
            return []
        return [p for f in features for p in _polygons(f)]
    if kind == "Feature":
        return _polygons(obj.get("geometry"))
    if kind == "GeometryCollection":
        members = obj.get("geometries")
        return [p for g in members for p in _polygons(g)] if isinstance(members, list) else []
    if kind in ("Polygon", "MultiPolygon"):
        try:
            geom = as_scope(obj)
        except InvalidScopeError:
            return []
        assert not isinstance(geom, RadiusScope)
        return [geom]
    return []


def _bbox(obj: object) -> tuple[float, float, float, float] | None:
    if isinstance(obj, Mapping):
        obj = [obj.get(k) for k in ("west", "south", "east", "north")]
    if not isinstance(obj, list | tuple) or len(obj) != 4:
        return None
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in obj
    ):
        return None
    w, s, e, n = (float(v) for v in obj)
    return w, s, e, n


def _json_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def cases_frame(records: Iterable[Mapping[str, Any]]) -> gpd.GeoDataFrame:
    """Build a cases frame for :func:`match_cases` from plain dictionaries.

    Each record needs ``case_id``, ``status`` and ``updated_at`` (timezone-aware); the
    other :data:`CASE_COLUMNS` are optional (text defaults to "", ``classification`` to
    ``physical``, counts to 0, anchors to missing, ``report_seqs`` to none). JSON columns
    may be given as text or parsed objects; they are kept as JSON text. The frame's
    ``geometry`` is the case's area: the record's ``geometry`` when it holds a shapely
    geometry (e.g. decoded from PostGIS), else :func:`case_area` of its JSON columns.

    Parameters
    ----------
    records : iterable of mapping
        One per case.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`CASE_COLUMNS` plus ``geometry`` (EPSG:4326, None when no area):
        ``anchor_report_seq`` as nullable Int64, ``anchor_lat``/``anchor_lng`` float (NaN
        when missing), ``updated_at`` as UTC datetimes, ``report_seqs`` as tuples of int.

    Raises
    ------
    InvalidCasesError
        When a required field is missing or a value has the wrong type.

    Examples
    --------
    >>> frame = cases_frame([{"case_id": "case_1", "status": "open",
    ...                       "updated_at": "2026-03-10T10:00:00Z", "report_seqs": [3, 1]}])
    >>> frame.loc[0, "report_seqs"], frame.loc[0, "classification"]
    ((1, 3), 'physical')
    """
    rows = [dict(r) for r in records]
    for i, row in enumerate(rows):
        missing = [k for k in ("case_id", "status", "updated_at") if row.get(k) in (None, "")]
        if missing:
            raise InvalidCasesError(f"case record {i} is missing {missing}")
    data: dict[str, Any] = {
        "case_id": [str(r["case_id"]) for r in rows],
        "status": [str(r["status"]) for r in rows],
    }
    for name, default in _TEXT_DEFAULTS.items():
        if name.endswith("_json"):
            data[name] = [_json_text(r.get(name)) for r in rows]
        else:
            data[name] = [str(r.get(name) or default) for r in rows]
    try:
        data["anchor_report_seq"] = pd.array(
            [r.get("anchor_report_seq") for r in rows], dtype="Int64"
        )
        for name in ("anchor_lat", "anchor_lng"):
            data[name] = np.array(
                [np.nan if r.get(name) is None else float(r[name]) for r in rows], dtype=float
            )
        for name in ("cluster_count", "linked_report_count"):
            data[name] = np.array([int(r.get(name) or 0) for r in rows], dtype=np.int64)
        data["updated_at"] = pd.to_datetime(
            [r["updated_at"] for r in rows], utc=True, format="ISO8601"
        ).astype("datetime64[ns, UTC]")
        data["report_seqs"] = [
            tuple(sorted({int(s) for s in (r.get("report_seqs") or ())})) for r in rows
        ]
    except (TypeError, ValueError) as exc:
        raise InvalidCasesError(f"invalid case record value: {exc}") from exc
    areas = [
        r["geometry"]
        if isinstance(r.get("geometry"), shapely.Geometry)
        else case_area(
            aggregate_geometry_json=r.get("aggregate_geometry_json"),
            geometry_json=r.get("geometry_json"),
            aggregate_bbox_json=r.get("aggregate_bbox_json"),
        )
        for r in rows
    ]
    frame = pd.DataFrame({c: data[c] for c in CASE_COLUMNS}, index=pd.RangeIndex(len(rows)))
    return gpd.GeoDataFrame(
        frame, geometry=gpd.GeoSeries(areas, index=frame.index, crs=CRS).array, crs=CRS
    )


def check_cases_frame(cases: pd.DataFrame) -> None:
    """Raise :class:`InvalidCasesError` unless ``cases`` is a frame with :data:`CASE_COLUMNS`."""
    if not isinstance(cases, pd.DataFrame):
        raise InvalidCasesError(
            f"cases must be a DataFrame (build one with cases_frame), got {type(cases).__name__}"
        )
    missing = [c for c in CASE_COLUMNS if c not in cases.columns]
    if missing:
        raise InvalidCasesError(
            f"cases frame is missing columns {missing}; "
            "build it with cleanapp_geo.matching.cases_frame"
        )
