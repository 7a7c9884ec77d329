"""OpenStreetMap: who a place is, and which operators publish contacts near it (§6.3 step 3).

Two documented APIs, base URLs given by the caller (public instances by default):

* **Nominatim reverse geocoding** -- ``GET {nominatim}/reverse?format=jsonv2&lat=&lon=
  &zoom=18&addressdetails=1&extratags=1&namedetails=1``. The answer is one place
  (``name``, ``display_name``, ``category``, ``type``, ``osm_type``, ``osm_id``,
  ``address`` {amenity, building, school, university, hospital, college, office, city,
  town, village, state, country, country_code, ...}, ``extratags`` {operator, website,
  contact:*, email, phone, ...}, ``namedetails`` {name, ...}) or ``{"error": "..."}``.
  Nominatim's usage policy allows one request a second and wants an identifying
  User-Agent: give the fetcher ``min_interval_s={host: 1.0}`` (the default settings of
  :func:`osm_fetch_settings` do) and a real ``user_agent``; results are cached.
* **Overpass** -- ``POST {overpass}`` with form field ``data`` holding an Overpass QL query
  (:func:`overpass_query`) for features within ``radius_m`` of the point that name an
  operator, brand, email, phone, website or ``contact:*`` tag, plus the administrative
  areas around the point that publish a website. The answer is
  ``{"elements": [{"type", "id", "lat"/"lon" or "center": {"lat", "lon"}, "tags"}]}``
  (``remark`` on a server-side timeout or error).

Targets: the reverse-geocoded place itself (``osm_reverse``: email 0.92, phone 0.90, each
social profile 0.78, its website 0.72); the four best points of interest (``osm_poi``:
email 0.88, phone 0.86, social 0.74, website 0.68), ranked by +4 email, +3 phone,
+2 website, +3 per candidate name in the POI's name or operator, minus distance / 200 m;
and the administrative areas' websites (``osm_admin``, 0.66) -- the seeds of the
authority directory. All have verification ``openstreetmap`` and the OSM object as
``source_url``. Websites are not crawled here: the website provider does that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from cleanapp_geo.discovery.budget import BudgetExhaustedError
from cleanapp_geo.discovery.fetch import Fetcher, FetchError, FetchSettings
from cleanapp_geo.targets.contacts import normalize_social
from cleanapp_geo.targets.suggest import DiscoveryRequest
from cleanapp_geo.targets.target import EscalationTarget

__all__ = [
    "DEFAULT_NOMINATIM_URL",
    "DEFAULT_OVERPASS_URL",
    "Location",
    "OpenStreetMapProvider",
    "PointOfInterest",
    "osm_fetch_settings",
    "overpass_query",
    "parse_overpass",
    "parse_reverse",
    "rank_pois",
]

DEFAULT_NOMINATIM_URL: Final = "https://nominatim.openstreetmap.org"
DEFAULT_OVERPASS_URL: Final = "https://overpass-api.de/api/interpreter"
_SOCIAL_TAGS: Final = (
    "contact:facebook", "contact:instagram", "contact:twitter", "contact:x",
    "contact:linkedin", "contact:tiktok", "facebook", "instagram", "twitter",
)  # fmt: skip
_EMAIL_TAGS: Final = ("email", "contact:email", "operator:email")
_PHONE_TAGS: Final = ("phone", "contact:phone", "operator:phone", "contact:mobile")
_WEBSITE_TAGS: Final = ("website", "contact:website", "operator:website", "url")


def osm_fetch_settings(
    nominatim_url: str = DEFAULT_NOMINATIM_URL, **settings: Any
) -> FetchSettings:
    """Fetch settings that keep Nominatim's usage policy (one request a second per host).

    Examples
    --------
    >>> osm_fetch_settings().min_interval_s
    {'nominatim.openstreetmap.org': 1.0}
    """
    intervals = dict(settings.pop("min_interval_s", {}))
    intervals.setdefault(urlsplit(nominatim_url).netloc, 1.0)
    return FetchSettings(min_interval_s=intervals, **settings)


def _first(tags: Mapping[str, Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = tags.get(key)
        if isinstance(value, str) and value.strip():
            return value.split(";", 1)[0].strip()
    return ""


def _socials(tags: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    found: dict[tuple[str, str], None] = {}
    for key in _SOCIAL_TAGS:
        value = tags.get(key)
        if isinstance(value, str) and value.strip():
            platform = key.rsplit(":", 1)[-1]
            pair = (
                normalize_social(platform, "", value)
                if "/" in value
                else (normalize_social(platform, value))
            )
            if pair[1]:
                found.setdefault(pair, None)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Location:
    """The reverse-geocoded place of a point (upstream's location context).

    ``primary_name`` is the place's name (else the amenity or building of its address),
    ``parent_org`` the university/school/hospital/college it belongs to, ``operator`` its
    operator (else the address's office); contacts come from the extra tags.
    """

    primary_name: str = ""
    parent_org: str = ""
    operator: str = ""
    website: str = ""
    email: str = ""
    phone: str = ""
    socials: tuple[tuple[str, str], ...] = ()
    location_type: str = ""
    city: str = ""
    state: str = ""
    country: str = ""
    country_code: str = ""
    formatted_name: str = ""
    osm_url: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The best name: primary name, parent organisation or operator."""
        return self.primary_name or self.parent_org or self.operator

    @property
    def has_context(self) -> bool:
        """Whether it names someone or publishes a contact (else it counts as none)."""
        return bool(self.name or self.website or self.email or self.phone)


def _osm_url(osm_type: Any, osm_id: Any) -> str:
    kind = {"N": "node", "W": "way", "R": "relation"}.get(str(osm_type), str(osm_type))
    if kind in ("node", "way", "relation") and str(osm_id).isdigit():
        return f"https://www.openstreetmap.org/{kind}/{osm_id}"
    return ""


def parse_reverse(payload: Any) -> Location | None:
    """Read a Nominatim ``jsonv2`` reverse answer; ``None`` for an error or a non-object.

    Examples
    --------
    >>> loc = parse_reverse({"osm_type": "way", "osm_id": 42, "name": "Schulhaus Kopfholz",
    ...     "category": "amenity", "type": "school",
    ...     "address": {"amenity": "Schulhaus Kopfholz", "town": "Adliswil",
    ...                 "state": "Zürich", "country": "Schweiz", "country_code": "ch"},
    ...     "extratags": {"website": "https://www.schule-adliswil.ch", "operator": "Schule"}})
    >>> loc.name, loc.city, loc.country_code, loc.website, loc.osm_url
    ('Schulhaus Kopfholz', 'Adliswil', 'ch', 'https://www.schule-adliswil.ch', \
'https://www.openstreetmap.org/way/42')
    >>> parse_reverse({"error": "Unable to geocode"}) is None
    True
    """
    if not isinstance(payload, dict) or "error" in payload:
        return None
    address = payload.get("address") if isinstance(payload.get("address"), dict) else {}
    extratags = payload.get("extratags") if isinstance(payload.get("extratags"), dict) else {}
    names = payload.get("namedetails") if isinstance(payload.get("namedetails"), dict) else {}
    assert isinstance(address, dict) and isinstance(extratags, dict) and isinstance(names, dict)
    tags = {str(k): str(v) for k, v in extratags.items() if isinstance(v, str | int | float)}
    return Location(
        primary_name=_first(payload, ("name",))
        or _first(names, ("name",))
        or _first(address, ("amenity", "building")),
        parent_org=_first(address, ("university", "school", "hospital", "college")),
        operator=_first(extratags, ("operator",)) or _first(address, ("office",)),
        website=_first(extratags, _WEBSITE_TAGS),
        email=_first(extratags, _EMAIL_TAGS),
        phone=_first(extratags, _PHONE_TAGS),
        socials=_socials(extratags),
        location_type=_first(payload, ("type", "addresstype")),
        city=_first(address, ("city", "town", "village", "municipality")),
        state=_first(address, ("state",)),
        country=_first(address, ("country",)),
        country_code=_first(address, ("country_code",)).lower(),
        formatted_name=_first(payload, ("display_name",)),
        osm_url=_osm_url(payload.get("osm_type"), payload.get("osm_id")),
        tags=tags,
    )


def overpass_query(
    latitude: float, longitude: float, *, radius_m: float = 225.0, timeout_s: int = 10,
    max_elements: int = 60,
) -> str:  # fmt: skip
    """Build the Overpass QL query for contact-bearing features near a point and its admin areas.

    Examples
    --------
    >>> print(overpass_query(47.31, 8.52, radius_m=100).splitlines()[0])
    [out:json][timeout:10];
    """
    around = f"(around:{radius_m:g},{latitude:.7f},{longitude:.7f})"
    keys = ("operator", "brand", "email", "phone", "website", "contact:email",
            "contact:phone", "contact:website")  # fmt: skip
    lines = [f"[out:json][timeout:{timeout_s}];", "("]
    lines += [f'  nwr{around}["{key}"];' for key in keys]
    lines += [
        f'  nwr{around}["amenity"~"^(university|college|school|hospital|clinic|library|'
        'community_centre|townhall|courthouse)$"]["name"];',
        f'  nwr{around}["office"]["name"];',
        ")->.near;",
        f"is_in({latitude:.7f},{longitude:.7f})->.areas;",
        'rel(pivot.areas)["boundary"="administrative"]["website"]->.admin;',
        "(.near; .admin;);",
        f"out tags center {max_elements};",
    ]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class PointOfInterest:
    """A feature from Overpass with the tags discovery reads."""

    name: str
    operator: str = ""
    brand: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""
    socials: tuple[tuple[str, str], ...] = ()
    distance_m: float = 0.0
    osm_url: str = ""
    admin_level: str = ""

    @property
    def is_admin_area(self) -> bool:
        """Whether it is an administrative boundary (a municipality, a canton)."""
        return bool(self.admin_level)


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def parse_overpass(payload: Any, latitude: float, longitude: float) -> list[PointOfInterest]:
    """Read an Overpass JSON answer into points of interest (unnamed features dropped).

    Examples
    --------
    >>> [p.name for p in parse_overpass({"elements": [
    ...     {"type": "node", "id": 1, "lat": 47.0, "lon": 8.0,
    ...      "tags": {"name": "Kiosk", "phone": "+41 44 000 00 00"}},
    ...     {"type": "way", "id": 2, "center": {"lat": 47.0, "lon": 8.0}, "tags": {}}]},
    ...     47.0, 8.0)]
    ['Kiosk']
    """
    elements = payload.get("elements") if isinstance(payload, dict) else None
    out: list[PointOfInterest] = []
    for element in elements if isinstance(elements, list) else ():
        if not isinstance(element, dict) or not isinstance(element.get("tags"), dict):
            continue
        tags = element["tags"]
        name = _first(tags, ("name", "official_name", "operator", "brand"))
        if not name:
            continue
        center = element.get("center") if isinstance(element.get("center"), dict) else element
        assert isinstance(center, dict)
        try:
            distance = _distance_m(latitude, longitude, float(center["lat"]), float(center["lon"]))
        except (KeyError, TypeError, ValueError):
            distance = 0.0 if tags.get("boundary") == "administrative" else math.inf
        admin = _first(tags, ("admin_level",)) if tags.get("boundary") == "administrative" else ""
        out.append(
            PointOfInterest(
                name=name,
                operator=_first(tags, ("operator",)),
                brand=_first(tags, ("brand",)),
                email=_first(tags, _EMAIL_TAGS),
                phone=_first(tags, _PHONE_TAGS),
                website=_first(tags, _WEBSITE_TAGS),
                socials=_socials(tags),
                distance_m=0.0 if admin else distance,
                osm_url=_osm_url(element.get("type"), element.get("id")),
                admin_level=admin,
            )
        )
    return out


def rank_pois(
    pois: Sequence[PointOfInterest], candidate_names: Sequence[str], *, top: int = 4
) -> list[PointOfInterest]:
    """Return the ``top`` points of interest by contact value, name match and distance (upstream).

    Score: +4 email, +3 phone, +2 website, +3 per candidate name contained
    (case-insensitively) in the name or operator, minus ``distance_m / 200``; ties by name.

    Examples
    --------
    >>> near = PointOfInterest("Cafe", phone="+41 1", distance_m=10)
    >>> school = PointOfInterest("Schulhaus Kopfholz", website="https://s.ch", distance_m=150)
    >>> [p.name for p in rank_pois([near, school], ["Kopfholz"])]
    ['Schulhaus Kopfholz', 'Cafe']
    """
    names = [n.casefold() for n in candidate_names if n.strip()]

    def score(p: PointOfInterest) -> float:
        haystack = f"{p.name} {p.operator}".casefold()
        value = 4.0 * bool(p.email) + 3.0 * bool(p.phone) + 2.0 * bool(p.website)
        value += 3.0 * sum(n in haystack for n in names)
        return value - p.distance_m / 200.0

    return sorted(pois, key=lambda p: (-score(p), p.name, p.osm_url))[: max(0, top)]


def _contact_targets(
    *, organization: str, email: str, phone: str, website: str,
    socials: Sequence[tuple[str, str]], source: str, source_url: str, evidence: str,
    confidences: tuple[float, float, float, float], role: str = "operator",
) -> list[EscalationTarget]:  # fmt: skip
    email_c, phone_c, social_c, website_c = confidences
    common: dict[str, Any] = {
        "role_type": role,
        "organization": organization,
        "display_name": organization,
        "website": website,
        "source_url": source_url or website,
        "target_source": source,
        "verification_level": "openstreetmap",
        "evidence_text": evidence,
        "rationale": f"Contact published in OpenStreetMap for {organization}.",
    }
    out: list[EscalationTarget] = []
    if email:
        out.append(EscalationTarget(**common, channel="email", email=email,
                                    confidence_score=email_c))  # fmt: skip
    if phone:
        out.append(EscalationTarget(**common, channel="phone", phone=phone,
                                    confidence_score=phone_c))  # fmt: skip
    for platform, handle in socials:
        out.append(EscalationTarget(**common, channel="social", social_platform=platform,
                                    social_handle=handle, confidence_score=social_c))  # fmt: skip
    if website:
        out.append(EscalationTarget(**common, channel="website", contact_url=website,
                                    confidence_score=website_c))  # fmt: skip
    return out


class OpenStreetMapProvider:
    """Contacts from Nominatim reverse geocoding and Overpass around the request's point.

    Parameters
    ----------
    fetcher : Fetcher
        The shared client (use :func:`osm_fetch_settings` for Nominatim's rate limit).
    nominatim_url, overpass_url : str
        Base URLs (settings of the service; fixture servers in tests).
    radius_m : float, default 225
        Overpass search radius.
    max_pois : int, default 4
        Points of interest kept.
    language : str, optional
        ``accept-language`` of Nominatim answers.
    """

    name = "osm"

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        nominatim_url: str = DEFAULT_NOMINATIM_URL,
        overpass_url: str = DEFAULT_OVERPASS_URL,
        radius_m: float = 225.0,
        max_pois: int = 4,
        language: str = "",
    ) -> None:
        self.fetcher = fetcher
        self.nominatim_url = nominatim_url.rstrip("/")
        self.overpass_url = overpass_url
        self.radius_m = radius_m
        self.max_pois = max_pois
        self.language = language

    def locate(self, request: DiscoveryRequest) -> Location | None:
        """Reverse-geocode the request's point (cached by the fetcher); ``None`` on failure."""
        if request.latitude is None or request.longitude is None:
            return None
        params = {
            "format": "jsonv2",
            "lat": f"{request.latitude:.6f}",
            "lon": f"{request.longitude:.6f}",
            "zoom": "18",
            "addressdetails": "1",
            "extratags": "1",
            "namedetails": "1",
        }
        if self.language:
            params["accept-language"] = self.language
        try:
            response = self.fetcher.get(f"{self.nominatim_url}/reverse", params=params,
                                        robots=False)  # fmt: skip
            return parse_reverse(response.json())
        except (FetchError, BudgetExhaustedError, ValueError):
            return None

    def points_of_interest(self, request: DiscoveryRequest) -> list[PointOfInterest]:
        """Overpass features near the request's point (and its admin areas); ``[]`` on failure."""
        if request.latitude is None or request.longitude is None:
            return []
        query = overpass_query(request.latitude, request.longitude, radius_m=self.radius_m)
        try:
            response = self.fetcher.post_form(self.overpass_url, {"data": query})
            return parse_overpass(response.json(), request.latitude, request.longitude)
        except (FetchError, BudgetExhaustedError, ValueError):
            return []

    def discover(self, request: DiscoveryRequest) -> list[EscalationTarget]:
        """Targets of the place and the best points of interest; never raises on I/O."""
        out: list[EscalationTarget] = []
        names = [n for n in request.candidate_names if n.strip()]
        location = self.locate(request)
        if location is not None and location.has_context:
            organization = location.name or location.formatted_name
            names = [*names, *(n for n in (location.primary_name, location.parent_org,
                                           location.operator) if n)]  # fmt: skip
            out += _contact_targets(
                organization=organization, email=location.email, phone=location.phone,
                website=location.website, socials=location.socials, source="osm_reverse",
                source_url=location.osm_url,
                evidence=f"OpenStreetMap reverse geocoding: {location.formatted_name}"
                + (f" (operator {location.operator})" if location.operator else ""),
                confidences=(0.92, 0.90, 0.78, 0.72),
            )  # fmt: skip
        pois = self.points_of_interest(request)
        for poi in (p for p in pois if p.is_admin_area and p.website):
            out += _contact_targets(
                organization=poi.name, email="", phone="", website=poi.website, socials=(),
                source="osm_admin", source_url=poi.osm_url, role="contact",
                evidence=f"Website of the administrative area {poi.name} "
                f"(admin_level {poi.admin_level}) in OpenStreetMap",
                confidences=(0.0, 0.0, 0.0, 0.66),
            )  # fmt: skip
        places = [p for p in pois if not p.is_admin_area and p.distance_m <= self.radius_m]
        for poi in rank_pois(places, names, top=self.max_pois):
            out += _contact_targets(
                organization=poi.name, email=poi.email, phone=poi.phone, website=poi.website,
                socials=poi.socials, source="osm_poi", source_url=poi.osm_url,
                evidence=f"OpenStreetMap feature '{poi.name}' {poi.distance_m:.0f} m from the "
                "case" + (f", operator {poi.operator}" if poi.operator else "")
                + (f", brand {poi.brand}" if poi.brand else ""),
                confidences=(0.88, 0.86, 0.74, 0.68),
            )  # fmt: skip
        return out
