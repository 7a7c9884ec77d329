"""Escalation-target suggestion for analysed clusters and new cases.

:func:`suggest_targets` is the single place the analysis routes (``POST /clusters/analyze``,
``POST /clusters/from-report``) and case creation ask for suggested targets. It combines,
through :func:`cleanapp_geo.io.contacts.suggest_stored_targets`:

* the consented contacts of mapped areas intersecting the scope (PostGIS); a seed-report
  cluster without a scope polygon uses its report locations, so area contacts are found
  there too (upstream never looked areas up for ``from-report``);
* the contacts of the brands the reports name (``brand_contacts``);
* inferred contacts from every analysis of the reports -- dropped when a better target
  exists.

:func:`suggest_targets_for_details` is the same suggestion for reports whose details
(every analysis row, :func:`cleanapp_api.db.repositories.report_details`) the analysis
routes have loaded anyway: it reuses those analyses instead of reading them again, so only
the areas and the brand contacts are queried.

:func:`target_rows` normalises and merges targets given by a client (or suggested) into
column values of ``case_escalation_targets`` with the one key scheme of
:func:`cleanapp_geo.targets.target_key` as ``endpoint_key``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa

import cleanapp_geo as cg
from cleanapp_api.schemas import ReportWithAnalysis
from cleanapp_geo.io.contacts import (
    read_area_contact_rows,
    read_brand_contact_records,
    suggest_stored_targets,
)
from cleanapp_geo.targets import EscalationTarget, merge_targets, normalize_target

__all__ = [
    "SUGGESTED_TARGETS_LIMIT",
    "suggest_targets",
    "suggest_targets_for_details",
    "target_rows",
]

#: Upstream's limit on suggested targets per analysis.
SUGGESTED_TARGETS_LIMIT = 8


def suggest_targets(
    conn: sa.Connection,
    *,
    reports: gpd.GeoDataFrame,
    area: shapely.Geometry | None,
    limit: int = SUGGESTED_TARGETS_LIMIT,
) -> list[dict[str, Any]]:
    """Suggest escalation targets for a cluster.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store (area and brand contacts live there).
    reports : geopandas.GeoDataFrame
        The analysed reports (a report frame).
    area : shapely.Geometry, optional
        The scope: a (multi)polygon, or None for a seed-report cluster without one (the
        report locations are used for the area lookup then).
    limit : int, default 8
        Largest number of targets.

    Returns
    -------
    list of dict
        Target objects with the wire fields of ``EscalationTarget`` (without ``id``,
        ``case_id``, ``created_at`` and ``cooldown_until``), best first.
    """
    seqs = reports["seq"].to_numpy(dtype=np.int64).tolist() if len(reports) else []
    lookup: shapely.Geometry | None = area
    if lookup is None and len(reports):
        points = shapely.get_coordinates(reports.geometry.to_numpy())
        lookup = shapely.MultiPoint(points) if len(points) else None
    if lookup is None and not seqs:
        return []
    targets = suggest_stored_targets(conn, lookup, seqs, limit=limit)
    return [target.to_record() for target in targets]


def suggest_targets_for_details(
    conn: sa.Connection,
    *,
    details: Sequence[ReportWithAnalysis],
    area: shapely.Geometry,
    limit: int = SUGGESTED_TARGETS_LIMIT,
) -> list[dict[str, Any]]:
    """Suggest escalation targets for analysed reports whose details are loaded.

    The same suggestion as :func:`suggest_targets` (through
    :func:`cleanapp_geo.targets.suggest_targets`, with the brand of each report chosen by
    :func:`cleanapp_geo.targets.report_brands`), but the analyses come from ``details``:
    only the areas intersecting ``area`` and the contacts of the named brands are read.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The store.
    details : sequence of ReportWithAnalysis
        The analysed reports with every analysis row.
    area : shapely.Geometry
        The scope (a (multi)polygon).
    limit : int, default 8
        Largest number of targets.

    Returns
    -------
    list of dict
        Target objects as :func:`suggest_targets` returns them, best first.
    """
    rows = [
        (a.seq, a.language, a.brand_name, a.brand_display_name, a.inferred_contact_emails)
        for item in details
        for a in item.analysis
    ]
    brands = {row[2] for row in rows} | {row[3] for row in rows}
    brands.discard("")
    # Plain rows, not frames: for a small scope the DataFrames cost more than the
    # suggestion (same targets, tests/geo/test_targets_records.py).
    targets = cg.suggest_targets_from_records(
        rows,
        areas=read_area_contact_rows(conn, area),
        brand_contacts=read_brand_contact_records(conn, brands),
        limit=limit,
    )
    return [target.to_record() for target in targets]


def target_rows(targets: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Normalise and merge targets into ``case_escalation_targets`` column values.

    Each mapping holds (some of) the target fields of ``EscalationTarget``; ``None`` means unset.
    Targets are normalised (:func:`cleanapp_geo.targets.normalize_target`: email and phone
    validation, URL normalisation, channel derivation, ``endpoint_key``,
    ``organization_key``, decision scope, verification and attribution), merged by key and
    ordered best first; targets without any contact method are dropped. ``cooldown_until``
    is kept from the first target of each key that has one.

    Parameters
    ----------
    targets : iterable of mapping
        Client-supplied or suggested targets.

    Returns
    -------
    list of dict
        Column values (without ``id``, ``case_id`` and ``created_at``).

    Examples
    --------
    >>> rows = target_rows([{"email": " Ops@Town.GOV ", "confidence_score": 0.8},
    ...                     {"email": "ops@town.gov", "rationale": "Area contact."}])
    >>> [(r["email"], r["endpoint_key"], r["rationale"]) for r in rows]
    [('ops@town.gov', 'email:ops@town.gov', 'Area contact.')]
    """
    listed = list(targets)
    parsed = [EscalationTarget.from_record(t) for t in listed]
    merged = merge_targets(parsed)
    cooldowns: dict[str, Any] = {}
    for raw, target in zip(listed, parsed, strict=True):
        normalised = normalize_target(target)
        if normalised is not None and raw.get("cooldown_until") is not None:
            cooldowns.setdefault(normalised.endpoint_key, raw["cooldown_until"])
    return [{**t.to_record(), "cooldown_until": cooldowns.get(t.endpoint_key)} for t in merged]
