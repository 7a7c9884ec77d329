"""Automatic matching of one new report to the cases near it (pure): band, case, reopen.

When a report arrives (``POST /reports``, ``cleanapp-api reports load``, ``cases rematch``)
the store looks up the cases near it and, for each, its linked reports within the
similarity model's radius gate (the case's *evidence*). :func:`match_report` scores every
case and :func:`decide_ingest` says what to do. Both are pure: a notebook gets the same
answers as the service.

Two calibrated signals
----------------------
* **Case score** -- :func:`cleanapp_geo.matching.case_scores` of the report as a cluster of
  one (upstream's signals: area, distance to the anchor, shared words), banded by the case
  calibration (:func:`cleanapp_geo.calibration.case_calibration`).
* **Evidence** -- the best :data:`~cleanapp_geo.model.DEFAULT_MODEL` pair score between the
  report and one of the case's linked reports within the radius gate: the rule that groups
  reports into incidents, asked of the case's reports. It is banded by the pair
  calibration (:func:`cleanapp_geo.calibration.pair_calibration`), whose ``auto`` band was
  cut at a held-out precision of 0.98.

A case's band is the higher of the two; its probability the higher calibrated probability.
The case score alone rarely reaches ``auto`` for a single report (it shares no report
with the case, and a tight case area adds little), so the evidence carries most decisions;
on synthetic hard-mode streams (reports of planted incidents arriving after their case
exists, :mod:`cleanapp_geo.streams`) the evidence alone attaches 95% of the incident reports
with a precision of 0.99 and puts 99% in ``auto`` or ``review``.

Statuses
--------
Active cases (:data:`~cleanapp_geo.matching.ACTIVE_STATUSES`) are matched for attaching.
Resolved or closed ones updated within ``reopen_window_s`` are matched for *recurrence*
(``suggested_action = "reopen"``): the incident may be back. Others are never matched.

Decision (:func:`decide_ingest`)
--------------------------------
Matches are ranked by band (``auto``, ``review``), then probability, then the newest
update, then ``case_id``.

1. The best active case in the ``auto`` band: **attach** the report.
2. Else, with ``auto_reopen`` and a reopenable case in the ``auto`` band: **reopen** that
   case and attach the report (a recurrence signal is recorded too).
3. Else **suggest**: every other match in ``auto`` or ``review`` (at most
   :data:`MAX_SUGGESTIONS`) becomes a suggestion a person accepts or rejects: ``attach``
   for an active case, ``reopen`` for a reopenable one, which also gets a recurrence
   signal.
4. Else **none**.

Examples
--------
>>> import pandas as pd
>>> report = ReportFacts(seq=9, longitude=8.5417, latitude=47.3769,
...     ts=pd.Timestamp("2026-03-10T09:00:00Z"), severity_level=0.8,
...     title="Loose facade bricks above school entrance")
>>> case = CaseFacts(case_id="case_a", status="open",
...     updated_at=pd.Timestamp("2026-03-10T08:00:00Z"), title="Facade bricks falling",
...     anchor_longitude=8.5417, anchor_latitude=47.3769, report_seqs=(1,))
>>> evidence = {"case_a": [ReportFacts(seq=1, longitude=8.54171, latitude=47.37691,
...     ts=pd.Timestamp("2026-03-10T07:00:00Z"), severity_level=0.9,
...     title="Facade bricks falling over school entrance")]}
>>> matches = match_report(report, [case], evidence, now="2026-03-10T10:00:00Z")
>>> decision = decide_ingest(matches)
>>> decision.action, decision.case_id, matches[0].evidence_seq
('attach', 'case_a', 1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cleanapp_geo.arrays import PairArrays
from cleanapp_geo.calibration import MatchBand, case_calibration, pair_calibration
from cleanapp_geo.case_frames import InvalidCasesError, case_area
from cleanapp_geo.errors import CleanAppGeoError
from cleanapp_geo.matching import (
    REOPEN_WINDOW_S,
    REOPENABLE_STATUSES,
    CaseScores,
    ClusterFacts,
    SuggestedAction,
    case_scores,
    eligible_statuses,
    reference_time,
)
from cleanapp_geo.model import DEFAULT_MODEL, SimilarityModel
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    CATEGORY,
    CLASSIFICATION,
    DESCRIPTION,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TITLE,
    TS,
    validate_reports,
)
from cleanapp_geo.similarity import reasons_from_bits, score_pairs

__all__ = [
    "MAX_SUGGESTIONS",
    "CaseFacts",
    "IngestAction",
    "IngestDecision",
    "InvalidIngestError",
    "ReportFacts",
    "ReportMatch",
    "assemble_matches",
    "case_bands_of",
    "decide_ingest",
    "eligible_cases",
    "eligible_cases_many",
    "evidence_bands_of",
    "match_report",
    "ranked_matches",
]

IngestAction = Literal["attach", "suggest", "none"]

#: Most suggestions one report makes.
MAX_SUGGESTIONS: Final = 3
_BAND_RANK: Final[dict[str, int]] = {"auto": 2, "review": 1, "new": 0}


class InvalidIngestError(CleanAppGeoError, ValueError):
    """A report or case given to automatic matching is malformed."""


def _timestamp(value: object, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidIngestError(f"{name} must be a timestamp, got {value!r}") from exc
    if pd.isna(ts) or ts.tzinfo is None:
        raise InvalidIngestError(f"{name} must be a timezone-aware timestamp, got {value!r}")
    return ts.tz_convert("UTC")


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What matching reads of one report (its preferred analysis' values).

    Attributes
    ----------
    seq : int
        The report.
    longitude, latitude : float
        Its point (degrees).
    ts : pandas.Timestamp
        When it was made (timezone-aware).
    severity_level : float
        In [0, 1], NaN when unknown.
    classification, brand_display_name, category : str
        "" when unknown.
    title, summary, description : str
        Its texts.
    """

    seq: int
    longitude: float
    latitude: float
    ts: pd.Timestamp
    severity_level: float = math.nan
    classification: str = ""
    brand_display_name: str = ""
    category: str = ""
    title: str = ""
    summary: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.seq, bool) or not isinstance(self.seq, int | np.integer):
            raise InvalidIngestError(f"seq must be an integer, got {self.seq!r}")
        lon, lat = self.longitude, self.latitude
        if not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
            raise InvalidIngestError(f"report {self.seq} has invalid coordinates ({lon}, {lat})")
        severity = self.severity_level
        if not (math.isnan(severity) or 0.0 <= severity <= 1.0):
            raise InvalidIngestError(
                f"report {self.seq} severity_level must lie in [0, 1], got {severity}"
            )
        object.__setattr__(self, "ts", _timestamp(self.ts, f"report {self.seq} ts"))

    @property
    def display_title(self) -> str:
        """The first non-blank of title, summary and description (upstream's rule)."""
        for text in (self.title, self.summary, self.description):
            if text.strip():
                return text
        return ""

    @classmethod
    def from_frame(cls, reports: gpd.GeoDataFrame) -> list[ReportFacts]:
        """One :class:`ReportFacts` per row of a report frame (validated here).

        Examples
        --------
        >>> import cleanapp_geo as cg
        >>> frame = cg.reports_from_records([{"seq": 1, "ts": "2026-03-10T08:00:00Z",
        ...     "latitude": 47.37, "longitude": 8.54, "severity_level": 0.5, "title": "Bin"}])
        >>> [f.title for f in ReportFacts.from_frame(frame)]
        ['Bin']
        """
        frame = validate_reports(reports)
        has_category = CATEGORY in frame.columns
        rows = zip(
            frame[SEQ].tolist(),
            shapely.get_x(frame.geometry.array).tolist(),
            shapely.get_y(frame.geometry.array).tolist(),
            frame[TS].tolist(),
            frame[SEVERITY_LEVEL].tolist(),
            frame[CLASSIFICATION].tolist(),
            frame[BRAND_DISPLAY_NAME].tolist(),
            frame[CATEGORY].tolist() if has_category else [""] * len(frame),
            frame[TITLE].tolist(),
            frame[SUMMARY].tolist(),
            frame[DESCRIPTION].tolist(),
            strict=True,
        )
        return [cls(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What matching reads of one stored case.

    Attributes
    ----------
    case_id, status : str
        The case and its status.
    updated_at : pandas.Timestamp
        Its last update (timezone-aware; the reopen window counts from it).
    classification, title, summary : str
        Its texts.
    anchor_longitude, anchor_latitude : float or None
        Its anchor report's point.
    area : shapely.Geometry or None
        Its area (aggregate geometry).
    cluster_count : int
        Its cluster count.
    report_seqs : tuple of int
        Its linked reports.
    """

    case_id: str
    status: str
    updated_at: pd.Timestamp
    classification: str = "physical"
    title: str = ""
    summary: str = ""
    anchor_longitude: float | None = None
    anchor_latitude: float | None = None
    area: shapely.Geometry | None = None
    cluster_count: int = 0
    report_seqs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.case_id:
            raise InvalidIngestError("case_id must not be empty")
        object.__setattr__(self, "status", self.status.strip().lower())
        object.__setattr__(self, "updated_at", _timestamp(self.updated_at, "updated_at"))

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CaseFacts:
        """Build from a store row (the columns of :func:`cleanapp_geo.matching.cases_frame`).

        ``geometry`` (shapely) is the area when given, else the JSON columns are read with
        :func:`cleanapp_geo.matching.case_area`.
        """
        try:
            area = record.get("geometry")
            if not isinstance(area, shapely.Geometry):
                area = case_area(
                    aggregate_geometry_json=record.get("aggregate_geometry_json"),
                    geometry_json=record.get("geometry_json"),
                    aggregate_bbox_json=record.get("aggregate_bbox_json"),
                )
            lon, lat = record.get("anchor_lng"), record.get("anchor_lat")
            return cls(
                case_id=str(record["case_id"]),
                status=str(record["status"]),
                updated_at=record["updated_at"],
                classification=str(record.get("classification") or "physical"),
                title=str(record.get("title") or ""),
                summary=str(record.get("summary") or ""),
                anchor_longitude=None if lon is None else float(lon),
                anchor_latitude=None if lat is None else float(lat),
                area=area,
                cluster_count=int(record.get("cluster_count") or 0),
                report_seqs=tuple(int(s) for s in record.get("report_seqs") or ()),
            )
        except (KeyError, TypeError, ValueError, InvalidCasesError) as exc:
            raise InvalidIngestError(f"invalid case record: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ReportMatch:
    """How well a report matches one case.

    Attributes
    ----------
    case_id, status : str
        The case.
    suggested_action : {"attach", "reopen"}
        ``reopen`` for a resolved or closed case (a recurrence).
    band : {"auto", "review", "new"}
        The higher of ``case_band`` and ``evidence_band``.
    probability : float
        The higher calibrated probability of "same incident" of the two signals.
    case_score : float
        :func:`cleanapp_geo.matching.case_scores` of the report against the case.
    case_band : {"auto", "review", "new"}
        Its band (case calibration).
    evidence_score : float
        Best pair score with one of the case's reports within the radius gate (0: none).
    evidence_band : {"auto", "review", "new"}
        Its band (pair calibration).
    evidence_seq : int or None
        That report.
    distance_m : float or None
        Distance to the case's centre (anchor, else area centroid).
    reasons : tuple of str
        Why it matched.
    updated_at : pandas.Timestamp
        The case's last update.
    """

    case_id: str
    status: str
    suggested_action: SuggestedAction
    band: MatchBand
    probability: float
    case_score: float
    case_band: MatchBand
    evidence_score: float
    evidence_band: MatchBand
    evidence_seq: int | None
    distance_m: float | None
    reasons: tuple[str, ...]
    updated_at: pd.Timestamp

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (audit payloads, suggestion rows)."""
        return {
            "case_id": self.case_id,
            "status": self.status,
            "suggested_action": self.suggested_action,
            "band": self.band,
            "probability": self.probability,
            "case_score": self.case_score,
            "case_band": self.case_band,
            "evidence_score": self.evidence_score,
            "evidence_band": self.evidence_band,
            "evidence_seq": self.evidence_seq,
            "distance_m": self.distance_m,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class IngestDecision:
    """What to do with a new report (:func:`decide_ingest`).

    Attributes
    ----------
    action : {"attach", "suggest", "none"}
        Attach it to ``case_id``, suggest it (see ``suggestions``), or nothing.
    case_id : str or None
        The case it attaches to, else the first suggestion's case.
    reopen : bool
        The case is resolved or closed and reopens now (``auto_reopen``).
    match : ReportMatch or None
        The match behind ``case_id``.
    suggestions : tuple of ReportMatch
        Matches to store as suggestions (``attach`` or ``reopen``), best first.
    signals : tuple of ReportMatch
        Recurrences: matches of resolved or closed cases that get a resolution signal.
    """

    action: IngestAction
    case_id: str | None
    reopen: bool
    match: ReportMatch | None
    suggestions: tuple[ReportMatch, ...]
    signals: tuple[ReportMatch, ...]


def _evidence_scores(
    report: ReportFacts,
    cases: Sequence[CaseFacts],
    evidence: Mapping[str, Sequence[ReportFacts]],
    model: SimilarityModel,
) -> tuple[np.ndarray, list[int | None], list[list[str]]]:
    """Best pair score (within the radius gate) per case, its report and its reasons."""
    n = len(cases)
    best = np.zeros(n)
    best_seq: list[int | None] = [None] * n
    owners: list[int] = []
    others: list[ReportFacts] = []
    for k, case in enumerate(cases):
        for other in evidence.get(case.case_id, ()):
            if other.seq != report.seq:
                owners.append(k)
                others.append(other)
    reasons: list[list[str]] = [[] for _ in range(n)]
    if not others:
        return best, best_seq, reasons
    everyone = [report, *others]
    arrays = PairArrays.from_values(
        lon=[r.longitude for r in everyone],
        lat=[r.latitude for r in everyone],
        severity=[r.severity_level for r in everyone],
        classification=[r.classification.strip().lower() for r in everyone],
        brand=[r.brand_display_name.strip() for r in everyone],
        category=[r.category.strip() for r in everyone],
        ts_ns=[r.ts.value for r in everyone],
        texts=[f"{r.title} {r.summary} {r.description}" for r in everyone],
        model=model,
    )
    j = np.arange(1, len(everyone), dtype=np.int64)
    scored = score_pairs(arrays, np.zeros(len(j), dtype=np.int64), j, model, force_text=True)
    score = np.asarray(scored["score"], dtype=float)
    if model.radius_gate_m is not None:
        score = np.where(scored["distance_m"] <= model.radius_gate_m, score, 0.0)
    for p, k in enumerate(owners):
        current = best_seq[k]
        better = (
            current is None
            or score[p] > best[k]
            or (score[p] == best[k] and others[p].seq < current)
        )
        if score[p] > 0 and better:
            best[k] = score[p]
            best_seq[k] = others[p].seq
            reasons[k] = reasons_from_bits(int(scored["reasons"][p]))
    return best, best_seq, reasons


def match_report(
    report: ReportFacts,
    cases: Sequence[CaseFacts],
    evidence: Mapping[str, Sequence[ReportFacts]],
    *,
    model: SimilarityModel = DEFAULT_MODEL,
    now: pd.Timestamp | str | None = None,
    reopen_window_s: float = REOPEN_WINDOW_S,
) -> list[ReportMatch]:
    """Score a new report against cases near it (module docstring); best first.

    Parameters
    ----------
    report : ReportFacts
        The new report.
    cases : sequence of CaseFacts
        Cases near it (the caller's indexed lookup; statuses are filtered here).
    evidence : mapping of str to sequence of ReportFacts
        ``case_id`` → its linked reports near the new one (others are harmless).
    model : SimilarityModel, default DEFAULT_MODEL
        The pair model of the evidence; its calibration is the bundled one, so keep the
        default unless you bring your own bands.
    now : pandas.Timestamp or str, optional
        Reference time of the reopen window (default: now).
    reopen_window_s : float, default 90 days
        Resolved or closed cases updated longer ago are not matched.

    Returns
    -------
    list of ReportMatch
        Every eligible case, ranked (band, probability, newest update, ``case_id``);
        ``new``-band matches included, last.

    Raises
    ------
    InvalidCasesError
        For a bad window or a naive ``now``.
    """
    reference = reference_time(now, reopen_window_s)
    eligible = eligible_cases(cases, reference, reopen_window_s)
    if not eligible:
        return []
    return ranked_matches(report, eligible, *_evidence_scores(report, eligible, evidence, model))


def eligible_cases(
    cases: Sequence[CaseFacts], reference: pd.Timestamp, reopen_window_s: float
) -> list[CaseFacts]:
    """Return the cases whose status (and, for reopenable ones, age) lets them be matched.

    The first step of :func:`match_report` (``reference`` from
    :func:`cleanapp_geo.matching.reference_time`).
    """
    if not cases:
        return []
    status = np.array([c.status for c in cases], dtype=object)
    age_s = np.array([(reference - c.updated_at).total_seconds() for c in cases], dtype=float)
    keep = np.flatnonzero(eligible_statuses(status, age_s, reopen_window_s))
    return [cases[int(k)] for k in keep]


def eligible_cases_many(
    cases: Sequence[Sequence[CaseFacts]], reference: pd.Timestamp, reopen_window_s: float
) -> list[list[CaseFacts]]:
    """Return :func:`eligible_cases` of each sequence of ``cases``, in one vectorised call."""
    flat = [c for near in cases for c in near]
    if not flat:
        return [[] for _ in cases]
    status = np.array([c.status for c in flat], dtype=object)
    age_s = np.array([(reference - c.updated_at).total_seconds() for c in flat], dtype=float)
    keep = eligible_statuses(status, age_s, reopen_window_s).tolist()
    out = []
    at = 0
    for near in cases:
        out.append([c for c, k in zip(near, keep[at : at + len(near)], strict=True) if k])
        at += len(near)
    return out


def ranked_matches(
    report: ReportFacts,
    eligible: Sequence[CaseFacts],
    evidence_score: np.ndarray,
    evidence_seq: Sequence[int | None],
    evidence_reasons: Sequence[Sequence[str]],
) -> list[ReportMatch]:
    """Band the case score and the evidence of every eligible case; rank them.

    The last step of :func:`match_report`, given each case's best evidence (score, report
    and reasons; 0, None and none when it has none).
    """
    cluster = ClusterFacts.from_points(
        [report.seq], [report.longitude], [report.latitude], [report.display_title]
    )
    scores = case_scores(
        cluster,
        report_seqs=[c.report_seqs for c in eligible],
        areas=[c.area for c in eligible],
        anchor_lon=[math.nan if c.anchor_longitude is None else c.anchor_longitude
                    for c in eligible],
        anchor_lat=[math.nan if c.anchor_latitude is None else c.anchor_latitude
                    for c in eligible],
        texts=[f"{c.title} {c.summary}" for c in eligible],
        cluster_counts=[c.cluster_count for c in eligible],
    )  # fmt: skip
    case_score, case_p, case_bands = case_bands_of(scores)
    pair_p, pair_bands = evidence_bands_of(evidence_score)
    return assemble_matches(
        eligible, scores, 0, case_score, case_p, case_bands,
        evidence_score, pair_p, pair_bands, evidence_seq, evidence_reasons,
    )  # fmt: skip


def case_bands_of(scores: CaseScores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the rounded case scores, their probabilities and bands (elementwise)."""
    case_cal = case_calibration()
    case_score = np.round(scores.score, 12)
    return case_score, case_cal.probability(case_score), case_cal.bands(case_score)


def evidence_bands_of(evidence_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities and bands of evidence scores (0: no evidence; elementwise)."""
    pair_cal = pair_calibration()
    pair_p = np.where(evidence_score > 0, pair_cal.probability(evidence_score), 0.0)
    pair_bands = np.where(evidence_score > 0, pair_cal.bands(evidence_score), "new")
    return pair_p, pair_bands


def assemble_matches(
    eligible: Sequence[CaseFacts],
    scores: CaseScores,
    offset: int,
    case_score: np.ndarray,
    case_p: np.ndarray,
    case_bands: np.ndarray,
    evidence_score: np.ndarray,
    pair_p: np.ndarray,
    pair_bands: np.ndarray,
    evidence_seq: Sequence[int | None],
    evidence_reasons: Sequence[Sequence[str]],
) -> list[ReportMatch]:
    """Build the ranked :class:`ReportMatch` list of :func:`ranked_matches` from arrays.

    ``scores`` and the case arrays hold case ``k`` of ``eligible`` at ``offset + k`` (so
    a batch keeps one set of arrays for all its reports); the evidence arrays at ``k``.
    """
    out = []
    for k, case in enumerate(eligible):
        at = offset + k
        case_band: MatchBand = case_bands[at]
        evidence_band: MatchBand = pair_bands[k]
        band = max(case_band, evidence_band, key=_BAND_RANK.__getitem__)
        reasons = scores.reasons(at)
        if evidence_seq[k] is not None:
            reasons.append(f"like report {evidence_seq[k]}")
            reasons.extend(r for r in evidence_reasons[k] if r not in reasons)
        distance = float(scores.distance_m[at])
        out.append(
            ReportMatch(
                case_id=case.case_id,
                status=case.status,
                suggested_action="reopen" if case.status in REOPENABLE_STATUSES else "attach",
                band=band,
                probability=float(max(case_p[at], pair_p[k])),
                case_score=float(case_score[at]),
                case_band=case_band,
                evidence_score=float(evidence_score[k]),
                evidence_band=evidence_band,
                evidence_seq=evidence_seq[k],
                distance_m=None if math.isnan(distance) else distance,
                reasons=tuple(dict.fromkeys(reasons)),
                updated_at=case.updated_at,
            )
        )
    out.sort(key=lambda m: (-_BAND_RANK[m.band], -m.probability, -m.updated_at.value, m.case_id))
    return out


def decide_ingest(
    matches: Iterable[ReportMatch],
    *,
    auto_reopen: bool = False,
    max_suggestions: int = MAX_SUGGESTIONS,
) -> IngestDecision:
    """Decide what happens to a new report (module docstring, "Decision").

    Parameters
    ----------
    matches : iterable of ReportMatch
        From :func:`match_report` (ranked; ranked again here).
    auto_reopen : bool, default False
        Reopen a resolved or closed case in the ``auto`` band and attach the report to it
        (else such a case only gets a reopen suggestion).
    max_suggestions : int, default MAX_SUGGESTIONS
        Most suggestions.

    Returns
    -------
    IngestDecision

    Examples
    --------
    >>> decide_ingest([]).action
    'none'
    """
    ranked = sorted(
        (m for m in matches if m.band != "new"),
        key=lambda m: (-_BAND_RANK[m.band], -m.probability, -m.updated_at.value, m.case_id),
    )
    attach = next((m for m in ranked if m.band == "auto" and m.suggested_action == "attach"), None)
    if attach is not None:
        return IngestDecision("attach", attach.case_id, False, attach, (), ())
    signals = tuple(m for m in ranked if m.suggested_action == "reopen")
    if auto_reopen:
        reopen = next((m for m in signals if m.band == "auto"), None)
        if reopen is not None:
            return IngestDecision("attach", reopen.case_id, True, reopen, (), (reopen,))
    suggestions = tuple(ranked[: max(0, max_suggestions)])
    if not suggestions:
        return IngestDecision("none", None, False, None, (), ())
    signals = tuple(m for m in signals if m in suggestions)
    first = suggestions[0]
    return IngestDecision("suggest", first.case_id, False, first, suggestions, signals)
