"""What kind of problem a case is: the hazard profile and the routing profile (pure).

Two readings of the same reports, for two jobs:

* the **hazard profile** (:func:`hazard_profile`) votes over the reports one by one -- their
  classification, defect class and asset class, and flags such as *structural* or
  *immediate danger* -- and tells contact discovery which stakeholders to look for;
* the **routing profile** (:func:`routing_profile`) reads a case (or a solo report) as a
  whole and tells the router how to weigh its targets: defect class and mode, asset class,
  exposure, severity and urgency bands, the hazard flags and the *hazard mode*
  (``emergency``: immediate danger and severe; ``urgent``: severe or urgent; else
  ``standard``).

Vocabulary
----------
:data:`DEFECT_CLASSES`, :data:`DEFECT_MODES`, :data:`ASSET_CLASSES`, :data:`HAZARD_MODES`,
:data:`EXPOSURE_MODES`, :data:`SEVERITY_BANDS` and :data:`URGENCY_BANDS` are the names
these fields take, defined here once (the store's check constraints use them).

Fixes of upstream
-----------------
* Keywords match at the start of a word (:mod:`cleanapp_geo.routing.keywords`).
* Majority votes break ties by the vocabulary order (upstream: map iteration order, so
  ties came out at random).
* ``jurisdiction_key`` is a jurisdiction (``country:ch/state:zuerich/city:adliswil``, from
  the location), never a target's organisation key as upstream filled it.

Examples
--------
>>> p = routing_profile(["Facade bricks falling over school entrance"], severity=0.92)
>>> p.defect_class, p.asset_class, p.hazard_mode, p.severity_band
('physical_structural', 'school', 'emergency', 'critical')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import pandas as pd

from cleanapp_geo.errors import CleanAppGeoError
from cleanapp_geo.routing import keywords as kw

__all__ = [
    "ASSET_CLASSES",
    "DEFECT_CLASSES",
    "DEFECT_MODES",
    "EXPOSURE_MODES",
    "HAZARD_MODES",
    "SEVERITY_BANDS",
    "SUBJECT_KINDS",
    "URGENCY_BANDS",
    "HazardProfile",
    "InvalidProfileError",
    "RoutingProfile",
    "hazard_mode",
    "hazard_profile",
    "infer_asset_class",
    "infer_defect_class",
    "routing_profile",
    "severity_band",
    "urgency_band",
]

# ============================================================================ vocabulary

DEFECT_CLASSES: Final = (
    "physical_structural",
    "physical_sanitation",
    "physical_accessibility",
    "physical_safety",
    "operational_service",
    "digital_security",
    "digital_accessibility",
    "digital_product_bug",
    "digital_fraud",
    "general_defect",
)
DIGITAL_DEFECT_CLASSES: Final = frozenset(c for c in DEFECT_CLASSES if c.startswith("digital_"))
DEFECT_MODES: Final = ("standard", "emergency", "abuse")
ASSET_CLASSES: Final = (
    "transit_station",
    "bridge",
    "roadway",
    "school",
    "hospital",
    "retail_site",
    "public_building",
    "industrial_site",
    "residential_site",
    "general_site",
)
HAZARD_MODES: Final = ("standard", "urgent", "emergency")
EXPOSURE_MODES: Final = ("public_exposure", "user_exposure", "localized")
SEVERITY_BANDS: Final = ("critical", "high", "medium", "low")
URGENCY_BANDS: Final = ("immediate", "high", "medium", "low")
#: What a routing profile, task or outcome belongs to.
SUBJECT_KINDS: Final = ("case", "report")
_CLASSIFICATIONS: Final = ("physical", "digital")

#: Thresholds of the bands and flags (upstream's).
SEVERE_AT: Final = 0.8
URGENT_AT: Final = 0.7


class InvalidProfileError(CleanAppGeoError, ValueError):
    """A profile field outside its vocabulary."""


# ============================================================================ inference


def infer_defect_class(classification: str, text: str) -> str:
    """Infer the defect class of a text: digital security/accessibility/bug, else physical.

    Digital texts: a security word gives ``digital_security``, an accessibility word
    ``digital_accessibility``, else ``digital_product_bug``. Physical texts: the first
    matching row of :data:`cleanapp_geo.routing.keywords.DEFECT_CLASS_WORDS`, else
    ``physical_safety``.

    Examples
    --------
    >>> infer_defect_class("digital", "XSS in the login form")
    'digital_security'
    >>> infer_defect_class("physical", "Overflowing litter bins")
    'physical_sanitation'
    """
    if classification.strip().lower() == "digital":
        if kw.has_any(text, kw.DIGITAL_SECURITY_WORDS):
            return "digital_security"
        if kw.has_any(text, kw.DIGITAL_ACCESSIBILITY_WORDS):
            return "digital_accessibility"
        return "digital_product_bug"
    return kw.first_match(text, kw.DEFECT_CLASS_WORDS) or "physical_safety"


def infer_asset_class(*texts: str) -> str:
    """Infer the asset class the texts name (first row of the asset table), else general_site.

    Examples
    --------
    >>> infer_asset_class("Schulhaus Kopfholz"), infer_asset_class("a bench")
    ('school', 'general_site')
    """
    return kw.first_match(" \n ".join(texts), kw.ASSET_CLASS_WORDS) or "general_site"


def severity_band(severity: float) -> str:
    """``critical`` (>= 0.9), ``high`` (>= 0.75), ``medium`` (>= 0.45) or ``low``.

    Examples
    --------
    >>> severity_band(0.92), severity_band(0.5), severity_band(0.1)
    ('critical', 'medium', 'low')
    """
    if severity >= 0.9:
        return "critical"
    if severity >= 0.75:
        return "high"
    if severity >= 0.45:
        return "medium"
    return "low"


def urgency_band(urgency: float, text: str = "") -> str:
    """Return ``immediate`` (>= 0.85 or an urgency word), ``high``, ``medium`` or ``low``.

    ``high`` from 0.65, ``medium`` from 0.35.

    Examples
    --------
    >>> urgency_band(0.5), urgency_band(0.5, "urgent: glass falling")
    ('medium', 'immediate')
    """
    if urgency >= 0.85 or kw.has_any(text, kw.URGENCY_WORDS):
        return "immediate"
    if urgency >= 0.65:
        return "high"
    if urgency >= 0.35:
        return "medium"
    return "low"


def hazard_mode(*, immediate_danger: bool, severe: bool, urgent: bool) -> str:
    """``emergency`` (immediate danger and severe), ``urgent`` (severe or urgent), ``standard``.

    Examples
    --------
    >>> hazard_mode(immediate_danger=True, severe=True, urgent=False)
    'emergency'
    """
    if immediate_danger and severe:
        return "emergency"
    if severe or urgent:
        return "urgent"
    return "standard"


# ============================================================================ hazard profile


@dataclass(frozen=True, slots=True)
class HazardProfile:
    """The hazard of a set of reports, by majority vote and flags (for contact discovery).

    Parameters
    ----------
    classification : str, default "physical"
        Majority classification.
    defect_class : str, default "physical_safety"
        Majority defect class (a digital one wins when any report is digital).
    asset_class : str, default "general_site"
        Majority asset class named by the brands and texts.
    digital, security_sensitive, structural, severe, urgent, immediate_danger, \
sensitive_occupancy : bool
        Flags (any report raises them).
    """

    classification: str = "physical"
    defect_class: str = "physical_safety"
    asset_class: str = "general_site"
    digital: bool = False
    security_sensitive: bool = False
    structural: bool = False
    severe: bool = False
    urgent: bool = False
    immediate_danger: bool = False
    sensitive_occupancy: bool = False

    @property
    def critical(self) -> bool:
        """Severe, in immediate danger, or where vulnerable people gather."""
        return self.severe or self.immediate_danger or self.sensitive_occupancy


def _vote(counts: Counter[str], order: Sequence[str], default: str) -> str:
    if not counts:
        return default
    rank = {name: i for i, name in enumerate(order)}
    return min(counts, key=lambda name: (-counts[name], rank.get(name, len(rank)), name))


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    if name in frame.columns:
        return frame[name].tolist()
    return [None] * len(frame)


def _text_of(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if number != number else number


def hazard_profile(reports: pd.DataFrame) -> HazardProfile:
    """Vote the hazard of reports (one row per report, its preferred analysis).

    Per report: the text is its title, summary, description, analysis text and brand names.
    It votes for its classification, :func:`infer_defect_class` and
    :func:`infer_asset_class` (brand names first). Flags: *structural* with two structural
    hits, or one and severity >= 0.75; *severe* with severity >= 0.85; *urgent* with
    ``hazard_probability`` >= 0.75, severity >= 0.9 or a digital security defect;
    *immediate danger* with a danger word and (severity >= 0.7 or two structural hits);
    *sensitive occupancy* with a sensitive-occupancy word.

    Parameters
    ----------
    reports : pandas.DataFrame
        Columns ``classification``, ``severity_level``, ``title``, ``summary`` and any of
        ``description``, ``analysis_text``, ``brand_display_name``, ``brand_name``,
        ``hazard_probability`` (missing ones count as empty).

    Returns
    -------
    HazardProfile
        The defaults (physical, physical_safety, general_site, no flag) without reports.

    Examples
    --------
    >>> import pandas as pd
    >>> hazard_profile(pd.DataFrame({
    ...     "classification": ["physical"], "severity_level": [0.92],
    ...     "title": ["Facade bricks falling over school entrance"],
    ...     "summary": ["Loose facade bricks above the main school entrance."],
    ...     "brand_display_name": ["Zurich School"]}))  # doctest: +NORMALIZE_WHITESPACE
    HazardProfile(classification='physical', defect_class='physical_structural',
                  asset_class='school', digital=False, security_sensitive=False,
                  structural=True, severe=True, urgent=True, immediate_danger=True,
                  sensitive_occupancy=True)
    """
    classes: Counter[str] = Counter()
    defects: Counter[str] = Counter()
    assets: Counter[str] = Counter()
    flags = dict.fromkeys(
        ("digital", "security_sensitive", "structural", "severe", "urgent", "immediate_danger",
         "sensitive_occupancy"),
        False,
    )  # fmt: skip
    digital_defects: Counter[str] = Counter()
    columns = {
        name: _column(reports, name)
        for name in (
            "classification", "severity_level", "hazard_probability", "title", "summary",
            "description", "analysis_text", "brand_display_name", "brand_name",
        )
    }  # fmt: skip
    for i in range(len(reports)):
        classification = _text_of(columns["classification"][i]).strip().lower() or "physical"
        severity = _number(columns["severity_level"][i])
        hazard = _number(columns["hazard_probability"][i])
        brands = [_text_of(columns[n][i]) for n in ("brand_display_name", "brand_name")]
        text = " \n ".join(
            _text_of(columns[n][i])
            for n in ("title", "summary", "description", "analysis_text")
        ) + " \n " + " \n ".join(brands)  # fmt: skip
        defect = infer_defect_class(classification, text)
        classes[classification] += 1
        defects[defect] += 1
        assets[infer_asset_class(*brands, text)] += 1
        structural_hits = kw.count_hits(text, kw.STRUCTURAL_HAZARD_WORDS)
        if classification == "digital":
            flags["digital"] = True
            digital_defects[defect] += 1
        if defect == "digital_security":
            flags["security_sensitive"] = flags["urgent"] = True
        if structural_hits >= 2 or (structural_hits >= 1 and severity >= 0.75):
            flags["structural"] = True
        if severity >= 0.85:
            flags["severe"] = True
        if hazard >= 0.75 or severity >= 0.9:
            flags["urgent"] = True
        if kw.has_any(text, kw.DANGER_WORDS) and (severity >= 0.7 or structural_hits >= 2):
            flags["immediate_danger"] = True
        if kw.has_any(text, kw.SENSITIVE_OCCUPANCY_HAZARD_WORDS):
            flags["sensitive_occupancy"] = True
    defect_class = _vote(defects, DEFECT_CLASSES, "physical_safety")
    if digital_defects:
        defect_class = _vote(digital_defects, DEFECT_CLASSES, defect_class)
    return HazardProfile(
        classification=_vote(classes, _CLASSIFICATIONS, "physical"),
        defect_class=defect_class,
        asset_class=_vote(assets, ASSET_CLASSES, "general_site"),
        **flags,
    )


# ============================================================================ routing profile


@dataclass(frozen=True, slots=True)
class RoutingProfile:
    """How the router reads a case or a report (the stored ``subject_routing_profiles`` row).

    Parameters
    ----------
    classification : str, default "physical"
    defect_class : str, default "physical_safety"
        One of :data:`DEFECT_CLASSES`.
    defect_mode : str, default "standard"
        ``standard``, ``emergency`` (imminent, falling, collapse, urgent, critical) or
        ``abuse`` (digital fraud, scam, impersonation, fake).
    asset_class : str, default "general_site"
        One of :data:`ASSET_CLASSES`.
    jurisdiction_key : str
        Where the subject is (``country:ch/state:zuerich/city:adliswil``; ``""`` unknown).
    exposure_mode : str, default "localized"
        ``public_exposure``, ``user_exposure`` or ``localized``.
    severity_band, urgency_band : str, default "medium"
    structural, severe, urgent, immediate_danger, sensitive_occupancy : bool
        The hazard flags.
    hazard_mode : str, default "standard"
        ``standard``, ``urgent`` or ``emergency`` (:func:`hazard_mode`).
    """

    classification: str = "physical"
    defect_class: str = "physical_safety"
    defect_mode: str = "standard"
    asset_class: str = "general_site"
    jurisdiction_key: str = ""
    exposure_mode: str = "localized"
    severity_band: str = "medium"
    urgency_band: str = "medium"
    structural: bool = False
    severe: bool = False
    urgent: bool = False
    immediate_danger: bool = False
    sensitive_occupancy: bool = False
    hazard_mode: str = "standard"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("classification", _CLASSIFICATIONS),
            ("defect_class", DEFECT_CLASSES),
            ("defect_mode", DEFECT_MODES),
            ("asset_class", ASSET_CLASSES),
            ("exposure_mode", EXPOSURE_MODES),
            ("severity_band", SEVERITY_BANDS),
            ("urgency_band", URGENCY_BANDS),
            ("hazard_mode", HAZARD_MODES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise InvalidProfileError(
                    f"{name} must be one of {', '.join(allowed)}, got {value!r}"
                )

    @property
    def digital(self) -> bool:
        """Whether the defect class is a digital one."""
        return self.defect_class in DIGITAL_DEFECT_CLASSES

    def context(self) -> dict[str, Any]:
        """Return the flags as upstream's ``context_json``.

        Examples
        --------
        >>> RoutingProfile(structural=True).context()["structural"]
        True
        """
        return {
            "structural": self.structural,
            "severe": self.severe,
            "urgent": self.urgent,
            "immediate_danger": self.immediate_danger,
            "sensitive_occupancy": self.sensitive_occupancy,
            "hazard_mode": self.hazard_mode,
        }

    def to_record(self) -> dict[str, Any]:
        """Every field as a plain dict (the store's columns are these plus ``context_json``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RoutingProfile:
        """Build a profile from :meth:`to_record` output, or a stored row with ``context_json``.

        Unknown keys are ignored; flags missing from the record come from ``context_json``.

        Examples
        --------
        >>> p = RoutingProfile(severe=True, hazard_mode="urgent")
        >>> RoutingProfile.from_record(p.to_record()) == p
        True
        """
        context = record.get("context_json") or {}
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = record.get(f.name, context.get(f.name))
            if value is not None:
                values[f.name] = value
        return cls(**values)


def routing_profile(
    texts: Iterable[str],
    *,
    classification: str = "physical",
    severity: float = 0.0,
    urgency: float | None = None,
    subject: str = "case",
    jurisdiction_key: str = "",
) -> RoutingProfile:
    """Read a case (or a solo report) as the router needs it.

    Parameters
    ----------
    texts : iterable of str
        A case: its title, summary and uncertainty notes and each linked report's title and
        summary. A report: every analysis's title, summary, description and analysis text,
        the report description and source URL.
    classification : str, default "physical"
        ``physical`` or ``digital``.
    severity : float, default 0
        A case: the larger of its severity score and its reports' highest severity. A
        report: its analyses' highest severity.
    urgency : float, optional
        A case's urgency score (default: ``severity``).
    subject : {"case", "report"}
        The report variant reads slightly different word lists (*support* is structural,
        *load-bearing* an immediate danger, *children* and *commuter* a sensitive occupancy)
        and counts as urgent at severity >= 0.7 or with an urgent, danger, hazard or critical
        word; a case is urgent at urgency >= 0.7.
    jurisdiction_key : str
        Where the subject is, when known.

    Returns
    -------
    RoutingProfile

    Raises
    ------
    InvalidProfileError
        For an unknown subject or classification.

    Examples
    --------
    >>> p = routing_profile(
    ...     ["Structural crack in load-bearing metro support column",
    ...      "Immediate danger to passengers near a transit platform."],
    ...     severity=0.95, subject="report")
    >>> p.asset_class, p.hazard_mode, p.exposure_mode
    ('transit_station', 'emergency', 'public_exposure')
    """
    if subject not in SUBJECT_KINDS:
        raise InvalidProfileError(
            f"subject must be one of {', '.join(SUBJECT_KINDS)}, got {subject!r}"
        )
    cls = classification.strip().lower() or "physical"
    if cls not in _CLASSIFICATIONS:
        raise InvalidProfileError(
            f"classification must be one of {', '.join(_CLASSIFICATIONS)}, got {classification!r}"
        )
    text = " \n ".join(t for t in texts if t).lower()
    severity = min(1.0, max(0.0, float(severity)))
    urgency_value = severity if urgency is None else min(1.0, max(0.0, float(urgency)))
    defect = infer_defect_class(cls, text)
    if cls == "digital" and kw.has_any(text, kw.ABUSE_WORDS):
        mode = "abuse"
    elif kw.has_any(text, kw.EMERGENCY_WORDS):
        mode = "emergency"
    else:
        mode = "standard"
    if kw.has_any(text, kw.PUBLIC_EXPOSURE_WORDS):
        exposure = "public_exposure"
    elif kw.has_any(text, kw.USER_EXPOSURE_WORDS):
        exposure = "user_exposure"
    else:
        exposure = "localized"
    report = subject == "report"
    structural = kw.has_any(text, kw.REPORT_STRUCTURAL_WORDS if report else kw.STRUCTURAL_WORDS)
    danger = kw.has_any(
        text, kw.REPORT_IMMEDIATE_DANGER_WORDS if report else kw.IMMEDIATE_DANGER_WORDS
    )
    sensitive = kw.has_any(
        text, kw.REPORT_SENSITIVE_OCCUPANCY_WORDS if report else kw.SENSITIVE_OCCUPANCY_WORDS
    )
    severe = severity >= SEVERE_AT
    if report:
        urgent = severity >= URGENT_AT or kw.has_any(text, kw.REPORT_URGENT_WORDS)
    else:
        urgent = urgency_value >= URGENT_AT
    return RoutingProfile(
        classification=cls,
        defect_class=defect,
        defect_mode=mode,
        asset_class=infer_asset_class(text),
        jurisdiction_key=jurisdiction_key.strip(),
        exposure_mode=exposure,
        severity_band=severity_band(severity),
        urgency_band=urgency_band(urgency_value, text),
        structural=structural,
        severe=severe,
        urgent=urgent,
        immediate_danger=danger,
        sensitive_occupancy=sensitive,
        hazard_mode=hazard_mode(immediate_danger=danger, severe=severe, urgent=urgent),
    )
