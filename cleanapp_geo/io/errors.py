"""Exceptions raised by the PostGIS store (:mod:`cleanapp_geo.io`).

They derive from :class:`cleanapp_geo.errors.CleanAppGeoError`, so one ``except`` clause (or
the service's error table) catches every library error; argument and data problems also
subclass :class:`ValueError`.
"""

from __future__ import annotations

import pandas as pd

from cleanapp_geo.errors import CleanAppGeoError

__all__ = ["InvalidQueryError", "ReportConflictError", "StoreError"]


class StoreError(CleanAppGeoError):
    """Base class of the errors raised by :mod:`cleanapp_geo.io`."""


class InvalidQueryError(StoreError, ValueError):
    """A loader argument (limit, time bound, classification, seqs) is invalid."""


class ReportConflictError(StoreError, ValueError):
    """Reports to write clash with stored ones; nothing was written.

    A report clashes when its ``seq`` is already stored with a different ``public_id``,
    timestamp or location, or when its ``public_id`` is stored under another ``seq``.
    Re-writing an identical report is not a conflict (it is skipped).

    Parameters
    ----------
    message : str
        Human-readable summary.
    conflicts : pandas.DataFrame
        One row per clashing report: ``seq`` (int64) and ``reason`` (str), ordered by seq.
    """

    def __init__(self, message: str, conflicts: pd.DataFrame) -> None:
        super().__init__(message)
        self.conflicts = conflicts
