"""The pure decisions of the escalation send flow (cleanapp_api.escalation.planning)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from cleanapp_api.domain_errors import AlreadySent, InvalidRequest, RateLimited
from cleanapp_api.email_service.schemas import EmailResult
from cleanapp_api.escalation import planning
from cleanapp_api.schemas import EscalationTarget

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _target(target_id: int, email: str, **kw: object) -> EscalationTarget:
    values: dict[str, object] = {
        "id": target_id, "case_id": "case_x", "role_type": "contact", "decision_scope": "other",
        "endpoint_key": f"email:{email}", "organization_key": "", "organization": "Org",
        "display_name": "Name", "channel": "email", "email": email, "phone": "", "website": "",
        "contact_url": "", "source_url": "", "social_platform": "", "social_handle": "",
        "evidence_text": "", "verification_level": "", "attribution_class": "heuristic",
        "target_source": "area_contact", "confidence_score": 0.5, "site_match_score": 0.0,
        "source_quality_score": 0.0, "role_fit_score": 0.0, "channel_quality_score": 0.0,
        "outcome_memory_score": 0.0, "actionability_score": 0.0, "notify_tier": 3,
        "send_eligibility": "review", "execution_mode": "review", "cooldown_until": None,
        "rationale": "", "reason_selected": "", "created_at": "2026-03-10T08:00:00Z",
    }  # fmt: skip
    values.update(kw)
    return EscalationTarget(**values)  # type: ignore[arg-type]


def test_one_recipient_per_address_targets_first_then_cc() -> None:
    plan = planning.recipient_plan(
        [_target(1, "A@x.ch"), _target(2, "a@x.ch"), _target(3, "b@x.ch")],
        ["b@x.ch", "cc@x.ch"],
    )
    assert [(r["email"], r["target_id"], r["delivery_source"]) for r in plan] == [
        ("a@x.ch", 1, "area_contact"),
        ("b@x.ch", 3, "area_contact"),
        ("cc@x.ch", None, "manual_cc"),
    ]


def test_rate_limit_says_when_to_retry() -> None:
    planning.check_rate_limit([NOW - timedelta(minutes=5)], 2, "per user", NOW)
    with pytest.raises(RateLimited, match="at most 2 sends per case") as info:
        recent = [NOW - timedelta(minutes=10), NOW - timedelta(minutes=40)]
        planning.check_rate_limit(recent, 2, "per case", NOW)
    assert info.value.retry_after_s == 20 * 60 + 1


def test_dedup_window_skips_and_refuses_when_nobody_is_left() -> None:
    plan = [{"email": "a@x.ch", "target_id": 1}, {"email": "b@x.ch", "target_id": None}]
    kept, skipped = planning.skip_recently_sent(plan, {"a@x.ch"}, 24.0)
    assert [r["email"] for r in kept] == ["b@x.ch"]
    assert [s.email for s in skipped] == ["a@x.ch"]
    assert "within 24 h" in skipped[0].reason
    with pytest.raises(AlreadySent, match='pass "force": true'):
        planning.skip_recently_sent(plan, {"a@x.ch", "b@x.ch"}, 24.0)


def test_results_are_matched_to_the_plan_and_missing_ones_fail() -> None:
    plan = [{"email": "a@x.ch", "target_id": 1}, {"email": "b@x.ch", "target_id": 2}]
    answer = [
        EmailResult(
            target_id=1, email="A@x.ch", status="sent", delivery_source="case_target",
            provider="outbox", provider_message_id="m1", sent_at="2026-03-10T12:00:00Z",
            error=None,
        )
    ]  # fmt: skip
    results = planning.results_by_recipient(plan, answer, None)
    # A recipient the answer leaves out is unknown (the reconciler asks), never failed.
    assert [r.status for r in results] == ["sent", "unknown"]
    assert results[1].error == "no result from the email service for this recipient"
    rows = planning.delivery_rows(plan, results)
    assert rows[0]["sent_at"] == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert planning.send_status([r.status for r in results]) == "unknown"
    assert planning.send_status(["sent", "failed"]) == "partial"
    down = planning.results_by_recipient(plan, None, "timeout", status_on_error="unknown")
    assert {(r.status, r.provider, r.error) for r in down} == {
        ("unknown", "email_service", "timeout")
    }
    refused = planning.results_by_recipient(plan, None, "unreachable")
    assert {r.status for r in refused} == {"failed"}


def test_message_keys_and_identities() -> None:
    send = SimpleNamespace(
        id=7, subject="s", body="b", html_body="<p>b</p>",
        recipients_json=[{"email": "a@x.ch", "target_id": 1}],
    )  # fmt: skip
    request = planning.email_request("case_x", send, send.recipients_json)
    assert request.recipients[0].message_key == "send-7:a@x.ch"
    assert request.send_id == 7 and request.retry_failed is False
    assert planning.check_idempotency_key(" k-1 ") == "k-1"
    assert planning.check_idempotency_key(None) is None
    with pytest.raises(InvalidRequest):
        planning.check_idempotency_key("ü")
    assert planning.parse_sent_at("garbage") is None
