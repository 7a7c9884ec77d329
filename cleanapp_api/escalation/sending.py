"""The escalation send flow behind ``POST /cases/{id}/escalations/send``.

Every send gets a durable id before anything leaves the API; the email service delivers
each (send, recipient) at most once and answers status queries for a send id; when the API
does not know what happened it records ``unknown`` and the reconciler asks. The design, and
the state machines of a send, an action and a delivery, are in ``docs/delivery.md``.

Steps of :func:`send_escalation`
--------------------------------
1. Load the case (404), check the caller may send (403, saying who may) and that it is not
   merged (409); the email service must be configured (503); targets and CC addresses are
   capped (``ESCALATION_MAX_TARGETS``/``ESCALATION_MAX_CC``, 400, nothing stored).
2. **Idempotency-Key** (header, scoped to the acting user): a key seen before with a
   different request body → 422; with a send that is ``sent`` or ``dry_run`` → its stored
   answer is replayed (``replayed: true``, header ``Idempotent-Replayed: true``); with a send
   that ``failed`` or is ``partial`` → that send is driven again for its ``failed``
   recipients only (recipients already mailed are never mailed again); with a send still
   ``pending`` or ``unknown`` → it is driven again (the email service answers from its
   ledger); a send another request is driving → 409.
3. Select the targets and CC recipients, draft (:func:`cleanapp_geo.drafts.build_draft`).
4. In one transaction, under a per-case advisory lock: the **rate limits** (429), the
   **de-duplication window** (recipients whose delivery of the same subject and body is
   ``sent``, ``pending`` or ``unknown`` within ``ESCALATION_DEDUP_WINDOW_H`` are skipped
   unless ``force``; 409 when that leaves nobody), then the **intent**: the send row
   (``pending``, its id is the durable send id), one ``pending`` action per target, one
   ``pending`` delivery per recipient (with its message key), the audit event
   ``case_escalation_requested``. Committed before anything is sent. With ``attach_memo``
   the case memo is rendered once, before, as a PDF: its bytes wait with the send's intent
   (so a driven-again send attaches the same file) and each action's ``attachments_json``
   records its file name, type, size and SHA-256.
5. :func:`drive_send` (holding the send's row lock; a crash releases it) posts the send's
   open recipients to the email service and writes each recipient's state onto its delivery
   and action: the email service's answer (``sent``, ``failed``, ``invalid_email``,
   ``opted_out``, ``dry_run``, or ``pending`` while it retries); **``unknown``** when the
   call timed out, lost its connection or got a 5xx (delivery may have happened);
   ``failed`` only when the email service certainly delivered nothing (unreachable, or it
   refused the request). The send's status follows its deliveries (``pending``/``unknown``
   while any is, else ``sent``/``partial``/``failed``/``dry_run``). Answer: 200 when
   settled, 202 while ``pending``/``unknown``, 502 ``failed to send case escalation emails:
   email service unreachable`` when nothing could be handed over.

:func:`recover_sends` (the reconciler: a loop inside the service every
``ESCALATION_RECOVERY_INTERVAL_S``, and ``cleanapp-api escalations recover`` for cron)
settles every ``pending``/``unknown`` send nobody is driving: it asks the email service's
ledger (``GET /internal/case-escalations/sends/{id}``), writes what it knows, and drives
the send again when the ledger lacks some of its recipients (the API died before handing
them over).
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
    EmailServiceFailed,
    EmailServiceNotConfigured,
    IdempotencyConflict,
    InvalidRequest,
    NotCaseEditor,
    SendInProgress,
)
from cleanapp_api.escalation import planning
from cleanapp_api.escalation.client import (
    EmailServiceError,
    EmailServiceRefusedError,
    get_send_status,
    send_via_email_service,
)
from cleanapp_api.escalation.planning import FINAL_STATUSES, HOUR, OPEN_STATUSES, content_hash
from cleanapp_api.escalation.schemas import (
    EscalationSendResponse,
    SendEscalationRequest,
    SkippedRecipient,
)
from cleanapp_api.escalation.service import draft_for, load_case, select_targets
from cleanapp_api.policy import AuthenticatedUser, can_edit_case, effective_actor
from cleanapp_api.services.memo import build_memo
from cleanapp_api.services.memo_pdf import memo_pdf
from cleanapp_api.services.routing import record_delivery_outcomes, sync_case_after
from cleanapp_api.settings import Settings
from cleanapp_geo.targets import normalize_cc_emails

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "MSG_EMAIL_SERVICE_NOT_CONFIGURED",
    "MSG_IDEMPOTENCY_CONFLICT",
    "MSG_IN_PROGRESS",
    "MSG_NOT_SENDER",
    "MSG_SEND_FAILED",
    "SendOutcome",
    "content_hash",
    "drive_send",
    "memo_attachment",
    "recover_pending_sends",
    "recover_sends",
    "send_escalation",
]

logger = logging.getLogger("cleanapp_api.escalation")

MSG_SEND_FAILED: Final = "failed to send case escalation emails"
MSG_EMAIL_SERVICE_NOT_CONFIGURED: Final = "email service not configured (EMAIL_SERVICE_URL)"
MSG_IDEMPOTENCY_CONFLICT: Final = (
    "Idempotency-Key was already used for a different request; use a new key"
)
MSG_IN_PROGRESS: Final = "a send with this Idempotency-Key is still in progress; retry later"
MSG_NOT_SENDER: Final = (
    "only the case creator, an admin or a service account may send this case's escalations"
)

#: Largest attachment (the case memo) sent with an escalation; the email service takes 8 MiB
#: bodies, and base64 grows the bytes by a third.
MAX_ATTACHMENT_BYTES: Final = 512 * 1024


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The answer of a send: the body, its status code and headers (``Idempotent-Replayed``).

    ``status_code`` is 200 for a settled send and 202 while it is ``pending`` or ``unknown``.
    """

    response: EscalationSendResponse
    headers: dict[str, str] = field(default_factory=dict)
    status_code: int = 200


def _status_code(status: str) -> int:
    return 202 if status in OPEN_STATUSES else 200


def _response(send: Any, actions: Any, deliveries: Any, status: str) -> EscalationSendResponse:
    plan: list[dict[str, Any]] = list(send.recipients_json)
    return EscalationSendResponse(
        case_id=send.case_id,
        send_id=send.id,
        status=status,
        replayed=False,
        subject=send.subject,
        body=send.body,
        cc_emails=sorted(str(r["email"]) for r in plan if r.get("delivery_source") == "manual_cc"),
        actions=[repo.action_from_row(row) for row in actions],
        deliveries=[repo.delivery_from_row(row) for row in deliveries],
        skipped=[
            msgspec.convert(x, SkippedRecipient)
            for x in (send.response_json or {}).get("skipped", [])
        ],
    )


def _record_outcome(
    conn: sa.Connection,
    send: Any,
    todo: list[dict[str, Any]],
    results: list[Any],
    *,
    error: str | None,
    event: str,
    refused: bool = False,
) -> tuple[EscalationSendResponse, str]:
    """Write recipients' outcomes, settle actions and the send; return the answer."""
    sends.update_deliveries(conn, send.id, planning.delivery_rows(todo, results))
    deliveries = sends.send_deliveries(conn, send.id)
    # A delivered recipient is a success of its endpoint, a bounce a bounce (once each).
    record_delivery_outcomes(conn, send.case_id, deliveries)
    plan: list[dict[str, Any]] = list(send.recipients_json)
    action_ids = [r["action_id"] for r in plan if r.get("action_id") is not None]
    actions = sends.settle_actions(conn, action_ids, deliveries)
    status = planning.send_status([str(d["delivery_status"]) for d in deliveries])
    response = _response(send, actions, deliveries, status)
    now = datetime.now(UTC)
    final = status in FINAL_STATUSES
    sends.finish_send(
        conn,
        send.id,
        {
            "status": status,
            "sent_emails": sorted(
                {str(d["recipient_email"]) for d in deliveries if d["delivery_status"] == "sent"}
            ),
            "error_message": error,
            "response_status": 502 if refused and status == "failed" else _status_code(status),
            # The attachments stay with the send: a later drive attaches the same file.
            "response_json": {
                **msgspec.to_builtins(response),
                **{k: v for k, v in (send.response_json or {}).items() if k == "attachments"},
            },
            "updated_at": now,
            "completed_at": now if final else None,
        },
    )
    repo.insert_audit(
        conn,
        send.case_id,
        event,
        send.actor_user_id,
        {
            "send_id": send.id,
            "status": status,
            "action_count": len(actions),
            "delivery_count": len(deliveries),
            "attempt": send.attempts + 1,
            **({"error": error} if error else {}),
        },
    )
    return response, status


def _open_recipients(send: Any, deliveries: Any, *, retry_failed: bool) -> list[dict[str, Any]]:
    wanted = set(OPEN_STATUSES) | ({"failed"} if retry_failed else set())
    open_emails = {str(d["recipient_email"]) for d in deliveries if d["delivery_status"] in wanted}
    return [dict(r) for r in send.recipients_json if str(r["email"]) in open_emails]


def drive_send(
    engine: sa.Engine,
    settings: Settings,
    send_id: int,
    *,
    nowait: bool = False,
    retry_failed: bool = False,
) -> SendOutcome:
    """Hand a recorded send's open recipients to the email service and record the outcome.

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
    retry_failed : bool, default False
        Also hand over the recipients recorded ``failed`` (a same-key retry).

    Returns
    -------
    SendOutcome
        The persisted outcome: 200 when settled, 202 while ``pending``/``unknown``.

    Raises
    ------
    CaseServiceError
        502 when the email service certainly delivered nothing (recorded ``failed`` first);
        409 when ``nowait`` and the send is being driven elsewhere.
    """
    refused: str | None = None
    with engine.begin() as conn:
        try:
            send = sends.lock_send(conn, send_id, nowait=nowait)
        except sends.SendLockedError as exc:
            raise SendInProgress(MSG_IN_PROGRESS) from exc
        deliveries = sends.send_deliveries(conn, send_id)
        todo = _open_recipients(send, deliveries, retry_failed=retry_failed)
        if not todo and send.response_json and send.response_status in (200, 202):
            response = msgspec.convert(send.response_json, EscalationSendResponse)
            return SendOutcome(response, status_code=_status_code(send.status))
        locale = next((str(r["locale"]) for r in todo if r.get("locale")), None)
        request = planning.email_request(
            send.case_id, send, todo, retry_failed=retry_failed, locale=locale
        )
        error: str | None = None
        try:
            answer = send_via_email_service(settings, request)
            results = planning.results_by_recipient(todo, answer.results, None)
        except EmailServiceRefusedError as exc:
            refused = error = str(exc)
            results = planning.results_by_recipient(todo, None, error, status_on_error="failed")
        except EmailServiceError as exc:
            error = str(exc)
            logger.warning("escalation send %s: %s", send_id, error)
            results = planning.results_by_recipient(todo, None, error, status_on_error="unknown")
        response, status = _record_outcome(
            conn,
            send,
            todo,
            results,
            error=error,
            event="case_escalation_recorded",
            refused=refused is not None,
        )
    sync_case_after(engine, send.case_id)
    if refused and status == "failed":
        raise EmailServiceFailed(f"{MSG_SEND_FAILED}: {refused}")
    return SendOutcome(response, status_code=_status_code(status))


def _reconcile(engine: sa.Engine, settings: Settings, send_id: int) -> bool:
    """Settle one open send from the email service's ledger; True when it must be driven."""
    settled = False
    with engine.begin() as conn:
        try:
            send = sends.lock_send(conn, send_id, nowait=True)
        except sends.SendLockedError:
            return False
        if send.status not in OPEN_STATUSES:
            return False
        deliveries = sends.send_deliveries(conn, send_id)
        todo = _open_recipients(send, deliveries, retry_failed=False)
        known = get_send_status(settings, send_id)
        if known is None:
            return True  # the email service never got this send: hand it over
        by_email = {r.email.strip().lower(): r for r in known}
        found = [r for r in todo if str(r["email"]) in by_email]
        current = {str(d["recipient_email"]): d["delivery_status"] for d in deliveries}
        if any(by_email[str(r["email"])].status != current.get(str(r["email"])) for r in found):
            results = [by_email[str(r["email"])] for r in found]
            _record_outcome(
                conn, send, found, results, error=None, event="case_escalation_reconciled"
            )
            settled = True
        must_drive = len(found) < len(todo)
    if settled:
        sync_case_after(engine, send.case_id)
    return must_drive


def recover_sends(
    engine: sa.Engine,
    settings: Settings,
    *,
    case_id: str | None = None,
    older_than_s: float | None = None,
) -> list[int]:
    """Settle the ``pending`` and ``unknown`` sends nobody is driving (the reconciler).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    settings : Settings
        Email service configuration.
    case_id : str, optional
        Only this case's sends.
    older_than_s : float, optional
        Only sends untouched this long (default ``ESCALATION_RECOVERY_GRACE_S``). A send
        being driven holds its row lock and is skipped whatever its age.

    Returns
    -------
    list of int
        The sends looked at (whatever their outcome).
    """
    if not settings.email_service_url:
        return []
    age = settings.escalation_recovery_grace_s if older_than_s is None else older_than_s
    cutoff = datetime.now(UTC) - timedelta(seconds=age)
    with engine.connect() as conn:
        ids = sends.open_send_ids(conn, cutoff, case_id)
    seen = []
    for send_id in ids:
        try:
            if _reconcile(engine, settings, send_id):
                drive_send(engine, settings, send_id, nowait=True)
        except (SendInProgress, EmailServiceFailed):
            pass
        except EmailServiceError as exc:
            logger.info("reconciler: send %s stays open: %s", send_id, exc)
        seen.append(send_id)
    return seen


#: The earlier name of :func:`recover_sends`.
recover_pending_sends = recover_sends


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
    if not (settings.escalation_send_any_user or can_edit_case(user, case.created_by_user_id)):
        raise NotCaseEditor(MSG_NOT_SENDER)
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
            retry = existing.status in ("failed", "partial")
            if existing.status in FINAL_STATUSES and not retry and existing.response_json:
                return _replay(existing)
            if not case.merged_into_case_id and settings.email_service_url:
                # Unsettled: drive it again (the ledger answers); failed/partial: again for
                # its failed recipients only.
                return drive_send(engine, settings, existing.id, nowait=True, retry_failed=retry)
    if case.merged_into_case_id:
        raise AlreadyMerged(case.case_id, case.merged_into_case_id)
    if not settings.email_service_url:
        raise EmailServiceNotConfigured(MSG_EMAIL_SERVICE_NOT_CONFIGURED)
    planning.check_caps(
        len(set(request.target_ids or ())),
        len(request.cc_emails or ()),
        max_targets=settings.escalation_max_targets,
        max_cc=settings.escalation_max_cc,
    )
    digest_request = planning.request_hash(case.case_id, request)

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
    for recipient in plan:
        recipient["locale"] = draft.locale  # the footer's language, for every later attempt
    planning.check_caps(
        sum(r["target_id"] is not None for r in plan),
        sum(r["target_id"] is None for r in plan),
        max_targets=settings.escalation_max_targets,
        max_cc=settings.escalation_max_cc,
    )
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
                        "attachments": attachments,  # kept for every drive of the send
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
            sends.insert_deliveries(
                conn, planning.pending_delivery_rows(case.case_id, send_id, plan)
            )
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
    return drive_send(engine, settings, send_id)
