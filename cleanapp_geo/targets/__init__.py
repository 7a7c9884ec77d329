"""Escalation targets: who can fix the problem of a case (pure, no I/O).

An :class:`EscalationTarget` is someone who can fix the problem of a case: an email inbox, a
phone line, a website contact form or a social profile, with where it came from
(``target_source``, ``verification_level``, ``evidence_text``), how sure we are
(``confidence_score``) and why it was suggested (``rationale``). Field names are the upstream
wire names (``docs/api.md``).

One idea a module:

=====================================  ===================================================
module                                 what
=====================================  ===================================================
:mod:`~cleanapp_geo.targets.contacts`  email, phone, URL and social normalisers; name keys
:mod:`~cleanapp_geo.targets.target`    the vocabulary (channels, scopes, eligibilities,
                                       ...), the value type, :func:`target_key`,
                                       :func:`normalize_target`, :func:`validate_target`
:mod:`~cleanapp_geo.targets.merge`     :func:`merge_targets`, :func:`visible_targets`
:mod:`~cleanapp_geo.targets.suggest`   :func:`suggest_targets` from stored sources; the
                                       discovery interface
=====================================  ===================================================

Every public name is importable from :mod:`cleanapp_geo.targets` itself.
"""

from __future__ import annotations

from cleanapp_geo.targets.contacts import (
    PLACEHOLDER_DOMAINS,
    PLACEHOLDER_LOCAL_PARTS,
    brand_key,
    canonical_url,
    email_matches_website_or_organization,
    is_government_host,
    is_placeholder_email,
    is_published_phone,
    is_valid_email,
    normalize_cc_emails,
    normalize_email,
    normalize_phone,
    normalize_social,
    normalize_url,
    organization_key,
    parse_email_list,
)
from cleanapp_geo.targets.merge import merge_targets, visible_targets
from cleanapp_geo.targets.suggest import (
    AREA_CONTACT_CONFIDENCE,
    AREA_CONTACT_RATIONALE,
    DEFAULT_SUGGESTION_LIMIT,
    INFERRED_CONTACT_CONFIDENCE,
    INFERRED_CONTACT_RATIONALE,
    ContactDiscoveryProvider,
    DiscoveryRequest,
    area_contact_targets,
    brand_contact_targets,
    inferred_contact_targets,
    report_brands,
    suggest_targets,
    suggest_targets_from_records,
    targets_frame,
)
from cleanapp_geo.targets.target import (
    AREA_CONTACT,
    ATTRIBUTION_CLASSES,
    BRAND_CONTACT,
    CHANNEL_PREFERENCE,
    CHANNELS,
    CONTACT_FIELDS,
    DECISION_SCOPES,
    EXECUTION_MODES,
    INFERRED_CONTACT,
    NOTIFY_TIERS,
    ROLE_DECISION_SCOPES,
    SCORE_FIELDS,
    SEND_ELIGIBILITIES,
    EscalationTarget,
    InvalidTargetError,
    attribution_class_of,
    infer_verification_level,
    normalize_target,
    target_key,
    validate_target,
)

__all__ = [
    "AREA_CONTACT",
    "AREA_CONTACT_CONFIDENCE",
    "AREA_CONTACT_RATIONALE",
    "ATTRIBUTION_CLASSES",
    "BRAND_CONTACT",
    "CHANNELS",
    "CHANNEL_PREFERENCE",
    "CONTACT_FIELDS",
    "DECISION_SCOPES",
    "DEFAULT_SUGGESTION_LIMIT",
    "EXECUTION_MODES",
    "INFERRED_CONTACT",
    "INFERRED_CONTACT_CONFIDENCE",
    "INFERRED_CONTACT_RATIONALE",
    "NOTIFY_TIERS",
    "PLACEHOLDER_DOMAINS",
    "PLACEHOLDER_LOCAL_PARTS",
    "ROLE_DECISION_SCOPES",
    "SCORE_FIELDS",
    "SEND_ELIGIBILITIES",
    "ContactDiscoveryProvider",
    "DiscoveryRequest",
    "EscalationTarget",
    "InvalidTargetError",
    "area_contact_targets",
    "attribution_class_of",
    "brand_contact_targets",
    "brand_key",
    "canonical_url",
    "email_matches_website_or_organization",
    "infer_verification_level",
    "inferred_contact_targets",
    "is_government_host",
    "is_placeholder_email",
    "is_published_phone",
    "is_valid_email",
    "merge_targets",
    "normalize_cc_emails",
    "normalize_email",
    "normalize_phone",
    "normalize_social",
    "normalize_target",
    "normalize_url",
    "organization_key",
    "parse_email_list",
    "report_brands",
    "suggest_targets",
    "suggest_targets_from_records",
    "target_key",
    "targets_frame",
    "validate_target",
    "visible_targets",
]
