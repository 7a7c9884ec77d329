"""Fixtures for the service tests.

Tests drive the real app through its whole ASGI stack (Litestar's test clients) or over TCP
(uvicorn). Tests that need the database take the ``db_url`` fixture: a private schema
(``api_test_<random>``, first on the connections' ``search_path``) migrated with the real
Alembic migrations for the session and dropped afterwards, so concurrent sessions sharing
the test database never see each other's rows. When the server is unreachable the tests are
skipped, unless ``CI`` is set, where they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from api_support import base_settings, client_for
from litestar.testing import TestClient
from support import libpq_url, migrated_schema

from cleanapp_api.auth import token_sha256
from cleanapp_api.db import tables
from cleanapp_api.settings import Settings


@pytest.fixture(scope="session")
def db_url() -> Iterator[str]:
    """SQLAlchemy URL of a freshly migrated private schema of the test database."""
    with migrated_schema("api_test") as url:
        yield url


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the session's migrated schema (for test set-up and checks)."""
    engine = sa.create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_db(db_engine: sa.Engine) -> sa.Engine:
    """The session engine, with every table but ``auth_tokens`` emptied first.

    ``DELETE`` (children first) is an order of magnitude faster than ``TRUNCATE`` on these
    small tables; ``auth_tokens`` rows belong to the ``token_rows`` fixture, and
    ``authority_directory_rules`` holds the migration's seeded reference rows.
    """
    keep = {tables.auth_tokens, tables.authority_directory_rules}
    with db_engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            if table not in keep:
                conn.execute(table.delete())
    return db_engine


@pytest.fixture
def token_rows(db_url: str) -> Iterator[Callable[..., None]]:
    """Insert ``auth_tokens`` rows; every row inserted by the test is deleted afterwards."""
    hashes: list[str] = []
    conn = psycopg.connect(libpq_url(db_url), autocommit=True)

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
            "INSERT INTO auth_tokens (user_id, token_hash, token_type, expires_at)"
            " VALUES (%s, %s, %s, %s)",
            (user_id, token_hash, token_type, datetime.now(UTC) + timedelta(seconds=expires_in_s)),
        )

    try:
        yield insert
    finally:
        if hashes:
            conn.execute("DELETE FROM auth_tokens WHERE token_hash = ANY(%s)", (hashes,))
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
