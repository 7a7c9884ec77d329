"""The case list: cases filtered by status, nearness, creator and last update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from cleanapp_api.db import tables as t
from cleanapp_api.mappers import case_list_item_from_row
from cleanapp_api.schemas import CaseListItem

__all__ = ["CaseFilters", "list_cases"]


@dataclass(frozen=True, slots=True)
class CaseFilters:
    """What ``GET /cases`` asks for; every filter is optional.

    Attributes
    ----------
    statuses : tuple of str
        Keep cases in one of these statuses (empty: every status but ``merged``).
    near : tuple of float or None
        ``(latitude, longitude)``: keep cases whose anchor lies within ``radius_m`` metres
        (geodesic), nearest first.
    radius_m : float
        Radius of ``near``.
    created_by : str or None
        Keep cases this user created.
    updated_since : datetime or None
        Keep cases updated at or after this time.
    limit : int
        At most this many cases.
    """

    statuses: tuple[str, ...] = ()
    near: tuple[float, float] | None = None
    radius_m: float = 1_000.0
    created_by: str | None = None
    updated_since: datetime | None = None
    limit: int = 100


def list_cases(conn: sa.Connection, filters: CaseFilters) -> list[CaseListItem]:
    """Cases matching the filters, most recently updated first (nearest first with ``near``).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    filters : CaseFilters
        What to keep.

    Returns
    -------
    list of CaseListItem
    """
    c = t.cases
    distance: sa.ColumnElement[float] | None = None
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.statuses:
        conditions.append(c.c.status.in_(filters.statuses))
    else:
        conditions.append(c.c.status != "merged")
    if filters.created_by is not None:
        conditions.append(c.c.created_by_user_id == filters.created_by)
    if filters.updated_since is not None:
        conditions.append(c.c.updated_at >= filters.updated_since)
    if filters.near is not None:
        lat, lng = filters.near
        point = sa.func.geography(sa.func.ST_SetSRID(sa.func.ST_MakePoint(lng, lat), 4326))
        anchor = sa.func.geography(c.c.anchor_geom)
        conditions.append(sa.func.ST_DWithin(anchor, point, filters.radius_m))
        distance = sa.func.ST_Distance(anchor, point)
    columns = [
        c.c.case_id,
        c.c.slug,
        c.c.title,
        c.c.status,
        c.c.classification,
        c.c.summary,
        c.c.severity_score,
        c.c.urgency_score,
        c.c.linked_report_count,
        c.c.anchor_lat,
        c.c.anchor_lng,
        c.c.created_by_user_id,
        c.c.updated_at,
        (distance if distance is not None else sa.null()).label("distance_m"),
    ]
    order = [c.c.updated_at.desc(), c.c.case_id]
    if distance is not None:
        order.insert(0, distance)
    stmt = sa.select(*columns).where(*conditions).order_by(*order).limit(filters.limit)
    return [case_list_item_from_row(row) for row in conn.execute(stmt).mappings()]
