"""The worker half of the pipeline on real parts: messages enqueued the way the gateway
enqueues them (``workers.inbox.ENQUEUE``: the inbox and a serve task), a real Celery
worker, real Redis. What must hold whatever happens to the task messages: every message
answered once, in order."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import msgspec
import redis
import redis.asyncio as aioredis

from channels.models import InboundMessage, OutboundMessage, decode_outbound
from gateway.sweeper import InboxSweeper
from tests.processes import REDIS_URL, WorkerProcess
from workers.bus import (
    INBOUND_DEAD_STREAM,
    INBOUND_QUEUE,
    OUTBOUND_STREAM,
    UNSERVED_KEY,
    conversation_key,
    serve_message,
)
from workers.inbox import DUPLICATE, enqueue
from workers.ordering import BATCH, MAX_ATTEMPTS


def _message(chat: str, number: int, payload: str) -> InboundMessage:
    return InboundMessage(channel="web", account="test", chat=chat, user_id=chat,
                          message_id=f"{chat}-{number}", payload=payload,
                          received_at=1_800_000_000.0 + number)


def _replies(client: redis.Redis) -> list[OutboundMessage]:
    return [decode_outbound(fields[b"message"]) for _, fields in client.xrange(OUTBOUND_STREAM)]


def _wait_for(client: redis.Redis, count: int, timeout: float) -> list[OutboundMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = _replies(client)
        if len(replies) >= count:
            time.sleep(0.5)  # let anything doubled arrive too
            return _replies(client)
        time.sleep(0.1)
    return _replies(client)


def _payload(number: int) -> str:
    return "/greet" if number % 2 else "/opening_hours"


def _check_in_order(client: redis.Redis, replies: list[OutboundMessage], chat: str,
                    turns: int) -> None:
    mine = [r for r in replies if r.conversation_id == f"web:test:{chat}"]
    assert [r.sequence for r in mine] == list(range(1, turns + 1))
    assert [r.text == "We open at 18:00." for r in mine] == [
        s % 2 == 0 for s in range(1, turns + 1)]
    cid = f"web:test:{chat}"
    assert int(client.get(conversation_key(cid, "served"))) == turns
    assert client.hlen(conversation_key(cid, "inbox")) == 0  # each entry gone once served
    assert not client.exists(conversation_key(cid, "queued"), conversation_key(cid, "lease"))
    assert client.zscore(UNSERVED_KEY, cid) is None


def test_concurrent_conversations_with_repeated_and_spare_tasks_are_served_in_order_once(
        worker: WorkerProcess, redis_client: redis.Redis) -> None:
    """Each message enqueued twice (the second is a duplicate) and every conversation asked
    for three more times than needed: all served once, in order."""
    chats, turns = 20, 5
    for number in range(1, turns + 1):
        for chat in range(chats):
            message = _message(f"c{chat}", number, _payload(number))
            assert enqueue(redis_client, message) == number
            assert enqueue(redis_client, message) == DUPLICATE
            redis_client.lpush(INBOUND_QUEUE, *[serve_message(f"web:test:c{chat}")] * 3)
    replies = _wait_for(redis_client, chats * turns, timeout=90)
    assert len(replies) == chats * turns
    for chat in range(chats):
        _check_in_order(redis_client, replies, f"c{chat}", turns)


def test_one_task_serves_the_whole_backlog_and_a_flood_does_not_hold_back_the_others(
        bot_model: Path, clean_redis: redis.Redis, tmp_path: Path) -> None:
    """Sixty messages of one conversation ask for one serve task (``queued``), served in
    batches of ``BATCH``: with a single worker process, a conversation that wrote just
    after the flood is answered after the first batch, not after the whole flood."""
    flood = 3 * BATCH
    for number in range(1, flood + 1):
        enqueue(clean_redis, _message("flood", number, _payload(number)))
    enqueue(clean_redis, _message("other", 1, "/opening_hours"))
    assert clean_redis.llen(INBOUND_QUEUE) == 2  # one task for the whole backlog, one other
    worker = WorkerProcess(bot_model, tmp_path / "worker.log", concurrency=1)
    try:
        replies = _wait_for(clean_redis, flood + 1, timeout=120)
    finally:
        worker.stop()
    _check_in_order(clean_redis, replies, "flood", flood)
    position = next(i for i, r in enumerate(replies) if r.conversation_id == "web:test:other")
    assert position == BATCH, "the other conversation did not come right after one batch"


def test_a_worker_killed_mid_turn_still_answers_exactly_once(
        worker: WorkerProcess, redis_client: redis.Redis) -> None:
    enqueue(redis_client, _message("slow", 1, "/slow"))
    lease = conversation_key("web:test:slow", "lease")
    deadline = time.monotonic() + 30
    while not redis_client.exists(lease) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert redis_client.exists(lease), "the worker never started the turn"
    for pid in worker.children():               # the busy child is one of them
        os.kill(pid, signal.SIGKILL)
    # The redelivered task finds the dead child's lease; once it expires the sweep asks
    # again (as every gateway does each second).
    _sweep_until(redis_client, lambda: bool(_replies(redis_client)), timeout=60)
    time.sleep(2)
    assert [(r.conversation_id, r.sequence, r.text) for r in _replies(redis_client)] == [
        ("web:test:slow", 1, "done slowly")]
    assert "WorkerLostError" in worker.log.read_text() or "SIGKILL" in worker.log.read_text()


def test_a_lost_serve_task_is_asked_for_again_by_the_sweep(
        worker: WorkerProcess, redis_client: redis.Redis) -> None:
    """A serve task vanished (as kombu lost one when a worker group died) while its flag
    still says one is queued: the message waits in the inbox, and the sweep serves it."""
    cid = "web:test:lost"
    redis_client.set(conversation_key(cid, "queued"), "1")  # a task "queued", then lost
    enqueue(redis_client, _message("lost", 1, "/opening_hours"))
    assert redis_client.llen(INBOUND_QUEUE) == 0
    time.sleep(2)
    assert _replies(redis_client) == []  # nobody asked for it
    assert _sweep_until(redis_client, lambda: bool(_replies(redis_client)), timeout=30)
    assert [r.text for r in _wait_for(redis_client, 1, timeout=10)] == ["We open at 18:00."]


def test_entries_that_cannot_be_served_are_given_up_on_and_the_conversation_goes_on(
        worker: WorkerProcess, redis_client: redis.Redis) -> None:
    cid = "web:test:poison"
    redis_client.set(conversation_key(cid, "queued"), "1")  # no task yet: spoil two first
    for number in range(1, 4):
        enqueue(redis_client, _message("poison", number, "/opening_hours"))
    redis_client.hset(conversation_key(cid, "inbox"), "1", b"{not json")
    # Entry 2 has killed every worker that served it (as crashes count it).
    redis_client.hset(conversation_key(cid, "attempts"), "2", MAX_ATTEMPTS)
    redis_client.lpush(INBOUND_QUEUE, serve_message(cid))
    replies = _wait_for(redis_client, 1, timeout=30)
    assert [(r.sequence, r.text) for r in replies] == [(3, "We open at 18:00.")]
    dead = redis_client.xrange(INBOUND_DEAD_STREAM)
    assert [(f[b"sequence"], f[b"reason"]) for _, f in dead][1] == (
        b"2", f"failed on {MAX_ATTEMPTS} attempts".encode())
    assert dead[0][1][b"sequence"] == b"1"
    assert dead[0][1][b"reason"].startswith(b"cannot be decoded: ")
    assert dead[0][1][b"message"] == b"{not json"
    assert int(redis_client.get(conversation_key(cid, "served"))) == 3


def test_the_tracker_survives_between_turns(worker: WorkerProcess,
                                            redis_client: redis.Redis) -> None:
    enqueue(redis_client, _message("form", 1, "/book_table"))
    enqueue(redis_client, _message("form", 2, '/inform{"guests": 3}'))
    replies = _wait_for(redis_client, 2, timeout=30)
    assert [r.text for r in replies] == ["For how many people?", "Under which name?"]
    stored = msgspec.json.decode(redis_client.get(conversation_key("web:test:form", "tracker")))
    assert stored["schema_version"] == 2
    assert stored["state"]["active_form"] == "booking_form"
    history = [msgspec.json.decode(e) for e in
               redis_client.lrange(conversation_key("web:test:form", "events"), 0, -1)]
    assert [e["text"] for e in history if e["type"] == "user"] == [
        "/book_table", '/inform{"guests": 3}']
    assert stored["dropped"] + len(stored["events"]) == len(history)


def _sweep_until(client: redis.Redis, done: object, *, timeout: float) -> bool:
    """Run the gateway's sweep each 0.5 s (stale after 1 s) until ``done()``."""
    assert callable(done)

    async def sweeping() -> bool:
        redis_async = aioredis.Redis.from_url(REDIS_URL)
        sweeper = InboxSweeper(redis_async, owner="test", interval=0.5, stale_seconds=1.0)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if done():
                    return True
                await sweeper.sweep_once()
                await asyncio.sleep(0.5)
            return bool(done())
        finally:
            await redis_async.aclose()

    return asyncio.run(sweeping())
