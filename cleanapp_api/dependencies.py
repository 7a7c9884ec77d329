"""Dependencies the app registers for every handler, and the annotations to request them.

Litestar 2.23+ wants injected parameters marked explicitly, so handlers write::

    async def handler(
        current_user: CurrentUser, db_engine: DbEngine, settings: AppSettings
    ) -> ...: ...

Each name is provided app-wide by :func:`cleanapp_api.app.create_app`; a handler that does
not declare ``current_user`` is public (authentication never runs for it).
"""

from __future__ import annotations

from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.engine import Engine

from cleanapp_api.auth import AuthenticatedUser, provide_current_user
from cleanapp_api.services.discovery import CaseDiscovery
from cleanapp_api.settings import Settings

__all__ = [
    "AppSettings",
    "CurrentUser",
    "DbEngine",
    "Discovery",
    "app_dependencies",
    "provide_discovery",
    "provide_engine",
    "provide_settings",
]

CurrentUser: TypeAlias = NamedDependency[AuthenticatedUser]
"""``current_user: CurrentUser`` — the authenticated caller (401/503 otherwise)."""

DbEngine: TypeAlias = NamedDependency[Engine]
"""``db_engine: DbEngine`` — the service's SQLAlchemy engine (use it on a worker thread)."""

AppSettings: TypeAlias = NamedDependency[Settings]
"""``settings: AppSettings`` — the service configuration."""

Discovery: TypeAlias = NamedDependency[CaseDiscovery]
"""``discovery: Discovery`` — the process's contact discovery (off unless enabled)."""


def provide_engine(state: State) -> Engine:
    """Return the engine the lifespan stored in ``app.state.engine``."""
    engine: Engine = state.engine
    return engine


def provide_settings(state: State) -> Settings:
    """Return ``app.state.settings``."""
    settings: Settings = state.settings
    return settings


def provide_discovery(state: State) -> CaseDiscovery:
    """Return ``app.state.discovery``."""
    discovery: CaseDiscovery = state.discovery
    return discovery


def app_dependencies() -> dict[str, Provide]:
    """Return the app-wide dependencies (current_user, db_engine, settings, discovery)."""
    return {
        "current_user": Provide(provide_current_user),
        "db_engine": Provide(provide_engine, sync_to_thread=False),
        "settings": Provide(provide_settings, sync_to_thread=False),
        "discovery": Provide(provide_discovery, sync_to_thread=False),
    }
