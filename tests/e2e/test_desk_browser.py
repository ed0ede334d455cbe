"""The whole handoff loop in real Chromium: a user in the chat widget asks for a person,
an agent logged into /desk sees it within 2 s, claims and replies, the widget shows the
reply, the user answers, the agent sees it, the agent hands back and the bot answers the
next message. Real gateway (with the desk on SQLite), real worker, real Redis."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.processes import GatewayProcess, WorkerProcess

from .desk_support import add_account, desk_database

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SLOW = 60_000  # ms: a loaded 2-core machine
NEW_PASSWORD = "a-long-new-password-42"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not "
                                "installed (.ci/run installs Debian's chromium)")


@pytest.fixture
def desk_url(tmp_path: Path) -> str:
    return desk_database(tmp_path)


@pytest.fixture
def desk_gateway(clean_redis: redis.Redis, tmp_path: Path, desk_url: str
                 ) -> Iterator[GatewayProcess]:
    env = {"PARLEY_SESSION_SECRET": "desk-browser-test-secret", "PARLEY_DATABASE_URL": desk_url}
    process = GatewayProcess(tmp_path / "gateway.log", env)
    yield process
    process.stop()


def test_the_user_in_the_widget_and_the_agent_at_the_desk(
        desk_gateway: GatewayProcess, worker: WorkerProcess, desk_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    agent_account = add_account(desk_url, "ada@example.com", name="Ada")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            errors: list[str] = []
            desk = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
            desk.on("pageerror", lambda exc: errors.append(str(exc)))
            desk.goto(desk_gateway.url + "/desk/")
            desk.get_by_test_id("login-email").fill("ada@example.com")
            desk.get_by_test_id("login-password").fill(agent_account.password)
            desk.get_by_test_id("login-submit").click()
            # The one-time password must be replaced before anything else.
            desk.get_by_test_id("password-current").fill(agent_account.password)
            desk.get_by_test_id("password-new").fill(NEW_PASSWORD)
            desk.get_by_test_id("password-confirm").fill(NEW_PASSWORD)
            desk.get_by_test_id("password-submit").click()
            desk.get_by_test_id("presence-select").select_option("online")
            expect(desk.get_by_test_id("connection-status")).to_have_attribute(
                "data-state", "open", timeout=SLOW)

            chat = browser.new_context().new_page()
            chat.goto(desk_gateway.url + "/")
            expect(chat.locator(".parley-chat")).to_have_attribute("data-state", "open",
                                                                   timeout=SLOW)
            bot = chat.locator(".parley-msg.parley-bot .parley-text")
            chat.locator(".parley-input").fill("human please")
            asked = time.monotonic()
            chat.keyboard.press("Enter")
            item = desk.get_by_test_id("queue-waiting").get_by_test_id("handoff-item")
            expect(item).to_have_count(1, timeout=SLOW)
            seen_after = time.monotonic() - asked
            assert seen_after < 2.0, f"the agent saw the handoff after {seen_after:.2f} s"
            expect(bot.last).to_contain_text("number 1 in the queue", timeout=SLOW)

            item.click()
            desk.get_by_test_id("claim-button").click()
            reply = desk.get_by_test_id("reply-input")
            reply.fill("Hi, this is Ada. How can I help?")
            reply.press("Enter")
            expect(bot.last).to_have_text("Hi, this is Ada. How can I help?", timeout=SLOW)
            # The widget says a person wrote it, and who.
            expect(chat.locator(".parley-msg.parley-agent .parley-author").last).to_have_text(
                "Ada")

            # An internal note: shown once at the desk (drawn, then its live event matched),
            # never in the widget.
            desk.get_by_test_id("note-input").fill("Asked DHL about it")
            desk.get_by_test_id("note-add").click()
            notes = desk.get_by_test_id("transcript").locator(".msg.note")
            expect(notes).to_have_count(1, timeout=SLOW)
            desk.wait_for_timeout(1000)
            expect(notes).to_have_count(1)

            chat.locator(".parley-input").fill("my parcel never came")
            chat.keyboard.press("Enter")
            transcript = desk.get_by_test_id("transcript")
            expect(transcript.locator(".msg.user").last).to_contain_text(
                "my parcel never came", timeout=SLOW)
            answered = bot.count()

            desk.get_by_test_id("handback-button").click()
            desk.get_by_test_id("handback-confirm").click()
            expect(bot).to_have_count(answered + 1, timeout=SLOW)
            expect(bot.last).to_contain_text("back with the bot")
            chat.locator(".parley-input").fill("hello")
            chat.keyboard.press("Enter")
            expect(bot).to_have_count(answered + 2, timeout=SLOW)
            assert bot.last.text_content() in ("Hello!", "Hi there!")
            assert "Asked DHL about it" not in chat.locator(".parley-messages").inner_text()
            assert errors == []
        finally:
            browser.close()
