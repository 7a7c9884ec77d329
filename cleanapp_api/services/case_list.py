"""``GET /cases`` (the case list with filters, in pages) and ``GET /cases/nearby`` (public).

Both read :func:`cleanapp_api.db.repositories.case_list.case_list_rows`; pages are keyset
pages with an opaque ``next_cursor`` (:mod:`cleanapp_api.services.cursors`), null on the
last page.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa

from cleanapp_api.db.repositories.case_list import CaseFilters, case_list_rows, sort_key
from cleanapp_api.domain_errors import InvalidRequest
from cleanapp_api.mappers import case_list_item_from_row, nearby_case_from_row
from cleanapp_api.matching_schemas import NearbyCasesResponse
from cleanapp_api.policy import AuthenticatedUser
from cleanapp_api.schemas import CaseListResponse
from cleanapp_api.services.cursors import decode_cursor, encode_cursor
from cleanapp_geo.cases import CASE_STATUSES
from cleanapp_geo.matching import ACTIVE_STATUSES

__all__ = [
    "MAX_LIST_LIMIT",
    "MAX_NEARBY_LIMIT",
    "MAX_NEAR_RADIUS_M",
    "list_case_summaries",
    "nearby_cases",
    "parse_case_filters",
    "parse_nearby",
]

MAX_LIST_LIMIT: Final = 500
MAX_NEARBY_LIMIT: Final = 100
_LIST_CURSOR: Final = "cases"
_NEARBY_CURSOR: Final = "nearby"
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


def _degrees(name: str, raw: str | None, bound: float) -> float:
    text = (raw or "").strip()
    if not text:
        raise InvalidRequest(f"{name} is required")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not -bound <= value <= bound:
        raise InvalidRequest(f"{name} must be a number in [-{bound:g}, {bound:g}], got {raw!r}")
    return value


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
    cursor: str | None = None,
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
    cursor : str, optional
        ``next_cursor`` of the previous page.

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
    place = _near(near)
    return CaseFilters(
        statuses=_statuses(status),
        near=place,
        radius_m=_number("radius_m", radius_m, 1_000.0, MAX_NEAR_RADIUS_M),
        created_by=user.user_id if mine_text in _TRUE else None,
        updated_since=_since(updated_since),
        limit=int(_number("limit", limit, 100, MAX_LIST_LIMIT)),
        after=_after(_LIST_CURSOR, cursor, by_distance=place is not None),
    )


def _after(kind: str, cursor: str | None, *, by_distance: bool) -> tuple[Any, str] | None:
    values = decode_cursor(kind, cursor)
    if values is None:
        return None
    try:
        first, case_id = values
        key: Any = float(first) if by_distance else datetime.fromisoformat(str(first))
    except (TypeError, ValueError):
        raise InvalidRequest("cursor is invalid; use next_cursor as given") from None
    return key, str(case_id)


def _next_cursor(kind: str, rows: list[Any], limit: int) -> str | None:
    if len(rows) <= limit:
        return None
    first, case_id = sort_key(rows[limit - 1])
    return encode_cursor(kind, [first.isoformat() if isinstance(first, datetime) else first,
                                case_id])  # fmt: skip


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
        rows = case_list_rows(conn, replace(filters, limit=filters.limit + 1))
    return CaseListResponse(
        cases=[case_list_item_from_row(r) for r in rows[: filters.limit]],
        next_cursor=_next_cursor(_LIST_CURSOR, rows, filters.limit),
    )


def parse_nearby(
    *,
    lat: str | None,
    lon: str | None,
    radius_m: str | None = None,
    status: str | None = None,
    limit: str | None = None,
    cursor: str | None = None,
) -> CaseFilters:
    """Read the query of ``GET /cases/nearby`` (400 naming a bad value).

    ``lat``/``lon`` required; ``radius_m`` default 1,000, at most 50,000; ``status``
    comma-separated (default: the active statuses); ``limit`` default 20, at most 100.

    Examples
    --------
    >>> f = parse_nearby(lat="47.37", lon="8.54", limit="5")
    >>> f.near, f.radius_m, f.limit, f.statuses[0]
    ((47.37, 8.54), 1000.0, 5, 'open')
    """
    place = (_degrees("lat", lat, 90.0), _degrees("lon", lon, 180.0))
    return CaseFilters(
        statuses=_statuses(status) or tuple(ACTIVE_STATUSES),
        near=place,
        radius_m=_number("radius_m", radius_m, 1_000.0, MAX_NEAR_RADIUS_M),
        limit=int(_number("limit", limit, 20, MAX_NEARBY_LIMIT)),
        after=_after(_NEARBY_CURSOR, cursor, by_distance=True),
    )


def nearby_cases(engine: sa.Engine, filters: CaseFilters) -> NearbyCasesResponse:
    """``GET /cases/nearby``: cases whose anchor is near a point, nearest first (public).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    filters : CaseFilters
        From :func:`parse_nearby`.

    Returns
    -------
    NearbyCasesResponse
    """
    with engine.connect() as conn:
        rows = case_list_rows(conn, replace(filters, limit=filters.limit + 1))
    return NearbyCasesResponse(
        cases=[nearby_case_from_row(r) for r in rows[: filters.limit]],
        next_cursor=_next_cursor(_NEARBY_CURSOR, rows, filters.limit),
    )
