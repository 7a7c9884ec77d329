"""Concurrent case creation over real TCP: no two cases end up holding the same reports.

Two (or more) clients POST ``/cases`` at the same moment (a barrier releases them) against
uvicorn serving the app, with the same reports and scope. Without serialisation each request
would match no case, and each would create one. With the advisory locks of
:func:`cleanapp_api.db.repositories.lock_scope` and the re-match inside the transaction,
exactly one request creates the case (201) and the others attach to it (200).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from case_support import ZURICH, create_body, record, square, user_headers, write
from support import serve_thread

from cleanapp_api.app import create_app
from cleanapp_api.db import tables as t
from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

CLIENTS = 4
ROUNDS = 4
M_PER_DEG = 111_195.0


@pytest.fixture(scope="module")
def server(db_settings: Settings) -> Iterator[str]:
    with serve_thread(create_app(db_settings)) as url:
        yield url


def _post_together(url: str, bodies: list[dict[str, Any]], headers: dict[str, str]) -> list[Any]:
    barrier = threading.Barrier(len(bodies))
    results: list[Any] = [None] * len(bodies)

    def run(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            barrier.wait()
            results[i] = http.post("/api/v3/cases", json=bodies[i], headers=headers)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _holders(engine: sa.Engine, seqs: list[int]) -> set[str]:
    cr = t.case_reports
    with engine.connect() as conn:
        rows = conn.execute(sa.select(cr.c.case_id).where(cr.c.seq.in_(seqs))).scalars()
        return set(rows)


def test_simultaneous_creates_make_one_case(
    server: str, clean_db: sa.Engine, token_rows: Callable[..., None]
) -> None:
    headers = user_headers(token_rows, "racer")
    for r in range(ROUNDS):
        lat, lon = ZURICH[0] + r * 0.05, ZURICH[1]  # each round far from the others
        seqs = [1000 * (r + 1) + k for k in range(3)]
        write(clean_db, [record(s, latitude=lat + k * 1e-4, longitude=lon)
                         for k, s in enumerate(seqs)])  # fmt: skip
        body = create_body(seqs, geometry=square(lat, lon, 150))
        responses = _post_together(server, [body] * CLIENTS, headers)
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200] * (CLIENTS - 1) + [201], [x.text for x in responses]
        case_ids = {response.json()["case"]["case_id"] for response in responses}
        assert len(case_ids) == 1
        assert {response.json()["action"] for response in responses} == {"created", "attached"}
        assert _holders(clean_db, seqs) == case_ids


def test_simultaneous_overlapping_creates_make_one_case(
    server: str, clean_db: sa.Engine, token_rows: Callable[..., None]
) -> None:
    headers = user_headers(token_rows, "racer")
    lat, lon = ZURICH
    write(clean_db, [record(s, latitude=lat + s * 1e-5, longitude=lon) for s in (1, 2, 3, 4)])
    geometry = square(lat, lon, 150)
    bodies = [create_body(seqs, geometry=geometry) for seqs in ([1, 2], [2, 3], [3, 4], [1, 4])]
    responses = _post_together(server, bodies, headers)
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["case"]["case_id"] for r in responses}) == 1
    assert len(_holders(clean_db, [1, 2, 3, 4])) == 1
