"""Run the service under uvicorn (the ``cleanapp-api serve`` subcommand calls :func:`serve`)."""

from __future__ import annotations

import copy
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from cleanapp_api.settings import Settings

__all__ = ["serve"]


def serve(host: str = "127.0.0.1", port: int = 8080, *, log_level: str = "info") -> None:
    """Validate the environment, then serve :func:`cleanapp_api.app.create_app` with uvicorn.

    The configuration is checked before uvicorn starts, so a missing variable stops start-up
    with one clear :class:`~cleanapp_api.settings.SettingsError` instead of a traceback from
    inside the server. uvicorn then builds the app through the factory (which reads the same
    environment). WebSockets are disabled (the API has none); the ``server`` header is
    omitted. ``X-Forwarded-For`` is trusted only from ``FORWARDED_ALLOW_IPS`` (uvicorn's own
    variable, default 127.0.0.1), which decides the client IP used by the rate limit.

    Parameters
    ----------
    host : str, default "127.0.0.1"
        Interface to bind.
    port : int, default 8080
        TCP port; 0 picks a free port (logged by uvicorn).
    log_level : str, default "info"
        Level of the uvicorn and ``cleanapp_api`` loggers.

    Raises
    ------
    SettingsError
        If the environment is incomplete or invalid.
    """
    Settings.from_env()
    uvicorn.run(
        "cleanapp_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        log_config=_log_config(log_level),
        lifespan="on",
        ws="none",
        server_header=False,
        proxy_headers=True,
    )


def _log_config(log_level: str) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["cleanapp_api"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        "propagate": False,
    }
    return config
