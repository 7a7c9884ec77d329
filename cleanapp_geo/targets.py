"""Escalation targets: validation, normalisation, merging and suggestion (pure, no I/O).

An :class:`EscalationTarget` is someone who can fix the problem of a case: an email inbox, a
phone line, a website contact form or a social profile, with where it came from
(``target_source``, ``verification_level``, ``evidence_text``), how sure we are
(``confidence_score``) and why it was suggested (``rationale``). Field names are the upstream
wire names (reference §3.5).

One normalisation, one key
--------------------------
:func:`normalize_target` applies the upstream rules of reference §6.5 (trim, email and phone
validation, URL normalisation, email/website consistency, legacy repair of a URL stored in
the email field, channel derivation, rejection of targets without any contact method).
:func:`target_key` is the *only* identity of a target (reference §6.6 key A): it is the
merger key, the stored ``endpoint_key`` and the store's de-duplication key (upstream used a
second, slightly different key for database writes, which produced near-duplicate rows).

=========  ===========================================================================
channel    key
=========  ===========================================================================
email      ``email:<lower-case address>``
phone      ``phone:<digits>``
social     ``social:<platform>:<lower-case handle>``
website    ``website:<lower-case host><path without trailing slash>`` (query dropped)
=========  ===========================================================================

Emails
------
:func:`normalize_email` checks the syntax (dot-atom local part, LDH domain labels,
alphabetic or IDNA top-level domain, RFC 5321 length limits). :func:`is_valid_email` also
refuses *placeholder* addresses, comparing whole parts instead of upstream's substrings
(upstream rejected ``contest@x.com`` because it contains ``test@``): the local part must not
be exactly one of :data:`PLACEHOLDER_LOCAL_PARTS` and the domain must not be one of
:data:`PLACEHOLDER_DOMAINS`.

Suggestion
----------
:func:`suggest_targets` combines three stored sources (reference §6.1, plus brands):

* **area contacts** -- consented emails of mapped areas intersecting the scope (confidence
  0.9, ``target_source="area_contact"``);
* **brand contacts** -- curated contacts of the brands named in the reports (confidence
  ``0.7 + 0.15 × share of reports naming the brand``, ``target_source="brand_contact"``);
* **inferred contacts** -- addresses found in the analyses' free-text
  ``inferred_contact_emails`` (confidence 0.6, ``target_source="inferred_contact"``); they
  are fallback only and dropped as soon as any other target has a contact method.

Network discovery (OpenStreetMap, places directories, crawling) plugs in through
:class:`ContactDiscoveryProvider`; this module never touches the network.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final, Protocol, runtime_checkable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    BRAND_NAME,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
    SEQ,
)

__all__ = [
    "AREA_CONTACT_CONFIDENCE",
    "AREA_CONTACT_RATIONALE",
    "CHANNELS",
    "DEFAULT_SUGGESTION_LIMIT",
    "INFERRED_CONTACT_CONFIDENCE",
    "INFERRED_CONTACT_RATIONALE",
    "PLACEHOLDER_DOMAINS",
    "PLACEHOLDER_LOCAL_PARTS",
    "ContactDiscoveryProvider",
    "DiscoveryRequest",
    "EscalationTarget",
    "area_contact_targets",
    "brand_contact_targets",
    "brand_key",
    "canonical_url",
    "email_matches_website_or_organization",
    "infer_verification_level",
    "inferred_contact_targets",
    "is_government_host",
    "is_placeholder_email",
    "is_published_phone",
    "is_valid_email",
    "merge_targets",
    "normalize_cc_emails",
    "normalize_email",
    "normalize_phone",
    "normalize_social",
    "normalize_target",
    "normalize_url",
    "organization_key",
    "parse_email_list",
    "report_brands",
    "suggest_targets",
    "target_key",
    "targets_frame",
    "visible_targets",
]

#: Contact channels, in the merger's ranking order.
CHANNELS: Final = ("email", "phone", "social", "website")
_CHANNEL_RANK: Final = {name: rank for rank, name in enumerate(CHANNELS)}

DEFAULT_SUGGESTION_LIMIT: Final = 8
AREA_CONTACT_CONFIDENCE: Final = 0.9
AREA_CONTACT_RATIONALE: Final = "Area contact mapped from selected geometry."
INFERRED_CONTACT_CONFIDENCE: Final = 0.6
INFERRED_CONTACT_RATIONALE: Final = "Inferred contact found in report analysis."
BRAND_CONTACT_BASE_CONFIDENCE: Final = 0.7
BRAND_CONTACT_SHARE_BONUS: Final = 0.15
#: A website-only target scores this much below the emails of the same source (upstream).
WEBSITE_CONFIDENCE_PENALTY: Final = 0.08

#: Local parts that only ever appear in placeholder addresses (compared whole).
PLACEHOLDER_LOCAL_PARTS: Final = frozenset(
    {"test", "example", "sample", "demo", "noreply", "no-reply", "donotreply", "do-not-reply"}
)
#: Domains of placeholder addresses (compared whole; ``example.org`` stays valid, as
#: upstream's test suite requires).
PLACEHOLDER_DOMAINS: Final = frozenset({"example.com", "test.com", "localhost"})

_INFERRED: Final = "inferred_contact"
_AREA: Final = "area_contact"
_BRAND: Final = "brand_contact"
#: Curated sources whose email is never dropped by the email/website consistency heuristic.
_CURATED_SOURCES: Final = frozenset({_AREA, _BRAND})
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
_DECISION_SCOPES: Final = {
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

_SCORE_FIELDS: Final = (
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
        Role (reference Appendix A.1), e.g. ``operator``, ``building_authority``.
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
            if f.name in _SCORE_FIELDS:
                values[f.name] = float(value)
            elif f.name == "notify_tier":
                values[f.name] = int(value)
            else:
                values[f.name] = str(value)
        return cls(**values)


#: Field names of :class:`EscalationTarget`, in order.
_TARGET_FIELDS: Final = tuple(f.name for f in fields(EscalationTarget))

# ============================================================================ emails

_LOCAL_ATOM: Final = r"[a-z0-9%+_-]+"
_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL_RE: Final = re.compile(
    rf"^(?P<local>{_LOCAL_ATOM}(?:\.{_LOCAL_ATOM})*)@"
    rf"(?P<domain>(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}}))$"
)
_MAX_EMAIL_LENGTH: Final = 254
_MAX_LOCAL_LENGTH: Final = 64
_EMAIL_SPLIT_RE: Final = re.compile(r"[\s,;]+")
_EMAIL_STRIP_CHARS: Final = "<>()[]{}\"'`.:!?"


def normalize_email(raw: str | None) -> str:
    """Return the lower-cased address when it is syntactically valid, else ``""``.

    Surrounding whitespace and a ``mailto:`` prefix (with any ``?query``) are removed. The
    local part must be dot-atom text (letters, digits, ``% + _ -``, single inner dots), the
    domain two or more letter-digit-hyphen labels ending in an alphabetic (or ``xn--``)
    top-level domain; at most 64 characters before the ``@`` and 254 in all. Placeholders
    are *not* rejected here (see :func:`is_valid_email`).

    Parameters
    ----------
    raw : str or None
        The candidate address.

    Returns
    -------
    str
        The normalised address, or ``""``.

    Examples
    --------
    >>> normalize_email("  Facilities@School.EDU ")
    'facilities@school.edu'
    >>> normalize_email("mailto:info@town.gov?subject=Hi")
    'info@town.gov'
    >>> normalize_email("user@example..com"), normalize_email("user name@example.com")
    ('', '')
    """
    if not raw:
        return ""
    value = raw.strip()
    if value[:7].lower() == "mailto:":
        value = value[7:].split("?", 1)[0].strip()
    value = value.lower()
    if len(value) > _MAX_EMAIL_LENGTH:
        return ""
    match = _EMAIL_RE.match(value)
    if match is None or len(match.group("local")) > _MAX_LOCAL_LENGTH:
        return ""
    return value


def is_placeholder_email(email: str) -> bool:
    """Whether a (normalised) address is a placeholder, comparing whole parts.

    Examples
    --------
    >>> is_placeholder_email("test@example.com"), is_placeholder_email("noreply@town.gov")
    (True, True)
    >>> is_placeholder_email("contest@x.com"), is_placeholder_email("endemo@x.com")
    (False, False)
    """
    local, _, domain = email.strip().lower().rpartition("@")
    return local in PLACEHOLDER_LOCAL_PARTS or domain in PLACEHOLDER_DOMAINS


def is_valid_email(raw: str | None) -> bool:
    """Whether an address is deliverable-looking: valid syntax and not a placeholder.

    This is the email service's recipient check (upstream ``isValidEmail``, reference §8.5
    and T33) without its substring false positives.

    Parameters
    ----------
    raw : str or None
        The candidate address.

    Returns
    -------
    bool
        True for a syntactically valid, non-placeholder address.

    Examples
    --------
    >>> [is_valid_email(e) for e in ("user@acme.com", "contest@x.com", "test@example.com")]
    [True, True, False]
    """
    email = normalize_email(raw)
    return bool(email) and not is_placeholder_email(email)


def parse_email_list(text: str | None) -> tuple[str, ...]:
    r"""Parse valid addresses out of free text (commas, semicolons, whitespace, newlines).

    Each item is trimmed and stripped of surrounding brackets, quotes and punctuation, then
    kept when :func:`is_valid_email` holds. Duplicates are dropped; order of first
    appearance is kept.

    Parameters
    ----------
    text : str or None
        E.g. a report analysis' ``inferred_contact_emails``.

    Returns
    -------
    tuple of str
        Normalised addresses.

    Examples
    --------
    >>> parse_email_list("alpha@acme.com,user@domain.org")
    ('alpha@acme.com', 'user@domain.org')
    >>> parse_email_list(" a@acme.com ; invalid-email\n<B@Acme.com>, a@acme.com")
    ('a@acme.com', 'b@acme.com')
    >>> parse_email_list("")
    ()
    """
    if not text:
        return ()
    found: dict[str, None] = {}
    for item in _EMAIL_SPLIT_RE.split(text):
        candidate = item.strip(_EMAIL_STRIP_CHARS)
        if candidate and is_valid_email(candidate):
            found.setdefault(normalize_email(candidate), None)
    return tuple(found)


def normalize_cc_emails(raw: Iterable[str] | None, exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """Normalise manual CC recipients (reference §8.2 and T5).

    Each entry is split on commas, semicolons and whitespace; invalid addresses and
    placeholders are dropped, as are the ``exclude`` addresses (the selected targets) and
    duplicates. The result is sorted.

    Parameters
    ----------
    raw : iterable of str or None
        The ``cc_emails`` of a request.
    exclude : iterable of str
        Addresses already receiving the message.

    Returns
    -------
    tuple of str
        Sorted, unique, valid addresses.

    Examples
    --------
    >>> normalize_cc_emails(
    ...     ["maintenance@adliswil.ch, safety@adliswil.ch", "ops@adliswil.ch; safety@adliswil.ch",
    ...      "  mayor@adliswil.ch  "],
    ...     exclude=["maintenance@adliswil.ch"],
    ... )
    ('mayor@adliswil.ch', 'ops@adliswil.ch', 'safety@adliswil.ch')
    """
    excluded = {normalize_email(e) for e in exclude}
    found = {e for entry in raw or () for e in parse_email_list(entry)}
    return tuple(sorted(found - excluded))


# ============================================================================ phones

_PHONE_KEYWORDS: Final = frozenset(
    {
        "tel",
        "tél",
        "phone",
        "telephone",
        "téléphone",
        "telefon",
        "telefono",
        "teléfono",
        "telefone",
        "call",
        "fon",
        "mobile",
        "mobil",
        "natel",
        "hotline",
        "fax",
    }
)
_TIME_RANGE_RE: Final = re.compile(r"\b\d{1,2}[.:]\d{2}\s*[-–]\s*\d{1,2}[.:]\d{2}\b")
_YEAR_RANGE_RE: Final = re.compile(r"\b(?:19|20)\d{2}\s*[-–]\s*(?:19|20)\d{2}\b")
_PHONE_SEPARATORS: Final = frozenset(" ()-./")
_WORD_RE: Final = re.compile(r"\w+", re.UNICODE)


def normalize_phone(raw: str | None) -> str:
    """Normalise a phone number to ``+<digits>`` (international) or ``<digits>``, or ``""``.

    Upstream rules (reference §6.3.2): fewer than 7 digits → rejected; a leading ``+`` gives
    ``+`` and the digits; a leading ``00`` gives ``+`` and the digits after it; otherwise
    the number must start with ``0`` or contain one of ``space ( ) - . /`` (a bare run of
    digits is more likely an id than a phone) and the result is the digits.

    Examples
    --------
    >>> normalize_phone("+1 (555) 101-2020"), normalize_phone("0041 44 711 78 60")
    ('+15551012020', '+41447117860')
    >>> normalize_phone("044 711 77 77"), normalize_phone("1048513395")
    ('0447117777', '')
    """
    if not raw:
        return ""
    value = raw.strip()
    digits = "".join(ch for ch in value if ch.isdigit() and ch.isascii())
    if len(digits) < 7:
        return ""
    if value.startswith("+"):
        return "+" + digits
    if value.startswith("00"):
        return "+" + digits[2:]
    if value.startswith("0") or any(ch in _PHONE_SEPARATORS for ch in value):
        return digits
    return ""


def is_published_phone(raw: str | None, context: str = "") -> bool:
    """Whether a phone-looking string is plausibly a published phone number.

    Upstream's test (reference §6.3.2): 7 to 15 digits; no time range (``08.00 - 11.30``),
    year range (``1990-2020``) or colon; and it starts with ``+`` or ``0``, or contains
    parentheses, or the context names a phone (a whole word such as ``Telefon``, ``tel``,
    ``phone``) and the number contains a space, dot, hyphen or slash.

    Parameters
    ----------
    raw : str or None
        The number as written.
    context : str
        Surrounding text (a line, the evidence text, or ``"tel"`` for ``tel:`` links).

    Returns
    -------
    bool
        Whether to keep it.

    Examples
    --------
    >>> is_published_phone("+41 44 711 78 60"), is_published_phone("1048513395")
    (True, False)
    >>> is_published_phone("555 101 2020", "Telefon"), is_published_phone("08.00 - 11.30")
    (True, False)
    """
    if not raw:
        return False
    value = raw.strip()
    digits = sum(ch.isdigit() and ch.isascii() for ch in value)
    if not 7 <= digits <= 15:
        return False
    if ":" in value or _TIME_RANGE_RE.search(value) or _YEAR_RANGE_RE.search(value):
        return False
    if value.startswith(("+", "0")) or "(" in value or ")" in value:
        return True
    words = {w.casefold() for w in _WORD_RE.findall(context)}
    return bool(words & _PHONE_KEYWORDS) and any(ch in " .-/" for ch in value)


# ============================================================================ URLs, social

_HOST_RE: Final = re.compile(rf"^(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})$")
_SOCIAL_HOSTS: Final = (
    ("twitter.com", "x"),
    ("x.com", "x"),
    ("instagram.com", "instagram"),
    ("facebook.com", "facebook"),
    ("linkedin.com", "linkedin"),
    ("tiktok.com", "tiktok"),
)
_SOCIAL_PLATFORMS: Final = {
    "x": "x",
    "twitter": "x",
    "instagram": "instagram",
    "ig": "instagram",
    "facebook": "facebook",
    "fb": "facebook",
    "linkedin": "linkedin",
    "tiktok": "tiktok",
}


def normalize_url(raw: str | None) -> str:
    """Normalise a website URL, or return ``""`` when it is not one.

    ``mailto:``/``tel:`` are refused; ``https://`` is added when the scheme is missing; the
    host must be a dotted domain name (lower-cased, ``user@`` parts refused); the fragment
    is dropped and an empty path becomes ``/`` (reference §6.3.1).

    Examples
    --------
    >>> normalize_url("town.gov"), normalize_url("HTTPS://WWW.Schule-Adliswil.ch#top")
    ('https://town.gov/', 'https://www.schule-adliswil.ch/')
    >>> normalize_url("mailto:a@b.ch"), normalize_url("not a url")
    ('', '')
    """
    if not raw:
        return ""
    value = raw.strip()
    if not value or any(ch.isspace() for ch in value):
        return ""
    lowered = value.lower()
    if lowered.startswith(("mailto:", "tel:", "javascript:", "data:")):
        return ""
    if "://" not in value:
        if value.startswith("//"):
            value = value[2:]
        value = "https://" + value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return ""
    host = (parts.hostname or "").rstrip(".")
    if not _HOST_RE.match(host):
        return ""
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def canonical_url(url: str | None) -> str:
    """Canonical form of a URL for keys: lower-case host + escaped path, no trailing ``/``.

    The scheme, query and fragment are dropped (reference §6.6).

    Examples
    --------
    >>> canonical_url("https://Town.gov/Contact/?x=1"), canonical_url("town.gov")
    ('town.gov/Contact', 'town.gov')
    """
    normalised = normalize_url(url)
    if not normalised:
        return ""
    parts = urlsplit(normalised)
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~").rstrip("/")
    return f"{parts.netloc}{path}"


def _host(url: str) -> str:
    normalised = normalize_url(url)
    if not normalised:
        return ""
    host = urlsplit(normalised).hostname or ""
    return host[4:] if host.startswith("www.") else host


def normalize_social(
    platform: str | None, handle: str | None, url: str | None = None
) -> tuple[str, str]:
    """Normalise a social profile to ``(platform, handle)``, recovering both from a URL.

    Platforms are ``x`` (also Twitter), ``instagram``, ``facebook``, ``linkedin`` and
    ``tiktok``; the handle loses ``@`` and slashes. When ``handle`` is empty and ``url``
    points to a profile on one of those hosts, its first path segment is the handle.

    Examples
    --------
    >>> normalize_social("Twitter", "@TownWorks")
    ('x', 'TownWorks')
    >>> normalize_social("", "", "https://www.instagram.com/schoolops/")
    ('instagram', 'schoolops')
    """
    name = (platform or "").strip().lower()
    name = _SOCIAL_PLATFORMS.get(name, name)
    value = (handle or "").strip().strip("/").lstrip("@").strip()
    if not value and url:
        normalised = normalize_url(url)
        if normalised:
            parts = urlsplit(normalised)
            host = parts.hostname or ""
            for suffix, known in _SOCIAL_HOSTS:
                if host == suffix or host.endswith("." + suffix):
                    segment = parts.path.strip("/").split("/", 1)[0].lstrip("@")
                    if segment:
                        value = unquote(segment)
                        name = name or known
                    break
    return (name, value) if value else ("", "")


# ============================================================================ heuristics

_DOMAIN_STOP_TOKENS: Final = frozenset(
    {"www", "mail", "contact", "com", "org", "net", "gov", "edu", "int", "info", "biz", "mil"}
)
_TOKEN_SPLIT_RE: Final = re.compile(r"[.\-_\s]+")
_GOV_SUFFIXES: Final = (
    ".gov",
    ".gov.uk",
    ".gov.au",
    ".gov.it",
    ".go.jp",
    ".go.kr",
    ".gob.mx",
    ".gob.es",
    ".gov.br",
    ".gouv.fr",
    ".admin.ch",
    ".gc.ca",
    ".gv.at",
    ".bund.de",
    ".mil",
)
#: Whole host labels (split on ``.`` and ``-``) that name a public body.
_GOV_LABELS: Final = frozenset(
    {
        "stadt",
        "gemeinde",
        "kanton",
        "ville",
        "commune",
        "comune",
        "municipality",
        "municipio",
        "ayuntamiento",
        "prefeitura",
        "county",
        "council",
        "cityof",
    }
)


def _tokens(text: str) -> set[str]:
    return {
        tok
        for tok in _TOKEN_SPLIT_RE.split(text.casefold())
        if len(tok) >= 3 and tok not in _DOMAIN_STOP_TOKENS
    }


def email_matches_website_or_organization(email: str, website: str, organization: str) -> bool:
    """Whether an email plausibly belongs to the site or organisation it is stored with.

    Upstream's rule (reference §6.5 step 5, T27): true when no website is known; when the
    email domain equals the website host (without ``www.``) or either is a subdomain of the
    other; when the two share a significant domain token (labels split on ``. - _``, at
    least 3 characters, not ``www``/``mail``/``contact``); or when the email domain and the
    website each share a token with the organisation name. Unlike upstream, generic
    top-level labels (``com``, ``org``, ``gov``, ...) are not significant tokens, so
    ``a@foo.com`` does not match ``https://bar.com``.

    Examples
    --------
    >>> site = "https://www.adliswil.ch/departemente/1318"
    >>> email_matches_website_or_organization("ndaniel.kummer@ekz.ch", site, "Stadt Adliswil")
    False
    >>> email_matches_website_or_organization("bau.planung@adliswil.ch", site, "Stadt Adliswil")
    True
    >>> email_matches_website_or_organization(
    ...     "schule@adliswil.ch", "https://www.schule-adliswil.ch/", "Schulhaus Kopfholz")
    True
    """
    host = _host(website)
    if not host:
        return True
    domain = email.rpartition("@")[2].lower()
    domain = domain[4:] if domain.startswith("www.") else domain
    if not domain:
        return False
    if domain == host or domain.endswith("." + host) or host.endswith("." + domain):
        return True
    email_tokens, site_tokens = _tokens(domain), _tokens(host)
    if email_tokens & site_tokens:
        return True
    org_tokens = _tokens(organization)
    return bool(email_tokens & org_tokens) and bool(site_tokens & org_tokens)


def is_government_host(url_or_host: str) -> bool:
    """Whether a host looks like a public body's (suffix list or a whole-label keyword).

    Unlike upstream, keywords must be whole host labels, so ``realestate.com`` is not a
    state agency and no town is hard-coded.

    Examples
    --------
    >>> is_government_host("https://www.town.gov/x"), is_government_host("stadt-zuerich.ch")
    (True, True)
    >>> is_government_host("https://www.walmart.com/contact-us"), is_government_host(
    ...     "realestate.com")
    (False, False)
    """
    host = _host(url_or_host) or url_or_host.strip().lower()
    if not host:
        return False
    if host.endswith(_GOV_SUFFIXES) or ".gov." in host:
        return True
    labels = set(re.split(r"[.\-]", host))
    return bool(labels & _GOV_LABELS)


def infer_verification_level(
    source: str, role: str = "", website: str = "", source_url: str = ""
) -> str:
    """Infer a target's verification level from its source (reference §6.3.2).

    Examples
    --------
    >>> infer_verification_level("area_contact"), infer_verification_level("inferred_contact")
    ('mapped_area_contact', 'inferred')
    >>> infer_verification_level("web_search_website", "building_authority", "https://x.gov")
    'official_authority_page'
    """
    src = source.lower()
    if src == _INFERRED:
        return "inferred"
    if _AREA in src:
        return "mapped_area_contact"
    if "google_places" in src or _BRAND in src:
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


def _attribution_class(verification: str, source: str) -> str:
    src = source.lower()
    if verification.startswith("official") or src.startswith((_AREA, "mapped_area")):
        return "official_direct"
    if (
        verification in ("directory_listing", "mapped_area_contact")
        or src.startswith("google_places")
        or "registry" in src
    ):
        return "official_registry"
    return "heuristic"


def organization_key(name: str) -> str:
    """Bucket key of an organisation: case-folded words (letters and digits) joined by spaces.

    Examples
    --------
    >>> organization_key("  Bau und Planung, Stadt Adliswil ")
    'bau und planung stadt adliswil'
    """
    return " ".join(_WORD_RE.findall(name.casefold().replace("_", " ")))


def brand_key(name: str | None) -> str:
    """Key of a brand for matching reports to ``brand_contacts`` (case-folded, compacted).

    Examples
    --------
    >>> brand_key("  Coca-Cola   Company "), brand_key(None)
    ('coca-cola company', '')
    """
    if not name:
        return ""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


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
    for name in CHANNELS:
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
    """Normalise a target (reference §6.5), or return ``None`` when nothing usable is left.

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
        name: min(1.0, max(0.0, float(getattr(target, name)))) for name in _SCORE_FIELDS
    }
    out = EscalationTarget(
        role_type=role,
        decision_scope=target.decision_scope.strip() or _DECISION_SCOPES.get(role, "other"),
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
        or _attribution_class(verification, source),
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


# ============================================================================ merging


def _join_text(first: str, second: str) -> str:
    if not second or second in first:
        return first
    if not first or first in second:
        return second
    return f"{first} | {second}"


_URL_FIELDS: Final = frozenset({"website", "contact_url", "source_url"})


def _combine(
    primary: EscalationTarget, other: EscalationTarget, *, fill: bool, fill_urls: bool
) -> EscalationTarget:
    values: dict[str, Any] = {}
    for f in fields(EscalationTarget):
        mine, theirs = getattr(primary, f.name), getattr(other, f.name)
        if f.name in ("rationale", "evidence_text"):
            values[f.name] = _join_text(mine, theirs)
        elif f.name == "actionability_score":
            values[f.name] = max(mine, theirs)
        elif f.name == "notify_tier":
            positive = [v for v in (mine, theirs) if v > 0]
            values[f.name] = min(positive) if positive else mine
        elif not fill or (f.name in _URL_FIELDS and not fill_urls):
            values[f.name] = mine
        elif isinstance(mine, str):
            values[f.name] = mine or theirs
        elif isinstance(mine, float):
            values[f.name] = mine if mine else theirs
        else:
            values[f.name] = mine
    return EscalationTarget(**values)


def _merge_pair(primary: EscalationTarget, other: EscalationTarget) -> EscalationTarget:
    """Merge two normalised targets with the same key; ``primary`` has the higher confidence.

    The merged target is normalised again (so derived fields such as ``source_url`` follow
    the filled values). Should filling the other's URLs make the primary's email fail the
    website consistency check -- the key would change -- the URLs are not taken over.
    """
    for fill, fill_urls in ((True, True), (True, False), (False, False)):
        merged = normalize_target(_combine(primary, other, fill=fill, fill_urls=fill_urls))
        if merged is not None and merged.endpoint_key == primary.endpoint_key:
            return merged
    return primary


def _order(target: EscalationTarget) -> tuple[float, int, str, str, str]:
    return (
        -target.confidence_score,
        _CHANNEL_RANK.get(target.channel, len(CHANNELS)),
        target.organization.casefold(),
        target.organization,
        target.endpoint_key,
    )


def merge_targets(
    targets: Iterable[EscalationTarget], *, limit: int | None = None
) -> tuple[EscalationTarget, ...]:
    """Normalise, de-duplicate by :func:`target_key`, merge and order targets (§6.6).

    Two targets with the same key merge into one: the one with the higher confidence (the
    earlier one on ties) is primary and its empty fields are filled from the other;
    rationales and evidence are joined with `` | `` unless one contains the other;
    actionability takes the maximum and the notify tier the smallest. Targets that do not
    normalise are dropped.

    Parameters
    ----------
    targets : iterable of EscalationTarget
        In any order.
    limit : int, optional
        Keep at most this many.

    Returns
    -------
    tuple of EscalationTarget
        Ordered by confidence (descending), channel (email, phone, social, website),
        organisation (case-insensitive), then key -- a total, deterministic order.

    Examples
    --------
    >>> merged = merge_targets([
    ...     EscalationTarget(organization="Town Hall", email="info@town.gov",
    ...                      target_source="inferred_contact", confidence_score=0.55),
    ...     EscalationTarget(organization="Town Hall", email="info@town.gov",
    ...                      contact_url="https://town.gov/contact", confidence_score=0.81),
    ... ])
    >>> len(merged), merged[0].confidence_score, merged[0].contact_url
    (1, 0.81, 'https://town.gov/contact')
    """
    merged: dict[str, EscalationTarget] = {}
    for raw in targets:
        target = normalize_target(raw)
        if target is None or not target.endpoint_key:
            continue
        key = target.endpoint_key
        current = merged.get(key)
        if current is None:
            merged[key] = target
        elif target.confidence_score > current.confidence_score:
            merged[key] = _merge_pair(target, current)
        else:
            merged[key] = _merge_pair(current, target)
    ordered = sorted(merged.values(), key=_order)
    return tuple(ordered if limit is None else ordered[: max(0, limit)])


def _is_preferred(target: EscalationTarget) -> bool:
    return target.target_source != _INFERRED and bool(
        target.email or target.phone or target.website or target.contact_url
    )


def visible_targets(
    targets: Iterable[EscalationTarget], *, limit: int | None = None
) -> tuple[EscalationTarget, ...]:
    """Return the targets worth showing: merged, inferred contacts only as a last resort.

    :func:`merge_targets`, then -- when any target that is not an ``inferred_contact`` has an
    email, phone, website or contact URL -- every ``inferred_contact`` target is dropped
    (upstream ``filterVisibleCaseTargets``, reference §6.5, T16).

    Parameters
    ----------
    targets : iterable of EscalationTarget
        Candidate targets.
    limit : int, optional
        Keep at most this many (after the filter).

    Returns
    -------
    tuple of EscalationTarget
        In :func:`merge_targets` order.

    Examples
    --------
    >>> [t.email for t in visible_targets([
    ...     EscalationTarget(email="hausdienst@schule-adliswil.ch",
    ...                      target_source="area_contact", confidence_score=0.9),
    ...     EscalationTarget(email="support@buildingmanagement.com",
    ...                      target_source="inferred_contact", confidence_score=0.6),
    ... ])]
    ['hausdienst@schule-adliswil.ch']
    """
    merged = merge_targets(targets)
    if any(_is_preferred(t) for t in merged):
        merged = tuple(t for t in merged if t.target_source != _INFERRED)
    return merged if limit is None else merged[: max(0, limit)]


# ============================================================================ suggestion


def _listed_seqs(seqs: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(s) for s in seqs[:limit])
    return shown + (f" and {len(seqs) - limit} more" if len(seqs) > limit else "")


def area_contact_targets(areas: pd.DataFrame | None) -> list[EscalationTarget]:
    """Targets from mapped areas and their *consented* contact emails.

    Parameters
    ----------
    areas : pandas.DataFrame or None
        Columns ``name``, ``emails`` (list of consented addresses) and optionally
        ``area_id`` -- the frame :func:`cleanapp_geo.io.sql.read_areas` returns.

    Returns
    -------
    list of EscalationTarget
        One per (area, valid address): role ``contact``, organisation and display name =
        the area name, confidence 0.9, source ``area_contact``, with the area as evidence.

    Examples
    --------
    >>> import pandas as pd
    >>> t, = area_contact_targets(pd.DataFrame(
    ...     {"area_id": [12], "name": ["Adliswil"], "emails": [["bau@adliswil.ch"]]}))
    >>> t.email, t.organization, t.confidence_score
    ('bau@adliswil.ch', 'Adliswil', 0.9)
    """
    if areas is None or len(areas) == 0:
        return []
    names = areas["name"].astype(str).tolist()
    ids = areas["area_id"].tolist() if "area_id" in areas.columns else [None] * len(names)
    out: list[EscalationTarget] = []
    for name, area_id, emails in zip(names, ids, areas["emails"].tolist(), strict=True):
        label = f"'{name}'" + (f" (area {area_id})" if area_id is not None else "")
        for raw in emails if isinstance(emails, list | tuple | np.ndarray) else ():
            email = normalize_email(str(raw))
            if not email or is_placeholder_email(email):
                continue
            out.append(
                EscalationTarget(
                    role_type="contact",
                    organization=name,
                    display_name=name,
                    channel="email",
                    email=email,
                    target_source=_AREA,
                    confidence_score=AREA_CONTACT_CONFIDENCE,
                    rationale=AREA_CONTACT_RATIONALE,
                    evidence_text=(
                        f"Consented contact of mapped area {label}, which intersects the "
                        "case scope."
                    ),
                )
            )
    return out


def inferred_contact_targets(analyses: pd.DataFrame | None) -> list[EscalationTarget]:
    """Targets from the free-text ``inferred_contact_emails`` of report analyses.

    Parameters
    ----------
    analyses : pandas.DataFrame or None
        Columns ``seq`` and ``inferred_contact_emails``: a report frame, or every analysis
        row of the reports (:func:`cleanapp_geo.io.sql.read_analyses`, all languages).

    Returns
    -------
    list of EscalationTarget
        One per distinct valid address (:func:`parse_email_list`), confidence 0.6, source
        ``inferred_contact``, with the reports naming it as evidence; ordered by the number
        of reports naming it (descending), then address.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"seq": [1, 2], "inferred_contact_emails": [
    ...     "ops@acme.com, invalid", "ops@acme.com;help@acme.com"]})
    >>> [(t.email, t.evidence_text) for t in inferred_contact_targets(frame)]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('ops@acme.com', 'Named in the analyses of reports 1, 2.'),
     ('help@acme.com', 'Named in the analyses of reports 2.')]
    """
    if analyses is None or len(analyses) == 0 or INFERRED_CONTACT_EMAILS not in analyses:
        return []
    seqs = analyses[SEQ].tolist() if SEQ in analyses.columns else list(range(len(analyses)))
    texts = analyses[INFERRED_CONTACT_EMAILS].fillna("").astype(str).tolist()
    named: dict[str, set[int]] = {}
    parsed: dict[str, tuple[str, ...]] = {}  # the same few texts repeat across reports
    for seq, text in zip(seqs, texts, strict=True):
        if not text:
            continue
        emails = parsed.get(text)
        if emails is None:
            emails = parsed[text] = parse_email_list(text)
        for email in emails:
            named.setdefault(email, set()).add(int(seq))
    order = sorted(named, key=lambda e: (-len(named[e]), e))
    return [
        EscalationTarget(
            role_type="contact",
            channel="email",
            email=email,
            target_source=_INFERRED,
            confidence_score=INFERRED_CONTACT_CONFIDENCE,
            rationale=INFERRED_CONTACT_RATIONALE,
            evidence_text=f"Named in the analyses of reports {_listed_seqs(sorted(named[email]))}.",
        )
        for email in order
    ]


def brand_contact_targets(
    reports: pd.DataFrame | None, brand_contacts: pd.DataFrame | None
) -> list[EscalationTarget]:
    """Targets from curated brand contacts for the brands named in the reports.

    A report names a brand when :func:`brand_key` of its ``brand_name`` or
    ``brand_display_name`` equals the contact's ``brand_key``. Confidence is
    ``0.7 + 0.15 × (reports naming the brand / reports)``: a brand every report names gets
    0.85, just below a consented area contact (0.9).

    Parameters
    ----------
    reports : pandas.DataFrame or None
        Columns ``seq``, ``brand_name``, ``brand_display_name`` (a report frame).
    brand_contacts : pandas.DataFrame or None
        Columns ``brand_key``, ``emails`` (list) and optionally ``organization``, ``role``,
        ``website``, ``contact_url``, ``source`` (the ``brand_contacts`` table).

    Returns
    -------
    list of EscalationTarget
        One email target per valid address, or one website target (confidence 0.08 lower)
        for a record without addresses; source ``brand_contact``.

    Examples
    --------
    >>> import pandas as pd
    >>> reports = pd.DataFrame({"seq": [1, 2], "brand_name": ["acme", ""],
    ...                         "brand_display_name": ["ACME", ""]})
    >>> contacts = pd.DataFrame({"brand_key": ["acme"], "emails": [["care@acme.com"]],
    ...                          "organization": ["Acme Inc."]})
    >>> t, = brand_contact_targets(reports, contacts)
    >>> t.email, t.organization, round(t.confidence_score, 3)
    ('care@acme.com', 'Acme Inc.', 0.775)
    """
    if reports is None or brand_contacts is None or len(reports) == 0 or len(brand_contacts) == 0:
        return []
    names = reports.get(BRAND_NAME, pd.Series([""] * len(reports), index=reports.index))
    displays = reports.get(BRAND_DISPLAY_NAME, pd.Series([""] * len(reports), index=reports.index))
    seqs = reports[SEQ].tolist() if SEQ in reports.columns else list(range(len(reports)))
    naming: dict[str, set[int]] = {}
    shown: dict[str, dict[str, int]] = {}
    keys: dict[str, str] = {}  # brand_key of each distinct name
    for seq, name, display in zip(
        seqs, names.fillna("").astype(str), displays.fillna("").astype(str), strict=True
    ):
        if not name and not display:
            continue
        for text in (name, display):
            if text not in keys:
                keys[text] = brand_key(text)
        for key in {keys[name], keys[display]} - {""}:
            naming.setdefault(key, set()).add(int(seq))
            if display.strip():
                counts = shown.setdefault(key, {})
                counts[display.strip()] = counts.get(display.strip(), 0) + 1
    if not naming:
        return []
    n_reports = len(reports)
    out: list[EscalationTarget] = []
    for row in brand_contacts.to_dict("records"):
        key = brand_key(str(row.get("brand_key") or ""))
        if key not in naming:
            continue
        seq_list = sorted(naming[key])
        counts = shown.get(key, {})
        label = min(counts, key=lambda d: (-counts[d], d)) if counts else key
        organization = str(row.get("organization") or "").strip() or label
        confidence = round(
            BRAND_CONTACT_BASE_CONFIDENCE + BRAND_CONTACT_SHARE_BONUS * len(seq_list) / n_reports,
            6,
        )
        common: dict[str, Any] = {
            "role_type": str(row.get("role") or "").strip() or "contact",
            "organization": organization,
            "display_name": organization,
            "website": str(row.get("website") or ""),
            "contact_url": str(row.get("contact_url") or ""),
            "target_source": _BRAND,
            "rationale": (
                f"Contact of brand {label}, named in {len(seq_list)} of {n_reports} linked reports."
            ),
            "evidence_text": (
                f"brand_contacts record for brand key '{key}'"
                + (f" (source: {row['source']})" if row.get("source") else "")
                + f"; brand named in reports {_listed_seqs(seq_list)}."
            ),
        }
        emails = row.get("emails")
        valid = [
            e
            for e in (normalize_email(str(x)) for x in (emails if emails is not None else ()))
            if e and not is_placeholder_email(e)
        ]
        for email in valid:
            out.append(
                EscalationTarget(
                    channel="email", email=email, confidence_score=confidence, **common
                )
            )
        if not valid and (common["website"] or common["contact_url"]):
            out.append(
                EscalationTarget(
                    channel="website",
                    confidence_score=max(0.0, confidence - WEBSITE_CONFIDENCE_PENALTY),
                    **common,
                )
            )
    return out


def report_brands(analyses: pd.DataFrame) -> pd.DataFrame:
    """Choose the brand of each report over its analysis rows (all languages).

    A report's brand is the one of its first analysis naming a brand (a non-empty
    ``brand_name`` or ``brand_display_name``), English (``en``, case-insensitive) first, then
    by language code; a report whose analyses name none gets empty names.

    Parameters
    ----------
    analyses : pandas.DataFrame
        Columns ``seq``, ``language``, ``brand_name`` and ``brand_display_name``: every
        analysis row of the reports (:func:`cleanapp_geo.io.sql.read_analyses`).

    Returns
    -------
    pandas.DataFrame
        Columns ``seq``, ``brand_name`` and ``brand_display_name``, one row per report,
        ordered by ``seq``: the ``reports`` argument of :func:`suggest_targets`.

    Examples
    --------
    >>> import pandas as pd
    >>> analyses = pd.DataFrame({"seq": [1, 1, 2], "language": ["de", "en", "fr"],
    ...                          "brand_name": ["migros", "", ""],
    ...                          "brand_display_name": ["Migros", "", ""]})
    >>> report_brands(analyses).to_dict("list")
    {'seq': [1, 2], 'brand_name': ['migros', ''], 'brand_display_name': ['Migros', '']}
    """
    best: dict[int, tuple[tuple[bool, bool, str], str, str]] = {}
    for seq, language, name, display in zip(
        analyses[SEQ].tolist(),
        analyses[LANGUAGE].tolist(),
        analyses[BRAND_NAME].tolist(),
        analyses[BRAND_DISPLAY_NAME].tolist(),
        strict=True,
    ):
        rank = (name == "" and display == "", str(language).lower() != "en", str(language))
        seen = best.get(seq)
        if seen is None or rank < seen[0]:
            best[seq] = (rank, name, display)
    seqs = sorted(best)
    return pd.DataFrame(
        {
            SEQ: pd.Series(seqs, dtype=np.int64),
            BRAND_NAME: pd.Series([best[s][1] for s in seqs], dtype=str),
            BRAND_DISPLAY_NAME: pd.Series([best[s][2] for s in seqs], dtype=str),
        }
    )


def suggest_targets(
    reports: pd.DataFrame | None = None,
    *,
    areas: pd.DataFrame | None = None,
    brand_contacts: pd.DataFrame | None = None,
    analyses: pd.DataFrame | None = None,
    existing: Iterable[EscalationTarget] = (),
    limit: int = DEFAULT_SUGGESTION_LIMIT,
) -> tuple[EscalationTarget, ...]:
    """Suggest escalation targets for a set of reports and a scope.

    Area contacts (consented only), brand contacts of the brands the reports name, inferred
    contacts from the analyses and any ``existing`` (for example discovered) targets are
    merged with :func:`merge_targets`; inferred contacts are dropped when a better target
    exists (:func:`visible_targets`); the first ``limit`` are returned.

    Parameters
    ----------
    reports : pandas.DataFrame, optional
        The reports (a report frame): brands, and inferred contacts unless ``analyses``
        is given.
    areas : pandas.DataFrame, optional
        Mapped areas intersecting the scope with their consented ``emails``
        (:func:`cleanapp_geo.io.sql.read_areas`).
    brand_contacts : pandas.DataFrame, optional
        Brand contact records (see :func:`brand_contact_targets`).
    analyses : pandas.DataFrame, optional
        Every analysis row of the reports (all languages), for inferred contacts.
    existing : iterable of EscalationTarget
        Further candidates (discovered, or already stored on a case).
    limit : int, default 8
        Maximum number of targets.

    Returns
    -------
    tuple of EscalationTarget
        Normalised targets in :func:`merge_targets` order.

    Examples
    --------
    >>> import pandas as pd
    >>> import cleanapp_geo as cg
    >>> reports = cg.reports_from_records([
    ...     {"seq": 1, "ts": "2026-03-10T08:00:00Z", "latitude": 47.31, "longitude": 8.52,
    ...      "severity_level": 0.8,
    ...      "inferred_contact_emails": "support@buildingmanagement.com"}])
    >>> areas = pd.DataFrame({"area_id": [3], "name": ["Schule Adliswil"],
    ...                       "emails": [["hausdienst@schule-adliswil.ch"]]})
    >>> [t.email for t in suggest_targets(reports, areas=areas)]
    ['hausdienst@schule-adliswil.ch']
    >>> [t.email for t in suggest_targets(reports)]
    ['support@buildingmanagement.com']
    """
    candidates = [
        *area_contact_targets(areas),
        *brand_contact_targets(reports, brand_contacts),
        *inferred_contact_targets(analyses if analyses is not None else reports),
        *existing,
    ]
    return visible_targets(candidates, limit=limit)


def targets_frame(targets: Iterable[EscalationTarget]) -> pd.DataFrame:
    """Return targets as a DataFrame with one column per :class:`EscalationTarget` field.

    Examples
    --------
    >>> targets_frame([EscalationTarget(email="a@b.ch")]).loc[0, "email"]
    'a@b.ch'
    """
    columns = [f.name for f in fields(EscalationTarget)]
    return pd.DataFrame([t.to_record() for t in targets], columns=columns)


# ============================================================================ discovery


@dataclass(frozen=True, slots=True)
class DiscoveryRequest:
    """What a :class:`ContactDiscoveryProvider` is asked to find contacts for.

    Parameters
    ----------
    longitude, latitude : float or None
        A representative location (e.g. the most severe report), EPSG:4326.
    candidate_names : tuple of str
        Names to search for (brands, places, report titles).
    existing : tuple of EscalationTarget
        Targets already known (a provider may skip roles they cover).
    classification : str, default "physical"
        ``physical`` or ``digital``.
    limit : int, default 8
        Maximum number of targets wanted.
    budget_s : float, default 4.0
        Wall-clock budget; a provider returns what it has when it runs out.
    """

    longitude: float | None = None
    latitude: float | None = None
    candidate_names: tuple[str, ...] = ()
    existing: tuple[EscalationTarget, ...] = field(default=())
    classification: str = "physical"
    limit: int = DEFAULT_SUGGESTION_LIMIT
    budget_s: float = 4.0


@runtime_checkable
class ContactDiscoveryProvider(Protocol):
    """A pluggable source of contacts found outside the store (interface only).

    Implementations (OpenStreetMap, a places directory, a website crawler) live outside
    this library, run off the request path (a job queue), respect ``budget_s`` and the
    sources' terms of use, and return targets with ``target_source``, ``source_url``,
    ``evidence_text`` and ``confidence_score`` set. Feed their results to
    :func:`suggest_targets` through ``existing``; nothing in :mod:`cleanapp_geo` calls a
    provider or the network.
    """

    @property
    def name(self) -> str:
        """Short provider name, used as the ``target_source`` prefix (``osm``, ...)."""
        ...

    def discover(self, request: DiscoveryRequest) -> Sequence[EscalationTarget]:
        """Return contacts for the request (possibly empty; never raises on no result)."""
        ...
