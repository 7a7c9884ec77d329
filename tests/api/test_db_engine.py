"""The service engine pings a pooled connection only when it may be dead, and replaces a dead
one on checkout (real PostgreSQL: sessions ended with ``pg_terminate_backend``)."""

from __future__ import annotations

import time

import psycopg
import sqlalchemy as sa
from support import libpq_url

from cleanapp_api.common.db_engine import bounded_engine, ping_when_in_doubt


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        pid: int = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def _last_query(db_url: str, pid: int) -> str:
    with psycopg.connect(libpq_url(db_url), autocommit=True) as admin:
        row = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    assert row is not None
    return str(row[0])


def _terminate(db_url: str, pid: int) -> None:
    with psycopg.connect(libpq_url(db_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.02)


def test_a_terminated_pooled_connection_is_replaced_on_checkout(db_url: str) -> None:
    engine = bounded_engine(db_url, statement_timeout_s=5, pool_size=1, max_overflow=0)
    try:
        pid = _backend_pid(engine)
        _terminate(db_url, pid)  # returned a moment ago: only its readable socket tells
        assert _backend_pid(engine) != pid  # no error: the checkout reconnected
    finally:
        engine.dispose()


def _engine(db_url: str, idle_after_s: float) -> sa.Engine:
    engine = sa.create_engine(db_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    ping_when_in_doubt(engine, idle_after_s=idle_after_s)
    return engine


def test_an_idle_connection_is_pinged_and_a_recent_one_is_not(db_url: str) -> None:
    for idle_after_s, pinged in ((0.0, True), (3600.0, False)):
        engine = _engine(db_url, idle_after_s)
        try:
            pid = _backend_pid(engine)  # a new connection: never pinged
            assert _last_query(db_url, pid) == "ROLLBACK"  # the pool's reset on return
            time.sleep(0.01)
            with engine.connect():
                pass
            assert _last_query(db_url, pid) == (";" if pinged else "ROLLBACK")
        finally:
            engine.dispose()
