"""Debian's Chromium driven by Playwright for the workspace's browser tests.

Playwright's own browser download is not used: ``scripts/setup_web.sh`` installs Debian's
``chromium`` and the tests launch it by path. Without the background-networking flags
Chromium tries to reach Google's services and stalls on a closed network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path() -> str:
    """Debian's chromium, or skip (developer machine) / fail (CI) when it is missing."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = "chromium is not installed (scripts/setup_web.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def screenshot_dir() -> Path:
    """Where the tests save their screenshots: ``SCREENSHOT_DIR`` or ``.screenshots/``.

    ``make screenshots`` points it at ``docs/screenshots`` to refresh the committed ones.
    """
    folder = Path(os.environ.get("SCREENSHOT_DIR") or ROOT / ".screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright's sync API)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()
