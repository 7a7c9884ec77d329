"""Wire types of the escalation routes (msgspec Structs).

Targets, actions and deliveries are the case service's Structs
(:mod:`cleanapp_api.schemas`), so every route shows them identically. Keys beyond upstream
are marked "new".
"""

from __future__ import annotations

import msgspec

from cleanapp_api.routing_schemas import (
    ContactObservationJSON,
    ExecutionTaskJSON,
    NotifyOutcomeJSON,
    NotifyPlanJSON,
    RoutingProfileJSON,
)
from cleanapp_api.schemas import EmailDelivery, EscalationAction, EscalationTarget

__all__ = [
    "CaseEscalationsResponse",
    "DraftEscalationRequest",
    "EscalationDraftResponse",
    "EscalationSendResponse",
    "SendEscalationRequest",
    "SkippedRecipient",
]


class DraftEscalationRequest(msgspec.Struct, kw_only=True):
    """``POST /cases/{id}/escalations/draft`` (the body may be empty).

    ``target_ids`` empty or missing: the visible, email-capable targets that are not held.
    ``locale`` (new) forces the language (``en``, ``de``, ``fr``, ``it``, ``es``, ``pt``);
    ``force`` (new) allows hidden or held targets.
    """

    target_ids: list[int] | None = None
    cc_emails: list[str] | None = None
    subject: str | None = None
    body: str | None = None
    locale: str | None = None
    force: bool | None = None


class SendEscalationRequest(msgspec.Struct, kw_only=True):
    """``POST /cases/{id}/escalations/send``.

    ``target_ids`` is required (upstream emailed every target when it was empty).
    ``force`` (new) allows hidden or held targets and re-sending the same message within
    the de-duplication window. ``actor_user_id`` is honoured for service tokens only.
    ``attach_memo`` (new) attaches the case memo as a PDF (``case-memo-<slug>.pdf``).
    """

    target_ids: list[int] | None = None
    cc_emails: list[str] | None = None
    subject: str | None = None
    body: str | None = None
    locale: str | None = None
    force: bool | None = None
    actor_user_id: str | None = None
    attach_memo: bool | None = None


class EscalationDraftResponse(msgspec.Struct, kw_only=True):
    """Draft response; ``html_body``, ``locale`` and ``locale_source`` are new.

    ``cc_emails`` and ``targets`` are always arrays (upstream sent ``null``).
    """

    case_id: str
    subject: str
    body: str
    html_body: str
    cc_emails: list[str]
    targets: list[EscalationTarget]
    linked_count: int
    locale: str
    locale_source: str


class CaseEscalationsResponse(msgspec.Struct, kw_only=True):
    """``GET /cases/{id}/escalations`` response (upstream's keys, in its order).

    ``targets`` are the visible targets (inferred contacts only when nothing better exists)
    with their routing scores, wave (``notify_tier``) and eligibility; ``observations`` the
    contact values the routing saw; ``notify_plan`` the active plan (items by wave and rank,
    ``waves`` new) and ``routing_profile`` the case's profile, both ``null`` until the case is
    routed; ``execution_tasks`` the tasks for people (pending first) and ``notify_outcomes``
    what happened (newest first); ``actions`` and ``deliveries`` are every stored row, oldest
    first.
    """

    case_id: str
    targets: list[EscalationTarget]
    observations: list[ContactObservationJSON]
    notify_plan: NotifyPlanJSON | None
    routing_profile: RoutingProfileJSON | None
    execution_tasks: list[ExecutionTaskJSON]
    notify_outcomes: list[NotifyOutcomeJSON]
    actions: list[EscalationAction]
    deliveries: list[EmailDelivery]
    linked_count: int


class SkippedRecipient(msgspec.Struct, kw_only=True):
    """A recipient left out of a send (new): ``reason`` says why."""

    email: str
    target_id: int | None
    reason: str


class EscalationSendResponse(msgspec.Struct, kw_only=True):
    """``POST .../escalations/send`` response: the *persisted* rows (upstream echoed unsaved ones).

    New keys: ``send_id`` (the recorded send), ``status`` (``sent``: every recipient got the
    message; ``partial``; ``failed``: none did; ``dry_run``), ``replayed`` (true when an
    ``Idempotency-Key`` replayed an earlier answer) and ``skipped`` (recipients not sent to
    because the same message already went to them within the de-duplication window).
    """

    case_id: str
    send_id: int
    status: str
    replayed: bool
    subject: str
    body: str
    cc_emails: list[str]
    actions: list[EscalationAction]
    deliveries: list[EmailDelivery]
    skipped: list[SkippedRecipient]
