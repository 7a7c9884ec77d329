"""The email service: a separate Litestar application and process.

Routes
------
* ``POST /internal/case-escalations/send`` -- guarded by ``X-Internal-Admin-Token``
  (trimmed, compared in constant time with ``INTERNAL_ADMIN_TOKEN``): 503 ``internal admin
  token not configured`` when the server has none, 401 ``unauthorized`` when the header is
  missing or wrong. 400 ``at least one recipient is required`` / ``no valid recipients
  provided``. 200 ``{case_id, results}``, per recipient as in
  :mod:`cleanapp_api.email_service.delivery`.
* ``GET /unsubscribe?token=...`` -- the link in every message: records the address in
  ``opted_out_emails`` and answers a short HTML page (400 for a bad token). ``POST`` on the
  same URL is the RFC 8058 one-click variant mail clients use with ``List-Unsubscribe-Post``.
  A GET records the opt-out (rather than showing a confirmation form): unsubscribing must
  take one click, and an opt-out is never harmful to its recipient.
* ``GET /healthz`` -- ``{"status": "ok", "provider": ..., "dry_run": ...}``.

Errors are ``{"error": "..."}`` (the table of :mod:`cleanapp_api.errors`). Bodies are limited
to 1 MiB. The provider runs on a worker thread, recipients one after the other.
"""

from __future__ import annotations

import hmac
import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Final

import anyio.to_thread
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromQuery, JSONBody
from sqlalchemy import create_engine

from cleanapp_api.common.json_body import CheckedJsonRequest
from cleanapp_api.email_service.delivery import deliver, record_opt_out
from cleanapp_api.email_service.errors import (
    MSG_NO_RECIPIENTS,
    MSG_NO_VALID_RECIPIENTS,
    MSG_TOKEN_NOT_CONFIGURED,
    MSG_UNAUTHORIZED,
    MSG_UNSUBSCRIBE_NOT_CONFIGURED,
    ApiError,
    exception_handlers,
)
from cleanapp_api.email_service.providers import make_provider
from cleanapp_api.email_service.schemas import EmailSendRequest, EmailSendResponse
from cleanapp_api.email_service.settings import EmailSettings
from cleanapp_api.email_service.unsubscribe import read_token, unsubscribe_key

__all__ = [
    "MSG_NO_RECIPIENTS",
    "MSG_NO_VALID_RECIPIENTS",
    "MSG_TOKEN_NOT_CONFIGURED",
    "MSG_UNAUTHORIZED",
    "SEND_PATH",
    "create_email_app",
    "create_email_app_from_env",
]

logger = logging.getLogger("cleanapp_api.email_service")

SEND_PATH: Final = "/internal/case-escalations/send"
TOKEN_HEADER: Final = "X-Internal-Admin-Token"


def _settings(state: State) -> EmailSettings:
    settings: EmailSettings = state.email_settings
    return settings


async def require_internal_token(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: the ``X-Internal-Admin-Token`` header must equal ``INTERNAL_ADMIN_TOKEN``."""
    expected = _settings(connection.app.state).internal_admin_token
    if not expected:
        raise ApiError(503, MSG_TOKEN_NOT_CONFIGURED)
    given = (connection.headers.get(TOKEN_HEADER) or "").strip()
    if not given or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise ApiError(401, MSG_UNAUTHORIZED)


def _key(settings: EmailSettings) -> bytes | None:
    return unsubscribe_key(settings.unsubscribe_secret, settings.internal_admin_token)


@post(SEND_PATH, status_code=200, guards=[require_internal_token], tags=["internal"])
async def send_case_escalation(
    data: JSONBody[EmailSendRequest], request: Request[Any, Any, Any], state: State
) -> EmailSendResponse:
    """Send the message to each recipient and report each result (internal token only)."""
    settings = _settings(state)
    if not data.recipients:
        raise ApiError(400, MSG_NO_RECIPIENTS)
    recipients = [r for r in data.recipients if r.email.strip()]
    if not recipients:
        raise ApiError(400, MSG_NO_VALID_RECIPIENTS)
    key = _key(settings)
    if key is None:  # pragma: no cover - the guard requires the admin token
        raise ApiError(503, MSG_UNSUBSCRIBE_NOT_CONFIGURED)
    public_url = settings.public_url or str(request.base_url).rstrip("/")
    return await anyio.to_thread.run_sync(
        partial(
            deliver,
            settings,
            state.engine,
            state.provider,
            data,
            recipients,
            unsubscribe_key=key,
            public_url=public_url,
        )
    )


def _page(status: int, title: str, text: str) -> Response[str]:
    body = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p></body></html>"
    )
    return Response(body, status_code=status, media_type=MediaType.HTML)


async def _unsubscribe(state: State, token: str | None) -> Response[str]:
    settings = _settings(state)
    key = _key(settings)
    if key is None:
        raise ApiError(503, MSG_UNSUBSCRIBE_NOT_CONFIGURED)
    email = read_token(key, token)
    if email is None:
        return _page(400, "Invalid link", "This unsubscribe link is not valid.")
    await anyio.to_thread.run_sync(partial(record_opt_out, state.engine, email))
    logger.info("opt-out recorded for %s", email)
    return _page(
        200,
        "Unsubscribed",
        f"{email} will not receive CleanApp case e-mails any more.",
    )


@get("/unsubscribe", tags=["unsubscribe"])
async def unsubscribe(state: State, token: FromQuery[str | None] = None) -> Response[str]:
    """Record an opt-out from the link in a message."""
    return await _unsubscribe(state, token)


@post("/unsubscribe", status_code=200, tags=["unsubscribe"])
async def unsubscribe_one_click(state: State, token: FromQuery[str | None] = None) -> Response[str]:
    """RFC 8058 one-click opt-out (``List-Unsubscribe-Post``)."""
    return await _unsubscribe(state, token)


@get("/healthz", tags=["health"])
async def healthz(state: State) -> dict[str, Any]:
    """Liveness and the configured provider."""
    settings = _settings(state)
    return {"status": "ok", "provider": settings.provider, "dry_run": settings.dry_run}


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    settings = _settings(app.state)
    engine = create_engine(
        settings.database_url, pool_pre_ping=True, connect_args={"connect_timeout": 5}
    )
    provider = make_provider(settings)
    app.state.engine = engine
    app.state.provider = provider
    try:
        yield
    finally:
        close = getattr(provider, "close", None)
        if callable(close):
            close()
        engine.dispose()


def create_email_app(settings: EmailSettings | None = None) -> Litestar:
    """Build the email service application.

    Parameters
    ----------
    settings : EmailSettings, optional
        Configuration; read with :meth:`EmailSettings.from_env` when omitted.

    Returns
    -------
    litestar.Litestar
        The application; its lifespan opens the database engine and the provider.

    Raises
    ------
    SettingsError
        When ``settings`` is omitted and the environment is incomplete or invalid.
    """
    settings = settings or EmailSettings.from_env()
    return Litestar(
        route_handlers=[send_case_escalation, unsubscribe, unsubscribe_one_click, healthz],
        exception_handlers=exception_handlers(),
        request_max_body_size=settings.request_body_limit_bytes,
        request_class=CheckedJsonRequest,
        lifespan=[_lifespan],
        state=State({"email_settings": settings}),
        openapi_config=None,
        logging_config=None,
        debug=False,
    )


def create_email_app_from_env() -> Litestar:
    """Return :func:`create_email_app` configured from the environment (uvicorn factory)."""
    return create_email_app(EmailSettings.from_env())
