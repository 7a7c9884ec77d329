"""Run the service under uvicorn (the ``cleanapp-api serve`` subcommand calls :func:`serve`)."""

from __future__ import annotations

import copy
import gc
import os
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from cleanapp_api.reuseport import reuseport_available, serve_workers
from cleanapp_api.settings import Settings

if TYPE_CHECKING:
    from litestar import Litestar

__all__ = ["create_served_app", "default_workers", "freeze_startup_objects", "serve"]


def default_workers() -> int:
    """Return the default number of worker processes: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def create_served_app() -> Litestar:
    """Build the app from the environment after freezing the start-up objects (uvicorn factory).

    Each worker process runs it, so each one warms the library up and freezes its own
    start-up objects (:func:`freeze_startup_objects`).
    """
    from cleanapp_api.app import create_app

    freeze_startup_objects()
    return create_app()


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    log_level: str = "info",
    workers: int | None = None,
) -> None:
    """Validate the environment, then serve :func:`cleanapp_api.app.create_app` with uvicorn.

    The configuration is checked before uvicorn starts, so a missing variable stops start-up
    with one clear :class:`~cleanapp_api.settings.SettingsError` instead of a traceback from
    inside the server. uvicorn then builds the app through the factory (which reads the same
    environment). WebSockets are disabled (the API has none); the ``server`` header is
    omitted. ``X-Forwarded-For`` is trusted only from ``FORWARDED_ALLOW_IPS`` (uvicorn's own
    variable, default 127.0.0.1), which decides the client IP used by the rate limit.
    The objects alive after importing the application are frozen out of the garbage
    collector first, in every worker (:func:`create_served_app`).

    Parameters
    ----------
    host : str, default "127.0.0.1"
        Interface to bind.
    port : int, default 8080
        TCP port; 0 picks a free port (logged by uvicorn).
    log_level : str, default "info"
        Level of the uvicorn and ``cleanapp_api`` loggers.
    workers : int, optional
        Worker processes sharing the port (default: :func:`default_workers`, one per core).
        On Linux, more than one run under :func:`cleanapp_api.reuseport.serve_workers`,
        each with its own ``SO_REUSEPORT`` socket, restarted when one dies.
        Each has its own pool, rate-limit buckets and reconciler loop (the reconciler's
        row locks keep them from driving one send twice).

    Raises
    ------
    SettingsError
        If the environment is incomplete or invalid.
    """
    Settings.from_env()
    config: dict[str, Any] = {
        "app": "cleanapp_api.serve:create_served_app",
        "factory": True,
        "log_level": log_level,
        "log_config": _log_config(log_level),
        "lifespan": "on",
        "ws": "none",
        "server_header": False,
        "proxy_headers": True,
    }
    workers = workers or default_workers()
    if workers > 1 and reuseport_available():
        # Each worker on its own SO_REUSEPORT socket: the kernel spreads the connections
        # (cleanapp_api.reuseport); uvicorn's workers share one socket and one of them
        # may take a whole burst of keep-alive connections.
        serve_workers(config, host=host, port=port, workers=workers)
        return
    uvicorn.run(**config, workers=workers, host=host, port=port)


def freeze_startup_objects() -> None:
    """Import the application, warm the library up, collect, and exempt the survivors from GC.

    The imported modules (litestar, pandas, geopandas, shapely, numba, the library) hold
    about 280,000 container objects that live as long as the process. Left in the oldest
    generation, every full collection traverses them: a full collection triggered inside a
    request (the analysis routes allocate tens of thousands of objects) then paused it by
    about 100 ms. :func:`gc.freeze` moves them to the permanent generation, so collections
    only look at objects created afterwards. The library loads its compiled kernels (numba)
    on first use, so one small synthetic analysis per model runs first: its objects are
    frozen too, and the first request does not pay for loading them.
    """
    import cleanapp_api.app  # noqa: F401 -- the imports are the point
    import cleanapp_geo as cg
    from cleanapp_geo.synthetic import make_reports

    reports = make_reports(300, seed=0)
    for model in (cg.DEFAULT_MODEL, cg.UPSTREAM_MODEL):
        cg.analyze(reports, classification="physical", model=model)
    del reports
    gc.collect()
    gc.freeze()


def _log_config(log_level: str) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["cleanapp_api"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        "propagate": False,
    }
    return config
