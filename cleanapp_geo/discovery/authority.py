"""The authority directory: which authority to look for, per jurisdiction and hazard.

A rule (Appendix C; the store's editable ``authority_directory_rules`` table, or the bundled
:func:`load_authority_rules`) says: in jurisdiction ``jurisdiction_key`` (``*``,
``country:ch``, ``country:ch/state:zuerich``, ``city:adliswil``, ...), for an
``asset_class`` and ``defect_class``, the ``role_type`` to reach is known by the words of
``query_templates`` on official sites under ``official_domains``; lower ``priority`` is
stronger and the rule's confidence is ``max(0.55, 0.9 - 0.005 * priority)``.

:func:`matching_rules` picks the rules of a location and hazard (upstream's lookup: the
defect class or ``general_defect``, the asset class or ``general_site``, a jurisdiction key
among :func:`jurisdiction_candidates`; the most specific jurisdiction first, ``*`` last,
then priority).

:class:`AuthorityDirectoryProvider` turns rules into targets without a web search engine:
it crawls the *official sites* it knows -- the websites OpenStreetMap publishes for the
administrative areas around the case (``osm_admin``), known targets on government-looking
hosts or hosts the rules name, and concrete hosts in ``official_domains`` -- following the
links whose words are the rules' templates (``bauamt``, ``feuerpolizei``, ``building
department``). A contact on a page that names a rule's template gets the rule's role and
confidence; other contacts of the site get the strongest rule's role, 0.1 less confident.
Verification is ``official_authority_page`` on the administrative area's own site, a
government-looking host or one the rule's domains name precisely (``*.admin.ch``, not
``*.ch``), else ``authority_reference``; contacts of non-authority roles (a school's
Hausdienst under the Swiss school rule) are ``official_site_page``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

from cleanapp_geo.discovery.extract import PageContacts
from cleanapp_geo.discovery.fetch import Fetcher
from cleanapp_geo.discovery.osm import Location
from cleanapp_geo.discovery.website import WebsiteCrawler, WebsiteSeed, website_seeds
from cleanapp_geo.targets.contacts import is_government_host, normalize_url
from cleanapp_geo.targets.suggest import DiscoveryRequest
from cleanapp_geo.targets.target import EscalationTarget

__all__ = [
    "AUTHORITY_ROLES",
    "AuthorityDirectoryProvider",
    "AuthorityRule",
    "host_matches_hint",
    "jurisdiction_candidates",
    "jurisdiction_label",
    "load_authority_rules",
    "matching_rules",
]

AUTHORITY_ROLES: Final = frozenset(
    {"building_authority", "fire_authority", "public_safety", "transit_authority",
     "transit_safety", "public_works", "traffic_authority", "infrastructure_authority"}
)  # fmt: skip
_TRANSLITERATION: Final = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ê": "e", "à": "a",
     "á": "a", "â": "a", "î": "i", "ì": "i", "í": "i", "ô": "o", "ó": "o", "ò": "o", "ç": "c"}
)  # fmt: skip


def jurisdiction_label(text: str) -> str:
    """Lower-case, transliterate (ä→ae, é→e, ...) and join words with ``-``.

    Examples
    --------
    >>> jurisdiction_label("Zürich"), jurisdiction_label("New York"), jurisdiction_label("Genève")
    ('zuerich', 'new-york', 'geneve')
    """
    value = text.strip().lower().translate(_TRANSLITERATION)
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", value).strip("-")


def jurisdiction_candidates(
    country_code: str = "", country: str = "", state: str = "", city: str = ""
) -> tuple[str, ...]:
    """List the jurisdiction keys a location matches, the most general first (upstream T14).

    Examples
    --------
    >>> jurisdiction_candidates("ch", "Switzerland", "Zürich", "Adliswil")
    ... # doctest: +NORMALIZE_WHITESPACE
    ('*', 'country:ch', 'country-name:switzerland', 'state:zuerich', 'country:ch/state:zuerich',
     'city:adliswil', 'country:ch/city:adliswil', 'state:zuerich/city:adliswil',
     'country:ch/state:zuerich/city:adliswil')
    """
    cc, name = jurisdiction_label(country_code), jurisdiction_label(country)
    st, ci = jurisdiction_label(state), jurisdiction_label(city)
    keys = ["*"]
    if cc:
        keys.append(f"country:{cc}")
    if name:
        keys.append(f"country-name:{name}")
    if st:
        keys.append(f"state:{st}")
        if cc:
            keys.append(f"country:{cc}/state:{st}")
    if ci:
        keys.append(f"city:{ci}")
        if cc:
            keys.append(f"country:{cc}/city:{ci}")
        if st:
            keys.append(f"state:{st}/city:{ci}")
        if cc and st:
            keys.append(f"country:{cc}/state:{st}/city:{ci}")
    return tuple(keys)


def host_matches_hint(url_or_host: str, hint: str) -> bool:
    """Whether a host matches an official-domain hint (upstream T13, wildcards fixed).

    ``*.x.ch`` matches ``x.ch`` and its subdomains; a plain ``x.ch`` matches it, its
    subdomains and its parent domains; any other ``*`` is a shell-style wildcard over the
    host (upstream's ``*.schule-*.ch`` never matched anything).

    Examples
    --------
    >>> host_matches_hint("https://bau.adliswil.ch/kontakt", "*.adliswil.ch")
    True
    >>> host_matches_hint("https://www.adliswil.ch/departemente/1318", "adliswil.ch")
    True
    >>> host_matches_hint("https://vendor-example.com/contact", "*.adliswil.ch")
    False
    >>> host_matches_hint("www.schule-adliswil.ch", "*.schule-*.ch")
    True
    """
    value = url_or_host.strip().lower()
    host = (urlsplit(value).hostname or "") if "://" in value else value.split("/", 1)[0]
    hint = hint.strip().lower()
    if not host or not hint:
        return False
    if hint.startswith("*.") and "*" not in hint[2:]:
        suffix = hint[2:]
        return host == suffix or host.endswith("." + suffix)
    if "*" in hint:
        return fnmatchcase(host, hint) or fnmatchcase(host, hint.removeprefix("*."))
    return host == hint or host.endswith("." + hint) or hint.endswith("." + host)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if isinstance(value, str):
        value = [value]
    return tuple(str(v).strip() for v in value or () if str(v).strip())


@dataclass(frozen=True, slots=True)
class AuthorityRule:
    """One row of the authority directory (see the module documentation)."""

    jurisdiction_key: str
    asset_class: str
    defect_class: str
    role_type: str
    query_templates: tuple[str, ...] = ()
    official_domains: tuple[str, ...] = ()
    priority: int = 50

    @property
    def confidence(self) -> float:
        """``max(0.55, 0.9 - 0.005 * priority)``."""
        return round(max(0.55, 0.9 - 0.005 * self.priority), 6)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> AuthorityRule:
        """Build a rule from a table row or JSON object (``*_json`` columns accepted).

        Examples
        --------
        >>> AuthorityRule.from_record({"jurisdiction_key": "country:ch",
        ...     "asset_class": "general_site", "defect_class": "physical_structural",
        ...     "role_type": "building_authority", "query_templates_json": '["bauamt"]',
        ...     "official_domains_json": ["*.ch"], "priority": 8}).confidence
        0.86
        """
        templates = record.get("query_templates", record.get("query_templates_json"))
        domains = record.get("official_domains", record.get("official_domains_json"))
        return cls(
            jurisdiction_key=str(record.get("jurisdiction_key") or "*").strip().lower(),
            asset_class=str(record.get("asset_class") or "general_site").strip(),
            defect_class=str(record.get("defect_class") or "general_defect").strip(),
            role_type=str(record.get("role_type") or "").strip(),
            query_templates=_strings(templates),
            official_domains=_strings(domains),
            priority=int(record.get("priority") or 50),
        )


def load_authority_rules() -> tuple[AuthorityRule, ...]:
    """Load the bundled Appendix C rules (``datasets/authority_directory_rules.json``).

    Examples
    --------
    >>> rules = load_authority_rules()
    >>> len(rules), rules[0].jurisdiction_key, rules[0].role_type
    (49, '*', 'building_authority')
    """
    text = (
        resources.files("cleanapp_geo")
        .joinpath("datasets/authority_directory_rules.json")
        .read_text(encoding="utf-8")
    )
    return tuple(AuthorityRule.from_record(r) for r in json.loads(text)["rules"])


def matching_rules(
    rules: Iterable[AuthorityRule | Mapping[str, Any]],
    *,
    defect_class: str = "",
    asset_class: str = "",
    jurisdictions: Sequence[str] = ("*",),
) -> list[AuthorityRule]:
    """Select the rules for a hazard and location, strongest first.

    A rule applies when its defect class is ``defect_class`` or ``general_defect``, its
    asset class is ``asset_class`` or ``general_site``, and its jurisdiction key is one of
    ``jurisdictions`` (:func:`jurisdiction_candidates`). Order: the most specific
    jurisdiction first (``*`` last), then priority, role, asset class.

    Examples
    --------
    >>> from cleanapp_geo.discovery.authority import load_authority_rules
    >>> [(r.jurisdiction_key, r.role_type) for r in matching_rules(load_authority_rules(),
    ...     defect_class="physical_structural", asset_class="school",
    ...     jurisdictions=jurisdiction_candidates("ch", "Schweiz", "Zürich", "Adliswil"))]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('country:ch', 'building_authority'), ('country:ch', 'facility_manager'),
     ('country:ch', 'fire_authority'), ('*', 'building_authority'), ('*', 'public_safety')]
    """
    defect = defect_class or "general_defect"
    asset = asset_class or "general_site"
    rank = {key: i for i, key in enumerate(jurisdictions)}
    chosen = []
    for raw in rules:
        rule = raw if isinstance(raw, AuthorityRule) else AuthorityRule.from_record(raw)
        if (
            rule.defect_class in (defect, "general_defect")
            and rule.asset_class in (asset, "general_site")
            and rule.jurisdiction_key in rank
        ):
            chosen.append(rule)
    return sorted(
        chosen,
        key=lambda r: (-rank[r.jurisdiction_key], r.priority, r.role_type, r.asset_class),
    )


def _page_rule(page: PageContacts, rules: Sequence[AuthorityRule]) -> AuthorityRule | None:
    text = f"{urlsplit(page.url).path.replace('-', ' ')} {page.evidence}".casefold()
    text = text.translate(_TRANSLITERATION)
    for rule in rules:
        for template in rule.query_templates:
            if template.casefold().translate(_TRANSLITERATION) in text:
                return rule
    return None


class AuthorityDirectoryProvider:
    """Targets for the roles the authority directory names, from official sites.

    Parameters
    ----------
    rules : iterable of AuthorityRule or mapping
        The directory (table rows or :func:`load_authority_rules`).
    fetcher : Fetcher
        The shared client.
    locate : callable, optional
        ``request -> Location | None`` for a request without a jurisdiction (e.g.
        :meth:`OpenStreetMapProvider.locate`, which the fetcher's cache makes free after
        the OpenStreetMap provider ran).
    max_sites : int, default 2
        Official sites crawled.
    max_pages : int, default 5
        Pages per site.
    """

    name = "authority_directory"

    def __init__(
        self,
        rules: Iterable[AuthorityRule | Mapping[str, Any]],
        fetcher: Fetcher,
        *,
        locate: Callable[[DiscoveryRequest], Location | None] | None = None,
        max_sites: int = 2,
        max_pages: int = 5,
    ) -> None:
        self.rules = tuple(r if isinstance(r, AuthorityRule) else AuthorityRule.from_record(r)
                           for r in rules)  # fmt: skip
        self.fetcher = fetcher
        self.locate = locate
        self.max_sites = max_sites
        self.crawler = WebsiteCrawler(fetcher, max_pages=max_pages)

    def rules_for(self, request: DiscoveryRequest) -> list[AuthorityRule]:
        """Select the matching rules of the request's hazard and jurisdiction (may geocode)."""
        country_code, country, state, city = (
            request.country_code, "", request.state, request.city)  # fmt: skip
        if not (country_code or state or city) and self.locate is not None:
            location = self.locate(request)
            if location is not None:
                country_code, country = location.country_code, location.country
                state, city = location.state, location.city
        return matching_rules(
            self.rules,
            defect_class=request.defect_class,
            asset_class=request.asset_class,
            jurisdictions=jurisdiction_candidates(country_code, country, state, city),
        )

    def official_sites(
        self, request: DiscoveryRequest, rules: Sequence[AuthorityRule]
    ) -> list[WebsiteSeed]:
        """Sites to crawl: admin-area websites, government-looking or rule-named hosts."""
        specific = [
            d for r in rules for d in r.official_domains if d.removeprefix("*.").count(".") >= 1
        ]
        sites: list[WebsiteSeed] = []
        for seed in website_seeds(
            [
                *(EscalationTarget(website=u, target_source="website") for u in request.websites),
                *request.existing,
            ]
        ):
            if (
                seed.source == "osm_admin"
                or is_government_host(seed.url)
                or any(host_matches_hint(seed.url, d) for d in specific)
            ):
                sites.append(seed)
        for domain in (d for r in rules for d in r.official_domains if "*" not in d):
            url = normalize_url(domain)
            if url and all(not host_matches_hint(url, urlsplit(s.url).hostname or "")
                           for s in sites):  # fmt: skip
                sites.append(WebsiteSeed(url, organization=domain, source="authority_directory"))
        # Administrative websites first (the municipality), then the others.
        sites.sort(key=lambda s: s.source != "osm_admin")
        return sites[: self.max_sites]

    def discover(self, request: DiscoveryRequest) -> list[EscalationTarget]:
        """Crawl the official sites for the matching rules' roles; never raises on I/O."""
        rules = self.rules_for(request)
        if not rules:
            return []
        words = sorted({t for r in rules for t in r.query_templates})
        out: list[EscalationTarget] = []
        for site in self.official_sites(request, rules):
            if self.fetcher.budget.exhausted:
                break
            result = self.crawler.crawl(site, link_words=words)
            out += self._targets(site, result.pages, rules)
        return out

    def _targets(
        self, site: WebsiteSeed, pages: Sequence[PageContacts], rules: Sequence[AuthorityRule]
    ) -> list[EscalationTarget]:
        website = normalize_url(site.url) or site.url
        organization = site.organization
        out: list[EscalationTarget] = []
        for page in pages:
            rule = _page_rule(page, rules)
            general = rule is None
            rule = rule or rules[0]
            # The website OpenStreetMap gives for the administrative area is its own site.
            official = site.source == "osm_admin" or is_government_host(website) or any(
                host_matches_hint(page.url, d) for d in rule.official_domains
                if d.removeprefix("*.").count(".") >= 1 or d in ("*.gov",)
            )  # fmt: skip
            if rule.role_type in AUTHORITY_ROLES:
                verification = "official_authority_page" if official else "authority_reference"
            else:
                verification = "official_site_page"
            confidence = round(rule.confidence - (0.1 if general else 0.0), 6)
            why = (
                f"Authority directory rule {rule.jurisdiction_key} / {rule.asset_class} / "
                f"{rule.defect_class}: {rule.role_type}"
            )
            where = f"{page.evidence} ({page.url})" if page.evidence else page.url
            evidence = (
                f"General contact on the official site {website}: {where}"
                if general
                else f"Page matching '{', '.join(rule.query_templates)}': {where}"
            )
            common: dict[str, Any] = {
                "role_type": rule.role_type,
                "organization": organization,
                "display_name": organization,
                "website": website,
                "source_url": page.url,
                "target_source": "authority_directory",
                "verification_level": verification,
                "rationale": why + (" (general contact of the site)" if general else ""),
                "evidence_text": evidence,
            }
            for email in page.emails:
                out.append(EscalationTarget(**common, channel="email", email=email,
                                            confidence_score=confidence))  # fmt: skip
            phone_confidence = round(confidence - 0.02, 6)
            for phone in page.phones:
                out.append(EscalationTarget(**common, channel="phone", phone=phone,
                                            confidence_score=phone_confidence))  # fmt: skip
            if not general and (page.has_contacts or page.url != website):
                page_confidence = round(confidence - 0.08, 6)
                out.append(EscalationTarget(**common, channel="website", contact_url=page.url,
                                            confidence_score=page_confidence))  # fmt: skip
        return out
