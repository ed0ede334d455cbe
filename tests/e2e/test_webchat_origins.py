"""The widget embedded on a page of another origin, in real Chromium: a second local HTTP
server (another port, so another origin) serves the shop's page, which loads
``/widget.js`` from a real gateway. Refused, the widget says so in plain words and stops;
the gateway logs the origin and the variable to set, once; allowed, the chat works (here
over the long-poll transport, reload included)."""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web

from tests.fakes.threaded_server import ThreadedServer
from tests.greeting_bot import FIRST_HOURS, GREETING, greeting_bot, start_worker
from tests.processes import GatewayProcess, WorkerProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SECRET = "webchat-origins-test-secret"
SLOW = 60_000  # ms: a loaded 2-core machine
UNAVAILABLE = "Chat is not available on this site."

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not "
                                "installed (.ci/run installs Debian's chromium)")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A shop</title></head>
<body><h1>A shop</h1><div id="parley-chat" style="height:500px"></div>
<script src="{gateway}/widget.js" data-parley-mode="inline"{extra}></script>
</body></html>"""


class ShopSite:
    """The site that embeds the widget: ``/refused`` and ``/allowed`` load it from the
    gateway named by the ``gateway`` query parameter (``/allowed`` with long-polling)."""

    def __init__(self) -> None:
        app = web.Application()
        app.router.add_get("/refused", self._page)
        app.router.add_get("/allowed", self._page)
        app.router.add_get("/framed", self._framed)
        self.server = ThreadedServer(app)

    async def _page(self, request: web.Request) -> web.Response:
        extra = ' data-parley-transport="poll"' if request.path == "/allowed" else ""
        body = _PAGE.format(gateway=request.query["gateway"], extra=extra)
        return web.Response(text=body, content_type="text/html")

    async def _framed(self, request: web.Request) -> web.Response:
        """The chat page itself in an iframe (the CSP frame-ancestors case)."""
        body = (f'<!doctype html><title>Framed</title><iframe id="chat" '
                f'src="{request.query["gateway"]}/" width="600" height="500"></iframe>')
        return web.Response(text=body, content_type="text/html")

    def __enter__(self) -> ShopSite:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def origin(self) -> str:
        return self.server.url


@pytest.fixture
def shop() -> Iterator[ShopSite]:
    with ShopSite() as site:
        yield site


@pytest.fixture
def greeting_worker(clean_redis: redis.Redis, bot_model: Path, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerProcess]:
    process = start_worker(greeting_bot(tmp_path), bot_model, tmp_path / "worker.log",
                           monkeypatch)
    yield process
    process.stop()


@contextlib.contextmanager
def _gateways(tmp_path: Path, shop: ShopSite) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """A gateway that allows no other site, and one that allows the shop."""
    strict = GatewayProcess(tmp_path / "strict.log", {"PARLEY_SESSION_SECRET": SECRET})
    try:
        allowing = GatewayProcess(tmp_path / "allowing.log", {
            "PARLEY_SESSION_SECRET": SECRET, "PARLEY_WEB_ALLOWED_ORIGINS": shop.origin})
        try:
            yield strict, allowing
        finally:
            allowing.stop()
    finally:
        strict.stop()


def _refusal_lines(gateway: GatewayProcess, origin: str) -> list[str]:
    return [line for line in gateway.log.read_text(errors="replace").splitlines()
            if origin in line and "PARLEY_WEB_ALLOWED_ORIGINS" in line]


def test_a_refused_site_is_told_so_and_an_allowed_one_chats(
        shop: ShopSite, greeting_worker: WorkerProcess, clean_redis: redis.Redis,
        tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with _gateways(tmp_path, shop) as (strict, allowing), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            sessions: list[Any] = []
            page.on("request", lambda r: sessions.append(r) if r.method == "POST"
                    and r.url.endswith("/channels/web/session") else None)
            page.goto(f"{shop.origin}/refused?gateway={strict.url}")
            chat = page.locator(".parley-chat")
            expect(chat).to_have_attribute("data-state", "unavailable", timeout=30_000)
            expect(page.locator(".parley-status")).to_have_text(UNAVAILABLE)
            expect(page.locator(".parley-input")).to_be_disabled()
            # It does not retry in a loop (the old widget retried every 0.5–10 s).
            page.wait_for_timeout(6000)
            assert len(sessions) == 1
            expect(chat).to_have_attribute("data-state", "unavailable")
            # Three more visits within the minute: still one line in the log.
            for _ in range(3):
                page.reload()
                expect(chat).to_have_attribute("data-state", "unavailable",
                                               timeout=30_000)
            assert len(sessions) == 4
            deadline = time.monotonic() + 10
            while not _refusal_lines(strict, shop.origin) and time.monotonic() < deadline:
                time.sleep(0.2)
            lines = _refusal_lines(strict, shop.origin)
            assert len(lines) == 1, lines
            assert "refused the browser chat" in lines[0]

            # Allowed, the same page chats (long-polling), and a reload redraws it.
            page.goto(f"{shop.origin}/allowed?gateway={allowing.url}")
            expect(chat).to_have_attribute("data-state", "open", timeout=30_000)
            bot = page.locator(".parley-msg.parley-bot .parley-text")
            expect(bot).to_have_text([GREETING], timeout=SLOW)
            page.locator(".parley-input").fill("when do you open")
            page.keyboard.press("Enter")
            expect(bot).to_have_text([GREETING, FIRST_HOURS], timeout=SLOW)
            page.reload()
            messages = page.locator(".parley-msg .parley-text")
            expect(messages).to_have_text([GREETING, "when do you open", FIRST_HOURS],
                                          timeout=SLOW)
            page.wait_for_timeout(3000)
            expect(messages).to_have_count(3)
            assert not _refusal_lines(allowing, shop.origin)
            expect(page.locator(".parley-msg .parley-time").first).to_have_text(
                re.compile(r"^\d\d:\d\d$"))
        finally:
            browser.close()


def test_only_an_allowed_site_may_frame_the_chat_page(
        shop: ShopSite, greeting_worker: WorkerProcess, clean_redis: redis.Redis,
        tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with _gateways(tmp_path, shop) as (strict, allowing), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{shop.origin}/framed?gateway={allowing.url}")
            framed = page.frame_locator("#chat")
            expect(framed.locator(".parley-msg.parley-bot .parley-text")).to_have_text(
                [GREETING], timeout=SLOW)

            blocked: list[str] = []
            page.on("console", lambda m: blocked.append(m.text)
                    if "frame-ancestors" in m.text else None)
            page.goto(f"{shop.origin}/framed?gateway={strict.url}")
            page.wait_for_timeout(3000)
            expect(framed.locator(".parley-chat")).to_have_count(0)
            assert blocked, "Chromium did not report the refused framing"
        finally:
            browser.close()
