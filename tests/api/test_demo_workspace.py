"""The workspace demo's city in PostGIS: its own seq range, loaded once.

The report pipeline sends ``POST /reports`` with upstream seqs counted from 1; a demo city
counted from 1 would make those reports collide (409). A database an earlier demo loaded
with the city at seqs from 1 keeps that one copy rather than getting a second. The whole
demo (``make demo``'s last step) opens its cases and leaves one match suggestion.
"""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from api_support import base_settings, client_for

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_api.db import tables as t
from cleanapp_api.demo_workspace import CITY_SEQ_BASE, run_demo_workspace, seed_demo_city

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


def test_the_demo_opens_cases_and_leaves_a_suggestion_at_the_school(
    db_url: str, clean_db: sa.Engine
) -> None:
    settings = base_settings(db_url, auth_token_store="db")
    out = io.StringIO()
    url = run_demo_workspace(settings, base_url="http://127.0.0.1:8080/", n_reports=N, out=out)
    assert url.startswith("http://127.0.0.1:8080/app/#signin=ey")
    assert out.getvalue().endswith(url + "\n")
    assert "report 990000100 by the school: suggested." in out.getvalue()
    headers = {"Authorization": "Bearer " + url.split("#signin=")[1]}
    with client_for(settings) as api:
        cases = api.get("/api/v4/cases", headers=headers).json()["cases"]
        queue = api.get("/api/v4/cases/suggestions", headers=headers).json()["suggestions"]
    school = [c for c in cases if "school" in c["title"].lower()]
    assert len(school) == 1 and len(cases) >= 2
    assert [(s["case_id"], s["band"], s["report_title"]) for s in queue] == [
        (school[0]["case_id"], "review", "Broken glass on the pavement")
    ]
    again = run_demo_workspace(settings, base_url="http://x", n_reports=N, out=io.StringIO())
    assert again != url  # a fresh sign-in token; nothing else changes
    with client_for(settings) as api:
        assert len(api.get("/api/v4/cases", headers=headers).json()["cases"]) == len(cases)
        assert len(api.get("/api/v4/cases/suggestions", headers=headers).json()["suggestions"]) == 1
