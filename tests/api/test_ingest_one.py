"""store_new_report against the statements it stands in for, on a real PostGIS store.

``POST /reports`` stores a new report and reads its facts and the cases near it in one
statement (:mod:`cleanapp_api.db.repositories.ingest_one`). Property: for any new report
(place, languages, valid or not, owner), what that statement gives equals what
``report_fact_rows`` and ``nearby_case_records`` (the reference lookups, used by every
batch) read right after a plain :func:`store_report` of the same report. Each example runs
in a transaction that is rolled back, so every one sees the same store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from case_support import ZURICH, record, write
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories import ingest as ingest_repo
from cleanapp_api.db.repositories import ingest_one
from cleanapp_geo.matching import ACTIVE_STATUSES, MATCH_RADIUS_M, REOPENABLE_STATUSES

pytestmark = pytest.mark.postgis

M_PER_DEG = 111_195.0
NOW = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
LOOKUP: dict[str, Any] = {
    "radius_m": MATCH_RADIUS_M,
    "active_statuses": ACTIVE_STATUSES,
    "reopenable_statuses": REOPENABLE_STATUSES,
    "reopen_since": NOW - timedelta(days=90),
}


def _point(north_m: float, east_m: float) -> tuple[float, float]:
    lat = ZURICH[0] + north_m / M_PER_DEG
    return lat, ZURICH[1] + east_m / (M_PER_DEG * math.cos(math.radians(ZURICH[0])))


@pytest.fixture(scope="module")
def store(db_engine: sa.Engine) -> sa.Engine:
    """Cases around Zurich: open, resolved and merged ones, with linked reports."""
    with db_engine.begin() as conn:
        for table in reversed(t.metadata.sorted_tables):
            if table not in {t.auth_tokens, t.authority_directory_rules}:
                conn.execute(table.delete())
    reports = []
    for k in range(12):
        lat, lon = _point(120.0 * (k % 4) - 150.0, 90.0 * (k // 4) - 100.0)
        reports.append(record(100 + k, latitude=lat, longitude=lon, title=f"Broken lamp {k}"))
    write(db_engine, reports)
    with db_engine.begin() as conn:
        for k, status in enumerate(("open", "open", "resolved", "closed", "open", "open")):
            case_id = f"case_{k:024x}"
            repo.insert_case(
                conn,
                {"case_id": case_id, "slug": f"case-{k}", "title": f"Lamp {k}",
                 "status": status, "classification": "physical", "summary": "Lamps",
                 "geometry_json": None, "created_by_user_id": "test"},
            )  # fmt: skip
            repo.link_reports(
                conn, case_id, [100 + 2 * k, 101 + 2 * k], reason="initial_selection",
                confidence=1.0, overwrite=False,
            )  # fmt: skip
            repo.recompute_aggregates(conn, case_id)
    return db_engine


def _analysis(language: str, valid: bool, severity: float) -> dict[str, Any]:
    return {
        "language": language, "classification": "physical", "severity_level": severity,
        "is_valid": valid, "source": "", "analysis_text": "", "title": f"Lamp out ({language})",
        "description": "", "summary": "Dark street", "brand_name": "",
        "brand_display_name": "", "inferred_contact_emails": "",
        "litter_probability": 0.0, "hazard_probability": 0.0, "digital_bug_probability": 0.0,
    }  # fmt: skip


languages = st.lists(
    st.sampled_from(["en", "EN", "de", "fr", "pt", "zh"]), min_size=1, max_size=4, unique=True
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    north_m=st.floats(-900, 900),
    east_m=st.floats(-900, 900),
    codes=languages,
    valid=st.lists(st.booleans(), min_size=4, max_size=4),
    owner=st.sampled_from([None, "", "someone"]),
)
@example(north_m=0.0, east_m=0.0, codes=["fr", "EN", "en"], valid=[False, True, True, True],
         owner=None)  # fmt: skip
def test_store_new_report_reads_what_the_lookups_read(
    store: sa.Engine,
    north_m: float,
    east_m: float,
    codes: list[str],
    valid: list[bool],
    owner: str | None,
) -> None:
    lat, lon = _point(north_m, east_m)
    report: dict[str, Any] = {
        "seq": 9001, "ts": NOW, "latitude": lat, "longitude": lon, "reporter_id": "r",
        "team": 0, "description": "",
    }  # fmt: skip
    if owner is not None:
        report["owner"] = owner
    analyses = [
        _analysis(c, v, 0.1 * (i + 1))
        for i, (c, v) in enumerate(zip(codes, valid[: len(codes)], strict=True))
    ]

    with store.connect() as conn, conn.begin() as outer:
        fast = ingest_one.store_new_report(conn, report, analyses, **LOOKUP)
        assert fast is not None
        outer.rollback()
    with store.connect() as conn, conn.begin() as outer:
        assert ingest_repo.store_report(conn, report, analyses)
        (facts,) = ingest_repo.report_fact_rows(conn, [9001])
        near = ingest_repo.nearby_case_records(conn, [9001], **LOOKUP, max_abs_lat=abs(lat))
        again = ingest_one.store_new_report(conn, report, analyses, **LOOKUP)
        outer.rollback()
    assert {name: getattr(fast.facts, name) for name in facts} == dict(facts)
    assert fast.near == near
    assert again is None  # stored before: the caller takes the re-ingest statements
    if (north_m, east_m) == (0.0, 0.0):
        assert near  # cases around the centre were compared
