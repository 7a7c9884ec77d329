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

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from cleanapp_geo.arrays import haversine_m
from cleanapp_geo.calibration import case_calibration
from cleanapp_geo.case_frames import (
    CASE_COLUMNS,
    InvalidCasesError,
    case_area,
    cases_frame,
    check_cases_frame,
)
from cleanapp_geo.cases import (
    ACTIVE_STATUSES,
    REOPEN_WINDOW_S,
    REOPENABLE_STATUSES,
    eligible_statuses,
    reference_time,
)
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
    "CaseScores",
    "ClusterFacts",
    "InvalidCasesError",
    "MatchBand",
    "SuggestedAction",
    "auto_attach_score",
    "case_area",
    "case_scores",
    "cases_frame",
    "eligible_statuses",
    "match_band",
    "match_cases",
    "reference_time",
    "report_case_scores",
    "review_score",
]

MatchBand = Literal["auto", "review", "new"]
SuggestedAction = Literal["attach", "reopen"]

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


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    """What a cluster brings to matching: its reports' seqs and points, its area, its words.

    Build it with :meth:`from_reports` (a report frame, as :func:`match_cases` does) or
    :meth:`from_points` (plain values, for one report at a time).

    Attributes
    ----------
    seqs : numpy.ndarray
        Sorted distinct int64 report seqs.
    area : shapely.Geometry or None
        The cluster's scope as a (multi)polygon.
    lon, lat : numpy.ndarray
        Report points (degrees), without points at exactly (0, 0).
    centre : tuple of float or None
        ``(lon, lat)``: the centroid of the area, else the mean of the points.
    tokens : frozenset of str
        Tokens of the match texts and of each report's display title.
    """

    seqs: np.ndarray
    area: shapely.Geometry | None
    lon: np.ndarray
    lat: np.ndarray
    centre: tuple[float, float] | None
    tokens: frozenset[str]

    @classmethod
    def from_points(
        cls,
        seqs: npt.ArrayLike,
        lon: npt.ArrayLike,
        lat: npt.ArrayLike,
        titles: Sequence[str],
        *,
        geometry: object = None,
        texts: Sequence[str] = (),
        stop_words: Iterable[str] = DEFAULT_STOP_WORDS,
    ) -> ClusterFacts:
        """Build the facts from report values (``titles``: each report's display title).

        Examples
        --------
        >>> facts = ClusterFacts.from_points([7], [8.5417], [47.3769], ["Loose bricks"])
        >>> facts.centre, sorted(facts.tokens)
        ((8.5417, 47.3769), ['bricks', 'loose'])
        """
        area: shapely.Geometry | None = None
        if geometry is not None:
            scope = as_scope(geometry)
            area = scope.to_polygon() if isinstance(scope, RadiusScope) else scope
        x = np.asarray(lon, dtype=float)
        y = np.asarray(lat, dtype=float)
        located = ~((x == 0.0) & (y == 0.0))
        x, y = x[located], y[located]
        centre: tuple[float, float] | None = None
        if area is not None:
            c = shapely.centroid(area)
            centre = (float(shapely.get_x(c)), float(shapely.get_y(c)))
        elif len(x):
            centre = (float(x.mean()), float(y.mean()))
        words = [t for t in [*texts, *titles] if isinstance(t, str) and t.strip()]
        return cls(
            seqs=np.unique(np.asarray(seqs, dtype=np.int64)),
            area=area,
            lon=x,
            lat=y,
            centre=centre,
            tokens=tokenize(" ".join(words), stop_words=frozenset(stop_words)),
        )

    @classmethod
    def from_reports(
        cls,
        reports: gpd.GeoDataFrame | None,
        *,
        geometry: object = None,
        texts: Sequence[str] = (),
        stop_words: Iterable[str] = DEFAULT_STOP_WORDS,
    ) -> ClusterFacts:
        """Build the facts from a report frame (validated here), a scope and match texts."""
        if reports is None or not len(reports):
            return cls.from_points(
                [], [], [], [], geometry=geometry, texts=texts, stop_words=stop_words
            )
        frame = validate_reports(reports)
        points = np.asarray(frame.geometry.array)
        return cls.from_points(
            frame[SEQ].to_numpy(dtype=np.int64),
            shapely.get_x(points),
            shapely.get_y(points),
            [str(t) for t in display_titles(frame)],
            geometry=geometry,
            texts=[t for t in texts if isinstance(t, str)],
            stop_words=stop_words,
        )


@dataclass(frozen=True, slots=True)
class CaseScores:
    """The signals and scores of :func:`case_scores`, one entry per case.

    Attributes
    ----------
    score : numpy.ndarray
        ``match_score`` (before rounding), in [0, 1].
    shared : numpy.ndarray
        Reports both in the cluster and linked to the case.
    overlap_part : numpy.ndarray
        The area signal's contribution.
    distance_m : numpy.ndarray
        Centre distance (NaN when unknown).
    similarity : numpy.ndarray
        Jaccard similarity of the cluster's and the case's words.
    """

    score: np.ndarray
    shared: np.ndarray
    overlap_part: np.ndarray
    distance_m: np.ndarray
    similarity: np.ndarray

    def keep(self) -> np.ndarray:
        """Whether each case is a candidate: score >= 0.35 or a shared report."""
        return (self.score >= _KEEP_SCORE) | (self.shared > 0)

    def reasons(self, k: int) -> list[str]:
        """Why case ``k`` matched (the module docstring's reasons, in order)."""
        reasons: list[str] = []
        if self.shared[k] > 0:
            reasons.append(f"{int(self.shared[k])} shared reports")
        if self.overlap_part[k] > 0:
            reasons.append("overlapping area")
        distance = self.distance_m[k]
        for limit_m, _, reason in _DISTANCE_STEPS:
            if not math.isnan(distance) and distance <= limit_m:
                reasons.append(reason)
                break
        if self.similarity[k] >= _LANGUAGE_REASON_MIN:
            reasons.append("shared incident language")
        return reasons


def case_scores(
    cluster: ClusterFacts,
    *,
    report_seqs: Sequence[Sequence[int]],
    areas: Sequence[shapely.Geometry | None],
    anchor_lon: Sequence[float],
    anchor_lat: Sequence[float],
    texts: Sequence[str],
    cluster_counts: Sequence[int],
    stop_words: Iterable[str] = DEFAULT_STOP_WORDS,
) -> CaseScores:
    """Score cases against a cluster (the table of the module docstring), vectorised.

    No filter is applied (statuses, classification): :func:`match_cases` does that.

    Parameters
    ----------
    cluster : ClusterFacts
        The cluster.
    report_seqs : sequence of sequences of int
        Each case's linked report seqs.
    areas : sequence of shapely.Geometry or None
        Each case's area.
    anchor_lon, anchor_lat : sequence of float
        Each case's anchor (NaN when it has none: the centroid of its area is used).
    texts : sequence of str
        Each case's title and summary, joined.
    cluster_counts : sequence of int
        Each case's cluster count.
    stop_words : iterable of str, default DEFAULT_STOP_WORDS
        Stop words of the language signal.

    Returns
    -------
    CaseScores
    """
    n = len(texts)
    sizes = np.fromiter((len(s) for s in report_seqs), dtype=np.int64, count=n)
    flat = np.fromiter((x for seqs in report_seqs for x in seqs), dtype=np.int64, count=sizes.sum())
    owner = np.repeat(np.arange(n), sizes)
    shared = np.bincount(owner[np.isin(flat, cluster.seqs)], minlength=n)
    denominator = np.maximum(np.maximum(sizes, len(cluster.seqs)), 1)
    shared_part = _SHARED_WEIGHT * shared / denominator

    area_array = np.empty(n, dtype=object)
    area_array[:] = list(areas)
    overlap = _overlap(cluster, area_array)
    overlap_part = np.minimum(_OVERLAP_CAP, _OVERLAP_WEIGHT * overlap)

    lon, lat = _case_centres(
        np.asarray(anchor_lon, dtype=float), np.asarray(anchor_lat, dtype=float), area_array
    )
    distance = np.full(n, np.nan)
    if cluster.centre is not None:
        distance = haversine_m(
            np.full(n, cluster.centre[0]), np.full(n, cluster.centre[1]), lon, lat
        )
    stop = frozenset(stop_words)
    similarity = np.array(
        [_jaccard(cluster.tokens, tokenize(t, stop_words=stop)) for t in texts], dtype=float
    )
    return _scores(shared, shared_part, overlap_part, distance, similarity, cluster_counts)


def report_case_scores(
    report_seq: npt.ArrayLike,
    report_lon: npt.ArrayLike,
    report_lat: npt.ArrayLike,
    report_tokens: Sequence[frozenset[str]],
    *,
    report_seqs: Sequence[Sequence[int]],
    areas: Sequence[shapely.Geometry | None],
    anchor_lon: npt.ArrayLike,
    anchor_lat: npt.ArrayLike,
    case_tokens: Sequence[frozenset[str]],
    cluster_counts: npt.ArrayLike,
) -> CaseScores:
    """:func:`case_scores` of many (report, case) pairs, each report a cluster of its own.

    Entry ``p`` equals ``case_scores`` of the cluster
    ``ClusterFacts.from_points([report_seq[p]], [report_lon[p]], [report_lat[p]], [title])``
    against case ``p`` alone, for all pairs in one vectorised call (a batch of new reports
    and the cases near each of them).

    Parameters
    ----------
    report_seq, report_lon, report_lat : array-like
        Each pair's report (a report at (0, 0) has no location, as in
        :meth:`ClusterFacts.from_points`).
    report_tokens : sequence of frozenset of str
        Each pair's report words (``ClusterFacts.tokens`` of its display title).
    report_seqs, areas, anchor_lon, anchor_lat, cluster_counts
        Each pair's case, as in :func:`case_scores`.
    case_tokens : sequence of frozenset of str
        Each pair's case words: ``tokenize`` of its title and summary, joined.

    Returns
    -------
    CaseScores
        One entry per pair.
    """
    seq = np.asarray(report_seq, dtype=np.int64)
    n = len(seq)
    x = np.asarray(report_lon, dtype=float)
    y = np.asarray(report_lat, dtype=float)
    located = ~((x == 0.0) & (y == 0.0))
    sizes = np.fromiter((len(s) for s in report_seqs), dtype=np.int64, count=n)
    shared = np.fromiter(
        (_count(seqs, s) for s, seqs in zip(seq.tolist(), report_seqs, strict=True)),
        dtype=np.int64, count=n,
    )  # fmt: skip
    denominator = np.maximum(np.maximum(sizes, 1), 1)
    shared_part = _SHARED_WEIGHT * shared / denominator

    area_array = np.empty(n, dtype=object)
    area_array[:] = list(areas)
    has_area = np.array([g is not None and not g.is_empty for g in area_array], dtype=bool)
    overlap = np.zeros(n, dtype=float)
    inside = has_area & located
    if inside.any():
        hit = shapely.intersects_xy(area_array[inside], x[inside], y[inside])
        overlap[inside] = np.asarray(hit, dtype=float) / 1
    overlap = np.clip(overlap, 0.0, 1.0)
    overlap_part = np.minimum(_OVERLAP_CAP, _OVERLAP_WEIGHT * overlap)

    lon, lat = _case_centres(
        np.asarray(anchor_lon, dtype=float), np.asarray(anchor_lat, dtype=float), area_array
    )
    distance = np.full(n, np.nan)
    if located.any():
        distance[located] = haversine_m(x[located], y[located], lon[located], lat[located])
    similarity = np.array(
        [_jaccard(a, b) for a, b in zip(report_tokens, case_tokens, strict=True)], dtype=float
    )
    return _scores(shared, shared_part, overlap_part, distance, similarity, cluster_counts)


def _scores(
    shared: np.ndarray,
    shared_part: np.ndarray,
    overlap_part: np.ndarray,
    distance: np.ndarray,
    similarity: np.ndarray,
    cluster_counts: npt.ArrayLike,
) -> CaseScores:
    """Add the distance, language and accretion parts to the shared and overlap parts."""
    known = ~np.isnan(distance)
    distance_part = np.zeros(len(distance))
    for limit_m, bonus, _ in reversed(_DISTANCE_STEPS):
        distance_part[known & (distance <= limit_m)] = bonus
    distance_part[known & (distance > _DISTANCE_STEPS[-1][0]) & (distance <= _FAR_STEP[0])] = (
        _FAR_STEP[1]
    )
    language_part = _LANGUAGE_WEIGHT * similarity
    clusters = np.asarray(cluster_counts, dtype=np.int64)
    accretion = np.where(clusters > 1, np.minimum(_ACCRETION_CAP, _ACCRETION_STEP * clusters), 0.0)
    raw = _BASE_SCORE + shared_part + overlap_part + distance_part + language_part + accretion
    return CaseScores(
        score=np.minimum(1.0, raw),
        shared=shared,
        overlap_part=overlap_part,
        distance_m=distance,
        similarity=similarity,
    )


def _overlap(cluster: ClusterFacts, areas: np.ndarray) -> np.ndarray:
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


def _case_centres(
    lon: np.ndarray, lat: np.ndarray, areas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Anchors, else the centroids of the areas (NaN when neither)."""
    lon, lat = lon.copy(), lat.copy()
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
    check_cases_frame(cases)
    reference = reference_time(now, reopen_window_s)
    cluster = ClusterFacts.from_reports(
        reports, geometry=geometry, texts=texts, stop_words=stop_words
    )
    if len(cases) == 0:
        return []
    if not isinstance(cases, gpd.GeoDataFrame):
        cases = gpd.GeoDataFrame(cases, geometry=[None] * len(cases), crs=CRS)

    status = cases["status"].astype(str).str.strip().str.lower().to_numpy(dtype=object)
    updated = pd.to_datetime(cases["updated_at"], utc=True)
    age_s = (reference - updated).dt.total_seconds().to_numpy(dtype=float)
    eligible = eligible_statuses(status, age_s, reopen_window_s)
    if classification:
        wanted = classification.strip().lower()
        eligible &= cases["classification"].astype(str).str.lower().to_numpy() == wanted
    positions = np.flatnonzero(eligible)
    if len(positions) == 0:
        return []
    sub = cases.iloc[positions]
    scores = case_scores(
        cluster,
        report_seqs=sub["report_seqs"].tolist(),
        areas=list(sub.geometry.array),
        anchor_lon=sub["anchor_lng"].to_numpy(dtype=float),
        anchor_lat=sub["anchor_lat"].to_numpy(dtype=float),
        texts=(sub["title"].astype(str) + " " + sub["summary"].astype(str)).tolist(),
        cluster_counts=sub["cluster_count"].to_numpy(dtype=np.int64),
        stop_words=stop_words,
    )
    updated_ns = updated.to_numpy(dtype="datetime64[ns]").view(np.int64)[positions]
    case_ids = sub["case_id"].to_numpy(dtype=str)
    kept = np.flatnonzero(scores.keep())
    order = kept[np.lexsort((case_ids[kept], -updated_ns[kept], -scores.score[kept]))]
    return [
        _candidate(
            sub.iloc[k],
            int(scores.shared[k]),
            float(scores.score[k]),
            scores.reasons(k),
            float(scores.distance_m[k]),
        )
        for k in order.tolist()
    ]


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


def _count(values: Sequence[int], value: int) -> int:
    """How often ``value`` is in ``values`` (a tuple or list; else any array-like)."""
    if isinstance(values, tuple | list):
        return values.count(value)
    return int(np.count_nonzero(np.asarray(values, dtype=np.int64) == value))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
