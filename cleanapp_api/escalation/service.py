"""Escalation use cases: list and draft (the send flow is in :mod:`.sending`).

Target selection (fixes upstream, which emailed every target)
--------------------------------------------
A target is *visible* when it normalises (:func:`cleanapp_geo.targets.normalize_target`),
is the first stored target of its key, and is not an ``inferred_contact`` shadowed by a
better target (:func:`cleanapp_geo.targets.visible_targets`). It is *held* when its
``cooldown_until`` is in the future (contact routing
writes the endpoint memory's cooldown there: a bounce, a misroute, a recent answer). An
explicit selection (``target_ids``) must name existing targets of the case (400 ``unknown
target ids: ...``) with a valid email (400 ``targets without a valid email address: ...``)
and, unless ``force``, neither hidden nor held ones (400 ``targets hidden or held (pass
"force": true to include them): 7 (hidden: ...), 9 (held: ...)``). Without ``target_ids`` a
draft previews the notify plan's selected email recipients (``docs/routing.md``), else the
visible, email-capable targets that are not held; a send requires ``target_ids``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa

from cleanapp_api.domain_errors import InvalidRequest
from cleanapp_api.escalation.planning import check_caps
from cleanapp_api.escalation.schemas import (
    CaseEscalationsResponse,
    DraftEscalationRequest,
    EscalationDraftResponse,
)
from cleanapp_api.policy import AuthenticatedUser
from cleanapp_api.schemas import CaseDetail, EscalationTarget
from cleanapp_api.services.cases import get_case
from cleanapp_api.services.discovery import CaseDiscovery
from cleanapp_api.settings import Settings
from cleanapp_geo.drafts import (
    DraftCase,
    DraftReport,
    EscalationDraft,
    build_draft,
)
from cleanapp_geo.targets import (
    EscalationTarget as LibraryTarget,
)
from cleanapp_geo.targets import (
    normalize_cc_emails,
    normalize_email,
    normalize_target,
)

__all__ = [
    "MSG_TARGET_IDS_REQUIRED",
    "draft_escalation",
    "draft_for",
    "hidden_reasons",
    "hold_reason",
    "load_case",
    "planned_recipients",
    "select_targets",
    "view_escalations",
]

MSG_TARGET_IDS_REQUIRED: Final = (
    "target_ids is required: list the ids of the targets to email "
    "(GET /cases/{case_id}/escalations lists them)"
)
_INFERRED: Final = "inferred_contact"


def load_case(engine: sa.Engine, case_id: str) -> CaseDetail:
    """Load a case detail (404 ``case not found``)."""
    return get_case(engine, case_id)


def _library(target: EscalationTarget) -> LibraryTarget:
    return LibraryTarget.from_record(
        {name: getattr(target, name) for name in LibraryTarget.__dataclass_fields__}
    )


def hidden_reasons(targets: Sequence[EscalationTarget]) -> dict[int, str]:
    """Why each hidden stored target is hidden (target id → reason); visible ones are absent.

    Parameters
    ----------
    targets : sequence of EscalationTarget
        The case's stored targets, in list order.

    Returns
    -------
    dict of int to str
        ``no usable contact method``, ``duplicate of target <id>`` or ``inferred contact
        shadowed by better targets``.
    """
    reasons: dict[int, str] = {}
    first: dict[str, int] = {}
    kept: list[tuple[EscalationTarget, LibraryTarget]] = []
    for target in targets:
        normalised = normalize_target(_library(target))
        if normalised is None:
            reasons[target.id] = "no usable contact method"
            continue
        key = normalised.endpoint_key
        if key in first:
            reasons[target.id] = f"duplicate of target {first[key]}"
            continue
        first[key] = target.id
        kept.append((target, normalised))
    preferred = any(
        n.target_source != _INFERRED and (n.email or n.phone or n.website or n.contact_url)
        for _, n in kept
    )
    if preferred:
        for target, normalised in kept:
            if normalised.target_source == _INFERRED:
                reasons[target.id] = "inferred contact shadowed by better targets"
    return reasons


def hold_reason(target: EscalationTarget, now: datetime) -> str | None:
    """Why a target is held (``in cooldown until ...``), or None.

    The cooldown is the endpoint memory's (a bounce, a misroute, a recent acknowledgement;
    written onto the target by contact routing) or one a client gave. A routing
    ``send_eligibility`` (and ``execution_mode``) of ``hold`` for a weak fit is not a hold
    here: a person who picks the target explicitly is the review it asks for.
    """
    if target.cooldown_until:
        until = datetime.fromisoformat(target.cooldown_until)
        if until > now:
            return f"in cooldown until {target.cooldown_until}"
    return None


def planned_recipients(detail: CaseDetail) -> set[int]:
    """Return the target ids the case's notify plan selects as email recipients (to, cc)."""
    plan = detail.notify_plan
    if plan is None:
        return set()
    return {
        i.target_id
        for i in plan.items
        if i.selected and i.recipient_role in ("to", "cc") and i.target_id is not None
    }


def _listed(ids: Sequence[int]) -> str:
    return ", ".join(str(i) for i in ids)


def select_targets(
    targets: Sequence[EscalationTarget],
    target_ids: Sequence[int] | None,
    *,
    force: bool,
    required: bool,
    now: datetime | None = None,
    preferred: Collection[int] = (),
) -> list[EscalationTarget]:
    """Select the email targets of a draft or send (see the module docstring).

    Parameters
    ----------
    targets : sequence of EscalationTarget
        The case's stored targets, in list order.
    target_ids : sequence of int or None
        The requested ids (duplicates ignored).
    force : bool
        Allow hidden and held targets.
    required : bool
        Whether ``target_ids`` must be given (sends).
    now : datetime, optional
        Reference time for cooldowns (default: now).
    preferred : collection of int, optional
        The notify plan's selected email recipients: the default selection when any of
        them is selectable.

    Returns
    -------
    list of EscalationTarget
        In the order of ``target_ids``, or in list order by default.

    Raises
    ------
    CaseServiceError
        400 with the offending ids.
    """
    now = now or datetime.now(UTC)
    hidden = hidden_reasons(targets)
    by_id = {t.id: t for t in targets}
    ids = list(dict.fromkeys(target_ids or ()))
    if not ids:
        if required:
            raise InvalidRequest(MSG_TARGET_IDS_REQUIRED)
        default = [
            t
            for t in targets
            if t.id not in hidden and normalize_email(t.email) and hold_reason(t, now) is None
        ]
        planned = [t for t in default if t.id in preferred]
        return planned or default
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise InvalidRequest(f"unknown target ids: {_listed(unknown)}")
    selected = [by_id[i] for i in ids]
    no_email = [t.id for t in selected if not normalize_email(t.email)]
    if no_email:
        raise InvalidRequest(f"targets without a valid email address: {_listed(no_email)}")
    if not force:
        refused = []
        for t in selected:
            held = hold_reason(t, now)
            if t.id in hidden:
                refused.append(f"{t.id} (hidden: {hidden[t.id]})")
            elif held is not None:
                refused.append(f"{t.id} (held: {held})")
        if refused:
            raise InvalidRequest(
                'targets hidden or held (pass "force": true to include them): '
                + ", ".join(refused),
            )
    return selected


def _parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _draft_inputs(detail: CaseDetail) -> tuple[DraftCase, list[DraftReport]]:
    case = detail.case
    reports = [
        DraftReport(
            seq=r.seq,
            title=r.title,
            summary=r.summary,
            severity_level=r.severity_level,
            timestamp=_parse_ts(r.report_timestamp),
            latitude=r.latitude,
            longitude=r.longitude,
        )
        for r in detail.linked_reports
    ]
    lon, lat = case.anchor_lng, case.anchor_lat
    if (lon is None or lat is None) and reports:
        lon = sum(r.longitude or 0.0 for r in reports) / len(reports)
        lat = sum(r.latitude or 0.0 for r in reports) / len(reports)
    draft_case = DraftCase(
        case_id=case.case_id,
        title=case.title,
        summary=case.summary,
        severity_score=case.severity_score,
        urgency_score=case.urgency_score,
        linked_count=len(detail.linked_reports),
        longitude=lon,
        latitude=lat,
    )
    return draft_case, reports


def draft_for(
    settings: Settings,
    detail: CaseDetail,
    selected: Sequence[EscalationTarget],
    *,
    locale: str | None,
    subject: str | None,
    body: str | None,
) -> EscalationDraft:
    """Draft the message of a case to the selected targets (400 on an unknown locale)."""
    case, reports = _draft_inputs(detail)
    try:
        return build_draft(
            case,
            reports,
            case_url=settings.public_case_url(case.case_id),
            emails=[normalize_email(t.email) for t in selected],
            locale=locale,
            subject=subject,
            body=body,
        )
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc


def planning_caps(settings: Settings, request: DraftEscalationRequest) -> None:
    """Refuse a draft for more targets or CC addresses than a send may have (400)."""
    check_caps(
        len(set(request.target_ids or ())),
        len(request.cc_emails or ()),
        max_targets=settings.escalation_max_targets,
        max_cc=settings.escalation_max_cc,
    )


def view_escalations(
    engine: sa.Engine,
    case_id: str,
    *,
    refresh_targets: bool = False,
    discovery: CaseDiscovery | None = None,
) -> CaseEscalationsResponse:
    """Return the visible targets and the case's routing, every action and delivery.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    case_id : str
        The case.
    refresh_targets : bool, default False
        Suggest targets again from the stored sources and re-route first.
    discovery : CaseDiscovery, optional
        With ``refresh_targets``, also discover contacts within its budget.

    Returns
    -------
    CaseEscalationsResponse

    Raises
    ------
    CaseServiceError
        404 ``case not found``.
    """
    detail = get_case(engine, case_id, refresh_targets=refresh_targets, discovery=discovery)
    hidden = hidden_reasons(detail.escalation_targets)
    return CaseEscalationsResponse(
        case_id=detail.case.case_id,
        targets=[t for t in detail.escalation_targets if t.id not in hidden],
        observations=detail.contact_observations,
        notify_plan=detail.notify_plan,
        routing_profile=detail.routing_profile,
        execution_tasks=detail.execution_tasks,
        notify_outcomes=detail.notify_outcomes,
        actions=detail.escalation_actions,
        deliveries=detail.email_deliveries,
        linked_count=len(detail.linked_reports),
    )


def draft_escalation(
    engine: sa.Engine,
    settings: Settings,
    case_id: str,
    request: DraftEscalationRequest | None,
    user: AuthenticatedUser,
) -> EscalationDraftResponse:
    """Draft the escalation e-mail; nothing is stored.

    Any signed-in user who can read the case may draft: drafting changes nothing, and the
    web client drafts for whoever opens a case (sending stays with its editors).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    settings : Settings
        For the public case link.
    case_id : str
        The case.
    request : DraftEscalationRequest or None
        The body (None: empty).
    user : AuthenticatedUser
        The caller.

    Returns
    -------
    EscalationDraftResponse

    Raises
    ------
    CaseServiceError
        404 unknown case; 400 bad selection, too many recipients or an unknown locale.
    """
    request = request or DraftEscalationRequest()
    detail = load_case(engine, case_id)
    planning_caps(settings, request)
    selected = select_targets(
        detail.escalation_targets,
        request.target_ids,
        force=bool(request.force),
        required=False,
        preferred=planned_recipients(detail),
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
    return EscalationDraftResponse(
        case_id=detail.case.case_id,
        subject=draft.subject,
        body=draft.body,
        html_body=draft.html_body,
        cc_emails=list(cc),
        targets=list(selected),
        linked_count=len(detail.linked_reports),
        locale=draft.locale,
        locale_source=draft.locale_source,
    )
