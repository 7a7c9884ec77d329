"""Client of the email service's internal routes (blocking; run it on a worker thread).

Two kinds of failure, because they mean different things for delivery truth:

* :class:`EmailServiceRefusedError` -- nothing was delivered by this call, for certain: the
  service could not be connected to, or it refused the request (HTTP 4xx).
* :class:`EmailServiceError` -- the outcome is **unknown**: a timeout, a connection lost
  after the request was sent, an HTTP 5xx, an undecodable answer. The email service may
  have delivered some recipients; the reconciler asks it later.

``str(exc)`` is a short reason safe to store and to show a client; the email service's
own words (its body, exception texts) are only logged.
"""

from __future__ import annotations

import logging
from typing import Final

import httpx
import msgspec

from cleanapp_api.email_service.schemas import (
    EmailResult,
    EmailSendRequest,
    EmailSendResponse,
    EmailSendStatus,
)
from cleanapp_api.settings import Settings

__all__ = [
    "SEND_PATH",
    "STATUS_PATH",
    "EmailServiceError",
    "EmailServiceRefusedError",
    "get_send_status",
    "send_via_email_service",
]

logger = logging.getLogger("cleanapp_api.escalation")

SEND_PATH: Final = "/internal/case-escalations/send"
STATUS_PATH: Final = "/internal/case-escalations/sends/{send_id}"
_BODY_EXCERPT: Final = 200


class EmailServiceError(Exception):
    """The email service's answer is unknown (see the module docstring)."""


class EmailServiceRefusedError(EmailServiceError):
    """Nothing was delivered by this call: unreachable, or the request was refused (4xx)."""


def _request(
    settings: Settings,
    method: str,
    path: str,
    content: bytes | None,
    transport: httpx.BaseTransport | None,
) -> httpx.Response:
    if not settings.email_service_url:
        raise EmailServiceRefusedError("EMAIL_SERVICE_URL is not configured")
    timeout = settings.escalation_send_timeout_s
    headers = {"X-Internal-Admin-Token": settings.internal_admin_token or ""}
    if content is not None:
        headers["Content-Type"] = "application/json"
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), transport=transport) as client:
            response = client.request(
                method, settings.email_service_url + path, content=content, headers=headers
            )
    except httpx.ConnectError as exc:
        logger.warning("email service unreachable: %s", type(exc).__name__)
        raise EmailServiceRefusedError("email service unreachable") from exc
    except httpx.TimeoutException as exc:
        raise EmailServiceError(
            f"email service timed out after {timeout:g} s; delivery state unknown"
        ) from exc
    except httpx.HTTPError as exc:
        logger.warning("email service connection lost: %s", type(exc).__name__)
        raise EmailServiceError("email service connection lost; delivery state unknown") from exc
    if 400 <= response.status_code < 500 and response.status_code != 404:
        logger.warning(
            "email service refused %s %s: HTTP %d %s",
            method,
            path,
            response.status_code,
            response.text[:_BODY_EXCERPT],
        )
        raise EmailServiceRefusedError(
            f"email service refused the request (HTTP {response.status_code})"
        )
    if response.status_code >= 500:
        logger.warning(
            "email service failed %s %s: HTTP %d %s",
            method,
            path,
            response.status_code,
            response.text[:_BODY_EXCERPT],
        )
        raise EmailServiceError(
            f"email service answered HTTP {response.status_code}; delivery state unknown"
        )
    return response


def send_via_email_service(
    settings: Settings, request: EmailSendRequest, *, transport: httpx.BaseTransport | None = None
) -> EmailSendResponse:
    """POST a send request to ``EMAIL_SERVICE_URL`` and decode the per-recipient results.

    Parameters
    ----------
    settings : Settings
        ``email_service_url``, ``internal_admin_token``, ``escalation_send_timeout_s``.
    request : EmailSendRequest
        The messages to send.
    transport : httpx.BaseTransport, optional
        For tests and embedding (e.g. an ASGI transport); default: the network.

    Returns
    -------
    EmailSendResponse
        The email service's answer.

    Raises
    ------
    EmailServiceRefusedError
        Nothing was delivered.
    EmailServiceError
        The outcome is unknown.
    """
    response = _request(settings, "POST", SEND_PATH, msgspec.json.encode(request), transport)
    if response.status_code == 404:
        raise EmailServiceRefusedError("email service refused the request (HTTP 404)")
    try:
        return msgspec.json.decode(response.content, type=EmailSendResponse)
    except msgspec.MsgspecError as exc:
        raise EmailServiceError(
            "email service answered an undecodable body; delivery state unknown"
        ) from exc


def get_send_status(
    settings: Settings, send_id: int, *, transport: httpx.BaseTransport | None = None
) -> list[EmailResult] | None:
    """Ask the email service's ledger about a send (None: it has no record of it).

    Raises
    ------
    EmailServiceError
        When the email service cannot answer now.
    """
    response = _request(settings, "GET", STATUS_PATH.format(send_id=send_id), None, transport)
    if response.status_code == 404:
        return None
    try:
        return msgspec.json.decode(response.content, type=EmailSendStatus).results
    except msgspec.MsgspecError as exc:
        raise EmailServiceError("email service answered an undecodable status") from exc
