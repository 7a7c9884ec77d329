"""Public contacts in one HTML page: emails, phones, social profiles, contact links (pure).

Upstream §6.3.2, with schema.org and contact forms added:

* **emails** -- ``mailto:`` links, schema.org JSON-LD (``email`` of an Organization,
  ContactPoint, ...), addresses in the *visible* text, and Alpine-style obfuscated
  addresses (an ``x-init`` attribute holding ``Array(n1, n2, ...)``: the number strings
  sorted lexicographically, each ``n % 256`` a character). Every candidate must pass
  :func:`~cleanapp_geo.targets.is_valid_email` (so ``logo@2x.png`` or ``a@example.com`` are
  not emails); lower case, first appearance first.
* **phones** -- ``tel:`` links and JSON-LD ``telephone`` (published-phone test with context
  ``tel``), then numbers in short visible elements (p, li, address, td, th, a, span, div of
  at most 220 characters) that name a phone, each passing the published-phone test with the
  element's text as context (office hours and years are not phones).
* **social profiles** -- links to x/twitter, instagram, facebook, linkedin, tiktok profiles.
* **contact links** -- same-host links whose address or text has a contact word
  (``contact``, ``kontakt``, ``impressum``, ``hausdienst``, ``hochbau``, ... and any extra
  words the caller gives), at most four a page.
* **contact forms** -- a ``<form>`` with a ``<textarea>``: the page is a contact page.

Nothing here touches the network; :mod:`~cleanapp_geo.discovery.website` fetches pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from cleanapp_geo.targets.contacts import (
    is_published_phone,
    is_valid_email,
    mentions_phone,
    normalize_email,
    normalize_phone,
    normalize_social,
)

__all__ = [
    "CONTACT_LINK_WORDS",
    "PageContacts",
    "decode_obfuscated_email",
    "extract_contacts",
    "role_hint",
]

#: Words that make a same-host link a contact link (address or link text, case-insensitive).
CONTACT_LINK_WORDS: Final = (
    "contact",
    "kontakt",
    "contatti",
    "contacto",
    "impressum",
    "imprint",
    "about",
    "ueber-uns",
    "über uns",
    "team",
    "directory",
    "verzeichnis",
    "support",
    "help",
    "hilfe",
    "service",
    "hausdienst",
    "hochbau",
    "bauamt",
    "tiefbau",
    "verwaltung",
    "sekretariat",
    "facility",
    "facilities",
    "maintenance",
    "accessibility",
    "security",
    "abuse",
)
_MAX_CONTACT_LINKS: Final = 4
#: Cheap pre-check before parsing a link as a social profile.
_SOCIAL_HOST_WORDS: Final = ("twitter.", "x.com", "instagram.", "facebook.", "linkedin.", "tiktok.")
_MAX_LINE_CHARS: Final = 220
_LINE_TAGS: Final = frozenset({"p", "li", "address", "td", "th", "a", "span", "div"})
_HEADINGS: Final = frozenset({"h1", "h2", "h3"})
_VOID: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)  # fmt: skip
_DIGIT_RE: Final = re.compile(r"\d")
_EMAIL_TEXT_RE: Final = re.compile(r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)
_PHONE_TEXT_RE: Final = re.compile(r"\+?[0-9][0-9()\-.\s]{6,}[0-9]")
_ARRAY_RE: Final = re.compile(r"Array\(\s*([0-9][0-9,\s]*)\)")
#: Top-level "domains" that are file extensions (``logo@2x.png``).
_FILE_SUFFIXES: Final = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "css", "js", "ico", "pdf"}
)
_ROLE_HINTS: Final = (
    (("hausdienst", "facility", "facilities", "gebäudemanagement", "gebaeudemanagement",
      "maintenance", "operations"), "facility_manager"),
    (("schulleitung", "headmaster", "principal", "station manager", "site manager", "leitung"),
     "site_leadership"),
    (("schulverwaltung", "administration", "office", "sekretariat", "customer service"),
     "operator_admin"),
    (("hochbau", "bauamt", "building department", "planning", "bau und planung",
      "baukontrolle", "inspector"), "building_authority"),
    (("feuerpolizei", "fire marshal", "fire safety"), "fire_authority"),
    (("polizei", "public safety", "security office", "emergency management"), "public_safety"),
    (("webmaster", "ict", "communications", "kommunikation"), "communications"),
)  # fmt: skip


def role_hint(source_url: str, evidence: str) -> str:
    """Return the role a contact page suggests (upstream table, first match wins), or ``""``.

    Examples
    --------
    >>> role_hint("https://schule.ch/team/hausdienst", "Hausdienst · Schule")
    'facility_manager'
    >>> role_hint("https://city.ch/bauen/hochbau", ""), role_hint("https://shop.ch/", "Shop")
    ('building_authority', '')
    """
    text = f"{source_url} {evidence}".casefold()
    for words, role in _ROLE_HINTS:
        if any(re.search(rf"(?<![a-z]){re.escape(w)}", text) for w in words):
            return role
    return ""


def decode_obfuscated_email(numbers: Iterable[str]) -> str:
    """Decode an Alpine-style obfuscated address, or return ``""`` when it is not one.

    The number *strings* are sorted lexicographically and each ``int(n) % 256`` is a
    character (upstream T8).

    Examples
    --------
    >>> decode_obfuscated_email(["6248", "1121", "3170", "2112", "5219", "4142"])
    'a@b.ch'
    """
    try:
        text = "".join(chr(int(n) % 256) for n in sorted(n.strip() for n in numbers if n.strip()))
    except ValueError:
        return ""
    email = normalize_email(text)
    return email if email and is_valid_email(email) else ""


@dataclass(frozen=True, slots=True)
class PageContacts:
    """The public contacts of one page.

    Parameters
    ----------
    url : str
        The page.
    title, heading : str
        ``<title>`` and the first h1/h2/h3 (compacted).
    emails, phones : tuple of str
        Normalised, first appearance first.
    email_origins : tuple of str
        How each email was found (``mailto link``, ``schema.org``, ``page text``,
        ``obfuscated address``), aligned with ``emails``.
    socials : tuple of (platform, handle)
        Social profiles linked.
    contact_links : tuple of str
        Same-host contact pages linked (absolute, no fragment), at most four.
    has_contact_form : bool
        A form with a text area is on the page.
    organization : str
        The name of the schema.org Organization the page describes, if any.
    """

    url: str
    title: str = ""
    heading: str = ""
    emails: tuple[str, ...] = ()
    email_origins: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    socials: tuple[tuple[str, str], ...] = ()
    contact_links: tuple[str, ...] = ()
    has_contact_form: bool = False
    organization: str = ""

    @property
    def evidence(self) -> str:
        """``"<first heading> · <title>"`` (upstream's evidence text), without empty parts."""
        return " · ".join(part for part in (self.heading, self.title) if part)

    @property
    def has_contacts(self) -> bool:
        """Whether the page has an email, phone, social profile or contact form."""
        return bool(self.emails or self.phones or self.socials or self.has_contact_form)


def _compact(text: str) -> str:
    return " ".join(text.split())


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.stack: list[tuple[str, int]] = []
        self.lines: list[str] = []
        self.anchors: list[tuple[str, str]] = []
        self._anchor: tuple[str, list[str]] | None = None
        self.x_init: list[str] = []
        self.json_ld: list[str] = []
        self._script: str | None = None  # "ld" (collect) or "skip"
        self._script_text: list[str] = []
        self.title = ""
        self._in_title = False
        self.heading = ""
        self.forms_with_textarea = 0
        self._form_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        for key in ("x-init", "x-data"):
            if "Array(" in values.get(key, ""):
                self.x_init.append(values[key])
        if tag in ("script", "style", "template", "noscript"):
            kind = values.get("type", "").lower()
            self._script = "ld" if tag == "script" and "ld+json" in kind else "skip"
            self._script_text = []
            return
        self.text.append(" ")
        if tag == "title":
            self._in_title = True
        elif tag == "a":
            self._anchor = (values.get("href", ""), [])
        elif tag == "form":
            self._form_depth += 1
        elif tag == "textarea" and self._form_depth:
            self.forms_with_textarea += 1
        if tag not in _VOID:
            self.stack.append((tag, len(self.text)))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template", "noscript"):
            if self._script == "ld":
                self.json_ld.append("".join(self._script_text))
            self._script = None
            return
        if tag == "title":
            self._in_title = False
        elif tag == "a" and self._anchor is not None:
            self.anchors.append((self._anchor[0], _compact(" ".join(self._anchor[1]))))
            self._anchor = None
        elif tag == "form":
            self._form_depth = max(0, self._form_depth - 1)
        if not any(open_tag == tag for open_tag, _ in self.stack):
            return  # a stray end tag
        while self.stack:
            open_tag, start = self.stack.pop()
            self._close(open_tag, start)
            if open_tag == tag:
                break
        self.text.append(" ")

    def _close(self, tag: str, start: int) -> None:
        if tag in _LINE_TAGS or tag in _HEADINGS:
            line = _compact("".join(self.text[start:]))
            if tag in _HEADINGS and not self.heading and line:
                self.heading = line
            if line and len(line) <= _MAX_LINE_CHARS:
                self.lines.append(line)

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            if self._script == "ld":
                self._script_text.append(data)
            return
        if self._in_title:
            self.title = _compact(self.title + " " + data)
        self.text.append(data)
        if self._anchor is not None:
            self._anchor[1].append(data)

    def finish(self) -> None:
        self.close()
        while self.stack:
            self._close(*self.stack.pop())


def _json_ld_values(node: Any) -> Iterator[tuple[str, str]]:
    """(key, value) pairs of interest anywhere in a JSON-LD document."""
    if isinstance(node, list):
        for item in node:
            yield from _json_ld_values(item)
    elif isinstance(node, dict):
        kind = node.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        name = node.get("name")
        if isinstance(name, str) and any(
            isinstance(k, str) and (k.endswith("Organization") or k in _ORG_TYPES) for k in kinds
        ):
            yield "organization", name
        for key, value in node.items():
            if key in ("email", "telephone") and isinstance(value, str):
                yield key, value
            elif key == "sameAs":
                for url in value if isinstance(value, list) else [value]:
                    if isinstance(url, str):
                        yield "social", url
            elif isinstance(value, dict | list):
                yield from _json_ld_values(value)


_ORG_TYPES: Final = frozenset(
    {"GovernmentOffice", "School", "LocalBusiness", "Hospital", "CivicStructure", "Corporation",
     "EducationalOrganization", "GovernmentOrganization", "Store", "TrainStation"}
)  # fmt: skip


def _same_site(host: str, base_host: str) -> bool:
    return host.removeprefix("www.") == base_host.removeprefix("www.")


def _absolute(base_url: str, href: str) -> str:
    try:
        parts = urlsplit(urljoin(base_url, href.strip()))
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def extract_contacts(html: str, base_url: str, *, link_words: Iterable[str] = ()) -> PageContacts:
    """Extract the public contacts of an HTML page.

    Parameters
    ----------
    html : str
        The page.
    base_url : str
        Its URL (relative links are resolved against it; contact links must share its host).
    link_words : iterable of str, optional
        Extra contact-link words (e.g. an authority rule's ``bauamt``, ``feuerpolizei``).

    Returns
    -------
    PageContacts
        What the page publishes.

    Examples
    --------
    Upstream T7:

    >>> page = extract_contacts(
    ...     '<a href="mailto:facilities@school.edu">Mail</a> <p>Backup: office@school.edu</p>'
    ...     '<a href="tel:+1 (555) 404-1212">Call</a> <a href="https://x.com/SchoolOps">X</a>'
    ...     '<a href="/contact">Contact</a>', "https://school.edu")
    >>> page.emails, page.phones, page.socials, page.contact_links
    ... # doctest: +NORMALIZE_WHITESPACE
    (('facilities@school.edu', 'office@school.edu'), ('+15554041212',), (('x', 'SchoolOps'),),
     ('https://school.edu/contact',))
    """
    collector = _Collector()
    try:
        collector.feed(html)
        collector.finish()
    except (AssertionError, ValueError):  # malformed markup: keep what was read
        pass
    emails: dict[str, str] = {}
    phones: dict[str, None] = {}
    socials: dict[tuple[str, str], None] = {}
    organization = ""

    def add_email(raw: str, origin: str) -> None:
        email = normalize_email(raw)
        if (
            email
            and email.rsplit(".", 1)[-1] not in _FILE_SUFFIXES
            and is_valid_email(email)
            and email not in emails
        ):
            emails[email] = origin

    def add_phone(raw: str, context: str) -> None:
        if is_published_phone(raw, context):
            phone = normalize_phone(raw)
            if phone:
                phones.setdefault(phone, None)

    # mailto and tel links, in document order
    for href, _text in collector.anchors:
        lowered = href.strip().lower()
        if lowered.startswith("mailto:"):
            for part in re.split(r"[,;]", unquote(href.strip()[7:].split("?", 1)[0])):
                add_email(part, "mailto link")
        elif lowered.startswith("tel:"):
            add_phone(unquote(href.strip()[4:]), "tel")
    for block in collector.json_ld:
        try:
            document = json.loads(block)
        except ValueError:
            continue
        for key, value in _json_ld_values(document):
            if key == "email":
                add_email(value, "schema.org")
            elif key == "telephone":
                add_phone(value, "tel")
            elif key == "social":
                platform, handle = normalize_social("", "", value)
                if handle:
                    socials.setdefault((platform, handle), None)
            elif key == "organization" and not organization:
                organization = _compact(value)
    for match in _EMAIL_TEXT_RE.finditer("".join(collector.text)):
        add_email(match.group(0), "page text")
    for value in collector.x_init:
        for numbers in _ARRAY_RE.findall(value):
            decoded = decode_obfuscated_email(numbers.split(","))
            if decoded:
                add_email(decoded, "obfuscated address")
    for line in collector.lines:
        if _DIGIT_RE.search(line) and mentions_phone(line):
            for match in _PHONE_TEXT_RE.finditer(line):
                add_phone(match.group(0), line)

    base_host = urlsplit(base_url).hostname or ""
    words = tuple(w.casefold() for w in (*CONTACT_LINK_WORDS, *link_words) if w.strip())
    page_url = _absolute(base_url, "")
    links: dict[str, None] = {}
    for href, text in collector.anchors:
        lowered = href.strip().lower()
        if lowered.startswith(("mailto:", "tel:", "javascript:", "#")):
            continue
        social = any(host in lowered for host in _SOCIAL_HOST_WORDS)
        if not social and (
            len(links) >= _MAX_CONTACT_LINKS
            or not any(w in f"{unquote(lowered)} {text.casefold()}" for w in words)
        ):
            continue  # cheap checks first: most links of a page are neither
        absolute = _absolute(base_url, href)
        if not absolute:
            continue
        if social:
            platform, handle = normalize_social("", "", absolute)
            if handle:
                socials.setdefault((platform, handle), None)
                continue
        if len(links) >= _MAX_CONTACT_LINKS:
            continue
        host = urlsplit(absolute).hostname or ""
        if not _same_site(host, base_host):
            continue
        haystack = f"{unquote(urlsplit(absolute).path)} {text}".casefold()
        if absolute != page_url and any(w in haystack for w in words):
            links.setdefault(absolute, None)
    return PageContacts(
        url=base_url,
        title=collector.title,
        heading=collector.heading,
        emails=tuple(emails),
        email_origins=tuple(emails.values()),
        phones=tuple(phones),
        socials=tuple(socials),
        contact_links=tuple(links),
        has_contact_form=collector.forms_with_textarea > 0,
        organization=organization,
    )
