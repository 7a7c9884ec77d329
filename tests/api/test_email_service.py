"""The email service as a real server: SMTP (aiosmtpd), SendGrid contract, outbox, opt-out
links, message keys, dry run, auth."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from escalation_support import (
    INTERNAL_TOKEN,
    sendgrid_contract_server,
    smtp_sink,
)
from litestar.testing import TestClient
from support import free_port, serve_thread

from cleanapp_api.db import tables as t
from cleanapp_api.email_service.app import create_email_app
from cleanapp_api.email_service.settings import EMAIL_ENV_VARS, EmailSettings
from cleanapp_api.email_service.unsubscribe import make_token, unsubscribe_key

pytestmark = pytest.mark.postgis

SEND = "/internal/case-escalations/send"
HEADERS = {"X-Internal-Admin-Token": INTERNAL_TOKEN}
CASE_ID = "case_0123456789abcdef01234567"
LINK_RE = re.compile(r"(http://127\.0\.0\.1:\d+/unsubscribe\?token=[A-Za-z0-9_.%-]+)")


def settings_for(db_url: str, **overrides: Any) -> EmailSettings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "internal_admin_token": INTERNAL_TOKEN,
        "provider": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": free_port(),
        "provider_timeout_s": 5.0,
        "from_address": "cases@cleanapp.io",
    }
    values.update(overrides)
    return EmailSettings(**values)


def body(*emails: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "case_id": CASE_ID,
        "subject": "CleanApp escalation: Broken wall",
        "body": "Hello,\n\nPlease fix the wall.\n\nBest,\nCleanApp",
        "html_body": "<p>Hello,</p><p>Please fix the wall.</p>",
        "recipients": [
            {
                "target_id": i + 1,
                "email": address,
                "delivery_source": "area_contact",
                "display_name": f"Contact {i}",
                "organization": "Town",
                **({"message_key": f"{key}:{address}"} if key else {}),
            }
            for i, address in enumerate(emails)
        ],
        **extra,
    }


@pytest.fixture
def smtp() -> Iterator[tuple[int, list[Any]]]:
    with smtp_sink() as sink:
        yield sink


def opted_out(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t.opted_out_emails.c.email)).scalars())


def test_internal_token_guard(db_url: str) -> None:
    unset = settings_for(db_url, internal_admin_token=None)
    with TestClient(create_email_app(unset)) as client:
        r = client.post(SEND, json=body("a@town.ch"), headers=HEADERS)
        assert (r.status_code, r.json()) == (503, {"error": "internal admin token not configured"})
    with TestClient(create_email_app(settings_for(db_url))) as client:
        for headers in ({}, {"X-Internal-Admin-Token": "wrong"}, {"X-Internal-Admin-Token": ""}):
            r = client.post(SEND, json=body("a@town.ch"), headers=headers)
            assert (r.status_code, r.json()) == (401, {"error": "unauthorized"})
        r = client.post(SEND, json=body(), headers=HEADERS)
        assert (r.status_code, r.json()) == (400, {"error": "at least one recipient is required"})
        r = client.post(SEND, json=body(" ", ""), headers=HEADERS)
        assert (r.status_code, r.json()) == (400, {"error": "no valid recipients provided"})
        r = client.post(SEND, content=b"{", headers={**HEADERS, "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"].startswith("invalid json")
        # The header is trimmed.
        r = client.post(
            SEND,
            json=body("invalid-email"),
            headers={"X-Internal-Admin-Token": f" {INTERNAL_TOKEN} "},
        )
        assert r.status_code == 200


def test_smtp_one_message_per_recipient_with_unsubscribe_and_opt_out(
    db_url: str, clean_db: sa.Engine, smtp: tuple[int, list[Any]]
) -> None:
    port, received = smtp
    settings = settings_for(db_url, smtp_port=port)
    with serve_thread(create_email_app(settings)) as url:
        recipients = ["Ops@Town.ch", "contest@x.com", "invalid-email", "test@example.com"]
        r = httpx.post(url + SEND, json=body(*recipients), headers=HEADERS, timeout=30)
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [(x["email"], x["status"], x["error"]) for x in results] == [
            ("ops@town.ch", "sent", None),
            ("contest@x.com", "sent", None),  # no substring false positive
            ("invalid-email", "invalid_email", "invalid recipient email"),
            ("test@example.com", "invalid_email", "invalid recipient email"),
        ]
        assert all(x["provider"] == "smtp" for x in results)
        assert [x["target_id"] for x in results] == [1, 2, 3, 4]
        assert results[0]["delivery_source"] == "area_contact"
        assert results[0]["sent_at"].endswith("Z") and results[2]["sent_at"] is None

        assert len(received) == 2  # one message per valid recipient
        assert [m.rcpt_tos for m in received] == [["ops@town.ch"], ["contest@x.com"]]
        first = received[0]
        msg = first.message
        assert first.mail_from == "cases@cleanapp.io"
        assert msg["Subject"] == "CleanApp escalation: Broken wall"
        assert msg["To"] == "Contact 0 <ops@town.ch>"
        assert msg["Message-ID"] == results[0]["provider_message_id"]
        assert msg.get_content_type() == "multipart/alternative"
        assert "Please fix the wall." in first.text
        assert "<p>Please fix the wall.</p>" in first.html
        link = LINK_RE.search(first.text)
        assert link is not None
        assert msg["List-Unsubscribe"] == f"<{link.group(1)}>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # Sent unfolded and unencoded, as mail clients need it.
        assert f"\nList-Unsubscribe: <{link.group(1)}>\r\n".encode() in first.raw
        assert link.group(1).replace("&", "&amp;") in first.html

        # Opening the link (a GET, as mail scanners do) shows a confirmation page and changes
        # nothing; its button (a POST) records the opt-out.
        page = httpx.get(link.group(1), timeout=10)
        assert page.status_code == 200 and "ops@town.ch" in page.text
        assert '<form method="post"' in page.text and "<button" in page.text
        assert opted_out(clean_db) == []
        action = re.search(r'action="([^"]+)"', page.text)
        assert action is not None
        confirmed = httpx.post(url + action.group(1).replace("&amp;", "&"), timeout=10)
        assert confirmed.status_code == 200 and "will not receive" in confirmed.text
        assert opted_out(clean_db) == ["ops@town.ch"]
        again = httpx.post(
            url + SEND, json=body("ops@town.ch", subject="Second notice"), headers=HEADERS
        )
        assert again.json()["results"][0]["status"] == "opted_out"
        assert again.json()["results"][0]["error"] == "recipient opted out"
        assert len(received) == 2

        # One-click POST (RFC 8058) and a forged token.
        other = LINK_RE.search(received[1].text)
        assert other is not None
        assert httpx.post(other.group(1), data={"List-Unsubscribe": "One-Click"}).status_code == 200
        assert sorted(opted_out(clean_db)) == ["contest@x.com", "ops@town.ch"]
        forged = make_token(b"not the key", "victim@town.ch")
        assert httpx.get(f"{url}/unsubscribe?token={forged}").status_code == 400
        assert httpx.get(f"{url}/unsubscribe").status_code == 400
        assert "victim@town.ch" not in opted_out(clean_db)


def test_message_keys_make_retries_idempotent(
    db_url: str, clean_db: sa.Engine, smtp: tuple[int, list[Any]]
) -> None:
    port, received = smtp
    with serve_thread(create_email_app(settings_for(db_url, smtp_port=port))) as url:
        first = httpx.post(
            url + SEND, json=body("a@town.ch", "b@town.ch", key="send-1"), headers=HEADERS
        )
        second = httpx.post(
            url + SEND, json=body("a@town.ch", "b@town.ch", key="send-1"), headers=HEADERS
        )
        assert len(received) == 2
        assert first.json() == second.json()
        third = httpx.post(url + SEND, json=body("a@town.ch", key="send-2"), headers=HEADERS)
        assert third.json()["results"][0]["status"] == "sent" and len(received) == 3
        # A key another process is delivering (its claim is live) is answered "pending" and
        # not sent; once the claim has lapsed (that process died) it is delivered, with the
        # Message-ID every attempt of that key carries.
        with clean_db.begin() as conn:
            conn.execute(
                sa.insert(t.email_messages).values(
                    message_key="send-3:c@town.ch",
                    email="c@town.ch",
                    status="sending",
                    provider="smtp",
                    claimed_until=sa.func.now() + sa.text("interval '1 hour'"),
                )
            )
        r = httpx.post(url + SEND, json=body("c@town.ch", key="send-3"), headers=HEADERS)
        assert r.json()["results"][0]["status"] == "pending"
        assert len(received) == 3
        with clean_db.begin() as conn:
            conn.execute(sa.update(t.email_messages).values(claimed_until=sa.func.now()))
        r = httpx.post(url + SEND, json=body("c@town.ch", key="send-3"), headers=HEADERS)
        assert r.json()["results"][0]["status"] == "sent" and len(received) == 4
        assert received[3].message["Message-ID"].endswith(".case@cleanapp.io>")
        again = httpx.post(url + SEND, json=body("c@town.ch", key="send-3"), headers=HEADERS)
        assert again.json() == r.json() and len(received) == 4


def test_dry_run_and_smtp_down(
    db_url: str, clean_db: sa.Engine, smtp: tuple[int, list[Any]]
) -> None:
    port, received = smtp
    with TestClient(create_email_app(settings_for(db_url, smtp_port=port, dry_run=True))) as client:
        r = client.post(SEND, json=body("a@town.ch", "bad"), headers=HEADERS)
        assert [(x["status"], x["error"]) for x in r.json()["results"]] == [
            ("dry_run", "EMAIL_DRY_RUN is set: nothing was sent"),
            ("invalid_email", "invalid recipient email"),
        ]
    assert received == []
    # An SMTP server that is down is a transient failure: retried later ("pending"), and
    # "failed" with the reason once the attempts are used up.
    down = settings_for(db_url, smtp_port=free_port(), provider_timeout_s=2.0)
    with TestClient(create_email_app(down)) as client:
        (result,) = client.post(SEND, json=body("c@town.ch"), headers=HEADERS).json()["results"]
    assert result["status"] == "pending"
    assert result["error"].startswith(
        "attempt 1 of 5 failed, retrying: smtp delivery failed: ConnectionRefusedError"
    )
    once = replace(down, retry_max_attempts=1)
    with TestClient(create_email_app(once)) as client:
        (result,) = client.post(SEND, json=body("b@town.ch"), headers=HEADERS).json()["results"]
    assert result["status"] == "failed"
    assert result["error"].startswith(
        "gave up after 1 attempts: smtp delivery failed: ConnectionRefusedError"
    )
    assert result["provider_message_id"] is None and result["sent_at"] is None


def test_sendgrid_provider_against_the_contract_server(db_url: str, clean_db: sa.Engine) -> None:
    with sendgrid_contract_server("SG.test-key") as (api_url, seen):
        settings = settings_for(
            db_url, provider="sendgrid", sendgrid_api_key="SG.test-key", sendgrid_api_url=api_url
        )
        with serve_thread(create_email_app(settings)) as url:
            r = httpx.post(url + SEND, json=body("ops@town.ch", "x@y", key="sg"), headers=HEADERS)
        results = r.json()["results"]
        assert [(x["email"], x["status"], x["provider"]) for x in results] == [
            ("ops@town.ch", "sent", "sendgrid"),
            ("x@y", "invalid_email", "sendgrid"),
        ]
        assert results[0]["provider_message_id"] == seen.message_ids[0]
        (request,) = seen.requests
        assert request["headers"]["Authorization"] == "Bearer SG.test-key"
        payload = request["body"]
        assert payload["personalizations"] == [
            {"to": [{"email": "ops@town.ch", "name": "Contact 0"}]}
        ]
        assert payload["from"] == {"email": "cases@cleanapp.io", "name": "CleanApp"}
        assert payload["subject"] == "CleanApp escalation: Broken wall"
        assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]
        assert "/unsubscribe?token=" in payload["content"][0]["value"]
        assert payload["headers"]["List-Unsubscribe"].startswith(f"<{url}/unsubscribe?token=")
        assert payload["custom_args"] == {"case_id": CASE_ID, "message_key": "sg:ops@town.ch"}

        bad_key = replace(settings, sendgrid_api_key="SG.wrong")
        with TestClient(create_email_app(bad_key)) as client:
            (result,) = client.post(SEND, json=body("ops@town.ch"), headers=HEADERS).json()[
                "results"
            ]
        assert result["status"] == "failed"
        assert result["error"].startswith("sendgrid returned status 401 for ops@town.ch")
        assert len(seen.requests) == 1


def test_outbox_provider_writes_eml_files(db_url: str, clean_db: sa.Engine, tmp_path: Path) -> None:
    settings = settings_for(
        db_url,
        provider="outbox",
        outbox_dir=str(tmp_path / "out"),
        public_url="https://mail.example.org",
    )
    with TestClient(create_email_app(settings)) as client:
        results = client.post(SEND, json=body("a@town.ch", "b@town.ch"), headers=HEADERS).json()[
            "results"
        ]
    assert [x["status"] for x in results] == ["sent", "sent"]
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 2
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "Contact 0 <a@town.ch>"
    assert message["List-Unsubscribe"].startswith("<https://mail.example.org/unsubscribe?token=")
    assert message["Message-ID"] == results[0]["provider_message_id"]
    key = unsubscribe_key(None, INTERNAL_TOKEN)
    assert key is not None and make_token(key, "a@town.ch") in message["List-Unsubscribe"]


def test_health_and_settings_from_env(db_url: str) -> None:
    with TestClient(create_email_app(settings_for(db_url, provider="outbox"))) as client:
        assert client.get("/healthz").json() == {
            "status": "ok",
            "provider": "outbox",
            "dry_run": False,
        }
    with pytest.raises(ValueError, match="SENDGRID_API_KEY is required"):
        EmailSettings.from_env({"DATABASE_URL": db_url, "EMAIL_PROVIDER": "sendgrid"})
    with pytest.raises(ValueError, match="EMAIL_PROVIDER must be one of smtp, sendgrid, outbox"):
        EmailSettings.from_env({"DATABASE_URL": db_url, "EMAIL_PROVIDER": "pigeon"})
    s = EmailSettings.from_env(
        {"DATABASE_URL": db_url, "EMAIL_DRY_RUN": "1", "SENDGRID_FROM_EMAIL": "x@cleanapp.io",
         "INTERNAL_ADMIN_TOKEN": "s3cr3t-admin", "SMTP_PASSWORD": "s3cr3t-pw", "SMTP_USERNAME": "u"}
    )  # fmt: skip
    assert (s.dry_run, s.from_address) == (True, "x@cleanapp.io")
    assert "s3cr3t" not in repr(s)


def test_cli_email_service_subprocess(db_url: str, clean_db: sa.Engine, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in EMAIL_ENV_VARS},
        "DATABASE_URL": db_url,
        "INTERNAL_ADMIN_TOKEN": INTERNAL_TOKEN,
        "EMAIL_PROVIDER": "outbox",
        "EMAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    command = [sys.executable, "-m", "cleanapp_api.cli", "email-service", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("email-service did not start")
            time.sleep(0.1)
        r = httpx.post(base + SEND, json=body("a@town.ch"), headers=HEADERS, timeout=10)
        assert r.json()["results"][0]["status"] == "sent"
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()
    missing = subprocess.run(
        command, env={k: v for k, v in env.items() if k != "DATABASE_URL"}, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "missing required environment variable: DATABASE_URL" in missing.stderr


def test_database_errors_never_reach_the_logs_with_addresses(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL quotes a failing row; what the service logs of it has no address."""
    from cleanapp_api.common.db_engine import bounded_engine
    from cleanapp_api.common.http_errors import redact_addresses

    engine = bounded_engine(db_url, statement_timeout_s=5)
    try:
        with pytest.raises(sa.exc.IntegrityError) as info, engine.begin() as conn:
            conn.execute(sa.insert(t.opted_out_emails).values(email="Secret.Person@Town.ch"))
    finally:
        engine.dispose()
    assert "parameters hidden" in str(info.value)  # SQLAlchemy never quotes bound values
    logged = redact_addresses(str(info.value))
    assert "opted_out_emails" in logged and "secret.person" not in logged.lower()
