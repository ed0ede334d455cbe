"""The worker half of the pipeline on real parts: messages published the way the gateway
publishes them (raw Celery protocol, LPUSH), a real Celery worker, real Redis."""

from __future__ import annotations

import os
import signal
import time

import msgspec
import redis

from channels.models import InboundMessage, OutboundMessage, decode_outbound
from tests.processes import WorkerProcess
from workers.bus import INBOUND_QUEUE, OUTBOUND_STREAM, conversation_key, inbound_message


def _message(chat: str, sequence: int, payload: str) -> InboundMessage:
    return InboundMessage(channel="web", account="test", chat=chat, user_id=chat,
                          message_id=f"{chat}-{sequence}", payload=payload, sequence=sequence,
                          received_at=1_800_000_000.0 + sequence)


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


def _publish(client: redis.Redis, chat: str, sequence: int, copies: int = 1) -> None:
    payload = "/greet" if sequence % 2 else "/opening_hours"
    raw = inbound_message(_message(chat, sequence, payload))
    client.lpush(INBOUND_QUEUE, *([raw] * copies))


def _check_in_order(client: redis.Redis, replies: list[OutboundMessage], chat: str,
                    turns: int) -> None:
    mine = [r for r in replies if r.conversation_id == f"web:test:{chat}"]
    assert [r.sequence for r in mine] == list(range(1, turns + 1))
    assert [r.text == "We open at 18:00." for r in mine] == [
        s % 2 == 0 for s in range(1, turns + 1)]
    assert int(client.get(conversation_key(f"web:test:{chat}", "served"))) == turns


def test_concurrent_conversations_doubled_deliveries_served_in_order_once(
        worker: WorkerProcess, redis_client: redis.Redis) -> None:
    chats, turns = 20, 5
    for sequence in range(1, turns + 1):
        for chat in range(chats):
            _publish(redis_client, f"c{chat}", sequence, copies=2)  # every message twice
    replies = _wait_for(redis_client, chats * turns, timeout=90)
    assert len(replies) == chats * turns
    for chat in range(chats):
        _check_in_order(redis_client, replies, f"c{chat}", turns)


def test_messages_published_newest_first_are_still_served_in_order(
        worker: WorkerProcess, redis_client: redis.Redis) -> None:
    for sequence in range(4, 0, -1):
        _publish(redis_client, "late", sequence)
    replies = _wait_for(redis_client, 4, timeout=60)
    _check_in_order(redis_client, replies, "late", 4)


def test_a_worker_killed_mid_turn_still_answers_exactly_once(
        worker: WorkerProcess, redis_client: redis.Redis) -> None:
    redis_client.lpush(INBOUND_QUEUE, inbound_message(_message("slow", 1, "/slow")))
    lease = conversation_key("web:test:slow", "lease")
    deadline = time.monotonic() + 30
    while not redis_client.exists(lease) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert redis_client.exists(lease), "the worker never started the turn"
    for pid in worker.children():               # the busy child is one of them
        os.kill(pid, signal.SIGKILL)
    replies = _wait_for(redis_client, 1, timeout=60)
    time.sleep(2)
    replies = _replies(redis_client)
    assert [(r.conversation_id, r.sequence, r.text) for r in replies] == [
        ("web:test:slow", 1, "done slowly")]
    assert "WorkerLostError" in worker.log.read_text() or "SIGKILL" in worker.log.read_text()


def test_the_tracker_survives_between_turns(worker: WorkerProcess,
                                            redis_client: redis.Redis) -> None:
    redis_client.lpush(INBOUND_QUEUE, inbound_message(_message("form", 1, "/book_table")))
    redis_client.lpush(INBOUND_QUEUE, inbound_message(_message("form", 2, '/inform{"guests": 3}')))
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
