"""The case workspace in a real browser (Debian's Chromium driven by Playwright).

The whole stack runs for real: the case service and the email service under uvicorn on
loopback ports, PostGIS (a private migrated schema holding the demo city), an SMTP sink
(aiosmtpd) behind the email service. A person signs in with the link ``demo-token``
prints, draws a polygon around the Adliswil school, analyses it, reads a hypothesis and
an explained pair, creates a case, opens it, changes its status, previews and sends the
escalation e-mail, sees the deliveries, downloads the memo and finds the case in the list.
Each step asserts what the page shows. Screenshots of the main pages are saved
(``browser_support.screenshot_dir``); the memo's first page is rendered with ``pdftoppm``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from api_support import JWT_SECRET
from browser_support import VIEWPORT, chromium, screenshot_dir
from escalation_support import INTERNAL_TOKEN, smtp_sink
from support import UvicornThread

from cleanapp_api.app import create_app
from cleanapp_api.auth import issue_access_token
from cleanapp_api.db import tables
from cleanapp_api.demo_escalation import SCHOOL
from cleanapp_api.demo_workspace import open_demo_cases, seed_demo_city
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
