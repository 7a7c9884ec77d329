"""Group scored edges into incident hypotheses and summarise a scope.

Groups come from :func:`cleanapp_geo.grouping.group_labels` (connected components of the
edge graph, as upstream, or average linkage), singletons included. Within a group the
reports are ordered by severity (descending, unknown last), then newest first, then by
seq; the first is the representative. Hypotheses are ordered by urgency, severity and
size (all descending), then by their smallest seq, so results never depend on row order.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Final

import numpy as np
import pandas as pd

from cleanapp_geo.arrays import ReportArrays
from cleanapp_geo.grouping import group_labels
from cleanapp_geo.similarity import reasons_from_bits

__all__ = [
    "ClusterStats",
    "HypothesisTable",
    "IncidentHypothesis",
    "cluster_stats",
    "format_timestamp",
    "group_hypotheses",
    "hypothesis_id",
    "title_from_tokens",
]

HIGH_PRIORITY_SEVERITY: Final = 0.8
MEDIUM_PRIORITY_SEVERITY: Final = 0.5
RECENT_WINDOW_S: Final = 168 * 3600
RECENCY_BOOST: Final = 0.10
_NS_PER_S: Final = 1_000_000_000


def format_timestamp(ts: pd.Timestamp) -> str:
    """Format a UTC timestamp as RFC 3339 the way Go marshals ``time.Time``.

    Trailing zeros of the fraction are dropped and UTC is written ``Z``.

    Examples
    --------
    >>> format_timestamp(pd.Timestamp("2026-03-10T10:00:00.250Z"))
    '2026-03-10T10:00:00.25Z'
    """
    ts = pd.Timestamp(ts).tz_convert("UTC")
    base = ts.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{ts.microsecond * 1000 + ts.nanosecond:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def _finite_or_none(value: float) -> float | None:
    """Return a wire number: NaN (unknown) becomes ``None`` (JSON ``null``)."""
    return None if math.isnan(value) else value


def hypothesis_id(title: str, report_seqs: list[int]) -> str:
    """Upstream hypothesis id: ``hyp_`` + 12 hex of SHA-1 of ``"<title>:[s1 s2 ...]"``.

    Examples
    --------
    >>> hypothesis_id("Facade bricks falling over school entrance", [101, 102])
    'hyp_638aa404eae9'
    """
    return _hashed_id(title, " ".join(str(s) for s in report_seqs))


def _hashed_id(title: str, seqs_text: str) -> str:
    payload = f"{title}:[{seqs_text}]"
    return "hyp_" + hashlib.sha1(payload.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class IncidentHypothesis:
    """One group of reports that likely describe the same incident.

    Attribute names are the wire names of upstream's ``ClusterIncidentHypothesis``.
    """

    hypothesis_id: str
    title: str
    classification: str
    representative_report_seq: int
    report_seqs: tuple[int, ...]
    report_count: int
    confidence: float
    severity_score: float
    urgency_score: float
    rationale: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Wire JSON object (lists for sequences)."""
        return {
            "hypothesis_id": self.hypothesis_id,
            "title": self.title,
            "classification": self.classification,
            "representative_report_seq": self.representative_report_seq,
            "report_seqs": list(self.report_seqs),
            "report_count": self.report_count,
            "confidence": self.confidence,
            "severity_score": _finite_or_none(self.severity_score),
            "urgency_score": self.urgency_score,
            "rationale": list(self.rationale),
        }


_HYPOTHESIS_FIELDS: Final = tuple(f.name for f in fields(IncidentHypothesis))


@dataclass(frozen=True, slots=True)
class ClusterStats:
    """Summary of the reports in a scope (upstream ``ClusterStats``).

    ``severity_average`` and ``severity_max`` are over known severities; NaN (``null``
    on the wire) when no report in scope has one.
    """

    classification: str
    report_count: int
    severity_average: float
    severity_max: float
    high_priority_count: int
    medium_priority_count: int
    first_seen_at: pd.Timestamp | None
    last_seen_at: pd.Timestamp | None
    classification_breakdown: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Wire JSON object; ``first_seen_at``/``last_seen_at`` omitted when there are none."""
        out: dict[str, Any] = {
            "classification": self.classification,
            "report_count": self.report_count,
            "severity_average": _finite_or_none(self.severity_average),
            "severity_max": _finite_or_none(self.severity_max),
            "high_priority_count": self.high_priority_count,
            "medium_priority_count": self.medium_priority_count,
        }
        if self.first_seen_at is not None and self.last_seen_at is not None:
            out["first_seen_at"] = format_timestamp(self.first_seen_at)
            out["last_seen_at"] = format_timestamp(self.last_seen_at)
        out["classification_breakdown"] = dict(self.classification_breakdown)
        return out


def cluster_stats(arrays: ReportArrays, classification: str) -> ClusterStats:
    """Compute scope statistics.

    Severity figures are over the reports whose severity is known (NaN when none is).

    Parameters
    ----------
    arrays : ReportArrays
        The reports in scope.
    classification : str
        The scope classification, echoed in the stats.

    Returns
    -------
    ClusterStats
    """
    n = len(arrays)
    severity = arrays.severity
    if n == 0:
        return ClusterStats(classification, 0, 0.0, 0.0, 0, 0, None, None, {})
    known = severity[~np.isnan(severity)]
    counts = np.bincount(arrays.classification, minlength=len(arrays.classification_labels))
    order = np.argsort(arrays.classification_labels.astype(str), kind="stable")
    names = arrays.classification_labels[order]
    counts = counts[order]
    return ClusterStats(
        classification=classification,
        report_count=n,
        severity_average=math.fsum(known.tolist()) / len(known) if len(known) else math.nan,
        severity_max=float(known.max()) if len(known) else math.nan,
        high_priority_count=int(np.count_nonzero(known >= HIGH_PRIORITY_SEVERITY)),
        medium_priority_count=int(
            np.count_nonzero((known >= MEDIUM_PRIORITY_SEVERITY) & (known < HIGH_PRIORITY_SEVERITY))
        ),
        first_seen_at=pd.Timestamp(int(arrays.ts_ns.min()), tz="UTC"),
        last_seen_at=pd.Timestamp(int(arrays.ts_ns.max()), tz="UTC"),
        classification_breakdown={str(k): int(v) for k, v in zip(names, counts, strict=True)},
    )


@dataclass(frozen=True, slots=True, eq=False)
class HypothesisTable:
    """All hypotheses of an analysis in columnar form, in output order.

    Hypothesis ``h`` owns the reports ``member_positions[offsets[h]:offsets[h + 1]]``
    (positional indices into the analysed reports, already in hypothesis order).
    :meth:`to_hypotheses` builds the dataclasses (ids included) on demand, and titles
    are read from the reports only for the hypotheses asked for (:meth:`titles`).
    """

    offsets: np.ndarray
    member_positions: np.ndarray
    member_seqs: np.ndarray
    representative_report_seq: np.ndarray
    representative_positions: np.ndarray
    report_count: np.ndarray
    confidence: np.ndarray
    severity_score: np.ndarray
    urgency_score: np.ndarray
    reason_bits: np.ndarray
    classification: np.ndarray
    labels: np.ndarray
    arrays: ReportArrays = field(repr=False)
    _titles: list[np.ndarray] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.report_count)

    @property
    def title(self) -> np.ndarray:
        """Title of every hypothesis (object array)."""
        return self.titles(len(self))

    def titles(self, count: int) -> np.ndarray:
        """Titles of the first ``count`` hypotheses.

        A hypothesis is titled by its representative report (first non-blank of title,
        summary, description), else by the three most frequent tokens of its reports.
        """
        count = min(count, len(self))
        done = self._titles[0] if self._titles else np.empty(0, dtype=object)
        if count > len(done):
            new = self._compute_titles(np.arange(len(done), count))
            done = np.concatenate((done, new))
            self._titles[:] = [done]
        return done[:count]

    def titles_at(self, positions: np.ndarray) -> np.ndarray:
        """Titles of the hypotheses at ``positions`` (an int array), as :meth:`titles`.

        Titles already computed are reused; the others are computed and not kept.
        """
        positions = np.asarray(positions, dtype=np.int64)
        done = self._titles[0] if self._titles else np.empty(0, dtype=object)
        if len(positions) == 0 or positions.max() < len(done):
            return done[positions]
        if len(positions) == len(self) or positions[-1] == len(positions) - 1:
            return self.titles(int(positions.max()) + 1)[positions]  # a prefix: keep them
        return self._compute_titles(positions)

    def has_titles(self, positions: np.ndarray) -> bool:
        """Whether the titles at ``positions`` are already computed (and kept)."""
        done = len(self._titles[0]) if self._titles else 0
        return len(positions) == 0 or int(np.max(positions)) < done

    def _compute_titles(self, positions: np.ndarray) -> np.ndarray:
        titles = self.arrays.title_text(self.representative_positions[positions])
        for k in np.flatnonzero(titles == ""):
            h = positions[k]
            members = self.member_positions[self.offsets[h] : self.offsets[h + 1]]
            titles[k] = title_from_tokens(self.arrays, members)
        return titles

    def report_seqs(self, h: int) -> list[int]:
        """Seqs of hypothesis ``h``, in hypothesis order."""
        return self.member_seqs[self.offsets[h] : self.offsets[h + 1]].tolist()

    def to_hypotheses(
        self, limit: int | None = None, *, positions: np.ndarray | None = None
    ) -> list[IncidentHypothesis]:
        """Materialise the first ``limit`` hypotheses (all when None), or those at ``positions``."""
        return [IncidentHypothesis(*row) for row in self._rows(self._positions(limit, positions))]

    def to_records(
        self, limit: int | None = None, *, positions: np.ndarray | None = None
    ) -> list[dict[str, Any]]:
        """Wire JSON objects of the first ``limit`` hypotheses (or those at ``positions``).

        Same content as ``[h.to_dict() for h in self.to_hypotheses(limit)]``, faster.
        """
        names = _HYPOTHESIS_FIELDS
        records = []
        for row in self._rows(self._positions(limit, positions)):
            record = dict(zip(names, row, strict=True))
            record["report_seqs"] = list(record["report_seqs"])
            record["rationale"] = list(record["rationale"])
            record["severity_score"] = _finite_or_none(record["severity_score"])
            records.append(record)
        return records

    def _positions(self, limit: int | None, positions: np.ndarray | None) -> np.ndarray:
        if positions is not None:
            return np.asarray(positions, dtype=np.int64)
        return np.arange(len(self) if limit is None else min(limit, len(self)), dtype=np.int64)

    def _rows(self, positions: np.ndarray) -> Iterator[tuple[Any, ...]]:
        """Field tuples of the hypotheses at ``positions``, in dataclass field order."""
        starts = self.offsets[positions]
        stops = self.offsets[positions + 1]
        columns = [self.titles_at(positions).tolist()] + [
            getattr(self, name)[positions].tolist()
            for name in (
                "classification",
                "representative_report_seq",
                "report_count",
                "confidence",
                "severity_score",
                "urgency_score",
                "reason_bits",
            )
        ]
        member_seqs = self.member_seqs
        reasons_cache: dict[int, tuple[str, ...]] = {}
        for start, stop, title, cls, rep, size, conf, sev, urg, bits in zip(
            starts.tolist(), stops.tolist(), *columns, strict=True
        ):
            seqs = member_seqs[start:stop].tolist()
            if bits not in reasons_cache:
                reasons_cache[bits] = tuple(reasons_from_bits(bits))
            yield (
                _hashed_id(str(title), " ".join(map(str, seqs))),
                str(title),
                str(cls),
                rep,
                tuple(seqs),
                size,
                conf,
                sev,
                urg,
                reasons_cache[bits],
            )

    def to_frame(self) -> pd.DataFrame:
        """One row per hypothesis (without ids), for notebooks."""
        return pd.DataFrame(
            {
                "representative_report_seq": self.representative_report_seq,
                "report_count": self.report_count,
                "confidence": self.confidence,
                "severity_score": self.severity_score,
                "urgency_score": self.urgency_score,
                "title": self.title,
                "classification": self.classification,
                "rationale": [reasons_from_bits(int(b)) for b in self.reason_bits],
            }
        )


def group_hypotheses(
    arrays: ReportArrays,
    edge_i: np.ndarray,
    edge_j: np.ndarray,
    edge_reason_bits: np.ndarray,
    *,
    now: pd.Timestamp,
    groups: np.ndarray | None = None,
) -> HypothesisTable:
    """Group reports linked by edges into hypotheses.

    Parameters
    ----------
    arrays : ReportArrays
        The reports.
    edge_i, edge_j : numpy.ndarray
        Positional endpoints of the edges.
    edge_reason_bits : numpy.ndarray
        Reason bit mask of each edge (see :func:`~cleanapp_geo.similarity.score_pairs`).
    now : pandas.Timestamp
        Reference time for the recency boost: a report counts as recent when
        ``0 <= now - ts <= 168 h`` (future timestamps are not recent).
    groups : numpy.ndarray, optional
        Group number of every report (see :func:`~cleanapp_geo.grouping.group_labels`);
        by default the connected components of the edges. A hypothesis's rationale
        comes from the edges inside it.

    Returns
    -------
    HypothesisTable

    Notes
    -----
    A hypothesis's ``severity_score`` is its highest known severity (NaN when no member
    has one); an unknown severity adds nothing to confidence and urgency.
    """
    n = len(arrays)
    if n == 0:
        empty_i = np.empty(0, dtype=np.int64)
        empty_f = np.empty(0, dtype=np.float64)
        empty_o = np.empty(0, dtype=object)
        return HypothesisTable(
            np.zeros(1, np.int64), empty_i, empty_i, empty_i, empty_i, empty_i, empty_f,
            empty_f, empty_f, empty_i, empty_o, empty_i, arrays,
        )  # fmt: skip
    if groups is None:
        groups = group_labels(n, edge_i, edge_j, np.ones(len(edge_i)), arrays.seq)
    component = np.asarray(groups, dtype=np.int64)
    n_groups = int(component.max()) + 1
    severity, ts_ns, seq = arrays.severity, arrays.ts_ns, arrays.seq
    # Reports grouped by component, each group by severity, newest, then smallest seq
    # first: only the reports of multi-report groups need the four-key sort. (At a
    # million reports every array here is 4-8 MB: intermediates are dropped early.)
    in_group = np.bincount(component, minlength=n_groups)[component] > 1
    grouped = np.flatnonzero(in_group)
    grouped = grouped[
        np.lexsort((seq[grouped], -ts_ns[grouped], -severity[grouped], component[grouped]))
    ]
    order = np.concatenate((np.flatnonzero(~in_group), grouped))
    del in_group, grouped
    order = order[np.argsort(component[order], kind="stable")]
    sorted_component = component[order]
    starts = np.flatnonzero(np.r_[True, sorted_component[1:] != sorted_component[:-1]])
    sizes = np.diff(np.r_[starts, n])
    representative = order[starts]
    max_severity = severity[representative]
    age_ns = now.value - np.maximum.reduceat(ts_ns[order], starts)
    recent = (age_ns >= 0) & (age_ns <= RECENT_WINDOW_S * _NS_PER_S)
    del age_ns
    size_boost = np.minimum(0.08 * sizes, 0.30)
    known_severity = np.nan_to_num(max_severity, nan=0.0)
    confidence = np.minimum(0.45 + size_boost + 0.20 * known_severity, 0.98)
    urgency = np.minimum(known_severity + size_boost + np.where(recent, RECENCY_BOOST, 0.0), 1.0)
    del known_severity
    del recent, size_boost
    bits = np.zeros(n_groups, dtype=np.int64)
    inside = component[edge_i] == component[edge_j]
    np.bitwise_or.at(bits, component[edge_i[inside]], edge_reason_bits[inside].astype(np.int64))
    del inside
    reason_bits = bits[sorted_component[starts]]
    del bits, sorted_component, component
    min_seq = np.minimum.reduceat(seq[order], starts)
    rank = np.lexsort((min_seq, -sizes, -max_severity, -urgency))
    del min_seq
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(sizes[rank], out=offsets[1:])
    member_positions = _gather_members(order, starts, sizes, rank)
    del order, starts
    labels = np.empty(n, dtype=np.int64)
    labels[member_positions] = np.repeat(np.arange(n_groups), sizes[rank])
    representative = representative[rank]
    return HypothesisTable(
        offsets=offsets,
        member_positions=member_positions,
        member_seqs=seq[member_positions],
        representative_report_seq=seq[representative],
        representative_positions=representative,
        report_count=sizes[rank].astype(np.int64),
        confidence=confidence[rank],
        severity_score=max_severity[rank],
        urgency_score=urgency[rank],
        reason_bits=reason_bits[rank],
        classification=arrays.classification_labels[arrays.classification[representative]],
        labels=labels,
        arrays=arrays,
    )


def _gather_members(
    order: np.ndarray, starts: np.ndarray, sizes: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Concatenate the member runs of ``order`` in ``rank`` order, vectorised."""
    new_sizes = sizes[rank]
    new_starts = np.zeros(len(rank), dtype=np.int64)
    np.cumsum(new_sizes[:-1], out=new_starts[1:])
    within = np.arange(new_sizes.sum()) - np.repeat(new_starts, new_sizes)
    return order[np.repeat(starts[rank], new_sizes) + within]


def title_from_tokens(arrays: ReportArrays, members: np.ndarray) -> str:
    """Fallback title: the three most frequent tokens, title-cased (ties alphabetical)."""
    counts: Counter[str] = Counter()
    for tokens in arrays.token_sets(members):
        counts.update(tokens)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return " ".join(t.title() for t, _ in top) or "Clustered Incident"
