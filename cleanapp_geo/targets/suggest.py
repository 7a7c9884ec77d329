"""Suggesting targets from stored sources, and the interface of network discovery (pure).

:func:`suggest_targets` combines three stored sources (the upstream sources, plus brands):

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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    BRAND_NAME,
    INFERRED_CONTACT_EMAILS,
    LANGUAGE,
    SEQ,
)
from cleanapp_geo.targets.contacts import (
    brand_key,
    is_placeholder_email,
    normalize_email,
    parse_email_list,
)
from cleanapp_geo.targets.merge import visible_targets
from cleanapp_geo.targets.target import (
    AREA_CONTACT,
    BRAND_CONTACT,
    INFERRED_CONTACT,
    EscalationTarget,
)

__all__ = [
    "AREA_CONTACT_CONFIDENCE",
    "AREA_CONTACT_RATIONALE",
    "DEFAULT_SUGGESTION_LIMIT",
    "INFERRED_CONTACT_CONFIDENCE",
    "INFERRED_CONTACT_RATIONALE",
    "ContactDiscoveryProvider",
    "DiscoveryRequest",
    "area_contact_targets",
    "brand_contact_targets",
    "inferred_contact_targets",
    "report_brands",
    "suggest_targets",
    "suggest_targets_from_records",
    "targets_frame",
]

DEFAULT_SUGGESTION_LIMIT: Final = 8
AREA_CONTACT_CONFIDENCE: Final = 0.9
AREA_CONTACT_RATIONALE: Final = "Area contact mapped from selected geometry."
INFERRED_CONTACT_CONFIDENCE: Final = 0.6
INFERRED_CONTACT_RATIONALE: Final = "Inferred contact found in report analysis."
BRAND_CONTACT_BASE_CONFIDENCE: Final = 0.7
BRAND_CONTACT_SHARE_BONUS: Final = 0.15
#: A website-only target scores this much below the emails of the same source (upstream).
WEBSITE_CONFIDENCE_PENALTY: Final = 0.08

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
        ``area_id`` -- the frame :func:`cleanapp_geo.io.read.read_areas` returns.

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
    return _area_targets(zip(names, ids, areas["emails"].tolist(), strict=True))


def _area_targets(areas: Iterable[tuple[str, Any, Any]]) -> list[EscalationTarget]:
    """:func:`area_contact_targets` of ``(name, area_id or None, emails)`` triples."""
    out: list[EscalationTarget] = []
    for name, area_id, emails in areas:
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
                    target_source=AREA_CONTACT,
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
        row of the reports (:func:`cleanapp_geo.io.read.read_analyses`, all languages).

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
    return _inferred_targets(seqs, texts)


def _inferred_targets(seqs: Sequence[int], texts: Sequence[str]) -> list[EscalationTarget]:
    """:func:`inferred_contact_targets` of the seqs and texts (``""`` for none)."""
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
            target_source=INFERRED_CONTACT,
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
    return _brand_targets(
        seqs,
        names.fillna("").astype(str).tolist(),
        displays.fillna("").astype(str).tolist(),
        [{str(k): v for k, v in row.items()} for row in brand_contacts.to_dict("records")],
    )


def _brand_targets(
    seqs: Sequence[int],
    names: Sequence[str],
    displays: Sequence[str],
    brand_contacts: Sequence[Mapping[str, Any]],
) -> list[EscalationTarget]:
    """:func:`brand_contact_targets` of one brand per report and the contact records."""
    if not seqs or not brand_contacts:
        return []
    naming: dict[str, set[int]] = {}
    shown: dict[str, dict[str, int]] = {}
    keys: dict[str, str] = {}  # brand_key of each distinct name
    for seq, name, display in zip(seqs, names, displays, strict=True):
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
    n_reports = len(seqs)
    out: list[EscalationTarget] = []
    for row in brand_contacts:
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
            "target_source": BRAND_CONTACT,
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
        analysis row of the reports (:func:`cleanapp_geo.io.read.read_analyses`).

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
    seqs, names, displays = _report_brands(
        analyses[SEQ].tolist(),
        analyses[LANGUAGE].tolist(),
        analyses[BRAND_NAME].tolist(),
        analyses[BRAND_DISPLAY_NAME].tolist(),
    )
    return pd.DataFrame(
        {
            SEQ: pd.Series(seqs, dtype=np.int64),
            BRAND_NAME: pd.Series(names, dtype=str),
            BRAND_DISPLAY_NAME: pd.Series(displays, dtype=str),
        }
    )


def _report_brands(
    seqs: Sequence[int], languages: Sequence[Any], names: Sequence[str], displays: Sequence[str]
) -> tuple[list[int], list[str], list[str]]:
    """:func:`report_brands` of the analysis columns: seqs (sorted), names, display names."""
    best: dict[int, tuple[tuple[bool, bool, str], str, str]] = {}
    for seq, language, name, display in zip(seqs, languages, names, displays, strict=True):
        rank = (name == "" and display == "", str(language).lower() != "en", str(language))
        seen = best.get(seq)
        if seen is None or rank < seen[0]:
            best[seq] = (rank, name, display)
    chosen = sorted(best)
    return chosen, [best[s][1] for s in chosen], [best[s][2] for s in chosen]


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
        (:func:`cleanapp_geo.io.read.read_areas`).
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


def suggest_targets_from_records(
    analyses: Sequence[Sequence[Any]],
    *,
    areas: Sequence[Sequence[Any]] = (),
    brand_contacts: Sequence[Mapping[str, Any]] = (),
    limit: int = DEFAULT_SUGGESTION_LIMIT,
) -> tuple[EscalationTarget, ...]:
    """:func:`suggest_targets` of plain rows: the same targets without building frames.

    For the few reports of a small scope, building the DataFrames :func:`suggest_targets`
    takes cost more than the suggestion; this reads the same values from tuples and gives
    the same targets in the same order as ``suggest_targets(report_brands(analyses),
    areas=areas, brand_contacts=brand_contacts, analyses=analyses, limit=limit)`` of the
    frames of these rows.

    Parameters
    ----------
    analyses : sequence of tuple
        Every analysis row of the reports as ``(seq, language, brand_name,
        brand_display_name, inferred_contact_emails)``; names are str (``""`` for none),
        ``inferred_contact_emails`` a str or None.
    areas : sequence of tuple
        ``(area_id, name, description, emails)`` of the areas intersecting the scope
        (:func:`cleanapp_geo.io.read.read_area_contact_rows`), ``emails`` a list of str.
    brand_contacts : sequence of mapping
        Brand contact records with str values and an ``emails`` list
        (:func:`cleanapp_geo.io.contacts.read_brand_contact_records`).
    limit : int, default 8
        Maximum number of targets.

    Returns
    -------
    tuple of EscalationTarget
        As :func:`suggest_targets`.

    Examples
    --------
    >>> [t.email for t in suggest_targets_from_records(
    ...     [(1, "en", "", "", "ops@acme.com")], areas=[(3, "Adliswil", "", ["bau@adliswil.ch"])])]
    ['bau@adliswil.ch']
    """
    seqs = [int(row[0]) for row in analyses]
    report_seqs, names, displays = _report_brands(
        seqs,
        [row[1] for row in analyses],
        [row[2] for row in analyses],
        [row[3] for row in analyses],
    )
    candidates = [
        *_area_targets((str(row[1]), row[0], row[3]) for row in areas),
        *_brand_targets(report_seqs, names, displays, brand_contacts),
        *_inferred_targets(seqs, [row[4] or "" for row in analyses]),
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
    defect_class, asset_class : str
        The hazard profile's classes (``physical_structural``, ``school``, ...); empty:
        unknown (authority rules then fall back to ``general_defect``/``general_site``).
    country_code, state, city : str
        The jurisdiction when already known (else a provider may reverse-geocode).
    websites : tuple of str
        Organisation websites to crawl (besides those of ``existing``).
    """

    longitude: float | None = None
    latitude: float | None = None
    candidate_names: tuple[str, ...] = ()
    existing: tuple[EscalationTarget, ...] = field(default=())
    classification: str = "physical"
    limit: int = DEFAULT_SUGGESTION_LIMIT
    budget_s: float = 4.0
    defect_class: str = ""
    asset_class: str = ""
    country_code: str = ""
    state: str = ""
    city: str = ""
    websites: tuple[str, ...] = ()


@runtime_checkable
class ContactDiscoveryProvider(Protocol):
    """A pluggable source of contacts found outside the store (interface only).

    Implementations live in :mod:`cleanapp_geo.discovery` (an authority directory,
    OpenStreetMap, a website crawler); they respect their budget and the sources' terms of
    use, and return targets with ``target_source``, ``source_url``, ``evidence_text``,
    ``verification_level`` and ``confidence_score`` set.
    :func:`cleanapp_geo.discovery.discover_contacts` runs them; feed the result to
    :func:`suggest_targets` through ``existing``. This module never touches the network.
    """

    @property
    def name(self) -> str:
        """Short provider name, used as the ``target_source`` prefix (``osm``, ...)."""
        ...

    def discover(self, request: DiscoveryRequest) -> Sequence[EscalationTarget]:
        """Return contacts for the request (possibly empty; never raises on no result)."""
        ...
