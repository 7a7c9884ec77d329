"""The escalation target: one vocabulary, the value type, its key, normalisation, validation.

Vocabulary
----------
Every name a target field may take is defined here and nowhere else: :data:`CHANNELS`,
:data:`DECISION_SCOPES` (and :data:`ROLE_DECISION_SCOPES`, the scope a role implies),
:data:`SEND_ELIGIBILITIES`, :data:`EXECUTION_MODES`, :data:`ATTRIBUTION_CLASSES`,
:data:`SCORE_FIELDS` and the notification tiers ``1..4``. The store's check constraints
(``cleanapp_api.db.tables``) and the service's request validation use these.

One normalisation, one key
--------------------------
:func:`normalize_target` applies the upstream normalisation rules (trim, email and phone
validation, URL normalisation, email/website consistency, legacy repair of a URL stored in
the email field, channel derivation, rejection of targets without any contact method).
:func:`target_key` is the *only* identity of a target: it is the merger key, the stored
``endpoint_key`` and the store's de-duplication key (upstream used a second, slightly
different key for database writes, which produced near-duplicate rows).

=========  ===========================================================================
channel    key
=========  ===========================================================================
email      ``email:<lower-case address>``
phone      ``phone:<digits>``
social     ``social:<platform>:<lower-case handle>``
website    ``website:<lower-case host><path without trailing slash>`` (query dropped)
=========  ===========================================================================

One validator
-------------
:func:`validate_target` checks a target as a client sends it (enumerations, scores, tier)
and leaves every derived field empty, so that :func:`normalize_target` alone derives the
decision scope, verification level and attribution class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from cleanapp_geo.errors import CleanAppGeoError
from cleanapp_geo.targets.contacts import (
    canonical_url,
    email_matches_website_or_organization,
    is_government_host,
    is_published_phone,
    normalize_email,
    normalize_phone,
    normalize_social,
    normalize_url,
    organization_key,
)

__all__ = [
    "AREA_CONTACT",
    "ATTRIBUTION_CLASSES",
    "BRAND_CONTACT",
    "CHANNELS",
    "CHANNEL_PREFERENCE",
    "CONTACT_FIELDS",
    "DECISION_SCOPES",
    "EXECUTION_MODES",
    "INFERRED_CONTACT",
    "NOTIFY_TIERS",
    "ROLE_DECISION_SCOPES",
    "SCORE_FIELDS",
    "SEND_ELIGIBILITIES",
    "EscalationTarget",
    "InvalidTargetError",
    "attribution_class_of",
    "infer_verification_level",
    "normalize_target",
    "target_key",
    "validate_target",
]

# ============================================================================ vocabulary

#: Contact channels (the store's order; :data:`CHANNEL_PREFERENCE` ranks them).
CHANNELS: Final = ("email", "phone", "website", "social")
#: Channels from most to least preferred: the merger's ranking and the key's fallback order.
CHANNEL_PREFERENCE: Final = ("email", "phone", "social", "website")
CHANNEL_RANK: Final = {name: rank for rank, name in enumerate(CHANNEL_PREFERENCE)}
#: Who decides: the site's operators, the asset's owner, a regulator, a project party.
DECISION_SCOPES: Final = ("site_ops", "asset_owner", "regulator", "project_party", "other")
#: May a target be emailed without review (``hold``: never unforced)?
SEND_ELIGIBILITIES: Final = ("auto", "review", "hold")
EXECUTION_MODES: Final = ("auto", "review", "task", "hold")
#: How directly a contact is attributed to the responsible body.
ATTRIBUTION_CLASSES: Final = ("official_direct", "official_registry", "heuristic")
#: Notification waves, first to last.
NOTIFY_TIERS: Final = (1, 2, 3, 4)
#: Fields that hold a contact method; a target needs at least one.
CONTACT_FIELDS: Final = ("email", "phone", "website", "contact_url", "social_handle")
#: ``target_source`` of the stored sources :mod:`cleanapp_geo.targets.suggest` reads.
AREA_CONTACT: Final = "area_contact"
BRAND_CONTACT: Final = "brand_contact"
INFERRED_CONTACT: Final = "inferred_contact"
#: Curated sources whose email is never dropped by the email/website consistency heuristic.
_CURATED_SOURCES: Final = frozenset({AREA_CONTACT, BRAND_CONTACT})
#: Roles whose email legitimately differs from the site's domain (upstream rule).
_PROJECT_ROLES: Final = frozenset({"architect", "contractor", "engineer"})
_AUTHORITY_ROLES: Final = frozenset(
    {
        "building_authority",
        "fire_authority",
        "public_safety",
        "transit_authority",
        "transit_safety",
        "public_works",
        "traffic_authority",
        "infrastructure_authority",
    }
)
#: The decision scope of a role (roles not listed: ``other``).
ROLE_DECISION_SCOPES: Final[dict[str, str]] = {
    **dict.fromkeys(
        (
            "operator",
            "operator_admin",
            "site_leadership",
            "facility_manager",
            "transit_authority",
            "public_works",
            "traffic_authority",
            "infrastructure_authority",
            "support",
            "engineering",
            "product_owner",
            "trust_safety",
            "security",
        ),
        "site_ops",
    ),
    **dict.fromkeys(("owner", "property_owner", "landlord"), "asset_owner"),
    **dict.fromkeys(
        ("building_authority", "public_safety", "fire_authority", "transit_safety"), "regulator"
    ),
    **dict.fromkeys(("architect", "engineer", "contractor"), "project_party"),
}

#: The score fields of a target, each in [0, 1].
SCORE_FIELDS: Final = (
    "confidence_score",
    "site_match_score",
    "source_quality_score",
    "role_fit_score",
    "channel_quality_score",
    "outcome_memory_score",
    "actionability_score",
)

# ============================================================================ the value


@dataclass(frozen=True, slots=True)
class EscalationTarget:
    """One contact that may act on a case (upstream ``CaseEscalationTarget`` without ids).

    Every text field is a string (``""`` when unknown). Store rows and wire records convert
    with :meth:`from_record` and :meth:`to_record`.

    Parameters
    ----------
    role_type : str, default "contact"
        Role, e.g. ``operator``, ``building_authority``.
    decision_scope : str
        ``site_ops``, ``asset_owner``, ``regulator``, ``project_party`` or ``other``;
        derived from the role by :func:`normalize_target` when empty.
    endpoint_key, organization_key : str
        :func:`target_key` and :func:`organization_key`; filled by :func:`normalize_target`.
    organization, display_name : str
        Who the contact belongs to.
    channel : str
        ``email``, ``phone``, ``social`` or ``website``; derived when empty.
    email, phone, website, contact_url, source_url, social_platform, social_handle : str
        Contact methods and the page the contact was found on.
    evidence_text : str
        Where the contact comes from, in words (area, brand record, reports).
    verification_level : str
        How the contact was verified (Appendix A.3); inferred when empty.
    attribution_class : str
        ``official_direct``, ``official_registry`` or ``heuristic``; derived when empty.
    target_source : str, default "suggested"
        ``area_contact``, ``brand_contact``, ``inferred_contact``, ...
    confidence_score : float
        Confidence in [0, 1] that this contact is relevant and reachable.
    site_match_score, source_quality_score, role_fit_score, channel_quality_score, \
outcome_memory_score, actionability_score : float
        Routing scores in [0, 1] (0 until a router fills them).
    notify_tier : int, default 3
        Notification wave, 1 (first) to 4.
    send_eligibility : str, default "review"
        ``auto``, ``review`` or ``hold`` (``hold`` targets are never emailed unforced).
    execution_mode : str, default "review"
        ``auto``, ``review``, ``task`` or ``hold``.
    rationale : str
        Why the target was suggested (several reasons joined with `` | ``).
    reason_selected : str
        Routing explanation (filled by a router).

    Examples
    --------
    >>> t = normalize_target(EscalationTarget(email=" Ops@Town.GOV ", organization="Town"))
    >>> t.email, t.channel, t.endpoint_key, t.display_name
    ('ops@town.gov', 'email', 'email:ops@town.gov', 'Town')
    """

    role_type: str = "contact"
    decision_scope: str = ""
    endpoint_key: str = ""
    organization_key: str = ""
    organization: str = ""
    display_name: str = ""
    channel: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""
    contact_url: str = ""
    source_url: str = ""
    social_platform: str = ""
    social_handle: str = ""
    evidence_text: str = ""
    verification_level: str = ""
    attribution_class: str = ""
    target_source: str = "suggested"
    confidence_score: float = 0.0
    site_match_score: float = 0.0
    source_quality_score: float = 0.0
    role_fit_score: float = 0.0
    channel_quality_score: float = 0.0
    outcome_memory_score: float = 0.0
    actionability_score: float = 0.0
    notify_tier: int = 3
    send_eligibility: str = "review"
    execution_mode: str = "review"
    rationale: str = ""
    reason_selected: str = ""

    @property
    def has_contact_method(self) -> bool:
        """Whether any of email, phone, website, contact URL or social handle is set."""
        return bool(
            self.email or self.phone or self.website or self.contact_url or self.social_handle
        )

    def to_record(self) -> dict[str, Any]:
        """Return the wire/store record (a plain dict of every field).

        Examples
        --------
        >>> EscalationTarget(email="a@b.ch").to_record()["email"]
        'a@b.ch'
        """
        # Every field is a str, float or int: no deep copy (dataclasses.asdict) is needed.
        return {name: getattr(self, name) for name in _TARGET_FIELDS}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> EscalationTarget:
        """Build a target from a store row or wire record.

        Unknown keys (``id``, ``case_id``, ``created_at``, ...) are ignored; ``None`` becomes
        the field's default. Nothing is normalised (see :func:`normalize_target`).

        Parameters
        ----------
        record : mapping
            Field name → value.

        Returns
        -------
        EscalationTarget
            The target.

        Examples
        --------
        >>> EscalationTarget.from_record({"id": 7, "email": "a@b.ch", "phone": None}).phone
        ''
        """
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = record.get(f.name)
            if value is None:
                continue
            if f.name in SCORE_FIELDS:
                values[f.name] = float(value)
            elif f.name == "notify_tier":
                values[f.name] = int(value)
            else:
                values[f.name] = str(value)
        return cls(**values)


#: Field names of :class:`EscalationTarget`, in order.
_TARGET_FIELDS: Final = tuple(f.name for f in fields(EscalationTarget))

# ============================================================================ provenance


def infer_verification_level(
    source: str, role: str = "", website: str = "", source_url: str = ""
) -> str:
    """Infer a target's verification level from its source.

    Examples
    --------
    >>> infer_verification_level("area_contact"), infer_verification_level("inferred_contact")
    ('mapped_area_contact', 'inferred')
    >>> infer_verification_level("web_search_website", "building_authority", "https://x.gov")
    'official_authority_page'
    """
    src = source.lower()
    if src == INFERRED_CONTACT:
        return "inferred"
    if AREA_CONTACT in src:
        return "mapped_area_contact"
    if "google_places" in src or BRAND_CONTACT in src:
        return "directory_listing"
    if "osm_" in src:
        return "openstreetmap"
    if role in _AUTHORITY_ROLES:
        page = website or source_url
        return "official_authority_page" if is_government_host(page) else "authority_reference"
    if "website" in src:
        return "official_site_page"
    if "web_search" in src:
        return "web_search_result"
    return "discovered"


def attribution_class_of(verification: str, source: str) -> str:
    """Derive a target's attribution class from its verification level and source.

    Examples
    --------
    >>> attribution_class_of("official_website", "suggested")
    'official_direct'
    >>> attribution_class_of("discovered", "suggested")
    'heuristic'
    """
    src = source.lower()
    if verification.startswith("official") or src.startswith((AREA_CONTACT, "mapped_area")):
        return "official_direct"
    if (
        verification in ("directory_listing", "mapped_area_contact")
        or src.startswith("google_places")
        or "registry" in src
    ):
        return "official_registry"
    return "heuristic"


# ============================================================================ keys


def target_key(target: EscalationTarget) -> str:
    """Return the one identity of a target (merger key = ``endpoint_key`` = store key).

    Computed from the target's channel; a target without a channel (or without a value for
    it) uses the first available of email, phone, social, website. ``""`` means the target
    has no usable contact method.

    Examples
    --------
    >>> target_key(EscalationTarget(channel="phone", phone="+1 (555) 101-2020"))
    'phone:15551012020'
    >>> target_key(EscalationTarget(channel="website", website="town.gov",
    ...                             contact_url="https://town.gov/contact/"))
    'website:town.gov/contact'
    """

    def email() -> str:
        value = normalize_email(target.email)
        return f"email:{value}" if value else ""

    def phone() -> str:
        digits = "".join(ch for ch in target.phone if ch.isdigit() and ch.isascii())
        return f"phone:{digits}" if digits else ""

    def social() -> str:
        platform, handle = normalize_social(
            target.social_platform, target.social_handle, target.contact_url
        )
        return f"social:{platform}:{handle.casefold()}" if handle else ""

    def website() -> str:
        value = canonical_url(target.contact_url) or canonical_url(target.website)
        return f"website:{value}" if value else ""

    builders = {"email": email, "phone": phone, "social": social, "website": website}
    channel = target.channel.strip().lower()
    if channel in builders:
        key = builders[channel]()
        if key:
            return key
    for name in CHANNEL_PREFERENCE:
        key = builders[name]()
        if key:
            return key
    return ""


# ============================================================================ normalisation


def _compact(text: str) -> str:
    return " ".join(text.split())


def _derive_channel(email: str, phone: str, handle: str, website: str, contact_url: str) -> str:
    if email:
        return "email"
    if phone:
        return "phone"
    if handle:
        return "social"
    if website or contact_url:
        return "website"
    return ""


def _channel_has_value(
    channel: str, email: str, phone: str, handle: str, website: str, contact_url: str
) -> bool:
    return {
        "email": bool(email),
        "phone": bool(phone),
        "social": bool(handle),
        "website": bool(website or contact_url),
    }.get(channel, False)


def normalize_target(target: EscalationTarget) -> EscalationTarget | None:
    """Normalise a target, or return ``None`` when nothing usable is left.

    In order: trim every field (role defaults to ``contact``, source to ``suggested``);
    validate the email (:func:`normalize_email`) and the phone (:func:`normalize_phone`);
    normalise URLs, the social profile and the evidence whitespace; drop an email that does
    not match the website (else the source or contact URL) or the organisation
    (:func:`email_matches_website_or_organization`;
    never for architects, contractors, engineers or curated area/brand contacts); move a URL
    stored in the email field to the website (legacy repair); fill the display name from the
    organisation; drop a phone that fails :func:`is_published_phone` with the evidence as
    context; derive the channel when it is empty or has no value; default ``source_url``,
    ``verification_level``, ``decision_scope`` and ``attribution_class``; and set
    ``endpoint_key`` and ``organization_key``. Scores are clipped to [0, 1] and the tier to
    1..4.

    Parameters
    ----------
    target : EscalationTarget
        Any target.

    Returns
    -------
    EscalationTarget or None
        The normalised target, or ``None`` when it has no email, phone, website, contact URL
        or social handle.

    Examples
    --------
    Upstream T17 -- a website stored in the email field is repaired:

    >>> t = normalize_target(EscalationTarget(
    ...     organization="Schulhaus Kopfholz", email="https://www.schule-adliswil.ch",
    ...     target_source="area_contact", confidence_score=0.9))
    >>> t.email, t.channel, t.website, t.contact_url
    ('', 'website', 'https://www.schule-adliswil.ch/', 'https://www.schule-adliswil.ch/')

    Upstream T18 -- a bogus phone with nothing else is rejected:

    >>> normalize_target(EscalationTarget(channel="phone", phone="1048513395",
    ...                                   evidence_text="Herzlich willkommen"))
    """
    role = target.role_type.strip() or "contact"
    source = target.target_source.strip() or "suggested"
    organization = _compact(target.organization)
    display_name = _compact(target.display_name)
    raw_email = target.email.strip()
    email = normalize_email(raw_email)
    evidence = _compact(target.evidence_text)
    phone = normalize_phone(target.phone)
    if phone and not is_published_phone(target.phone, evidence):
        phone = ""
    website = normalize_url(target.website)
    contact_url = normalize_url(target.contact_url)
    source_url = normalize_url(target.source_url)
    platform, handle = normalize_social(target.social_platform, target.social_handle)
    channel = target.channel.strip().lower()

    if (
        email
        and role not in _PROJECT_ROLES
        and source not in _CURATED_SOURCES
        and not email_matches_website_or_organization(
            email, website or source_url or contact_url, organization or display_name
        )
    ):
        email = ""
    if raw_email and not email and "@" not in raw_email:
        legacy = normalize_url(raw_email)
        if legacy:
            website = website or legacy
            contact_url = contact_url or legacy
            channel = "website"
    display_name = display_name or organization
    if channel == "social" and not handle:
        platform, handle = normalize_social(platform, "", contact_url or website)
    if not _channel_has_value(channel, email, phone, handle, website, contact_url):
        channel = _derive_channel(email, phone, handle, website, contact_url)
    if not channel:
        return None
    if channel == "website" and not contact_url:
        contact_url = website
    source_url = source_url or contact_url or website
    verification = target.verification_level.strip() or infer_verification_level(
        source, role, website, source_url
    )
    scores: dict[str, Any] = {
        name: min(1.0, max(0.0, float(getattr(target, name)))) for name in SCORE_FIELDS
    }
    out = EscalationTarget(
        role_type=role,
        decision_scope=target.decision_scope.strip() or ROLE_DECISION_SCOPES.get(role, "other"),
        organization=organization,
        display_name=display_name,
        channel=channel,
        email=email,
        phone=phone,
        website=website,
        contact_url=contact_url,
        source_url=source_url,
        social_platform=platform,
        social_handle=handle,
        evidence_text=evidence,
        verification_level=verification,
        attribution_class=target.attribution_class.strip()
        or attribution_class_of(verification, source),
        target_source=source,
        notify_tier=min(4, max(1, int(target.notify_tier))),
        send_eligibility=target.send_eligibility.strip() or "review",
        execution_mode=target.execution_mode.strip() or "review",
        rationale=target.rationale.strip(),
        reason_selected=target.reason_selected.strip(),
        **scores,
    )
    return replace(
        out,
        endpoint_key=target_key(out),
        organization_key=organization_key(organization or display_name),
    )


# ============================================================================ validation

#: Text fields of a target as a client sends them.
_TEXT_FIELDS: Final = tuple(
    f.name for f in fields(EscalationTarget) if f.name not in (*SCORE_FIELDS, "notify_tier")
)
#: Enumerated fields, in the order they are checked, with their vocabulary.
_CHOICES: Final = (
    ("decision_scope", DECISION_SCOPES),
    ("send_eligibility", SEND_ELIGIBILITIES),
    ("execution_mode", EXECUTION_MODES),
    ("channel", CHANNELS),
)


class InvalidTargetError(CleanAppGeoError, ValueError):
    """A target field holds a value outside its vocabulary or range.

    ``field`` names the field; the message says what was expected and what was given.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def validate_target(record: Mapping[str, Any]) -> EscalationTarget | None:
    """Check a target as a client gives it; return it unnormalised, or ``None`` without contact.

    Text fields are trimmed (``None`` is empty). A target without any of
    :data:`CONTACT_FIELDS` is ``None`` (dropped, not refused). Scores must lie in [0, 1]
    (``None``: 0); ``notify_tier`` in :data:`NOTIFY_TIERS` (``None`` or 0: 3); the decision
    scope, send eligibility, execution mode and channel are case-insensitive members of
    their vocabulary. Fields left empty (decision scope, channel, verification level,
    attribution class, ...) are derived by :func:`normalize_target`, the one place that
    derives them.

    Parameters
    ----------
    record : mapping
        Field name → value (unknown keys are ignored).

    Returns
    -------
    EscalationTarget or None
        The checked target (not normalised), or ``None`` when it names no contact method.

    Raises
    ------
    InvalidTargetError
        Naming the first field out of its vocabulary or range.

    Examples
    --------
    >>> validate_target({"email": "a@b.ch", "channel": "EMAIL"}).channel
    'email'
    >>> validate_target({"organization": "No contact"}) is None
    True
    >>> validate_target({"email": "a@b.ch", "notify_tier": 9})
    Traceback (most recent call last):
    ...
    cleanapp_geo.targets.target.InvalidTargetError: notify_tier must lie in 1..4, got 9
    """
    values: dict[str, Any] = {name: str(record.get(name) or "").strip() for name in _TEXT_FIELDS}
    if not any(values[name] for name in CONTACT_FIELDS):
        return None
    for name in SCORE_FIELDS:
        value = record.get(name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise InvalidTargetError(name, f"{name} must lie in [0, 1], got {value}")
        values[name] = float(value or 0.0)
    tier = record.get("notify_tier") or 3
    if tier not in NOTIFY_TIERS:
        raise InvalidTargetError(
            "notify_tier",
            f"notify_tier must lie in {NOTIFY_TIERS[0]}..{NOTIFY_TIERS[-1]}, got {tier}",
        )
    values["notify_tier"] = int(tier)
    for name, allowed in _CHOICES:
        value = values[name].lower()
        if value and value not in allowed:
            raise InvalidTargetError(
                name, f"{name} must be one of {', '.join(allowed)}, got {value!r}"
            )
        values[name] = value
    values["role_type"] = values["role_type"] or "contact"
    values["target_source"] = values["target_source"] or "suggested"
    return EscalationTarget(**values)
