"""The one set of helpers every test directory shares (imported by module name, like
``upstream_examples``): the test database (probe, private migrated schemas) and real
servers on loopback ports (uvicorn in a thread).

Each test session works in private schemas of the database named by ``TEST_DATABASE_URL``
(the Makefile sets it). When the server is unreachable the tests that need it are skipped
on a developer machine and fail in CI (``CI`` set).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp_test"

# --------------------------------------------------------------------------- database


def database_url_from_env() -> str:
    """The test database's URL as given (``TEST_DATABASE_URL`` or the local default)."""
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL


def unreachable(message: str) -> None:
    """Skip the test (developer machine) or fail it (CI): the test database is needed."""
    if os.environ.get("CI"):
        pytest.fail(f"PostGIS test database unreachable in CI: {message}", pytrace=False)
    pytest.skip(f"PostGIS test database unreachable ({message}); set TEST_DATABASE_URL")


def reachable_database_url() -> str:
    """The normalised URL of the test database after one ``SELECT 1`` (skip/fail otherwise)."""
    import sqlalchemy as sa

    from cleanapp_api import db

    url = db.normalise_url(database_url_from_env())
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        unreachable(str(exc).splitlines()[0])
    finally:
        engine.dispose()
    return url


@contextmanager
def migrated_schema(prefix: str) -> Iterator[str]:
    """A freshly migrated private schema ``<prefix>_<random>`` of the test database (its URL),
    dropped afterwards."""
    from cleanapp_api import db

    with db.private_schema(reachable_database_url(), prefix) as url:
        yield url


def libpq_url(sqlalchemy_url: str) -> str:
    """The URL for psycopg itself (no ``+psycopg`` driver suffix)."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    """A loopback port nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port_url() -> str:
    """A database URL on a loopback port where nothing listens (connection refused)."""
    return f"postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:{free_port()}/nothing"


class UvicornThread:
    """An ASGI app served by uvicorn in a thread on a loopback port; stoppable."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port or 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                pytest.fail("uvicorn thread did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@contextmanager
def serve_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` under uvicorn in a thread; yield its base URL."""
    server = UvicornThread(app).start()
    try:
        yield server.url
    finally:
        server.stop()
