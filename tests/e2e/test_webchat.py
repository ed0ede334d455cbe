"""The browser chat end to end: real gateway processes, a real worker, real Redis, and a
client speaking the widget's protocol over a real WebSocket (and the long-poll fallback)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis

from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import conversation_key

from .webchat_client import ChatClient, browser_session

ALLOWED = "https://shop.example"
ENV = {"PARLEY_SESSION_SECRET": "webchat-test-session-secret",
       "PARLEY_WEB_ALLOWED_ORIGINS": ALLOWED}


@pytest.fixture
def chat_gateway(clean_redis: redis.Redis, tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "gateway.log", ENV)
    yield process
    process.stop()


def test_a_conversation_over_the_socket_with_typing_and_a_button(
        chat_gateway: GatewayProcess, worker: WorkerProcess) -> None:
    async def scenario() -> None:
        async with browser_session() as http:
            browser = ChatClient(http, chat_gateway.url)
            welcome = await browser.connect()
            assert welcome["last"] == 0
            async with http.get(chat_gateway.url + "/metrics") as metrics:
                assert "parley_webchat_sockets 1.0" in await metrics.text()
            first = await browser.send(payload="/book_table")
            assert await browser.next_frame("ack") == {"type": "ack", "id": first,
                                                       "status": "accepted"}
            assert (await browser.next_frame("typing"))["on"] is True
            reply = await browser.next_frame("reply")
            # seq 1 is the message itself, recorded as it was accepted (a "user" frame).
            assert (reply["seq"], reply["in_reply_to"], reply["text"]) == (
                2, first, "For how many people?")
            sent = [first, await browser.send(payload='/inform{"guests": 2}'),
                    await browser.send(text="Ada")]
            replies = await browser.replies(3)
            assert replies[2]["text"] == "A table for 2.0 under Ada. Shall I book it?"
            button = next(b for b in replies[2]["buttons"] if b["payload"] == "/affirm")
            sent.append(await browser.send(payload=button["payload"]))
            booked = (await browser.replies(4))[3]
            assert booked["text"].startswith("Booked: BK-")
            # The person's messages and the replies share one numbering, without gaps.
            assert [f["seq"] for f in browser.history()] == list(range(1, 9))
            assert [u["id"] for u in browser.users()] == sent
            assert browser.users()[2]["text"] == "Ada"
            assert all(isinstance(f["at"], float) for f in browser.history())
    asyncio.run(scenario())


def test_a_dropped_socket_resumes_from_the_last_seen_reply(
        chat_gateway: GatewayProcess, worker: WorkerProcess) -> None:
    async def scenario() -> None:
        async with browser_session() as http:
            browser = ChatClient(http, chat_gateway.url)
            await browser.connect()
            await browser.send(payload="/greet")
            await browser.replies(1)
            # The socket drops right after sending: the replies come while it is away.
            await browser.send(payload="/opening_hours")
            await browser.next_frame("ack")
            await browser.close()
            await asyncio.sleep(2)
            welcome = await browser.connect()
            assert welcome["last"] == 4  # two messages, two replies
            replies = await browser.replies(2)
            assert [(r["seq"], r["text"]) for r in replies][1] == (4, "We open at 18:00.")
            await browser.quiet(1)
            assert [f["seq"] for f in browser.history()] == [1, 2, 3, 4]
            # Another tab of the same browser (same token, nothing seen) gets the history:
            # the person's messages and the replies, in order.
            tab = ChatClient(http, chat_gateway.url, token=browser.token)
            await tab.connect()
            assert [r["seq"] for r in await tab.replies(2)] == [2, 4]
            assert [(f["type"], f["seq"]) for f in tab.history()] == [
                ("user", 1), ("reply", 2), ("user", 3), ("reply", 4)]
            assert [u["payload"] for u in tab.users()] == ["/greet", "/opening_hours"]
    asyncio.run(scenario())


def test_a_resent_message_is_answered_once(
        chat_gateway: GatewayProcess, worker: WorkerProcess,
        clean_redis: redis.Redis) -> None:
    async def scenario() -> None:
        async with browser_session() as http:
            browser = ChatClient(http, chat_gateway.url)
            session = await browser.connect()
            await browser.send(payload="/opening_hours", message_id="m-1")
            await browser.next_frame("ack")
            await browser.close()
            # The network failed before the ack reached the page: it resends, same id,
            # once on a new socket and once through the long-poll fallback.
            await browser.connect()
            await browser.send(payload="/opening_hours", message_id="m-1")
            assert (await browser.next_frame("ack"))["status"] == "duplicate"
            async with http.post(f"{chat_gateway.url}/channels/web/send", json={
                    "token": browser.token, "id": "m-1", "payload": "/opening_hours"}) as resp:
                assert resp.status == 202
                assert (await resp.json())["status"] == "duplicate"
            await browser.replies(1)
            await browser.quiet(1.5)
            assert [r["in_reply_to"] for r in browser.received()] == ["m-1"]
            assert [u["id"] for u in browser.users()] == ["m-1"]  # recorded once
            # #1 is the conversation-start event the gateway enqueued with the session.
            served = clean_redis.get(conversation_key(
                f"webchat:browser:{session['conversation']}", "served"))
            assert served == b"2"
            reader = ChatClient(http, chat_gateway.url, token=browser.token)
            await reader.connect()
            await reader.replies(1)
            await reader.quiet(1)
            assert [(f["type"], f["id" if f["type"] == "user" else "in_reply_to"])
                    for f in reader.history()] == [("user", "m-1"), ("reply", "m-1")]
    asyncio.run(scenario())


def test_long_poll_fallback_sends_and_receives(
        chat_gateway: GatewayProcess, worker: WorkerProcess) -> None:
    async def scenario() -> None:
        async with browser_session() as http:
            browser = ChatClient(http, chat_gateway.url)
            await browser.session()
            url = chat_gateway.url
            async with http.post(f"{url}/channels/web/send", json={
                    "token": browser.token, "id": "p-1", "payload": "/greet"}) as resp:
                assert resp.status == 202 and (await resp.json())["status"] == "accepted"
            events: list[dict] = []
            while not any(e["type"] == "reply" for e in events):
                async with http.post(f"{url}/channels/web/poll", json={
                        "token": browser.token, "after": 0}) as resp:
                    assert resp.status == 200
                    events = [e for e in (await resp.json())["events"] if "seq" in e]
            assert [(e["type"], e["seq"]) for e in events] == [("user", 1), ("reply", 2)]
            assert (events[0]["id"], events[0]["payload"]) == ("p-1", "/greet")
            assert events[1]["in_reply_to"] == "p-1"
            async with http.post(f"{url}/channels/web/poll", json={
                    "token": "v1.forged.1.00", "after": 0}) as resp:
                assert resp.status == 401
    asyncio.run(scenario())


def test_cross_site_requests_and_foreign_tokens_are_refused(
        chat_gateway: GatewayProcess) -> None:
    async def scenario() -> None:
        url = chat_gateway.url
        async with browser_session() as http:
            evil = ChatClient(http, url, origin="https://evil.example", token="x")
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await evil.connect()
            assert refused.value.status == 403
            async with http.post(f"{url}/channels/web/session", json={},
                                 headers={"Origin": "https://evil.example"}) as resp:
                assert resp.status == 403
                assert "origin" in (await resp.json())["error"]
            # The allowed shop and the gateway's own page may, with CORS headers.
            shop = ChatClient(http, url, origin=ALLOWED)
            assert (await shop.connect())["type"] == "welcome"
            async with http.options(f"{url}/channels/web/session",
                                    headers={"Origin": ALLOWED}) as resp:
                assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
            # A token cannot be pointed at another conversation, nor made up.
            mine = await ChatClient(http, url).session()
            head, _, mac = str(shop.token).rpartition(".")
            forged = head.replace(head.split(".")[1], mine) + "." + mac
            for token in (forged, "v1.abc.1.deadbeef", "nonsense"):
                intruder = ChatClient(http, url, token=token)
                with pytest.raises(ConnectionError, match="4401"):
                    await intruder.connect()
    asyncio.run(scenario())


def test_two_gateways_fan_replies_out_to_the_browser_on_either(
        clean_redis: redis.Redis, worker: WorkerProcess, tmp_path: Path) -> None:
    first = GatewayProcess(tmp_path / "gateway-a.log", ENV)
    second = GatewayProcess(tmp_path / "gateway-b.log", ENV)
    try:
        async def scenario() -> None:
            async with browser_session() as http:
                on_a = ChatClient(http, first.url)
                await on_a.connect()
                on_b = ChatClient(http, second.url, token=on_a.token)  # same visitor
                await on_b.connect()
                for n in range(6):
                    sender = on_a if n % 2 else on_b
                    await sender.send(payload="/greet" if n % 3 else "/opening_hours")
                await on_a.replies(6)
                await on_b.replies(6)
                await on_a.quiet(1)
                # One dispatcher appended each reply; both replicas' browsers have all six,
                # and each tab shows the messages typed in the other.
                assert [f["seq"] for f in on_a.history()] == list(range(1, 13))
                assert on_a.history() == on_b.history()
                assert len(on_a.users()) == 6
        asyncio.run(scenario())
    finally:
        first.stop()
        second.stop()


def test_a_gateway_restart_during_a_conversation_loses_nothing(
        clean_redis: redis.Redis, bot_model: Path, tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path / "gateway.log", ENV)
    worker = WorkerProcess(bot_model, tmp_path / "worker.log")
    try:
        async def before() -> ChatClient:
            async with browser_session() as http:
                browser = ChatClient(http, gateway.url)
                await browser.connect()
                await browser.send(payload="/greet")
                await browser.replies(1)
                worker.stop()  # the next reply will be produced while the gateway is down
                await browser.send(payload="/opening_hours")
                await browser.next_frame("ack")
            return browser

        browser = asyncio.run(before())
        gateway.stop()
        worker_again = WorkerProcess(bot_model, tmp_path / "worker-2.log")
        try:
            gateway = GatewayProcess(tmp_path / "gateway-2.log", ENV, port=gateway.port)

            async def after() -> None:
                async with browser_session() as http:
                    browser.http = http
                    welcome = await browser.connect()
                    assert welcome["last"] in (3, 4)  # the 2nd reply may still be coming
                    replies = await browser.replies(2)
                    assert [(r["seq"], r["text"]) for r in replies][1] == (
                        4, "We open at 18:00.")
                    await browser.close()
            asyncio.run(after())
        finally:
            worker_again.stop()
    finally:
        gateway.stop()
        worker.stop()
