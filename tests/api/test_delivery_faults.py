"""Delivery truth under faults, with real processes (docs/delivery.md).

Each test runs the case service and the email service as subprocesses against a real SMTP
sink, breaks something (a stall, SIGKILL, a locked table, SMTP 451/550) and asserts what a
user relies on: every recipient received exactly one copy, and after the recovery window
nothing is ``pending``/``unknown`` and no delivered recipient is recorded ``failed``.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fault_support import (
    RECIPIENTS,
    api_killed_mid_send,
    database_stalled_mid_send,
    email_service_killed_mid_send,
    slow_email_service,
    smtp_451_then_ok,
    smtp_550_then_same_key_retry,
)

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

ONE_EACH = dict.fromkeys(RECIPIENTS, 1)


def _all_sent(state: dict[str, Any]) -> None:
    assert state["sends"] and all(s == "sent" for s in state["sends"]), state
    assert set(state["actions"]) == {"sent"}, state
    assert {k: v[-1] for k, v in state["deliveries"].items()} == dict.fromkeys(RECIPIENTS, "sent")
    for history in state["deliveries"].values():
        assert history == ["sent"], state  # one delivery per recipient, never "failed"


def test_slow_email_service_is_unknown_then_settled_and_never_mailed_twice(
    db_url: str, clean_db: sa.Engine
) -> None:
    out = slow_email_service(db_url, clean_db, 1)
    assert out.answers == [202, 409], out  # unknown at first; the same send again: refused
    assert out.received == ONE_EACH
    assert out.seconds_to_settle is not None and out.seconds_to_settle < 60
    _all_sent(out.state)


def test_case_service_killed_mid_send(db_url: str, clean_db: sa.Engine) -> None:
    out = api_killed_mid_send(db_url, clean_db, 2)
    assert out.received == ONE_EACH
    assert out.seconds_to_settle is not None and out.seconds_to_settle < 60
    _all_sent(out.state)


def test_email_service_killed_mid_send(db_url: str, clean_db: sa.Engine) -> None:
    out = email_service_killed_mid_send(db_url, clean_db, 3)
    assert out.received == ONE_EACH, out
    assert out.seconds_to_settle is not None and out.seconds_to_settle < 60
    _all_sent(out.state)
    assert "ledger: ['sent', 'sent']" in out.notes


def test_database_unresponsive_mid_send_answers_503_fast_then_settles(
    db_url: str, clean_db: sa.Engine
) -> None:
    out = database_stalled_mid_send(db_url, clean_db, 4)
    assert out.answers == [503, 503], out
    assert out.notes[0] == "before: sends [], received {}"  # nothing stored, nothing sent
    assert all(float(note.split()[2]) < 10 for note in out.notes[1:]), out.notes
    assert out.received == ONE_EACH
    assert out.seconds_to_settle is not None and out.seconds_to_settle < 60
    _all_sent(out.state)


def test_smtp_451_is_retried_by_the_email_service(db_url: str, clean_db: sa.Engine) -> None:
    out = smtp_451_then_ok(db_url, clean_db, 5)
    assert out.answers[0] == 202 and out.answers[1] == 200, out  # pending, then settled
    assert out.received == ONE_EACH
    _all_sent(out.state)


def test_smtp_550_is_failed_with_the_reason_and_a_same_key_retry_sends_only_the_rest(
    db_url: str, clean_db: sa.Engine
) -> None:
    out = smtp_550_then_same_key_retry(db_url, clean_db, 6)
    assert out.answers == [200, 200], out
    assert "550 5.1.1 mailbox unavailable" in out.notes[0]
    assert out.received == ONE_EACH  # the delivered recipient was not mailed again
    _all_sent(out.state)
