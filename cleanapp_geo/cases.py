"""Case rules: the status lifecycle and the aggregate scores of a case (pure, no I/O).

The service stores cases; these are the rules it applies, written once so that a notebook
gets the same answers.

Statuses
--------
:data:`STATUS_TRANSITIONS` is the lifecycle; setting the current status again is allowed
(it records a new summary). ``merged`` is set only by a merge, and a merged case cannot
change status (no unmerge). :func:`check_status_change` and :func:`check_initial_status`
raise :class:`StatusChangeError` naming the allowed statuses.

================  ==========================================================
from              allowed to
================  ==========================================================
open              investigating, escalated, monitoring, resolved, closed
investigating     open, escalated, monitoring, resolved, closed
escalated         open, investigating, monitoring, resolved, closed
monitoring        open, investigating, escalated, resolved, closed
resolved          open, investigating, closed
closed            open
merged            (none)
================  ==========================================================

Aggregates
----------
A case's scores follow from its linked reports and cluster snapshots: the severity is the
highest report severity, the urgency :func:`case_urgency` adds 0.05 of the mean for every
cluster beyond the first, the trend :func:`case_trend` grows with the cluster count, and the
anchor (:func:`anchor_index`) is the most severe report, then the newest, then the lowest
``seq``.

Confidence and exposure
-----------------------
Both are derived from evidence (upstream stored the constants 0.8 and 0.6 and never
recomputed them). :func:`case_confidence` -- how sure we are that the incident is real --
combines the linked reports as independent witnesses: each *reporter* counts once, with
the strongest of their links, and contributes ``0.5 × link confidence`` to a noisy-OR
(one report 0.5, two reporters 0.75, three 0.875). :func:`case_exposure` -- how many people
the problem reaches -- starts from the routing profile's exposure mode (public 0.6, users
0.45, localised 0.25), adds 0.2 where vulnerable people gather and up to 0.2 for repeated
reports (0.04 per distinct reporter beyond the first).

Snapshots
---------
:func:`snapshot_fingerprint` names what a cluster snapshot says; two snapshots with one
fingerprint are the same snapshot, stored once, so analysing the same scope again neither
adds a cluster nor raises the urgency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import pandas as pd

from cleanapp_geo.case_frames import InvalidCasesError
from cleanapp_geo.errors import CleanAppGeoError

__all__ = [
    "ACTIVE_STATUSES",
    "ASSIGNABLE_STATUSES",
    "CASE_STATUSES",
    "REOPENABLE_STATUSES",
    "REOPEN_WINDOW_S",
    "STATUS_TRANSITIONS",
    "StatusChangeError",
    "anchor_index",
    "case_confidence",
    "case_exposure",
    "case_trend",
    "case_urgency",
    "check_initial_status",
    "check_status_change",
    "eligible_statuses",
    "reference_time",
    "snapshot_fingerprint",
]

#: Case lifecycle values.
CASE_STATUSES: Final = (
    "open",
    "investigating",
    "escalated",
    "monitoring",
    "resolved",
    "closed",
    "merged",
)
#: From each status, the statuses a change may go to.
STATUS_TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "open": ("investigating", "escalated", "monitoring", "resolved", "closed"),
    "investigating": ("open", "escalated", "monitoring", "resolved", "closed"),
    "escalated": ("open", "investigating", "monitoring", "resolved", "closed"),
    "monitoring": ("open", "investigating", "escalated", "resolved", "closed"),
    "resolved": ("open", "investigating", "closed"),
    "closed": ("open",),
    "merged": (),
}
#: Statuses a request may set (``merged`` only comes from a merge).
ASSIGNABLE_STATUSES: Final = tuple(s for s in CASE_STATUSES if s != "merged")
#: Urgency added per cluster beyond the first, and the cluster count of a full trend.
URGENCY_PER_CLUSTER: Final = 0.05
TREND_FULL_CLUSTERS: Final = 5
#: A single report's weight as a witness of the incident (the noisy-OR step).
WITNESS_WEIGHT: Final = 0.5
#: Exposure by the routing profile's exposure mode, and its increments.
EXPOSURE_BY_MODE: Final = {"public_exposure": 0.6, "user_exposure": 0.45, "localized": 0.25}
SENSITIVE_OCCUPANCY_EXPOSURE: Final = 0.2
EXPOSURE_PER_REPORTER: Final = 0.04
EXPOSURE_REPORTERS_CAP: Final = 0.2


class StatusChangeError(CleanAppGeoError, ValueError):
    """A status that is unknown, or not reachable from the case's status."""


def check_initial_status(status: str) -> str:
    """Return the status of a new case (``""`` → ``open``; case-insensitive).

    Raises
    ------
    StatusChangeError
        For ``merged`` and unknown statuses.

    Examples
    --------
    >>> check_initial_status(" Escalated "), check_initial_status("")
    ('escalated', 'open')
    >>> check_initial_status("merged")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cleanapp_geo.cases.StatusChangeError: status "merged" cannot be set on a new case; ...
    """
    wanted = status.strip().lower() or "open"
    if wanted not in ASSIGNABLE_STATUSES:
        raise StatusChangeError(
            f'status "{status}" cannot be set on a new case; allowed: '
            f"{', '.join(ASSIGNABLE_STATUSES)}"
        )
    return wanted


def check_status_change(current: str | None, wanted: str) -> str:
    """Check a status change of a case whose status is ``current``; return the new status.

    ``wanted`` is case-insensitive. Setting the current status again is allowed unless the
    case is merged.

    Parameters
    ----------
    current : str or None
        The case's status (None: only check that ``wanted`` is a status).
    wanted : str
        The requested status.

    Returns
    -------
    str
        The new status (lower case).

    Raises
    ------
    StatusChangeError
        For an unknown status, ``merged``, or a change the lifecycle does not allow; the
        message names the allowed statuses.

    Examples
    --------
    >>> check_status_change("open", "Resolved")
    'resolved'
    >>> check_status_change("closed", "resolved")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cleanapp_geo.cases.StatusChangeError: cannot change status from "closed" ...; allowed: open
    """
    status = wanted.strip().lower()
    if status not in CASE_STATUSES:
        allowed = ", ".join(ASSIGNABLE_STATUSES)
        raise StatusChangeError(f'unknown status "{wanted.strip()}"; allowed: {allowed}')
    if current is None or (status == current and current != "merged"):
        return status
    options = STATUS_TRANSITIONS.get(current, ())
    if status in options:
        return status
    listed = ", ".join(options) or "none"
    if status == "merged":
        raise StatusChangeError(
            f'status "merged" is set only by POST /cases/merge; allowed from "{current}": {listed}'
        )
    raise StatusChangeError(
        f'cannot change status from "{current}" to "{status}"; allowed: {listed}'
    )


def case_urgency(
    max_severity: float, mean_severity: float, cluster_count: int, report_count: int
) -> float:
    """Return a case's urgency: ``min(1, max(max, mean + 0.05 · (clusters − 1)))``, in [0, 1].

    0 for a case without reports.

    Examples
    --------
    >>> case_urgency(0.9, 0.5, 1, 3), case_urgency(0.6, 0.5, 4, 3), case_urgency(0, 0, 0, 0)
    (0.9, 0.65, 0.0)
    """
    if not report_count:
        return 0.0
    urgency = min(1.0, max(max_severity, mean_severity + (cluster_count - 1) * URGENCY_PER_CLUSTER))
    return max(0.0, urgency)


def case_trend(cluster_count: int) -> float:
    """Return a case's trend: ``min(1, clusters / 5)``.

    Examples
    --------
    >>> case_trend(2), case_trend(9)
    (0.4, 1.0)
    """
    return min(1.0, cluster_count / TREND_FULL_CLUSTERS)


def anchor_index(
    severities: Sequence[float], timestamps: Sequence[object], seqs: Sequence[int]
) -> int | None:
    """Return the position of a case's anchor report: most severe, then newest, then lowest seq.

    Parameters
    ----------
    severities, timestamps, seqs : sequence
        One entry per linked report (timestamps must compare with each other).

    Returns
    -------
    int or None
        The anchor's position, None without reports.

    Examples
    --------
    >>> anchor_index([0.5, 0.9, 0.9], [1, 2, 3], [10, 11, 12])
    2
    >>> anchor_index([0.9, 0.9], [5, 5], [12, 11])
    1
    """
    if not seqs:
        return None
    best = 0
    for i in range(1, len(seqs)):
        key = (severities[i], timestamps[i], -seqs[i])
        if key > (severities[best], timestamps[best], -seqs[best]):
            best = i
    return best


def case_confidence(link_confidences: Sequence[float], reporters: Sequence[str]) -> float:
    """How sure we are that a case's incident is real, from its linked reports, in [0, 1].

    Each reporter counts once, with the strongest of their links (``""`` is an unknown
    reporter: each such report counts on its own); the reporters combine by noisy-OR:
    ``1 − Π (1 − 0.5 · link confidence)``. 0 without reports.

    Parameters
    ----------
    link_confidences : sequence of float
        Each linked report's link confidence (``case_reports.confidence``), in [0, 1].
    reporters : sequence of str
        Each linked report's reporter id, in the same order.

    Examples
    --------
    >>> case_confidence([1.0], ["u1"]), case_confidence([1.0, 0.95], ["u1", "u2"])
    (0.5, 0.7375)
    >>> case_confidence([1.0, 1.0], ["u1", "u1"])  # one reporter, twice
    0.5
    """
    best: dict[str, float] = {}
    for i, (confidence, reporter) in enumerate(zip(link_confidences, reporters, strict=True)):
        key = reporter if reporter else f"\0{i}"
        value = min(1.0, max(0.0, float(confidence)))
        best[key] = max(best.get(key, 0.0), value)
    doubt = 1.0
    for value in best.values():
        doubt *= 1.0 - WITNESS_WEIGHT * value
    return round(1.0 - doubt, 12)


def case_exposure(exposure_mode: str, *, sensitive_occupancy: bool, reporters: int) -> float:
    """How many people a case's problem reaches, in [0, 1]; 0 without reporters.

    ``public_exposure`` 0.6, ``user_exposure`` 0.45, ``localized`` 0.25 (the routing
    profile's exposure mode); +0.2 where vulnerable people gather (a school, a station, ...);
    +0.04 per distinct reporter beyond the first, at most +0.2.

    Examples
    --------
    >>> case_exposure("public_exposure", sensitive_occupancy=True, reporters=3)
    0.88
    >>> case_exposure("localized", sensitive_occupancy=False, reporters=1)
    0.25
    """
    if reporters <= 0:
        return 0.0
    if exposure_mode not in EXPOSURE_BY_MODE:
        allowed = ", ".join(EXPOSURE_BY_MODE)
        raise ValueError(f"exposure_mode must be one of {allowed}, got {exposure_mode!r}")
    value = EXPOSURE_BY_MODE[exposure_mode]
    if sensitive_occupancy:
        value += SENSITIVE_OCCUPANCY_EXPOSURE
    value += min(EXPOSURE_REPORTERS_CAP, EXPOSURE_PER_REPORTER * (reporters - 1))
    return round(min(1.0, value), 12)


def snapshot_fingerprint(
    classification: str,
    geometry_json: str,
    summary: str,
    report_seqs: Iterable[int] = (),
) -> str:
    """Return the fingerprint of a cluster snapshot (SHA-1 hex).

    With a geometry it is upstream's: the SHA-1 of the classification, the geometry's
    GeoJSON text and the summary, each trimmed, joined by ``|``. Upstream left snapshots
    without a geometry unfingerprinted; theirs is the SHA-1 of the classification, the
    sorted report seqs and the summary, so that they de-duplicate too.

    Parameters
    ----------
    classification : str
        The snapshot's classification.
    geometry_json : str
        Its scope as GeoJSON text ("" without one).
    summary : str
        Its summary.
    report_seqs : iterable of int, optional
        Its reports (used only without a geometry).

    Returns
    -------
    str
        40 lowercase hex characters.

    Examples
    --------
    >>> snapshot_fingerprint("physical", "", "s", [2, 1]) == snapshot_fingerprint(
    ...     "physical", "", "s", [1, 2, 2])
    True
    >>> len(snapshot_fingerprint("physical", '{"type":"Polygon"}', ""))
    40
    """
    if geometry_json.strip():
        parts = (classification, geometry_json, summary)
    else:
        seqs = ",".join(str(s) for s in sorted({int(s) for s in report_seqs}))
        parts = (classification, f"seqs:{seqs}", summary)
    return hashlib.sha1("|".join(p.strip() for p in parts).encode()).hexdigest()


# ======================================================================= matching

#: Statuses of live cases: a matching cluster should be attached to them.
ACTIVE_STATUSES: Final = ("open", "investigating", "escalated", "monitoring")
#: Statuses of finished cases: a matching cluster suggests the incident recurred.
REOPENABLE_STATUSES: Final = ("resolved", "closed")
#: How long after its last update a resolved/closed case is still suggested (seconds).
REOPEN_WINDOW_S: Final = 90 * 86_400.0


def reference_time(now: pd.Timestamp | str | None, reopen_window_s: float) -> pd.Timestamp:
    """Check ``reopen_window_s`` and return ``now`` (default: the current time) in UTC.

    Raises
    ------
    InvalidCasesError
        When the window is not a number >= 0 or ``now`` is naive.
    """
    if isinstance(reopen_window_s, bool) or not (
        isinstance(reopen_window_s, int | float) and reopen_window_s >= 0
    ):
        raise InvalidCasesError(f"reopen_window_s must be a number >= 0, got {reopen_window_s!r}")
    reference = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if reference.tzinfo is None:
        raise InvalidCasesError(f"now must be timezone-aware, got {now!r}")
    return reference.tz_convert("UTC")


def eligible_statuses(status: np.ndarray, age_s: np.ndarray, reopen_window_s: float) -> np.ndarray:
    """Which cases may match: active ones, and reopenable ones updated within the window.

    Parameters
    ----------
    status : numpy.ndarray
        Lower-case statuses.
    age_s : numpy.ndarray
        Seconds since each case was last updated.
    reopen_window_s : float
        The reopen window.

    Returns
    -------
    numpy.ndarray
        Boolean mask.

    Examples
    --------
    >>> eligible_statuses(np.array(["open", "resolved", "closed", "merged"]),
    ...                   np.array([9e9, 10.0, 9e9, 0.0]), 3600.0).tolist()
    [True, True, False, False]
    """
    active = np.isin(status, ACTIVE_STATUSES)
    return active | (np.isin(status, REOPENABLE_STATUSES) & (age_s <= reopen_window_s))
