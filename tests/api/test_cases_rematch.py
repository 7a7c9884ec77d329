"""``cleanapp-api cases rematch``: recent unlinked reports against open cases and each other.

Reports are stored without matching (as an older ``reports load --no-match`` or a report
that matched nothing would leave them); the command then bridges them: a later report about
both a bin and broken glass makes the bin report and the glass report, which are no pair of
each other, one incident (a new-case suggestion), or takes an earlier report into the case
it joins. Re-running changes nothing; an interrupted run resumes after its last batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import client_for
from case_support import ZURICH, create_body, record, user_headers, write
from litestar.testing import TestClient

from cleanapp_api import cli
from cleanapp_api.db import tables as t
from cleanapp_api.services.ingest import MatchOptions
from cleanapp_api.services.rematch import rematch, run_key
from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

M_PER_DEG = 111_195.0
NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = (NOW - timedelta(days=2)).isoformat().replace("+00:00", "Z")
BIN = {"title": "Overflowing trash bin at the tram station",
       "summary": "Litter everywhere around the bin"}  # fmt: skip
GLASS = {"title": "Broken glass scattered on the pavement", "summary": "Shards near the kerb"}
BOTH = {"title": "Trash bin overflowing, broken glass scattered on the pavement",
        "summary": "Shards and litter near the kerb and the bin"}  # fmt: skip


def _report(seq: int, north_m: float, texts: dict[str, str], hours_ago: float) -> dict[str, Any]:
    return record(
        seq, latitude=ZURICH[0] + north_m / M_PER_DEG, longitude=ZURICH[1], severity_level=0.6,
        ts=NOW - timedelta(hours=hours_ago), **texts,
    )  # fmt: skip


def _rematch(engine: sa.Engine, *args: str) -> int:
    url = engine.url.render_as_string(hide_password=False)
    return cli.main(
        ["cases", "rematch", "--since", SINCE, "--database-url", url, "--no-progress", *args]
    )


def _snapshot(engine: sa.Engine) -> dict[str, Any]:
    cr, g, s, e = (t.case_reports, t.report_group_suggestions, t.case_suggestions,
                   t.case_audit_events)  # fmt: skip
    with engine.connect() as conn:
        return {
            "links": conn.execute(sa.select(cr.c.case_id, cr.c.seq).order_by(cr.c.seq)).all(),
            "groups": conn.execute(sa.select(g.c.report_seqs, g.c.status).order_by(g.c.id)).all(),
            "suggestions": conn.execute(
                sa.select(s.c.seq, s.c.case_id, s.c.status).order_by(s.c.id)
            ).all(),
            "events": conn.execute(sa.select(sa.func.count()).select_from(e)).scalar_one(),
        }


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


def test_a_new_report_bridges_two_earlier_ones_into_a_new_case_suggestion(
    clean_db: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    write(clean_db, [_report(1, 0, BIN, 6), _report(2, 100, GLASS, 5)])
    assert _rematch(clean_db) == 0
    assert "examined: 2 unlinked reports; 0 attached" in capsys.readouterr().out
    assert _snapshot(clean_db)["groups"] == []  # the bin and the glass are no pair

    write(clean_db, [_report(3, 50, BOTH, 1)])  # about both, between them
    assert _rematch(clean_db) == 0
    assert "1 new-case suggestions" in capsys.readouterr().out
    after = _snapshot(clean_db)
    assert after["groups"] == [([1, 2, 3], "open")]
    assert after["links"] == []

    assert _rematch(clean_db) == 0  # again: nothing changes
    assert "0 new-case suggestions" in capsys.readouterr().out
    assert _snapshot(clean_db) == after


def test_a_report_attached_on_the_way_takes_an_earlier_one_into_its_case(
    api: TestClient[Any], clean_db: sa.Engine, token_rows: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write(clean_db, [_report(1, 0, BIN, 7), _report(2, 5, BIN, 6.5)])
    created = api.post(
        "/api/v4/cases",
        json=create_body([1, 2], geometry=None, title="Overflowing bin", summary=BIN["title"],
                         cluster_stats=None, cluster_analysis=None, cluster_summary=""),
        headers=user_headers(token_rows, "alice"),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    case_id = created.json()["case"]["case_id"]
    # The glass report alone is no match for the bin case; the later report about both is.
    write(clean_db, [_report(10, 100, GLASS, 6), _report(11, 50, BOTH, 5)])
    assert _rematch(clean_db) == 0
    assert "2 attached to cases" in capsys.readouterr().out
    after = _snapshot(clean_db)
    assert after["links"] == [(case_id, 1), (case_id, 2), (case_id, 10), (case_id, 11)]
    assert after["groups"] == []
    # The first pass suggested the glass report for the case; attaching it closed that.
    assert after["suggestions"] == [(10, case_id, "superseded")]
    detail = api.get(f"/api/v4/cases/{case_id}", headers=user_headers(token_rows, "bob"))
    assert detail.json()["case"]["linked_report_count"] == 4
    reasons = {x["seq"]: x["link_reason"] for x in detail.json()["linked_reports"]}
    assert reasons[10] == reasons[11] == "auto_match"

    assert _rematch(clean_db) == 0
    assert "examined: 0 unlinked reports" in capsys.readouterr().out
    assert _snapshot(clean_db) == after


def test_an_interrupted_run_resumes_after_its_last_batch(clean_db: sa.Engine) -> None:
    # Five reports far apart: nothing to match, one batch of two at a time.
    write(clean_db, [_report(20 + k, 1_000 * k, BIN, 10 - k) for k in range(5)])
    since = NOW - timedelta(days=2)
    options = MatchOptions(reopen_window_s=90 * 86_400.0, auto_reopen=False)
    seen: list[int] = []

    def killed_after_one_batch(phase: str, done: int, total: int) -> None:
        seen.append(done)
        if done >= 2:
            raise KeyboardInterrupt  # the process is stopped after its first batch

    with pytest.raises(KeyboardInterrupt):
        rematch(clean_db, options, since=since, batch_size=2, progress=killed_after_one_batch)
    runs = t.case_rematch_runs
    with clean_db.connect() as conn:
        run = conn.execute(sa.select(runs)).one()
    assert run.run_key == run_key(since, None)
    assert (run.examined, run.cursor_seq, run.finished) == (2, 21, False)

    resumed = rematch(clean_db, options, since=since, batch_size=2)
    assert resumed.resumed and resumed.examined == 3 and resumed.finished
    with clean_db.connect() as conn:
        run = conn.execute(sa.select(runs)).one()
    assert (run.examined, run.cursor_seq, run.finished) == (5, 24, True)

    # Finished: the same options look at everything again (new reports may have come).
    again = rematch(clean_db, options, since=since, batch_size=2)
    assert not again.resumed and again.examined == 5


def test_bad_options_are_refused(
    clean_db: sa.Engine, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _rematch(clean_db, "--scope", '{"type": "Point", "coordinates": [8, 47]}') == 1
    assert "scope must be a GeoJSON Polygon" in capsys.readouterr().err
    assert _rematch(clean_db, "--scope", str(tmp_path / "missing.geojson")) == 1
    assert "cannot read" in capsys.readouterr().err
    assert _rematch(clean_db, "--batch-size", "0") == 1
    url = clean_db.url.render_as_string(hide_password=False)
    assert cli.main(["cases", "rematch", "--since", "yesterday", "--database-url", url]) == 1
    assert "--since must be an ISO 8601 time" in capsys.readouterr().err


def test_a_scope_limits_the_run(clean_db: sa.Engine, capsys: pytest.CaptureFixture[str]) -> None:
    write(clean_db, [_report(30, 0, BIN, 3), _report(31, 5_000, BIN, 2)])
    dlat = 500 / M_PER_DEG
    dlon = 500 / (M_PER_DEG * math.cos(math.radians(ZURICH[0])))
    w, s, e, n = ZURICH[1] - dlon, ZURICH[0] - dlat, ZURICH[1] + dlon, ZURICH[0] + dlat
    scope = f'{{"type": "Polygon", "coordinates": [[[{w}, {s}], [{e}, {s}], [{e}, {n}], [{w}, {n}], [{w}, {s}]]]}}'  # noqa: E501
    assert _rematch(clean_db, "--scope", scope) == 0
    assert "examined: 1 unlinked reports" in capsys.readouterr().out
