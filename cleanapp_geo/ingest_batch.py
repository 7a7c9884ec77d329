"""Many new reports matched in order: a file, a re-match run, or one report at a time.

:func:`match_batch` answers what :func:`cleanapp_geo.ingest.match_report` and
:func:`cleanapp_geo.ingest.decide_ingest` answer for each report in turn, when a report
decided ``attach`` becomes evidence of its case for the later ones -- but scores the
reports' pairs with their cases' stored evidence in one vectorised call and tokenises every
text once. :class:`BatchMatcher` is the same for a store that applies each decision before
the next (``POST /reports``, ``cleanapp-api reports load``, ``cases rematch``): it is told
what was linked and how the case looks now, so the later reports see what they would see
arriving one after the other.

:func:`unlinked_groups` asks the other question of a re-match: are reports that no case
took one incident among themselves? It groups them with :func:`cleanapp_geo.analyze`
(connected components of the model's edges, so one new report can bridge two earlier
ones that are no edge of each other).

Examples
--------
>>> import pandas as pd
>>> from cleanapp_geo.ingest import CaseFacts, ReportFacts
>>> case = CaseFacts(case_id="case_a", status="open",
...     updated_at=pd.Timestamp("2026-03-10T08:00:00Z"), title="Facade bricks falling",
...     anchor_longitude=8.5417, anchor_latitude=47.3769, report_seqs=(1,))
>>> first = ReportFacts(seq=1, longitude=8.54171, latitude=47.37691,
...     ts=pd.Timestamp("2026-03-10T07:00:00Z"), severity_level=0.9,
...     title="Facade bricks falling over school entrance")
>>> new = [ReportFacts(seq=s, longitude=8.5417, latitude=47.3769,
...     ts=pd.Timestamp(f"2026-03-10T0{s}:00:00Z"), severity_level=0.8,
...     title="Loose facade bricks above school entrance") for s in (8, 9)]
>>> batch = match_batch(new, [[case], [case]], {"case_a": [first]},
...     now="2026-03-10T10:00:00Z")
>>> [(b.decision.action, b.matches[0].evidence_seq) for b in batch]
[('attach', 1), ('attach', 8)]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cleanapp_geo.analysis import analyze
from cleanapp_geo.arrays import PairArrays
from cleanapp_geo.ingest import (
    MAX_SUGGESTIONS,
    CaseFacts,
    IngestDecision,
    InvalidIngestError,
    ReportFacts,
    ReportMatch,
    assemble_matches,
    case_bands_of,
    decide_ingest,
    eligible_cases_many,
    evidence_bands_of,
)
from cleanapp_geo.matching import (
    REOPEN_WINDOW_S,
    CaseScores,
    reference_time,
    report_case_scores,
)
from cleanapp_geo.model import DEFAULT_MODEL, SimilarityModel
from cleanapp_geo.reports import reports_from_records
from cleanapp_geo.similarity import reasons_from_bits, score_pairs
from cleanapp_geo.text import DEFAULT_STOP_WORDS, tokenize

__all__ = ["BatchDecision", "BatchMatcher", "ReportGroup", "match_batch", "unlinked_groups"]


@dataclass(frozen=True, slots=True)
class BatchDecision:
    """One report's matches and decision in :func:`match_batch`.

    Attributes
    ----------
    report : ReportFacts
        The report.
    matches : tuple of ReportMatch
        What :func:`match_report` answers for it.
    decision : IngestDecision
        What :func:`decide_ingest` makes of them.
    """

    report: ReportFacts
    matches: tuple[ReportMatch, ...]
    decision: IngestDecision


def _best_evidence(
    score: np.ndarray, seq: np.ndarray, key: np.ndarray, n_keys: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per key: the best positive score, ties to the smaller seq (-1: none), vectorised."""
    best = np.zeros(n_keys)
    best_at = np.full(n_keys, -1, dtype=np.int64)
    positive = np.flatnonzero(score > 0)
    if len(positive):
        order = positive[np.lexsort((seq[positive], -score[positive], key[positive]))]
        first = np.r_[True, key[order][1:] != key[order][:-1]]
        chosen = order[first]
        best[key[chosen]] = score[chosen]
        best_at[key[chosen]] = chosen
    return best, best_at


class BatchMatcher:
    """Decide many new reports in order, while the caller applies each decision.

    :func:`match_batch` for callers that store what they decide: ask :meth:`decide` for
    each report in order, apply it, and tell :meth:`attached` when a report was linked
    (with the case's facts as they are now, when :meth:`needed_later` says a later report
    of the batch looks at that case). The later reports then see the report as evidence
    and the case as it is after the link, as they would arriving one after the other.

    The pair scores of the reports with their cases' stored evidence are computed in one
    vectorised call when the matcher is made, texts tokenised once; pairs with reports
    attached during the batch are scored when a report needs them.

    Parameters
    ----------
    reports : sequence of ReportFacts
        The new reports, in arrival order.
    cases : sequence of sequences of CaseFacts
        The cases near each report (the caller's indexed lookup), one sequence per report.
    evidence : mapping of str to sequence of ReportFacts
        ``case_id`` → its linked reports near the new ones.
    model, now, reopen_window_s
        As in :func:`match_report`.
    auto_reopen, max_suggestions
        As in :func:`decide_ingest`.

    Raises
    ------
    InvalidIngestError
        When ``cases`` does not hold one entry per report.
    """

    def __init__(
        self,
        reports: Sequence[ReportFacts],
        cases: Sequence[Sequence[CaseFacts]],
        evidence: Mapping[str, Sequence[ReportFacts]],
        *,
        model: SimilarityModel = DEFAULT_MODEL,
        now: pd.Timestamp | str | None = None,
        reopen_window_s: float = REOPEN_WINDOW_S,
        auto_reopen: bool = False,
        max_suggestions: int = MAX_SUGGESTIONS,
    ) -> None:
        if len(cases) != len(reports):
            raise InvalidIngestError(
                f"cases must hold one sequence per report: {len(cases)} for {len(reports)} reports"
            )
        self.reports = list(reports)
        self._model = model
        self._auto_reopen = auto_reopen
        self._max_suggestions = max_suggestions
        reference = reference_time(now, reopen_window_s)
        self._eligible = eligible_cases_many(cases, reference, reopen_window_s)
        self._last_look: dict[str, int] = {}  # case_id → last report that looks at it
        for i, near in enumerate(self._eligible):
            for case in near:
                self._last_look[case.case_id] = i
        self._facts: dict[str, CaseFacts] = {}  # case facts refreshed during the batch
        self._added: dict[str, list[int]] = {}  # case_id → positions attached in the batch
        # Every report once: the batch, then the evidence (a seq stands for one report).
        self._position: dict[int, int] = {}
        self._everyone: list[ReportFacts] = []
        for fact in [*self.reports, *(e for group in evidence.values() for e in group)]:
            if fact.seq not in self._position:
                self._position[fact.seq] = len(self._everyone)
                self._everyone.append(fact)
        # (report, case) keys and their stored-evidence pairs.
        self._key_start = np.zeros(len(self.reports) + 1, dtype=np.int64)
        left: list[int] = []
        right: list[int] = []
        owner: list[int] = []
        key = 0
        for i, (report, near) in enumerate(zip(self.reports, self._eligible, strict=True)):
            self._key_start[i] = key
            for case in near:
                for other in evidence.get(case.case_id, ()):
                    if other.seq != report.seq:
                        left.append(self._position[report.seq])
                        right.append(self._position[other.seq])
                        owner.append(key)
                key += 1
        self._key_start[len(self.reports)] = key
        self._key_case = [case.case_id for near in self._eligible for case in near]
        self._case_keys: dict[str, list[int]] = {}
        self._dirty = np.zeros(key, dtype=bool)
        if not key:
            # No report has a case to match (e.g. one report far from every case; 18 % of
            # the ingests of the ingest benchmark): every decision is "none", so nothing
            # is scored or tokenised.
            return
        everyone = self._everyone
        self._arrays = PairArrays.from_values(
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
        score, self._bits = self._scored(left, right)
        self._right_seq = np.array([everyone[p].seq for p in right], dtype=np.int64)
        self._best, self._best_at = _best_evidence(
            score, self._right_seq, np.asarray(owner, dtype=np.int64), key
        )
        self._pair_p, self._pair_bands = evidence_bands_of(self._best)
        # The case scores of every (report, case) key in one call; a key whose case was
        # refreshed during the batch is scored again before its report is decided.
        self._key_report = np.repeat(np.arange(len(self.reports)), np.diff(self._key_start))
        for k, case_id in enumerate(self._key_case):
            self._case_keys.setdefault(case_id, []).append(k)
        stop = frozenset(DEFAULT_STOP_WORDS)
        self._report_tokens = [
            tokenize(r.display_title if r.display_title.strip() else "", stop_words=stop)
            for r in self.reports
        ]
        self._case_tokens: dict[str, frozenset[str]] = {}
        self._scores = self._case_scores(np.arange(key))
        self._case_score, self._case_p, self._case_bands = case_bands_of(self._scores)

    def __len__(self) -> int:
        return len(self.reports)

    def _scored(self, i: Sequence[int], j: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        result = score_pairs(
            self._arrays, np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64),
            self._model, force_text=True,
        )  # fmt: skip
        score = np.asarray(result["score"], dtype=float)
        if self._model.radius_gate_m is not None:
            score = np.where(result["distance_m"] <= self._model.radius_gate_m, score, 0.0)
        return score, np.asarray(result["reasons"])

    def _case_scores(self, keys: np.ndarray) -> CaseScores:
        """:func:`report_case_scores` of ``keys`` with the cases' current facts."""
        reports = [self.reports[r] for r in self._key_report[keys].tolist()]
        cases = [self._facts.get(self._key_case[k]) or self._case_at(k) for k in keys.tolist()]
        texts = [f"{c.title} {c.summary}" for c in cases]
        stop = frozenset(DEFAULT_STOP_WORDS)
        for text in texts:
            if text not in self._case_tokens:
                self._case_tokens[text] = tokenize(text, stop_words=stop)
        return report_case_scores(
            [r.seq for r in reports],
            [r.longitude for r in reports],
            [r.latitude for r in reports],
            [self._report_tokens[r] for r in self._key_report[keys].tolist()],
            report_seqs=[c.report_seqs for c in cases],
            areas=[c.area for c in cases],
            anchor_lon=[math.nan if c.anchor_longitude is None else c.anchor_longitude
                        for c in cases],
            anchor_lat=[math.nan if c.anchor_latitude is None else c.anchor_latitude
                        for c in cases],
            case_tokens=[self._case_tokens[t] for t in texts],
            cluster_counts=[c.cluster_count for c in cases],
        )  # fmt: skip

    def _case_at(self, k: int) -> CaseFacts:
        i = int(self._key_report[k])
        return self._eligible[i][k - int(self._key_start[i])]

    def _rescore(self, lo: int) -> None:
        """Score again, in one call, every key from ``lo`` on whose case was refreshed."""
        self._dirty[:lo] = False
        keys = np.flatnonzero(self._dirty)
        self._dirty[:] = False
        fresh = self._case_scores(keys)
        for name in ("score", "shared", "overlap_part", "distance_m", "similarity"):
            getattr(self._scores, name)[keys] = getattr(fresh, name)
        score, p, bands = case_bands_of(fresh)
        self._case_score[keys], self._case_p[keys], self._case_bands[keys] = score, p, bands

    def decide(self, i: int) -> BatchDecision:
        """Match and decide report ``i`` (call in order, after applying the earlier ones)."""
        report = self.reports[i]
        near = [self._facts.get(c.case_id, c) for c in self._eligible[i]]
        options = {"auto_reopen": self._auto_reopen, "max_suggestions": self._max_suggestions}
        if not near:
            return BatchDecision(report, (), decide_ingest((), **options))  # type: ignore[arg-type]
        lo, hi = int(self._key_start[i]), int(self._key_start[i + 1])
        if self._dirty[lo:hi].any():
            self._rescore(lo)
        ev_score = self._best[lo:hi].copy()
        ev_changed = False
        ev_seq: list[int | None] = [None] * len(near)
        ev_reasons: list[list[str]] = [[] for _ in near]
        for k, at in enumerate(self._best_at[lo:hi].tolist()):
            if at >= 0:
                ev_seq[k] = int(self._right_seq[at])
                ev_reasons[k] = reasons_from_bits(int(self._bits[at]))
        fresh = [
            (k, p)
            for k, case in enumerate(near)
            for p in self._added.get(case.case_id, ())
            if self._everyone[p].seq != report.seq
        ]
        if fresh:  # reports attached earlier in the batch: one call for all their pairs
            more, bits = self._scored(
                [self._position[report.seq]] * len(fresh), [p for _, p in fresh]
            )
            for (k, p), s, b in zip(fresh, more.tolist(), bits.tolist(), strict=True):
                seq, current = self._everyone[p].seq, ev_seq[k]
                if s > 0 and (
                    current is None or s > ev_score[k] or (s == ev_score[k] and seq < current)
                ):
                    ev_score[k], ev_seq[k], ev_reasons[k] = s, seq, reasons_from_bits(int(b))
                    ev_changed = True
        if ev_changed:
            pair_p, pair_bands = evidence_bands_of(ev_score)
        else:
            pair_p, pair_bands = self._pair_p[lo:hi], self._pair_bands[lo:hi]
        matches = assemble_matches(
            near, self._scores, lo, self._case_score, self._case_p, self._case_bands,
            ev_score, pair_p, pair_bands, ev_seq, ev_reasons,
        )  # fmt: skip
        decision = decide_ingest(matches, **options)  # type: ignore[arg-type]
        return BatchDecision(report, tuple(matches), decision)

    def needed_later(self, i: int, case_id: str) -> bool:
        """Whether a report after ``i`` may match ``case_id`` (then refresh its facts)."""
        return self._last_look.get(case_id, -1) > i

    def attached(self, i: int, case_id: str, facts: CaseFacts | None = None) -> None:
        """Record that report ``i`` was linked to ``case_id`` (and the case's new facts)."""
        self._added.setdefault(case_id, []).append(self._position[self.reports[i].seq])
        if facts is not None:
            self._facts[case_id] = facts
            later = [k for k in self._case_keys.get(case_id, ()) if k >= self._key_start[i + 1]]
            self._dirty[later] = True


def match_batch(
    reports: Sequence[ReportFacts],
    cases: Sequence[Sequence[CaseFacts]],
    evidence: Mapping[str, Sequence[ReportFacts]],
    *,
    model: SimilarityModel = DEFAULT_MODEL,
    now: pd.Timestamp | str | None = None,
    reopen_window_s: float = REOPEN_WINDOW_S,
    auto_reopen: bool = False,
    max_suggestions: int = MAX_SUGGESTIONS,
) -> list[BatchDecision]:
    """Match and decide many new reports in order, as one report after the other would.

    The answer equals calling :func:`match_report` and :func:`decide_ingest` for each
    report in turn, where a report decided ``attach`` becomes evidence of its case for the
    later reports (the cases' other facts stay as given; :class:`BatchMatcher` lets a
    store refresh them). The stored-evidence pairs are scored in one vectorised call.

    Parameters
    ----------
    reports, cases, evidence, model, now, reopen_window_s, auto_reopen, max_suggestions
        As in :class:`BatchMatcher`.

    Returns
    -------
    list of BatchDecision
        One per report, in order.

    Raises
    ------
    InvalidIngestError
        When ``cases`` does not hold one entry per report.
    """
    matcher = BatchMatcher(
        reports, cases, evidence, model=model, now=now, reopen_window_s=reopen_window_s,
        auto_reopen=auto_reopen, max_suggestions=max_suggestions,
    )  # fmt: skip
    out = []
    for i in range(len(matcher)):
        item = matcher.decide(i)
        if item.decision.action == "attach" and item.decision.case_id is not None:
            matcher.attached(i, item.decision.case_id)
        out.append(item)
    return out


@dataclass(frozen=True, slots=True)
class ReportGroup:
    """Reports without a case that are one incident (:func:`unlinked_groups`).

    Attributes
    ----------
    report_seqs : tuple of int
        Sorted.
    confidence : float
        The hypothesis' confidence.
    title : str
        Its title.
    rationale : tuple of str
        Why its reports belong together.
    """

    report_seqs: tuple[int, ...]
    confidence: float
    title: str
    rationale: tuple[str, ...]

    @property
    def key(self) -> str:
        """SHA-256 hex of the sorted seqs: one suggestion per group of reports."""
        text = ",".join(str(s) for s in self.report_seqs)
        return hashlib.sha256(text.encode()).hexdigest()


def unlinked_groups(
    reports: Sequence[ReportFacts],
    *,
    focus: Sequence[int] | None = None,
    model: SimilarityModel = DEFAULT_MODEL,
    min_reports: int = 2,
) -> list[ReportGroup]:
    """Group reports that no case took into incidents; those holding a ``focus`` report.

    Parameters
    ----------
    reports : sequence of ReportFacts
        The unlinked reports of a neighbourhood (give every report within the model's
        radius gate of the focus reports: a group is only as complete as its input).
    focus : sequence of int, optional
        Keep the groups holding at least one of these seqs (default: all groups).
    model : SimilarityModel, default DEFAULT_MODEL
        The grouping model.
    min_reports : int, default 2
        Smallest group kept.

    Returns
    -------
    list of ReportGroup
        In :func:`cleanapp_geo.analyze`'s order.

    Examples
    --------
    >>> import pandas as pd
    >>> def bin_report(seq, north_m):
    ...     return ReportFacts(seq=seq, longitude=8.5417, latitude=47.3769 + north_m / 111_195,
    ...         ts=pd.Timestamp("2026-03-10T08:00:00Z") + pd.Timedelta(hours=seq),
    ...         severity_level=0.6, title="Overflowing trash bin at the tram stop")
    >>> [g.report_seqs for g in unlinked_groups([bin_report(1, 0), bin_report(2, 20)])]
    [(1, 2)]
    """
    if len(reports) < min_reports:
        return []
    frame = reports_from_records(
        [
            {
                "seq": r.seq, "ts": r.ts, "latitude": r.latitude, "longitude": r.longitude,
                "severity_level": r.severity_level, "classification": r.classification or None,
                "brand_display_name": r.brand_display_name, "title": r.title,
                "summary": r.summary, "description": r.description,
            }
            for r in reports
        ]
    )  # fmt: skip
    wanted = None if focus is None else {int(s) for s in focus}
    groups = []
    for h in analyze(frame, model=model).iter_hypotheses(min_reports=min_reports):
        seqs = tuple(sorted(int(s) for s in h.report_seqs))
        if wanted is None or wanted.intersection(seqs):
            groups.append(ReportGroup(seqs, float(h.confidence), h.title, tuple(h.rationale)))
    return groups
