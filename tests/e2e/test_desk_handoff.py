"""Human handoff end to end over the agent API: a real gateway with the desk (SQLite), a
real worker, real Redis, the browser chat's protocol on one side and an agent's bearer
token on the other."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis

from desk import records
from desk.database import database_url, open_database
from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import desk_key

from .desk_support import DeskApi, add_agent, desk_database
from .webchat_client import ChatClient, browser_session

ENV = {"PARLEY_SESSION_SECRET": "desk-test-session-secret-0123"}


@pytest.fixture
def desk_url(tmp_path: Path) -> str:
    return desk_database(tmp_path)


@pytest.fixture
def desk_gateway(clean_redis: redis.Redis, tmp_path: Path, desk_url: str
                 ) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "gateway.log", {**ENV, "PARLEY_DATABASE_URL": desk_url})
    yield process
    process.stop()


def test_a_person_claims_answers_and_hands_back(desk_gateway: GatewayProcess,
                                                worker: WorkerProcess, desk_url: str) -> None:
    _, ada_token = add_agent(desk_url, "ada@example.com")
    _, bob_token = add_agent(desk_url, "bob@example.com")

    async def scenario() -> None:
        async with browser_session() as http:
            ada, bob = (DeskApi(http, desk_gateway.url, t) for t in (ada_token, bob_token))
            await ada.online()
            events = await ada.events()
            assert json.loads((await events.receive()).data)["type"] == "hello"
            user = ChatClient(http, desk_gateway.url)
            await user.connect()
            await user.send(text="human please")
            told = await user.next_frame("reply")
            assert "number 1 in the queue" in told["text"], told
            (handoff,) = await ada.waiting()
            assert (handoff["team"], handoff["channel"], handoff["intent"]) == (
                "support", "webchat", "talk_to_human")
            assert handoff["confidence"] > 0.3 and handoff["position"] == 1
            requested = await _event(events, "handoff.requested")
            assert requested["data"]["handoff_id"] == handoff["id"]
            # Two agents claim at once: exactly one holds it, the other is told who.
            claims = await asyncio.gather(bob.call("POST", f"/handoffs/{handoff['id']}/claim"),
                                          ada.call("POST", f"/handoffs/{handoff['id']}/claim"))
            statuses = sorted(status for status, _ in claims)
            assert statuses == [200, 409], claims
            winner = ada if claims[1][0] == 200 else bob
            loser_body = claims[0][1] if winner is ada else claims[1][1]
            assert "already claimed by" in loser_body["error"]
            # The user writes while the person holds it: the bot is silent, the agent sees it.
            await user.send(text="hello? are you there")
            seen = await _event(events, "message.user")
            assert seen["data"]["text"] == "hello? are you there"
            # The agent answers; a retried POST with the same client id is sent once.
            first = await winner.reply(handoff["id"], "Hi, I'm here. How can I help?", "c-1")
            again = await winner.reply(handoff["id"], "Hi, I'm here. How can I help?", "c-1")
            assert first[0] == again[0] == 202 and again[1]["duplicate"] is True
            answer = await user.next_frame("reply")
            assert answer["text"] == "Hi, I'm here. How can I help?"
            await user.quiet(1.5)
            assert [r["text"] for r in user.received()].count(answer["text"]) == 1
            # An internal note: every agent who may see the handoff is told live.
            await winner.ok("POST", f"/handoffs/{handoff['id']}/notes", {"text": "VIP, be quick"})
            noted = await _event(events, "note.added")
            assert noted["data"]["note"]["text"] == "VIP, be quick"
            await user.quiet(0.5)
            assert "VIP, be quick" not in [r["text"] for r in user.received()]
            detail = await winner.ok("GET", f"/handoffs/{handoff['id']}")
            kinds = [(line["kind"], line["text"]) for line in detail["transcript"]]
            assert ("user", "hello? are you there") in kinds
            assert ("agent", "Hi, I'm here. How can I help?") in kinds
            # Hand back: the bot says so, and answers the next message itself.
            await winner.ok("POST", f"/handoffs/{handoff['id']}/handback", {})
            back = await user.next_frame("reply")
            assert "back with the bot" in back["text"]
            await user.send(text="hello")
            greeting = await user.next_frame("reply")
            assert greeting["text"] in ("Hello!", "Hi there!"), greeting
            closed = (await winner.ok("GET", "/handoffs?status=closed"))["handoffs"]
            assert [c["id"] for c in closed] == [handoff["id"]]
            await events.close()
            # The database of record holds the handoff and both sides' messages.
            async with asyncio.timeout(20):
                while (stored := await _stored(desk_url, handoff["id"]))[0] != "closed":
                    await asyncio.sleep(0.1)
            assert stored[1] == [("user", "hello? are you there"),
                                 ("agent", "Hi, I'm here. How can I help?")]

    asyncio.run(scenario())


async def _stored(url: str, handoff_id: str) -> tuple[str | None, list[tuple[str, str]]]:
    db = open_database(database_url(url, Path(".")))
    try:
        found = await records.get_handoff(db, handoff_id)
        messages = await records.messages_for(db, handoff_id)
    finally:
        await db.aclose()
    return (str(found.status) if found else None,
            [(str(m.author_kind), m.text) for m in messages])


async def _event(socket: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, object]:
    async with asyncio.timeout(20):
        while True:
            frame = json.loads((await socket.receive()).data)
            if frame["type"] == kind:
                return dict(frame)


def test_a_whatsapp_reply_outside_the_24_hour_window_is_refused(
        desk_gateway: GatewayProcess, worker: WorkerProcess, desk_url: str,
        clean_redis: redis.Redis) -> None:
    _, token = add_agent(desk_url, "ada@example.com")

    async def scenario() -> None:
        async with browser_session() as http:
            ada = DeskApi(http, desk_gateway.url, token)
            await ada.online()
            user = ChatClient(http, desk_gateway.url)
            await user.connect()
            await user.send(text="human please")
            await user.next_frame("reply")
            (handoff,) = await ada.waiting()
            # As if it came from WhatsApp and the user last wrote 25 hours ago.
            clean_redis.hset(desk_key("handoff", handoff["id"]), mapping={
                "channel": "whatsapp", "last_user_at": f"{time.time() - 25 * 3600:.3f}"})
            shown = await ada.ok("GET", f"/handoffs/{handoff['id']}")
            assert shown["whatsapp_window_ends"] < time.time()
            status, body = await ada.reply(handoff["id"], "Sorry for the wait")
            assert status == 409 and "24-hour" in body["error"], body
            assert (await ada.ok("GET", f"/handoffs/{handoff['id']}"))["status"] == "waiting"
            # Inside the window the same reply goes.
            clean_redis.hset(desk_key("handoff", handoff["id"]), "last_user_at",
                             f"{time.time() - 3600:.3f}")
            status, _ = await ada.reply(handoff["id"], "Sorry for the wait")
            assert status == 202

    asyncio.run(scenario())


def test_transfer_typing_and_close_then_the_next_message_is_the_bots(
        desk_gateway: GatewayProcess, worker: WorkerProcess, desk_url: str) -> None:
    _, ada_token = add_agent(desk_url, "ada@example.com")
    bob_id, bob_token = add_agent(desk_url, "bob@example.com")

    async def scenario() -> None:
        async with browser_session() as http:
            ada, bob = (DeskApi(http, desk_gateway.url, t) for t in (ada_token, bob_token))
            await ada.online()
            user = ChatClient(http, desk_gateway.url)
            await user.connect()
            await user.send(text="human please")
            await user.next_frame("reply")
            (handoff,) = await ada.waiting()
            hid = handoff["id"]
            await ada.ok("POST", f"/handoffs/{hid}/claim")
            moved = await ada.ok("POST", f"/handoffs/{hid}/transfer", {"agent_id": bob_id})
            assert moved["agent"]["email"] == "bob@example.com"
            # Ada no longer holds it: her reply is refused and nothing reaches the user.
            status, body = await ada.reply(hid, "still me")
            assert status == 409 and "already claimed by" in body["error"], body
            # Bob types: the web user sees the indicator; then his reply.
            assert (await bob.call("POST", f"/handoffs/{hid}/typing", {"on": True}))[0] == 204
            assert (await user.next_frame("typing"))["on"] is True
            assert (await bob.reply(hid, "Bob here, taking over."))[0] == 202
            assert (await user.next_frame("reply"))["text"] == "Bob here, taking over."
            closed = await bob.ok("POST", f"/handoffs/{hid}/close")
            assert closed["status"] == "closed"
            said = await user.next_frame("reply")
            assert said["text"].startswith("This conversation with our team is closed")
            # After the close the bot answers, and no handoff is reopened.
            await user.send(text="hello")
            assert (await user.next_frame("reply"))["text"] in ("Hello!", "Hi there!")
            for status_name in ("waiting", "active", "offline"):
                listed = await ada.ok("GET", f"/handoffs?status={status_name}")
                assert listed["handoffs"] == [], status_name
            again = await bob.call("POST", f"/handoffs/{hid}/messages",
                                   {"text": "one more thing", "client_message_id": "late-1"})
            assert again[0] == 409  # a closed handoff takes no more replies
            await user.quiet(1.0)
            assert "one more thing" not in [r["text"] for r in user.received()]
            assert "still me" not in [r["text"] for r in user.received()]

    asyncio.run(scenario())
