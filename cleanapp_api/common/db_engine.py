"""The store's engine with bounded waiting, as both services create it.

Every connection carries a ``statement_timeout`` and a ``lock_timeout`` (the server cancels
a statement that runs or waits longer: a table locked by another connection answers within
the timeout instead of never), the pool gives up after ``pool_timeout_s`` when every
connection is busy, connecting gives up after 5 s, and TCP keepalives and
``tcp_user_timeout`` (10 s) drop a connection whose server stopped answering. A cancelled
statement or a pool timeout reaches the exception table as a SQLAlchemy ``OperationalError``
or ``TimeoutError``: 503 ``database unavailable``.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

__all__ = ["CONNECT_TIMEOUT_S", "bounded_engine"]

CONNECT_TIMEOUT_S: Final = 5
_TCP_USER_TIMEOUT_MS: Final = 10_000


def bounded_engine(
    url: str,
    *,
    statement_timeout_s: float,
    pool_timeout_s: float = 5.0,
    pool_size: int = 10,
    max_overflow: int = 10,
) -> sa.Engine:
    """Create a pooled psycopg engine whose every wait is bounded (see the module docstring).

    Parameters
    ----------
    url : str
        SQLAlchemy URL (``postgresql+psycopg://...``).
    statement_timeout_s : float
        Statement and lock timeout of every connection.
    pool_timeout_s : float, default 5
        Longest wait for a pooled connection.
    pool_size, max_overflow : int
        Pool sizes.

    Returns
    -------
    sqlalchemy.Engine
        No connection is opened yet.
    """
    ms = max(1, int(statement_timeout_s * 1000))
    given = sa.engine.make_url(url).query.get("options") or ""
    given = given if isinstance(given, str) else " ".join(given)
    options = f"{given} -c statement_timeout={ms} -c lock_timeout={ms}".strip()
    return sa.create_engine(
        url,
        # Bound values (recipient addresses, texts) never appear in exception messages, so
        # never in a logged traceback.
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_s,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": options,  # the URL's own options (a search_path) are kept
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": _TCP_USER_TIMEOUT_MS,
        },
    )
