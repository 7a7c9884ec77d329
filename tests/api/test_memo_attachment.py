"""A send can attach the case memo: a real PDF MIME part reaches the SMTP sink, and each
action's ``attachments_json`` records the file that was sent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import base_settings, client_for
from case_support import create_body, record, user_headers, write
from escalation_support import INTERNAL_TOKEN, smtp_sink
from litestar.testing import TestClient
from support import UvicornThread

from cleanapp_api.email_service.app import create_email_app
from cleanapp_api.email_service.settings import EmailSettings

pytestmark = pytest.mark.postgis

TARGETS = [
    {"email": "facilities@school.example", "role_type": "facility_manager",
     "organization": "Zurich School", "confidence_score": 0.8},
    {"email": "ops@city.example", "role_type": "operator", "organization": "City of Zurich",
     "confidence_score": 0.7},
]  # fmt: skip


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, list[Any]]]:
    with smtp_sink() as sink:
        yield sink


@pytest.fixture(scope="module")
def api(db_url: str, smtp: tuple[int, list[Any]]) -> Iterator[TestClient[Any]]:
    email = UvicornThread(
        create_email_app(
            EmailSettings(
                database_url=db_url,
                internal_admin_token=INTERNAL_TOKEN,
                provider="smtp",
                smtp_host="127.0.0.1",
                smtp_port=smtp[0],
                provider_timeout_s=5.0,
                from_address="cases@cleanapp.io",
            )
        )
    ).start()
    settings = base_settings(
        db_url,
        auth_token_store="db",
        email_service_url=email.url,
        internal_admin_token=INTERNAL_TOKEN,
        escalation_send_timeout_s=5.0,
    )
    with client_for(settings) as client:
        yield client
    email.stop()


@pytest.fixture
def alice(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "alice")


def _case(api: TestClient[Any], engine: sa.Engine, headers: dict[str, str]) -> dict[str, Any]:
    write(engine, [record(1, title="Loose facade bricks"), record(2, title="Bricks falling")])
    response = api.post(
        "/api/v4/cases",
        json=create_body([1, 2], force_new_case=True, escalation_targets=TARGETS),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    detail: dict[str, Any] = response.json()
    return detail


def test_send_attaches_the_memo_as_a_pdf_part(
    api: TestClient[Any],
    clean_db: sa.Engine,
    alice: dict[str, str],
    smtp: tuple[int, list[Any]],
) -> None:
    received = smtp[1]
    received.clear()
    detail = _case(api, clean_db, alice)
    case_id = detail["case"]["case_id"]
    ids = [t["id"] for t in detail["escalation_targets"]]
    sent = api.post(
        f"/api/v4/cases/{case_id}/escalations/send",
        json={"target_ids": ids, "attach_memo": True},
        headers=alice,
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["status"] == "sent"
    assert len(received) == 2
    pdfs = []
    for message in received:
        parts = [p for p in message.message.iter_attachments()]
        assert [p.get_content_type() for p in parts] == ["application/pdf"]
        assert parts[0].get_filename() == f"case-memo-{detail['case']['slug']}.pdf"
        data = parts[0].get_content()
        assert data[:5] == b"%PDF-"
        pdfs.append(data)
        assert "Facade bricks falling over school entrance" in message.text  # the body stays
    assert pdfs[0] == pdfs[1]  # one memo, rendered once for the send
    for action in body["actions"]:
        (recorded,) = json.loads(action["attachments_json"])
        assert recorded == {
            "filename": f"case-memo-{detail['case']['slug']}.pdf",
            "content_type": "application/pdf",
            "size_bytes": len(pdfs[0]),
            "sha256": hashlib.sha256(pdfs[0]).hexdigest(),
        }
    stored = api.get(f"/api/v4/cases/{case_id}/escalations", headers=alice).json()
    assert all(json.loads(a["attachments_json"]) for a in stored["actions"])
    # the memo's bytes waited with the send's intent only: the finished answer holds none
    assert "content_base64" not in sent.text


def test_a_send_without_the_flag_attaches_nothing(
    api: TestClient[Any],
    clean_db: sa.Engine,
    alice: dict[str, str],
    smtp: tuple[int, list[Any]],
) -> None:
    received = smtp[1]
    received.clear()
    detail = _case(api, clean_db, alice)
    ids = [t["id"] for t in detail["escalation_targets"]]
    sent = api.post(
        f"/api/v4/cases/{detail['case']['case_id']}/escalations/send",
        json={"target_ids": ids},
        headers=alice,
    )
    assert sent.status_code == 200, sent.text
    assert len(received) == 2
    assert all(not list(m.message.iter_attachments()) for m in received)
    assert all(a["attachments_json"] == "" for a in sent.json()["actions"])
