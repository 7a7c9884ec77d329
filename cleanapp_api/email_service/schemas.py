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
]

#: Statuses of a per-recipient result.
DELIVERY_STATUSES = ("sent", "failed", "invalid_email", "opted_out", "dry_run")


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
    """``POST /internal/case-escalations/send``: one message per recipient."""

    case_id: str
    subject: str
    body: str
    html_body: str = ""
    recipients: list[EmailRecipient] = msgspec.field(default_factory=list)
    attachments: list[EmailAttachment] = msgspec.field(default_factory=list)


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
