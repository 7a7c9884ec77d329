"""Scope statistics from per-partition partials that merge exactly.

:func:`cleanapp_geo.hypotheses.cluster_stats` averages the known severities with
:func:`math.fsum`, the correctly rounded sum. A partition cannot hand over its rounded
sum (the rounding would depend on the partitioning), so it hands over the exact sum: each
severity is an integer mantissa times a power of two (:func:`numpy.frexp`), and the
mantissas are summed exactly per exponent. The merged exact sum, rounded once, is the
fsum of all the severities, so the average equals the single-machine one bit for bit.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

from cleanapp_geo.arrays import ReportArrays
from cleanapp_geo.hypotheses import (
    HIGH_PRIORITY_SEVERITY,
    MEDIUM_PRIORITY_SEVERITY,
    ClusterStats,
)

__all__ = ["StatsPartial", "merge_stats", "stats_partial"]

_MANTISSA_BITS = 53
_HALF_BITS = 26


def exact_sum_terms(values: np.ndarray) -> dict[int, int]:
    """Exact sum of finite floats as ``{exponent: integer}`` (value = sum of int × 2**exp).

    Parameters
    ----------
    values : numpy.ndarray
        Finite float64 values.

    Returns
    -------
    dict of int to int
        The terms; :func:`exact_total` adds them up.

    Examples
    --------
    >>> terms = exact_sum_terms(np.array([0.1, 0.2, 0.3]))
    >>> float(exact_total([terms])) == math.fsum([0.1, 0.2, 0.3])
    True
    """
    mantissa, exponent = np.frexp(np.asarray(values, dtype=np.float64))
    whole = (mantissa * float(1 << _MANTISSA_BITS)).astype(np.int64)  # exact: |m| < 1
    high, low = whole >> _HALF_BITS, whole & ((1 << _HALF_BITS) - 1)
    terms: dict[int, int] = {}
    if len(whole) == 0:
        return terms
    order = np.argsort(exponent, kind="stable")
    sorted_exponent = exponent[order]
    starts = np.flatnonzero(np.r_[True, sorted_exponent[1:] != sorted_exponent[:-1]])
    # int64 sums cannot overflow: each half has at most 27 bits, so 2**36 values fit.
    high_sums = np.add.reduceat(high[order], starts).tolist()
    low_sums = np.add.reduceat(low[order], starts).tolist()
    for e, hi, lo in zip(sorted_exponent[starts].tolist(), high_sums, low_sums, strict=True):
        total = (hi << _HALF_BITS) + lo
        if total:
            terms[e - _MANTISSA_BITS] = total
    return terms


def exact_total(parts: list[dict[int, int]]) -> Fraction:
    """Add the terms of :func:`exact_sum_terms` of several partitions, exactly."""
    total = Fraction(0)
    merged: Counter[int] = Counter()
    for terms in parts:
        merged.update(terms)
    for exponent, whole in merged.items():
        total += Fraction(whole) * (Fraction(2) ** exponent)
    return total


@dataclass(frozen=True, slots=True)
class StatsPartial:
    """What one partition contributes to the scope statistics (see :func:`merge_stats`)."""

    report_count: int = 0
    known_count: int = 0
    severity_terms: dict[int, int] = field(default_factory=dict)
    severity_max: float = math.nan
    high_priority_count: int = 0
    medium_priority_count: int = 0
    ts_min_ns: int | None = None
    ts_max_ns: int | None = None
    classification_counts: dict[str, int] = field(default_factory=dict)


def stats_partial(arrays: ReportArrays, positions: np.ndarray) -> StatsPartial:
    """Statistics partial of the reports at ``positions`` of ``arrays``.

    Parameters
    ----------
    arrays : ReportArrays
        The reports of a partition (with others, e.g. its halo).
    positions : numpy.ndarray
        The positions that belong to the partition.

    Returns
    -------
    StatsPartial
    """
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) == 0:
        return StatsPartial()
    severity = arrays.severity[positions]
    known = severity[~np.isnan(severity)]
    codes = np.bincount(
        arrays.classification[positions], minlength=len(arrays.classification_labels)
    )
    counts = {
        str(label): int(count)
        for label, count in zip(arrays.classification_labels, codes, strict=True)
        if count
    }
    ts = arrays.ts_ns[positions]
    return StatsPartial(
        report_count=len(positions),
        known_count=len(known),
        severity_terms=exact_sum_terms(known),
        severity_max=float(known.max()) if len(known) else math.nan,
        high_priority_count=int(np.count_nonzero(known >= HIGH_PRIORITY_SEVERITY)),
        medium_priority_count=int(
            np.count_nonzero((known >= MEDIUM_PRIORITY_SEVERITY) & (known < HIGH_PRIORITY_SEVERITY))
        ),
        ts_min_ns=int(ts.min()),
        ts_max_ns=int(ts.max()),
        classification_counts=counts,
    )


def merge_stats(partials: list[StatsPartial], classification: str) -> ClusterStats:
    """Scope statistics of all partitions, equal to ``cluster_stats`` of them together.

    Parameters
    ----------
    partials : list of StatsPartial
        One per partition.
    classification : str
        The scope classification, echoed.

    Returns
    -------
    ClusterStats
    """
    present = [p for p in partials if p.report_count]
    if not present:
        return ClusterStats(classification, 0, 0.0, 0.0, 0, 0, None, None, {})
    known = sum(p.known_count for p in present)
    maxima = [p.severity_max for p in present if not math.isnan(p.severity_max)]
    counts: Counter[str] = Counter()
    for p in present:
        counts.update(p.classification_counts)
    average = float(exact_total([p.severity_terms for p in present])) / known if known else math.nan
    return ClusterStats(
        classification=classification,
        report_count=sum(p.report_count for p in present),
        severity_average=average,
        severity_max=max(maxima) if maxima else math.nan,
        high_priority_count=sum(p.high_priority_count for p in present),
        medium_priority_count=sum(p.medium_priority_count for p in present),
        first_seen_at=pd.Timestamp(min(p.ts_min_ns or 0 for p in present), tz="UTC"),
        last_seen_at=pd.Timestamp(max(p.ts_max_ns or 0 for p in present), tz="UTC"),
        classification_breakdown={name: counts[name] for name in sorted(counts)},
    )
