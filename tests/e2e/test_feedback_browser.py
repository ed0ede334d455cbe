"""Feedback from the browser and the website: thumbs down with a comment clicked in real
Chromium (Playwright) against the real gateway, worker and Redis, archived as a rating
of the reply it is about and answered with nothing; and the socket and the webhook
refusing malformed ratings and storing a repeated one once."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import requests

from channels.web.adapter import sign
from tests.e2e.webchat_client import ChatClient, browser_session
from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import ARCHIVE_STREAM

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SLOW = 60_000  # ms: a loaded 2-core machine
HOURS = "We open at 18:00."
SECRET = "feedback-webhook-secret"


@pytest.fixture(scope="module")
def stack(redis_client: redis.Redis, bot_model: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[GatewayProcess, WorkerProcess]]:
    """One gateway and one worker for the module's tests (each its own conversations)."""
    redis_client.flushdb()
    logs = tmp_path_factory.mktemp("feedback")
    worker = WorkerProcess(bot_model, logs / "worker.log")
    gateway = GatewayProcess(logs / "gateway.log", {
        "PARLEY_SESSION_SECRET": "feedback-browser-test-secret", "PARLEY_WEB_SECRET": SECRET})
    yield gateway, worker
    gateway.stop()
    worker.stop()
    redis_client.flushdb()


def archived(client: redis.Redis, channel: str) -> list[dict[str, Any]]:
    entries = cast(list[Any], client.xrange(ARCHIVE_STREAM))
    records = [json.loads(fields[b"record"]) for _, fields in entries]
    return [r for r in records if r["channel"] == channel]


def wait_for_records(client: redis.Redis, channel: str, count: int, timeout: float = 60
                     ) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in archived(client, channel) if r["kind"] == "feedback"]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{count} ratings not archived: {archived(client, channel)}")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed "
                    "(.ci/run installs Debian's chromium)")
def test_thumbs_down_with_a_comment_is_archived_with_its_reply_and_not_answered(
        stack: tuple[GatewayProcess, WorkerProcess], redis_client: redis.Redis) -> None:
    from playwright.sync_api import expect, sync_playwright

    gateway = stack[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(gateway.url + "/")
            expect(page.locator(".parley-chat")).to_have_attribute("data-state", "open",
                                                                   timeout=30_000)
            page.locator(".parley-input").fill("when do you open")
            page.keyboard.press("Enter")
            answer = page.locator(".parley-msg.parley-bot").last
            expect(answer.locator(".parley-text")).to_have_text(HOURS, timeout=SLOW)
            expect(page.locator(".parley-msg.parley-user .parley-thumb")).to_have_count(0)
            down = answer.get_by_role("button", name="Not helpful")
            down.focus()
            page.keyboard.press("Enter")  # the keyboard works as the mouse does
            comment = answer.get_by_role("textbox", name="What went wrong? (optional)")
            expect(comment).to_be_focused()
            comment.fill("The kitchen opens at 17:30")
            page.keyboard.press("Enter")
            expect(answer.locator(".parley-rated")).to_have_text("Thanks for your feedback")

            rating = wait_for_records(redis_client, "webchat", 1)[0]
            asked = next(r for r in archived(redis_client, "webchat")
                         if r["text"] == "when do you open")
            assert [r["text"] for r in asked["replies"]] == [HOURS]
            assert rating["feedback"] == {
                "kind": "thumbs", "value": 0, "comment": "The kitchen opens at 17:30",
                "about_sequence": asked["sequence"], "about_position": 0}
            assert (rating["parse"], rating["events"], rating["replies"]) == (None, [], [])
            assert rating["sequence"] == asked["sequence"] + 1

            page.reload()  # the rating is shown again, and cannot be given twice
            answer = page.locator(".parley-msg.parley-bot").last
            expect(answer.get_by_role("button", name="Not helpful")).to_have_attribute(
                "aria-pressed", "true", timeout=SLOW)
            expect(answer.get_by_role("button", name="Helpful", exact=True)).to_be_disabled()
            expect(page.locator(".parley-msg")).to_have_count(2)  # no message for a rating
        finally:
            browser.close()
    time.sleep(1)  # nothing more comes: the bot answered nothing to the rating
    assert [r["kind"] for r in archived(redis_client, "webchat")] == [
        "conversation_start", "message", "feedback"]


def _post(gateway: GatewayProcess, body: dict[str, Any]) -> requests.Response:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    return requests.post(gateway.url + "/channels/web/messages", data=raw, timeout=10,
                         headers={"Content-Type": "application/json",
                                  "X-Parley-Timestamp": stamp,
                                  "X-Parley-Signature": sign(SECRET, stamp, raw)})


async def _rate_over_the_socket(base: str) -> list[dict[str, Any]]:
    """A bad rating (an error frame), then a good one sent twice: acks of each."""
    async with browser_session() as http:
        tab = ChatClient(http, base)
        await tab.connect()
        await tab.send(text="when do you open")
        reply = (await tab.replies(1, timeout=60))[0]
        turn = reply["turn"]  # 2: the conversation-start event took 1
        assert (turn, reply["index"], reply["text"]) == (2, 0, HOURS)
        assert tab.ws is not None
        await tab.ws.send_json({"type": "feedback", "id": "r1", "feedback": {
            "kind": "thumbs", "value": 5, "about_sequence": turn, "about_position": 0}})
        error = await tab.next_frame("error")
        good = {"kind": "thumbs", "value": 1, "comment": "", "about_sequence": turn,
                "about_position": 0}
        acks = []
        for frame_id in ("r2", "r3"):  # a resend, or another tab: stored once
            await tab.ws.send_json({"type": "feedback", "id": frame_id, "feedback": good})
            acks.append(await tab.next_frame("ack"))
        rated = next((f for f in tab.frames if f["type"] == "rated"), None) or \
            await tab.next_frame("rated")
        assert (rated["turn"], rated["index"], rated["value"]) == (turn, 0, 1)
        return [error, *acks]


def test_the_socket_and_the_webhook_check_ratings_and_store_each_once(
        stack: tuple[GatewayProcess, WorkerProcess], redis_client: redis.Redis) -> None:
    gateway = stack[0]
    before = len(wait_for_records(redis_client, "webchat", 0))
    error, first, again = asyncio.run(_rate_over_the_socket(gateway.url))
    assert "a thumbs 'value' is 1 (up) or 0 (down)" in error["message"]
    assert (first["status"], again["status"]) == ("accepted", "duplicate")

    question = {"conversation_id": "shop-1", "user_id": "u-1", "message_id": "shop-1-1",
                "payload": "/opening_hours"}
    assert _post(gateway, question).status_code == 202
    rating = {"conversation_id": "shop-1", "user_id": "u-1", "message_id": "shop-1-2",
              "feedback": {"kind": "csat", "value": 4, "comment": "quick"}}
    for _ in range(2):  # the site's message id is the dedupe key
        assert _post(gateway, rating).status_code == 202
    bad = _post(gateway, {**rating, "message_id": "shop-1-3",
                          "feedback": {"kind": "csat", "value": 9}})
    assert bad.status_code == 400 and "csat 'value' is 1 to 5" in bad.json()["error"]
    both = _post(gateway, {**rating, "message_id": "shop-1-4", "text": "hi"})
    assert both.status_code == 400

    wait_for_records(redis_client, "web", 1)
    wait_for_records(redis_client, "webchat", before + 1)
    time.sleep(1)  # nothing else arrives: the bad ones were never enqueued
    tab = [r for r in archived(redis_client, "webchat") if r["kind"] == "feedback"][before:]
    assert [(r["feedback"]["kind"], r["feedback"]["value"]) for r in tab] == [("thumbs", 1)]
    ratings = [r for r in archived(redis_client, "web") if r["kind"] == "feedback"]
    assert len(ratings) == 1
    site = ratings[0]
    assert site["feedback"] == {"kind": "csat", "value": 4, "comment": "quick",
                                "about_sequence": None, "about_position": None}
    assert site["parse"] is None and site["replies"] == []
