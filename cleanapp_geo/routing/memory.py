"""What happened when we contacted an endpoint, and what the router learns from it (pure).

Every contact endpoint (``email:ops@town.gov``, ``phone:41447117860``, ...; the target key
of :func:`cleanapp_geo.targets.target_key`) has one :class:`EndpointMemory` across all
cases and reports. An *outcome* -- a delivery's success or bounce, or what a person
recorded after a call or a contact form -- updates it with :func:`apply_outcome`, and the
router reads it back with :func:`outcome_memory_score` and :func:`blocked_reason`.

==============  ===============  ==========  ===============================================
outcome         aliases          cooldown    memory
==============  ===============  ==========  ===============================================
sent            delivered        --          success + 1
bounced         bounce           14 days     bounce + 1; blocks the endpoint until a success
acknowledged    ack              72 hours    ack + 1; preferred for the role and asset
fixed           resolved         30 days     fix + 1; preferred for the role and asset
misrouted       wrong_recipient  7 days      misroute + 1; blocks until a success; no longer
                                             preferred for that role
no_response     no-response,     --          no_response + 1
                noresponse
opted_out       opt_out          --          blocks the endpoint (never contacted again)
==============  ===============  ==========  ===============================================

Fixes of upstream
-----------------
* A new outcome never shortens an active cooldown: a ``sent`` delivery no longer clears it.
* Transient delivery failures (``failed``: provider errors, timeouts) are not bounces
  (:func:`delivery_outcome` returns None for them); only an invalid or rejected address is.
* "Preferred for" a role or an asset is earned by an acknowledgement or a fix, not by any
  outcome (upstream also set it on a bounce), and an empty value never overwrites one.
* A bounced, misrouted or opted-out endpoint is *blocked*: the router holds it and keeps
  it out of the first wave until a later success.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from cleanapp_geo.errors import CleanAppGeoError

__all__ = [
    "BLOCKING_RESULTS",
    "COOLDOWNS",
    "OUTCOME_ALIASES",
    "OUTCOME_TYPES",
    "EndpointMemory",
    "InvalidOutcomeError",
    "apply_outcome",
    "blocked_reason",
    "delivery_outcome",
    "normalize_outcome_type",
    "outcome_memory_score",
    "outcome_summary",
]

#: Outcome types, in the order a client sees them listed.
OUTCOME_TYPES: Final = (
    "sent",
    "bounced",
    "acknowledged",
    "fixed",
    "misrouted",
    "no_response",
    "opted_out",
)
#: Accepted spellings (case-insensitive, trimmed) of each outcome type.
OUTCOME_ALIASES: Final[dict[str, str]] = {
    **{name: name for name in OUTCOME_TYPES},
    "ack": "acknowledged",
    "resolved": "fixed",
    "wrong_recipient": "misrouted",
    "no-response": "no_response",
    "noresponse": "no_response",
    "bounce": "bounced",
    "delivered": "sent",
    "opt_out": "opted_out",
    "opt-out": "opted_out",
}
#: How long an outcome keeps the endpoint from being contacted again.
COOLDOWNS: Final[dict[str, timedelta]] = {
    "bounced": timedelta(days=14),
    "misrouted": timedelta(days=7),
    "acknowledged": timedelta(hours=72),
    "fixed": timedelta(days=30),
}
#: A last result that blocks the endpoint until a later success.
BLOCKING_RESULTS: Final = frozenset({"bounced", "misrouted", "opted_out"})
_COUNTERS: Final = {
    "sent": "success_count",
    "bounced": "bounce_count",
    "acknowledged": "ack_count",
    "fixed": "fix_count",
    "misrouted": "misroute_count",
    "no_response": "no_response_count",
}
_PREFERRING: Final = frozenset({"acknowledged", "fixed"})
#: Delivery statuses (email service) and the outcome each one is; others record nothing.
_DELIVERY_OUTCOMES: Final = {
    "sent": "sent",
    "delivered": "sent",
    "invalid_email": "bounced",
    "bounced": "bounced",
    "rejected": "bounced",
    "opted_out": "opted_out",
}

#: The memory score: start, per-count steps and caps, bonuses, the cooldown penalty.
MEMORY_SCORE_START: Final = 0.56
MEMORY_SCORE_STEPS: Final = {
    "success_count": (0.02, 0.12),
    "ack_count": (0.06, 0.22),
    "fix_count": (0.07, 0.24),
    "bounce_count": (-0.09, 0.30),
    "misroute_count": (-0.08, 0.24),
    "no_response_count": (-0.05, 0.18),
}
PREFERRED_ROLE_BONUS: Final = 0.08
PREFERRED_ASSET_BONUS: Final = 0.06
COOLDOWN_PENALTY: Final = 0.12


class InvalidOutcomeError(CleanAppGeoError, ValueError):
    """An outcome type that is not one of :data:`OUTCOME_TYPES` (or an alias)."""


@dataclass(frozen=True, slots=True)
class EndpointMemory:
    """What we know about one contact endpoint (one ``contact_endpoint_memory`` row).

    Parameters
    ----------
    endpoint_key : str
        The target key (``email:...``, ``phone:...``, ``social:...``, ``website:...``).
    organization_key, channel_type, channel_value : str
        Whose endpoint it is and how it is reached.
    last_result : str
        The latest outcome type (``""``: none yet).
    success_count, bounce_count, ack_count, fix_count, misroute_count, no_response_count : int
        Outcomes so far.
    last_contacted_at, cooldown_until : datetime or None
        When the latest outcome was recorded, and until when the endpoint rests.
    preferred_for_role_type, preferred_for_asset_class : str
        The role and asset class for which the endpoint acknowledged or fixed a problem.
    """

    endpoint_key: str
    organization_key: str = ""
    channel_type: str = ""
    channel_value: str = ""
    last_result: str = ""
    success_count: int = 0
    bounce_count: int = 0
    ack_count: int = 0
    fix_count: int = 0
    misroute_count: int = 0
    no_response_count: int = 0
    last_contacted_at: datetime | None = None
    cooldown_until: datetime | None = None
    preferred_for_role_type: str = ""
    preferred_for_asset_class: str = ""

    def in_cooldown(self, now: datetime) -> bool:
        """Whether the cooldown runs past ``now``."""
        return self.cooldown_until is not None and self.cooldown_until > now


def normalize_outcome_type(raw: str | None) -> str:
    """Return the outcome type a client means (aliases, any case, trimmed).

    Raises
    ------
    InvalidOutcomeError
        Listing the accepted types.

    Examples
    --------
    >>> normalize_outcome_type(" ACK "), normalize_outcome_type("wrong_recipient")
    ('acknowledged', 'misrouted')
    >>> normalize_outcome_type("maybe")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cleanapp_geo.routing.memory.InvalidOutcomeError: unsupported outcome type "maybe"; ...
    """
    value = (raw or "").strip().lower()
    if value in OUTCOME_ALIASES:
        return OUTCOME_ALIASES[value]
    raise InvalidOutcomeError(
        f'unsupported outcome type "{(raw or "").strip()}"; expected one of '
        f"{', '.join(OUTCOME_TYPES)} (or ack, resolved, wrong_recipient, bounce, delivered)"
    )


def delivery_outcome(delivery_status: str) -> str | None:
    """Return the outcome a delivery status records, or None (transient failures, dry runs).

    Examples
    --------
    >>> delivery_outcome("sent"), delivery_outcome("invalid_email"), delivery_outcome("failed")
    ('sent', 'bounced', None)
    """
    return _DELIVERY_OUTCOMES.get(delivery_status.strip().lower())


def apply_outcome(
    memory: EndpointMemory | None,
    outcome: str,
    *,
    endpoint_key: str,
    now: datetime,
    role_type: str = "",
    asset_class: str = "",
    organization_key: str = "",
    channel_type: str = "",
    channel_value: str = "",
) -> EndpointMemory:
    """Return the endpoint's memory after an outcome (see the module table).

    Parameters
    ----------
    memory : EndpointMemory or None
        The stored memory (None: first outcome of the endpoint).
    outcome : str
        An outcome type (aliases accepted).
    endpoint_key : str
        The endpoint (used when ``memory`` is None).
    now : datetime
        When the outcome happened (timezone-aware).
    role_type, asset_class : str
        The target's role and the subject's asset class (recorded as "preferred for" on an
        acknowledgement or a fix).
    organization_key, channel_type, channel_value : str
        Identity of the endpoint; empty values keep the stored ones.

    Returns
    -------
    EndpointMemory

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 3, 10, tzinfo=UTC)
    >>> m = apply_outcome(None, "bounce", endpoint_key="email:a@b.ch", now=now)
    >>> m.bounce_count, m.cooldown_until.isoformat()
    (1, '2026-03-24T00:00:00+00:00')
    >>> apply_outcome(m, "sent", endpoint_key="email:a@b.ch", now=now).cooldown_until == (
    ...     m.cooldown_until)
    True
    """
    kind = normalize_outcome_type(outcome)
    base = memory if memory is not None else EndpointMemory(endpoint_key=endpoint_key)
    changes: dict[str, object] = {
        "last_result": kind,
        "last_contacted_at": now,
        "organization_key": organization_key or base.organization_key,
        "channel_type": channel_type or base.channel_type,
        "channel_value": channel_value or base.channel_value,
    }
    counter = _COUNTERS.get(kind)
    if counter is not None:
        changes[counter] = getattr(base, counter) + 1
    cooldown = base.cooldown_until if base.in_cooldown(now) else None
    if kind in COOLDOWNS:
        until = now + COOLDOWNS[kind]
        cooldown = until if cooldown is None else max(cooldown, until)
    changes["cooldown_until"] = cooldown
    if kind in _PREFERRING:
        changes["preferred_for_role_type"] = role_type or base.preferred_for_role_type
        changes["preferred_for_asset_class"] = asset_class or base.preferred_for_asset_class
    elif kind == "misrouted" and role_type and base.preferred_for_role_type == role_type:
        changes["preferred_for_role_type"] = ""
    return replace(base, **changes)  # type: ignore[arg-type]


def blocked_reason(memory: EndpointMemory | None, now: datetime) -> str | None:
    """Why the endpoint may not be contacted now, or None.

    Blocked: a cooldown running past ``now``, or a last result of bounced, misrouted or
    opted out (until a later success).

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> now = datetime(2026, 3, 10, tzinfo=UTC)
    >>> m = EndpointMemory("email:a@b.ch", last_result="bounced")
    >>> blocked_reason(m, now)
    'the last message to this endpoint bounced'
    >>> blocked_reason(EndpointMemory("email:a@b.ch", last_result="acknowledged",
    ...                               cooldown_until=now + timedelta(hours=1)), now)
    'in cooldown until 2026-03-10T01:00:00+00:00 after acknowledged'
    """
    if memory is None:
        return None
    if memory.last_result == "bounced":
        return "the last message to this endpoint bounced"
    if memory.last_result == "misrouted":
        return "the last contact reported this endpoint as the wrong recipient"
    if memory.last_result == "opted_out":
        return "this endpoint opted out"
    if memory.in_cooldown(now):
        assert memory.cooldown_until is not None
        return (
            f"in cooldown until {memory.cooldown_until.isoformat()} after "
            f"{memory.last_result or 'an outcome'}"
        )
    return None


def outcome_memory_score(
    memory: EndpointMemory | None,
    *,
    role_type: str,
    asset_class: str,
    now: datetime,
    default: float = 0.6,
) -> float:
    """Score what the endpoint's history says about contacting it, in [0.05, 1].

    ``0.56`` plus, per count, ``min(cap, step × count)``: success +0.02 (cap 0.12),
    acknowledgement +0.06 (0.22), fix +0.07 (0.24), bounce −0.09 (0.30), misroute −0.08
    (0.24), no response −0.05 (0.18); +0.08 when preferred for this role, +0.06 for this
    asset class; −0.12 while in cooldown. Without memory: ``default`` (0.6; the router uses
    0.35 for inferred contacts).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 3, 10, tzinfo=UTC)
    >>> round(outcome_memory_score(EndpointMemory("e", ack_count=2, success_count=3),
    ...                            role_type="operator", asset_class="school", now=now), 2)
    0.74
    """
    if memory is None:
        return default
    score = MEMORY_SCORE_START
    for name, (step, cap) in MEMORY_SCORE_STEPS.items():
        change = step * getattr(memory, name)
        score += max(-cap, min(cap, change))
    if role_type and memory.preferred_for_role_type == role_type:
        score += PREFERRED_ROLE_BONUS
    if asset_class and memory.preferred_for_asset_class == asset_class:
        score += PREFERRED_ASSET_BONUS
    if memory.in_cooldown(now):
        score -= COOLDOWN_PENALTY
    return min(1.0, max(0.05, score))


def outcome_summary(outcome: str, label: str, note: str = "") -> str:
    """Return the sentence a case's resolution signal records for an outcome.

    Examples
    --------
    >>> outcome_summary("acknowledged", "Hausdienst", "Will fix on Monday.")
    'Hausdienst acknowledged the escalation. Will fix on Monday.'
    >>> outcome_summary("no_response", "Bauamt")
    'No response recorded from Bauamt.'
    """
    kind = normalize_outcome_type(outcome)
    text = {
        "acknowledged": f"{label} acknowledged the escalation.",
        "fixed": f"{label} reported the issue as fixed.",
        "misrouted": f"{label} indicated the escalation was misrouted.",
        "no_response": f"No response recorded from {label}.",
    }.get(kind, f"Execution outcome {kind} recorded for {label}.")
    note = note.strip()
    return f"{text} {note}" if note else text
