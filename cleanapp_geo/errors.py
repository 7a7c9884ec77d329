"""Exception types raised by :mod:`cleanapp_geo`.

Every error the library raises on bad input derives from :class:`CleanAppGeoError`; the
input-validation errors also subclass :class:`ValueError` so generic callers can catch them.
"""

from __future__ import annotations

__all__ = [
    "CleanAppGeoError",
    "ExhaustiveScoringWarning",
    "InvalidLabelledDataError",
    "InvalidModelError",
    "InvalidReportsError",
    "InvalidScopeError",
    "UnknownReportError",
]


class CleanAppGeoError(Exception):
    """Base class of every error raised by :mod:`cleanapp_geo`."""


class InvalidScopeError(CleanAppGeoError, ValueError):
    """A scope (GeoJSON geometry or radius) is malformed or unsupported."""


class InvalidReportsError(CleanAppGeoError, ValueError):
    """A report frame breaks the report-frame contract (see :mod:`cleanapp_geo.schema`)."""


class InvalidLabelledDataError(CleanAppGeoError, ValueError):
    """A labelled report file (see :mod:`cleanapp_geo.realdata`) is malformed."""


class InvalidModelError(CleanAppGeoError, ValueError):
    """A :class:`~cleanapp_geo.model.SimilarityModel` has invalid parameters."""


class UnknownReportError(CleanAppGeoError, KeyError):
    """A report ``seq`` was asked for that the frame does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class ExhaustiveScoringWarning(UserWarning):
    """Exact candidate blocking is impossible for a model; every pair is scored in chunks."""
