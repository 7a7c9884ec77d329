"""Per-recipient delivery of the email service, exactly once per (send, recipient).

:class:`DeliveryWorker` (one per process, in ``app.state``) does the work of the send
route, the status route and the recovery loop. For a send request:

1. **Record first.** The content (``email_send_requests``) and one ``queued`` ledger row per
   recipient (:mod:`cleanapp_api.email_service.ledger`) are committed before anything is
   delivered; a key already recorded keeps its state (a repeated request never mails a
   recipient twice). A same-key retry of the send (``retry_failed``) re-queues its
   ``failed`` rows only: recipients already mailed are never mailed again.
2. For each recipient, in order: an invalid address is settled ``invalid_email``; else the
   row is **claimed** (atomically, with a lease). A row another process holds, or one
   already settled, is answered from the ledger (``pending`` while on its way).
3. With the claim: opted-out addresses are settled ``opted_out``, a dry run ``dry_run``;
   else **one message** goes through the provider, with a ``Message-ID`` derived from the
   message key (the same for every attempt, so receivers can de-duplicate too).
4. The outcome is written to the ledger: ``sent`` (with the provider's id); a *transient*
   failure (SMTP 4xx, a timeout or lost connection, SendGrid 429/5xx) becomes ``retrying``
   with the next attempt after an exponential backoff (``EMAIL_RETRY_BASE_S`` × 2^(n-1)),
   ``failed`` after ``EMAIL_RETRY_MAX_ATTEMPTS`` attempts; a *permanent* one (SMTP 5xx,
   SendGrid 4xx) ``failed`` with the provider's reason. When the database cannot take a
   ``sent`` outcome, it is kept in memory and written by the recovery loop: a message that
   left is never claimed again by this process.

The **recovery loop** (:meth:`DeliveryWorker.recover_once`, every
``EMAIL_RECOVERY_INTERVAL_S``) writes the outcomes kept in memory, then delivers the rows
that are due: retries whose time has come, ``sending`` rows whose claimant died (lease
passed), and ``queued`` rows older than ``EMAIL_QUEUED_GRACE_S``.

The answer maps ledger states to the wire: ``queued``/``sending``/``retrying`` →
``pending`` (with the last transient error), the others as they are.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.exc import SQLAlchemyError

from cleanapp_api.common.timefmt import rfc3339
from cleanapp_api.db import tables as t
from cleanapp_api.email_service import ledger
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
    "MSG_INVALID",
    "MSG_OPTED_OUT",
    "DeliveryWorker",
    "is_opted_out",
    "message_key_for",
    "record_opt_out",
]

logger = logging.getLogger("cleanapp_api.email_service")

MSG_INVALID: Final = "invalid recipient email"
MSG_OPTED_OUT: Final = "recipient opted out"
MSG_DRY_RUN: Final = "EMAIL_DRY_RUN is set: nothing was sent"
_RECOVERY_BATCH: Final = 20


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


def message_key_for(request: EmailSendRequest, recipient: EmailRecipient, email: str) -> str:
    """Return the ledger key of a recipient: its ``message_key``, else one from the content.

    A request without keys (an ad-hoc call) gets ``<case>:adhoc-<sha256(subject, body)>:
    <email>``, so the same message to the same address is delivered once.
    """
    given = (recipient.message_key or "").strip()
    if given:
        return given
    digest = hashlib.sha256(f"{request.subject}\x00{request.body}".encode()).hexdigest()[:24]
    return f"{request.case_id}:adhoc-{digest}:{email}"


def _wire_status(status: str) -> str:
    return "pending" if status in ledger.IN_FLIGHT else status


def _result_from_row(row: Mapping[str, Any], fallback: EmailRecipient | None = None) -> EmailResult:
    recipient = dict(row.get("recipient_json") or {})
    return EmailResult(
        target_id=recipient.get("target_id", fallback.target_id if fallback else None),
        email=str(row["email"]),
        status=_wire_status(str(row["status"])),
        delivery_source=str(
            recipient.get("delivery_source")
            or (fallback.delivery_source.strip() if fallback else "")
            or "case_target"
        ),
        provider=str(row["provider"]),
        provider_message_id=row["provider_message_id"],
        sent_at=rfc3339(row["sent_at"]),
        error=row["error_message"],
    )


class DeliveryWorker:
    """Delivers messages through one provider, recording every step in the ledger.

    Parameters
    ----------
    settings : EmailSettings
        Sender, dry run, retries, leases.
    engine : sqlalchemy.Engine
        The store (ledger, opt-outs).
    provider : Provider
        How messages leave.
    unsubscribe_key : bytes
        HMAC key of the unsubscribe tokens.
    """

    def __init__(
        self,
        settings: EmailSettings,
        engine: sa.Engine,
        provider: Provider,
        *,
        unsubscribe_key: bytes,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.provider = provider
        self.unsubscribe_key = unsubscribe_key
        self._unwritten: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @property
    def lease_s(self) -> float:
        """How long a claim lasts: three provider timeouts and 5 s (a whole SMTP session)."""
        return 3 * self.settings.provider_timeout_s + 5.0

    # ------------------------------------------------------------------ the send route

    def deliver(self, request: EmailSendRequest, *, public_url: str) -> EmailSendResponse:
        """Record a send request, deliver each recipient once, answer each state (blocking).

        Parameters
        ----------
        request : EmailSendRequest
            The content and the non-blank recipients.
        public_url : str
            Base URL of this service for the unsubscribe links.

        Returns
        -------
        EmailSendResponse
            One result per recipient, in order (``pending`` while one is on its way).
        """
        name = self.provider.name
        planned: list[tuple[EmailRecipient, str, str]] = []
        rows = []
        for recipient in request.recipients:
            email = recipient.email.strip().lower()
            key = message_key_for(request, recipient, email)
            planned.append((recipient, email, key))
            rows.append(
                {
                    "message_key": key,
                    "send_id": request.send_id,
                    "case_id": request.case_id,
                    "email": email[:255],
                    "status": "queued",
                    "provider": name,
                    "recipient_json": {
                        "target_id": recipient.target_id,
                        "email": email,
                        "delivery_source": recipient.delivery_source.strip() or "case_target",
                        "display_name": recipient.display_name,
                        "organization": recipient.organization,
                    },
                }
            )
        content = msgspec.to_builtins(msgspec.structs.replace(request, recipients=[]))
        ledger.record_request(
            self.engine,
            send_id=request.send_id,
            case_id=request.case_id,
            request_json=content,
            public_url=public_url,
            rows=rows,
            requeue_failed=bool(request.retry_failed),
        )
        results = [
            self._deliver_recipient(request, recipient, email, key, public_url)
            for recipient, email, key in planned
        ]
        return EmailSendResponse(case_id=request.case_id, results=results)

    def _deliver_recipient(
        self,
        request: EmailSendRequest,
        recipient: EmailRecipient,
        email: str,
        key: str,
        public_url: str,
    ) -> EmailResult:
        if key in self._unwritten:
            return _result_from_row(self._unwritten_row(key), recipient)
        if not is_valid_email(email):
            row = ledger.read_key(self.engine, key)
            if row is not None and row["status"] == "queued":
                ledger.settle(
                    self.engine, key, {"status": "invalid_email", "error_message": MSG_INVALID}
                )
            return EmailResult(
                target_id=recipient.target_id,
                email=email,
                status="invalid_email",
                delivery_source=recipient.delivery_source.strip() or "case_target",
                provider=self.provider.name,
                provider_message_id=None,
                sent_at=None,
                error=MSG_INVALID,
            )
        claimed = ledger.claim(self.engine, key, self.lease_s)
        if claimed is None:
            row = ledger.read_key(self.engine, key)
            assert row is not None  # recorded above
            return _result_from_row(row, recipient)
        return _result_from_row(self._attempt(claimed, request, public_url), recipient)

    # ------------------------------------------------------------------ one attempt

    def _attempt(
        self, row: Mapping[str, Any], request: EmailSendRequest, public_url: str
    ) -> dict[str, Any]:
        """Deliver one claimed row; return the row as settled."""
        key = str(row["message_key"])
        email = str(row["email"])
        recipient = dict(row.get("recipient_json") or {})
        outcome: dict[str, Any]
        try:
            opted_out = is_opted_out(self.engine, email)
        except SQLAlchemyError as exc:
            outcome = self._transient(row, f"opt-out check failed: {type(exc).__name__}")
            return self._settle(key, row, outcome)
        if opted_out:
            return self._settle(key, row, {"status": "opted_out", "error_message": MSG_OPTED_OUT})
        if self.settings.dry_run:
            return self._settle(key, row, {"status": "dry_run", "error_message": MSG_DRY_RUN})
        message = build_message(
            self.settings,
            recipient=email,
            recipient_name=str(recipient.get("display_name") or "").strip()
            or str(recipient.get("organization") or "").strip(),
            subject=request.subject,
            body=request.body,
            html_body=request.html_body,
            unsubscribe_url=unsubscribe_url(public_url, make_token(self.unsubscribe_key, email)),
            case_id=request.case_id,
            message_key=key,
            locale=request.locale,
            attachments=[
                (a.filename, a.content_type, base64.b64decode(a.content_base64))
                for a in request.attachments
            ],
        )
        try:
            message_id = self.provider.send(message)
        except ProviderError as exc:
            if exc.transient:
                outcome = self._transient(row, str(exc))
            else:
                outcome = {"status": "failed", "error_message": str(exc)}
            return self._settle(key, row, outcome)
        sent = {
            "status": "sent",
            "provider_message_id": message_id,
            "sent_at": datetime.now(UTC),
            "error_message": None,
            "next_attempt_at": None,
        }
        return self._settle(key, row, sent, keep_if_unwritten=True)

    def _transient(self, row: Mapping[str, Any], reason: str) -> dict[str, Any]:
        attempts = int(row["attempts"])
        limit = self.settings.retry_max_attempts
        if attempts >= limit:
            return {
                "status": "failed",
                "error_message": f"gave up after {attempts} attempts: {reason}",
                "next_attempt_at": None,
            }
        delay_s = self.settings.retry_base_s * 2 ** (attempts - 1)
        return {
            "status": "retrying",
            "error_message": f"attempt {attempts} of {limit} failed, retrying: {reason}",
            "next_attempt_at": datetime.now(UTC) + timedelta(seconds=delay_s),
        }

    def _settle(
        self,
        key: str,
        row: Mapping[str, Any],
        outcome: dict[str, Any],
        *,
        keep_if_unwritten: bool = False,
    ) -> dict[str, Any]:
        settled = {**row, **outcome}
        try:
            ledger.settle(self.engine, key, outcome)
        except SQLAlchemyError:
            if not keep_if_unwritten:
                # Unwritten, the claim lapses and the row is delivered again later.
                logger.warning("ledger write failed for a message of send %s", row.get("send_id"))
                return settled
            logger.warning(
                "ledger write failed after a message of send %s left; kept in memory",
                row.get("send_id"),
            )
            with self._lock:
                self._unwritten[key] = settled
        return settled

    def _unwritten_row(self, key: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._unwritten[key])

    # ------------------------------------------------------------------ status and recovery

    def status(self, send_id: int) -> list[EmailResult]:
        """Every recipient of a send as the ledger has it (empty: an unknown send)."""
        rows = ledger.read_send(self.engine, send_id)
        with self._lock:
            kept = dict(self._unwritten)
        return [_result_from_row(kept.get(str(r["message_key"]), r)) for r in rows]

    def recover_once(self) -> int:
        """Write outcomes kept in memory, then deliver the rows that are due.

        Returns
        -------
        int
            The number of rows attempted.
        """
        with self._lock:
            unwritten = dict(self._unwritten)
        for key, row in unwritten.items():
            values = {k: row[k] for k in ("status", "provider_message_id", "sent_at")}
            ledger.settle(self.engine, key, {**values, "error_message": None})
            with self._lock:
                self._unwritten.pop(key, None)
        claimed = ledger.claim_due(
            self.engine,
            lease_s=self.lease_s,
            queued_grace_s=self.settings.queued_grace_s,
            limit=_RECOVERY_BATCH,
        )
        requests: dict[int, tuple[EmailSendRequest, str] | None] = {}
        for row in claimed:
            if str(row["message_key"]) in unwritten:
                continue
            send_id = int(row["send_id"])
            if send_id not in requests:
                stored = ledger.load_request(self.engine, send_id)
                requests[send_id] = (
                    None
                    if stored is None
                    else (
                        msgspec.convert(stored["request_json"], EmailSendRequest),
                        str(stored["public_url"]),
                    )
                )
            found = requests[send_id]
            if found is None:
                self._settle(
                    str(row["message_key"]),
                    row,
                    {"status": "failed", "error_message": "the send's content was not recorded"},
                )
                continue
            self._attempt(row, found[0], found[1])
        return len(claimed)
