"""Timestamps as the upstream Go services write them on the wire (RFC 3339, UTC, ``Z``)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["rfc3339"]


def rfc3339(value: datetime | None) -> str | None:
    """Format a timestamp as Go's ``time.Time`` JSON: UTC, ``Z``, fraction without zeros.

    Parameters
    ----------
    value : datetime or None
        An aware datetime (naive ones are taken as UTC).

    Returns
    -------
    str or None
        The RFC 3339 text, or None for None.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> rfc3339(datetime(2026, 3, 10, 8, 0, 0, 250000, tzinfo=UTC))
    '2026-03-10T08:00:00.25Z'
    >>> rfc3339(datetime(2026, 3, 10, 8, 0, tzinfo=UTC))
    '2026-03-10T08:00:00Z'
    """
    if value is None:
        return None
    v = value.astimezone(UTC) if value.tzinfo is not None else value
    base = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    if v.microsecond:
        return f"{base}.{f'{v.microsecond:06d}'.rstrip('0')}Z"
    return f"{base}Z"
