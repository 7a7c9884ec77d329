"""Application factory of the CleanApp Cases service.

:func:`create_app` wires, in one place:

* configuration (:class:`~cleanapp_api.settings.Settings`, from the environment by default),
  kept in ``app.state.settings`` and injectable as the ``settings`` dependency;
* a SQLAlchemy engine (psycopg 3, synchronous, a connection pinged on checkout when it may
  be dead, statement, lock, pool and socket timeouts) created in the lifespan and disposed
  at shutdown, in ``app.state.engine`` and injectable as ``db_engine`` (annotations in
  :mod:`cleanapp_api.dependencies`). Database work runs on worker threads
  (``anyio.to_thread``), which also keeps the library's CPU-heavy, synchronous code
  (GeoDataFrame loaders, scoring) off the event loop; ``POST /reports`` takes at most
  ``INGEST_CONCURRENCY`` of them at once (``app.state.ingest_limiter``);
* the escalation reconciler (:func:`~cleanapp_api.escalation.sending.recover_sends`), a
  lifespan task every ``ESCALATION_RECOVERY_INTERVAL_S`` when an email service is configured;
* authentication (``app.state.authenticator``; the ``current_user`` dependency, see
  :mod:`cleanapp_api.auth`);
* the exception table of :mod:`cleanapp_api.errors`;
* the global middleware of :mod:`cleanapp_api.middleware` (rate limit, CORS, security
  headers, body limit, gzip);
* OpenAPI at ``/schema`` (``/schema/openapi.json`` for the document) with a ``BearerAuth``
  security scheme;
* ``GET /healthz``: 200 ``{"status": "ok", "database": "ok"}`` when ``SELECT 1`` succeeds
  within 3 s, else 503 ``{"error": "database unreachable"}``. It is public, outside the
  versioned prefixes and, like every route, rate-limited;
* the API controllers of :data:`cleanapp_api.routes.CONTROLLERS`, mounted identically under
  ``/api/v3`` and ``/api/v4`` (:func:`api_routers`);
* the case workspace's pages under ``/app/`` (:mod:`cleanapp_api.routes.workspace`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Final

import anyio
import anyio.to_thread
from litestar import Litestar, Response, Router, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from cleanapp_api.auth import BEARER_SECURITY_SCHEME, Authenticator, DbTokenStore
from cleanapp_api.common.db_engine import bounded_engine
from cleanapp_api.common.json_body import CheckedJsonRequest
from cleanapp_api.dependencies import app_dependencies
from cleanapp_api.errors import error_response, error_responses, exception_handlers
from cleanapp_api.escalation.sending import recover_sends
from cleanapp_api.middleware import compression_config, install_edge_middleware
from cleanapp_api.routes import CONTROLLERS
from cleanapp_api.routes.workspace import workspace_routes
from cleanapp_api.services.discovery import CaseDiscovery
from cleanapp_api.settings import Settings

__all__ = [
    "API_PREFIXES",
    "HEALTH_TIMEOUT_S",
    "MSG_DATABASE_UNREACHABLE",
    "OPENAPI_PATH",
    "api_routers",
    "create_app",
    "create_db_engine",
]

logger = logging.getLogger("cleanapp_api")

API_PREFIXES: Final = ("/api/v3", "/api/v4")
OPENAPI_PATH: Final = "/schema"
HEALTH_TIMEOUT_S: Final = 3.0
MSG_DATABASE_UNREACHABLE: Final = "database unreachable"
_MIN_HMAC_SECRET_BYTES: Final = 32


def api_routers(controllers: Sequence[ControllerRouterHandler]) -> list[Router]:
    """Mount the same controllers under every API prefix (``/api/v3`` and ``/api/v4``).

    Parameters
    ----------
    controllers : sequence
        Controllers, routers or route handlers; their paths are relative to the prefix.

    Returns
    -------
    list of litestar.Router
        One router per prefix in :data:`API_PREFIXES`.
    """
    return [Router(path=prefix, route_handlers=list(controllers)) for prefix in API_PREFIXES]


def create_db_engine(settings: Settings) -> Engine:
    """Create the service's SQLAlchemy engine (no connection is opened yet).

    Parameters
    ----------
    settings : Settings
        Supplies ``database_url`` and the statement and pool timeouts.

    Returns
    -------
    sqlalchemy.engine.Engine
        A pooled psycopg 3 engine whose every wait is bounded
        (:func:`cleanapp_api.common.db_engine.bounded_engine`).
    """
    return bounded_engine(
        settings.database_url,
        statement_timeout_s=settings.database_statement_timeout_s,
        pool_timeout_s=settings.database_pool_timeout_s,
    )


async def _reconciler(engine: Engine, settings: Settings) -> None:
    """Settle unsettled escalation sends every ``ESCALATION_RECOVERY_INTERVAL_S``."""
    while True:
        await anyio.sleep(settings.escalation_recovery_interval_s)
        try:
            # Not abandoned on shutdown: a pass ends within its timeouts, and its connections
            # go back to the pool before the engine is disposed.
            await anyio.to_thread.run_sync(partial(recover_sends, engine, settings))
        except SQLAlchemyError as exc:
            logger.warning("reconciler: database unavailable: %s", type(exc).__name__)
        except Exception:
            logger.exception("reconciler failed")


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if len(settings.jwt_secret.encode("utf-8")) < _MIN_HMAC_SECRET_BYTES:
        logger.warning(
            "JWT_SECRET is shorter than %d bytes; HS256 tokens signed with it are weak",
            _MIN_HMAC_SECRET_BYTES,
        )
    engine = create_db_engine(settings)
    store = DbTokenStore(engine) if settings.auth_token_store == "db" else None
    app.state.engine = engine
    # POST /reports at most this many at once per process (Settings.ingest_concurrency).
    app.state.ingest_limiter = anyio.CapacityLimiter(settings.ingest_concurrency)
    app.state.authenticator = Authenticator(settings.jwt_secret, store)
    try:
        async with anyio.create_task_group() as tasks:
            if settings.email_service_url:
                tasks.start_soon(_reconciler, engine, settings)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
    finally:
        engine.dispose()
        app.state.discovery.close()


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@get(
    "/healthz",
    tags=["health"],
    summary="Service and database health",
    description=(
        '200 `{"status": "ok", "database": "ok"}` when the database answers `SELECT 1` '
        'within 3 s, else 503 `{"error": "database unreachable"}`.'
    ),
    responses={k: v for k, v in error_responses().items() if k != 400},
)
async def healthz(state: State) -> Response[dict[str, str]]:
    """Report whether the service and its database are up."""
    try:
        with anyio.fail_after(HEALTH_TIMEOUT_S):
            await anyio.to_thread.run_sync(partial(_ping, state.engine), abandon_on_cancel=True)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        logger.warning("health check: database unreachable: %s: %s", type(exc).__name__, exc)
        return error_response(503, MSG_DATABASE_UNREACHABLE)
    return Response({"status": "ok", "database": "ok"})


def create_app(
    settings: Settings | None = None,
    *,
    extra_controllers: Sequence[ControllerRouterHandler] = (),
    discovery: CaseDiscovery | None = None,
) -> Litestar:
    """Build the Litestar application.

    Parameters
    ----------
    settings : Settings, optional
        Configuration; read with :meth:`Settings.from_env` when omitted.
    extra_controllers : sequence, optional
        Controllers mounted under both API prefixes in addition to
        :data:`cleanapp_api.routes.CONTROLLERS` (tests use this for probe routes).
    discovery : CaseDiscovery, optional
        The contact discovery of ``refresh_targets`` (default: one built from ``settings``;
        tests pass one pointed at local fixture servers).

    Returns
    -------
    litestar.Litestar
        The application; its lifespan opens and disposes of the database engine.

    Raises
    ------
    SettingsError
        When ``settings`` is omitted and the environment is incomplete or invalid.
    """
    if settings is None:
        settings = Settings.from_env()
    openapi = OpenAPIConfig(
        title="CleanApp Cases API",
        version=_version(),
        path=OPENAPI_PATH,
        description=(
            "Cluster analysis and durable cases over CleanApp reports. Every route exists "
            'identically under /api/v3 and /api/v4. Errors are {"error": "..."}.'
        ),
        components=Components(
            security_schemes={
                BEARER_SECURITY_SCHEME: SecurityScheme(
                    type="http", scheme="bearer", bearer_format="JWT"
                )
            }
        ),
    )
    app = Litestar(
        route_handlers=[
            healthz,
            *api_routers([*CONTROLLERS, *extra_controllers]),
            *workspace_routes(settings),
        ],
        dependencies=app_dependencies(),
        exception_handlers=exception_handlers(),
        compression_config=compression_config(),
        openapi_config=openapi,
        request_max_body_size=settings.request_body_limit_bytes,
        request_class=CheckedJsonRequest,
        lifespan=[_lifespan],
        state=State({"settings": settings, "discovery": discovery or CaseDiscovery(settings)}),
        logging_config=None,
        debug=False,
    )
    install_edge_middleware(app, settings, docs_path=OPENAPI_PATH)
    return app


def _version() -> str:
    from cleanapp_geo import __version__

    return __version__
