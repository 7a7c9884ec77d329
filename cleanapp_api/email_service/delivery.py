"""Per-recipient delivery of the email service.

For each recipient, in order:

1. the address is trimmed and lower-cased; ``delivery_source`` defaults to
   ``case_target``;
2. **validity** (:func:`cleanapp_geo.targets.is_valid_email`, whole-part placeholder
   check): ``invalid_email`` / ``invalid recipient email``;
3. **message log**: with a ``message_key`` already logged as ``sent``, the logged result is
   returned and nothing is mailed again; one logged as ``sending`` (a crash during an
   earlier attempt) is answered ``failed`` / ``an earlier attempt ... was interrupted``
   rather than risking a second copy;
4. **opt-out** (``opted_out_emails``): ``opted_out`` / ``recipient opted out``;
5. **dry run** (``EMAIL_DRY_RUN``): ``dry_run`` / ``EMAIL_DRY_RUN is set: nothing was
   sent``;
6. the intent is logged (``sending``, committed), **one message** is sent through the
   provider and the log row is finalised: ``sent`` with the provider message id and
   ``sent_at``, or ``failed`` with the provider's error. A failure to write the log after a
   successful send is logged and the result stays ``sent`` (upstream rewrote it to
   ``failed``, inviting a duplicate).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.exc import SQLAlchemyError

from cleanapp_api.common.timefmt import rfc3339
from cleanapp_api.db import tables as t
from cleanapp_api.email_service.providers import Provider, ProviderError, build_message
from cleanapp_api.email_service.schemas import (
    EmailRecipient,
    EmailResult,
    EmailSendRequest,
    EmailSendResponse,
)
from cleanapp_api.email_service.settings import EmailSettings
from cleanapp_api.email_service.unsubscribe import make_token, unsubscribe_url
from cleanapp_geo.targets import is_valid_email

__all__ = [
    "MSG_DRY_RUN",
    "MSG_INTERRUPTED",
    "MSG_INVALID",
    "MSG_OPTED_OUT",
    "deliver",
    "is_opted_out",
    "record_opt_out",
]

logger = logging.getLogger("cleanapp_api.email_service")

MSG_INVALID: Final = "invalid recipient email"
MSG_OPTED_OUT: Final = "recipient opted out"
MSG_DRY_RUN: Final = "EMAIL_DRY_RUN is set: nothing was sent"
MSG_INTERRUPTED: Final = (
    "an earlier attempt with this message key was interrupted; delivery state unknown, "
    "not sent again"
)


def is_opted_out(engine: sa.Engine, email: str) -> bool:
    """Whether an address is in ``opted_out_emails``."""
    o = t.opted_out_emails
    with engine.connect() as conn:
        return conn.execute(sa.select(o.c.email).where(o.c.email == email)).first() is not None


def record_opt_out(engine: sa.Engine, email: str) -> None:
    """Add an address to ``opted_out_emails`` (idempotent)."""
    o = t.opted_out_emails
    with engine.begin() as conn:
        conn.execute(pg.insert(o).values(email=email.strip().lower()).on_conflict_do_nothing())


def _logged(engine: sa.Engine, key: str) -> sa.Row[tuple[object, ...]] | None:
    m = t.email_messages
    with engine.connect() as conn:
        return conn.execute(sa.select(m).where(m.c.message_key == key)).first()


def _log_intent(engine: sa.Engine, key: str, case_id: str, email: str, provider: str) -> None:
    m = t.email_messages
    stmt = pg.insert(m).values(
        message_key=key, case_id=case_id, email=email, status="sending", provider=provider
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[m.c.message_key],
        set_={"status": "sending", "error_message": None, "updated_at": sa.func.now()},
    )
    with engine.begin() as conn:
        conn.execute(stmt)


def _log_result(engine: sa.Engine, key: str, result: EmailResult, sent_at: datetime | None) -> None:
    m = t.email_messages
    with engine.begin() as conn:
        conn.execute(
            sa.update(m)
            .where(m.c.message_key == key)
            .values(
                status=result.status,
                provider_message_id=result.provider_message_id,
                sent_at=sent_at,
                error_message=result.error,
                updated_at=sa.func.now(),
            )
        )


def _result(
    recipient: EmailRecipient,
    email: str,
    status: str,
    provider: str,
    *,
    message_id: str | None = None,
    sent_at: datetime | None = None,
    error: str | None = None,
) -> EmailResult:
    return EmailResult(
        target_id=recipient.target_id,
        email=email,
        status=status,
        delivery_source=recipient.delivery_source.strip() or "case_target",
        provider=provider,
        provider_message_id=message_id,
        sent_at=rfc3339(sent_at),
        error=error,
    )


def _deliver_one(
    settings: EmailSettings,
    engine: sa.Engine,
    provider: Provider,
    request: EmailSendRequest,
    recipient: EmailRecipient,
    *,
    unsubscribe_key: bytes,
    public_url: str,
) -> EmailResult:
    email = recipient.email.strip().lower()
    name = provider.name
    if not is_valid_email(email):
        return _result(recipient, email, "invalid_email", name, error=MSG_INVALID)
    key = (recipient.message_key or "").strip()
    if key:
        row = _logged(engine, key)
        if row is not None and row.status == "sent":
            return _result(
                recipient,
                email,
                "sent",
                str(row.provider),
                message_id=row.provider_message_id,
                sent_at=row.sent_at,
            )
        if row is not None and row.status == "sending":
            return _result(recipient, email, "failed", str(row.provider), error=MSG_INTERRUPTED)
    try:
        opted_out = is_opted_out(engine, email)
    except SQLAlchemyError as exc:
        return _result(recipient, email, "failed", name, error=f"opt-out check failed: {exc}")
    if opted_out:
        return _result(recipient, email, "opted_out", name, error=MSG_OPTED_OUT)
    if settings.dry_run:
        return _result(recipient, email, "dry_run", name, error=MSG_DRY_RUN)
    message = build_message(
        settings,
        recipient=email,
        recipient_name=recipient.display_name.strip() or recipient.organization.strip(),
        subject=request.subject,
        body=request.body,
        html_body=request.html_body,
        unsubscribe_url=unsubscribe_url(public_url, make_token(unsubscribe_key, email)),
        case_id=request.case_id,
        message_key=key,
        attachments=[
            (a.filename, a.content_type, base64.b64decode(a.content_base64))
            for a in request.attachments
        ],
    )
    if key:
        try:
            _log_intent(engine, key, request.case_id, email, name)
        except SQLAlchemyError as exc:
            return _result(recipient, email, "failed", name, error=f"message log failed: {exc}")
    try:
        message_id = provider.send(message)
    except ProviderError as exc:
        result = _result(recipient, email, "failed", name, error=str(exc))
        sent_at = None
    else:
        sent_at = datetime.now(UTC)
        result = _result(recipient, email, "sent", name, message_id=message_id, sent_at=sent_at)
    if key:
        try:
            _log_result(engine, key, result, sent_at)
        except SQLAlchemyError:
            logger.exception(
                "message log update failed for %s (result kept: %s)", key, result.status
            )
    return result


def deliver(
    settings: EmailSettings,
    engine: sa.Engine,
    provider: Provider,
    request: EmailSendRequest,
    recipients: Sequence[EmailRecipient],
    *,
    unsubscribe_key: bytes,
    public_url: str,
) -> EmailSendResponse:
    """Deliver a send request, one message per recipient, sequentially (blocking I/O).

    Parameters
    ----------
    settings : EmailSettings
        Sender, dry run.
    engine : sqlalchemy.Engine
        The store (opt-outs, message log).
    provider : Provider
        How messages leave.
    request : EmailSendRequest
        Subject and bodies.
    recipients : sequence of EmailRecipient
        The non-blank recipients.
    unsubscribe_key : bytes
        HMAC key of the unsubscribe tokens.
    public_url : str
        Base URL of this service for the unsubscribe links.

    Returns
    -------
    EmailSendResponse
        One result per recipient, in order.
    """
    results = [
        _deliver_one(
            settings,
            engine,
            provider,
            request,
            recipient,
            unsubscribe_key=unsubscribe_key,
            public_url=public_url,
        )
        for recipient in recipients
    ]
    return EmailSendResponse(case_id=request.case_id, results=results)
