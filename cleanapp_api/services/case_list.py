"""``GET /cases``: the case list with filters (status, near a point, mine, updated since)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa

from cleanapp_api.db.repositories.case_list import CaseFilters, list_cases
from cleanapp_api.domain_errors import InvalidRequest
from cleanapp_api.policy import AuthenticatedUser
from cleanapp_api.schemas import CaseListResponse
from cleanapp_geo.cases import CASE_STATUSES

__all__ = ["MAX_LIST_LIMIT", "MAX_NEAR_RADIUS_M", "list_case_summaries", "parse_case_filters"]

MAX_LIST_LIMIT: Final = 500
MAX_NEAR_RADIUS_M: Final = 50_000.0
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


def _statuses(raw: str | None) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(s.strip().lower() for s in (raw or "").split(",") if s.strip()))
    unknown = [s for s in wanted if s not in CASE_STATUSES]
    if unknown:
        raise InvalidRequest(
            f"unknown status {', '.join(unknown)}; expected one of {', '.join(CASE_STATUSES)}"
        )
    return wanted


def _near(raw: str | None) -> tuple[float, float] | None:
    if not (raw or "").strip():
        return None
    parts = (raw or "").split(",")
    try:
        lat, lng = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        lat = lng = math.nan
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise InvalidRequest(f"near must be 'latitude,longitude' in degrees, got {raw!r}")
    return lat, lng


def _number(name: str, raw: str | None, default: float, upper: float) -> float:
    if not (raw or "").strip():
        return default
    try:
        value = float(raw or "")
    except ValueError:
        value = math.nan
    if not (0 < value <= upper):
        raise InvalidRequest(f"{name} must be a number in (0, {upper:g}], got {raw!r}")
    return value


def _since(raw: str | None) -> datetime | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise InvalidRequest(
            f"updated_since must be an RFC 3339 time, e.g. 2026-03-10T08:00:00Z; got {raw!r}"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_case_filters(
    user: AuthenticatedUser,
    *,
    status: str | None = None,
    near: str | None = None,
    radius_m: str | None = None,
    mine: str | None = None,
    updated_since: str | None = None,
    limit: str | None = None,
) -> CaseFilters:
    """Read the query of ``GET /cases`` into :class:`CaseFilters` (400 naming a bad value).

    Parameters
    ----------
    user : AuthenticatedUser
        The caller (``mine`` keeps the cases they created).
    status : str, optional
        Comma-separated statuses.
    near : str, optional
        ``latitude,longitude``.
    radius_m : str, optional
        Radius of ``near`` in metres (default 1,000, at most 50,000).
    mine : str, optional
        ``true``/``false``.
    updated_since : str, optional
        RFC 3339 time.
    limit : str, optional
        At most this many cases (default 100, at most 500).

    Returns
    -------
    CaseFilters

    Examples
    --------
    >>> from cleanapp_api.policy import AuthenticatedUser
    >>> f = parse_case_filters(AuthenticatedUser("ana"), status="open,escalated", mine="true")
    >>> f.statuses, f.created_by
    (('open', 'escalated'), 'ana')
    """
    mine_text = (mine or "").strip().lower()
    if mine_text not in _TRUE | _FALSE:
        raise InvalidRequest(f"mine must be true or false, got {mine!r}")
    return CaseFilters(
        statuses=_statuses(status),
        near=_near(near),
        radius_m=_number("radius_m", radius_m, 1_000.0, MAX_NEAR_RADIUS_M),
        created_by=user.user_id if mine_text in _TRUE else None,
        updated_since=_since(updated_since),
        limit=int(_number("limit", limit, 100, MAX_LIST_LIMIT)),
    )


def list_case_summaries(engine: sa.Engine, filters: CaseFilters) -> CaseListResponse:
    """Load the cases matching ``filters`` (most recently updated, or nearest, first).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    filters : CaseFilters
        What to keep.

    Returns
    -------
    CaseListResponse
    """
    with engine.connect() as conn:
        return CaseListResponse(cases=list_cases(conn, filters))
