"""The recompute's link statistics, taken from the linked rows instead of a GROUP BY.

:func:`cleanapp_api.db.repositories.writes.recompute_many` used to read ``count``,
``min``/``max`` of ``ts`` and ``max``/``avg`` of severity with a statement of their own;
it now takes them from the linked rows it reads anyway (ordered by ``seq``). PostgreSQL
computes the same aggregates of the same rows in the same order to the same bits, and a
recompute stores what that statement gave.
"""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from case_support import ZURICH, record, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories.writes import _linked_stats

_Row = namedtuple("_Row", "ts severity")
_T0 = datetime(2026, 3, 1, tzinfo=UTC)
_A, _B = "case_" + "a" * 24, "case_" + "b" * 24

_SQL = sa.text(
    "SELECT count(*), min(ts), max(ts), max(s), avg(s ORDER BY i)"
    " FROM unnest(CAST(:ts AS timestamptz[]), CAST(:s AS float8[]))"
    " WITH ORDINALITY AS u(ts, s, i)"
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10**7),
            st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_linked_stats_are_postgresql_aggregates(
    db_engine: sa.Engine, items: list[tuple[int, float]]
) -> None:
    rows = [_Row(_T0 + timedelta(seconds=s), severity) for s, severity in items]
    with db_engine.connect() as conn:
        n, first, last, most, mean = conn.execute(
            _SQL, {"ts": [r.ts for r in rows], "s": [r.severity for r in rows]}
        ).one()
    stats = _linked_stats(rows)
    assert stats is not None
    assert (stats.n, stats.first, stats.last, stats.max) == (n, first, last, most)
    assert stats.avg == mean  # bit for bit: the same sum in the same order


def test_no_links_no_stats() -> None:
    assert _linked_stats([]) is None


def test_recompute_stores_the_aggregates_of_the_links(clean_db: sa.Engine) -> None:
    lat, lon = ZURICH
    reports = [
        record(500 + k, latitude=lat + 1e-4 * k, longitude=lon, severity_level=severity,
               ts=pd.Timestamp(_T0 + timedelta(hours=k)))
        for k, severity in enumerate((0.1, 0.7, 0.2, 0.3))
    ]  # fmt: skip
    write(clean_db, reports)
    with clean_db.begin() as conn:
        for case_id, seqs in ((_A, [500, 501, 502, 503]), (_B, [])):
            repo.insert_case(
                conn,
                {"case_id": case_id, "slug": case_id[-6:], "title": "Lamps", "status": "open",
                 "classification": "physical", "summary": "", "geometry_json": None,
                 "created_by_user_id": "test"},
            )  # fmt: skip
            if seqs:
                repo.link_reports(
                    conn, case_id, seqs, reason="initial_selection", confidence=1.0,
                    overwrite=False,
                )  # fmt: skip
        repo.recompute_many(conn, [_A, _B])
        c = t.cases.c
        stored = {
            row.case_id: row
            for row in conn.execute(
                sa.select(c.case_id, c.linked_report_count, c.first_seen_at, c.last_seen_at,
                          c.severity_score, c.urgency_score, c.cluster_count)
            )
        }  # fmt: skip
    a, b = stored[_A], stored[_B]
    assert (a.linked_report_count, a.first_seen_at, a.last_seen_at) == (
        4,
        _T0,
        _T0 + timedelta(hours=3),
    )
    assert (a.severity_score, a.cluster_count) == (0.7, 0)
    assert a.urgency_score == 0.7  # max(max, mean + 0.05 * (clusters - 1))
    assert (b.linked_report_count, b.first_seen_at, b.last_seen_at) == (0, None, None)
    assert (b.severity_score, b.urgency_score) == (0.0, 0.0)
