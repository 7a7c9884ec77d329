"""The workspace demo's city in PostGIS: its own seq range, loaded once.

The report pipeline sends ``POST /reports`` with upstream seqs counted from 1; a demo city
counted from 1 would make those reports collide (409). A database an earlier demo loaded
with the city at seqs from 1 keeps that one copy rather than getting a second.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_api.db import tables as t
from cleanapp_api.demo_workspace import CITY_SEQ_BASE, seed_demo_city

pytestmark = pytest.mark.postgis

N = 300


def _seqs(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return [int(s) for s in conn.execute(sa.select(t.reports.c.seq).order_by("seq")).scalars()]


def test_the_demo_city_has_its_own_seq_range_and_loads_once(clean_db: sa.Engine) -> None:
    assert seed_demo_city(clean_db, n_reports=N) == N
    seqs = _seqs(clean_db)
    city = [s for s in seqs if s < 990_000_000]  # the school's reports start there
    assert city == list(range(CITY_SEQ_BASE, CITY_SEQ_BASE + N))
    assert len(seqs) > N  # and the school
    seed_demo_city(clean_db, n_reports=N)
    assert _seqs(clean_db) == seqs


def test_a_city_an_earlier_demo_loaded_from_seq_1_is_not_doubled(clean_db: sa.Engine) -> None:
    cio.write_reports(cg.make_reports(N, seed=7, mode="hard"), clean_db)  # the old layout
    seed_demo_city(clean_db, n_reports=N)
    seqs = _seqs(clean_db)
    assert [s for s in seqs if s < 990_000_000] == list(range(1, N + 1))
