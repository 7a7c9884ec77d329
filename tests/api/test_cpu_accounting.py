"""The benchmarks' CPU accounting counts PostgreSQL backends that end during a phase."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import sqlalchemy as sa

from benchmarks.cpu_accounting import (
    BackendTracker,
    cpu_per_request_ms,
    sample,
    with_application_name,
)

pytestmark = pytest.mark.postgis

_BURN = sa.text("SELECT count(*) FROM generate_series(1, 3000000)")


def test_a_backend_closed_during_the_phase_is_counted(db_url: str) -> None:
    name = f"cpu-accounting-test-{uuid.uuid4().hex[:8]}"  # no other session's backends
    probe = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    measured = sa.create_engine(with_application_name(db_url, name), poolclass=sa.pool.NullPool)
    try:
        with BackendTracker(probe, interval_s=0.01, application_name=name) as tracker:
            before = sample(os.getpid(), probe, name)
            with measured.connect() as conn:  # a backend that lives only inside the phase
                conn.execute(_BURN)
                time.sleep(0.1)  # the tracker reads it while it is alive
            time.sleep(0.1)  # gone by the end
            after = sample(os.getpid(), probe, name)
        with_tracker = cpu_per_request_ms(before, after, 1, tracker)
        without = cpu_per_request_ms(before, after, 1)
    finally:
        probe.dispose()
        measured.dispose()
    assert without["postgres_ms"] == 0.0  # the backend is gone: the old reading misses it
    assert with_tracker["postgres_closed_ms"] > 10.0  # 3M rows take tens of milliseconds
    assert with_tracker["postgres_ms"] == with_tracker["postgres_closed_ms"]
    assert tracker.own_s > 0.0
