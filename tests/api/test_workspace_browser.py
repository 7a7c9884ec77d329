"""The case workspace in a real browser (Debian's Chromium driven by Playwright).

The whole stack runs for real: the case service and the email service under uvicorn on
loopback ports, PostGIS (a private migrated schema holding the demo city), an SMTP sink
(aiosmtpd) behind the email service. A person signs in with the link ``demo-token``
prints, draws a polygon around the Adliswil school, analyses it, reads a hypothesis and
an explained pair, creates a case, opens it, changes its status, previews and sends the
escalation e-mail, sees the deliveries, downloads the memo and finds the case in the list.
Reports that the report pipeline sends through ``POST /reports`` become match suggestions,
which a reviewer finds in the queue and accepts or rejects on the case page.
Each step asserts what the page shows. Screenshots of the main pages are saved
(``browser_support.screenshot_dir``); the memo's first page is rendered with ``pdftoppm``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from api_support import JWT_SECRET
from browser_support import VIEWPORT, chromium, screenshot_dir
from case_support import create_body
from escalation_support import INTERNAL_TOKEN, smtp_sink
from support import UvicornThread

from cleanapp_api.app import create_app
from cleanapp_api.auth import issue_access_token
from cleanapp_api.db import tables
from cleanapp_api.demo_escalation import SCHOOL
from cleanapp_api.demo_workspace import CITY_SEQ_BASE, open_demo_cases, seed_demo_city
from cleanapp_api.email_service.app import create_email_app
from cleanapp_api.email_service.settings import EmailSettings
from cleanapp_api.settings import Settings

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def stack(db_url: str, db_engine: sa.Engine) -> Iterator[dict[str, Any]]:
    """The demo city in the store, both services on loopback ports and an SMTP sink."""
    with db_engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            if table is not tables.auth_tokens:
                conn.execute(table.delete())
    seed_demo_city(db_engine, n_reports=600)
    with smtp_sink() as (smtp_port, received):
        email = UvicornThread(
            create_email_app(
                EmailSettings(
                    database_url=db_url,
                    internal_admin_token=INTERNAL_TOKEN,
                    provider="smtp",
                    smtp_host="127.0.0.1",
                    smtp_port=smtp_port,
                    provider_timeout_s=5.0,
                    from_address="cases@cleanapp.io",
                )
            )
        ).start()
        settings = Settings(
            database_url=db_url,
            jwt_secret=JWT_SECRET,
            auth_token_store="db",
            email_service_url=email.url,
            internal_admin_token=INTERNAL_TOKEN,
            rate_limit_rps=1000.0,
            rate_limit_burst=1000,
        )
        service = UvicornThread(create_app(settings)).start()
        token = issue_access_token(JWT_SECRET, "case-manager", engine=db_engine)
        with httpx.Client(base_url=service.url, timeout=60) as client:  # a few city cases
            opened = open_demo_cases(client, {"Authorization": f"Bearer {token}"}, school=False)
        assert len(opened) >= 2
        try:
            yield {"url": service.url, "token": token, "received": received, "opened": opened}
        finally:
            service.stop()
            email.stop()


@pytest.fixture(scope="module")
def page(stack: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import expect

    # The assertions wait as long as the actions: on a loaded 2-core machine the default
    # 5 s of `expect` ran out while the page was still drawing.
    expect.set_options(timeout=TIMEOUT_MS)
    with chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        context.close()
        assert not errors, f"script errors on the page: {errors}"


def _shot(page: Any, name: str) -> Path:
    path = screenshot_dir() / name
    page.screenshot(path=str(path))
    return path


def _draw_square(page: Any, half_px: int) -> None:
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        page.mouse.click(cx + sx * half_px, cy + sy * half_px)


def test_a_case_manager_works_a_case_in_the_browser(
    page: Any, stack: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    base = stack["url"]
    # --- sign in with the link demo-token prints; the map opens at the school
    page.goto(f"{base}/app/#signin={stack['token']}")
    expect(page.locator("#who")).to_have_text("Signed in as case-manager")
    page.goto(f"{base}/app/#/analyse?at={SCHOOL[0]},{SCHOOL[1]},17")
    expect(page.get_by_role("heading", name="Analyse an area")).to_be_visible()

    # --- draw a polygon around the school and analyse it
    page.get_by_role("button", name="Draw a polygon").click()
    _draw_square(page, 150)
    expect(page.locator(".map-tools .hint")).to_contain_text("4 corners")
    page.get_by_role("button", name="Finish polygon").click()
    expect(page.locator("#scope-note")).to_have_text("Polygon drawn: analyse it, or draw again.")
    page.get_by_role("button", name="Analyse scope").click()
    expect(page.locator("#stats")).to_contain_text("4reports")
    hypotheses = page.locator("#hypotheses .hyp")
    expect(hypotheses).to_have_count(1)
    expect(hypotheses.first).to_contain_text("4 reports")

    # --- select the hypothesis: its rationale, its reports, one explained pair
    hypotheses.first.click()
    expect(hypotheses.first).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#rationale .chip").first).to_be_visible()
    members = page.locator("#members tbody tr")
    expect(members).to_have_count(4)
    members.nth(0).get_by_role("checkbox").check()
    members.nth(1).get_by_role("checkbox").check()
    page.get_by_role("button", name="Explain the two selected reports").click()
    table = page.locator("#explain-table")
    expect(table).to_contain_text("location")
    expect(page.locator("#explanation h3")).to_contain_text("linked")
    expect(page.locator("path.leaflet-interactive")).to_have_count(4)  # the reports
    expect(page.locator(".leaflet-overlay-pane path")).to_have_count(5)  # and the scope
    _shot(page, "analyse.png")

    # --- no open case matches yet: create one, and land on its page
    expect(page.locator("#candidates")).to_contain_text("No open case nearby")
    title = page.locator("#hypothesis-detail h2").first.inner_text().strip()
    page.get_by_role("button", name="Create a new case").click()
    expect(page.locator("#case-title")).to_have_text(title)
    assert re.search(r"#/cases/case_[0-9a-f]{24}$", page.url)
    cards = page.locator("#metrics .card")
    expect(cards.nth(0)).to_contain_text("open")
    expect(cards.nth(1)).to_contain_text("4")
    expect(page.locator("#linked-reports tbody tr")).to_have_count(4)
    expect(page.locator("#linked-reports")).to_contain_text("initial selection")

    # --- change the status along the lifecycle
    page.get_by_label("New status").select_option("investigating")
    page.get_by_label("New summary").fill("Caretaker asked to check the facade")
    page.get_by_role("button", name="Change status").click()
    expect(cards.nth(0)).to_contain_text("investigating")
    expect(page.locator("#timeline li").first).to_contain_text("status changed")
    expect(page.locator("#timeline li").first).to_contain_text("open → investigating")
    _shot(page, "case.png")

    # --- targets by role; the composer's preview; send to the SMTP sink
    expect(page.locator("#targets h3").first).to_be_visible()
    recipients = page.locator("#targets input[type=checkbox]:checked")
    n_recipients = recipients.count()
    assert n_recipients >= 1
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Preview draft").click()
    preview = page.locator("#preview .preview")
    expect(preview).to_be_visible()
    subject = page.get_by_label("Subject").input_value()
    assert subject and subject == preview.locator(".subject").inner_text()
    page.locator("#targets").evaluate("e => e.previousElementSibling.scrollIntoView()")
    _shot(page, "composer.png")
    expect(page.get_by_label("Attach the case memo (PDF)")).to_be_checked()
    page.get_by_role("button", name="Send").click()
    deliveries = page.locator("#deliveries tbody tr")
    expect(deliveries).to_have_count(n_recipients)
    for row in deliveries.all():
        expect(row).to_contain_text("sent")
    received = stack["received"]
    assert len(received) == n_recipients
    assert {m.message["Subject"] for m in received} == {subject}
    for message in received:  # the memo travels with the e-mail
        (memo,) = message.message.iter_attachments()
        assert memo.get_content_type() == "application/pdf"

    # --- download the memo; it names the case, has a map and renders
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download memo (PDF)").click()
    download = download_info.value
    assert download.suggested_filename.startswith("case-memo-")
    pdf = tmp_path / "memo.pdf"
    download.save_as(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert title in " ".join(text.split())
    assert "investigating" in text and "sent" in text
    images = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert images, "the memo has no map"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf),
         str(screenshot_dir() / "memo-page1")],
        check=True,
    )  # fmt: skip
    assert (screenshot_dir() / "memo-page1.png").stat().st_size > 20_000

    # --- the case list: filtered by status, the case is there
    page.get_by_role("link", name="Cases", exact=True).click()
    expect(page.get_by_role("heading", name="Cases", exact=True)).to_be_visible()
    expect(page.locator("#case-list .case-item")).to_have_count(len(stack["opened"]) + 1)
    _shot(page, "cases.png")
    page.get_by_label("investigating").check()
    page.get_by_role("button", name="Show cases").click()
    items = page.locator("#case-list .case-item")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text(title)


# A tram stop in Winterthur, far from the demo city, its cases and the school.
TRAM_STOP = (47.4996, 8.7241)
BIN = "Overflowing trash bin at the tram station"
GLASS = "Broken glass on the sidewalk"


def _ingest_body(seq: int, *, north_m: float, title: str, summary: str, hours_ago: float) -> Any:
    """A report as the report pipeline sends it to ``POST /reports``."""
    lat = TRAM_STOP[0] + north_m / 111_195.0
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "report": {
            "seq": seq,
            "timestamp": (now - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z"),
            "latitude": lat,
            "longitude": TRAM_STOP[1],
            "id": "reporter-7",
        },
        "analysis": [
            {"language": "en", "title": title, "summary": summary, "severity_level": 0.6,
             "classification": "physical"},
        ],
    }  # fmt: skip


def test_a_reviewer_accepts_and_rejects_match_suggestions(
    page: Any, stack: dict[str, Any], db_engine: sa.Engine
) -> None:
    from playwright.sync_api import expect

    base = stack["url"]
    pipeline = {
        "Authorization": "Bearer "
        + issue_access_token(JWT_SECRET, "report-pipeline", roles=("service",), engine=db_engine)
    }
    manager = {"Authorization": f"Bearer {stack['token']}"}
    # --- the pipeline's reports carry seqs from 1: the demo city's own range leaves them free
    with db_engine.connect() as conn:
        lowest = conn.execute(sa.select(sa.func.min(tables.reports.c.seq))).scalar_one()
    assert lowest == CITY_SEQ_BASE
    with httpx.Client(base_url=base, timeout=60) as api:
        for seq, north, hours in ((101, 0.0, 5.0), (102, 5.0, 4.0)):
            sent = api.post(
                "/api/v4/reports",
                json=_ingest_body(seq, north_m=north, title=BIN, hours_ago=hours,
                                  summary="Bin overflowing, litter everywhere"),
                headers=pipeline,
            )  # fmt: skip
            assert sent.status_code == 201, sent.text
            assert sent.json()["case"]["action"] == "none"
        created = api.post(
            "/api/v4/cases",
            json=create_body([101, 102], geometry=None, title="Overflowing bin at the tram stop",
                             summary=BIN, cluster_stats=None, cluster_analysis=None,
                             cluster_summary=""),
            headers=manager,
        )  # fmt: skip
        assert created.status_code == 201, created.text
        case_id = created.json()["case"]["case_id"]
        # --- same place, another problem: the review band, suggested rather than linked
        for seq, north in ((103, 40.0), (104, -40.0)):
            sent = api.post(
                "/api/v4/reports",
                json=_ingest_body(seq, north_m=north, title=GLASS, hours_ago=1.0,
                                  summary="Shards near the kerb"),
                headers=pipeline,
            )  # fmt: skip
            assert sent.status_code == 201, sent.text
            assert (sent.json()["case"]["action"], sent.json()["case"]["case_id"]) == (
                "suggested", case_id)  # fmt: skip

    # --- the reviewer queue in the case list names both, with their case
    page.goto(f"{base}/app/#signin={stack['token']}")
    expect(page).to_have_url(re.compile(r"/app/#/analyse$"))  # signed in, the link consumed
    page.goto(f"{base}/app/#/cases")
    page.reload()  # a fresh page: no filters or messages left from the other tests
    page.locator("body[data-ready=true]").wait_for()
    expect(page.locator("#queue-summary")).to_have_text("Suggestions to review (2)")
    queued = page.locator("#queue .suggestion")
    expect(queued).to_have_count(2)
    expect(queued.first).to_contain_text("Overflowing bin at the tram stop")
    expect(queued.first).to_contain_text(f"Report 103: {GLASS}")
    _shot(page, "review-queue.png")
    queued.first.get_by_role("link", name="Overflowing bin at the tram stop").click()

    # --- the case page: two open suggestions, with band, score, reasons and map links
    expect(page.locator("#case-title")).to_have_text("Overflowing bin at the tram stop")
    cards = page.locator("#metrics .card")
    expect(cards.nth(1)).to_contain_text("2")
    heading = page.locator("#suggestions-heading")
    expect(heading).to_have_text("Match suggestions (2)")
    items = page.locator("#suggestions .suggestion")
    expect(items).to_have_count(2)
    first = items.first
    expect(first).to_contain_text(f"Report 103: {GLASS}")
    expect(first.locator(".band")).to_have_text("review")
    expect(first).to_contain_text("same location")
    expect(first).to_contain_text("score 0.")
    link = str(first.get_by_role("link", name="Analyse around report 103").get_attribute("href"))
    assert re.search(r"^#/analyse\?at=47\.49[0-9]+,8\.72[0-9]+,18&seq=103$", link)
    expect(page.locator("path.leaflet-interactive[stroke-dasharray]")).to_have_count(2)
    page.get_by_role("button", name="Show report 104 on the map").click()
    expect(page.locator(".leaflet-popup-content")).to_have_text(
        re.compile(rf"^Suggested: 104: {GLASS} \(review, score 0\.\d\d\)$")
    )
    expect(page.get_by_role("tooltip", name="103?")).to_be_visible()  # the labels on the map
    heading.scroll_into_view_if_needed()
    expect(page.locator(".leaflet-popup")).to_have_css("opacity", "1")  # faded in
    _shot(page, "suggestions.png")

    # --- accept 103 (from the keyboard): linked, counted, on the timeline
    page.get_by_role("button", name="Accept report 103").focus()
    page.keyboard.press("Enter")
    expect(cards.nth(1)).to_contain_text("3")
    expect(heading).to_have_text("Match suggestions (1)")
    expect(heading).to_be_focused()
    expect(page.locator("#linked-reports tbody tr")).to_have_count(3)
    expect(page.locator("#linked-reports tbody tr").last).to_contain_text("suggestion accepted")
    timeline = page.locator("#timeline li")
    expect(timeline.first).to_contain_text("suggestion accepted")
    expect(timeline.first).to_contain_text("by case-manager")
    expect(timeline.first).to_contain_text("report 103")

    # --- reject 104: gone from the list, not linked, on the timeline
    page.get_by_role("button", name="Reject report 104").click()
    expect(heading).to_have_text("Match suggestions (0)")
    expect(page.locator("#suggestions")).to_contain_text("No open suggestions")
    expect(timeline.first).to_contain_text("suggestion rejected")
    expect(timeline.first).to_contain_text("report 104")
    expect(cards.nth(1)).to_contain_text("3")
    seqs = page.locator("#linked-reports tbody tr td:first-child")
    assert seqs.all_inner_texts() == ["101", "102", "103"]
    with httpx.Client(base_url=base, timeout=60) as api:
        decided = api.get(f"/api/v4/cases/{case_id}/suggestions", headers=manager).json()
    assert [(s["seq"], s["status"], s["decided_by_user_id"]) for s in decided["suggestions"]] == [
        (103, "accepted", "case-manager"), (104, "rejected", "case-manager")]  # fmt: skip

    # --- nothing left in the queue
    page.get_by_role("link", name="Cases", exact=True).click()
    expect(page.locator("#queue-empty")).to_have_text("No match suggestions to review.")

    # --- the suggestion's map link: the Analyse page at the report, its seq ready
    page.goto(f"{base}/app/{link}")
    expect(page.get_by_label("Report number (seq)")).to_have_value("103")
    page.get_by_role("button", name="Analyse around report").click()
    expect(page.locator("#stats")).to_contain_text("4reports")  # the tram stop's four


_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map((e) => e.id || e.name || e.type)"""


def test_keyboard_only_and_every_control_labelled(page: Any, stack: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page.goto(f"{stack['url']}/app/#signin={stack['token']}")
    page.goto(f"{stack['url']}/app/#/analyse?at={SCHOOL[0]},{SCHOOL[1]},17")
    assert page.evaluate(_UNLABELLED) == []
    page.get_by_role("button", name="Use the visible map area").focus()
    page.keyboard.press("Enter")
    analyse = page.get_by_role("button", name="Analyse scope")
    expect(analyse).to_be_focused()
    page.keyboard.press("Enter")
    hypothesis = page.locator("#hypotheses .hyp").first
    expect(hypothesis).to_contain_text("4 reports")
    hypothesis.focus()
    page.keyboard.press("Enter")
    expect(hypothesis).to_have_attribute("aria-pressed", "true")
    assert page.evaluate(_UNLABELLED) == []
    page.goto(f"{stack['url']}/app/#/cases")
    expect(page.locator("#case-list .case-item").first).to_be_visible()
    assert page.evaluate(_UNLABELLED) == []
    page.locator("#case-list .case-item").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#case-title")).to_be_visible()
    assert page.evaluate(_UNLABELLED) == []


def test_a_bad_token_is_sent_back_to_sign_in(page: Any, stack: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page.goto(f"{stack['url']}/app/#signin=not-a-token")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator(".signin .error")).to_contain_text("invalid or expired token")
