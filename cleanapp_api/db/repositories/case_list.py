"""The case list: cases filtered by status, nearness, creator and last update, in pages.

Pages are keyset pages: the caller passes the sort key of the previous page's last row
(``after``), so a case added or updated meanwhile neither repeats nor shifts a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories.locks import grown_bounds
from cleanapp_api.mappers import case_list_item_from_row
from cleanapp_api.schemas import CaseListItem

__all__ = ["CaseFilters", "case_list_rows", "list_cases", "sort_key"]


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
    after : tuple or None
        Sort key of the previous page's last case (:func:`sort_key`): ``(distance_m,
        case_id)`` with ``near``, else ``(updated_at, case_id)``.
    """

    statuses: tuple[str, ...] = ()
    near: tuple[float, float] | None = None
    radius_m: float = 1_000.0
    created_by: str | None = None
    updated_since: datetime | None = None
    limit: int = 100
    after: tuple[Any, str] | None = None


def sort_key(row: sa.RowMapping) -> tuple[Any, str]:
    """Return the sort key of a row of :func:`case_list_rows` (what ``after`` takes)."""
    first = row["distance_m"] if row["distance_m"] is not None else row["updated_at"]
    return first, str(row["case_id"])


def case_list_rows(conn: sa.Connection, filters: CaseFilters) -> list[sa.RowMapping]:
    """Rows of the cases matching the filters, in list order, after ``filters.after``.

    Most recently updated first (ties by ``case_id``); with ``near``, nearest first (ties
    by ``case_id``), through the GiST index of ``anchor_geom`` (a box around the point),
    then the exact geodesic distance.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    filters : CaseFilters
        What to keep.

    Returns
    -------
    list of RowMapping
        ``case_id, slug, title, status, classification, summary, severity_score,
        urgency_score, linked_report_count, anchor_lat, anchor_lng, created_by_user_id,
        updated_at, distance_m`` (NULL without ``near``).
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
        west, south, east, north = grown_bounds((lng, lat, lng, lat), filters.radius_m)
        box = sa.func.ST_MakeEnvelope(west, south, east, north, 4326)
        point = sa.func.geography(sa.func.ST_SetSRID(sa.func.ST_MakePoint(lng, lat), 4326))
        anchor = sa.func.geography(c.c.anchor_geom)
        conditions.append(c.c.anchor_geom.op("&&")(box))
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
    inner = sa.select(*columns).where(*conditions).subquery()
    stmt = sa.select(inner)
    if distance is not None:
        stmt = stmt.order_by(inner.c.distance_m, inner.c.case_id)
        if filters.after is not None:
            d, case_id = filters.after
            stmt = stmt.where(
                sa.or_(
                    inner.c.distance_m > d,
                    sa.and_(inner.c.distance_m == d, inner.c.case_id > case_id),
                )
            )
    else:
        stmt = stmt.order_by(inner.c.updated_at.desc(), inner.c.case_id)
        if filters.after is not None:
            updated, case_id = filters.after
            stmt = stmt.where(
                sa.or_(
                    inner.c.updated_at < updated,
                    sa.and_(inner.c.updated_at == updated, inner.c.case_id > case_id),
                )
            )
    return list(conn.execute(stmt.limit(filters.limit)).mappings())


def list_cases(conn: sa.Connection, filters: CaseFilters) -> list[CaseListItem]:
    """Cases matching the filters as list items (see :func:`case_list_rows`).

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
    return [case_list_item_from_row(row) for row in case_list_rows(conn, filters)]
