"""The desk's rules end to end: what the user is told when nobody is there, a queue timeout,
a withdrawal while waiting, and an agent and a user on two different gateway replicas.

Real gateway processes with the desk (SQLite), real Celery workers, real Redis; the user
speaks the browser chat's protocol, the agent the API with a bearer token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model
from tests.processes import BOT, GatewayProcess, WorkerProcess, copy_bot

from .desk_support import DeskApi, add_agent, desk_database
from .webchat_client import ChatClient, browser_session

ENV = {"PARLEY_SESSION_SECRET": "desk-rules-session-secret-01"}
UNAVAILABLE = "Nobody from our support team is available right now"
KEPT = "Thanks, your message is kept for the team."
CANCELLED = "OK, you're back with the bot. How can I help?"
TIMED_OUT = "Sorry, nobody from the team could take this chat in time."
GREETINGS = ("Hello!", "Hi there!")
BACK_TO_BOT = [{"title": "Back to the bot", "payload": "/handoff_cancel"}]


@pytest.fixture
def desk_url(tmp_path: Path) -> str:
    return desk_database(tmp_path)


@pytest.fixture
def desk_gateway(clean_redis: redis.Redis, tmp_path: Path, desk_url: str
                 ) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "gateway.log", {**ENV, "PARLEY_DATABASE_URL": desk_url})
    yield process
    process.stop()


def _bot_with(tmp_path: Path, *, desk_yml: str | None = None,
              cancel_examples: tuple[str, ...] = ()) -> Path:
    """A copy of the fixture bot with its own desk.yml and/or more examples of ``cancel``."""
    bot = copy_bot(BOT, tmp_path / "bot")
    if desk_yml is not None:
        (bot / "desk.yml").write_text(desk_yml, encoding="utf-8")
    if cancel_examples:
        nlu = bot / "data" / "nlu.yml"
        marker = "- intent: cancel\n  examples: |\n"
        text = nlu.read_text(encoding="utf-8")
        assert marker in text
        more = "".join(f"    - {example}\n" for example in cancel_examples)
        nlu.write_text(text.replace(marker, marker + more), encoding="utf-8")
    return bot


def test_nobody_online_the_user_is_told_and_the_message_is_kept(
        desk_gateway: GatewayProcess, worker: WorkerProcess, desk_url: str) -> None:
    _, token = add_agent(desk_url, "ada@example.com")

    async def scenario() -> None:
        async with browser_session() as http:
            ada = DeskApi(http, desk_gateway.url, token)  # not online: no presence at all
            user = ChatClient(http, desk_gateway.url)
            await user.connect()
            await user.send(text="human please")
            told = await user.next_frame("reply")
            assert told["text"].startswith(UNAVAILABLE), told
            assert "in the queue" not in told["text"] and "shortly" not in told["text"]
            assert told["buttons"] == BACK_TO_BOT
            # The agent's own API calls do not make them "online".
            (ticket,) = await ada.waiting("offline")
            assert (ticket["status"], ticket["team"], ticket["position"]) == (
                "offline", "support", None)
            assert ticket["sla_deadline"] is None  # no first-response target: nobody was there
            assert (await ada.ok("GET", "/handoffs?status=waiting"))["handoffs"] == []
            # The message the user leaves is kept, acknowledged once.
            await user.send(text="my booking for friday is wrong")
            kept = await user.next_frame("reply")
            assert kept["text"] == KEPT
            await user.send(text="are you still there")
            # Once the turn is committed (its replies with it), nothing more may come.
            detail = await _until(ada, ticket["id"], lambda d: d["last_user_text"] ==
                                  "are you still there")
            await user.quiet(1.5)
            assert [r["text"] for r in user.received()] == [told["text"], KEPT]
            users = [line["text"] for line in detail["transcript"] if line["kind"] == "user"]
            assert users[-2:] == ["my booking for friday is wrong", "are you still there"]
            assert detail["status"] == "offline"
            # An agent who comes back takes the ticket, and the user hears from them.
            await ada.online()
            claimed = await ada.ok("POST", f"/handoffs/{ticket['id']}/claim")
            assert (claimed["status"], claimed["agent"]["email"]) == ("active",
                                                                      "ada@example.com")
            assert (await ada.ok("GET", "/handoffs?status=offline"))["handoffs"] == []
            status, _ = await ada.reply(ticket["id"], "Sorry for the wait, let me look.")
            assert status == 202
            answer = await user.next_frame("reply")
            assert answer["text"] == "Sorry for the wait, let me look."

            # Another user leaves a message while nobody is there, then takes the offered
            # way back to the bot: the bot answers again, and what they were told is kept
            # for the team still is (as after a queue timeout).
            await ada.ok("PUT", "/presence", {"status": "offline"})
            other = ChatClient(http, desk_gateway.url)
            await other.connect()
            await other.send(text="human please")
            assert (await other.next_frame("reply"))["text"].startswith(UNAVAILABLE)
            (left,) = await ada.waiting("offline")
            await other.send(text="my card was charged twice")
            assert (await other.next_frame("reply"))["text"] == KEPT
            await _until(ada, left["id"], lambda d: d["last_user_text"] ==
                         "my card was charged twice")
            await other.send(payload="/handoff_cancel")
            assert (await other.next_frame("reply"))["text"] == CANCELLED
            await other.send(text="hello")
            assert (await other.next_frame("reply"))["text"] in GREETINGS
            listed = (await ada.ok("GET", "/handoffs?status=offline"))["handoffs"]
            now = await ada.ok("GET", f"/handoffs/{left['id']}")
            assert [h["id"] for h in listed] == [left["id"]], (
                "the message the user left for the team was dropped when they went back to "
                f"the bot: the ticket is {now['status']!r} and listed nowhere")

    asyncio.run(scenario())


def test_queue_timeout_the_bot_resumes_and_the_ticket_stays(
        clean_redis: redis.Redis, desk_gateway: GatewayProcess, bot_model: Path,
        tmp_path: Path, desk_url: str) -> None:
    # desk.yml takes minutes, fractions too: 0.1 minutes is a 6 s queue timeout.
    bot = _bot_with(tmp_path, desk_yml="teams:\n  support:\n    queue_timeout_minutes: 0.1\n")
    worker = WorkerProcess(bot_model, tmp_path / "worker.log", bot=bot)
    _, token = add_agent(desk_url, "ada@example.com")

    async def scenario() -> None:
        async with browser_session() as http:
            ada = DeskApi(http, desk_gateway.url, token)
            teams = await _teams(ada)
            assert [(t["name"], t["queue_timeout_seconds"]) for t in teams] == [("support", 6)]
            await ada.online()
            events = await ada.events()
            user = ChatClient(http, desk_gateway.url)
            await user.connect()
            await user.send(text="human please")
            told = await user.next_frame("reply")
            assert "number 1 in the queue" in told["text"], told
            (waiting,) = await ada.waiting()
            # Nobody claims it: after 6 s the bot is back, and says why.
            timed_out = await user.next_frame("reply", timeout=20)
            assert timed_out["text"].startswith(TIMED_OUT), timed_out
            assert timed_out["at"] - told["at"] >= 5.5  # not before its time
            event = await _event(events, "handoff.timeout", waiting["id"])
            assert event["data"]["conversation_id"] == waiting["conversation_id"]
            await events.close()
            assert (await ada.ok("GET", "/handoffs?status=waiting"))["handoffs"] == []
            (ticket,) = (await ada.ok("GET", "/handoffs?status=offline"))["handoffs"]
            assert (ticket["id"], ticket["status"]) == (waiting["id"], "offline")
            assert ticket["epoch"] > waiting["epoch"]
            # The bot answers the next message itself.
            await user.send(text="hello")
            greeting = await user.next_frame("reply")
            assert greeting["text"] in GREETINGS, greeting
            # The ticket is still there to be taken; then the person has the conversation.
            await ada.ok("POST", f"/handoffs/{ticket['id']}/claim")
            await user.send(text="hello? anyone")
            await _until(ada, ticket["id"], lambda d: d["last_user_text"] == "hello? anyone")
            await user.quiet(1.5)
            assert [r["text"] for r in user.received()][-1] == greeting["text"]
            status, _ = await ada.reply(ticket["id"], "I'm here now.")
            assert status == 202
            assert (await user.next_frame("reply"))["text"] == "I'm here now."

    try:
        asyncio.run(scenario())
    finally:
        worker.stop()


def test_the_user_withdraws_while_waiting(
        clean_redis: redis.Redis, desk_gateway: GatewayProcess, tmp_path: Path,
        desk_url: str) -> None:
    # The fixture bot knows "cancel"; this copy also knows "never mind" as a cancel.
    bot = _bot_with(tmp_path, cancel_examples=("never mind", "nevermind"))
    model = save_model(train_model(load_training_data(bot), load_nlu_config(bot), seed=1),
                       tmp_path / "model.tar.gz")
    worker = WorkerProcess(model, tmp_path / "worker.log", bot=bot)
    _, token = add_agent(desk_url, "ada@example.com")

    async def withdraw(ada: DeskApi, user: ChatClient, listed: str, **how: str) -> None:
        await user.send(text="human please")
        told = await user.next_frame("reply")
        (handoff,) = await ada.waiting(listed)
        await user.send(**how)
        back = await user.next_frame("reply")
        assert back["text"] == CANCELLED, (how, told, back)
        detail = await _until(ada, handoff["id"], lambda d: d["status"] == "withdrawn")
        assert detail["epoch"] > handoff["epoch"]
        for listing in ("waiting", "offline"):
            assert (await ada.ok("GET", f"/handoffs?status={listing}"))["handoffs"] == []
        # The bot has the conversation again.
        await user.send(text="hello")
        assert (await user.next_frame("reply"))["text"] in GREETINGS
        # Too late to claim it: nothing to take, and nothing changes.
        status, refused = await ada.call("POST", f"/handoffs/{handoff['id']}/claim")
        assert status == 409 and "withdrawn" in refused["error"], refused
        after = await ada.ok("GET", f"/handoffs/{handoff['id']}")
        assert (after["status"], after["agent"], after["epoch"]) == (
            "withdrawn", None, detail["epoch"])
        await user.send(text="when do you open")
        assert (await user.next_frame("reply"))["text"] == "We open at 18:00."

    async def scenario() -> None:
        async with browser_session() as http:
            ada = DeskApi(http, desk_gateway.url, token)
            await ada.online()
            user = ChatClient(http, desk_gateway.url)
            await user.connect()
            await withdraw(ada, user, "waiting", text="never mind")
            await withdraw(ada, user, "waiting", text="cancel")
            await ada.ok("PUT", "/presence", {"status": "offline"})
            # Nobody online: the offline answer's button takes the user back.
            await withdraw(ada, user, "offline", payload="/handoff_cancel")

    try:
        asyncio.run(scenario())
    finally:
        worker.stop()


def test_agent_and_user_on_different_gateways(
        clean_redis: redis.Redis, worker: WorkerProcess, tmp_path: Path, desk_url: str
        ) -> None:
    env = {**ENV, "PARLEY_DATABASE_URL": desk_url}
    first, second = _replicas(tmp_path, env, 2)
    _, token = add_agent(desk_url, "ada@example.com")

    async def scenario() -> None:
        async with browser_session() as http:
            ada = DeskApi(http, first.url, token)   # the agent on replica A
            await ada.online()
            events = await ada.events()
            assert json.loads((await events.receive()).data)["type"] == "hello"
            user = ChatClient(http, second.url)     # the user on replica B
            await user.connect()
            await user.send(text="human please")
            told = await user.next_frame("reply")
            assert "number 1 in the queue" in told["text"], told
            requested = await _event(events, "handoff.requested")
            handoff_id = requested["data"]["handoff_id"]
            assert requested["data"]["status"] == "waiting"
            await user.send(text="hello? are you there")
            seen = await _event(events, "message.user", handoff_id)
            assert seen["data"]["text"] == "hello? are you there"
            claimed = await ada.ok("POST", f"/handoffs/{handoff_id}/claim")
            assert claimed["status"] == "active"
            await _event(events, "handoff.claimed", handoff_id)
            status, sent = await ada.reply(handoff_id, "Hi from replica A.", "a-1")
            assert status == 202
            answer = await user.next_frame("reply")
            assert answer["text"] == "Hi from replica A."
            agent_event = await _event(events, "message.agent", handoff_id)
            assert agent_event["data"]["message_id"] == sent["message_id"]
            await user.send(text="thanks, my order 4471 is late")
            seen = await _event(events, "message.user", handoff_id)
            assert seen["data"]["text"] == "thanks, my order 4471 is late"
            await user.quiet(1.0)
            assert [r["text"] for r in user.received()] == [told["text"], answer["text"]]
            await events.close()

    try:
        asyncio.run(scenario())
    finally:
        second.stop()
        first.stop()


def _replicas(tmp_path: Path, env: dict[str, str], count: int) -> list[GatewayProcess]:
    """``count`` gateway replicas on one Redis and one database, started at once (each
    takes seconds to come up); none left running if one fails to."""
    with ThreadPoolExecutor(count) as pool:
        starting = [pool.submit(GatewayProcess, tmp_path / f"gateway-{n}.log", env)
                    for n in range(count)]
    problems = [f.exception() for f in starting if f.exception() is not None]
    if problems:
        for future in starting:
            if future.exception() is None:
                future.result().stop()
        raise problems[0]  # type: ignore[misc]
    return [future.result() for future in starting]


async def _event(socket: aiohttp.ClientWebSocketResponse, kind: str,
                 handoff_id: str | None = None) -> dict[str, Any]:
    """The next event frame of ``kind`` (of ``handoff_id`` when given)."""
    async with asyncio.timeout(20):
        while True:
            message = await socket.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            frame = json.loads(message.data)
            if frame["type"] == kind and (handoff_id is None or
                                          frame["data"]["handoff_id"] == handoff_id):
                return dict(frame)


async def _teams(api: DeskApi, timeout: float = 20) -> list[dict[str, Any]]:
    """The desk's teams, once a worker process has published them (at its start-up)."""
    async with asyncio.timeout(timeout):
        while True:
            teams = (await api.ok("GET", "/teams"))["teams"]
            if teams:
                return list(teams)
            await asyncio.sleep(0.05)


async def _until(api: DeskApi, handoff_id: str, done: Any, timeout: float = 20
                 ) -> dict[str, Any]:
    """The handoff's detail once ``done(detail)`` holds (the worker records asynchronously)."""
    async with asyncio.timeout(timeout):
        while True:
            detail = await api.ok("GET", f"/handoffs/{handoff_id}")
            if done(detail):
                return dict(detail)
            await asyncio.sleep(0.05)
