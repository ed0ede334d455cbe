"""The chat page in real Chromium (Playwright) against the real gateway, a real celery
worker and Redis: the bot greets first, and a reload, a reconnect or a second tab shows
the whole conversation (the person's messages and the bot's), once each, in order."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.greeting_bot import FIRST_HOURS, GREETING, LATER_HOURS, greeting_bot, start_worker
from tests.processes import GatewayProcess, WorkerProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ENV = {"PARLEY_SESSION_SECRET": "webchat-browser-test-secret"}
SLOW = 60_000  # ms: a loaded 2-core machine

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not "
                                "installed (.ci/run installs Debian's chromium)")

# What each message of the list shows: who, text, time, its buttons (chosen ones marked).
SHOWN = """els => els.map(e => [
  e.classList.contains('parley-user') ? 'user' : 'bot',
  e.querySelector('.parley-text').textContent,
  e.querySelector('.parley-time').textContent,
  [...e.querySelectorAll('.parley-button')].map(
    b => b.textContent + (b.classList.contains('parley-chosen') ? '*' : ''))])"""


@pytest.fixture
def gateway(clean_redis: redis.Redis, tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "gateway.log", ENV)
    yield process
    process.stop()


@pytest.fixture
def greeting_worker(clean_redis: redis.Redis, bot_model: Path, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerProcess]:
    process = start_worker(greeting_bot(tmp_path), bot_model, tmp_path / "worker.log",
                           monkeypatch)
    yield process
    process.stop()


def _shown(page: Any) -> list[list[Any]]:
    return list(page.locator(".parley-msg").evaluate_all(SHOWN))


def test_a_reload_a_reconnect_and_a_second_tab_show_the_whole_conversation(
        gateway: GatewayProcess, greeting_worker: WorkerProcess) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(gateway.url + "/")
            expect(page.locator(".parley-chat")).to_have_attribute("data-state", "open",
                                                                   timeout=30_000)
            bot = page.locator(".parley-msg.parley-bot .parley-text")
            expect(bot).to_have_text([GREETING], timeout=SLOW)  # the bot speaks first

            def say(text: str, answers: int) -> None:
                page.locator(".parley-input").fill(text)
                page.keyboard.press("Enter")
                expect(bot).to_have_count(answers, timeout=SLOW)

            def press(title: str, answers: int) -> None:
                page.locator(".parley-button", has_text=title).last.click()
                expect(bot).to_have_count(answers, timeout=SLOW)

            say("when do you open", 2)
            press("Book a table", 3)
            say("cancel", 4)
            say("hello", 5)
            say("opening hours", 6)
            expect(bot.last).to_have_text(LATER_HOURS)
            before = _shown(page)
            assert [(who, text, buttons) for who, text, _, buttons in before] == [
                ("bot", GREETING, ["Book a table*"]),
                ("user", "when do you open", []), ("bot", FIRST_HOURS, []),
                ("user", "Book a table", []), ("bot", "For how many people?", []),
                ("user", "cancel", []), ("bot", "Okay, cancelled.", []),
                ("user", "hello", []), ("bot", before[8][1], []),
                ("user", "opening hours", []), ("bot", LATER_HOURS, [])]
            assert all(re.fullmatch(r"\d\d:\d\d", shown[2]) for shown in before)

            page.reload()
            expect(page.locator(".parley-chat")).to_have_attribute("data-state", "open",
                                                                   timeout=30_000)
            expect(page.locator(".parley-msg")).to_have_count(11, timeout=SLOW)
            assert _shown(page) == before  # same messages, order, times and buttons
            page.wait_for_timeout(3000)
            assert _shown(page) == before  # nothing doubled once connected

            # The network drops and comes back: the widget resumes, nothing doubled.
            context.set_offline(True)
            expect(page.locator(".parley-chat")).to_have_attribute("data-state", "closed",
                                                                   timeout=30_000)
            context.set_offline(False)
            expect(page.locator(".parley-chat")).to_have_attribute("data-state", "open",
                                                                   timeout=30_000)
            page.wait_for_timeout(3000)
            assert _shown(page) == before

            # A second tab shows the conversation, and each tab what is typed in the other.
            other = context.new_page()
            other.goto(gateway.url + "/")
            expect(other.locator(".parley-msg")).to_have_count(11, timeout=SLOW)
            assert _shown(other) == before
            other.locator(".parley-input").fill("when do you open")
            other.keyboard.press("Enter")
            for tab in (page, other):
                expect(tab.locator(".parley-msg")).to_have_count(13, timeout=SLOW)
            assert [shown[:2] for shown in _shown(page)[11:]] == [
                ["user", "when do you open"], ["bot", LATER_HOURS]]
            assert _shown(page) == _shown(other)
        finally:
            browser.close()
