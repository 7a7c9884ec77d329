"""The word lists of contact routing and the one way they are matched (pure).

Every list a routing rule reads is defined here, once. A keyword matches a text when it
occurs *at the start of a word* of the lower-cased text: ``brick`` matches "bricks" and
"brickwork", ``support column`` matches "support columns". Upstream matched anywhere in the
text, so ``wall`` matched "walkway", ``road`` matched "broad", ``rail`` matched "trail" and
``site`` matched "website"; those false hits are gone.

Examples
--------
>>> has_any("Loose bricks above the walkway", STRUCTURAL_HAZARD_WORDS)
True
>>> has_any("A broad walkway", ("road", "wall"))
False
>>> count_hits("Cracked facade, falling bricks", STRUCTURAL_HAZARD_WORDS)
5
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Final

__all__ = [
    "ABUSE_WORDS",
    "ASSET_CLASS_WORDS",
    "DANGER_WORDS",
    "DEFECT_CLASS_WORDS",
    "DIGITAL_ACCESSIBILITY_WORDS",
    "DIGITAL_SECURITY_WORDS",
    "EMERGENCY_WORDS",
    "IMMEDIATE_DANGER_WORDS",
    "INCIDENT_DESCRIPTOR_WORDS",
    "PUBLIC_EXPOSURE_WORDS",
    "REPORT_IMMEDIATE_DANGER_WORDS",
    "REPORT_SENSITIVE_OCCUPANCY_WORDS",
    "REPORT_STRUCTURAL_WORDS",
    "REPORT_URGENT_WORDS",
    "SENSITIVE_OCCUPANCY_HAZARD_WORDS",
    "SENSITIVE_OCCUPANCY_WORDS",
    "STRUCTURAL_HAZARD_WORDS",
    "STRUCTURAL_WORDS",
    "URGENCY_WORDS",
    "USER_EXPOSURE_WORDS",
    "count_hits",
    "first_match",
    "has_any",
]

# ============================================================================ hazard profile

#: Structural cues of the hazard profile (two hits, or one with severity >= 0.75).
STRUCTURAL_HAZARD_WORDS: Final = (
    "structural", "crack", "cracking", "brick", "bricks", "facade", "façade", "masonry",
    "wall", "concrete", "beam", "column", "roof", "ceiling", "collapse", "falling",
    "exterior", "foundation", "balcony", "spalling", "detachment", "separation", "fissure",
    "fassade", "fassaden", "mauerwerk", "beton", "riss", "risse", "support column",
    "pillar", "platform edge", "station roof", "overhang",
)  # fmt: skip
#: Danger cues (with severity >= 0.7 or two structural hits: immediate danger).
DANGER_WORDS: Final = (
    "falling", "collapse", "imminent", "exposed", "detached", "separating", "hazard",
    "danger", "unsafe", "critical", "life safety", "major failure", "falling object",
    "falling debris", "urgent", "emergency",
)  # fmt: skip
#: Places where vulnerable people gather.
SENSITIVE_OCCUPANCY_HAZARD_WORDS: Final = (
    "school", "primary school", "kindergarten", "nursery", "hospital", "clinic", "metro",
    "subway", "station", "platform", "terminal", "playground", "campus", "children",
    "students", "passengers", "commuters", "public hall", "arena", "mall", "daycare",
    "care home", "stadium",
)  # fmt: skip
#: A candidate name with two or more of these describes the incident, not a place.
INCIDENT_DESCRIPTOR_WORDS: Final = (
    "hazard", "incident", "defect", "damage", "failure", "crack", "cracking", "structural",
    "unsafe", "danger", "collapse", "debris", "falling", "obstruction", "leak", "litter",
    "trash", "graffiti", "pothole", "bug", "vulnerability", "outage", "exposed",
    "deterioration", "anomaly",
)  # fmt: skip

# ============================================================================ routing profile

DIGITAL_SECURITY_WORDS: Final = (
    "vulnerability", "security", "xss", "sql injection", "credential", "takeover",
    "data leak", "phishing", "fraud",
)  # fmt: skip
DIGITAL_ACCESSIBILITY_WORDS: Final = (
    "accessibility", "screen reader", "contrast", "wcag", "keyboard navigation", "aria",
)  # fmt: skip
#: Physical defect classes, first match wins (a physical text matching none: safety).
DEFECT_CLASS_WORDS: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (
        ("structural", "collapse", "crack", "beam", "column", "facade", "brick",
         "load-bearing", "support"),
        "physical_structural",
    ),
    (
        ("waste", "litter", "spill", "sanitation", "garbage", "odor", "sewage"),
        "physical_sanitation",
    ),
    (
        ("accessible", "accessibility", "wheelchair", "trip hazard", "blocked exit"),
        "physical_accessibility",
    ),
    (
        ("service outage", "downtime", "broken kiosk", "payment terminal", "escalator",
         "elevator"),
        "operational_service",
    ),
)  # fmt: skip
ABUSE_WORDS: Final = ("fraud", "scam", "impersonation", "fake")
EMERGENCY_WORDS: Final = ("imminent", "falling", "collapse", "urgent", "critical")
PUBLIC_EXPOSURE_WORDS: Final = (
    "children", "commuter", "passenger", "public", "occupants", "users",
)  # fmt: skip
USER_EXPOSURE_WORDS: Final = ("customer", "user", "account", "checkout")
URGENCY_WORDS: Final = ("immediate", "urgent", "critical", "emergency")
STRUCTURAL_WORDS: Final = (
    "structural", "crack", "collapse", "column", "beam", "facade", "brick", "concrete", "wall",
)  # fmt: skip
IMMEDIATE_DANGER_WORDS: Final = (
    "falling", "imminent", "collapse", "separating", "detached", "support column",
    "support beam", "exposed", "children", "occupants",
)  # fmt: skip
SENSITIVE_OCCUPANCY_WORDS: Final = (
    "school", "hospital", "station", "metro", "airport", "playground", "terminal", "mall",
    "daycare", "nursery",
)  # fmt: skip
#: The report variant of the profile (solo reports) reads slightly different lists.
REPORT_STRUCTURAL_WORDS: Final = (*STRUCTURAL_WORDS, "support")
REPORT_IMMEDIATE_DANGER_WORDS: Final = (
    *(w for w in IMMEDIATE_DANGER_WORDS if w not in ("children", "occupants")),
    "load-bearing",
)
REPORT_SENSITIVE_OCCUPANCY_WORDS: Final = (*SENSITIVE_OCCUPANCY_WORDS, "children", "commuter")
REPORT_URGENT_WORDS: Final = ("urgent", "danger", "hazard", "critical")
#: Asset classes, first match wins (none: ``general_site``).
ASSET_CLASS_WORDS: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (
        ("metro", "subway", "station", "platform", "rail", "railway", "tram", "terminal",
         "bus depot", "transit"),
        "transit_station",
    ),
    (("bridge", "overpass", "underpass", "viaduct"), "bridge"),
    (
        ("road", "street", "highway", "freeway", "motorway", "intersection", "sidewalk",
         "carriageway"),
        "roadway",
    ),
    (
        ("school", "campus", "kindergarten", "nursery", "daycare", "college", "university",
         "schule", "schulhaus"),
        "school",
    ),
    (("hospital", "clinic", "medical center", "care home", "emergency room"), "hospital"),
    (
        ("mall", "shopping", "supermarket", "store", "retail", "walmart", "ikea", "costco",
         "target"),
        "retail_site",
    ),
    (
        ("city hall", "courthouse", "library", "museum", "stadium", "arena", "airport",
         "civic center", "municipal"),
        "public_building",
    ),
    (("factory", "warehouse", "plant", "industrial", "depot"), "industrial_site"),
    (("apartment", "residential", "condo", "housing", "tower"), "residential_site"),
)  # fmt: skip

# ============================================================================ matching


@lru_cache(maxsize=256)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w.lower()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![^\W_])(?:{alternatives})")


def _words(words: Iterable[str]) -> tuple[str, ...]:
    return words if isinstance(words, tuple) else tuple(words)


def has_any(text: str, words: Iterable[str]) -> bool:
    """Whether any keyword occurs at the start of a word of ``text`` (case-insensitive).

    Examples
    --------
    >>> has_any("Support columns cracked", ("support column",)), has_any("trail", ("rail",))
    (True, False)
    """
    listed = _words(words)
    return bool(listed) and _pattern(listed).search(text.lower()) is not None


def count_hits(text: str, words: Iterable[str]) -> int:
    """Count the distinct keywords of ``words`` that occur in ``text`` (see :func:`has_any`).

    Examples
    --------
    >>> count_hits("crack, cracking and a crack again", ("crack", "cracking", "wall"))
    2
    """
    lowered = text.lower()
    return sum(1 for w in dict.fromkeys(_words(words)) if _pattern((w,)).search(lowered))


def first_match(text: str, table: Sequence[tuple[tuple[str, ...], str]]) -> str | None:
    """Return the value of the first ``(keywords, value)`` row with a keyword in ``text``.

    Examples
    --------
    >>> first_match("Cracked bridge pillar on the highway", ASSET_CLASS_WORDS)
    'bridge'
    """
    for words, value in table:
        if has_any(text, words):
            return value
    return None
