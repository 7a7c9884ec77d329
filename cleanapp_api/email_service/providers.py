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
import hashlib
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

#: The unsubscribe footer in each language a draft can have (``cleanapp_geo.drafts.LOCALES``):
#: (plain-text sentence ending with the link, HTML sentence, link text).
_FOOTERS: Final[dict[str, tuple[str, str, str]]] = {
    "en": (
        "You receive this message because this address is listed as a contact for the "
        "place or organisation of a CleanApp case. To stop receiving CleanApp case e-mails, "
        "open: {url}",
        "You receive this message because this address is listed as a contact for the "
        "place or organisation of a CleanApp case.",
        "Unsubscribe from CleanApp case e-mails",
    ),
    "de": (
        "Sie erhalten diese Nachricht, weil diese Adresse als Kontakt für den Ort oder die "
        "Organisation eines CleanApp-Falls hinterlegt ist. Um keine CleanApp-Fall-E-Mails "
        "mehr zu erhalten, öffnen Sie: {url}",
        "Sie erhalten diese Nachricht, weil diese Adresse als Kontakt für den Ort oder die "
        "Organisation eines CleanApp-Falls hinterlegt ist.",
        "Von CleanApp-Fall-E-Mails abmelden",
    ),
    "fr": (
        "Vous recevez ce message parce que cette adresse est indiquée comme contact pour le "
        "lieu ou l'organisation d'un cas CleanApp. Pour ne plus recevoir les e-mails de cas "
        "CleanApp, ouvrez : {url}",
        "Vous recevez ce message parce que cette adresse est indiquée comme contact pour le "
        "lieu ou l'organisation d'un cas CleanApp.",
        "Se désabonner des e-mails de cas CleanApp",
    ),
    "it": (
        "Ricevete questo messaggio perché questo indirizzo è indicato come contatto per il "
        "luogo o l'organizzazione di un caso CleanApp. Per non ricevere più le e-mail dei "
        "casi CleanApp, aprite: {url}",
        "Ricevete questo messaggio perché questo indirizzo è indicato come contatto per il "
        "luogo o l'organizzazione di un caso CleanApp.",
        "Annulla l'iscrizione alle e-mail dei casi CleanApp",
    ),
    "es": (
        "Recibe este mensaje porque esta dirección figura como contacto del lugar o la "
        "organización de un caso de CleanApp. Para dejar de recibir correos de casos de "
        "CleanApp, abra: {url}",
        "Recibe este mensaje porque esta dirección figura como contacto del lugar o la "
        "organización de un caso de CleanApp.",
        "Darse de baja de los correos de casos de CleanApp",
    ),
    "pt": (
        "Recebe esta mensagem porque este endereço consta como contacto do local ou da "
        "organização de um caso CleanApp. Para deixar de receber e-mails de casos CleanApp, "
        "abra: {url}",
        "Recebe esta mensagem porque este endereço consta como contacto do local ou da "
        "organização de um caso CleanApp.",
        "Cancelar a subscrição dos e-mails de casos CleanApp",
    ),
}
_ERROR_BODY_LIMIT: Final = 512
#: Headers are never folded into RFC 2047 encoded words (a folded ``List-Unsubscribe`` URL
#: is unusable); RFC 5322 allows lines up to 998 characters.
_POLICY: Final = email.policy.default.clone(max_line_length=998)


class ProviderError(Exception):
    """A provider refused or failed to take a message; the text is stored as the error.

    Parameters
    ----------
    message : str
        The reason, safe to store.
    transient : bool, default False
        Whether trying again later may succeed (SMTP 4xx, timeouts, lost connections,
        SendGrid 429 and 5xx); a permanent refusal (SMTP 5xx, SendGrid 4xx) is not retried.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


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
    locale: str | None = None,
) -> OutgoingMessage:
    """Build the MIME message of one recipient (footer, ``List-Unsubscribe``, Message-ID).

    The ``Message-ID`` is derived from the message key when there is one
    (``<sha256(key)[:32].case@domain>``): every attempt of one (send, recipient) carries the
    same id, so a receiver can de-duplicate a copy a crash made us send twice. The footer
    speaks the message's ``locale`` (English when unknown).

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
        Tracing values; the key also gives the ``Message-ID``.
    attachments : sequence of (filename, content type, bytes), optional
        Files attached to the message as MIME parts (``multipart/mixed``).
    locale : str, optional
        Language of the footer (``en``, ``de``, ``fr``, ``it``, ``es``, ``pt``).

    Returns
    -------
    OutgoingMessage
    """
    footer_text, footer_html, link_text = _FOOTERS.get((locale or "en").lower(), _FOOTERS["en"])
    text = f"{body.rstrip()}\n\n-- \n{footer_text.format(url=unsubscribe_url)}\n"
    rendered = html_body.strip() or text_to_html(body)
    href = html.escape(unsubscribe_url, quote=True)
    html_part = (
        f"<!DOCTYPE html><html><body>{rendered}"
        '<hr><p style="font-size:small;color:#555">'
        f'{html.escape(footer_html)} <a href="{href}">{html.escape(link_text)}</a>.</p>'
        "</body></html>"
    )
    subject = _header_safe(subject)
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = formataddr((_header_safe(settings.from_name), settings.from_address))
    msg["To"] = formataddr((_header_safe(recipient_name), recipient))
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = settings.from_address.rpartition("@")[2]
    if message_key:
        digest = hashlib.sha256(message_key.encode("utf-8")).hexdigest()[:32]
        msg["Message-ID"] = f"<{digest}.case@{domain}>"
    else:
        msg["Message-ID"] = make_msgid(domain=domain)
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
                f"smtp server refused the message: {exc.smtp_code} {detail}",
                transient=400 <= exc.smtp_code < 500,
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise ProviderError(
                f"smtp server refused {message.recipient}: {exc.recipients}",
                transient=all(400 <= code < 500 for code in codes),
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ProviderError(
                f"smtp delivery failed: {type(exc).__name__}: {exc}", transient=True
            ) from exc
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
            raise ProviderError(
                f"sendgrid request failed: {type(exc).__name__}: {exc}", transient=True
            ) from exc
        elapsed = time.monotonic() - started
        status = response.status_code
        if not 200 <= status < 300:
            raise ProviderError(
                f"sendgrid returned status {status} for {message.recipient} "
                f"(in {elapsed:.2f}s): {response.text[:_ERROR_BODY_LIMIT]}",
                transient=status == 429 or status >= 500,
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
            raise ProviderError(f"outbox write failed: {exc}", transient=True) from exc
        return message.message_id


def make_provider(settings: EmailSettings) -> Provider:
    """Return the provider named by ``settings.provider``."""
    if settings.provider == "smtp":
        return SmtpProvider(settings)
    if settings.provider == "sendgrid":
        return SendGridProvider(settings)
    return OutboxProvider(settings)
