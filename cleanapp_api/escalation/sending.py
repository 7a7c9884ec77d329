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
   ``case_escalation_requested``. Committed before anything is sent. With ``attach_memo``
   the case memo is rendered once, before, as a PDF: its bytes wait with the send's intent
   (so a driven-again send attaches the same file) and each action's ``attachments_json``
   records its file name, type, size and SHA-256.
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

The decisions of the flow are pure functions in :mod:`cleanapp_api.escalation.planning`,
its statements in :mod:`cleanapp_api.db.repositories.sends`; this module strings them
together.

A process crash between steps 4 and 5 leaves a ``pending`` send whose row lock is gone:
:func:`recover_pending_sends` (run before every send of the case, or from a scheduler)
drives it again; the email service answers already-sent message keys from its log.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from cleanapp_api.db import repositories as repo
from cleanapp_api.db.repositories import sends
from cleanapp_api.domain_errors import (
    AlreadyMerged,
    CaseServiceError,
    EmailServiceFailed,
    EmailServiceNotConfigured,
    IdempotencyConflict,
    InvalidRequest,
    SendInProgress,
)
from cleanapp_api.escalation import planning
from cleanapp_api.escalation.client import EmailServiceError, send_via_email_service
from cleanapp_api.escalation.planning import FINAL_STATUSES, HOUR, content_hash
from cleanapp_api.escalation.schemas import (
    EscalationSendResponse,
    SendEscalationRequest,
    SkippedRecipient,
)
from cleanapp_api.escalation.service import draft_for, load_case, select_targets
from cleanapp_api.policy import AuthenticatedUser, effective_actor, require_case_editor
from cleanapp_api.services.memo import build_memo
from cleanapp_api.services.memo_pdf import memo_pdf
from cleanapp_api.settings import Settings
from cleanapp_geo.targets import normalize_cc_emails

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "MSG_EMAIL_SERVICE_NOT_CONFIGURED",
    "MSG_IDEMPOTENCY_CONFLICT",
    "MSG_IN_PROGRESS",
    "MSG_SEND_FAILED",
    "SendOutcome",
    "content_hash",
    "drive_send",
    "memo_attachment",
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
_RECOVERY_MARGIN_S: Final = 30.0

#: Largest attachment (the case memo) sent with an escalation; the email service takes 1 MiB
#: bodies, and base64 grows the bytes by a third.
MAX_ATTACHMENT_BYTES: Final = 512 * 1024


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The answer of a send: the body, and headers to add (``Idempotent-Replayed``)."""

    response: EscalationSendResponse
    headers: dict[str, str] = field(default_factory=dict)


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
    failure: str | None = None
    with engine.begin() as conn:
        try:
            send = sends.lock_send(conn, send_id, nowait=nowait)
        except sends.SendLockedError as exc:
            raise SendInProgress(MSG_IN_PROGRESS) from exc
        if send.status in FINAL_STATUSES and send.response_status == 200 and send.response_json:
            return msgspec.convert(send.response_json, EscalationSendResponse)
        plan: list[dict[str, Any]] = list(send.recipients_json)
        try:
            answer = send_via_email_service(settings, planning.email_request(send.case_id, send))
            results = planning.results_by_recipient(plan, answer.results, None)
        except EmailServiceError as exc:
            failure = str(exc)
            logger.warning("escalation send %s: %s", send_id, failure)
            results = planning.results_by_recipient(plan, None, failure)

        now = datetime.now(UTC)
        deliveries = sends.insert_deliveries(
            conn, planning.delivery_rows(send.case_id, plan, results)
        )
        action_ids = [r["action_id"] for r in plan if r.get("action_id") is not None]
        actions = sends.settle_actions(conn, action_ids, deliveries)
        status = "failed" if failure else planning.send_status([r.status for r in results])
        sent_emails = sorted(
            {r["recipient_email"] for r in deliveries if r["delivery_status"] == "sent"}
        )
        response = EscalationSendResponse(
            case_id=send.case_id,
            send_id=send.id,
            status=status,
            replayed=False,
            subject=send.subject,
            body=send.body,
            cc_emails=sorted(
                str(r["email"]) for r in plan if r.get("delivery_source") == "manual_cc"
            ),
            actions=[repo.action_from_row(row) for row in actions],
            deliveries=[repo.delivery_from_row(row) for row in deliveries],
            skipped=[
                msgspec.convert(x, SkippedRecipient)
                for x in (send.response_json or {}).get("skipped", [])
            ],
        )
        sends.finish_send(
            conn,
            send_id,
            {
                "status": status,
                "sent_emails": sorted(set(send.sent_emails or ()) | set(sent_emails)),
                "error_message": failure,
                "response_status": 502 if failure else 200,
                "response_json": msgspec.to_builtins(response),
                "updated_at": now,
                "completed_at": now,
            },
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
    age = (
        settings.escalation_send_timeout_s + _RECOVERY_MARGIN_S
        if older_than_s is None
        else older_than_s
    )
    cutoff = datetime.now(UTC) - timedelta(seconds=age)
    with engine.connect() as conn:
        ids = sends.pending_send_ids(conn, cutoff, case_id)
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


def _replay(row: Any) -> SendOutcome:
    response = msgspec.convert(row.response_json, EscalationSendResponse)
    response = msgspec.structs.replace(response, replayed=True)
    return SendOutcome(response, {"Idempotent-Replayed": "true"})


def memo_attachment(settings: Settings, detail: Any) -> dict[str, Any]:
    """Render the case memo as a PDF attachment: file name, type, size, SHA-256 and bytes.

    Raises
    ------
    InvalidRequest
        When the memo is larger than :data:`MAX_ATTACHMENT_BYTES`.
    """
    memo = build_memo(detail, settings)
    data = memo_pdf(memo)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidRequest(
            f"the case memo is {len(data):,} bytes, more than {MAX_ATTACHMENT_BYTES:,} to attach"
        )
    return {
        "filename": f"{memo.filename_stem}.pdf",
        "content_type": "application/pdf",
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_base64": base64.b64encode(data).decode("ascii"),
    }


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
    key = planning.check_idempotency_key(idempotency_key)
    detail = load_case(engine, case_id)
    case = detail.case
    require_case_editor(user, case.created_by_user_id)
    actor = effective_actor(user, request.actor_user_id)
    if key is not None:
        # Replays come first: a merge moves a send to the target case, and the key still
        # answers on either case (the request names the case it was made on).
        with engine.connect() as conn:
            existing = sends.find_send_by_key(conn, actor, key)
            family = sends.merge_family(conn, case.case_id) if existing is not None else []
        if existing is not None:
            if existing.request_hash not in {planning.request_hash(c, request) for c in family}:
                raise IdempotencyConflict(MSG_IDEMPOTENCY_CONFLICT)
            if existing.status in FINAL_STATUSES and existing.response_status == 200:
                return _replay(existing)
            if not case.merged_into_case_id and settings.email_service_url:
                return SendOutcome(drive_send(engine, settings, existing.id, nowait=True))
    if case.merged_into_case_id:
        raise AlreadyMerged(case.case_id, case.merged_into_case_id)
    if not settings.email_service_url:
        raise EmailServiceNotConfigured(MSG_EMAIL_SERVICE_NOT_CONFIGURED)
    digest_request = planning.request_hash(case.case_id, request)

    recover_pending_sends(engine, settings, case_id=case.case_id)

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
    plan = planning.recipient_plan(selected, cc)
    attachments = [memo_attachment(settings, detail)] if request.attach_memo else []
    recorded = [{k: v for k, v in a.items() if k != "content_base64"} for a in attachments]

    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            sends.lock_case_escalations(conn, case.case_id)
            since = now - HOUR
            for limit, scope, who in (
                (settings.escalation_user_sends_per_h, "per user", {"actor": actor}),
                (settings.escalation_case_sends_per_h, "per case", {"case_id": case.case_id}),
            ):
                recent = sends.recent_send_times(conn, since=since, limit=limit, **who)
                planning.check_rate_limit(recent, limit, scope, now)
            skipped: list[SkippedRecipient] = []
            if not force:
                window_h = settings.escalation_dedup_window_h
                already = sends.recently_sent_emails(
                    conn, case.case_id, digest, now - timedelta(hours=window_h)
                )
                plan, skipped = planning.skip_recently_sent(plan, already, window_h)
            send_id = sends.insert_send(
                conn,
                {
                    "case_id": case.case_id,
                    "actor_user_id": actor,
                    "idempotency_key": key,
                    "request_hash": digest_request,
                    "content_hash": digest,
                    "status": "pending",
                    "subject": draft.subject,
                    "body": draft.body,
                    "html_body": draft.html_body,
                    "recipients_json": plan,
                    "response_json": {
                        "skipped": [msgspec.to_builtins(x) for x in skipped],
                        "attachments": attachments,  # until the send is finished
                    },
                },
            )
            target_rows = [r for r in plan if r["target_id"] is not None]
            action_ids = sends.insert_pending_actions(
                conn,
                [
                    {
                        "case_id": case.case_id,
                        "target_id": r["target_id"],
                        "channel": "email",
                        "status": "pending",
                        "subject": draft.subject,
                        "body": draft.body,
                        "attachments_json": recorded or None,
                        "sent_by_user_id": actor,
                    }
                    for r in target_rows
                ],
            )
            if target_rows:
                for row, action_id in zip(target_rows, action_ids, strict=True):
                    row["action_id"] = action_id
                sends.set_send_plan(conn, send_id, plan)
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
                    **({"attachments": [a["filename"] for a in recorded]} if recorded else {}),
                },
            )
    except IntegrityError as exc:
        if key is not None and "idempotency_key" in str(exc):
            raise SendInProgress(MSG_IN_PROGRESS) from exc
        raise
    return SendOutcome(drive_send(engine, settings, send_id))
