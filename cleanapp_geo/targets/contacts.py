"""Contact normalisers: emails, phones, URLs, social profiles and name keys (pure).

The building blocks of :mod:`cleanapp_geo.targets`: each takes one raw value as a client or a
report gives it and returns the normalised value, ``""`` when nothing usable is left.

Emails
------
:func:`normalize_email` checks the syntax (dot-atom local part, LDH domain labels,
alphabetic or IDNA top-level domain, RFC 5321 length limits). :func:`is_valid_email` also
refuses *placeholder* addresses, comparing whole parts instead of upstream's substrings
(upstream rejected ``contest@x.com`` because it contains ``test@``): the local part must not
be exactly one of :data:`PLACEHOLDER_LOCAL_PARTS` and the domain must not be one of
:data:`PLACEHOLDER_DOMAINS`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = [
    "PLACEHOLDER_DOMAINS",
    "PLACEHOLDER_LOCAL_PARTS",
    "brand_key",
    "canonical_url",
    "email_matches_website_or_organization",
    "is_government_host",
    "is_placeholder_email",
    "is_published_phone",
    "is_valid_email",
    "mentions_phone",
    "normalize_cc_emails",
    "normalize_email",
    "normalize_phone",
    "normalize_social",
    "normalize_url",
    "organization_key",
    "parse_email_list",
]

#: Local parts that only ever appear in placeholder addresses (compared whole).
PLACEHOLDER_LOCAL_PARTS: Final = frozenset(
    {"test", "example", "sample", "demo", "noreply", "no-reply", "donotreply", "do-not-reply"}
)
#: Domains of placeholder addresses (compared whole; ``example.org`` stays valid, as
#: upstream's test suite requires).
PLACEHOLDER_DOMAINS: Final = frozenset({"example.com", "test.com", "localhost"})

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

    This is the email service's recipient check (upstream ``isValidEmail``, upstream
    test T33) without its substring false positives.

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
    """Normalise manual CC recipients.

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

    Upstream rules: fewer than 7 digits → rejected; a leading ``+`` gives
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


def mentions_phone(text: str) -> bool:
    """Whether a text names a phone as a whole word (``Telefon``, ``tel``, ``phone``, ...).

    Examples
    --------
    >>> mentions_phone("Telefon 044 711 77 77"), mentions_phone("Telefonie-Anbieter")
    (True, False)
    """
    return bool({w.casefold() for w in _WORD_RE.findall(text)} & _PHONE_KEYWORDS)


def is_published_phone(raw: str | None, context: str = "") -> bool:
    """Whether a phone-looking string is plausibly a published phone number.

    Upstream's test: 7 to 15 digits; no time range (``08.00 - 11.30``),
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
    is dropped and an empty path becomes ``/``.

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

    The scheme, query and fragment are dropped.

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


# ======================================================================= heuristics, name keys

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

    Upstream's rule: true when no website is known; when the
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
