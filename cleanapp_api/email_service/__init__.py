"""The email service: a separate process that mails case escalations.

``cleanapp-api email-service [--port P]`` runs :func:`~cleanapp_api.email_service.app.
create_email_app` under uvicorn (:func:`serve_email_service`). The case service calls its one
internal route, ``POST /internal/case-escalations/send``; recipients unsubscribe through
``GET /unsubscribe?token=...``. Providers (``EMAIL_PROVIDER``): ``smtp``, ``sendgrid``,
``outbox``. Configuration: :class:`cleanapp_api.settings.EmailSettings`.

* :mod:`~cleanapp_api.email_service.app` -- the Litestar app and its routes;
* :mod:`~cleanapp_api.email_service.delivery` -- per-recipient semantics;
* :mod:`~cleanapp_api.email_service.providers` -- MIME building and the providers;
* :mod:`~cleanapp_api.email_service.unsubscribe` -- signed unsubscribe tokens;
* :mod:`~cleanapp_api.email_service.schemas` -- wire types (shared with the client).
"""

from __future__ import annotations

__all__ = ["register_cli", "serve_email_service"]

from typing import Any


def serve_email_service(
    host: str = "127.0.0.1", port: int = 8025, *, log_level: str = "info"
) -> None:
    """Validate the environment, then serve the email service with uvicorn.

    Parameters
    ----------
    host : str, default "127.0.0.1"
        Interface to bind.
    port : int, default 8025
        TCP port (0 picks a free one).
    log_level : str, default "info"
        uvicorn log level.

    Raises
    ------
    SettingsError
        When the environment is incomplete or invalid.
    """
    import uvicorn

    from cleanapp_api.email_service.settings import EmailSettings

    EmailSettings.from_env()
    uvicorn.run(
        "cleanapp_api.email_service.app:create_email_app_from_env",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        ws="none",
        server_header=False,
    )


def register_cli(subparsers: Any) -> None:
    """Register ``email-service [--host H] [--port P]`` on the ``cleanapp-api`` parser."""
    parser = subparsers.add_parser(
        "email-service",
        help="run the email service (EMAIL_PROVIDER, INTERNAL_ADMIN_TOKEN, DATABASE_URL, ...)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8025, help="TCP port (default 8025)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    parser.set_defaults(handler=_run)


def _run(args: Any) -> int:
    from cleanapp_api.email_service.settings import SettingsError

    try:
        serve_email_service(args.host, args.port, log_level=args.log_level)
    except SettingsError as exc:
        import sys

        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
