"""Who to notify, in which wave: observations, the notify plan and execution tasks (pure).

Observations
------------
:func:`contact_observations` flattens routed targets into one observation per contact
value (``channel:value``), the evidence a client shows as "responsible parties".

The notify plan
---------------
:func:`build_notify_plan` puts every routed target in its wave (``notify_tier``) and ranks
it inside the wave, in one total order:

1. wave; 2. decision scope (site_ops, asset_owner, regulator, project_party, other);
3. the target's rank inside its organisation (its primary endpoint first: a department
   inbox before a personal address, a personal address before press or no-reply, then the
   stronger role), so every organisation's primary comes before any organisation's
   second endpoint; 4. actionability; 5. endpoint rank; 6. confidence; 7. name; 8. key.

Upstream compared the in-organisation criteria only between targets of one organisation,
which is not a total order (the result could depend on the input order).

Only ``auto`` targets are *selected*, within caps: per scope (site_ops 3, asset_owner 2,
regulator 2 in an emergency else 1, others 1), per wave and organisation (site_ops 2 in
wave 1 else 1; regulators 2 in an emergency for public safety and fire authorities; else
1) and per wave, organisation and role family (1).

New: each selected item says how it is reached (``recipient_role``): ``to`` for the site
operators and asset owners of its wave (or whoever is selected when there are none),
``cc`` for the oversight roles selected beside them -- the authority is copied on the mail
that asks the operator to act -- and ``task`` for a phone, website or social endpoint,
which becomes an execution task.

Execution tasks
---------------
:func:`execution_tasks` builds one task per selected item whose execution mode is neither
``auto`` nor ``hold`` (a call, a contact form, a social message), with a summary and the
payload a person needs to act.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from cleanapp_geo.routing.profile import RoutingProfile
from cleanapp_geo.targets import EscalationTarget

__all__ = [
    "PLAN_STATUSES",
    "RECIPIENT_ROLES",
    "ContactObservation",
    "ExecutionTaskSpec",
    "NotifyPlan",
    "PlanItem",
    "build_notify_plan",
    "contact_observations",
    "endpoint_rank",
    "execution_tasks",
    "organization_bucket",
    "target_label",
]

PLAN_STATUSES: Final = ("active", "superseded")
RECIPIENT_ROLES: Final = ("to", "cc", "task", "")
SCOPE_PRIORITY: Final = {
    "site_ops": 0,
    "asset_owner": 1,
    "regulator": 2,
    "project_party": 3,
    "other": 4,
}
_ROLE_PRIORITY: Final = {
    **dict.fromkeys(("operator", "operator_admin", "site_leadership"), 9),
    **dict.fromkeys(
        ("facility_manager", "transit_authority", "public_works", "traffic_authority",
         "infrastructure_authority"),
        8,
    ),
    **dict.fromkeys(("building_authority", "public_safety", "fire_authority", "transit_safety"), 7),
    **dict.fromkeys(("owner", "property_owner", "landlord"), 6),
    **dict.fromkeys(("support", "engineering", "product_owner", "trust_safety", "security"), 5),
    **dict.fromkeys(("architect", "engineer", "contractor"), 4),
}  # fmt: skip
_ROLE_FAMILY: Final = {
    **dict.fromkeys(("operator", "operator_admin", "site_leadership"), "site_operator"),
    **dict.fromkeys(("owner", "property_owner", "landlord"), "asset_owner"),
}
_NO_REPLY: Final = ("noreply", "no-reply", "donotreply", "do-not-reply")
_BROADCAST: Final = (
    "press", "media", "marketing", "kommunikation", "communication", "webmaster", "web",
)  # fmt: skip
_FUNCTIONAL: Final = (
    "info", "contact", "support", "help", "service", "team", "admin", "office", "facilit",
    "maint", "security", "safety", "inspection", "permit", "planning", "bau", "school",
    "station", "publicworks", "transit", "operations", "ops",
    # German functional inboxes (upstream's list was English only).
    "hausdienst", "kontakt", "verwaltung", "sekretariat",
)  # fmt: skip
_SCOPE_LIMIT: Final = {"site_ops": 3, "asset_owner": 2}
_PRIMARY_SCOPES: Final = frozenset({"site_ops", "asset_owner"})


# ============================================================================ observations


@dataclass(frozen=True, slots=True)
class ContactObservation:
    """One contact value seen for a subject (a ``case_contact_observations`` row).

    ``channel_value`` is the email, phone, social handle or website (else contact URL);
    ``person_name`` is the target's display name; the rest are the target's fields.
    """

    endpoint_key: str
    role_type: str
    decision_scope: str
    organization_name: str
    person_name: str
    channel_type: str
    channel_value: str
    email: str
    phone: str
    website: str
    contact_url: str
    social_platform: str
    social_handle: str
    source_url: str
    evidence_text: str
    verification_level: str
    attribution_class: str
    confidence_score: float
    target_source: str

    @property
    def key(self) -> str:
        """``<channel>:<value>`` (lower case), the observation's identity."""
        return f"{self.channel_type}:{self.channel_value}".lower()

    def to_record(self) -> dict[str, Any]:
        """Every field as a plain dict."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _channel_value(target: EscalationTarget) -> str:
    return {
        "email": target.email,
        "phone": target.phone,
        "social": target.social_handle,
        "website": target.website or target.contact_url,
    }.get(target.channel, "")


def contact_observations(targets: Iterable[EscalationTarget]) -> tuple[ContactObservation, ...]:
    """One observation per contact value of the (visible, routed) targets.

    Targets without a value for their channel are skipped; a value seen twice keeps the
    first (most confident) target. Ordered by confidence (descending), then key.

    Examples
    --------
    >>> from cleanapp_geo.targets import normalize_target
    >>> t = normalize_target(EscalationTarget(email="ops@town.gov", organization="Town",
    ...                                       confidence_score=0.8))
    >>> [(o.channel_type, o.channel_value, o.person_name) for o in contact_observations([t, t])]
    [('email', 'ops@town.gov', 'Town')]
    """
    seen: dict[str, ContactObservation] = {}
    for t in sorted(targets, key=lambda t: (-t.confidence_score, t.endpoint_key)):
        value = _channel_value(t)
        if not value:
            continue
        observation = ContactObservation(
            endpoint_key=t.endpoint_key,
            role_type=t.role_type,
            decision_scope=t.decision_scope,
            organization_name=t.organization,
            person_name=t.display_name,
            channel_type=t.channel,
            channel_value=value,
            email=t.email,
            phone=t.phone,
            website=t.website,
            contact_url=t.contact_url,
            social_platform=t.social_platform,
            social_handle=t.social_handle,
            source_url=t.source_url,
            evidence_text=t.evidence_text,
            verification_level=t.verification_level,
            attribution_class=t.attribution_class,
            confidence_score=t.confidence_score,
            target_source=t.target_source,
        )
        seen.setdefault(observation.key, observation)
    return tuple(sorted(seen.values(), key=lambda o: (-o.confidence_score, o.key)))


# ============================================================================ plan


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One target's place in the plan (a ``case_notify_plan_items`` row, by endpoint key).

    Parameters
    ----------
    endpoint_key : str
        The target (the store maps it to a target id and an observation id).
    wave_number : int
        1 (now) to 4 (reserve).
    priority_rank : int
        1-based position inside the wave.
    role_type, decision_scope, channel, organization_bucket : str
    actionability_score, confidence_score : float
    send_eligibility, execution_mode, reason_selected : str
        Copied from the target.
    selected : bool
        Recommended now (``auto`` and within the caps).
    recipient_role : str
        ``to``, ``cc``, ``task`` (selected) or ``""``.
    """

    endpoint_key: str
    wave_number: int
    priority_rank: int
    role_type: str
    decision_scope: str
    channel: str
    organization_bucket: str
    actionability_score: float
    confidence_score: float
    send_eligibility: str
    execution_mode: str
    reason_selected: str
    selected: bool
    recipient_role: str

    def to_record(self) -> dict[str, Any]:
        """Every field as a plain dict."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class NotifyPlan:
    """A subject's notify plan: items in wave and rank order, and a summary.

    Parameters
    ----------
    hazard_mode : str
        The profile's hazard mode.
    summary : str
        One sentence: how many are notified now, how many authorities wait.
    items : tuple of PlanItem
        Wave ascending, rank ascending.
    """

    hazard_mode: str
    summary: str
    items: tuple[PlanItem, ...]

    @property
    def waves(self) -> tuple[int, ...]:
        """The wave numbers that hold at least one item, ascending."""
        return tuple(sorted({item.wave_number for item in self.items}))

    @property
    def selected(self) -> tuple[PlanItem, ...]:
        """The selected items."""
        return tuple(item for item in self.items if item.selected)

    def signature(self) -> tuple[tuple[Any, ...], ...]:
        """Return what makes two plans the same plan (the store bumps the version on a change)."""
        return tuple(
            (i.endpoint_key, i.wave_number, i.priority_rank, i.send_eligibility, i.selected,
             i.recipient_role)
            for i in self.items
        )  # fmt: skip


def _host(url: str) -> str:
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def organization_bucket(target: EscalationTarget) -> str:
    """Return the organisation a target belongs to, for the per-organisation caps.

    Its organisation key, else its lower-cased organisation or display name, else the host of
    its contact, website or source URL, else its email domain, else ``phone:<phone>``.

    Examples
    --------
    >>> organization_bucket(EscalationTarget(email="ops@metro.example"))
    'metro.example'
    """
    if target.organization_key:
        return target.organization_key
    name = (target.organization or target.display_name).strip().lower()
    if name:
        return name
    for url in (target.contact_url, target.website, target.source_url):
        host = _host(url) if url else ""
        if host:
            return host
    if "@" in target.email:
        return target.email.rsplit("@", 1)[1].lower()
    return f"phone:{target.phone}" if target.phone else target.endpoint_key


def endpoint_rank(target: EscalationTarget) -> int:
    """How much a target looks like an organisation's primary endpoint (0 best, 7 worst).

    Email by local part: 6 no-reply; 4 press, media, marketing, communication, web; 0 a
    function (info, contact, support, office, facilities, bau, ops, hausdienst, ...); 2 a personal
    address (with ``.`` or ``_``); 1 otherwise. Phone 1; website 3 with a contact page, else
    4; social 5.

    Examples
    --------
    >>> endpoint_rank(EscalationTarget(channel="email", email="bau.planung@adliswil.ch"))
    0
    >>> endpoint_rank(EscalationTarget(channel="email", email="damiano.maiolo@adliswil.ch"))
    2
    """
    channel = target.channel
    if channel == "email":
        local = target.email.split("@", 1)[0].lower()
        if any(word in local for word in _NO_REPLY):
            return 6
        if any(word in local for word in _BROADCAST):
            return 4
        if any(word in local for word in _FUNCTIONAL):
            return 0
        return 2 if ("." in local or "_" in local) else 1
    if channel == "phone":
        return 1
    if channel == "website":
        return 3 if target.contact_url else 4
    return 5 if channel == "social" else 7


def target_label(target: EscalationTarget) -> str:
    """Return the display name, else the organisation, else ``contact``."""
    return target.display_name or target.organization or "contact"


def _regulator_limit(profile: RoutingProfile) -> int:
    return 2 if profile.hazard_mode == "emergency" else 1


def _org_limit(scope: str, wave: int, family: str, profile: RoutingProfile) -> int:
    if scope == "site_ops":
        return 2 if wave == 1 else 1
    emergency = profile.hazard_mode == "emergency"
    if scope == "regulator" and emergency and family in ("public_safety", "fire_authority"):
        return 2
    return 1


def _summary(profile: RoutingProfile, items: Sequence[PlanItem]) -> str:
    selected = sum(i.selected for i in items)
    reserve = sum(1 for i in items if i.decision_scope == "regulator" and not i.selected)
    primary = sum(1 for i in items if i.selected and i.decision_scope in _PRIMARY_SCOPES)
    if profile.hazard_mode == "emergency":
        return (
            f"Immediate-response plan selects {selected} primary recipients now, while holding "
            f"{reserve} authority contacts in reserve for widening if needed."
        )
    if profile.hazard_mode == "urgent":
        return (
            f"Urgent notify plan focuses on {primary} direct operators/owners now and keeps "
            f"{reserve} authority stakeholders queued for escalation."
        )
    if profile.digital:
        return (
            f"Notify plan recommends {selected} primary product/operator contacts now, with "
            f"{reserve} authority or oversight stakeholders retained for escalation if the "
            "issue persists."
        )
    return (
        f"Notify plan recommends {selected} primary contacts now, with {reserve} authority or "
        "oversight stakeholders retained for escalation if needed."
    )


def build_notify_plan(targets: Iterable[EscalationTarget], profile: RoutingProfile) -> NotifyPlan:
    """Build the notify plan of routed targets (see the module docstring).

    Parameters
    ----------
    targets : iterable of EscalationTarget
        Routed targets (:func:`cleanapp_geo.routing.route_targets`), each with an
        ``endpoint_key``; a key given twice keeps its best target (wave, actionability).
    profile : RoutingProfile
        The subject's profile (hazard mode, digital or not).

    Returns
    -------
    NotifyPlan
        The same plan whatever the input order.

    Examples
    --------
    Upstream T30: three site operators of one organisation, all ``auto``; the per-organisation
    cap of site operators in wave 1 is 2.

    >>> from cleanapp_geo.routing import RoutingProfile
    >>> profile = RoutingProfile(defect_class="physical_structural", hazard_mode="emergency",
    ...                          structural=True, severe=True, urgent=True)
    >>> def op(role, email, act):
    ...     return EscalationTarget(role_type=role, decision_scope="site_ops", channel="email",
    ...         email=email, endpoint_key="email:" + email, organization_key="metro authority",
    ...         actionability_score=act, send_eligibility="auto", execution_mode="auto",
    ...         notify_tier=1)
    >>> plan = build_notify_plan([op("transit_authority", "ops@metro.example", 0.94),
    ...                           op("facility_manager", "facilities@metro.example", 0.93),
    ...                           op("operator", "lead@metro.example", 0.92)], profile)
    >>> [(i.endpoint_key, i.selected) for i in plan.items]  # doctest: +NORMALIZE_WHITESPACE
    [('email:ops@metro.example', True), ('email:facilities@metro.example', True),
     ('email:lead@metro.example', False)]
    """
    unique: dict[str, EscalationTarget] = {}
    # A key given twice keeps its best target (whatever the input order).
    for t in sorted(
        targets,
        key=lambda t: (t.notify_tier, -t.actionability_score, -t.confidence_score, repr(t)),
    ):
        unique.setdefault(t.endpoint_key, t)
    listed = list(unique.values())
    buckets = {t.endpoint_key: organization_bucket(t) for t in listed}

    def inside(t: EscalationTarget) -> tuple[Any, ...]:
        return (
            endpoint_rank(t), -_ROLE_PRIORITY.get(t.role_type, 1), -t.actionability_score,
            -t.confidence_score, target_label(t).casefold(), t.endpoint_key,
        )  # fmt: skip

    groups: dict[tuple[int, str, str], list[EscalationTarget]] = {}
    for t in listed:
        groups.setdefault((t.notify_tier, t.decision_scope, buckets[t.endpoint_key]), []).append(t)
    in_org: dict[str, int] = {}
    for members in groups.values():
        for rank, t in enumerate(sorted(members, key=inside)):
            in_org[t.endpoint_key] = rank

    def order(t: EscalationTarget) -> tuple[Any, ...]:
        return (
            t.notify_tier, SCOPE_PRIORITY.get(t.decision_scope, 4), in_org[t.endpoint_key],
            -t.actionability_score, endpoint_rank(t), -t.confidence_score,
            target_label(t).casefold(), (t.organization or "").casefold(),
            (t.email or t.phone).casefold(), t.endpoint_key,
        )  # fmt: skip

    ranked = sorted(listed, key=order)
    per_scope: Counter[str] = Counter()
    per_org: Counter[tuple[int, str]] = Counter()
    per_family: Counter[tuple[int, str, str]] = Counter()
    chosen: set[str] = set()
    for t in ranked:
        if t.send_eligibility != "auto":
            continue
        wave, scope, bucket = t.notify_tier, t.decision_scope, buckets[t.endpoint_key]
        family = _ROLE_FAMILY.get(t.role_type, t.role_type)
        scope_limit = (
            _regulator_limit(profile) if scope == "regulator" else _SCOPE_LIMIT.get(scope, 1)
        )
        if (
            per_scope[scope] >= scope_limit
            or per_org[(wave, bucket)] >= _org_limit(scope, wave, family, profile)
            or per_family[(wave, bucket, family)] >= 1
        ):
            continue
        per_scope[scope] += 1
        per_org[(wave, bucket)] += 1
        per_family[(wave, bucket, family)] += 1
        chosen.add(t.endpoint_key)

    primary_waves = {
        t.notify_tier
        for t in ranked
        if t.endpoint_key in chosen and t.channel == "email" and t.decision_scope in _PRIMARY_SCOPES
    }
    items: list[PlanItem] = []
    positions: Counter[int] = Counter()
    for t in ranked:
        positions[t.notify_tier] += 1
        selected = t.endpoint_key in chosen
        if not selected:
            role = ""
        elif t.channel != "email":
            role = "task"
        elif t.decision_scope in _PRIMARY_SCOPES or t.notify_tier not in primary_waves:
            role = "to"
        else:
            role = "cc"
        items.append(
            PlanItem(
                endpoint_key=t.endpoint_key,
                wave_number=t.notify_tier,
                priority_rank=positions[t.notify_tier],
                role_type=t.role_type,
                decision_scope=t.decision_scope,
                channel=t.channel,
                organization_bucket=buckets[t.endpoint_key],
                actionability_score=t.actionability_score,
                confidence_score=t.confidence_score,
                send_eligibility=t.send_eligibility,
                execution_mode=t.execution_mode,
                reason_selected=t.reason_selected,
                selected=selected,
                recipient_role=role,
            )
        )
    return NotifyPlan(
        hazard_mode=profile.hazard_mode, summary=_summary(profile, items), items=tuple(items)
    )


# ============================================================================ tasks


@dataclass(frozen=True, slots=True)
class ExecutionTaskSpec:
    """A task a person carries out (a call, a contact form, a social message).

    Parameters
    ----------
    endpoint_key : str
        The target.
    wave_number : int
    role_type, channel_type, execution_mode : str
    summary : str
        ``Call <label>``, ``Submit contact form for <label>``, ...
    payload : dict
        ``target fields`` and ``action_url`` (``tel:`` link, contact page, ...).
    """

    endpoint_key: str
    wave_number: int
    role_type: str
    channel_type: str
    execution_mode: str
    summary: str
    payload: dict[str, Any]


def _task_summary(target: EscalationTarget) -> str:
    label = target_label(target)
    if target.channel == "phone":
        return f"Call {label}"
    if target.channel == "website":
        if target.contact_url:
            return f"Submit contact form for {label}"
        return f"Review website contact path for {label}"
    if target.channel == "social":
        return f"Review social escalation path for {label}"
    return f"Review outreach path for {label}"


def _action_url(target: EscalationTarget) -> str:
    if target.channel == "phone" and target.phone:
        return f"tel:{target.phone}"
    if target.channel == "website":
        return target.contact_url or target.website
    if target.channel == "social" and target.contact_url:
        return target.contact_url
    return target.source_url or target.contact_url or target.website


def execution_tasks(
    plan: NotifyPlan, targets: Iterable[EscalationTarget]
) -> tuple[ExecutionTaskSpec, ...]:
    """Tasks for the selected items that are neither ``auto`` nor ``hold``, in plan order.

    Parameters
    ----------
    plan : NotifyPlan
        The plan.
    targets : iterable of EscalationTarget
        The routed targets the plan was built from.

    Returns
    -------
    tuple of ExecutionTaskSpec

    Examples
    --------
    >>> from cleanapp_geo.routing import RoutingProfile
    >>> t = EscalationTarget(role_type="operator", decision_scope="site_ops", channel="phone",
    ...     phone="+41447117860", display_name="Hausdienst", endpoint_key="phone:41447117860",
    ...     send_eligibility="auto", execution_mode="task", notify_tier=1)
    >>> [(x.summary, x.payload["action_url"])
    ...  for x in execution_tasks(build_notify_plan([t], RoutingProfile()), [t])]
    [('Call Hausdienst', 'tel:+41447117860')]
    """
    by_key = {t.endpoint_key: t for t in targets}
    out = []
    for item in plan.selected:
        target = by_key.get(item.endpoint_key)
        if target is None or target.execution_mode in ("auto", "hold"):
            continue
        out.append(
            ExecutionTaskSpec(
                endpoint_key=item.endpoint_key,
                wave_number=item.wave_number,
                role_type=target.role_type,
                channel_type=target.channel,
                execution_mode=target.execution_mode,
                summary=_task_summary(target)[:255],
                payload={
                    "organization": target.organization,
                    "display_name": target.display_name,
                    "reason": target.reason_selected,
                    "channel": target.channel,
                    "email": target.email,
                    "phone": target.phone,
                    "website": target.website,
                    "contact_url": target.contact_url,
                    "social_platform": target.social_platform,
                    "social_handle": target.social_handle,
                    "source_url": target.source_url,
                    "action_url": _action_url(target),
                },
            )
        )
    return tuple(out)
