"""Contact discovery over the network: who publishes a contact for a case's place and hazard.

Providers implement :class:`~cleanapp_geo.targets.ContactDiscoveryProvider` and share one
:class:`Fetcher` (budget, cache, robots.txt, user agent, size cap, no private addresses);
:func:`discover_contacts` runs them within one :class:`Budget` and returns merged,
visibility-filtered targets with a report per provider. ``docs/routing.md`` ("Contact
discovery") describes what is fetched and what is never sent without review.

=============================================  =========================================
module                                         what
=============================================  =========================================
:mod:`~cleanapp_geo.discovery.budget`          :class:`Budget` (requests, seconds)
:mod:`~cleanapp_geo.discovery.cache`           response caches (in-memory with TTL)
:mod:`~cleanapp_geo.discovery.response`        :class:`Response`
:mod:`~cleanapp_geo.discovery.fetch`           :class:`Fetcher`, the one HTTP client
:mod:`~cleanapp_geo.discovery.extract`         contacts in an HTML page (pure)
:mod:`~cleanapp_geo.discovery.website`         website crawl, :class:`WebsiteContactProvider`
:mod:`~cleanapp_geo.discovery.osm`             Nominatim + Overpass,
                                               :class:`OpenStreetMapProvider`
:mod:`~cleanapp_geo.discovery.authority`       directory rules,
                                               :class:`AuthorityDirectoryProvider`
:mod:`~cleanapp_geo.discovery.queries`         stakeholder search queries (pure)
:mod:`~cleanapp_geo.discovery.request`         :func:`case_discovery_request` (pure)
:mod:`~cleanapp_geo.discovery.runner`          :func:`discover_contacts`
=============================================  =========================================

Examples
--------
A run against the public services (not executed here: tests use local fixture servers)::

    fetcher = Fetcher(osm_fetch_settings(user_agent="MyTown-Cases/1.0 (ops@mytown.ch)"))
    osm = OpenStreetMapProvider(fetcher)
    providers = [osm, AuthorityDirectoryProvider(load_authority_rules(), fetcher,
                                                 locate=osm.locate),
                 WebsiteContactProvider(fetcher)]
    result = discover_contacts(DiscoveryRequest(latitude=47.31, longitude=8.52,
                                                defect_class="physical_structural",
                                                asset_class="school"),
                               providers, budget=Budget(max_requests=25, max_seconds=5))
"""

from __future__ import annotations

from cleanapp_geo.discovery.authority import (
    AUTHORITY_ROLES,
    AuthorityDirectoryProvider,
    AuthorityRule,
    host_matches_hint,
    jurisdiction_candidates,
    jurisdiction_label,
    load_authority_rules,
    matching_rules,
)
from cleanapp_geo.discovery.budget import Budget, BudgetExhaustedError, DiscoveryError
from cleanapp_geo.discovery.cache import MemoryCache, ResponseCache
from cleanapp_geo.discovery.extract import (
    CONTACT_LINK_WORDS,
    PageContacts,
    decode_obfuscated_email,
    extract_contacts,
    role_hint,
)
from cleanapp_geo.discovery.fetch import (
    DEFAULT_USER_AGENT,
    BlockedURLError,
    Fetcher,
    FetchError,
    FetchSettings,
    FetchStats,
    HTTPStatusError,
    NetworkError,
    Response,
    RobotsDisallowedError,
)
from cleanapp_geo.discovery.osm import (
    DEFAULT_NOMINATIM_URL,
    DEFAULT_OVERPASS_URL,
    Location,
    OpenStreetMapProvider,
    PointOfInterest,
    osm_fetch_settings,
    overpass_query,
    parse_overpass,
    parse_reverse,
    rank_pois,
)
from cleanapp_geo.discovery.queries import (
    StakeholderQuery,
    is_incident_descriptor,
    pending_queries,
    stakeholder_queries,
    uses_german,
)
from cleanapp_geo.discovery.request import case_discovery_request
from cleanapp_geo.discovery.runner import DiscoveryResult, ProviderReport, discover_contacts
from cleanapp_geo.discovery.website import (
    CONTACT_PATHS,
    CrawlResult,
    WebsiteContactProvider,
    WebsiteCrawler,
    WebsiteSeed,
    website_seeds,
    website_targets,
)
from cleanapp_geo.targets.suggest import ContactDiscoveryProvider, DiscoveryRequest

__all__ = [
    "AUTHORITY_ROLES",
    "CONTACT_LINK_WORDS",
    "CONTACT_PATHS",
    "DEFAULT_NOMINATIM_URL",
    "DEFAULT_OVERPASS_URL",
    "DEFAULT_USER_AGENT",
    "AuthorityDirectoryProvider",
    "AuthorityRule",
    "BlockedURLError",
    "Budget",
    "BudgetExhaustedError",
    "ContactDiscoveryProvider",
    "CrawlResult",
    "DiscoveryError",
    "DiscoveryRequest",
    "DiscoveryResult",
    "FetchError",
    "FetchSettings",
    "FetchStats",
    "Fetcher",
    "HTTPStatusError",
    "Location",
    "MemoryCache",
    "NetworkError",
    "OpenStreetMapProvider",
    "PageContacts",
    "PointOfInterest",
    "ProviderReport",
    "Response",
    "ResponseCache",
    "RobotsDisallowedError",
    "StakeholderQuery",
    "WebsiteContactProvider",
    "WebsiteCrawler",
    "WebsiteSeed",
    "case_discovery_request",
    "decode_obfuscated_email",
    "discover_contacts",
    "extract_contacts",
    "host_matches_hint",
    "is_incident_descriptor",
    "jurisdiction_candidates",
    "jurisdiction_label",
    "load_authority_rules",
    "matching_rules",
    "osm_fetch_settings",
    "overpass_query",
    "parse_overpass",
    "parse_reverse",
    "pending_queries",
    "rank_pois",
    "role_hint",
    "stakeholder_queries",
    "uses_german",
    "website_seeds",
    "website_targets",
]
