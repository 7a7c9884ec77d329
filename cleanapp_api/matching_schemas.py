"""Wire types of automatic matching and of the phone routes (msgspec Structs, all *new*).

``POST /reports`` (ingest: one report in the shape of :class:`~cleanapp_api.schemas.
ReportWithAnalysis`), the suggestion routes (``/cases/{id}/suggestions``,
``/cases/suggestions``), ``GET /cases/nearby`` and ``POST /reports/by-geometry``. The same
conventions as :mod:`cleanapp_api.schemas`: snake_case names, lists always arrays, RFC 3339
UTC times, ``null`` accepted for every optional request field, unknown fields ignored.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cleanapp_api.schemas import CaseDetail

__all__ = [
    "ByGeometryRequest",
    "GroupSuggestionDecisionResponse",
    "GroupSuggestionJSON",
    "GroupSuggestionsResponse",
    "IngestAnalysisJSON",
    "IngestCaseJSON",
    "IngestReportJSON",
    "IngestReportRequest",
    "IngestResponse",
    "NearbyCase",
    "NearbyCasesResponse",
    "SuggestionDecisionRequest",
    "SuggestionDecisionResponse",
    "SuggestionJSON",
    "SuggestionsResponse",
]


# =========================================================================== ingest


class IngestReportJSON(msgspec.Struct, kw_only=True):
    """The ``report`` of an ingested report; other upstream keys (``x``, ``image``...) ignored.

    ``seq`` is required (the stable key of a report); ``timestamp`` is RFC 3339 with a zone;
    ``id`` is the reporter id; ``public_id`` is drawn by the store when absent.
    """

    seq: int | None = None
    public_id: str | None = None
    timestamp: str | None = None
    id: str | None = None
    team: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    description: str | None = None


class IngestAnalysisJSON(msgspec.Struct, kw_only=True):
    """One analysis of an ingested report (one per language; defaults as the store's)."""

    language: str | None = None
    source: str | None = None
    analysis_text: str | None = None
    title: str | None = None
    description: str | None = None
    brand_name: str | None = None
    brand_display_name: str | None = None
    litter_probability: float | None = None
    hazard_probability: float | None = None
    digital_bug_probability: float | None = None
    severity_level: float | None = None
    summary: str | None = None
    classification: str | None = None
    inferred_contact_emails: str | None = None
    is_valid: bool | None = None


class IngestReportRequest(msgspec.Struct, kw_only=True):
    """``POST /reports``: ``{"report": {...}, "analysis": [...]}``."""

    report: IngestReportJSON | None = None
    analysis: list[IngestAnalysisJSON] | None = None


class IngestCaseJSON(msgspec.Struct, kw_only=True):
    """What happened to an ingested report, for its reporter.

    ``action``: ``attached`` (it joined ``case_id``; ``reopened`` when that case was
    resolved or closed and reopened itself), ``suggested`` (a person will decide; the
    first suggested case is named) or ``none`` (no case nearby matched: ``case_id``,
    ``title`` and ``status`` are null). ``report_count`` is the case's linked reports.
    """

    case_id: str | None
    title: str | None
    status: str | None
    report_count: int
    action: str
    reopened: bool
    suggestion_count: int


class IngestResponse(msgspec.Struct, kw_only=True):
    """``POST /reports`` response; ``stored`` is false when the report was already stored."""

    seq: int
    stored: bool
    case: IngestCaseJSON


# =========================================================================== suggestions


class SuggestionJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A suggestion of automatic matching: ``kind`` ``attach`` or ``reopen``.

    ``status``: ``open``, ``accepted``, ``rejected`` or ``superseded`` (another case took
    the report). ``band``, ``probability``, ``case_score``, ``evidence_score`` and
    ``evidence_seq`` are the match's (:class:`cleanapp_geo.ingest.ReportMatch`).
    """

    id: int
    case_id: str
    case_title: str
    case_status: str
    seq: int
    report_title: str
    latitude: float
    longitude: float
    kind: str
    status: str
    band: str
    probability: float
    case_score: float
    evidence_score: float
    evidence_seq: int | None = None
    match_reasons: list[str]
    created_at: str
    decided_at: str | None = None
    decided_by_user_id: str | None = None
    decision_note: str


class SuggestionsResponse(msgspec.Struct, kw_only=True):
    """A page of suggestions; ``next_cursor`` is null on the last page."""

    suggestions: list[SuggestionJSON]
    next_cursor: str | None


class SuggestionDecisionRequest(msgspec.Struct, kw_only=True):
    """Body of accept/reject (optional): a ``note`` kept with the decision."""

    note: str | None = None


class SuggestionDecisionResponse(msgspec.Struct, kw_only=True):
    """The decided suggestion and the case's detail after it."""

    suggestion: SuggestionJSON
    detail: CaseDetail


class GroupSuggestionJSON(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A new-case suggestion: reports without a case that re-matching found to be one incident.

    ``title`` is the group's (its most severe report's); ``confidence`` and ``rationale``
    the grouping's. ``status``: ``open``, ``accepted`` (``case_id`` the case created;
    ``left_out_seqs`` reports that had joined a case meanwhile), ``rejected`` or
    ``superseded`` (a case took some of its reports).
    """

    id: int
    report_seqs: list[int]
    title: str
    status: str
    confidence: float
    rationale: list[str]
    created_at: str
    decided_at: str | None = None
    decided_by_user_id: str | None = None
    decision_note: str | None = None
    case_id: str | None = None
    left_out_seqs: list[int] | None = None


class GroupSuggestionsResponse(msgspec.Struct, kw_only=True):
    """A page of new-case suggestions; ``next_cursor`` is null on the last page."""

    group_suggestions: list[GroupSuggestionJSON]
    next_cursor: str | None


class GroupSuggestionDecisionResponse(msgspec.Struct, kw_only=True):
    """The decided new-case suggestion and, when accepted, the created case's detail."""

    suggestion: GroupSuggestionJSON
    detail: CaseDetail | None


# =========================================================================== phones


class NearbyCase(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A case near a point (``GET /cases/nearby``): the few fields a phone lists."""

    case_id: str
    slug: str
    title: str
    status: str
    classification: str
    severity_score: float
    urgency_score: float
    linked_report_count: int
    distance_m: float
    anchor_lat: float | None = None
    anchor_lng: float | None = None
    updated_at: str


class NearbyCasesResponse(msgspec.Struct, kw_only=True):
    """Nearest first; ``next_cursor`` is null on the last page."""

    cases: list[NearbyCase]
    next_cursor: str | None


class ByGeometryRequest(msgspec.Struct, kw_only=True):
    """``POST /reports/by-geometry``: the scope, classification and ``n`` of an analysis."""

    geometry: dict[str, Any] | None = None
    classification: str | None = None
    n: int | None = None
