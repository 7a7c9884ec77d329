"""Crawling an organisation's website for its public contacts (§6.3.1).

A :class:`WebsiteCrawler` fetches, through the shared
:class:`~cleanapp_geo.discovery.fetch.Fetcher` (budget, cache, robots.txt), the site's home
page, then the contact pages it links to, then likely contact paths (``/contact``,
``/kontakt``, ``/impressum``, ...) -- at most ``max_pages`` distinct URLs a site, each page
read by :func:`~cleanapp_geo.discovery.extract.extract_contacts`. Linked contact pages are
tried before guessed paths (upstream guesses first and rarely reaches the real ones).

:func:`website_targets` turns a crawl into targets (pure): an email at the seed's base
confidence, a phone 0.02 below, a social profile 0.05 below, each with
``target_source = "<source>_website"``, the page as ``source_url``, ``"<heading> · <title>"``
and how it was found as evidence, and the role the page suggests when the seed's role is
generic; and always one ``website`` target (0.08 below) pointing at the first contact page.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from cleanapp_geo.discovery.budget import BudgetExhaustedError
from cleanapp_geo.discovery.extract import PageContacts, extract_contacts, role_hint
from cleanapp_geo.discovery.fetch import Fetcher, FetchError
from cleanapp_geo.targets.contacts import canonical_url, normalize_social, normalize_url
from cleanapp_geo.targets.suggest import DiscoveryRequest
from cleanapp_geo.targets.target import (
    INFERRED_CONTACT,
    EscalationTarget,
    infer_verification_level,
)

__all__ = [
    "CONTACT_PATHS",
    "NOT_ORGANISATION_SITES",
    "SEED_CONFIDENCE",
    "CrawlResult",
    "WebsiteContactProvider",
    "WebsiteCrawler",
    "WebsiteSeed",
    "website_seeds",
    "website_targets",
]

#: Likely contact paths, tried after the pages the site links to (upstream's list).
CONTACT_PATHS: Final = (
    "/contact", "/contact-us", "/about", "/impressum", "/team", "/directory", "/kontakt",
    "/support", "/help", "/help-center", "/accessibility", "/about/contact", "/ueber-uns",
    "/ueberblick/kontakt", "/service",
)  # fmt: skip
#: Base confidence of a crawl by the source that named the website (upstream's values).
SEED_CONFIDENCE: Final = {"osm_reverse": 0.80, "osm_poi": 0.76, "osm_admin": 0.74}
_GENERIC_ROLES: Final = frozenset({"", "contact", "operator"})
#: Directories, maps and search engines: a target's page there is not its organisation's site.
NOT_ORGANISATION_SITES: Final = (
    "openstreetmap.org", "osm.org", "google.com", "goo.gl", "duckduckgo.com", "bing.com",
    "wikipedia.org", "wikidata.org", "youtube.com", "mapcarta.com", "wikimapia.org",
)  # fmt: skip
_HTML_TYPES: Final = frozenset({"text/html", "application/xhtml+xml", ""})


@dataclass(frozen=True, slots=True)
class WebsiteSeed:
    """A website to crawl and what its contacts will be attributed to.

    Parameters
    ----------
    url : str
        The site (normalised by :func:`~cleanapp_geo.targets.normalize_url`).
    organization : str
        Whose site it is.
    role_type : str, default "operator"
        Role of the contacts (replaced by the page's role hint when generic).
    source : str, default "website"
        ``target_source`` of the website target; contacts get ``<source>_website``.
    base_confidence : float, default 0.74
        Confidence of an email found on the site.
    rationale : str
        Why the site is crawled.
    """

    url: str
    organization: str = ""
    role_type: str = "operator"
    source: str = "website"
    base_confidence: float = 0.74
    rationale: str = ""


@dataclass(frozen=True, slots=True)
class CrawlResult:
    """The pages read on one site, the first contact page, and why the crawl stopped.

    ``contact_url`` is the first page after the home page that was read and publishes a
    contact (``""`` when none did); links that were not read never become contact pages.
    """

    seed: WebsiteSeed
    pages: tuple[PageContacts, ...] = ()
    contact_url: str = ""
    stopped: str = ""


class WebsiteCrawler:
    """Fetch a site's home and contact pages and extract their contacts.

    Parameters
    ----------
    fetcher : Fetcher
        The shared client (its budget bounds the crawl).
    max_pages : int, default 5
        Distinct URLs attempted per site (upstream's 5).
    paths : sequence of str, optional
        Guessed contact paths (default :data:`CONTACT_PATHS`).
    """

    def __init__(
        self, fetcher: Fetcher, *, max_pages: int = 5, paths: Sequence[str] = CONTACT_PATHS
    ) -> None:
        self.fetcher = fetcher
        self.max_pages = max_pages
        self.paths = tuple(paths)

    def crawl(self, seed: WebsiteSeed, *, link_words: Iterable[str] = ()) -> CrawlResult:
        """Crawl one site; never raises on network errors (``stopped`` says what happened)."""
        base = normalize_url(seed.url) or seed.url
        words = tuple(link_words)
        linked: deque[str] = deque()
        guessed = deque(urljoin(base, path) for path in self.paths)
        tried: set[str] = set()
        pages: list[PageContacts] = []
        contact_url = ""
        stopped = ""
        queue_head: str | None = base
        while len(tried) < self.max_pages:
            if queue_head is not None:
                url, queue_head = queue_head, None
            elif linked:
                url = linked.popleft()
            elif guessed:
                url = guessed.popleft()
            else:
                break
            if canonical_url(url) in tried or url in tried:
                continue
            tried.add(canonical_url(url) or url)
            try:
                response = self.fetcher.get(url)
            except BudgetExhaustedError as exc:
                stopped = str(exc)
                break
            except FetchError as exc:
                stopped = str(exc)
                continue
            if response.content_type not in _HTML_TYPES:
                continue
            page = extract_contacts(response.text, response.url, link_words=words)
            pages.append(page)
            if url != base and not contact_url and page.has_contacts:
                contact_url = response.url
            for link in page.contact_links:
                if (canonical_url(link) or link) not in tried:
                    linked.append(link)
        # Only a page that was read (robots.txt allowed it, it answered) is a contact page.
        return CrawlResult(seed, tuple(pages), contact_url, stopped)


def _scored(
    common: dict[str, Any], confidence: float, rationale: str, evidence: str, **contact: Any
) -> EscalationTarget:
    return EscalationTarget(
        **common,
        confidence_score=round(max(0.0, min(1.0, confidence)), 6),
        rationale=rationale,
        evidence_text=evidence,
        **contact,
    )


def website_targets(result: CrawlResult) -> list[EscalationTarget]:
    """Targets from one crawl (pure; see the module documentation for the confidences).

    Examples
    --------
    >>> from cleanapp_geo.discovery.extract import PageContacts
    >>> seed = WebsiteSeed("https://schule.ch/", "Schule", source="osm_reverse",
    ...                    base_confidence=0.8)
    >>> page = PageContacts("https://schule.ch/team/hausdienst", title="Schule",
    ...                     heading="Hausdienst", emails=("hausdienst@schule.ch",),
    ...                     email_origins=("mailto link",))
    >>> [(t.role_type, t.email or t.contact_url, t.target_source, t.confidence_score)
    ...  for t in website_targets(CrawlResult(seed, (page,), page.url))]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('facility_manager', 'hausdienst@schule.ch', 'osm_reverse_website', 0.8),
     ('operator', 'https://schule.ch/team/hausdienst', 'osm_reverse', 0.72)]
    """
    seed = result.seed
    website = normalize_url(seed.url) or seed.url
    organization = seed.organization or next(
        (p.organization for p in result.pages if p.organization), ""
    )
    if not organization:
        organization = next((p.title for p in result.pages if p.title), "")
    source = f"{seed.source}_website"
    base = seed.base_confidence
    out: list[EscalationTarget] = []
    for page in result.pages:
        hint = role_hint(page.url, page.evidence)
        role = hint if seed.role_type in _GENERIC_ROLES and hint else seed.role_type or "contact"
        verification = infer_verification_level(source, role, website, page.url)
        where = f"{page.evidence} ({page.url})" if page.evidence else page.url

        common: dict[str, Any] = {
            "role_type": role,
            "organization": organization,
            "display_name": organization,
            "website": website,
            "source_url": page.url,
            "target_source": source,
            "verification_level": verification,
        }
        label = organization or website
        for email, origin in zip(page.emails, page.email_origins, strict=True):
            out.append(
                _scored(
                    common,
                    base,
                    f"Email scraped from the official website for {label}.",
                    f"{origin.capitalize()} on {where}",
                    channel="email",
                    email=email,
                )
            )
        for phone in page.phones:
            out.append(
                _scored(
                    common,
                    base - 0.02,
                    f"Phone number scraped from the official website for {label}.",
                    f"Published phone on {where}",
                    channel="phone",
                    phone=phone,
                )
            )
        for platform, handle in page.socials:
            out.append(
                _scored(
                    common,
                    base - 0.05,
                    f"Social profile linked from the official website for {label}.",
                    f"Profile linked on {where}",
                    channel="social",
                    social_platform=platform,
                    social_handle=handle,
                )
            )
    contact_url = result.contact_url or website
    form_pages = [p.url for p in result.pages if p.has_contact_form]
    evidence = f"Website of {organization or website}"
    if form_pages:
        contact_url = result.contact_url or form_pages[0]
        evidence += f"; contact form on {form_pages[0]}"
    elif result.contact_url:
        evidence += f"; contact page {result.contact_url}"
    out.append(
        EscalationTarget(
            role_type=seed.role_type or "operator",
            organization=organization,
            display_name=organization,
            channel="website",
            website=website,
            contact_url=contact_url,
            source_url=contact_url,
            target_source=seed.source,
            verification_level=infer_verification_level(
                seed.source, seed.role_type, website, contact_url
            ),
            confidence_score=round(max(0.0, base - 0.08), 6),
            rationale=seed.rationale or f"Official website of {organization or website}.",
            evidence_text=evidence,
        )
    )
    return out


def _is_directory(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return any(host == d or host.endswith("." + d) for d in NOT_ORGANISATION_SITES)


def website_seeds(targets: Iterable[EscalationTarget]) -> list[WebsiteSeed]:
    """Websites worth crawling among known targets (upstream's "website seeds", §6.3).

    A seed is a target's website, contact URL or source URL (or a URL stored in its email
    field); inferred contacts, targets already found on a crawled site (``*_website``
    sources), social-network profiles and pages of directories, maps and search engines
    (:data:`NOT_ORGANISATION_SITES`: an OpenStreetMap object is not the place's website)
    are not seeds. One seed per site; the role
    defaults to ``operator``, the confidence to :data:`SEED_CONFIDENCE` of the source, else
    ``max(confidence or 0.74, 0.72)``.

    Examples
    --------
    >>> [s.url for s in website_seeds([EscalationTarget(
    ...     website="https://schule.ch", target_source="osm_reverse", confidence_score=0.72)])]
    ['https://schule.ch/']
    """
    seeds: dict[str, WebsiteSeed] = {}
    for t in targets:
        if t.target_source == INFERRED_CONTACT or t.target_source.endswith("_website"):
            continue
        for raw in (t.website, t.contact_url, t.source_url, t.email if "@" not in t.email else ""):
            url = normalize_url(raw)
            if not url or normalize_social("", "", url)[1] or _is_directory(url):
                continue
            site = canonical_url(url).split("/", 1)[0]
            if site in seeds:
                continue
            organization = t.organization or t.display_name
            source = t.target_source or "saved_case_target"
            confidence = SEED_CONFIDENCE.get(source, max(t.confidence_score or 0.74, 0.72))
            root = url if t.website and raw == t.website else urljoin(url, "/")
            seeds[site] = WebsiteSeed(
                url=root,
                organization=organization,
                role_type=t.role_type if t.role_type not in ("", "contact") else "operator",
                source=source,
                base_confidence=confidence,
                rationale=f"Official website previously associated with {organization or site}.",
            )
    return list(seeds.values())


class WebsiteContactProvider:
    """Contacts published on the websites of known targets (and of ``request.websites``).

    Parameters
    ----------
    fetcher : Fetcher
        The shared client.
    max_sites : int, default 3
        Sites crawled per request.
    max_pages : int, default 5
        Pages per site.
    """

    name = "website"

    def __init__(self, fetcher: Fetcher, *, max_sites: int = 3, max_pages: int = 5) -> None:
        self.fetcher = fetcher
        self.max_sites = max_sites
        self.crawler = WebsiteCrawler(fetcher, max_pages=max_pages)

    def discover(self, request: DiscoveryRequest) -> list[EscalationTarget]:
        """Crawl the request's sites; never raises on network errors."""
        given = [
            EscalationTarget(website=url, organization=name, target_source="website")
            for url, name in zip(
                request.websites,
                (*request.candidate_names, *[""] * len(request.websites)),
                strict=False,
            )
        ]
        out: list[EscalationTarget] = []
        for seed in website_seeds([*given, *request.existing])[: self.max_sites]:
            if self.fetcher.budget.exhausted:
                break
            out.extend(website_targets(self.crawler.crawl(seed)))
        return out
