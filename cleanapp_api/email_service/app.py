"""The email service: a separate Litestar application and process.

Routes
------
* ``POST /internal/case-escalations/send`` -- guarded by ``X-Internal-Admin-Token``
  (trimmed, compared in constant time with ``INTERNAL_ADMIN_TOKEN``): 503 ``internal admin
  token not configured`` when the server has none, 401 ``unauthorized`` when the header is
  missing or wrong. 400 ``at least one recipient is required`` / ``no valid recipients
  provided``. 200 ``{case_id, results}``, per recipient as in
  :mod:`cleanapp_api.email_service.delivery` (recorded in the ledger first; a recipient
  already recorded is answered from it and never mailed twice).
* ``GET /internal/case-escalations/sends/{send_id}`` -- same guard: the ledger's state of
  every recipient of a send (``{send_id, results}``; 404 ``send not found``). The case
  service's reconciler asks it when it lost track of a send.
* ``GET /unsubscribe?token=...`` -- the link in every message: a confirmation page with a
  button; it changes nothing (mail scanners open links). ``POST`` on the same URL records
  the opt-out: the page's button, or RFC 8058 one-click from mail clients
  (``List-Unsubscribe-Post``). 400 page for a bad token.
* ``GET /healthz`` -- ``{"status": "ok", "provider": ..., "dry_run": ...}``.

The lifespan starts the **recovery loop** (every ``EMAIL_RECOVERY_INTERVAL_S``): retries,
claims whose process died and messages a crash left queued are delivered
(:meth:`~cleanapp_api.email_service.delivery.DeliveryWorker.recover_once`).

Errors are ``{"error": "..."}`` (the table of :mod:`cleanapp_api.errors`). Bodies are limited
to ``EMAIL_REQUEST_BODY_LIMIT_BYTES`` (8 MiB). The provider runs on a worker thread,
recipients one after the other.
"""

from __future__ import annotations

import hmac
import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Final
from urllib.parse import urlencode

import anyio
import anyio.to_thread
import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.exc import SQLAlchemyError

from cleanapp_api.common.db_engine import bounded_engine
from cleanapp_api.common.json_body import CheckedJsonRequest
from cleanapp_api.email_service.delivery import DeliveryWorker, record_opt_out
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
from cleanapp_api.email_service.schemas import (
    EmailSendRequest,
    EmailSendResponse,
    EmailSendStatus,
)
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
STATUS_PATH: Final = "/internal/case-escalations/sends/{send_id:int}"
MSG_SEND_NOT_FOUND: Final = "send not found"
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
    public_url = settings.public_url or str(request.base_url).rstrip("/")
    worker: DeliveryWorker = state.worker
    return await anyio.to_thread.run_sync(
        partial(
            worker.deliver,
            msgspec.structs.replace(data, recipients=recipients),
            public_url=public_url,
        )
    )


@get(STATUS_PATH, guards=[require_internal_token], tags=["internal"])
async def send_status(send_id: FromPath[int], state: State) -> EmailSendStatus:
    """Answer the ledger's state of every recipient of a send (internal token only)."""
    worker: DeliveryWorker = state.worker
    results = await anyio.to_thread.run_sync(partial(worker.status, send_id))
    if not results:
        raise ApiError(404, MSG_SEND_NOT_FOUND)
    return EmailSendStatus(send_id=send_id, results=results)


def _page(status: int, title: str, text: str, form_action: str | None = None) -> Response[str]:
    form = (
        f'<form method="post" action="{html.escape(form_action, quote=True)}">'
        '<button type="submit">Unsubscribe</button></form>'
        if form_action
        else ""
    )
    body = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p>{form}</body></html>"
    )
    return Response(body, status_code=status, media_type=MediaType.HTML)


def _address(state: State, token: str | None) -> str | None:
    key = _key(_settings(state))
    if key is None:
        raise ApiError(503, MSG_UNSUBSCRIBE_NOT_CONFIGURED)
    return read_token(key, token)


def _invalid_link() -> Response[str]:
    return _page(400, "Invalid link", "This unsubscribe link is not valid.")


@get("/unsubscribe", tags=["unsubscribe"])
async def unsubscribe(
    request: Request[Any, Any, Any], state: State, token: FromQuery[str | None] = None
) -> Response[str]:
    """Show the confirmation page of an unsubscribe link; nothing changes until it is sent."""
    email = _address(state, token)
    if email is None:
        return _invalid_link()
    action = f"{request.url.path}?{urlencode({'token': token or ''})}"
    return _page(
        200,
        "Unsubscribe",
        f"Stop sending CleanApp case e-mails to {email}? Press the button to confirm.",
        form_action=action,
    )


@post("/unsubscribe", status_code=200, tags=["unsubscribe"])
async def unsubscribe_one_click(state: State, token: FromQuery[str | None] = None) -> Response[str]:
    """Record the opt-out: the page's button, or RFC 8058 one-click (``List-Unsubscribe-Post``)."""
    email = _address(state, token)
    if email is None:
        return _invalid_link()
    await anyio.to_thread.run_sync(partial(record_opt_out, state.engine, email))
    logger.info("opt-out recorded")
    return _page(
        200,
        "Unsubscribed",
        f"{email} will not receive CleanApp case e-mails any more.",
    )


@get("/healthz", tags=["health"])
async def healthz(state: State) -> dict[str, Any]:
    """Liveness and the configured provider."""
    settings = _settings(state)
    return {"status": "ok", "provider": settings.provider, "dry_run": settings.dry_run}


async def _recovery_loop(worker: DeliveryWorker, interval_s: float) -> None:
    while True:
        try:
            # Not abandoned on shutdown: a pass ends within its timeouts, and its connections
            # go back to the pool before the engine is disposed.
            await anyio.to_thread.run_sync(worker.recover_once)
        except SQLAlchemyError as exc:
            logger.warning("recovery loop: database unavailable: %s", type(exc).__name__)
        except Exception:
            logger.exception("recovery loop failed")
        await anyio.sleep(interval_s)


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    settings = _settings(app.state)
    engine = bounded_engine(
        settings.database_url,
        statement_timeout_s=settings.statement_timeout_s,
        pool_size=5,
        max_overflow=10,
    )
    provider = make_provider(settings)
    key = _key(settings)
    app.state.engine = engine
    app.state.provider = provider
    app.state.worker = DeliveryWorker(settings, engine, provider, unsubscribe_key=key or b"")
    try:
        async with anyio.create_task_group() as tasks:
            if key is not None:
                tasks.start_soon(_recovery_loop, app.state.worker, settings.recovery_interval_s)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
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
        route_handlers=[
            send_case_escalation,
            send_status,
            unsubscribe,
            unsubscribe_one_click,
            healthz,
        ],
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
