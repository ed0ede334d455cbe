"""The analytics page in real Chromium: a visitor without a session is sent to the
console's sign-in; a supervisor signs in there, follows the console's Analytics link, picks
a range and sees the tiles and the SVG charts of the archive (the hand-made one of
``tests/desk/test_analytics.py``), under the desk's CSP with no script error. Real
gateway with the desk on SQLite, real Redis."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import redis

from desk.database import database_url, open_database
from tests.desk.test_analytics import _seed
from tests.processes import GatewayProcess

from .desk_support import add_account, desk_database

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SLOW = 60_000  # ms: a loaded 2-core machine
NEW_PASSWORD = "a-long-new-password-42"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not "
                                "installed (.ci/run installs Debian's chromium)")


async def _seeded(url: str, folder: Path) -> None:
    async with open_database(database_url(url, folder)) as db:
        await _seed(db)


def test_a_supervisor_sees_the_tiles_and_charts(clean_redis: redis.Redis,
                                                tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = desk_database(tmp_path)
    asyncio.run(_seeded(url, tmp_path))
    lead = add_account(url, "lead@example.com", role="supervisor", teams=())
    gateway = GatewayProcess(tmp_path / "gateway.log", {
        "PARLEY_SESSION_SECRET": "analytics-browser-secret", "PARLEY_DATABASE_URL": url})
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                problems: list[str] = []
                page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
                page.on("pageerror", lambda exc: problems.append(str(exc)))
                # A CSP refusal is a console error; the 401 and 400 answers asked for here
                # are console errors too ("Failed to load resource"), and expected.
                page.on("console", lambda m: problems.append(m.text) if m.type == "error"
                        and not m.text.startswith("Failed to load resource") else None)
                page.goto(gateway.url + "/desk/analytics")
                page.wait_for_url(gateway.url + "/desk/", timeout=SLOW)  # no session yet
                page.get_by_test_id("login-email").fill("lead@example.com")
                page.get_by_test_id("login-password").fill(lead.password)
                page.get_by_test_id("login-submit").click()
                page.get_by_test_id("password-current").fill(lead.password)
                page.get_by_test_id("password-new").fill(NEW_PASSWORD)
                page.get_by_test_id("password-confirm").fill(NEW_PASSWORD)
                page.get_by_test_id("password-submit").click()
                page.get_by_test_id("analytics-tab").click()
                expect(page.get_by_test_id("analytics-range")).to_contain_text(
                    "to", timeout=SLOW)
                page.get_by_test_id("analytics-from").fill("2026-03-01")
                page.get_by_test_id("analytics-to").fill("2026-03-02")
                page.get_by_test_id("analytics-tz").fill("UTC")
                page.get_by_role("button", name="Show").click()
                expect(page.get_by_test_id("analytics-range")).to_have_text(
                    "2026-03-01 to 2026-03-02 (UTC), all channels", timeout=SLOW)
                expect(page.get_by_test_id("tile-conversations")).to_contain_text("5")
                expect(page.get_by_test_id("tile-containment")).to_contain_text("40.0 %")
                expect(page.get_by_test_id("tile-latency")).to_contain_text(
                    "400 ms / 1000 ms")
                # Two days: c1 c2 c3 on the first (one bar each outcome), c4 c5 on the
                # second (abandoned and resolved): five rectangles.
                expect(page.locator("#chart-outcomes svg rect.bar")).to_have_count(5)
                expect(page.locator("#chart-intents svg rect.bar")).to_have_count(8)
                expect(page.locator("#chart-latency svg path.line")).to_have_count(2)
                expect(page.get_by_test_id("analytics-channels").locator("tbody tr")
                       ).to_have_count(2)
                expect(page.get_by_test_id("analytics-forms")).to_contain_text(
                    "3 started, 1 completed (33.3 %)")
                page.get_by_test_id("analytics-from").fill("2026-03-05")
                page.get_by_role("button", name="Show").click()
                expect(page.get_by_test_id("analytics-error")).to_contain_text(
                    "starts (2026-03-05) after it ends")
                page.screenshot(path=str(tmp_path / "analytics.png"), full_page=True)
                assert problems == [], problems
            finally:
                browser.close()
    finally:
        gateway.stop()
