"""Advisory locks of case writes, so that concurrent creates never make two cases.

Concurrency (:func:`lock_scope`)
--------------------------------
Case writes take transaction-scoped advisory locks before they read: one exclusive lock per
report seq they link, and exclusive locks on the 0.05° grid cells that the cluster's
matching neighbourhood (its bounds grown by :data:`cleanapp_geo.matching.MATCH_RADIUS_M`)
touches, under a shared global lock; a neighbourhood spanning more than 64 cells takes the
global lock exclusively instead. Locks are taken in one global order (global, cells, seqs;
ascending keys within each), so lockers never deadlock. Two creates over the same reports,
or whose clusters could match each other's cases, therefore run one after the other, and
the second one's re-match (inside its transaction, after the lock) sees the first one's
case.

Advisory locks belong to the whole database, not to a schema: every key is XORed in SQL
with a hash of ``current_schema()`` (:func:`take_advisory_lock`), so two stores in
different schemas of one database (a deployment per schema, tests and benchmarks in
private schemas) never wait on each other's locks.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any, Final

import sqlalchemy as sa

from cleanapp_api.db import direct
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import (
    ARRAY_BIGINT,
    ARRAY_TEXT,
)
from cleanapp_geo.matching import MATCH_RADIUS_M

__all__ = [
    "advisory_lock_key",
    "grown_bounds",
    "lock_case_rows",
    "lock_scope",
    "take_advisory_lock",
]

_LOCK_NAMESPACE: Final = "cleanapp_cases"
_CELL_DEG: Final = 0.05
_MAX_LOCKED_CELLS: Final = 64
_M_PER_DEG_LAT: Final = 110_574.0  # shortest degree of latitude (equator), in metres
_M_PER_DEG_LON_EQUATOR: Final = 111_320.0

# =========================================================================== locks


def advisory_lock_key(*parts: object) -> int:
    """64-bit key of a PostgreSQL advisory lock named by ``parts`` (in our namespace)."""
    digest = hashlib.blake2b(
        ":".join([_LOCK_NAMESPACE, *map(str, parts)]).encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


#: SQL of a key in this schema's lock namespace (``#`` is bigint XOR).
_IN_SCHEMA: Final = "# hashtextextended(coalesce(current_schema(), ''), 0)"


def take_advisory_lock(conn: sa.Connection, key: int, *, shared: bool = False) -> None:
    """Take a transaction-scoped advisory lock on ``key`` in this schema's namespace.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the transaction (the lock lasts until it ends).
    key : int
        A key from :func:`advisory_lock_key`.
    shared : bool, default False
        Take the shared form (``pg_advisory_xact_lock_shared``).
    """
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    conn.execute(
        sa.text(f"SELECT {function}(CAST(:key AS BIGINT) {_IN_SCHEMA})"),
        {"key": key},
    )


def _cell_keys(bounds: tuple[float, float, float, float]) -> list[int] | None:
    west, south, east, north = grown_bounds(bounds, MATCH_RADIUS_M)
    ix = range(math.floor(west / _CELL_DEG), math.floor(east / _CELL_DEG) + 1)
    iy = range(math.floor(south / _CELL_DEG), math.floor(north / _CELL_DEG) + 1)
    if len(ix) * len(iy) > _MAX_LOCKED_CELLS:
        return None
    return sorted(advisory_lock_key("cell", x, y) for x in ix for y in iy)


def grown_bounds(
    bounds: tuple[float, float, float, float], metres: float
) -> tuple[float, float, float, float]:
    """Grow lon/lat bounds by at least ``metres`` on every side (clipped to the globe).

    Parameters
    ----------
    bounds : tuple of float
        ``(west, south, east, north)`` in degrees.
    metres : float
        Margin.

    Returns
    -------
    tuple of float
        The grown bounds.
    """
    west, south, east, north = bounds
    dlat = metres / _M_PER_DEG_LAT * 1.01
    south, north = max(-90.0, south - dlat), min(90.0, north + dlat)
    cos_phi = math.cos(math.radians(min(89.9, max(abs(south), abs(north)))))
    dlon = metres / (_M_PER_DEG_LON_EQUATOR * cos_phi) * 1.01
    return max(-180.0, west - dlon), south, min(180.0, east + dlon), north


def lock_scope(
    conn: sa.Connection,
    *,
    seqs: Iterable[int],
    bounds: tuple[float, float, float, float] | None,
    generic_plans: bool = False,
) -> None:
    """Serialise case writes over the same reports or neighbourhood (module docstring).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside the write transaction (the locks last until it ends).
    seqs : iterable of int
        Reports the write links.
    bounds : tuple of float, optional
        ``(west, south, east, north)`` of the cluster (its scope or its reports).
    generic_plans : bool, default False
        For the rest of the transaction, run prepared statements with generic plans
        (``plan_cache_mode``, set in the same statement). For ``POST /reports``: it runs
        the same dozen statements many times a second on one report, and planning them at
        every execution (custom plans of the statements psycopg prepares) was a third of
        the PostgreSQL time of an ingest (0.76 of 2.2 ms on the 100k benchmark store);
        a generic plan is made once per connection and statement.
    """
    global_key = advisory_lock_key("global")
    cells = _cell_keys(bounds) if bounds is not None else []
    keys = [
        global_key,
        *(cells or []),
        *sorted(advisory_lock_key("seq", int(s)) for s in set(seqs)),
    ]
    # One statement (an ingest takes these locks many times a second): unnest yields the
    # keys in order, so the locks are taken in the one global order, the global lock
    # first (shared when the cells stand for the neighbourhood, else exclusive).
    direct.execute(
        conn,
        _LOCK_SCOPE_GENERIC if generic_plans else _LOCK_SCOPE,
        {"keys": keys, "global_shared": cells is not None},
    )


_LOCK_SCOPE: Final = sa.text(
    "SELECT CASE WHEN u.ord = 1 AND :global_shared"
    f" THEN pg_advisory_xact_lock_shared(u.k {_IN_SCHEMA})"
    f" ELSE pg_advisory_xact_lock(u.k {_IN_SCHEMA}) END"
    " FROM unnest(:keys) WITH ORDINALITY AS u(k, ord)"
).bindparams(
    sa.bindparam("keys", type_=ARRAY_BIGINT), sa.bindparam("global_shared", type_=sa.Boolean)
)


_LOCK_SCOPE_GENERIC: Final = sa.text(
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', true),"
    " CASE WHEN u.ord = 1 AND :global_shared"
    f" THEN pg_advisory_xact_lock_shared(u.k {_IN_SCHEMA})"
    f" ELSE pg_advisory_xact_lock(u.k {_IN_SCHEMA}) END"
    " FROM unnest(:keys) WITH ORDINALITY AS u(k, ord)"
).bindparams(
    sa.bindparam("keys", type_=ARRAY_BIGINT), sa.bindparam("global_shared", type_=sa.Boolean)
)


def lock_case_rows(conn: sa.Connection, case_ids: Iterable[str]) -> dict[str, Any]:
    """Lock case rows (``FOR UPDATE``, in ``case_id`` order) and return those that exist.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside a transaction.
    case_ids : iterable of str
        The cases.

    Returns
    -------
    dict of str to Row
        ``case_id`` → row with ``case_id, status, merged_into_case_id,
        created_by_user_id``.
    """
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    return {row.case_id: row for row in direct.execute(conn, _LOCK_CASES, {"ids": ids})}


_LOCK_CASES: Final = (  # built once: every case write runs it
    sa.select(
        t.cases.c.case_id, t.cases.c.status, t.cases.c.merged_into_case_id,
        t.cases.c.created_by_user_id,
    )
    .where(t.cases.c.case_id == sa.any_(sa.bindparam("ids", type_=ARRAY_TEXT)))
    .order_by(t.cases.c.case_id)
    .with_for_update()
)  # fmt: skip
