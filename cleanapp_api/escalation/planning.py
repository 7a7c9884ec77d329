"""Planning an escalation send (pure, no I/O): recipients, identities, limits, outcomes.

Everything :mod:`cleanapp_api.escalation.sending` decides without the store or the email
service: who gets a message (one per address; CC recipients after the targets), what
identifies a message (:func:`content_hash`) and a request (:func:`request_hash`), when a
rate limit is reached and for how long, which recipients the de-duplication window skips,
how the email service's answer maps onto the planned recipients, and the send's status.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cleanapp_api.domain_errors import AlreadySent, InvalidRequest, RateLimited
from cleanapp_api.email_service.schemas import (
    EmailAttachment,
    EmailRecipient,
    EmailResult,
    EmailSendRequest,
)
from cleanapp_api.escalation.schemas import SendEscalationRequest, SkippedRecipient
from cleanapp_api.schemas import EscalationTarget
from cleanapp_geo.targets import normalize_email

__all__ = [
    "FINAL_STATUSES",
    "HOUR",
    "OPEN_STATUSES",
    "Recipient",
    "check_caps",
    "check_idempotency_key",
    "check_rate_limit",
    "content_hash",
    "delivery_rows",
    "email_request",
    "message_key",
    "parse_sent_at",
    "pending_delivery_rows",
    "recipient_plan",
    "request_hash",
    "results_by_recipient",
    "send_status",
    "skip_recently_sent",
]

#: A planned recipient: ``email``, ``target_id`` (None for CC), ``delivery_source``,
#: ``display_name``, ``organization`` and, once recorded, ``action_id``.
Recipient = dict[str, Any]

#: Statuses of a finished send.
FINAL_STATUSES: Final = frozenset({"sent", "partial", "failed", "dry_run"})
#: Statuses of a send (and a delivery) whose outcome is not settled yet.
OPEN_STATUSES: Final = frozenset({"pending", "unknown"})
HOUR: Final = timedelta(hours=1)
_MAX_KEY_LENGTH: Final = 255


def content_hash(subject: str, body: str) -> str:
    """SHA-256 hex of a message's subject and body (the de-duplication identity).

    Examples
    --------
    >>> content_hash("s", "b") == content_hash("s", "b") != content_hash("s", "c")
    True
    """
    return hashlib.sha256(f"{subject}\x00{body}".encode()).hexdigest()


def request_hash(case_id: str, request: SendEscalationRequest) -> str:
    """SHA-256 hex of a send request (what an ``Idempotency-Key`` must keep meaning)."""
    canonical = {
        "case_id": case_id,
        "target_ids": list(request.target_ids or ()),
        "cc_emails": list(request.cc_emails or ()),
        "subject": request.subject or "",
        "body": request.body or "",
        "locale": request.locale or "",
        "force": bool(request.force),
        **({"attach_memo": True} if request.attach_memo else {}),
    }
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def check_idempotency_key(raw: str | None) -> str | None:
    """Return the trimmed ``Idempotency-Key`` (None when absent).

    Raises
    ------
    InvalidRequest
        Unless it is 1-255 printable ASCII characters.
    """
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > _MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidRequest("Idempotency-Key must be 1-255 printable ASCII characters")
    return key


def recipient_plan(targets: Sequence[EscalationTarget], cc: Sequence[str]) -> list[Recipient]:
    """Plan one recipient per address: the targets in order, then the new CC addresses.

    Two targets with one address get one message (the first target's).
    """
    unique: dict[str, Recipient] = {}
    for target in targets:
        email = normalize_email(target.email)
        unique.setdefault(
            email,
            {
                "email": email,
                "target_id": target.id,
                "delivery_source": target.target_source or "case_target",
                "display_name": target.display_name,
                "organization": target.organization,
            },
        )
    for email in cc:
        unique.setdefault(
            email,
            {
                "email": email,
                "target_id": None,
                "delivery_source": "manual_cc",
                "display_name": "",
                "organization": "",
            },
        )
    return list(unique.values())


def check_rate_limit(recent: Sequence[datetime], limit: int, scope: str, now: datetime) -> None:
    """Refuse a send when ``limit`` sends happened in the hour before ``now``.

    Parameters
    ----------
    recent : sequence of datetime
        Times of the latest sends within the hour (at most ``limit`` of them).
    limit : int
        Sends allowed per hour.
    scope : str
        ``per user`` or ``per case`` (for the message).
    now : datetime
        The current time.

    Raises
    ------
    RateLimited
        With the seconds until the oldest of those sends leaves the hour.
    """
    if len(recent) >= limit:
        retry = max(1, int((min(recent) + HOUR - now).total_seconds()) + 1)
        raise RateLimited(
            f"escalation send limit reached: at most {limit} sends {scope} per hour; "
            f"retry in {retry} s",
            retry_after_s=retry,
        )


def skip_recently_sent(
    plan: Sequence[Recipient], already: set[str], window_h: float
) -> tuple[list[Recipient], list[SkippedRecipient]]:
    """Split the plan: recipients still to send to, and those the window skips.

    Raises
    ------
    AlreadySent
        When the window skips every recipient.
    """
    window = f"{window_h:g} h"
    skipped = [
        SkippedRecipient(
            email=r["email"],
            target_id=r["target_id"],
            reason=f"same subject and body already sent within {window}",
        )
        for r in plan
        if r["email"] in already
    ]
    kept = [r for r in plan if r["email"] not in already]
    if not kept:
        raise AlreadySent(
            f"the same subject and body were already sent to every recipient of "
            f"this case within the last {window}: "
            f"{', '.join(x.email for x in skipped)}; "
            'pass "force": true to send again',
        )
    return kept, skipped


def message_key(case_id: str, send_id: int, email: str) -> str:
    """Return the ledger key of one recipient of a send (the email service delivers it once).

    The send id alone names the send (``case_id`` is kept for the signature's sake): a merge
    moves a send to another case, and its recipients' keys must not change with it.

    Examples
    --------
    >>> message_key("case_1", 7, "a@b.ch")
    'send-7:a@b.ch'
    """
    return f"send-{send_id}:{email}"


def check_caps(n_targets: int, n_cc: int, *, max_targets: int, max_cc: int) -> None:
    """Refuse a send (or draft) to more targets or CC addresses than allowed.

    Raises
    ------
    InvalidRequest
        Naming the limit (``ESCALATION_MAX_TARGETS``, ``ESCALATION_MAX_CC``).
    """
    if n_targets > max_targets:
        raise InvalidRequest(f"at most {max_targets} target_ids per send, got {n_targets}")
    if n_cc > max_cc:
        raise InvalidRequest(f"at most {max_cc} cc_emails per send, got {n_cc}")


def pending_delivery_rows(
    case_id: str, send_id: int, plan: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One ``pending`` delivery per planned recipient, recorded with the send's intent."""
    return [
        {
            "case_id": case_id,
            "send_id": send_id,
            "message_key": message_key(case_id, send_id, str(r["email"])),
            "action_id": r.get("action_id"),
            "target_id": r.get("target_id"),
            "recipient_email": r["email"],
            "delivery_status": "pending",
            "delivery_source": r.get("delivery_source") or "case_target",
            "provider": "email_service",
            "provider_message_id": None,
            "sent_at": None,
            "error_message": None,
        }
        for r in plan
    ]


def email_request(
    case_id: str,
    send: Any,
    recipients: Sequence[Mapping[str, Any]],
    *,
    retry_failed: bool = False,
    locale: str | None = None,
) -> EmailSendRequest:
    """Build the email service request of a recorded send for some of its recipients.

    Attachments recorded with the send's intent (``response_json["attachments"]``) go with
    every message.
    """
    attachments = [
        EmailAttachment(
            filename=a["filename"],
            content_type=a["content_type"],
            content_base64=a["content_base64"],
        )
        for a in (getattr(send, "response_json", None) or {}).get("attachments", [])
    ]
    return EmailSendRequest(
        attachments=attachments,
        case_id=case_id,
        send_id=int(send.id),
        subject=send.subject,
        body=send.body,
        html_body=send.html_body,
        retry_failed=retry_failed,
        locale=locale,
        recipients=[
            EmailRecipient(
                target_id=r.get("target_id"),
                email=r["email"],
                delivery_source=r.get("delivery_source") or "case_target",
                display_name=r.get("display_name") or "",
                organization=r.get("organization") or "",
                message_key=message_key(case_id, int(send.id), str(r["email"])),
            )
            for r in recipients
        ],
    )


def send_status(statuses: Sequence[str]) -> str:
    """Return the status of a send from its recipients' statuses.

    Examples
    --------
    >>> send_status(["sent", "sent"]), send_status(["sent", "failed"]), send_status([])
    ('sent', 'partial', 'failed')
    >>> send_status(["dry_run", "opted_out"])
    'dry_run'
    >>> send_status(["sent", "pending", "unknown"]), send_status(["failed", "unknown"])
    ('pending', 'unknown')
    """
    if "pending" in statuses:
        return "pending"
    if "unknown" in statuses:
        return "unknown"
    sent = sum(s == "sent" for s in statuses)
    if statuses and sent == len(statuses):
        return "sent"
    if sent:
        return "partial"
    if (
        statuses
        and all(s in ("dry_run", "invalid_email", "opted_out") for s in statuses)
        and ("dry_run" in statuses)
    ):
        return "dry_run"
    return "failed"


def parse_sent_at(value: str | None) -> datetime | None:
    """Parse an email service ``sent_at`` (None when absent or unreadable)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def results_by_recipient(
    plan: Sequence[Mapping[str, Any]],
    results: Sequence[EmailResult] | None,
    error: str | None,
    *,
    status_on_error: str = "failed",
) -> list[EmailResult]:
    """One result per planned recipient.

    Without an answer (``error``) every recipient gets ``status_on_error`` (``failed`` when
    nothing was delivered for certain, ``unknown`` when the outcome is not known); a
    recipient the answer leaves out is ``unknown`` (the reconciler asks about it).
    """
    by_email: dict[str, list[EmailResult]] = {}
    for result in results or ():
        by_email.setdefault(result.email.strip().lower(), []).append(result)
    out = []
    for recipient in plan:
        email = str(recipient["email"])
        found = by_email.get(email)
        if found:
            out.append(found.pop(0))
            continue
        out.append(
            EmailResult(
                target_id=recipient.get("target_id"),
                email=email,
                status=status_on_error if error else "unknown",
                delivery_source=recipient.get("delivery_source") or "case_target",
                provider="email_service",
                provider_message_id=None,
                sent_at=None,
                error=error or "no result from the email service for this recipient",
            )
        )
    return out


def delivery_rows(
    plan: Sequence[Mapping[str, Any]], results: Sequence[EmailResult]
) -> list[dict[str, Any]]:
    """Outcome values of ``case_email_deliveries``, one per planned recipient and result."""
    return [
        {
            "recipient_email": recipient["email"],
            "delivery_status": result.status,
            "provider": result.provider or "unknown",
            "provider_message_id": result.provider_message_id or None,
            "sent_at": parse_sent_at(result.sent_at),
            "error_message": result.error,
        }
        for recipient, result in zip(plan, results, strict=True)
    ]
