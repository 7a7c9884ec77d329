"""Fixtures for the PostGIS store tests.

The tests run against the server named by ``TEST_DATABASE_URL`` (the Makefile sets it;
default: the local ``cleanapp_test`` database). When the server is unreachable the tests
are skipped on a developer machine and fail in CI (``CI`` set).

Isolation: each test session migrates a private schema (``io_test_<random>``, put first
on the ``search_path`` through the URL's ``options``) and drops it at the end, so
concurrent sessions sharing the database never see each other's rows; each test that asks
for ``store`` starts from empty tables.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from io_support import clear
from support import reachable_database_url

from cleanapp_api import db


@pytest.fixture(scope="session")
def base_url() -> str:
    """URL of the reachable test database (skip locally / fail in CI when unreachable)."""
    return reachable_database_url()


@pytest.fixture(scope="session")
def store_url(base_url: str) -> Iterator[str]:
    """URL of a freshly migrated private schema, dropped after the session."""
    with db.private_schema(base_url, "io_test") as url:
        yield url


@pytest.fixture(scope="session")
def engine(store_url: str) -> Iterator[sa.Engine]:
    """Engine on the session's private, migrated schema."""
    eng = sa.create_engine(store_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> sa.Engine:
    """The session engine, with every table emptied first."""
    clear(engine)
    return engine
