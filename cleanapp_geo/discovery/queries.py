"""Stakeholder search queries for a case (§6.3.3) and which of them are still needed (§6.3.4).

Pure functions: :func:`stakeholder_queries` lists, role by role, what one would search for
to find who must hear of a hazard -- the operator of the place, then by asset class the
authorities (transit, roads and bridges, or building and fire), the facility manager, the
project parties of a structural defect, and the authority directory's templates -- in
German where the place is German-speaking. :func:`pending_queries` drops the roles already
covered by known targets.

No search engine is queried by this library: upstream scraped DuckDuckGo's HTML from user
requests (a terms-of-service and abuse risk, reference §13 #40). The queries are the input
of a search backend the operator licenses, and their words guide the crawls (the authority
directory follows links named by its templates).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from cleanapp_geo.discovery.authority import AUTHORITY_ROLES, AuthorityRule
from cleanapp_geo.discovery.osm import Location
from cleanapp_geo.routing.profile import HazardProfile
from cleanapp_geo.targets.target import EscalationTarget, normalize_target

__all__ = [
    "StakeholderQuery",
    "is_incident_descriptor",
    "pending_queries",
    "stakeholder_queries",
    "uses_german",
]

_INCIDENT_TOKENS: Final = frozenset(
    {"hazard", "hazardous", "crack", "cracks", "cracked", "structural", "falling", "fall",
     "collapse", "collapsing", "damage", "damaged", "broken", "leak", "leaking", "danger",
     "dangerous", "extreme", "separating", "loose", "debris", "unsafe", "risk"}
)  # fmt: skip
#: Swiss cantons where German is the (main) language, as Nominatim names them.
_GERMAN_CANTONS: Final = frozenset(
    {"zürich", "zurich", "bern", "luzern", "uri", "schwyz", "obwalden", "nidwalden", "glarus",
     "zug", "solothurn", "basel-stadt", "basel-landschaft", "schaffhausen",
     "appenzell ausserrhoden", "appenzell innerrhoden", "st. gallen", "graubünden", "aargau",
     "thurgau"}
)  # fmt: skip
_OFFICIAL_LEVELS: Final = ("mapped_area_contact", "directory_listing")


@dataclass(frozen=True, slots=True)
class StakeholderQuery:
    """One search: the role it looks for, the text, whose it is and how sure a hit would be.

    ``require_official`` means a hit only counts on an official site (a host hint, a
    government-looking host); ``host_hints`` are the official domains known for it.
    """

    role_type: str
    query: str
    organization: str
    confidence: float
    require_official: bool = False
    host_hints: tuple[str, ...] = ()
    rationale: str = ""

    @property
    def key(self) -> str:
        """``role|query``, the identity of a search."""
        return f"{self.role_type}|{self.query}"


def is_incident_descriptor(name: str) -> bool:
    """Whether a name describes an incident (two or more incident words), not a place.

    Examples
    --------
    >>> is_incident_descriptor("Extreme Structural Hazard: Bricks Separating from Facade")
    True
    >>> is_incident_descriptor("Schulhaus Kopfholz")
    False
    """
    words = set(re.findall(r"[a-z]+", name.casefold()))
    return len(words & _INCIDENT_TOKENS) >= 2


def uses_german(location: Location) -> bool:
    """Whether queries for the place should use German terms (DE, AT, LI, German cantons).

    Examples
    --------
    >>> uses_german(Location(country_code="ch", state="Zürich"))
    True
    >>> uses_german(Location(country_code="ch", state="Genève")), uses_german(Location())
    (False, False)
    """
    code = location.country_code.lower()
    state = location.state.casefold()
    if code in ("de", "at", "li"):
        return True
    if code == "ch" and state in _GERMAN_CANTONS:
        return True
    return "zürich" in state or "zurich" in state


def _host_hints(location: Location) -> tuple[str, ...]:
    hints = []
    if location.website:
        host = re.sub(r"^[a-z]+://", "", location.website.lower()).split("/", 1)[0]
        hints.append(host.split(":", 1)[0].removeprefix("www."))
    if "@" in location.email:
        hints.append(location.email.rsplit("@", 1)[1].lower())
    return tuple(dict.fromkeys(h for h in hints if h))


def stakeholder_queries(
    location: Location,
    hazard: HazardProfile,
    *,
    candidate_names: Sequence[str] = (),
    asset_class: str = "",
    rules: Iterable[AuthorityRule] = (),
) -> list[StakeholderQuery]:
    """List the searches that would find a case's stakeholders, in upstream's order (§6.3.3).

    Parameters
    ----------
    location : Location
        The place (:meth:`OpenStreetMapProvider.locate`); its name wins over the candidate
        names, which are used only when they name a place, not an incident.
    hazard : HazardProfile
        Flags (structural, severe, urgent, immediate danger, sensitive occupancy) and the
        defect class.
    candidate_names : sequence of str
        Brands, place names, titles.
    asset_class : str, optional
        Defaults to the hazard profile's.
    rules : iterable of AuthorityRule
        The authority directory rules of the place (:func:`matching_rules`).

    Returns
    -------
    list of StakeholderQuery
        Empty when no name is known; otherwise the operator query first.

    Examples
    --------
    Upstream T20: the place's name, not the incident title, is searched.

    >>> q = stakeholder_queries(
    ...     Location(primary_name="Schulhaus Kopfholz", city="Adliswil", state="Zürich",
    ...              country_code="ch"),
    ...     HazardProfile(structural=True, severe=True),
    ...     candidate_names=["Extreme Structural Hazard: Bricks Separating from School Facade"],
    ...     asset_class="school")
    >>> q[0].role_type, q[0].organization, q[0].query
    ('operator', 'Schulhaus Kopfholz', '"Schulhaus Kopfholz" "Adliswil" contact')
    """
    primary = location.primary_name or location.parent_org or location.operator
    if not primary:
        primary = next(
            (n.strip() for n in candidate_names if n.strip() and not is_incident_descriptor(n)),
            "",
        )
    if not primary:
        return []
    locality = location.city or location.state or location.country
    german = uses_german(location)
    hints = _host_hints(location)
    base = f'"{primary}"' + (f' "{locality}"' if locality else "")
    asset = asset_class or hazard.asset_class
    critical = hazard.severe or hazard.immediate_danger or hazard.sensitive_occupancy
    queries: list[StakeholderQuery] = []

    def add(role: str, text: str, confidence: float, *, official: bool = True) -> None:
        queries.append(
            StakeholderQuery(
                role_type=role,
                query=text,
                organization=primary,
                confidence=confidence,
                require_official=official,
                host_hints=hints,
                rationale=f"Search for the {role.replace('_', ' ')} of {primary}.",
            )
        )

    def term(english: str, german_term: str) -> str:
        return german_term if german else english

    add("operator", f"{base} contact", 0.84)
    rule_list = list(rules)
    if hazard.defect_class.startswith("digital_"):
        return _dedupe([*queries, *_rule_queries(rule_list, base, locality, primary, hints)])
    if hazard.structural and not critical:
        add("facility_manager", f"{base} {term('facility management', 'hausdienst')}", 0.80)
    if not hazard.structural:
        return _dedupe([*queries, *_rule_queries(rule_list, base, locality, primary, hints)])
    if locality:
        where = f'"{locality}"'
        if asset == "transit_station":
            add("transit_authority", f"{where} {term('transit authority', 'verkehrsbetriebe')}",
                0.86)  # fmt: skip
            add("transit_safety", f"{where} {term('rail safety', 'bahn sicherheit')}", 0.82)
            if hazard.immediate_danger or hazard.severe:
                add("public_safety", f"{where} {term('public safety', 'polizei')}", 0.80)
                add("fire_authority", f"{where} {term('fire marshal', 'feuerpolizei')}", 0.78)
        elif asset in ("roadway", "bridge"):
            add("public_works", f"{where} {term('public works', 'tiefbauamt')}", 0.85)
            add("traffic_authority", f"{where} {term('traffic engineering', 'verkehrsplanung')}",
                0.82)  # fmt: skip
            add("infrastructure_authority",
                f"{where} {term('infrastructure maintenance', 'infrastruktur')}", 0.80)  # fmt: skip
            if hazard.immediate_danger or hazard.severe:
                add("public_safety", f"{where} {term('public safety', 'polizei')}", 0.78)
        else:
            add("building_authority", f"{where} {term('building department', 'bauamt')}", 0.84)
            if hazard.severe or hazard.urgent or hazard.immediate_danger:
                add("fire_authority", f"{where} {term('fire marshal', 'feuerpolizei')}", 0.80)
            if hazard.immediate_danger or (hazard.sensitive_occupancy and hazard.severe):
                add("public_safety", f"{where} {term('public safety', 'polizei')}", 0.76)
        if critical:
            add("facility_manager", f"{base} {term('facility management', 'hausdienst')}", 0.80)
        add("architect", f"{base} {term('architect', 'architekt')}", 0.83, official=False)
        add("contractor", f"{base} {term('contractor', 'bauunternehmung')}", 0.81, official=False)
        add("engineer", f"{base} {term('structural engineer', 'ingenieur')}", 0.79,
            official=False)  # fmt: skip
    return _dedupe([*queries, *_rule_queries(rule_list, base, locality, primary, hints)])


def _rule_queries(
    rules: Sequence[AuthorityRule], base: str, locality: str, primary: str,
    hints: tuple[str, ...],
) -> list[StakeholderQuery]:  # fmt: skip
    out = []
    for rule in rules:
        official = rule.role_type in AUTHORITY_ROLES or bool(rule.official_domains)
        for template in rule.query_templates:
            text = f'"{locality}" {template}' if official and locality else f"{base} {template}"
            out.append(
                StakeholderQuery(
                    role_type=rule.role_type,
                    query=text,
                    organization=primary,
                    confidence=rule.confidence,
                    require_official=official,
                    host_hints=tuple(dict.fromkeys((*hints, *rule.official_domains))),
                    rationale=f"Authority directory rule {rule.jurisdiction_key}: "
                    f"{rule.role_type} ('{template}').",
                )
            )
    return out


def _dedupe(queries: Iterable[StakeholderQuery]) -> list[StakeholderQuery]:
    seen: dict[str, StakeholderQuery] = {}
    for query in queries:
        seen.setdefault(query.key, query)
    return list(seen.values())


def pending_queries(
    targets: Iterable[EscalationTarget], queries: Sequence[StakeholderQuery]
) -> list[StakeholderQuery]:
    """Drop the queries whose role known targets already cover (upstream T25).

    A role is covered by a target of that role that survives normalisation with an email,
    phone, website or contact URL; for a query that requires an official site, the target's
    verification must also be official (``official_*``), a mapped area contact or a
    directory listing.

    Examples
    --------
    >>> q = [StakeholderQuery(r, r, "", 0.8) for r in
    ...      ("operator", "building_authority", "public_safety")]
    >>> [p.role_type for p in pending_queries([
    ...     EscalationTarget(role_type="operator", email="ops@example.org"),
    ...     EscalationTarget(role_type="building_authority", website="https://city.example/"),
    ... ], q)]
    ['public_safety']
    """
    covered: dict[str, bool] = {}  # role -> covered by an official target
    for raw in targets:
        target = normalize_target(raw)
        if target is None or not (
            target.email or target.phone or target.website or target.contact_url
        ):
            continue
        level = target.verification_level
        official = level.startswith("official") or level in _OFFICIAL_LEVELS
        covered[target.role_type] = covered.get(target.role_type, False) or official
    return [
        q
        for q in queries
        if q.role_type not in covered or (q.require_official and not covered[q.role_type])
    ]
