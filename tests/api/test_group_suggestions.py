"""New-case suggestions over HTTP: list, accept (a case from the group) and reject.

``cleanapp-api cases rematch`` produces the suggestion as an operator would: a report about
both an overflowing bin and broken glass bridges a bin report and a glass report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
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
SINCE = (NOW - timedelta(days=2)).isoformat().replace("+00:00", "Z")
BIN = {"title": "Overflowing trash bin at the tram station",
       "summary": "Litter everywhere around the bin"}  # fmt: skip
GLASS = {"title": "Broken glass scattered on the pavement", "summary": "Shards near the kerb"}
BOTH = {"title": "Trash bin overflowing, broken glass scattered on the pavement",
        "summary": "Shards and litter near the kerb and the bin"}  # fmt: skip
URL = "/api/v4/reports/group-suggestions"


def _report(
    seq: int, north_m: float, texts: dict[str, str], hours_ago: float, severity: float = 0.6
) -> dict[str, Any]:
    return record(
        seq, latitude=ZURICH[0] + north_m / M_PER_DEG, longitude=ZURICH[1],
        severity_level=severity, ts=NOW - timedelta(hours=hours_ago), **texts,
    )  # fmt: skip


def _group(engine: sa.Engine, first: int = 1) -> int:
    """Store a bin, a glass and a bridging report; re-match; return the suggestion's id."""
    write(
        engine,
        [_report(first, 0, BIN, 6), _report(first + 1, 100, GLASS, 5),
         _report(first + 2, 50, BOTH, 1, severity=0.9)],
    )  # fmt: skip
    url = engine.url.render_as_string(hide_password=False)
    assert cli.main(["cases", "rematch", "--since", SINCE, "--database-url", url,
                     "--no-progress"]) == 0  # fmt: skip
    g = t.report_group_suggestions
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(g.c.id))).scalar_one())


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


@pytest.fixture
def alice(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "alice")


def test_the_open_suggestions_are_listed_with_their_reports_title_and_score(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str]
) -> None:
    group_id = _group(clean_db)
    answer = api.get(URL, headers=alice)
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["group_suggestions"]
    assert answer.json()["next_cursor"] is None
    assert item["id"] == group_id
    assert item["report_seqs"] == [1, 2, 3]
    assert item["status"] == "open"
    assert item["title"] == BOTH["title"]  # the most severe report's
    assert 0 < item["confidence"] <= 1 and item["rationale"]
    assert item["created_at"].endswith("Z")
    assert "case_id" not in item and "decided_at" not in item
    assert api.get(URL, params={"status": "rejected"}, headers=alice).json() == {
        "group_suggestions": [], "next_cursor": None,
    }  # fmt: skip


def test_accepting_creates_a_case_of_the_group_with_its_footprint_and_audit(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str]
) -> None:
    group_id = _group(clean_db)
    answer = api.post(f"{URL}/{group_id}/accept", json={"note": "same corner"}, headers=alice)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    suggestion, case = body["suggestion"], body["detail"]["case"]
    assert suggestion["status"] == "accepted" and suggestion["case_id"] == case["case_id"]
    assert suggestion["decided_by_user_id"] == "alice"
    assert suggestion["decision_note"] == "same corner"
    assert suggestion["left_out_seqs"] == [] and suggestion["decided_at"].endswith("Z")
    assert case["title"] == BOTH["title"] and case["status"] == "open"
    assert case["created_by_user_id"] == "alice" and case["linked_report_count"] == 3
    assert sorted(r["seq"] for r in body["detail"]["linked_reports"]) == [1, 2, 3]
    events = [e["event_type"] for e in body["detail"]["audit_events"]]
    assert "case_created" in events and "group_suggestion_accepted" in events
    accepted = next(
        e for e in body["detail"]["audit_events"] if e["event_type"] == "group_suggestion_accepted"
    )
    assert msgspec.json.decode(accepted["payload_json"])["group_suggestion_id"] == group_id
    # The case's footprint covers every report (the GiST geometry of case lookups).
    footprint = msgspec.json.decode(case["aggregate_geometry_json"])
    assert footprint["type"] == "FeatureCollection" and footprint["features"]
    c, r = t.cases, t.reports
    with clean_db.connect() as conn:
        covered = conn.execute(
            sa.select(sa.func.bool_and(sa.func.ST_Covers(c.c.aggregate_geom, r.c.geom)))
            .select_from(c.join(r, sa.true()))
            .where(c.c.case_id == case["case_id"], r.c.seq.in_([1, 2, 3]))
        ).scalar_one()  # fmt: skip
    assert covered
    # The report's cases now name it; the queue is empty; a second decision is refused.
    cases = api.get("/api/v4/reports/cases", params={"seq": 2}).json()
    assert [x["case_id"] for x in cases["cases"]] == [case["case_id"]]
    assert api.get(URL, headers=alice).json()["group_suggestions"] == []
    listed = api.get(URL, params={"status": "accepted"}, headers=alice).json()
    assert [g["case_id"] for g in listed["group_suggestions"]] == [case["case_id"]]
    again = api.post(f"{URL}/{group_id}/accept", headers=alice)
    assert again.status_code == 409
    assert again.json()["error"] == (
        f"group suggestion {group_id} is already accepted (case {case['case_id']})"
    )
    assert api.post(f"{URL}/{group_id}/reject", headers=alice).status_code == 409
    with clean_db.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(c)).scalar_one()
    assert count == 1  # the repeated accept created nothing


def test_reports_that_joined_a_case_meanwhile_are_left_out(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str]
) -> None:
    group_id = _group(clean_db)
    made = api.post("/api/v4/cases", json=create_body([1], geometry=None, force_new_case=True),
                    headers=alice)  # fmt: skip
    assert made.status_code == 201, made.text
    answer = api.post(f"{URL}/{group_id}/accept", headers=alice)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["suggestion"]["left_out_seqs"] == [1]
    assert sorted(r["seq"] for r in body["detail"]["linked_reports"]) == [2, 3]
    assert body["detail"]["case"]["case_id"] != made.json()["case"]["case_id"]


def test_fewer_than_two_reports_left_is_a_conflict_and_changes_nothing(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str]
) -> None:
    group_id = _group(clean_db)
    made = api.post("/api/v4/cases", json=create_body([1, 2], geometry=None,
                    force_new_case=True), headers=alice)  # fmt: skip
    assert made.status_code == 201, made.text
    answer = api.post(f"{URL}/{group_id}/accept", headers=alice)
    assert answer.status_code == 409
    case_id = made.json()["case"]["case_id"]
    assert answer.json()["error"] == (
        f"group suggestion {group_id} has fewer than 2 reports left without a case "
        f"(report 1 is in case {case_id}; report 2 is in case {case_id}); reject it"
    )
    [item] = api.get(URL, headers=alice).json()["group_suggestions"]
    assert item["status"] == "open"
    with clean_db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one() == 1
    rejected = api.post(f"{URL}/{group_id}/reject", headers=alice)
    assert rejected.status_code == 200 and rejected.json()["suggestion"]["status"] == "rejected"


def test_rejecting_keeps_the_reports_without_a_case(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str]
) -> None:
    group_id = _group(clean_db)
    answer = api.post(f"{URL}/{group_id}/reject", json={"note": "two incidents"}, headers=alice)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["detail"] is None
    assert body["suggestion"]["status"] == "rejected"
    assert body["suggestion"]["decision_note"] == "two incidents"
    assert "case_id" not in body["suggestion"]
    with clean_db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one() == 0
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(t.case_reports)).scalar_one() == 0
        )
    again = api.post(f"{URL}/{group_id}/reject", headers=alice)
    assert again.status_code == 409
    assert again.json()["error"] == f"group suggestion {group_id} is already rejected"
    assert api.post(f"{URL}/{group_id}/accept", headers=alice).status_code == 409


def test_pages_follow_the_cursor_oldest_first(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str]
) -> None:
    g = t.report_group_suggestions
    with clean_db.begin() as conn:
        for k in range(5):
            conn.execute(sa.insert(g).values(
                group_key=f"key{k}", report_seqs=[100 + 2 * k, 101 + 2 * k], title=f"group {k}",
                created_at=NOW - timedelta(hours=10 - k),
            ))  # fmt: skip
    titles: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get(URL, params=params, headers=alice).json()
        titles += [x["title"] for x in page["group_suggestions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert titles == [f"group {k}" for k in range(5)]


def test_bad_requests_are_refused(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str]
) -> None:
    assert api.get(URL).status_code == 401
    assert api.post(f"{URL}/1/accept").status_code == 401
    assert api.post(f"{URL}/1/reject").status_code == 401
    for params in ({"limit": "0"}, {"limit": "x"}, {"status": "maybe"}, {"cursor": "nonsense"}):
        answer = api.get(URL, params=params, headers=alice)
        assert answer.status_code == 400, params
        assert answer.json()["error"]
    missing = api.post(f"{URL}/987654/accept", headers=alice)
    assert missing.status_code == 404
    assert missing.json() == {"error": "group suggestion 987654 not found"}
    assert api.post(f"{URL}/987654/reject", headers=alice).status_code == 404
    group_id = _group(clean_db)
    long_note = api.post(f"{URL}/{group_id}/reject", json={"note": "x" * 2_001}, headers=alice)
    assert long_note.status_code == 400
    assert "note must be at most 2000 characters" in long_note.json()["error"]


def test_accepting_supersedes_the_other_open_suggestions_sharing_a_report(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str]
) -> None:
    group_id = _group(clean_db)
    g = t.report_group_suggestions
    with clean_db.begin() as conn:
        other = conn.execute(
            sa.insert(g).values(group_key="other", report_seqs=[3, 200], title="glass again")
            .returning(g.c.id)
        ).scalar_one()  # fmt: skip
        apart = conn.execute(
            sa.insert(g).values(group_key="apart", report_seqs=[300, 301], title="elsewhere")
            .returning(g.c.id)
        ).scalar_one()  # fmt: skip
    accepted = api.post(f"{URL}/{group_id}/accept", headers=alice).json()
    case_id = accepted["detail"]["case"]["case_id"]
    listed = api.get(URL, params={"status": "all"}, headers=alice).json()["group_suggestions"]
    by_id = {x["id"]: x for x in listed}
    assert by_id[other]["status"] == "superseded" and by_id[other]["case_id"] == case_id
    assert by_id[apart]["status"] == "open"
    [event] = [e for e in accepted["detail"]["audit_events"]
               if e["event_type"] == "group_suggestion_accepted"]  # fmt: skip
    assert msgspec.json.decode(event["payload_json"])["superseded_group_suggestion_ids"] == [other]
    assert api.post(f"{URL}/{other}/accept", headers=alice).status_code == 409


def test_two_reviewers_accepting_at_once_make_one_case(
    api: TestClient[Any], clean_db: sa.Engine, token_rows: Callable[..., None]
) -> None:
    group_id = _group(clean_db)
    heads = [user_headers(token_rows, "alice"), user_headers(token_rows, "bob")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda h: api.post(f"{URL}/{group_id}/accept", headers=h), heads))
    assert sorted(a.status_code for a in answers) == [200, 409]
    with clean_db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one() == 1
        links = conn.execute(sa.select(sa.func.count()).select_from(t.case_reports))
        assert links.scalar_one() == 3
