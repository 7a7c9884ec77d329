"""The store's engine with bounded waiting, as both services create it.

Every connection carries a ``statement_timeout`` and a ``lock_timeout`` (the server cancels
a statement that runs or waits longer: a table locked by another connection answers within
the timeout instead of never), the pool gives up after ``pool_timeout_s`` when every
connection is busy, connecting gives up after 5 s, and TCP keepalives and
``tcp_user_timeout`` (10 s) drop a connection whose server stopped answering. A cancelled
statement or a pool timeout reaches the exception table as a SQLAlchemy ``OperationalError``
or ``TimeoutError``: 503 ``database unavailable``.

Checked-out connections are pinged only when they may be dead (:func:`ping_when_in_doubt`):
when the connection came back to the pool more than :data:`PING_IDLE_AFTER_S` ago, or when
its socket holds unread input (a server that ends a session, by ``pg_terminate_backend``, a
shutdown or a restart, sends an error message and closes the socket, which makes it
readable). A failed ping invalidates the pool and the checkout reconnects, as SQLAlchemy's
``pool_pre_ping`` does; but a connection handed back a moment ago with nothing to read skips
the round trip ``pool_pre_ping`` made on every checkout (a request checks a connection out
once or more).
"""

from __future__ import annotations

import select
import time
from typing import Any, Final

import sqlalchemy as sa

__all__ = ["CONNECT_TIMEOUT_S", "PING_IDLE_AFTER_S", "bounded_engine", "ping_when_in_doubt"]

CONNECT_TIMEOUT_S: Final = 5
#: A pooled connection idle for longer than this is pinged when it is checked out.
PING_IDLE_AFTER_S: Final = 1.0
_TCP_USER_TIMEOUT_MS: Final = 10_000
#: ``ConnectionPoolEntry.info`` key: when the connection came back (None: never checked out).
_RETURNED_AT: Final = "cleanapp_returned_at"


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
    engine = sa.create_engine(
        url,
        # Bound values (recipient addresses, texts) never appear in exception messages, so
        # never in a logged traceback.
        hide_parameters=True,
        pool_pre_ping=False,  # ping_when_in_doubt instead
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
    ping_when_in_doubt(engine)
    return engine


def ping_when_in_doubt(engine: sa.Engine, *, idle_after_s: float = PING_IDLE_AFTER_S) -> None:
    """Ping a connection on checkout only when it may be dead (see the module docstring).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        A psycopg engine created with ``pool_pre_ping=False``.
    idle_after_s : float, default :data:`PING_IDLE_AFTER_S`
        Ping connections that came back to the pool longer ago than this.

    Notes
    -----
    A new connection is never pinged (nor is it by ``pool_pre_ping``). A failed ping that
    the dialect recognises as a disconnection raises
    :class:`sqlalchemy.exc.InvalidatePoolError`: the pool drops every connection older than
    now and the checkout retries on a new one; any other error propagates.
    """
    dialect = engine.dialect

    @sa.event.listens_for(engine, "connect")
    def _fresh(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = None

    @sa.event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None:
            return
        if time.monotonic() - returned_at <= idle_after_s and not _has_input(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_connection, None):
                raise sa.exc.InvalidatePoolError() from err
            raise


def _has_input(dbapi_connection: Any) -> bool:
    """Whether an idle psycopg connection's socket is readable (or already closed)."""
    try:
        fd = dbapi_connection.pgconn.socket
    except Exception:  # a closed connection has no socket: let the ping find out
        return True
    poller = select.poll()  # not select.select: descriptors may exceed FD_SETSIZE
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
