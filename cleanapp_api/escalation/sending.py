"""The escalation send flow behind ``POST /cases/{id}/escalations/send``.

Upstream's flow, with its problems fixed.

Steps of :func:`send_escalation`
--------------------------------
1. Load the case (404), check the caller may edit it (403) and that it is not merged (409);
   the email service must be configured (503 ``email service not configured``).
2. **Idempotency-Key** (header, scoped to the acting user): a key seen before with a
   different request body → 422; with a finished send → its stored answer is replayed
   (``replayed: true``, header ``Idempotent-Replayed: true``), nothing is sent; with a send
   still running → 409; with a send left ``pending`` by a crash, or one whose email-service
   call failed (502) → that same send is driven again (same message keys, so the email
   service never mails a recipient twice).
3. Select the targets: explicit ``target_ids`` (400 when missing, unknown or without email;
   hidden or held targets need ``force``), CC recipients, the draft
   (:func:`cleanapp_geo.drafts.build_draft`).
4. In one transaction, under a per-case advisory lock: the **rate limits** (429, per user
   and per case, counted over the last hour), the **de-duplication window**: recipients who
   already received (or are being sent) the same subject and body for this case within
   ``ESCALATION_DEDUP_WINDOW_H`` are skipped unless ``force`` (409 when that leaves nobody);
   then the **intent** is recorded: a ``case_escalation_sends`` row (``pending``, the planned
   recipients), one ``pending`` action per target, the audit event
   ``case_escalation_requested``. Committed before anything is sent.
5. Drive the send (:func:`drive_send`), holding a row lock on the send (a concurrent retry
   sees it and gets 409; a crash releases it): call the email service with one message key
   per recipient (``<case>:send-<id>:<email>``) and, in the same transaction, store one
   delivery per recipient (status, provider, provider message id, ``sent_at``, error),
   finalise every action (its delivery's status: ``sent``, ``failed``, ``invalid_email``,
   ``opted_out`` or ``dry_run``), finalise the send (``sent`` / ``partial`` / ``failed`` /
   ``dry_run``), store the answer and write ``case_escalation_recorded``.

   When the email service is down, slow (``ESCALATION_SEND_TIMEOUT_S``) or answers an error,
   every recipient gets a ``failed`` delivery with the reason, every action is ``failed``,
   the send is ``failed``, ``case_escalation_recorded`` says so, and the caller gets 502
   ``failed to send case escalation emails: <reason>``. Nothing is left ``pending``.

A process crash between steps 4 and 5 leaves a ``pending`` send whose row lock is gone:
:func:`recover_pending_sends` (run before every send of the case, or from a scheduler)
drives it again; the email service answers already-sent message keys from its log.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.domain_errors import (
    AlreadyMerged,
    AlreadySent,
    CaseServiceError,
    EmailServiceFailed,
    EmailServiceNotConfigured,
    IdempotencyConflict,
    InvalidRequest,
    RateLimited,
    SendInProgress,
)
from cleanapp_api.email_service.schemas import EmailRecipient, EmailResult, EmailSendRequest
from cleanapp_api.escalation.client import EmailServiceError, send_via_email_service
from cleanapp_api.escalation.schemas import (
    EscalationSendResponse,
    SendEscalationRequest,
    SkippedRecipient,
)
from cleanapp_api.escalation.service import draft_for, load_case, select_targets
from cleanapp_api.policy import AuthenticatedUser, effective_actor, require_case_editor
from cleanapp_api.settings import Settings
from cleanapp_geo.targets import normalize_cc_emails, normalize_email

__all__ = [
    "MSG_EMAIL_SERVICE_NOT_CONFIGURED",
    "MSG_IDEMPOTENCY_CONFLICT",
    "MSG_IN_PROGRESS",
    "MSG_SEND_FAILED",
    "SendOutcome",
    "content_hash",
    "drive_send",
    "recover_pending_sends",
    "send_escalation",
]

logger = logging.getLogger("cleanapp_api.escalation")

MSG_SEND_FAILED: Final = "failed to send case escalation emails"
MSG_EMAIL_SERVICE_NOT_CONFIGURED: Final = "email service not configured (EMAIL_SERVICE_URL)"
MSG_IDEMPOTENCY_CONFLICT: Final = (
    "Idempotency-Key was already used for a different request; use a new key"
)
MSG_IN_PROGRESS: Final = "a send with this Idempotency-Key is still in progress; retry later"
_MAX_KEY_LENGTH: Final = 255
_HOUR: Final = timedelta(hours=1)
_RECOVERY_MARGIN_S: Final = 30.0
_FINAL: Final = frozenset({"sent", "partial", "failed", "dry_run"})


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The answer of a send: the body, and headers to add (``Idempotent-Replayed``)."""

    response: EscalationSendResponse
    headers: dict[str, str] = field(default_factory=dict)


def content_hash(subject: str, body: str) -> str:
    """SHA-256 hex of a message's subject and body (the de-duplication identity)."""
    return hashlib.sha256(f"{subject}\x00{body}".encode()).hexdigest()


def _request_hash(case_id: str, request: SendEscalationRequest) -> str:
    canonical = {
        "case_id": case_id,
        "target_ids": list(request.target_ids or ()),
        "cc_emails": list(request.cc_emails or ()),
        "subject": request.subject or "",
        "body": request.body or "",
        "locale": request.locale or "",
        "force": bool(request.force),
    }
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _check_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > _MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidRequest("Idempotency-Key must be 1-255 printable ASCII characters")
    return key


# =========================================================================== limits


def _check_rate_limits(
    conn: sa.Connection, settings: Settings, case_id: str, actor: str, now: datetime
) -> None:
    s = t.case_escalation_sends
    since = now - _HOUR
    for column, value, limit, scope in (
        (s.c.actor_user_id, actor, settings.escalation_user_sends_per_h, "per user"),
        (s.c.case_id, case_id, settings.escalation_case_sends_per_h, "per case"),
    ):
        times = (
            conn.execute(
                sa.select(s.c.created_at)
                .where(column == value, s.c.created_at > since)
                .order_by(s.c.created_at.desc())
                .limit(limit)
            )
            .scalars()
            .all()
        )
        if len(times) >= limit:
            retry = max(1, int((min(times) + _HOUR - now).total_seconds()) + 1)
            raise RateLimited(
                f"escalation send limit reached: at most {limit} sends {scope} per hour; "
                f"retry in {retry} s",
                retry_after_s=retry,
            )


def _recently_sent(
    conn: sa.Connection, settings: Settings, case_id: str, digest: str, now: datetime
) -> set[str]:
    """Emails that got (or are getting) the same message of this case within the window."""
    s = t.case_escalation_sends
    since = now - timedelta(hours=settings.escalation_dedup_window_h)
    rows = conn.execute(
        sa.select(s.c.status, s.c.sent_emails, s.c.recipients_json).where(
            s.c.case_id == case_id,
            s.c.content_hash == digest,
            s.c.created_at > since,
            s.c.status.in_(("pending", "sent", "partial")),
        )
    ).all()
    emails: set[str] = set()
    for status, sent, plan in rows:
        if status == "pending":
            emails |= {str(r["email"]) for r in plan or ()}
        else:
            emails |= set(sent or ())
    return emails


# =========================================================================== driving


def _plan_request(case_id: str, send: Any) -> EmailSendRequest:
    return EmailSendRequest(
        case_id=case_id,
        subject=send.subject,
        body=send.body,
        html_body=send.html_body,
        recipients=[
            EmailRecipient(
                target_id=r.get("target_id"),
                email=r["email"],
                delivery_source=r.get("delivery_source") or "case_target",
                display_name=r.get("display_name") or "",
                organization=r.get("organization") or "",
                message_key=f"{case_id}:send-{send.id}:{r['email']}",
            )
            for r in send.recipients_json
        ],
    )


def _send_status(statuses: Sequence[str]) -> str:
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


def _parse_sent_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _results_by_recipient(
    plan: Sequence[Mapping[str, Any]], results: Sequence[EmailResult] | None, error: str | None
) -> list[EmailResult]:
    """One result per planned recipient (a missing answer is a failure)."""
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
                status="failed",
                delivery_source=recipient.get("delivery_source") or "case_target",
                provider="email_service" if error else "unknown",
                provider_message_id=None,
                sent_at=None,
                error=error or "no result from the email service for this recipient",
            )
        )
    return out


def drive_send(
    engine: sa.Engine, settings: Settings, send_id: int, *, nowait: bool = False
) -> EscalationSendResponse:
    """Send a recorded send's messages and record the outcome (one transaction, row lock).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    settings : Settings
        Email service URL, token and timeout.
    send_id : int
        A ``case_escalation_sends`` row.
    nowait : bool, default False
        Fail with 409 instead of waiting when another request holds the send.

    Returns
    -------
    EscalationSendResponse
        The persisted outcome (also when the send was already finished).

    Raises
    ------
    CaseServiceError
        502 when the email service failed (everything is recorded as failed first); 409
        when ``nowait`` and the send is being driven elsewhere.
    """
    s, a, d = t.case_escalation_sends, t.case_escalation_actions, t.case_email_deliveries
    failure: str | None = None
    with engine.begin() as conn:
        select = sa.select(s).where(s.c.id == send_id)
        try:
            send = conn.execute(select.with_for_update(nowait=nowait)).one()
        except OperationalError as exc:
            if (
                "could not obtain lock" in str(exc).lower()
                or getattr(exc.orig, "sqlstate", "") == "55P03"
            ):
                raise SendInProgress(MSG_IN_PROGRESS) from exc
            raise
        if send.status in _FINAL and send.response_status == 200 and send.response_json:
            return msgspec.convert(send.response_json, EscalationSendResponse)
        plan: list[dict[str, Any]] = list(send.recipients_json)
        request = _plan_request(send.case_id, send)
        try:
            answer = send_via_email_service(settings, request)
            results = _results_by_recipient(plan, answer.results, None)
        except EmailServiceError as exc:
            failure = str(exc)
            logger.warning("escalation send %s: %s", send_id, failure)
            results = _results_by_recipient(plan, None, failure)

        now = datetime.now(UTC)
        delivery_rows = []
        for recipient, result in zip(plan, results, strict=True):
            delivery_rows.append(
                {
                    "case_id": send.case_id,
                    "action_id": recipient.get("action_id"),
                    "target_id": recipient.get("target_id"),
                    "recipient_email": recipient["email"],
                    "delivery_status": result.status,
                    "delivery_source": result.delivery_source or "case_target",
                    "provider": result.provider or "unknown",
                    "provider_message_id": result.provider_message_id or None,
                    "sent_at": _parse_sent_at(result.sent_at),
                    "error_message": result.error,
                }
            )
        deliveries = (
            conn.execute(sa.insert(d).returning(*d.c), delivery_rows).mappings().all()
            if delivery_rows
            else []
        )
        by_action = {row["action_id"]: row for row in deliveries if row["action_id"] is not None}
        action_ids = [r["action_id"] for r in plan if r.get("action_id") is not None]
        for action_id in action_ids:
            row = by_action.get(action_id)
            conn.execute(
                sa.update(a)
                .where(a.c.id == action_id)
                .values(
                    status=row["delivery_status"] if row is not None else "failed",
                    provider_message_id=row["provider_message_id"] if row is not None else None,
                    sent_at=row["sent_at"] if row is not None else None,
                )
            )
        actions = (
            conn.execute(sa.select(a).where(a.c.id.in_(action_ids)).order_by(a.c.id))
            .mappings()
            .all()
            if action_ids
            else []
        )
        statuses = [r.status for r in results]
        status = "failed" if failure else _send_status(statuses)
        sent_emails = sorted(
            {r["recipient_email"] for r in deliveries if r["delivery_status"] == "sent"}
        )
        cc = sorted(str(r["email"]) for r in plan if r.get("delivery_source") == "manual_cc")
        response = EscalationSendResponse(
            case_id=send.case_id,
            send_id=send.id,
            status=status,
            replayed=False,
            subject=send.subject,
            body=send.body,
            cc_emails=cc,
            actions=[repo.action_from_row(row) for row in actions],
            deliveries=[repo.delivery_from_row(row) for row in deliveries],
            skipped=[
                msgspec.convert(x, SkippedRecipient)
                for x in (send.response_json or {}).get("skipped", [])
            ],
        )
        conn.execute(
            sa.update(s)
            .where(s.c.id == send_id)
            .values(
                status=status,
                attempts=s.c.attempts + 1,
                sent_emails=sorted(set(send.sent_emails or ()) | set(sent_emails)),
                error_message=failure,
                response_status=502 if failure else 200,
                response_json=msgspec.to_builtins(response),
                updated_at=now,
                completed_at=now,
            )
        )
        repo.insert_audit(
            conn,
            send.case_id,
            "case_escalation_recorded",
            send.actor_user_id,
            {
                "send_id": send.id,
                "status": status,
                "action_count": len(actions),
                "delivery_count": len(deliveries),
                "attempt": send.attempts + 1,
                **({"error": failure} if failure else {}),
            },
        )
    if failure:
        raise EmailServiceFailed(f"{MSG_SEND_FAILED}: {failure}")
    return response


def recover_pending_sends(
    engine: sa.Engine,
    settings: Settings,
    *,
    case_id: str | None = None,
    older_than_s: float | None = None,
) -> list[int]:
    """Drive sends left ``pending`` by a crash (their row lock is gone).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    settings : Settings
        Email service configuration.
    case_id : str, optional
        Only this case's sends.
    older_than_s : float, optional
        Only sends recorded at least this long ago (default: the send timeout plus 30 s, so
        a send that is still being driven is never picked up).

    Returns
    -------
    list of int
        The sends driven (whatever their outcome).
    """
    s = t.case_escalation_sends
    age = (
        settings.escalation_send_timeout_s + _RECOVERY_MARGIN_S
        if older_than_s is None
        else older_than_s
    )
    cutoff = datetime.now(UTC) - timedelta(seconds=age)
    stmt = sa.select(s.c.id).where(s.c.status == "pending", s.c.created_at <= cutoff)
    if case_id is not None:
        stmt = stmt.where(s.c.case_id == case_id)
    with engine.connect() as conn:
        ids = list(conn.execute(stmt.order_by(s.c.id)).scalars())
    driven = []
    for send_id in ids:
        try:
            drive_send(engine, settings, send_id, nowait=True)
        except SendInProgress:
            continue
        except CaseServiceError:
            pass  # recorded as failed; the send is finished all the same
        driven.append(send_id)
    return driven


# =========================================================================== entry point


def _replay(row: Any) -> SendOutcome:
    response = msgspec.convert(row.response_json, EscalationSendResponse)
    response = msgspec.structs.replace(response, replayed=True)
    return SendOutcome(response, {"Idempotent-Replayed": "true"})


def send_escalation(
    engine: sa.Engine,
    settings: Settings,
    case_id: str,
    request: SendEscalationRequest,
    user: AuthenticatedUser,
    *,
    idempotency_key: str | None = None,
) -> SendOutcome:
    """Send the escalation e-mail of a case (see the module docstring for every step).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    settings : Settings
        Email service, limits, windows, case links.
    case_id : str
        The case.
    request : SendEscalationRequest
        The body.
    user : AuthenticatedUser
        The caller.
    idempotency_key : str, optional
        The ``Idempotency-Key`` header.

    Returns
    -------
    SendOutcome
        The persisted outcome (200).

    Raises
    ------
    CaseServiceError
        400, 403, 404, 409, 422, 429, 502, 503 as described above.
    """
    key = _check_key(idempotency_key)
    detail = load_case(engine, case_id)
    case = detail.case
    require_case_editor(user, case.created_by_user_id)
    if case.merged_into_case_id:
        raise AlreadyMerged(case.case_id, case.merged_into_case_id)
    if not settings.email_service_url:
        raise EmailServiceNotConfigured(MSG_EMAIL_SERVICE_NOT_CONFIGURED)
    actor = effective_actor(user, request.actor_user_id)
    digest_request = _request_hash(case.case_id, request)
    s, a = t.case_escalation_sends, t.case_escalation_actions

    recover_pending_sends(engine, settings, case_id=case.case_id)
    if key is not None:
        with engine.connect() as conn:
            existing = conn.execute(
                sa.select(s).where(s.c.actor_user_id == actor, s.c.idempotency_key == key)
            ).first()
        if existing is not None:
            if existing.request_hash != digest_request:
                raise IdempotencyConflict(MSG_IDEMPOTENCY_CONFLICT)
            if existing.status in _FINAL and existing.response_status == 200:
                return _replay(existing)
            return SendOutcome(drive_send(engine, settings, existing.id, nowait=True))

    force = bool(request.force)
    selected = select_targets(
        detail.escalation_targets, request.target_ids, force=force, required=True
    )
    cc = normalize_cc_emails(request.cc_emails, exclude=[t.email for t in selected])
    draft = draft_for(
        settings,
        detail,
        selected,
        locale=request.locale,
        subject=request.subject,
        body=request.body,
    )
    digest = content_hash(draft.subject, draft.body)
    plan: list[dict[str, Any]] = [
        {
            "email": normalize_email(target.email),
            "target_id": target.id,
            "delivery_source": target.target_source or "case_target",
            "display_name": target.display_name,
            "organization": target.organization,
        }
        for target in selected
    ]
    unique: dict[str, dict[str, Any]] = {}
    for row in plan:  # two targets with one address get one message (the first target's)
        unique.setdefault(row["email"], row)
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
    plan = list(unique.values())

    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.select(
                    sa.func.pg_advisory_xact_lock(
                        repo.advisory_lock_key("escalation", case.case_id)
                    )
                )
            )
            _check_rate_limits(conn, settings, case.case_id, actor, now)
            skipped: list[SkippedRecipient] = []
            if not force:
                already = _recently_sent(conn, settings, case.case_id, digest, now)
                window = f"{settings.escalation_dedup_window_h:g} h"
                skipped = [
                    SkippedRecipient(
                        email=r["email"],
                        target_id=r["target_id"],
                        reason=f"same subject and body already sent within {window}",
                    )
                    for r in plan
                    if r["email"] in already
                ]
                plan = [r for r in plan if r["email"] not in already]
                if not plan:
                    raise AlreadySent(
                        f"the same subject and body were already sent to every recipient of "
                        f"this case within the last {window}: "
                        f"{', '.join(x.email for x in skipped)}; "
                        'pass "force": true to send again',
                    )
            send_id = conn.execute(
                sa.insert(s)
                .values(
                    case_id=case.case_id,
                    actor_user_id=actor,
                    idempotency_key=key,
                    request_hash=digest_request,
                    content_hash=digest,
                    status="pending",
                    subject=draft.subject,
                    body=draft.body,
                    html_body=draft.html_body,
                    recipients_json=plan,
                    response_json={"skipped": [msgspec.to_builtins(x) for x in skipped]},
                )
                .returning(s.c.id)
            ).scalar_one()
            target_rows = [r for r in plan if r["target_id"] is not None]
            if target_rows:
                ids = (
                    conn.execute(
                        sa.insert(a).returning(a.c.id),
                        [
                            {
                                "case_id": case.case_id,
                                "target_id": r["target_id"],
                                "channel": "email",
                                "status": "pending",
                                "subject": draft.subject,
                                "body": draft.body,
                                "sent_by_user_id": actor,
                            }
                            for r in target_rows
                        ],
                    )
                    .scalars()
                    .all()
                )
                for row, action_id in zip(target_rows, ids, strict=True):
                    row["action_id"] = action_id
                conn.execute(sa.update(s).where(s.c.id == send_id).values(recipients_json=plan))
            repo.insert_audit(
                conn,
                case.case_id,
                "case_escalation_requested",
                actor,
                {
                    "send_id": send_id,
                    "target_ids": list(request.target_ids or ()),
                    "target_count": len(target_rows),
                    "cc_count": sum(r["target_id"] is None for r in plan),
                    "subject": draft.subject,
                    "locale": draft.locale,
                    "idempotency_key": key,
                    "skipped": [x.email for x in skipped],
                    "force": force,
                },
            )
    except IntegrityError as exc:
        if key is not None and "idempotency_key" in str(exc):
            raise SendInProgress(MSG_IN_PROGRESS) from exc
        raise
    return SendOutcome(drive_send(engine, settings, send_id))
