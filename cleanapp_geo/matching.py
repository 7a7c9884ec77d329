"""Candidate-case matching: which stored cases a cluster of reports may belong to.

:func:`match_cases` is a pure function: it takes the candidate cases as a frame (see
:func:`cases_frame`) and the cluster (its reports, optional scope geometry and match texts)
and returns :class:`CaseMatchCandidate` objects, best first. Loading the candidate cases
(an indexed lookup in the store) is the caller's job; the function applies every filter
itself, so a loose lookup gives the same answer as a tight one.

Score (upstream's, improved)
------------------------------------------------------
Every candidate starts at ``0.12`` and gains:

===================== =========================================== ==========================
signal                contribution                                reason
===================== =========================================== ==========================
shared reports        ``0.56 · shared / max(|cluster|, |case|)``  ``"<n> shared reports"``
area overlap          ``min(0.22, 0.35 · overlap)``               ``overlapping area``
distance (haversine)  ``<= 60 m``: 0.18; ``<= 150 m``: 0.12;      ``same location`` /
                      ``<= 300 m``: 0.06                          ``nearby location``
language              ``0.16 · Jaccard(cluster, case tokens)``    ``shared incident
                                                                  language`` (>= 0.3)
accretion             ``min(0.05, 0.01 · cluster_count)`` when
                      the case has more than one cluster
===================== =========================================== ==========================

``match_score = min(1, score)``. A candidate is kept when ``match_score >= 0.35`` or it
shares at least one report. Order: score, then ``updated_at`` (both descending), then
``case_id``.

Improvements over upstream:

* *Overlap is real geometry, not bounding boxes.* ``overlap`` is the intersection over
  union of the cluster's (multi)polygon and the case's area (its aggregate geometry). When
  the cluster has no area (a seed-report cluster without a scope) it is the share of the
  cluster's report points that lie inside the case's area. Areas are compared in
  longitude/latitude: IoU is a ratio of areas, which an affine map preserves, and over the
  few kilometres a case spans the map to metres is affine to within a fraction of a percent.
* *Distances are haversine in metres* between the cluster centre (the centroid of its area,
  else the mean of its report points) and the case centre (its anchor report, else the
  centroid of its area); upstream looked cases up in a ±0.0018° box.
* *Every case is considered*, not the 12 most recently updated ones, and report sharing is
  exact (upstream's ``GROUP_CONCAT`` truncated long seq lists).
* *Statuses.* Cases in an active status (:data:`ACTIVE_STATUSES`) are suggested with
  ``suggested_action="attach"``. Resolved or closed cases (:data:`REOPENABLE_STATUSES`)
  updated within ``reopen_window_s`` (90 days by default) are suggested with
  ``suggested_action="reopen"``: the incident may have recurred. Merged cases and older
  resolved/closed cases are never candidates.
* *Language.* Tokens use :data:`~cleanapp_geo.text.DEFAULT_STOP_WORDS` (upstream dropped
  "brick", "wall" and "facade"); pass ``stop_words=UPSTREAM_STOP_WORDS`` for upstream's.

Bands
-----
:func:`match_band` turns a score into ``"auto"`` (attach without asking), ``"review"``
(show to a person) or ``"new"`` (treat the cluster as a new case). The cut points are
calibrated (:func:`cleanapp_geo.calibration.case_calibration`: an isotonic map of the score
to the probability of "same incident", fitted on a simulated case store built from
synthetic hard-mode data): ``auto`` from :func:`auto_attach_score`, chosen so that the
``auto`` band has a precision of at least 0.98 on held-out seeds; ``review`` from
:func:`review_score`. Upstream used 0.58 and 0.35. Callers should depend on
:func:`match_band`, never on the numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cleanapp_geo.arrays import haversine_m
from cleanapp_geo.calibration import case_calibration
from cleanapp_geo.errors import CleanAppGeoError, InvalidScopeError
from cleanapp_geo.hypotheses import format_timestamp
from cleanapp_geo.reports import display_titles
from cleanapp_geo.schema import CRS, SEQ, validate_reports
from cleanapp_geo.scope import RadiusScope, as_scope
from cleanapp_geo.text import DEFAULT_STOP_WORDS, tokenize

__all__ = [
    "ACTIVE_STATUSES",
    "CASE_COLUMNS",
    "MATCH_RADIUS_M",
    "REOPENABLE_STATUSES",
    "REOPEN_WINDOW_S",
    "CaseMatchCandidate",
    "InvalidCasesError",
    "MatchBand",
    "SuggestedAction",
    "auto_attach_score",
    "case_area",
    "cases_frame",
    "match_band",
    "match_cases",
    "review_score",
]

MatchBand = Literal["auto", "review", "new"]
SuggestedAction = Literal["attach", "reopen"]

#: Statuses of live cases: a matching cluster should be attached to them.
ACTIVE_STATUSES: Final = ("open", "investigating", "escalated", "monitoring")
#: Statuses of finished cases: a matching cluster suggests the incident recurred.
REOPENABLE_STATUSES: Final = ("resolved", "closed")
#: How long after its last update a resolved/closed case is still suggested (seconds).
REOPEN_WINDOW_S: Final = 90 * 86_400.0

#: Farthest centre distance that adds to the score; stores look cases up within it.
MATCH_RADIUS_M: Final = 300.0

_BASE_SCORE: Final = 0.12
_SHARED_WEIGHT: Final = 0.56
_OVERLAP_WEIGHT: Final = 0.35
_OVERLAP_CAP: Final = 0.22
_DISTANCE_STEPS: Final = ((60.0, 0.18, "same location"), (150.0, 0.12, "nearby location"))
_FAR_STEP: Final = (MATCH_RADIUS_M, 0.06)
_LANGUAGE_WEIGHT: Final = 0.16
_LANGUAGE_REASON_MIN: Final = 0.3
_ACCRETION_STEP: Final = 0.01
_ACCRETION_CAP: Final = 0.05
_KEEP_SCORE: Final = 0.35

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


@dataclass(frozen=True, slots=True)
class CaseMatchCandidate:
    """One stored case a cluster may belong to, with its score and explanation.

    The attributes up to ``updated_at`` are upstream's ``CaseMatchCandidate`` JSON fields;
    ``suggested_action``, ``band`` and ``distance_m`` are new.

    Attributes
    ----------
    case_id, slug, title, status, classification, summary : str
        The case.
    geometry_json, aggregate_geometry_json, aggregate_bbox_json : str
        The case's JSON columns as JSON text ("" when none), as upstream sends them.
    anchor_report_seq : int or None
        The case's anchor report.
    anchor_lat, anchor_lng : float or None
        The anchor location.
    cluster_count, linked_report_count : int
        The case's counters.
    shared_report_count : int
        Reports both in the cluster and linked to the case.
    match_score : float
        In [0, 1].
    match_reasons : tuple of str
        Why the case matched (may be empty).
    updated_at : pandas.Timestamp
        When the case last changed (UTC).
    suggested_action : {"attach", "reopen"}
        ``reopen`` for a resolved or closed case.
    band : {"auto", "review", "new"}
        :func:`match_band` of the score.
    distance_m : float or None
        Haversine distance between the cluster and case centres, when both exist.
    """

    case_id: str
    slug: str
    title: str
    status: str
    classification: str
    summary: str
    geometry_json: str
    aggregate_geometry_json: str
    aggregate_bbox_json: str
    anchor_report_seq: int | None
    anchor_lat: float | None
    anchor_lng: float | None
    cluster_count: int
    linked_report_count: int
    shared_report_count: int
    match_score: float
    match_reasons: tuple[str, ...]
    updated_at: pd.Timestamp
    suggested_action: SuggestedAction
    band: MatchBand
    distance_m: float | None

    def to_dict(self) -> dict[str, Any]:
        """Wire JSON object; the ``anchor_*`` keys are omitted when null (as upstream)."""
        out: dict[str, Any] = {
            "case_id": self.case_id,
            "slug": self.slug,
            "title": self.title,
            "status": self.status,
            "classification": self.classification,
            "summary": self.summary,
            "geometry_json": self.geometry_json,
            "aggregate_geometry_json": self.aggregate_geometry_json,
            "aggregate_bbox_json": self.aggregate_bbox_json,
        }
        for name in ("anchor_report_seq", "anchor_lat", "anchor_lng"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(
            cluster_count=self.cluster_count,
            linked_report_count=self.linked_report_count,
            shared_report_count=self.shared_report_count,
            match_score=self.match_score,
            match_reasons=list(self.match_reasons),
            updated_at=format_timestamp(self.updated_at),
            suggested_action=self.suggested_action,
            band=self.band,
            distance_m=self.distance_m,
        )
        return out


def auto_attach_score() -> float:
    """Return the score from which a candidate is attached without asking.

    Calibrated (the bundled case calibration, read on first use; upstream used 0.58).

    Examples
    --------
    >>> 0.0 < auto_attach_score() <= 1.0
    True
    """
    return case_calibration().auto_min_score


def review_score() -> float:
    """Return the score from which a candidate is worth a person's review (upstream: 0.35).

    Examples
    --------
    >>> review_score() <= auto_attach_score()
    True
    """
    return case_calibration().review_min_score


def match_band(score: float) -> MatchBand:
    """Band of a match score: ``auto``, ``review`` or ``new``.

    The calibrated bands of :func:`cleanapp_geo.calibration.case_calibration` (see the
    module docstring): ``auto`` when ``score >= auto_attach_score()``, ``review`` when
    ``score >= review_score()``, else ``new``.

    Parameters
    ----------
    score : float
        A match score in [0, 1].

    Returns
    -------
    {"auto", "review", "new"}

    Examples
    --------
    >>> match_band(0.9), match_band(0.2)
    ('auto', 'new')
    """
    return case_calibration().band(score)


# --------------------------------------------------------------------------- cases frame


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


def _check_cases(cases: pd.DataFrame) -> None:
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


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class _Cluster:
    seqs: np.ndarray
    area: shapely.Geometry | None
    lon: np.ndarray
    lat: np.ndarray
    centre: tuple[float, float] | None
    tokens: frozenset[str]


def _cluster(
    reports: gpd.GeoDataFrame | None,
    geometry: object,
    texts: Sequence[str],
    stop_words: Iterable[str],
) -> _Cluster:
    area: shapely.Geometry | None = None
    if geometry is not None:
        scope = as_scope(geometry)
        area = scope.to_polygon() if isinstance(scope, RadiusScope) else scope
    if reports is not None and len(reports):
        frame = validate_reports(reports)
        seqs = np.unique(frame[SEQ].to_numpy(dtype=np.int64))
        points = np.asarray(frame.geometry.array)
        lon = np.asarray(shapely.get_x(points), dtype=float)
        lat = np.asarray(shapely.get_y(points), dtype=float)
        located = ~((lon == 0.0) & (lat == 0.0))
        lon, lat = lon[located], lat[located]
        report_texts = [str(t) for t in display_titles(frame) if str(t).strip()]
    else:
        seqs = np.empty(0, dtype=np.int64)
        lon = lat = np.empty(0, dtype=float)
        report_texts = []
    centre: tuple[float, float] | None = None
    if area is not None:
        c = shapely.centroid(area)
        centre = (float(shapely.get_x(c)), float(shapely.get_y(c)))
    elif len(lon):
        centre = (float(lon.mean()), float(lat.mean()))
    words = [t for t in texts if isinstance(t, str) and t.strip()]
    stop = frozenset(stop_words)
    tokens = tokenize(" ".join([*words, *report_texts]), stop_words=stop)
    return _Cluster(seqs=seqs, area=area, lon=lon, lat=lat, centre=centre, tokens=tokens)


def _overlap(cluster: _Cluster, areas: np.ndarray) -> np.ndarray:
    """IoU with the cluster's area, else the share of cluster points inside each area."""
    n = len(areas)
    overlap = np.zeros(n, dtype=float)
    has_area = np.array([g is not None and not g.is_empty for g in areas], dtype=bool)
    if not has_area.any():
        return overlap
    present = areas[has_area]
    case_size = shapely.area(present)
    cluster_size = 0.0 if cluster.area is None else float(shapely.area(cluster.area))
    if cluster_size > 0:
        inter = shapely.area(shapely.intersection(present, cluster.area))
        union = case_size + cluster_size - inter
        overlap[has_area] = np.divide(inter, union, out=np.zeros(len(present)), where=union > 0)
    elif len(cluster.lon):
        inside = np.array(
            [np.count_nonzero(shapely.intersects_xy(g, cluster.lon, cluster.lat)) for g in present],
            dtype=float,
        )
        overlap[has_area] = inside / len(cluster.lon)
    return np.clip(overlap, 0.0, 1.0)


def _case_centres(cases: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    lon = cases["anchor_lng"].to_numpy(dtype=float).copy()
    lat = cases["anchor_lat"].to_numpy(dtype=float).copy()
    areas = np.asarray(cases.geometry.array, dtype=object)
    missing = np.isnan(lon) | np.isnan(lat)
    for k in np.flatnonzero(missing):
        area = areas[k]
        if area is not None and not area.is_empty:
            c = area.centroid
            lon[k], lat[k] = c.x, c.y
    return lon, lat


def match_cases(
    cases: gpd.GeoDataFrame,
    reports: gpd.GeoDataFrame | None = None,
    *,
    geometry: shapely.Geometry | RadiusScope | Mapping[str, Any] | str | None = None,
    texts: Sequence[str] = (),
    classification: str | None = None,
    now: pd.Timestamp | str | None = None,
    reopen_window_s: float = REOPEN_WINDOW_S,
    stop_words: Iterable[str] = DEFAULT_STOP_WORDS,
) -> list[CaseMatchCandidate]:
    """Score stored cases against a cluster and return the plausible ones, best first.

    Parameters
    ----------
    cases : geopandas.GeoDataFrame
        Candidate cases (see :func:`cases_frame`); the index is not used.
    reports : geopandas.GeoDataFrame, optional
        The cluster's reports (a report frame): their seqs, points and texts.
    geometry : shapely (multi)polygon, RadiusScope, GeoJSON mapping or str, optional
        The cluster's scope, anything :func:`cleanapp_geo.as_scope` accepts.
    texts : sequence of str, optional
        Extra match texts (a title, a summary, hypothesis titles).
    classification : str, optional
        Only cases of this classification (case-insensitive) are candidates.
    now : pandas.Timestamp or str, optional
        Reference time of the reopen window (default: the current time).
    reopen_window_s : float, default 90 days
        Resolved/closed cases updated longer ago than this are not suggested.
    stop_words : iterable of str, default DEFAULT_STOP_WORDS
        Stop words of the language signal.

    Returns
    -------
    list of CaseMatchCandidate
        Ordered by ``match_score`` and ``updated_at`` (descending), then ``case_id``.

    Raises
    ------
    InvalidCasesError
        When ``cases`` lacks a column.
    InvalidReportsError
        When ``reports`` breaks the report-frame contract.
    InvalidScopeError
        When ``geometry`` is not a valid scope.

    Examples
    --------
    >>> import cleanapp_geo as cg
    >>> from cleanapp_geo.matching import cases_frame, match_cases
    >>> cases = cases_frame([{
    ...     "case_id": "case_a", "status": "open", "title": "Loose facade bricks",
    ...     "updated_at": "2026-03-10T09:00:00Z", "anchor_lat": 47.3769,
    ...     "anchor_lng": 8.5417, "report_seqs": [101]}])
    >>> reports = cg.reports_from_records([
    ...     {"seq": 101, "ts": "2026-03-10T08:00:00Z", "latitude": 47.3769,
    ...      "longitude": 8.5417, "severity_level": 0.9, "title": "Facade bricks falling"}])
    >>> [(c.case_id, c.match_score, c.band) for c in match_cases(cases, reports)]
    [('case_a', 0.94, 'auto')]
    """
    _check_cases(cases)
    if isinstance(reopen_window_s, bool) or not (
        isinstance(reopen_window_s, int | float) and reopen_window_s >= 0
    ):
        raise InvalidCasesError(f"reopen_window_s must be a number >= 0, got {reopen_window_s!r}")
    reference = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if reference.tzinfo is None:
        raise InvalidCasesError(f"now must be timezone-aware, got {now!r}")
    cluster = _cluster(reports, geometry, texts, stop_words)
    if len(cases) == 0:
        return []
    if not isinstance(cases, gpd.GeoDataFrame):
        cases = gpd.GeoDataFrame(cases, geometry=[None] * len(cases), crs=CRS)

    status = cases["status"].astype(str).str.strip().str.lower().to_numpy(dtype=object)
    updated = pd.to_datetime(cases["updated_at"], utc=True)
    age_s = (reference.tz_convert("UTC") - updated).dt.total_seconds().to_numpy(dtype=float)
    active = np.isin(status, ACTIVE_STATUSES)
    reopen = np.isin(status, REOPENABLE_STATUSES) & (age_s <= reopen_window_s)
    eligible = active | reopen
    if classification:
        wanted = classification.strip().lower()
        eligible &= cases["classification"].astype(str).str.lower().to_numpy() == wanted
    positions = np.flatnonzero(eligible)
    if len(positions) == 0:
        return []
    sub = cases.iloc[positions]

    # Shared reports (exact, vectorised over the exploded seq lists).
    case_seqs = sub["report_seqs"].to_numpy(dtype=object)
    sizes = np.fromiter((len(s) for s in case_seqs), dtype=np.int64, count=len(sub))
    flat = np.fromiter((s for seqs in case_seqs for s in seqs), dtype=np.int64, count=sizes.sum())
    owner = np.repeat(np.arange(len(sub)), sizes)
    shared = np.bincount(owner[np.isin(flat, cluster.seqs)], minlength=len(sub))
    denominator = np.maximum(np.maximum(sizes, len(cluster.seqs)), 1)
    shared_part = _SHARED_WEIGHT * shared / denominator

    overlap = _overlap(cluster, np.asarray(sub.geometry.array, dtype=object))
    overlap_part = np.minimum(_OVERLAP_CAP, _OVERLAP_WEIGHT * overlap)

    lon, lat = _case_centres(sub)
    distance = np.full(len(sub), np.nan)
    if cluster.centre is not None:
        distance = haversine_m(
            np.full(len(sub), cluster.centre[0]), np.full(len(sub), cluster.centre[1]), lon, lat
        )
    known = ~np.isnan(distance)
    distance_part = np.zeros(len(sub))
    for limit_m, bonus, _ in reversed(_DISTANCE_STEPS):
        distance_part[known & (distance <= limit_m)] = bonus
    distance_part[known & (distance > _DISTANCE_STEPS[-1][0]) & (distance <= _FAR_STEP[0])] = (
        _FAR_STEP[1]
    )

    stop = frozenset(stop_words)
    case_text = (sub["title"].astype(str) + " " + sub["summary"].astype(str)).tolist()
    similarity = np.array(
        [_jaccard(cluster.tokens, tokenize(t, stop_words=stop)) for t in case_text]
    )
    language_part = _LANGUAGE_WEIGHT * similarity

    clusters = sub["cluster_count"].to_numpy(dtype=np.int64)
    accretion = np.where(clusters > 1, np.minimum(_ACCRETION_CAP, _ACCRETION_STEP * clusters), 0.0)

    raw = _BASE_SCORE + shared_part + overlap_part + distance_part + language_part + accretion
    score = np.minimum(1.0, raw)
    keep = (score >= _KEEP_SCORE) | (shared > 0)
    updated_ns = updated.to_numpy(dtype="datetime64[ns]").view(np.int64)[positions]
    case_ids = sub["case_id"].to_numpy(dtype=str)
    kept = np.flatnonzero(keep)
    order = kept[np.lexsort((case_ids[kept], -updated_ns[kept], -score[kept]))]
    out = []
    for k in order.tolist():
        reasons: list[str] = []
        if shared[k] > 0:
            reasons.append(f"{int(shared[k])} shared reports")
        if overlap_part[k] > 0:
            reasons.append("overlapping area")
        for limit_m, _, reason in _DISTANCE_STEPS:
            if known[k] and distance[k] <= limit_m:
                reasons.append(reason)
                break
        if similarity[k] >= _LANGUAGE_REASON_MIN:
            reasons.append("shared incident language")
        out.append(_candidate(sub.iloc[k], int(shared[k]), float(score[k]), reasons, distance[k]))
    return out


def _candidate(
    row: pd.Series,
    shared: int,
    score: float,
    reasons: list[str],
    distance: float,
) -> CaseMatchCandidate:
    status = str(row["status"]).strip().lower()
    anchor = row["anchor_report_seq"]
    lat, lng = float(row["anchor_lat"]), float(row["anchor_lng"])
    match_score = round(float(score), 12)
    return CaseMatchCandidate(
        case_id=str(row["case_id"]),
        slug=str(row["slug"]),
        title=str(row["title"]),
        status=str(row["status"]),
        classification=str(row["classification"]),
        summary=str(row["summary"]),
        geometry_json=str(row["geometry_json"]),
        aggregate_geometry_json=str(row["aggregate_geometry_json"]),
        aggregate_bbox_json=str(row["aggregate_bbox_json"]),
        anchor_report_seq=None if pd.isna(anchor) else int(anchor),
        anchor_lat=None if math.isnan(lat) else lat,
        anchor_lng=None if math.isnan(lng) else lng,
        cluster_count=int(row["cluster_count"]),
        linked_report_count=int(row["linked_report_count"]),
        shared_report_count=int(shared),
        match_score=match_score,
        match_reasons=tuple(dict.fromkeys(reasons)),
        updated_at=pd.Timestamp(row["updated_at"]).tz_convert("UTC"),
        suggested_action="reopen" if status in REOPENABLE_STATUSES else "attach",
        band=match_band(match_score),
        distance_m=None if math.isnan(distance) else float(distance),
    )


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
