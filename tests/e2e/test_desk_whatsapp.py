"""A WhatsApp user through Twilio reaches a person: the files they send during the handoff
reach the agent live and stay in the transcript, the agent's reply goes out through the
Messages API, and the desk shows the 24-hour window."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis

from tests.fakes.twilio_api import ACCOUNT_SID, BUSINESS, PERSON, TwilioApiFake, recorded
from tests.processes import GatewayProcess, WorkerProcess

from .desk_support import DeskApi, add_agent, desk_database
from .test_whatsapp_channel import PUBLIC, TOKEN, _eventually, _post, _said, _to


@pytest.fixture
def twilio() -> Iterator[TwilioApiFake]:
    with TwilioApiFake(ACCOUNT_SID, TOKEN, BUSINESS) as fake:
        yield fake


def test_a_whatsapp_user_sends_files_to_the_agent_and_gets_the_reply(
        twilio: TwilioApiFake, clean_redis: redis.Redis, worker: WorkerProcess,
        tmp_path: Path) -> None:
    url = desk_database(tmp_path)
    _, token = add_agent(url, "ada@example.com")
    gateway = GatewayProcess(tmp_path / "gateway.log", {
        "PARLEY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "PARLEY_TWILIO_AUTH_TOKEN": TOKEN,
        "PARLEY_WHATSAPP_FROM": f"whatsapp:{BUSINESS}", "PARLEY_WHATSAPP_PUBLIC_URL": PUBLIC,
        "PARLEY_TWILIO_API_URL": twilio.url, "PARLEY_DATABASE_URL": url})
    twilio.callback_target = gateway.url

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            ada = DeskApi(http, gateway.url, token)
            await ada.online()
            events = await ada.events()
            assert _post(gateway, _said(1, "human please")).status_code == 200
            _eventually(lambda: any("in the queue" in str(m["Body"]) for m in _to(twilio, PERSON)))
            (handoff,) = await ada.waiting()
            assert handoff["channel"] == "whatsapp"
            window = handoff["whatsapp_window_ends"]
            assert window is not None and abs(window - (time.time() + 24 * 3600)) < 60
            await ada.ok("POST", f"/handoffs/{handoff['id']}/claim")
            # A photo and a PDF with a caption, while a person holds the conversation.
            assert _post(gateway, recorded("media_message")).status_code == 200
            seen = await _event(events, "message.user")
            assert [a["content_type"] for a in seen["data"]["attachments"]] == [
                "image/jpeg", "application/pdf"]
            detail = await ada.ok("GET", f"/handoffs/{handoff['id']}")
            (files,) = [line["attachments"] for line in detail["transcript"]
                        if line["kind"] == "user" and line["attachments"]]
            assert all(f["url"].startswith("https://api.twilio.com/") for f in files)
            sent_before = len(_to(twilio, PERSON))
            assert (await ada.reply(handoff["id"], "Thanks, I have the menu."))[0] == 202
            _eventually(lambda: len(_to(twilio, PERSON)) == sent_before + 1)
            assert _to(twilio, PERSON)[-1]["Body"] == "Thanks, I have the menu."
            await events.close()

    try:
        asyncio.run(scenario())
    finally:
        gateway.stop()


async def _event(socket: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, object]:
    async with asyncio.timeout(20):
        while True:
            frame = json.loads((await socket.receive()).data)
            if frame["type"] == kind:
                return dict(frame)
