"""The stored cases a cluster may match (for :func:`cleanapp_geo.matching.match_cases`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import shapely
import sqlalchemy as sa

from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import (
    ARRAY_BIGINT,
    geometry_bounds,
    matchable_status,
)
from cleanapp_api.db.repositories.locks import grown_bounds
from cleanapp_geo.matching import MATCH_RADIUS_M

__all__ = [
    "candidate_case_records",
]

_CANDIDATE_LIMIT: Final = 500

# =========================================================================== matching


def candidate_case_records(
    conn: sa.Connection,
    *,
    classification: str,
    area: shapely.Geometry | None,
    seqs: Sequence[int],
    active_statuses: Sequence[str],
    reopenable_statuses: Sequence[str],
    reopen_since: datetime,
    limit: int = _CANDIDATE_LIMIT,
) -> list[dict[str, Any]]:
    """Load the cases a cluster may match, for :func:`cleanapp_geo.matching.cases_frame`.

    A case qualifies when it has the classification, is not merged, is active (or
    reopenable and updated since ``reopen_since``) and either shares a report with the
    cluster (index on ``case_reports.seq``) or has its anchor or aggregate geometry within
    :data:`~cleanapp_geo.matching.MATCH_RADIUS_M` metres of the cluster's area (GiST
    indexes on ``anchor_geom`` / ``aggregate_geom`` through a bounding box, then the exact
    geodesic ``ST_DWithin``). At most ``limit`` cases, most recently updated first.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    classification : str
        Case classification.
    area : shapely.Geometry, optional
        The cluster's area (polygon) or points (multipoint), EPSG:4326.
    seqs : sequence of int
        The cluster's report seqs.
    active_statuses, reopenable_statuses : sequence of str
        Status sets of :mod:`cleanapp_geo.matching`.
    reopen_since : datetime
        Oldest ``updated_at`` of a reopenable case.
    limit : int, default 500
        Largest number of cases.

    Returns
    -------
    list of dict
        One record per case: the case columns, ``report_seqs`` (list of int) and
        ``geometry`` (the aggregate geometry as shapely, or None).
    """
    wanted = sorted({int(s) for s in seqs})
    with_area = area is not None and not shapely.is_empty(area)
    if not wanted and not with_area:
        return []
    params: dict[str, Any] = {
        "classification": classification,
        "active": list(active_statuses),
        "reopenable": list(reopenable_statuses),
        "since": reopen_since,
        "limit": limit,
    }
    if wanted:
        params["seqs"] = wanted
    if with_area:
        assert area is not None
        west, south, east, north = grown_bounds(geometry_bounds(area), MATCH_RADIUS_M)
        params |= {
            "west": west,
            "south": south,
            "east": east,
            "north": north,
            "area_wkb": shapely.to_wkb(area, output_dimension=2),
            "radius_m": MATCH_RADIUS_M,
        }
    stmt = _candidates_statement(bool(wanted), with_area)
    records = []
    for row in conn.execute(stmt, params).mappings():
        record = dict(row)
        wkb = record.pop("area_wkb")
        record["geometry"] = None if wkb is None else shapely.from_wkb(bytes(wkb))
        record["report_seqs"] = list(record["report_seqs"] or [])
        records.append(record)
    return records


@functools.cache
def _candidates_statement(by_seqs: bool, by_area: bool) -> sa.Select[Any]:
    """Build the candidate query once per shape (values are bound per call).

    Building the select with its subqueries cost about as much as running it for a small
    cluster.
    """
    c, cr = t.cases, t.case_reports
    near: list[sa.ColumnElement[bool]] = []
    if by_seqs:
        shares = sa.select(cr.c.case_id).where(
            cr.c.seq == sa.any_(sa.bindparam("seqs", type_=ARRAY_BIGINT))
        )
        near.append(c.c.case_id.in_(shares))
    if by_area:
        box = sa.func.ST_MakeEnvelope(
            sa.bindparam("west", type_=sa.Double),
            sa.bindparam("south", type_=sa.Double),
            sa.bindparam("east", type_=sa.Double),
            sa.bindparam("north", type_=sa.Double),
            4326,
        )
        cluster = sa.func.geography(
            sa.func.ST_GeomFromWKB(sa.bindparam("area_wkb", type_=sa.LargeBinary), 4326)
        )
        radius = sa.bindparam("radius_m", type_=sa.Double)
        for column in (c.c.anchor_geom, c.c.aggregate_geom):
            near.append(
                sa.and_(
                    column.op("&&")(box),
                    sa.func.ST_DWithin(sa.func.geography(column), cluster, radius),
                )
            )
    status_ok = matchable_status((), (), datetime.min)  # values bound per call
    linked = (
        sa.select(
            sa.func.coalesce(sa.func.array_agg(cr.c.seq), sa.cast(sa.text("'{}'"), ARRAY_BIGINT))
        )
        .where(cr.c.case_id == c.c.case_id)
        .scalar_subquery()
    )
    return (
        sa.select(
            c.c.case_id,
            c.c.slug,
            c.c.title,
            c.c.status,
            c.c.classification,
            c.c.summary,
            c.c.geometry_json,
            c.c.aggregate_geometry_json,
            c.c.aggregate_bbox_json,
            c.c.anchor_report_seq,
            c.c.anchor_lat,
            c.c.anchor_lng,
            c.c.cluster_count,
            c.c.linked_report_count,
            c.c.updated_at,
            linked.label("report_seqs"),
            sa.func.ST_AsBinary(c.c.aggregate_geom).label("area_wkb"),
        )
        .where(
            c.c.classification == sa.bindparam("classification", type_=sa.String),
            c.c.merged_into_case_id.is_(None),
            status_ok,
            sa.or_(*near),
        )
        .order_by(c.c.updated_at.desc(), c.c.case_id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
