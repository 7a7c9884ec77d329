"""Synthetic report streams: planted incidents whose cases exist, and reports arriving later.

The quality floors of automatic matching are measured on these streams (the library here,
the service in ``python -m benchmarks ingest``):

* :func:`synthetic_stream` draws a synthetic city (:func:`cleanapp_geo.make_reports`), makes
  one open case of the earlier half of every planted incident of at least two reports (its
  anchor the most severe report, its title and summary the anchor's, its area the
  footprint of :func:`cleanapp_geo.footprint.case_footprint`: a case made from reports
  alone), and streams the later half of every incident mixed with as many background
  reports, in time order.
* :func:`run_stream` feeds the stream through :func:`cleanapp_geo.ingest.match_report` and
  :func:`cleanapp_geo.ingest.decide_ingest` one report at a time, attaching as it goes
  (an attached report becomes evidence of its case, as in the store), with cases looked
  up within :data:`~cleanapp_geo.matching.MATCH_RADIUS_M` of the report.
* :func:`stream_quality` scores the decisions: the precision of the ``auto`` attaches and
  the share of incident reports attached to, or suggested for, their incident's case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
from scipy.spatial import cKDTree

from cleanapp_geo.arrays import sphere_xyz
from cleanapp_geo.footprint import case_footprint
from cleanapp_geo.ingest import (
    CaseFacts,
    IngestDecision,
    ReportFacts,
    decide_ingest,
    match_report,
)
from cleanapp_geo.matching import MATCH_RADIUS_M
from cleanapp_geo.model import DEFAULT_MODEL, SimilarityModel
from cleanapp_geo.synthetic import INCIDENT_ID, make_reports

__all__ = [
    "StreamResult",
    "SyntheticStream",
    "run_stream",
    "stream_quality",
    "synthetic_stream",
]


@dataclass(frozen=True, slots=True)
class SyntheticStream:
    """A synthetic store of open cases and the reports that arrive after them.

    Attributes
    ----------
    reports : geopandas.GeoDataFrame
        Every report of the city (with ``incident_id``).
    facts : list of ReportFacts
        One per row of ``reports``, in row order.
    cases : list of CaseFacts
        One open case per planted incident of at least two reports.
    case_incident : dict of str to int
        Each case's incident.
    stream : numpy.ndarray
        Row positions of the arriving reports, in time order.
    """

    reports: gpd.GeoDataFrame
    facts: list[ReportFacts]
    cases: list[CaseFacts]
    case_incident: dict[str, int]
    stream: np.ndarray

    @property
    def truth(self) -> np.ndarray:
        """Incident of every arriving report (-1 for background)."""
        return self.reports[INCIDENT_ID].to_numpy()[self.stream]


def synthetic_stream(
    n_reports: int,
    *,
    seed: int = 0,
    mode: str = "hard",
    background_per_incident_report: float = 1.0,
    start_seq: int = 1,
    **make_kwargs: Any,
) -> SyntheticStream:
    """Draw a city, make cases of the early incident reports and stream the rest (module docs).

    Parameters
    ----------
    n_reports : int
        Size of the city.
    seed : int, default 0
        Seed of the city and of the background sample.
    mode : {"easy", "hard"}, default "hard"
        :func:`cleanapp_geo.make_reports` mode.
    background_per_incident_report : float, default 1.0
        Background reports streamed per streamed incident report (sampled without
        replacement, at most all of them).
    start_seq : int, default 1
        Smallest ``seq``.
    **make_kwargs
        More options of :func:`cleanapp_geo.make_reports`.

    Returns
    -------
    SyntheticStream

    Examples
    --------
    >>> s = synthetic_stream(2_000, seed=3)
    >>> len(s.cases) > 0 and len(s.stream) > 0
    True
    """
    frame = make_reports(n_reports, seed=seed, mode=mode, start_seq=start_seq, **make_kwargs)  # type: ignore[arg-type]
    facts = ReportFacts.from_frame(frame)
    incident = frame[INCIDENT_ID].to_numpy()
    ts_ns = np.array([f.ts.value for f in facts], dtype=np.int64)
    seqs = np.array([f.seq for f in facts], dtype=np.int64)
    members: dict[int, list[int]] = {}
    for pos in np.lexsort((seqs, ts_ns)).tolist():
        if incident[pos] >= 0:
            members.setdefault(int(incident[pos]), []).append(pos)
    cases: list[CaseFacts] = []
    case_incident: dict[str, int] = {}
    arriving: list[int] = []
    for inc, positions in members.items():
        if len(positions) < 2:
            continue
        half = (len(positions) + 1) // 2
        case = _case_of(f"case_{seed}_{inc}", [facts[p] for p in positions[:half]])
        cases.append(case)
        case_incident[case.case_id] = inc
        arriving.extend(positions[half:])
    rng = np.random.default_rng(seed + 104_729)
    background = np.flatnonzero(incident < 0)
    n_background = min(len(background), round(background_per_incident_report * len(arriving)))
    arriving.extend(rng.choice(background, size=n_background, replace=False).tolist())
    stream = np.array(sorted(arriving, key=lambda p: (ts_ns[p], seqs[p])), dtype=np.int64)
    return SyntheticStream(frame, facts, cases, case_incident, stream)


def _case_of(case_id: str, reports: Sequence[ReportFacts]) -> CaseFacts:
    anchor = max(reports, key=lambda r: (r.severity_level, r.ts.value, -r.seq))
    footprint = case_footprint([], [r.longitude for r in reports], [r.latitude for r in reports])
    return CaseFacts(
        case_id=case_id,
        status="open",
        updated_at=max(r.ts for r in reports),
        classification=anchor.classification or "physical",
        title=anchor.title,
        summary=anchor.summary,
        anchor_longitude=anchor.longitude,
        anchor_latitude=anchor.latitude,
        area=footprint.area,
        cluster_count=0,
        report_seqs=tuple(sorted(r.seq for r in reports)),
    )


@dataclass
class StreamResult:
    """Decisions of :func:`run_stream`, one per arriving report (in stream order)."""

    decisions: list[IngestDecision] = field(default_factory=list)
    candidates: list[int] = field(default_factory=list)


def run_stream(
    stream: SyntheticStream,
    *,
    model: SimilarityModel = DEFAULT_MODEL,
    auto_reopen: bool = False,
    limit: int | None = None,
) -> StreamResult:
    """Match the arriving reports one by one, attaching as the service does.

    Parameters
    ----------
    stream : SyntheticStream
        From :func:`synthetic_stream`.
    model : SimilarityModel, default DEFAULT_MODEL
        Pair model of the evidence.
    auto_reopen : bool, default False
        Passed to :func:`cleanapp_geo.ingest.decide_ingest`.
    limit : int, optional
        Only the first ``limit`` arriving reports.

    Returns
    -------
    StreamResult
    """
    facts = stream.facts
    xyz = sphere_xyz(np.array([f.longitude for f in facts]), np.array([f.latitude for f in facts]))
    seq_pos = {f.seq: p for p, f in enumerate(facts)}
    cases = {c.case_id: c for c in stream.cases}
    members = {c.case_id: [seq_pos[s] for s in c.report_seqs] for c in stream.cases}
    owner: dict[int, list[str]] = {}
    for case_id, positions in members.items():
        for p in positions:
            owner.setdefault(p, []).append(case_id)
    linked = sorted(owner)
    tree = cKDTree(xyz[linked]) if linked else None
    added: list[int] = []  # positions linked during the run (searched linearly)
    result = StreamResult()
    order = stream.stream if limit is None else stream.stream[:limit]
    for pos in order.tolist():
        report = facts[pos]
        near: set[int] = set()
        if tree is not None:
            near.update(linked[k] for k in tree.query_ball_point(xyz[pos], MATCH_RADIUS_M))
        if added:
            d = np.linalg.norm(xyz[added] - xyz[pos], axis=1)
            near.update(added[k] for k in np.flatnonzero(d <= MATCH_RADIUS_M))
        case_ids = sorted({c for p in near for c in owner[p]})
        gate = model.radius_gate_m or MATCH_RADIUS_M
        evidence = {
            c: [facts[p] for p in members[c] if np.linalg.norm(xyz[p] - xyz[pos]) <= gate]
            for c in case_ids
        }
        matches = match_report(
            report, [cases[c] for c in case_ids], evidence, model=model, now=report.ts
        )
        decision = decide_ingest(matches, auto_reopen=auto_reopen)
        result.decisions.append(decision)
        result.candidates.append(len(case_ids))
        if decision.action == "attach" and decision.case_id is not None:
            case_id = decision.case_id
            members[case_id].append(pos)
            owner.setdefault(pos, []).append(case_id)
            added.append(pos)
            case = cases[case_id]
            cases[case_id] = CaseFacts(
                case_id=case.case_id,
                status="open",
                updated_at=max(case.updated_at, report.ts),
                classification=case.classification,
                title=case.title,
                summary=case.summary,
                anchor_longitude=case.anchor_longitude,
                anchor_latitude=case.anchor_latitude,
                area=case.area,
                cluster_count=case.cluster_count,
                report_seqs=(*case.report_seqs, report.seq),
            )
    return result


def stream_quality(stream: SyntheticStream, result: StreamResult) -> dict[str, float]:
    """Quality of the decisions of :func:`run_stream`.

    Returns
    -------
    dict
        ``reports``, ``incident_reports``, ``attached``, ``suggested``;
        ``auto_precision`` (attaches to the report's own incident's case / attaches; NaN
        without attaches); ``incident_attached`` and ``incident_attached_or_suggested``
        (shares of the incident reports whose own case got them); ``background_attached``
        (share of the background reports attached anywhere).
    """
    truth = stream.truth[: len(result.decisions)]
    own = [stream.case_incident.get(d.case_id or "", -2) for d in result.decisions]
    attached = np.array([d.action == "attach" for d in result.decisions], dtype=bool)
    suggested_own = np.array(
        [
            any(stream.case_incident.get(m.case_id) == t for m in d.suggestions)
            for d, t in zip(result.decisions, truth, strict=True)
        ],
        dtype=bool,
    )
    correct = attached & (np.array(own) == truth)
    incident = truth >= 0
    n_incident = int(incident.sum())
    n_background = int((~incident).sum())
    return {
        "reports": float(len(truth)),
        "incident_reports": float(n_incident),
        "attached": float(attached.sum()),
        "suggested": float(sum(d.action == "suggest" for d in result.decisions)),
        "auto_precision": float(correct.sum() / attached.sum()) if attached.any() else np.nan,
        "incident_attached": float(correct[incident].sum() / n_incident) if n_incident else np.nan,
        "incident_attached_or_suggested": float(
            (correct | suggested_own)[incident].sum() / n_incident
        )
        if n_incident
        else np.nan,
        "background_attached": float(attached[~incident].sum() / n_background)
        if n_background
        else np.nan,
        "mean_candidates": float(np.mean(result.candidates)) if result.candidates else 0.0,
    }
