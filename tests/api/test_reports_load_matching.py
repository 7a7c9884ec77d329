"""``cleanapp-api reports load`` matches what it loads, as POST /reports does.

The same reports reach a case of an overflowing bin once through ``POST /reports`` and once
as a CSV file through the command line: the links, suggestions and audit events agree.
Loading the file again links and suggests nothing twice; ``--no-match`` only stores.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from api_support import client_for
from case_support import ZURICH, create_body, record, user_headers, write
from litestar.testing import TestClient

from cleanapp_api import cli
from cleanapp_api.db import tables as t
from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

M_PER_DEG = 111_195.0
NOW = datetime.now(UTC).replace(microsecond=0)
BIN = "Overflowing trash bin at the tram station"
GLASS = {"title": "Broken glass on the sidewalk", "summary": "Shards near the kerb"}


def _point(north_m: float, east_m: float = 0.0) -> tuple[float, float]:
    lat = ZURICH[0] + north_m / M_PER_DEG
    lon = ZURICH[1] + east_m / (M_PER_DEG * math.cos(math.radians(ZURICH[0])))
    return lat, lon


#: seq → (metres north, texts, hours ago): one of the incident, one about something else at
#: the same corner (a review suggestion), one far away, one more of the incident.
ARRIVING: dict[int, tuple[float, dict[str, str], float]] = {
    10: (20.0, {"title": BIN, "summary": "Litter everywhere around the bin"}, 3.0),
    20: (40.0, GLASS, 2.5),
    11: (2_000.0, {"title": BIN, "summary": "Litter everywhere around the bin"}, 2.0),
    12: (-15.0, {"title": "Trash bin overflowing", "summary": "Bin full at the tram stop"}, 1.0),
}


def _ts(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


def _body(seq: int) -> dict[str, Any]:
    north, texts, hours_ago = ARRIVING[seq]
    lat, lon = _point(north)
    return {
        "report": {"seq": seq, "timestamp": _ts(hours_ago), "latitude": lat, "longitude": lon,
                   "id": "reporter-7"},
        "analysis": [{"language": "en", "severity_level": 0.6, "classification": "physical",
                      **texts}],
    }  # fmt: skip


def _csv(tmp_path: Path) -> Path:
    rows = []
    for seq, (north, texts, hours_ago) in ARRIVING.items():
        lat, lon = _point(north)
        rows.append(
            {"seq": seq, "ts": _ts(hours_ago), "latitude": lat, "longitude": lon,
             "reporter_id": "reporter-7", "language": "en", "severity_level": 0.6,
             "classification": "physical", **texts}
        )  # fmt: skip
    path = tmp_path / "arriving.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


def _new_case(engine: sa.Engine, api: TestClient[Any], alice: dict[str, str]) -> str:
    """An open case of reports 1 and 2 at the tram stop, made from reports alone."""
    lat2, lon2 = _point(5, 5)
    write(
        engine,
        [
            record(1, latitude=ZURICH[0], longitude=ZURICH[1], title=BIN,
                   summary="Bin overflowing, litter everywhere", severity_level=0.6,
                   ts=NOW - timedelta(hours=5)),
            record(2, latitude=lat2, longitude=lon2,
                   title="Trash bin overflowing next to tram stop",
                   summary="Litter around the bin", severity_level=0.6,
                   ts=NOW - timedelta(hours=4)),
        ],
    )  # fmt: skip
    created = api.post(
        "/api/v4/cases",
        json=create_body([1, 2], geometry=None, title="Overflowing bin at the tram stop",
                         summary=BIN, cluster_stats=None, cluster_analysis=None,
                         cluster_summary=""),
        headers=alice,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["case"]["case_id"])


def _state(engine: sa.Engine, case_id: str) -> dict[str, Any]:
    """What matching wrote, with the case id replaced by a placeholder."""

    def plain(value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value)
        value = json.loads(json.dumps(value).replace(case_id, "CASE"))
        if isinstance(value, dict):
            value.pop("suggestion_id", None)  # numbered by the table's identity
        return value

    cr, s, e, c = t.case_reports, t.case_suggestions, t.case_audit_events, t.cases
    with engine.connect() as conn:
        links = conn.execute(
            sa.select(cr.c.seq, cr.c.link_reason, cr.c.confidence).order_by(cr.c.seq)
        ).all()
        suggestions = conn.execute(
            sa.select(s.c.seq, s.c.kind, s.c.band, s.c.probability, s.c.evidence_seq,
                      s.c.match_json).order_by(s.c.seq)
        ).all()  # fmt: skip
        events = conn.execute(
            sa.select(e.c.event_type, e.c.actor_user_id, e.c.payload_json)
            .where(e.c.actor_user_id == "system:auto-match")
            .order_by(e.c.id)
        ).all()
        case = conn.execute(
            sa.select(c.c.linked_report_count, c.c.aggregate_bbox_json, c.c.anchor_report_seq)
        ).one()
    return {
        "links": [tuple(row) for row in links],
        "suggestions": [(*row[:5], plain(row[5])) for row in suggestions],
        "events": [(row[0], row[1], plain(row[2])) for row in events],
        "case": tuple(case),
    }


def _load(engine: sa.Engine, path: Path, *args: str) -> int:
    url = engine.url.render_as_string(hide_password=False)
    return cli.main(["reports", "load", str(path), "--database-url", url, "--no-progress", *args])


def test_a_loaded_file_is_matched_as_the_route_matches_it_and_only_once(
    api: TestClient[Any], clean_db: sa.Engine, token_rows: Callable[..., None],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    alice = user_headers(token_rows, "alice")
    service = user_headers(token_rows, "report-pipeline", roles=["service"])
    case_id = _new_case(clean_db, api, alice)
    # Reports in arrival order through the route.
    for seq in sorted(ARRIVING, key=lambda s: -ARRIVING[s][2]):
        response = api.post("/api/v4/reports", json=_body(seq), headers=service)
        assert response.status_code == 201, response.text
    by_route = _state(clean_db, case_id)
    assert [link[:2] for link in by_route["links"]] == [
        (1, "initial_selection"), (2, "initial_selection"), (10, "auto_match"),
        (12, "auto_match"),
    ]  # fmt: skip
    assert [(s[0], s[1], s[2]) for s in by_route["suggestions"]] == [(20, "attach", "review")]

    # The same reports, as a file, against the same case made again.
    with clean_db.begin() as conn:
        for table in reversed(t.metadata.sorted_tables):
            if table is not t.auth_tokens:
                conn.execute(table.delete())
    case_id = _new_case(clean_db, api, alice)
    capsys.readouterr()
    assert _load(clean_db, _csv(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "matched 4 reports: 2 attached to cases, 1 with suggestions" in out
    by_file = _state(clean_db, case_id)
    assert by_file == by_route

    # Loading the file again stores, links and suggests nothing more.
    assert _load(clean_db, _csv(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "stored 0 new reports" in out
    assert "matched 4 reports: 0 attached to cases, 1 with suggestions" in out
    assert _state(clean_db, case_id) == by_file


def test_no_match_only_stores(
    api: TestClient[Any], clean_db: sa.Engine, token_rows: Callable[..., None], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    case_id = _new_case(clean_db, api, user_headers(token_rows, "alice"))
    assert _load(clean_db, _csv(tmp_path), "--no-match") == 0
    assert "matched" not in capsys.readouterr().out
    state = _state(clean_db, case_id)
    assert [link[0] for link in state["links"]] == [1, 2]
    assert state["suggestions"] == [] and state["events"] == []
    with clean_db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.reports)).scalar_one() == 6
    # Matching later (a plain load of the stored file) catches up.
    assert _load(clean_db, _csv(tmp_path)) == 0
    assert "2 attached to cases" in capsys.readouterr().out
    assert _load(clean_db, _csv(tmp_path), "--match-batch-size", "0") == 1
