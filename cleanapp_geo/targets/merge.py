"""Merging targets that share a key, and the visible subset of a case's targets (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, fields
from typing import Any, Final

from cleanapp_geo.targets.target import (
    CHANNEL_PREFERENCE,
    CHANNEL_RANK,
    INFERRED_CONTACT,
    EscalationTarget,
    normalize_target,
)

__all__ = ["merge_targets", "visible_targets"]

# ============================================================================ merging


def _join_text(first: str, second: str) -> str:
    if not second or second in first:
        return first
    if not first or first in second:
        return second
    return f"{first} | {second}"


_URL_FIELDS: Final = frozenset({"website", "contact_url", "source_url"})


def _combine(
    primary: EscalationTarget, other: EscalationTarget, *, fill: bool, fill_urls: bool
) -> EscalationTarget:
    values: dict[str, Any] = {}
    for f in fields(EscalationTarget):
        mine, theirs = getattr(primary, f.name), getattr(other, f.name)
        if f.name in ("rationale", "evidence_text"):
            values[f.name] = _join_text(mine, theirs)
        elif f.name == "actionability_score":
            values[f.name] = max(mine, theirs)
        elif f.name == "notify_tier":
            positive = [v for v in (mine, theirs) if v > 0]
            values[f.name] = min(positive) if positive else mine
        elif not fill or (f.name in _URL_FIELDS and not fill_urls):
            values[f.name] = mine
        elif isinstance(mine, str):
            values[f.name] = mine or theirs
        elif isinstance(mine, float):
            values[f.name] = mine if mine else theirs
        else:
            values[f.name] = mine
    return EscalationTarget(**values)


def _merge_pair(primary: EscalationTarget, other: EscalationTarget) -> EscalationTarget:
    """Merge two normalised targets with the same key; ``primary`` has the higher confidence.

    The merged target is normalised again (so derived fields such as ``source_url`` follow
    the filled values). Should filling the other's URLs make the primary's email fail the
    website consistency check -- the key would change -- the URLs are not taken over.
    """
    for fill, fill_urls in ((True, True), (True, False), (False, False)):
        merged = normalize_target(_combine(primary, other, fill=fill, fill_urls=fill_urls))
        if merged is not None and merged.endpoint_key == primary.endpoint_key:
            return merged
    return primary


def _order(target: EscalationTarget) -> tuple[float, int, str, str, str]:
    return (
        -target.confidence_score,
        CHANNEL_RANK.get(target.channel, len(CHANNEL_PREFERENCE)),
        target.organization.casefold(),
        target.organization,
        target.endpoint_key,
    )


def merge_targets(
    targets: Iterable[EscalationTarget], *, limit: int | None = None
) -> tuple[EscalationTarget, ...]:
    """Normalise, de-duplicate by :func:`target_key`, merge and order targets.

    Two targets with the same key merge into one: the one with the higher confidence (on
    ties, the first by content, never by input order) is primary and its empty fields are
    filled from the other;
    rationales and evidence are joined with `` | `` unless one contains the other;
    actionability takes the maximum and the notify tier the smallest. Targets that do not
    normalise are dropped.

    Parameters
    ----------
    targets : iterable of EscalationTarget
        In any order.
    limit : int, optional
        Keep at most this many.

    Returns
    -------
    tuple of EscalationTarget
        Ordered by confidence (descending), channel (email, phone, social, website),
        organisation (case-insensitive), then key -- a total, deterministic order.

    Examples
    --------
    >>> merged = merge_targets([
    ...     EscalationTarget(organization="Town Hall", email="info@town.gov",
    ...                      target_source="inferred_contact", confidence_score=0.55),
    ...     EscalationTarget(organization="Town Hall", email="info@town.gov",
    ...                      contact_url="https://town.gov/contact", confidence_score=0.81),
    ... ])
    >>> len(merged), merged[0].confidence_score, merged[0].contact_url
    (1, 0.81, 'https://town.gov/contact')
    """
    by_key: dict[str, list[EscalationTarget]] = {}
    for raw in targets:
        target = normalize_target(raw)
        if target is None or not target.endpoint_key:
            continue
        by_key.setdefault(target.endpoint_key, []).append(target)
    merged: dict[str, EscalationTarget] = {}
    for key, group in by_key.items():
        # Highest confidence first; ties by content, so the input order never matters (a
        # single target needs no order: its content key, a deep copy, is not built).
        if len(group) > 1:
            group.sort(key=lambda t: (-t.confidence_score, repr(astuple(t))))
        primary = group[0]
        for other in group[1:]:
            primary = _merge_pair(primary, other)
        merged[key] = primary
    ordered = sorted(merged.values(), key=_order)
    return tuple(ordered if limit is None else ordered[: max(0, limit)])


def _is_preferred(target: EscalationTarget) -> bool:
    return target.target_source != INFERRED_CONTACT and bool(
        target.email or target.phone or target.website or target.contact_url
    )


def visible_targets(
    targets: Iterable[EscalationTarget], *, limit: int | None = None
) -> tuple[EscalationTarget, ...]:
    """Return the targets worth showing: merged, inferred contacts only as a last resort.

    :func:`merge_targets`, then -- when any target that is not an ``inferred_contact`` has an
    email, phone, website or contact URL -- every ``inferred_contact`` target is dropped
    (upstream ``filterVisibleCaseTargets``, T16).

    Parameters
    ----------
    targets : iterable of EscalationTarget
        Candidate targets.
    limit : int, optional
        Keep at most this many (after the filter).

    Returns
    -------
    tuple of EscalationTarget
        In :func:`merge_targets` order.

    Examples
    --------
    >>> [t.email for t in visible_targets([
    ...     EscalationTarget(email="hausdienst@schule-adliswil.ch",
    ...                      target_source="area_contact", confidence_score=0.9),
    ...     EscalationTarget(email="support@buildingmanagement.com",
    ...                      target_source="inferred_contact", confidence_score=0.6),
    ... ])]
    ['hausdienst@schule-adliswil.ch']
    """
    merged = merge_targets(targets)
    if any(_is_preferred(t) for t in merged):
        merged = tuple(t for t in merged if t.target_source != INFERRED_CONTACT)
    return merged if limit is None else merged[: max(0, limit)]
