"""Escalations end to end: the case service over its ASGI stack, the email service as a real
uvicorn server, a real SMTP server (aiosmtpd) and a SendGrid contract server.

Upstream tests T4/T5, and the upstream send problems fixed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from api_support import base_settings, bearer, client_for, mint_token
from case_support import record, square, write
from escalation_support import (
    INTERNAL_TOKEN,
    sendgrid_contract_server,
    slow_http_server,
    smtp_sink,
)
from litestar.testing import TestClient
from support import UvicornThread

from cleanapp_api.db import tables as t
from cleanapp_api.email_service.app import create_email_app
from cleanapp_api.email_service.settings import EmailSettings
from cleanapp_api.escalation.sending import recover_sends
from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

ADLISWIL = (47.31, 8.52)
LINK_RE = re.compile(r"(http://127\.0\.0\.1:\d+/unsubscribe\?token=[A-Za-z0-9_.%-]+)")
ALICE = bearer(mint_token("alice"))
BOB = bearer(mint_token("bob"))


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, list[Any]]]:
    with smtp_sink() as sink:
        yield sink


def email_settings(db_url: str, smtp_port: int, **overrides: Any) -> EmailSettings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "internal_admin_token": INTERNAL_TOKEN,
        "provider": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "provider_timeout_s": 5.0,
        "from_address": "cases@cleanapp.io",
    }
    values.update(overrides)
    return EmailSettings(**values)


@pytest.fixture(scope="module")
def email_url(db_url: str, smtp: tuple[int, list[Any]]) -> Iterator[str]:
    server = UvicornThread(create_email_app(email_settings(db_url, smtp[0]))).start()
    yield server.url
    server.stop()


def api_settings(db_url: str, email_service_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "email_service_url": email_service_url,
        "internal_admin_token": INTERNAL_TOKEN,
        "escalation_send_timeout_s": 5.0,
        **overrides,
    }
    return base_settings(db_url, **values)


@pytest.fixture(scope="module")
def api(db_url: str, email_url: str) -> Iterator[TestClient[Any]]:
    with client_for(api_settings(db_url, email_url)) as client:
        yield client


@pytest.fixture
def received(smtp: tuple[int, list[Any]]) -> list[Any]:
    smtp[1].clear()
    return smtp[1]


# --------------------------------------------------------------------------- cases

T4_TARGET = {
    "display_name": "Schulhaus Kopfholz",
    "organization": "Adliswil",
    "email": "schulverwaltung@adliswil.ch",
    "confidence_score": 0.9,
    "target_source": "area_contact",
}


def make_case(
    api: TestClient[Any],
    engine: sa.Engine,
    targets: list[dict[str, Any]],
    *,
    seq: int = 1,
    headers: dict[str, str] = ALICE,
) -> dict[str, Any]:
    """A case as in upstream T4: one linked report at Adliswil, severity 1."""
    write(
        engine,
        [
            record(
                seq,
                latitude=ADLISWIL[0],
                longitude=ADLISWIL[1],
                severity_level=1.0,
                title="Structural crack in concrete wall",
                summary="A wide crack runs through the wall.",
            )
        ],
    )
    response = api.post(
        "/api/v3/cases",
        json={
            "title": "Incident cluster at Schulhaus Kopfholz",
            "summary": "Case created from area scope around Schulhaus Kopfholz.",
            "classification": "physical",
            "geometry": square(*ADLISWIL, 200),
            "anchor_report_seq": seq,
            "report_seqs": [seq],
            "force_new_case": True,
            "escalation_targets": targets,
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    detail: dict[str, Any] = response.json()
    return detail


def target_ids(detail: dict[str, Any]) -> dict[str, int]:
    return {x["email"]: x["id"] for x in detail["escalation_targets"] if x["email"]}


def rows(engine: sa.Engine, table: sa.Table, case_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(table).where(table.c.case_id == case_id).order_by(table.c.id)
            ).mappings()
        )


def audit_types(engine: sa.Engine, case_id: str) -> list[str]:
    return [r["event_type"] for r in rows(engine, t.case_audit_events, case_id)]


def url(case_id: str, tail: str = "") -> str:
    return f"/api/v3/cases/{case_id}/escalations{tail}"


# --------------------------------------------------------------------------- drafts


def test_t4_draft_black_box_nothing_persisted(api: TestClient[Any], clean_db: sa.Engine) -> None:
    detail = make_case(api, clean_db, [T4_TARGET])
    case_id = detail["case"]["case_id"]
    r = api.post(url(case_id, "/draft"), json={}, headers=ALICE)
    assert r.status_code == 200, r.text
    draft = r.json()
    assert list(draft) == [
        "case_id", "subject", "body", "html_body", "cc_emails", "targets", "linked_count",
        "locale", "locale_source",
    ]  # fmt: skip
    assert "CleanApp-Meldung" in draft["subject"]
    assert draft["subject"] == "CleanApp-Meldung: Vorfallcluster bei Schulhaus Kopfholz"
    for text in (
        "Guten Tag",
        "Schweregrad: 100%",
        "Dringlichkeit: 100%",
        "Verknüpfte Meldungen: 1",
        "Der Fall wurde aus einem Bereich rund um Schulhaus Kopfholz erstellt.",
        f"https://www.cleanapp.io/cases/{case_id}",
        "- Structural crack in concrete wall (Schweregrad 100%; ",
        "47.31000, 8.52000)",
    ):
        assert text in draft["body"]
    assert f'<a href="https://www.cleanapp.io/cases/{case_id}">' in draft["html_body"]
    assert draft["locale"] == "de" and draft["locale_source"] == "recipient_domain"
    assert [x["email"] for x in draft["targets"]] == ["schulverwaltung@adliswil.ch"]
    assert draft["cc_emails"] == [] and draft["linked_count"] == 1
    # An empty body is a valid draft request too; nothing was stored.
    assert api.post(url(case_id, "/draft"), headers=ALICE).json()["subject"] == draft["subject"]
    assert rows(clean_db, t.case_escalation_actions, case_id) == []
    assert rows(clean_db, t.case_escalation_sends, case_id) == []
    assert audit_types(clean_db, case_id) == ["case_created"]


def test_t5_cc_normalisation_and_draft_errors(api: TestClient[Any], clean_db: sa.Engine) -> None:
    detail = make_case(
        api,
        clean_db,
        [
            {"email": "maintenance@adliswil.ch", "confidence_score": 0.9},
            {"email": "helpdesk@facility-services.com", "target_source": "inferred_contact"},
        ],
    )
    case_id = detail["case"]["case_id"]
    ids = target_ids(detail)
    cc = [
        "maintenance@adliswil.ch, safety@adliswil.ch",
        "ops@adliswil.ch; safety@adliswil.ch",
        "  mayor@adliswil.ch  ",
    ]
    r = api.post(
        url(case_id, "/draft"),
        json={"target_ids": [ids["maintenance@adliswil.ch"]], "cc_emails": cc, "locale": "fr"},
        headers=ALICE,
    )
    assert r.json()["cc_emails"] == ["mayor@adliswil.ch", "ops@adliswil.ch", "safety@adliswil.ch"]
    assert r.json()["subject"].startswith("Alerte CleanApp : ")
    # Default selection: the visible targets (the inferred one is shadowed).
    default = api.post(url(case_id, "/draft"), json={}, headers=ALICE).json()
    assert [x["email"] for x in default["targets"]] == ["maintenance@adliswil.ch"]
    hidden = ids["helpdesk@facility-services.com"]
    cases = [
        ({"target_ids": [999, 998]}, ALICE, 400, "unknown target ids: 999, 998"),
        ({"locale": "nl"}, ALICE, 400, "locale must be one of en, de, fr, it, es, pt, got 'nl'"),
        (
            {"target_ids": [hidden]},
            ALICE,
            400,
            'targets hidden or held (pass "force": true to include them): '
            f"{hidden} (hidden: inferred contact shadowed by better targets)",
        ),
    ]
    for body, headers, status, message in cases:
        r = api.post(url(case_id, "/draft"), json=body, headers=headers)
        assert (r.status_code, r.json()) == (status, {"error": message})
    # Drafting changes nothing: any signed-in user who can read the case may draft.
    assert api.post(url(case_id, "/draft"), json={}, headers=BOB).json() == default
    forced = api.post(
        url(case_id, "/draft"), json={"target_ids": [hidden], "force": True}, headers=ALICE
    )
    assert [x["email"] for x in forced.json()["targets"]] == ["helpdesk@facility-services.com"]
    missing = api.post(url("case_" + "0" * 24, "/draft"), json={}, headers=ALICE)
    assert (missing.status_code, missing.json()) == (404, {"error": "case not found"})
    assert api.post(url(case_id, "/draft"), json={}).status_code == 401


# --------------------------------------------------------------------------- sending


def test_send_one_message_per_recipient_and_persisted_truth(
    api: TestClient[Any], clean_db: sa.Engine, received: list[Any]
) -> None:
    detail = make_case(
        api,
        clean_db,
        [
            T4_TARGET,
            {
                "email": "bau@adliswil.ch",
                "display_name": "Bau und Planung",
                "confidence_score": 0.8,
            },
            {"email": "test@example.com", "confidence_score": 0.5},  # a placeholder address
        ],
    )
    case_id = detail["case"]["case_id"]
    ids = target_ids(detail)
    selection = [
        ids["schulverwaltung@adliswil.ch"],
        ids["bau@adliswil.ch"],
        ids["test@example.com"],
    ]
    r = api.post(
        url(case_id, "/send"),
        json={"target_ids": selection, "cc_emails": ["mayor@adliswil.ch", "bau@adliswil.ch"]},
        headers=ALICE,
    )
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["status"] == "partial" and sent["replayed"] is False and sent["skipped"] == []
    assert sent["cc_emails"] == ["mayor@adliswil.ch"]

    # One message per valid recipient (two targets and the CC), none for the placeholder.
    assert sorted(m.rcpt_tos[0] for m in received) == [
        "bau@adliswil.ch",
        "mayor@adliswil.ch",
        "schulverwaltung@adliswil.ch",
    ]
    for message in received:
        assert message.message["Subject"] == sent["subject"]
        assert sent["subject"].startswith("CleanApp-Meldung: ")
        assert "Guten Tag" in message.text and "Schweregrad: 100%" in message.text
        assert "Guten Tag" in message.html and "<a href=" in message.html
        link = LINK_RE.search(message.text)
        assert link is not None and message.message["List-Unsubscribe"] == f"<{link.group(1)}>"
        # The footer speaks the message's language (German here, as the draft).
        assert "Sie erhalten diese Nachricht" in message.text
        assert "Von CleanApp-Fall-E-Mails abmelden" in message.html

    # The answer holds the persisted rows, identical to what GET shows.
    actions = {a["target_id"]: a for a in sent["actions"]}
    assert actions[ids["schulverwaltung@adliswil.ch"]]["status"] == "sent"
    assert actions[ids["test@example.com"]]["status"] == "invalid_email"
    assert all(a["id"] > 0 and a["created_at"] for a in sent["actions"])
    deliveries = {d["recipient_email"]: d for d in sent["deliveries"]}
    by_rcpt = {m.rcpt_tos[0]: m for m in received}
    for address in ("schulverwaltung@adliswil.ch", "bau@adliswil.ch", "mayor@adliswil.ch"):
        d = deliveries[address]
        assert (d["delivery_status"], d["provider"]) == ("sent", "smtp")
        assert d["provider_message_id"] == by_rcpt[address].message["Message-ID"]
        assert d["sent_at"] and d["id"] > 0
    assert deliveries["mayor@adliswil.ch"]["delivery_source"] == "manual_cc"
    assert deliveries["mayor@adliswil.ch"]["action_id"] is None
    assert deliveries["schulverwaltung@adliswil.ch"]["delivery_source"] == "area_contact"
    assert deliveries["test@example.com"]["delivery_status"] == "invalid_email"
    assert deliveries["test@example.com"]["error_message"] == "invalid recipient email"
    view = api.get(url(case_id), headers=BOB).json()  # any signed-in user may read
    assert list(view) == [
        "case_id", "targets", "observations", "notify_plan", "routing_profile",
        "execution_tasks", "notify_outcomes", "actions", "deliveries", "linked_count",
    ]  # fmt: skip
    assert view["actions"] == sent["actions"] and view["deliveries"] == sent["deliveries"]
    assert view["linked_count"] == 1
    # Each settled delivery is an outcome of its endpoint (docs/routing.md): delivered ones
    # a success, the invalid address a bounce.
    outcomes = {o["endpoint_key"]: o for o in view["notify_outcomes"]}
    assert outcomes["email:schulverwaltung@adliswil.ch"]["outcome_type"] == "sent"
    assert outcomes["email:mayor@adliswil.ch"]["outcome_type"] == "sent"
    assert outcomes["email:test@example.com"]["outcome_type"] == "bounced"
    assert {o["source_type"] for o in outcomes.values()} == {"case_email_delivery"}
    assert {r["status"] for r in rows(clean_db, t.case_escalation_actions, case_id)} == {
        "sent",
        "invalid_email",
    }
    assert audit_types(clean_db, case_id) == [
        "case_created",
        "case_escalation_requested",
        "case_escalation_recorded",
    ]
    # Sending needs explicit target ids and an editor.
    r = api.post(url(case_id, "/send"), json={}, headers=ALICE)
    assert r.status_code == 400 and r.json()["error"].startswith("target_ids is required")
    r = api.post(url(case_id, "/send"), json={"target_ids": selection}, headers=BOB)
    assert (r.status_code, r.json()) == (
        403,
        {
            "error": "only the case creator, an admin or a service account may send this "
            "case's escalations"
        },
    )


def test_idempotency_key_replays_and_window_prevents_resending(
    api: TestClient[Any], clean_db: sa.Engine, received: list[Any]
) -> None:
    detail = make_case(api, clean_db, [T4_TARGET, {"email": "bau@adliswil.ch"}])
    case_id = detail["case"]["case_id"]
    ids = target_ids(detail)
    first_id = ids["schulverwaltung@adliswil.ch"]
    headers = {**ALICE, "Idempotency-Key": "send-42"}
    first = api.post(url(case_id, "/send"), json={"target_ids": [first_id]}, headers=headers)
    assert first.status_code == 200 and len(received) == 1
    again = api.post(url(case_id, "/send"), json={"target_ids": [first_id]}, headers=headers)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {**first.json(), "replayed": True}
    assert len(received) == 1  # nothing new was sent
    assert len(rows(clean_db, t.case_escalation_sends, case_id)) == 1
    assert len(rows(clean_db, t.case_email_deliveries, case_id)) == 1
    other = api.post(
        url(case_id, "/send"), json={"target_ids": [first_id], "force": True}, headers=headers
    )
    assert (other.status_code, other.json()) == (
        422,
        {"error": "Idempotency-Key was already used for a different request; use a new key"},
    )

    # Without a key, the same subject and body are not sent again within the window...
    dup = api.post(url(case_id, "/send"), json={"target_ids": [first_id]}, headers=ALICE)
    assert dup.status_code == 409
    assert dup.json()["error"].startswith(
        "the same subject and body were already sent to every recipient of this case within "
        "the last 24 h: schulverwaltung@adliswil.ch"
    )
    # ...new recipients get it, the others are skipped and listed...
    both = [first_id, ids["bau@adliswil.ch"]]
    partial = api.post(url(case_id, "/send"), json={"target_ids": both}, headers=ALICE).json()
    assert [d["recipient_email"] for d in partial["deliveries"]] == ["bau@adliswil.ch"]
    assert partial["skipped"] == [
        {
            "email": "schulverwaltung@adliswil.ch",
            "target_id": first_id,
            "reason": "same subject and body already sent within 24 h",
        }
    ]
    assert len(received) == 2
    # ...a different message goes out, and force re-sends the same one.
    changed = api.post(
        url(case_id, "/send"), json={"target_ids": [first_id], "subject": "Reminder"}, headers=ALICE
    )
    assert changed.json()["status"] == "sent"
    forced = api.post(
        url(case_id, "/send"), json={"target_ids": [first_id], "force": True}, headers=ALICE
    )
    assert forced.json()["status"] == "sent"
    assert len(received) == 4


def test_a_merge_moves_sends_and_a_key_replays_on_either_case(
    api: TestClient[Any], clean_db: sa.Engine, received: list[Any]
) -> None:
    source = make_case(api, clean_db, [T4_TARGET], seq=1)
    target = make_case(api, clean_db, [{"email": "bau@adliswil.ch"}], seq=2)
    source_id, target_id = source["case"]["case_id"], target["case"]["case_id"]
    body = {"target_ids": [target_ids(source)["schulverwaltung@adliswil.ch"]]}
    headers = {**ALICE, "Idempotency-Key": "before-merge"}
    first = api.post(url(source_id, "/send"), json=body, headers=headers)
    assert first.status_code == 200 and len(received) == 1
    merged = api.post(
        "/api/v3/cases/merge",
        json={"target_case_id": target_id, "source_case_ids": [source_id]},
        headers=ALICE,
    )
    assert merged.status_code == 200, merged.text
    assert len(rows(clean_db, t.case_escalation_sends, target_id)) == 1  # the send moved
    assert rows(clean_db, t.case_escalation_sends, source_id) == []
    for case_id in (source_id, target_id):
        again = api.post(url(case_id, "/send"), json=body, headers=headers)
        assert again.status_code == 200, (case_id, again.text)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == {**first.json(), "replayed": True}
    assert len(received) == 1  # nothing was sent again
    # Another request under the key is still a conflict; the merged case takes no new sends.
    other = api.post(url(target_id, "/send"), json={**body, "force": True}, headers=headers)
    assert other.status_code == 422
    fresh = api.post(url(source_id, "/send"), json=body, headers=ALICE)
    assert fresh.status_code == 409 and "merged into" in fresh.json()["error"]


def test_unsubscribe_link_then_opted_out(
    api: TestClient[Any], clean_db: sa.Engine, received: list[Any]
) -> None:
    detail = make_case(api, clean_db, [T4_TARGET])
    case_id = detail["case"]["case_id"]
    (target,) = target_ids(detail).values()
    api.post(url(case_id, "/send"), json={"target_ids": [target]}, headers=ALICE)
    (message,) = received
    link = LINK_RE.search(message.text)
    assert link is not None
    assert httpx.get(link.group(1), timeout=10).status_code == 200  # a scanner opens it
    assert httpx.post(link.group(1), timeout=10).status_code == 200  # the recipient confirms
    r = api.post(
        url(case_id, "/send"),
        json={"target_ids": [target], "subject": "Second notice"},
        headers=ALICE,
    )
    out = r.json()
    assert out["status"] == "failed"
    assert [(d["delivery_status"], d["error_message"]) for d in out["deliveries"]] == [
        ("opted_out", "recipient opted out")
    ]
    assert out["actions"][0]["status"] == "opted_out"
    assert len(received) == 1


def test_email_service_stopped_then_retry_with_the_same_key(
    db_url: str, clean_db: sa.Engine, smtp: tuple[int, list[Any]], received: list[Any]
) -> None:
    server = UvicornThread(create_email_app(email_settings(db_url, smtp[0]))).start()
    port = server.port
    server.stop()  # the email service is down
    with client_for(api_settings(db_url, server.url)) as api:
        detail = make_case(api, clean_db, [T4_TARGET, {"email": "bau@adliswil.ch"}])
        case_id = detail["case"]["case_id"]
        ids = sorted(target_ids(detail).values())
        headers = {**ALICE, "Idempotency-Key": "retry-me"}
        r = api.post(url(case_id, "/send"), json={"target_ids": ids}, headers=headers)
        assert (r.status_code, r.json()) == (
            502,
            {"error": "failed to send case escalation emails: email service unreachable"},
        )
        actions = rows(clean_db, t.case_escalation_actions, case_id)
        assert [a["status"] for a in actions] == ["failed", "failed"]
        deliveries = rows(clean_db, t.case_email_deliveries, case_id)
        assert [(d["delivery_status"], d["provider"]) for d in deliveries] == [
            ("failed", "email_service")
        ] * 2
        assert all("email service unreachable" in d["error_message"] for d in deliveries)
        (send,) = rows(clean_db, t.case_escalation_sends, case_id)
        assert (send["status"], send["response_status"]) == ("failed", 502)
        assert audit_types(clean_db, case_id)[-2:] == [
            "case_escalation_requested",
            "case_escalation_recorded",
        ]
        assert received == []

        # The service comes back; the client retries with the same key: the same send is
        # driven again for its failed recipients and completes.
        revived = UvicornThread(
            create_email_app(email_settings(db_url, smtp[0])), port=port
        ).start()
        try:
            retry = api.post(url(case_id, "/send"), json={"target_ids": ids}, headers=headers)
        finally:
            revived.stop()
        assert retry.status_code == 200, retry.text
        assert retry.json()["status"] == "sent"
        assert retry.json()["send_id"] == send["id"]
        assert len(received) == 2
        assert [a["status"] for a in rows(clean_db, t.case_escalation_actions, case_id)] == [
            "sent"
        ] * 2
        statuses = [d["delivery_status"] for d in rows(clean_db, t.case_email_deliveries, case_id)]
        assert statuses == ["sent", "sent"]  # one delivery per recipient, updated in place


def test_slow_email_service_is_unknown_never_failed(db_url: str, clean_db: sa.Engine) -> None:
    with (
        slow_http_server(3.0) as slow,
        client_for(api_settings(db_url, slow, escalation_send_timeout_s=0.5)) as api,
    ):
        detail = make_case(api, clean_db, [T4_TARGET])
        case_id = detail["case"]["case_id"]
        r = api.post(
            url(case_id, "/send"),
            json={"target_ids": list(target_ids(detail).values())},
            headers=ALICE,
        )
    # The email service may still deliver: the outcome is unknown (202), never "failed".
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "unknown"
    (delivery,) = r.json()["deliveries"]
    assert delivery["delivery_status"] == "unknown"
    assert "timed out after 0.5 s; delivery state unknown" in delivery["error_message"]
    assert [a["status"] for a in rows(clean_db, t.case_escalation_actions, case_id)] == ["unknown"]
    assert rows(clean_db, t.case_escalation_sends, case_id)[0]["status"] == "unknown"


def test_crash_between_send_and_record_is_recovered_without_a_second_copy(
    api: TestClient[Any], db_url: str, email_url: str, clean_db: sa.Engine, received: list[Any]
) -> None:
    detail = make_case(api, clean_db, [T4_TARGET])
    case_id = detail["case"]["case_id"]
    (target,) = target_ids(detail).values()
    done = api.post(url(case_id, "/send"), json={"target_ids": [target]}, headers=ALICE).json()
    assert len(received) == 1
    # Rewind the store to the state a crash right after the email service call leaves: the
    # intent is recorded (pending send, action and delivery), the outcome is not.
    with clean_db.begin() as conn:
        conn.execute(
            sa.update(t.case_email_deliveries)
            .where(t.case_email_deliveries.c.case_id == case_id)
            .values(delivery_status="pending", provider_message_id=None, sent_at=None)
        )
        conn.execute(
            sa.update(t.case_escalation_actions)
            .where(t.case_escalation_actions.c.case_id == case_id)
            .values(status="pending", provider_message_id=None, sent_at=None)
        )
        conn.execute(
            sa.update(t.case_escalation_sends)
            .where(t.case_escalation_sends.c.id == done["send_id"])
            .values(status="pending", response_status=None, response_json={"skipped": []},
                    sent_emails=[], updated_at=datetime.now(UTC) - timedelta(minutes=5))
        )  # fmt: skip
    recovered = recover_sends(clean_db, api_settings(db_url, email_url))
    assert recovered == [done["send_id"]]
    assert len(received) == 1  # the reconciler asked the email service's ledger
    (delivery,) = rows(clean_db, t.case_email_deliveries, case_id)
    assert delivery["delivery_status"] == "sent"
    assert delivery["provider_message_id"] == received[0].message["Message-ID"]
    assert [a["status"] for a in rows(clean_db, t.case_escalation_actions, case_id)] == ["sent"]
    assert rows(clean_db, t.case_escalation_sends, case_id)[0]["status"] == "sent"
    assert audit_types(clean_db, case_id)[-1] == "case_escalation_reconciled"


def test_rate_limits(db_url: str, email_url: str, clean_db: sa.Engine, received: list[Any]) -> None:
    with client_for(
        api_settings(
            db_url, email_url, escalation_case_sends_per_h=2, escalation_user_sends_per_h=3
        )
    ) as api:
        one = make_case(api, clean_db, [T4_TARGET], seq=1)
        two = make_case(api, clean_db, [T4_TARGET], seq=2)
        case_one, case_two = one["case"]["case_id"], two["case"]["case_id"]
        (t1,) = target_ids(one).values()
        (t2,) = target_ids(two).values()
        for subject in ("A", "B"):
            r = api.post(
                url(case_one, "/send"), json={"target_ids": [t1], "subject": subject}, headers=ALICE
            )
            assert r.status_code == 200
        r = api.post(
            url(case_one, "/send"), json={"target_ids": [t1], "subject": "C"}, headers=ALICE
        )
        assert r.status_code == 429
        assert re.fullmatch(
            r"escalation send limit reached: at most 2 sends per case per hour; retry in \d+ s",
            r.json()["error"],
        )
        assert int(r.headers["Retry-After"]) > 3500
        assert (
            api.post(url(case_two, "/send"), json={"target_ids": [t2]}, headers=ALICE).status_code
            == 200
        )
        r = api.post(
            url(case_two, "/send"), json={"target_ids": [t2], "subject": "D"}, headers=ALICE
        )
        assert r.status_code == 429
        assert "at most 3 sends per user per hour" in r.json()["error"]
    assert len(received) == 3


def test_sendgrid_message_ids_recorded(db_url: str, clean_db: sa.Engine) -> None:
    with sendgrid_contract_server("SG.key") as (api_url, seen):
        settings = email_settings(
            db_url, 25, provider="sendgrid", sendgrid_api_key="SG.key", sendgrid_api_url=api_url
        )
        server = UvicornThread(create_email_app(settings)).start()
        try:
            with client_for(api_settings(db_url, server.url)) as api:
                detail = make_case(api, clean_db, [T4_TARGET, {"email": "bau@adliswil.ch"}])
                case_id = detail["case"]["case_id"]
                ids = list(target_ids(detail).values())
                r = api.post(url(case_id, "/send"), json={"target_ids": ids}, headers=ALICE)
        finally:
            server.stop()
    assert r.status_code == 200, r.text
    stored = rows(clean_db, t.case_email_deliveries, case_id)
    assert [d["provider"] for d in stored] == ["sendgrid", "sendgrid"]
    assert sorted(d["provider_message_id"] for d in stored) == sorted(seen.message_ids)
    assert {
        a["provider_message_id"] for a in rows(clean_db, t.case_escalation_actions, case_id)
    } == set(seen.message_ids)


def test_send_without_email_service_configured(db_url: str, clean_db: sa.Engine) -> None:
    with client_for(api_settings(db_url, None)) as api:
        detail = make_case(api, clean_db, [T4_TARGET])
        case_id = detail["case"]["case_id"]
        r = api.post(
            url(case_id, "/send"),
            json={"target_ids": list(target_ids(detail).values())},
            headers=ALICE,
        )
    assert (r.status_code, r.json()) == (
        503,
        {"error": "email service not configured (EMAIL_SERVICE_URL)"},
    )
    assert rows(clean_db, t.case_escalation_actions, case_id) == []


def test_amplification_is_capped_and_nothing_is_stored(
    api: TestClient[Any], clean_db: sa.Engine, received: list[Any]
) -> None:
    detail = make_case(api, clean_db, [T4_TARGET])
    case_id = detail["case"]["case_id"]
    ids = list(target_ids(detail).values())
    many = [f"person{i}@adliswil.ch" for i in range(10_000)]
    for body, message in (
        ({"target_ids": ids, "cc_emails": many}, "at most 20 cc_emails per send, got 10000"),
        ({"target_ids": list(range(1, 52))}, "at most 50 target_ids per send, got 51"),
    ):
        r = api.post(url(case_id, "/send"), json=body, headers=ALICE)
        assert (r.status_code, r.json()) == (400, {"error": message})
    assert rows(clean_db, t.case_escalation_sends, case_id) == []
    assert rows(clean_db, t.case_email_deliveries, case_id) == []
    assert received == []
    # A send the case service accepts always fits the email service's body limit.
    assert EmailSettings(database_url="postgresql+psycopg:///x").request_body_limit_bytes > (
        Settings(database_url="postgresql+psycopg:///x", jwt_secret="k").request_body_limit_bytes
    )
