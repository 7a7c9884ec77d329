"""Client of the email service's internal send route (blocking; run it on a worker thread).

Every failure -- not configured, unreachable, timed out, an HTTP status >= 300, an
undecodable answer -- raises :class:`EmailServiceError` with a reason that is stored on the
failed deliveries and returned in the 502 message.
"""

from __future__ import annotations

from typing import Final

import httpx
import msgspec

from cleanapp_api.email_service.schemas import EmailSendRequest, EmailSendResponse
from cleanapp_api.settings import Settings

__all__ = ["SEND_PATH", "EmailServiceError", "send_via_email_service"]

SEND_PATH: Final = "/internal/case-escalations/send"
_BODY_EXCERPT: Final = 200


class EmailServiceError(Exception):
    """The email service could not be used; ``str(exc)`` is the reason."""


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
    EmailServiceError
        On every failure (see the module docstring).
    """
    if not settings.email_service_url:
        raise EmailServiceError("EMAIL_SERVICE_URL is not configured")
    timeout = settings.escalation_send_timeout_s
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), transport=transport) as client:
            response = client.post(
                settings.email_service_url + SEND_PATH,
                content=msgspec.json.encode(request),
                headers={
                    "Content-Type": "application/json",
                    "X-Internal-Admin-Token": settings.internal_admin_token or "",
                },
            )
    except httpx.TimeoutException as exc:
        raise EmailServiceError(
            f"email service timed out after {timeout:g} s ({type(exc).__name__}); "
            "delivery state unknown"
        ) from exc
    except httpx.HTTPError as exc:
        raise EmailServiceError(f"email service unreachable: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise EmailServiceError(
            f"email service answered HTTP {response.status_code}: {response.text[:_BODY_EXCERPT]}"
        )
    try:
        return msgspec.json.decode(response.content, type=EmailSendResponse)
    except msgspec.MsgspecError as exc:
        raise EmailServiceError(f"email service answered an undecodable body: {exc}") from exc
