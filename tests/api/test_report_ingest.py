"""POST /reports (ingest) and the suggestion routes, against the real app and PostGIS.

A case is made from two reports of an overflowing bin at a tram stop (POST /cases, no
scope: a case from reports alone); reports then arrive through POST /reports with a real
service token: one of the same incident joins it, one at the same place about something
else becomes a suggestion, one far away matches nothing. Recurrences at a resolved case are
suggested, or reopen the case with AUTO_REOPEN. Concurrent ingests run over real TCP.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from api_support import base_settings, client_for
from case_support import ZURICH, create_body, record, user_headers, write
from litestar.testing import TestClient
from support import serve_thread

from cleanapp_api.app import create_app
from cleanapp_api.db import tables as t
from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

REPORTS = "/api/v4/reports"
CASES = "/api/v4/cases"
M_PER_DEG = 111_195.0
NOW = datetime.now(UTC).replace(microsecond=0)
BIN = "Overflowing trash bin at the tram station"


def _point(north_m: float, east_m: float) -> tuple[float, float]:
    lat = ZURICH[0] + north_m / M_PER_DEG
    lon = ZURICH[1] + east_m / (M_PER_DEG * math.cos(math.radians(ZURICH[0])))
    return lat, lon


def body(
    seq: int,
    *,
    north_m: float = 0.0,
    east_m: float = 0.0,
    title: str = BIN,
    summary: str = "Litter everywhere around the bin",
    hours_ago: float = 1.0,
    **analysis: Any,
) -> dict[str, Any]:
    """An ingest body as the report pipeline sends it (reference shape of a report)."""
    lat, lon = _point(north_m, east_m)
    return {
        "report": {
            "seq": seq,
            "timestamp": (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z"),
            "latitude": lat,
            "longitude": lon,
            "id": "reporter-7",
            "x": 0.1,  # upstream keys the service does not use are ignored
        },
        "analysis": [
            {
                "language": "en",
                "title": title,
                "summary": summary,
                "severity_level": 0.6,
                "classification": "physical",
                **analysis,
            }
        ],
    }


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


@pytest.fixture
def service(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "report-pipeline", roles=["service"])


@pytest.fixture
def alice(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "alice")


@pytest.fixture
def case_id(clean_db: sa.Engine, api: TestClient[Any], alice: dict[str, str]) -> str:
    """An open case of reports 1 and 2, made from reports alone."""
    write(
        clean_db,
        [
            record(1, latitude=ZURICH[0], longitude=ZURICH[1], title=BIN,
                   summary="Bin overflowing, litter everywhere", severity_level=0.6,
                   ts=NOW - timedelta(hours=5)),
            record(2, latitude=_point(5, 5)[0], longitude=_point(5, 5)[1],
                   title="Trash bin overflowing next to tram stop",
                   summary="Litter around the bin", severity_level=0.6,
                   ts=NOW - timedelta(hours=4)),
        ],
    )  # fmt: skip
    created = api.post(
        CASES,
        json=create_body([1, 2], geometry=None, title="Overflowing bin at the tram stop",
                         summary=BIN, cluster_stats=None, cluster_analysis=None,
                         cluster_summary=""),
        headers=alice,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["case"]["case_id"])


def _detail(api: TestClient[Any], case_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = api.get(f"{CASES}/{case_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _count(engine: sa.Engine, table: sa.Table, **where: Any) -> int:
    with engine.connect() as conn:
        stmt = sa.select(sa.func.count()).select_from(table)
        for name, value in where.items():
            stmt = stmt.where(table.c[name] == value)
        return int(conn.execute(stmt).scalar_one())


# =========================================================================== attach


def test_a_report_of_the_incident_joins_the_case_once(
    api: TestClient[Any], clean_db: sa.Engine, case_id: str, service: dict[str, str],
    alice: dict[str, str],
) -> None:  # fmt: skip
    first = api.post(REPORTS, json=body(10, north_m=20), headers=service)
    assert first.status_code == 201, first.text
    answer = first.json()
    assert answer == {
        "seq": 10,
        "stored": True,
        "case": {
            "case_id": case_id, "title": "Overflowing bin at the tram stop", "status": "open",
            "report_count": 3, "action": "attached", "reopened": False, "suggestion_count": 0,
        },
    }  # fmt: skip
    detail = _detail(api, case_id, alice)
    link = next(x for x in detail["linked_reports"] if x["seq"] == 10)
    assert link["link_reason"] == "auto_match" and 0.75 <= link["confidence"] <= 1.0
    event = detail["audit_events"][-1]
    assert (event["event_type"], event["actor_user_id"]) == ("reports_added", "system:auto-match")
    payload = json.loads(event["payload_json"])
    assert payload["report_seqs"] == [10] and payload["match"]["band"] == "auto"
    assert payload["match"]["evidence_seq"] in (1, 2)
    # The aggregates followed in the same transaction: count, footprint covering report 10.
    assert detail["case"]["linked_report_count"] == 3
    features = json.loads(detail["case"]["aggregate_geometry_json"])["features"]
    north = json.loads(detail["case"]["aggregate_bbox_json"])[3]
    assert features and north >= _point(20, 0)[0]

    again = api.post(REPORTS, json=body(10, north_m=20), headers=service)  # idempotent
    assert again.status_code == 200, again.text
    assert again.json() == {**answer, "stored": False}
    assert _count(clean_db, t.case_reports, seq=10) == 1
    assert _count(clean_db, t.case_audit_events, case_id=case_id) == len(detail["audit_events"])
    assert _detail(api, case_id, alice)["case"]["linked_report_count"] == 3


def test_far_away_or_invisible_reports_join_nothing(
    api: TestClient[Any], clean_db: sa.Engine, case_id: str, service: dict[str, str]
) -> None:
    far = api.post(REPORTS, json=body(11, north_m=2_000), headers=service)
    assert far.status_code == 201
    assert far.json()["case"] == {
        "case_id": None, "title": None, "status": None, "report_count": 0, "action": "none",
        "reopened": False, "suggestion_count": 0,
    }  # fmt: skip
    invalid = api.post(REPORTS, json=body(12, north_m=10, is_valid=False), headers=service)
    assert invalid.json()["case"]["action"] == "none"
    with clean_db.connect() as conn:
        stored = conn.execute(sa.select(t.reports.c.seq).order_by(t.reports.c.seq)).scalars()
        assert list(stored) == [1, 2, 11, 12]
    assert _count(clean_db, t.case_reports, case_id=case_id) == 2


# =========================================================================== suggestions


def test_a_review_match_is_suggested_then_accepted_or_rejected(
    api: TestClient[Any], clean_db: sa.Engine, case_id: str, service: dict[str, str],
    alice: dict[str, str], token_rows: Callable[..., None],
) -> None:  # fmt: skip
    other = {"title": "Broken glass on the sidewalk", "summary": "Shards near the kerb"}
    for seq, north in ((20, 40), (21, -40)):
        response = api.post(REPORTS, json=body(seq, north_m=north, **other), headers=service)
        assert response.status_code == 201, response.text
        assert response.json()["case"] | {"report_count": 0} == {
            "case_id": case_id, "title": "Overflowing bin at the tram stop", "status": "open",
            "report_count": 0, "action": "suggested", "reopened": False,
            "suggestion_count": 1,
        }  # fmt: skip
    assert _count(clean_db, t.case_reports, case_id=case_id) == 2  # not linked

    queue = api.get(f"{CASES}/suggestions?status=open&limit=1", headers=alice)
    assert queue.status_code == 200, queue.text
    page = queue.json()
    assert [s["seq"] for s in page["suggestions"]] == [20] and page["next_cursor"]
    second = api.get(f"{CASES}/suggestions?limit=1&cursor={page['next_cursor']}", headers=alice)
    assert [s["seq"] for s in second.json()["suggestions"]] == [21]
    assert second.json()["next_cursor"] is None
    first = page["suggestions"][0]
    assert (first["case_id"], first["kind"], first["band"], first["status"]) == (
        case_id, "attach", "review", "open")  # fmt: skip
    assert first["report_title"] == other["title"]
    assert "same location" in first["match_reasons"]
    assert any(r.startswith("like report ") for r in first["match_reasons"])

    bob = user_headers(token_rows, "bob")  # any signed-in user may accept an attach
    accepted = api.post(
        f"{CASES}/{case_id}/suggestions/{first['id']}/accept", json={"note": "same corner"},
        headers=bob,
    )  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    result = accepted.json()
    assert result["suggestion"]["status"] == "accepted"
    assert result["suggestion"]["decided_by_user_id"] == "bob"
    assert result["suggestion"]["decision_note"] == "same corner"
    links = {x["seq"]: x["link_reason"] for x in result["detail"]["linked_reports"]}
    assert links[20] == "suggestion_accepted"
    assert result["detail"]["case"]["linked_report_count"] == 3
    assert result["detail"]["audit_events"][-1]["event_type"] == "suggestion_accepted"
    again = api.post(f"{CASES}/{case_id}/suggestions/{first['id']}/accept", headers=bob)
    assert (again.status_code, again.json()) == (
        409, {"error": f"suggestion {first['id']} is already accepted"})  # fmt: skip

    rejected = api.post(
        f"{CASES}/{case_id}/suggestions/{second.json()['suggestions'][0]['id']}/reject",
        headers=alice,
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["suggestion"]["status"] == "rejected"
    assert rejected.json()["detail"]["audit_events"][-1]["event_type"] == "suggestion_rejected"
    assert 21 not in {x["seq"] for x in rejected.json()["detail"]["linked_reports"]}
    listed = api.get(f"{CASES}/{case_id}/suggestions", headers=alice).json()["suggestions"]
    assert [(s["seq"], s["status"]) for s in listed] == [(20, "accepted"), (21, "rejected")]
    assert api.get(f"{CASES}/suggestions", headers=alice).json()["suggestions"] == []
    # Re-ingesting a rejected report suggests nothing new.
    again_21 = api.post(REPORTS, json=body(21, north_m=-40, **other), headers=service)
    assert again_21.status_code == 200
    assert _count(clean_db, t.case_suggestions) == 2


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/suggestions?status=maybe", 400, "unknown suggestion status maybe"),
        ("/suggestions?cursor=bm9wZQ", 400, "cursor is invalid"),
        ("/suggestions?limit=0", 400, "limit must be an integer in [1, 500]"),
        ("/case_000000000000000000000000/suggestions", 404, "case not found"),
    ],
)
def test_suggestion_lists_refuse_bad_queries(
    api: TestClient[Any], clean_db: sa.Engine, alice: dict[str, str], path: str, status: int,
    message: str,
) -> None:  # fmt: skip
    response = api.get(CASES + path, headers=alice)
    assert response.status_code == status
    assert response.json()["error"].startswith(message)


def test_a_recurrence_at_a_resolved_case_is_suggested_and_signalled(
    api: TestClient[Any], clean_db: sa.Engine, case_id: str, service: dict[str, str],
    alice: dict[str, str], token_rows: Callable[..., None],
) -> None:  # fmt: skip
    resolved = api.post(f"{CASES}/{case_id}/status", json={"status": "resolved"}, headers=alice)
    assert resolved.status_code == 200
    response = api.post(REPORTS, json=body(30, north_m=10), headers=service)
    assert response.json()["case"]["action"] == "suggested"
    detail = _detail(api, case_id, alice)
    assert detail["case"]["status"] == "resolved"  # AUTO_REOPEN is off
    signal = detail["resolution_signals"][-1]
    assert (signal["source_type"], signal["linked_report_seq"]) == ("recurrence", 30)
    suggestion = api.get(f"{CASES}/{case_id}/suggestions", headers=alice).json()["suggestions"]
    assert [(s["kind"], s["seq"], s["band"]) for s in suggestion] == [("reopen", 30, "auto")]
    path = f"{CASES}/{case_id}/suggestions/{suggestion[0]['id']}/accept"
    bob = user_headers(token_rows, "bob")
    denied = api.post(path, headers=bob)  # reopening is for the case's editors
    assert denied.status_code == 403
    accepted = api.post(path, json={"note": "bin is full again"}, headers=alice)
    assert accepted.status_code == 200, accepted.text
    after = accepted.json()["detail"]
    assert after["case"]["status"] == "open"
    changed = [e for e in after["audit_events"] if e["event_type"] == "status_changed"][-1]
    payload = json.loads(changed["payload_json"])
    assert (payload["from_status"], payload["to_status"]) == ("resolved", "open")
    assert payload["seq"] == 30
    assert "is back" in payload["reason"]
    assert 30 in {x["seq"] for x in after["linked_reports"]}


def test_auto_reopen_reopens_the_case_with_the_reason(
    db_url: str, clean_db: sa.Engine, case_id: str, service: dict[str, str],
    alice: dict[str, str], api: TestClient[Any],
) -> None:  # fmt: skip
    api.post(f"{CASES}/{case_id}/status", json={"status": "closed"}, headers=alice)
    settings = base_settings(db_url, auth_token_store="db", auto_reopen=True)
    with client_for(settings) as reopening:
        response = reopening.post(REPORTS, json=body(40, north_m=-10), headers=service)
        assert response.status_code == 201, response.text
        assert response.json()["case"] | {"report_count": 0} == {
            "case_id": case_id, "title": "Overflowing bin at the tram stop", "status": "open",
            "report_count": 0, "action": "attached", "reopened": True, "suggestion_count": 0,
        }  # fmt: skip
        detail = _detail(reopening, case_id, alice)
    events = [(e["event_type"], e["actor_user_id"]) for e in detail["audit_events"]][-2:]
    system = "system:auto-match"
    assert events == [("status_changed", system), ("reports_added", system)]
    payload = json.loads(detail["audit_events"][-2]["payload_json"])
    assert (payload["from_status"], payload["to_status"]) == ("closed", "open")
    assert "report 40 matched this closed case" in payload["reason"]
    assert detail["resolution_signals"][-1]["source_type"] == "recurrence"


def test_a_merge_moves_open_suggestions(
    api: TestClient[Any], clean_db: sa.Engine, case_id: str, service: dict[str, str],
    alice: dict[str, str],
) -> None:  # fmt: skip
    api.post(REPORTS, json=body(50, north_m=40, title="Broken glass on the sidewalk",
                                summary="Shards near the kerb"), headers=service)  # fmt: skip
    write(clean_db, [record(60, latitude=47.5, longitude=8.7)])
    far = create_body([60], geometry=None, force_new_case=True, cluster_summary="far")
    target = api.post(CASES, json=far, headers=alice).json()
    target_id = target["case"]["case_id"]
    merge = {"target_case_id": target_id, "source_case_ids": [case_id]}
    merged = api.post(f"{CASES}/merge", json=merge, headers=alice)
    assert merged.status_code == 200, merged.text
    moved = api.get(f"{CASES}/{target_id}/suggestions", headers=alice).json()["suggestions"]
    assert [(s["seq"], s["status"]) for s in moved] == [(50, "open")]
    assert api.get(f"{CASES}/{case_id}/suggestions", headers=alice).json()["suggestions"] == []


# =========================================================================== refusals


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"report": None}, "report is required"),
        ({"report": {"seq": 0}}, "report.seq must be a positive integer"),
        ({"report": {"seq": 5, "latitude": 91, "longitude": 8,
                     "timestamp": "2026-03-10T08:00:00Z"}},
         "report location (91.0, 8.0) is out of range"),
        ({"report": {"seq": 5, "latitude": 47, "longitude": 8, "timestamp": "2026-03-10T08:00"}},
         "report.timestamp must have a time zone"),
        ({"report": {"seq": 5, "latitude": 47, "longitude": 8, "timestamp": "yesterday"}},
         "report.timestamp must be an RFC 3339 time"),
        ({"analysis": []}, "analysis must hold at least one analysis"),
        ({"analysis": [{"severity_level": 2}]}, "analysis[0].severity_level must lie in [0, 1]"),
        ({"analysis": [{"classification": "mental"}]}, "analysis[0].classification must be one of"),
        ({"analysis": [{"language": "en"}, {"language": "en"}]},
         "analysis[1].language 'en' is given twice"),
    ],
)  # fmt: skip
def test_bad_reports_are_refused_and_nothing_is_stored(
    api: TestClient[Any], clean_db: sa.Engine, service: dict[str, str], change: dict[str, Any],
    message: str,
) -> None:  # fmt: skip
    response = api.post(REPORTS, json={**body(5), **change}, headers=service)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message)
    assert _count(clean_db, t.reports) == 0


def test_only_service_tokens_ingest_and_a_stored_seq_keeps_its_place(
    api: TestClient[Any], clean_db: sa.Engine, service: dict[str, str], alice: dict[str, str]
) -> None:
    assert api.post(REPORTS, json=body(7)).status_code == 401
    denied = api.post(REPORTS, json=body(7), headers=alice)
    assert (denied.status_code, denied.json()) == (
        403, {"error": "only a service account may ingest reports"})  # fmt: skip
    assert api.post(REPORTS, json=body(7), headers=service).status_code == 201
    moved = api.post(REPORTS, json=body(7, north_m=500), headers=service)
    assert (moved.status_code, moved.json()) == (
        409, {"error": "report 7 is already stored with another latitude"})  # fmt: skip


def _languages(engine: sa.Engine, seq: int) -> tuple[str | None, list[str]]:
    r, a = t.reports, t.report_analysis
    with engine.connect() as conn:
        preferred = conn.execute(sa.select(r.c.preferred_language).where(r.c.seq == seq))
        stored = conn.execute(sa.select(a.c.language).where(a.c.seq == seq))
        return preferred.scalar_one(), sorted(stored.scalars())


def test_a_report_and_its_analyses_are_stored_with_the_preferred_language(
    api: TestClient[Any], clean_db: sa.Engine, service: dict[str, str]
) -> None:
    """One statement stores both; the preferred language is the trigger's rule's."""

    def analyses(*languages: str) -> list[dict[str, Any]]:
        return [{**body(8)["analysis"][0], "language": code} for code in languages]

    first = {**body(8), "analysis": analyses("fr", "de")}
    assert api.post(REPORTS, json=first, headers=service).status_code == 201
    assert _languages(clean_db, 8) == ("de", ["de", "fr"])
    # A stored report: a new language is added and preferred when it ranks first ...
    again = {**body(8), "analysis": analyses("fr", "EN")}
    assert api.post(REPORTS, json=again, headers=service).status_code == 200
    assert _languages(clean_db, 8) == ("EN", ["EN", "de", "fr"])
    # ... and a conflicting one stores nothing of its analyses.
    moved = {**body(8, north_m=500), "analysis": analyses("it")}
    assert api.post(REPORTS, json=moved, headers=service).status_code == 409
    assert _languages(clean_db, 8) == ("EN", ["EN", "de", "fr"])
    assert api.post(REPORTS, json={**body(9), "analysis": analyses("pt", "EN", "en")},
                    headers=service).status_code == 201  # fmt: skip
    # "EN" or "en" by the database's collation: the trigger's own rule decides.
    with clean_db.connect() as conn:
        rule = conn.execute(
            sa.text("SELECT language FROM report_analysis WHERE seq = 9 ORDER BY "
                    "lower(language) <> 'en', lower(language), language LIMIT 1")
        ).scalar_one()  # fmt: skip
    assert _languages(clean_db, 9) == (rule, sorted(["EN", "en", "pt"]))


# =========================================================================== concurrency


@pytest.fixture(scope="module")
def server(db_settings: Settings) -> Iterator[str]:
    with serve_thread(create_app(db_settings)) as url:
        yield url


def test_concurrent_ingests_of_one_incident_end_in_one_case_whose_counts_equal_its_links(
    server: str, clean_db: sa.Engine, case_id: str, service: dict[str, str]
) -> None:
    seqs = list(range(100, 112))
    barrier = threading.Barrier(len(seqs))
    answers: dict[int, Any] = {}

    def send(k: int, seq: int) -> None:
        angle = 2 * math.pi * k / len(seqs)
        payload = body(seq, north_m=25 * math.sin(angle), east_m=25 * math.cos(angle))
        with httpx.Client(base_url=server, timeout=60) as http:
            barrier.wait()
            answers[seq] = http.post(REPORTS, json=payload, headers=service)

    threads = [threading.Thread(target=send, args=(k, s)) for k, s in enumerate(seqs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(r.status_code for r in answers.values()) == [201] * len(seqs)
    assert {r.json()["case"]["case_id"] for r in answers.values()} == {case_id}
    with clean_db.connect() as conn:
        links = conn.execute(
            sa.select(t.case_reports.c.case_id, sa.func.count()).group_by(t.case_reports.c.case_id)
        ).all()
        count = conn.execute(
            sa.select(t.cases.c.linked_report_count).where(t.cases.c.case_id == case_id)
        ).scalar_one()
    assert links == [(case_id, 2 + len(seqs))]
    assert count == 2 + len(seqs)
    assert sorted(r.json()["case"]["report_count"] for r in answers.values()) == list(
        range(3, 3 + len(seqs))
    )


def test_ingests_beyond_the_concurrency_limit_wait_outside_the_database(
    db_settings: Settings, clean_db: sa.Engine, case_id: str, service: dict[str, str]
) -> None:
    # INGEST_CONCURRENCY=1: twelve ingests sent at once all succeed, one after the other,
    # and never two of the service's sessions hold or wait for the ingest's locks at once.
    name = "ingest-limit-test"
    url = sa.engine.make_url(db_settings.database_url)
    url = url.update_query_dict({"application_name": name})
    settings = replace(db_settings, database_url=url.render_as_string(hide_password=False),
                       ingest_concurrency=1)  # fmt: skip
    lockers = sa.text(
        "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
        " WHERE l.locktype = 'advisory' AND a.application_name = :name"
    )
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        with clean_db.connect() as conn:
            while not done.is_set():
                seen.append(int(conn.execute(lockers, {"name": name}).scalar_one()))
                conn.rollback()

    seqs = list(range(200, 212))
    barrier = threading.Barrier(len(seqs))
    answers: dict[int, Any] = {}

    def send(http_url: str, k: int, seq: int) -> None:
        angle = 2 * math.pi * k / len(seqs)
        payload = body(seq, north_m=25 * math.sin(angle), east_m=25 * math.cos(angle))
        with httpx.Client(base_url=http_url, timeout=60) as http:
            barrier.wait()
            answers[seq] = http.post(REPORTS, json=payload, headers=service)

    with serve_thread(create_app(settings)) as http_url:
        watcher = threading.Thread(target=watch)
        watcher.start()
        threads = [threading.Thread(target=send, args=(http_url, k, s))
                   for k, s in enumerate(seqs)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        done.set()
        watcher.join(timeout=30)
    assert sorted(r.status_code for r in answers.values()) == [201] * len(seqs)
    assert {r.json()["case"]["case_id"] for r in answers.values()} == {case_id}
    assert sorted(r.json()["case"]["report_count"] for r in answers.values()) == list(
        range(3, 3 + len(seqs))
    )
    assert max(seen) == 1  # the watcher saw the ingests inside the database, one at a time
