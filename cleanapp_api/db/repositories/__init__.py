"""All SQL of the case feature: SQLAlchemy Core statements with bound parameters only.

Every function takes an open :class:`sqlalchemy.Connection`; the caller (the services in
:mod:`cleanapp_api.services`) owns the transaction, so one mutation = one transaction that
takes the locks, re-reads what it needs, writes, recomputes aggregates, writes the audit
event and reloads the detail before committing.

One module a concern: :mod:`.locks` (advisory locks), :mod:`.reports` (report states and
details), :mod:`.candidates` (cases a cluster may match), :mod:`.writes` (case writes,
aggregates, merges) and :mod:`.reads` (the case detail). Rows become wire objects through
the mappers next to the schemas (:mod:`cleanapp_api.mappers`); reads that return wire
objects build them directly from rows (no intermediate frames), which keeps large analysis
responses cheap.

Concurrency: see :mod:`cleanapp_api.db.repositories.locks`.
"""

from __future__ import annotations

from cleanapp_api.db.repositories._shared import CASE_ID_PATTERN, bounds_of
from cleanapp_api.db.repositories.candidates import candidate_case_records
from cleanapp_api.db.repositories.locks import (
    advisory_lock_key,
    grown_bounds,
    lock_case_rows,
    lock_scope,
    take_advisory_lock,
)
from cleanapp_api.db.repositories.reads import case_detail, cases_for_report
from cleanapp_api.db.repositories.reports import ReportState, report_details, report_states
from cleanapp_api.db.repositories.writes import (
    find_snapshot,
    insert_audit,
    insert_case,
    insert_saved_cluster,
    insert_targets,
    link_cluster,
    link_reports,
    merge_case_into,
    recompute_aggregates,
    recompute_many,
    target_key,
    update_status,
)
from cleanapp_api.mappers import action_from_row, delivery_from_row

__all__ = [
    "CASE_ID_PATTERN",
    "ReportState",
    "action_from_row",
    "advisory_lock_key",
    "bounds_of",
    "candidate_case_records",
    "case_detail",
    "cases_for_report",
    "delivery_from_row",
    "find_snapshot",
    "grown_bounds",
    "insert_audit",
    "insert_case",
    "insert_saved_cluster",
    "insert_targets",
    "link_cluster",
    "link_reports",
    "lock_case_rows",
    "lock_scope",
    "merge_case_into",
    "recompute_aggregates",
    "recompute_many",
    "report_details",
    "report_states",
    "take_advisory_lock",
    "target_key",
    "update_status",
]
