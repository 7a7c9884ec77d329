"""Message building and the three providers: SMTP, SendGrid v3 and an ``.eml`` outbox.

Every message is ``multipart/alternative`` with a plain-text and an HTML part, both ending
with an unsubscribe footer, and carries ``List-Unsubscribe`` (the signed HTTPS link) and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058).

A provider's :meth:`~Provider.send` returns the provider message id or raises
:class:`ProviderError` with a message safe to store.
"""

from __future__ import annotations

import base64
import email.policy
import html
import re
import smtplib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Any, Final, Protocol

import httpx

from cleanapp_api.email_service.settings import EmailSettings
from cleanapp_geo.drafts import text_to_html

__all__ = [
    "OutboxProvider",
    "OutgoingMessage",
    "Provider",
    "ProviderError",
    "SendGridProvider",
    "SmtpProvider",
    "build_message",
    "make_provider",
]

_FOOTER_TEXT: Final = (
    "You receive this message because this address is listed as a contact for the place "
    "or organisation of a CleanApp case. To stop receiving CleanApp case e-mails, open: {url}"
)
_FOOTER_HTML: Final = (
    '<hr><p style="font-size:small;color:#555">You receive this message because this '
    "address is listed as a contact for the place or organisation of a CleanApp case. "
    '<a href="{href}">Unsubscribe from CleanApp case e-mails</a>.</p>'
)
_ERROR_BODY_LIMIT: Final = 512
#: Headers are never folded into RFC 2047 encoded words (a folded ``List-Unsubscribe`` URL
#: is unusable); RFC 5322 allows lines up to 998 characters.
_POLICY: Final = email.policy.default.clone(max_line_length=998)


class ProviderError(Exception):
    """A provider refused or failed to take a message; the text is stored as the error."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to one recipient, in the forms the providers need.

    Attributes
    ----------
    recipient : str
        The address.
    recipient_name : str
        Display name (may be empty).
    subject, text, html : str
        Subject and bodies (footers included).
    unsubscribe_url : str
        The signed unsubscribe link.
    message : email.message.EmailMessage
        The MIME message (``Message-ID`` set).
    case_id, message_key : str
        Tracing values (SendGrid ``custom_args``).
    attachments : tuple of (filename, content type, bytes)
        Attached files (already MIME parts of ``message``).
    """

    recipient: str
    recipient_name: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str
    message: EmailMessage
    case_id: str
    message_key: str
    attachments: tuple[tuple[str, str, bytes], ...] = ()

    @property
    def message_id(self) -> str:
        """The ``Message-ID`` header (with angle brackets)."""
        return str(self.message["Message-ID"])


def _header_safe(value: str) -> str:
    return re.sub(r"[\r\n]+", " ", value).strip()


def build_message(
    settings: EmailSettings,
    *,
    recipient: str,
    recipient_name: str,
    subject: str,
    body: str,
    html_body: str,
    unsubscribe_url: str,
    case_id: str,
    message_key: str = "",
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> OutgoingMessage:
    """Build the MIME message of one recipient (footer, ``List-Unsubscribe``, Message-ID).

    Parameters
    ----------
    settings : EmailSettings
        Sender address and name.
    recipient, recipient_name : str
        The addressee.
    subject, body, html_body : str
        The content; an empty ``html_body`` is rendered from ``body``.
    unsubscribe_url : str
        The signed unsubscribe link.
    case_id, message_key : str
        Tracing values.
    attachments : sequence of (filename, content type, bytes), optional
        Files attached to the message as MIME parts (``multipart/mixed``).

    Returns
    -------
    OutgoingMessage
    """
    text = f"{body.rstrip()}\n\n-- \n{_FOOTER_TEXT.format(url=unsubscribe_url)}\n"
    rendered = html_body.strip() or text_to_html(body)
    html_part = (
        f"<!DOCTYPE html><html><body>{rendered}"
        f"{_FOOTER_HTML.format(href=html.escape(unsubscribe_url, quote=True))}</body></html>"
    )
    subject = _header_safe(subject)
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = formataddr((_header_safe(settings.from_name), settings.from_address))
    msg["To"] = formataddr((_header_safe(recipient_name), recipient))
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=settings.from_address.rpartition("@")[2])
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    if case_id:
        msg["X-CleanApp-Case-Id"] = _header_safe(case_id)
    msg.set_content(text)
    msg.add_alternative(html_part, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return OutgoingMessage(
        recipient=recipient,
        recipient_name=recipient_name,
        subject=subject,
        text=text,
        html=html_part,
        unsubscribe_url=unsubscribe_url,
        message=msg,
        case_id=case_id,
        message_key=message_key,
        attachments=tuple(attachments),
    )


class Provider(Protocol):
    """Sends one message; returns the provider message id."""

    name: str

    def send(self, message: OutgoingMessage) -> str:
        """Send ``message``; raise :class:`ProviderError` when it was not accepted."""
        ...


class SmtpProvider:
    """SMTP with :mod:`smtplib` (one session per message, optional STARTTLS and AUTH).

    The id is the message's ``Message-ID``. Runs on the worker thread of the request.
    """

    name = "smtp"

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings

    def send(self, message: OutgoingMessage) -> str:
        """Send over SMTP; SMTP and network errors become :class:`ProviderError`."""
        s = self._settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.provider_timeout_s) as smtp:
                smtp.ehlo()
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if s.smtp_username is not None and s.smtp_password is not None:
                    smtp.login(s.smtp_username, s.smtp_password)
                refused = smtp.send_message(
                    message.message, from_addr=s.from_address, to_addrs=[message.recipient]
                )
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            raise ProviderError(
                f"smtp server refused the message: {exc.smtp_code} {detail}"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ProviderError(f"smtp delivery failed: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise ProviderError(f"smtp server refused {message.recipient}: {refused}")
        return message.message_id


class SendGridProvider:
    """SendGrid v3 ``POST /v3/mail/send`` over HTTPS (httpx, bearer API key).

    A 2xx answer means accepted; the id is the ``X-Message-Id`` header (values joined by
    ``,``, upstream's rule). Anything else is an error quoting the status and at most 512
    characters of the body.
    """

    name = "sendgrid"

    def __init__(self, settings: EmailSettings, client: httpx.Client | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.Client(timeout=settings.provider_timeout_s)

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        """Return the v3 mail/send JSON body of one message."""
        s = self._settings
        to: dict[str, str] = {"email": message.recipient}
        if message.recipient_name:
            to["name"] = message.recipient_name
        payload: dict[str, Any] = {
            "personalizations": [{"to": [to]}],
            "from": {"email": s.from_address, "name": s.from_name},
            "subject": message.subject,
            "content": [
                {"type": "text/plain", "value": message.text},
                {"type": "text/html", "value": message.html},
            ],
            "headers": {
                "List-Unsubscribe": f"<{message.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        }
        custom = {
            k: v
            for k, v in (("case_id", message.case_id), ("message_key", message.message_key))
            if v
        }
        if custom:
            payload["custom_args"] = custom
        if message.attachments:
            payload["attachments"] = [
                {
                    "content": base64.b64encode(data).decode("ascii"),
                    "type": content_type,
                    "filename": filename,
                    "disposition": "attachment",
                }
                for filename, content_type, data in message.attachments
            ]
        return payload

    def send(self, message: OutgoingMessage) -> str:
        """POST the message; non-2xx answers and transport errors raise ProviderError."""
        s = self._settings
        started = time.monotonic()
        try:
            response = self._client.post(
                f"{s.sendgrid_api_url}/v3/mail/send",
                json=self.payload(message),
                headers={"Authorization": f"Bearer {s.sendgrid_api_key}"},
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"sendgrid request failed: {type(exc).__name__}: {exc}") from exc
        elapsed = time.monotonic() - started
        if not 200 <= response.status_code < 300:
            raise ProviderError(
                f"sendgrid returned status {response.status_code} for {message.recipient} "
                f"(in {elapsed:.2f}s): {response.text[:_ERROR_BODY_LIMIT]}"
            )
        return ",".join(response.headers.get_list("X-Message-Id")) or message.message_id

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


class OutboxProvider:
    """Writes each message as an ``.eml`` file into a folder (the demo's provider).

    File names are ``<UTC time>_<case id>_<recipient>.eml``; the id is the ``Message-ID``.
    """

    name = "outbox"

    def __init__(self, settings: EmailSettings) -> None:
        self.directory = Path(settings.outbox_dir)

    def send(self, message: OutgoingMessage) -> str:
        """Write the file; filesystem errors raise ProviderError."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        safe = re.sub(r"[^A-Za-z0-9@._-]", "_", f"{message.case_id}_{message.recipient}")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{stamp}_{safe}.eml"
            path.write_bytes(message.message.as_bytes())
        except OSError as exc:
            raise ProviderError(f"outbox write failed: {exc}") from exc
        return message.message_id


def make_provider(settings: EmailSettings) -> Provider:
    """Return the provider named by ``settings.provider``."""
    if settings.provider == "smtp":
        return SmtpProvider(settings)
    if settings.provider == "sendgrid":
        return SendGridProvider(settings)
    return OutboxProvider(settings)
