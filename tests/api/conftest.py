"""Fixtures for the service tests.

Tests drive the real app through its whole ASGI stack (Litestar's test clients) or over TCP
(uvicorn). Tests that need the database take the ``db_url`` fixture: it skips them when the
test database is unreachable, unless ``CI`` is set, where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from api_support import (
    DEFAULT_TEST_DATABASE_URL,
    STOPGAP_AUTH_TOKENS_SQL,
    STOPGAP_SCHEMA,
    base_settings,
    client_for,
    libpq_url,
)
from litestar.testing import TestClient
from sqlalchemy.engine import make_url

from cleanapp_api.auth import token_sha256
from cleanapp_api.settings import Settings


@pytest.fixture(scope="session")
def db_url() -> str:
    """SQLAlchemy URL of the reachable test database, with the stopgap ``auth_tokens``."""
    url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3, autocommit=True) as conn:
            conn.execute(STOPGAP_AUTH_TOKENS_SQL)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            safe = make_url(url).render_as_string(hide_password=True)
            pytest.fail(f"test database unreachable in CI ({safe}): {exc}")
        pytest.skip(f"test database unreachable ({exc.__class__.__name__}); set TEST_DATABASE_URL")
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{STOPGAP_SCHEMA},public"


@pytest.fixture
def token_rows(db_url: str) -> Iterator[Callable[..., None]]:
    """Insert ``auth_tokens`` rows; every row inserted by the test is deleted afterwards."""
    hashes: list[str] = []
    conn = psycopg.connect(libpq_url(db_url.split("?")[0]), autocommit=True)

    def insert(
        token: str,
        user_id: str,
        *,
        token_type: str = "access",
        expires_in_s: float = 3600.0,
    ) -> None:
        token_hash = token_sha256(token)
        hashes.append(token_hash)
        conn.execute(
            f"INSERT INTO {STOPGAP_SCHEMA}.auth_tokens"
            " (user_id, token_hash, token_type, expires_at) VALUES (%s, %s, %s, %s)",
            (user_id, token_hash, token_type, datetime.now(UTC) + timedelta(seconds=expires_in_s)),
        )

    try:
        yield insert
    finally:
        if hashes:
            conn.execute(
                f"DELETE FROM {STOPGAP_SCHEMA}.auth_tokens WHERE token_hash = ANY(%s)", (hashes,)
            )
        conn.close()


@pytest.fixture(scope="module")
def settings() -> Settings:
    return base_settings()


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient[Any]]:
    """One app per test module (JWT-only auth, generous rate limit, probe routes)."""
    with client_for(settings) as c:
        yield c


@pytest.fixture(scope="module")
def db_settings(db_url: str) -> Settings:
    return base_settings(db_url, auth_token_store="db")


@pytest.fixture(scope="module")
def db_client(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as c:
        yield c
