"""Wire types of the email service's internal send route.

The case service's client (:mod:`cleanapp_api.escalation.client`) uses the same Structs.
New beyond upstream: a recipient's ``message_key`` (a send retried with the same key is
answered from the message log instead of being mailed again) and results that always carry
``provider_message_id``, ``sent_at`` and ``error`` (``null`` when not applicable).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "DELIVERY_STATUSES",
    "EmailAttachment",
    "EmailRecipient",
    "EmailResult",
    "EmailSendRequest",
    "EmailSendResponse",
    "EmailSendStatus",
]

#: Statuses of a per-recipient result (``pending``: queued, being sent or waiting to retry).
DELIVERY_STATUSES = ("sent", "failed", "invalid_email", "opted_out", "dry_run", "pending")


class EmailRecipient(msgspec.Struct, kw_only=True):
    """One recipient of a send."""

    target_id: int | None = None
    email: str = ""
    delivery_source: str = ""
    display_name: str = ""
    organization: str = ""
    message_key: str | None = None


class EmailAttachment(msgspec.Struct, kw_only=True):
    """A file attached to every message of a send (new), its bytes in base64."""

    filename: str
    content_type: str
    content_base64: str


class EmailSendRequest(msgspec.Struct, kw_only=True):
    """``POST /internal/case-escalations/send``: one message per recipient.

    New: ``send_id`` (the case service's durable send id; the ledger answers status queries
    for it and its recovery loop can finish the send), ``retry_failed`` (re-queue this
    send's recipients the ledger has as ``failed``: a same-key retry) and ``locale`` (the
    language of the footer).
    """

    case_id: str
    subject: str
    body: str
    html_body: str = ""
    recipients: list[EmailRecipient] = msgspec.field(default_factory=list)
    attachments: list[EmailAttachment] = msgspec.field(default_factory=list)
    send_id: int | None = None
    retry_failed: bool = False
    locale: str | None = None


class EmailResult(msgspec.Struct, kw_only=True):
    """What happened to one recipient (``sent_at`` is RFC 3339 UTC)."""

    target_id: int | None
    email: str
    status: str
    delivery_source: str
    provider: str
    provider_message_id: str | None
    sent_at: str | None
    error: str | None


class EmailSendResponse(msgspec.Struct, kw_only=True):
    """The results, in recipient order."""

    case_id: str
    results: list[EmailResult]


class EmailSendStatus(msgspec.Struct, kw_only=True):
    """``GET /internal/case-escalations/sends/{send_id}``: the ledger's state of a send."""

    send_id: int
    results: list[EmailResult]
