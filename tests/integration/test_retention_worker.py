"""Retention on real parts: messages enqueued as the gateway enqueues them, served by a real
Celery worker that reads ``PARLEY_RETENTION_DAYS``. After a turn every key of the
conversation expires within the retention; the next message renews them; with a retention
of seconds the conversation expires whole, and a new message starts it afresh."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from channels.models import InboundMessage, OutboundMessage, decode_outbound
from tests.processes import WorkerProcess
from workers.bus import OUTBOUND_STREAM, conversation_key
from workers.inbox import enqueue

pytestmark = pytest.mark.timeout(180)
DAY = 86400


def _message(chat: str, number: int, payload: str = "/opening_hours") -> InboundMessage:
    return InboundMessage(channel="web", account="test", chat=chat, user_id=chat,
                          message_id=f"{chat}-{number}", payload=payload)


def _replies(client: redis.Redis, cid: str) -> list[OutboundMessage]:
    found = [decode_outbound(f[b"message"]) for _, f in client.xrange(OUTBOUND_STREAM)]
    return [r for r in found if r.conversation_id == cid]


def _served(client: redis.Redis, cid: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(_replies(client, cid)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_replies(client, cid)) == count


def _ttls(client: redis.Redis, cid: str) -> dict[str, int]:
    prefix = conversation_key(cid, "")
    return {key.decode().removeprefix(prefix): int(client.ttl(key))
            for key in client.scan_iter(match=prefix.replace("{", "[{]") + "*")}


def test_every_key_of_a_served_conversation_has_the_retention_and_activity_renews_it(
        bot_model: Path, clean_redis: redis.Redis, tmp_path: Path) -> None:
    worker = WorkerProcess(bot_model, tmp_path / "worker.log",
                           env={"PARLEY_RETENTION_DAYS": "2"})
    cid = "web:test:kept"
    try:
        enqueue(clean_redis, _message("kept", 1), retention_seconds=2 * DAY)
        _served(clean_redis, cid, 1)
        ttls = _ttls(clean_redis, cid)
        assert {"seq", "served", "tracker", "events", "outseq", "outq"} <= ttls.keys(), ttls
        assert all(2 * DAY - 60 <= ttl <= 2 * DAY for ttl in ttls.values()), ttls
        for part in ttls:  # a day and more goes by
            clean_redis.expire(conversation_key(cid, part), 1000)
        enqueue(clean_redis, _message("kept", 2), retention_seconds=2 * DAY)
        _served(clean_redis, cid, 2)
        renewed = _ttls(clean_redis, cid)
        assert all(2 * DAY - 60 <= ttl <= 2 * DAY for ttl in renewed.values()), renewed
    finally:
        worker.stop()


def test_an_expired_conversation_starts_afresh_with_the_next_message(
        bot_model: Path, clean_redis: redis.Redis, tmp_path: Path) -> None:
    seconds = 3
    worker = WorkerProcess(bot_model, tmp_path / "worker.log",
                           env={"PARLEY_RETENTION_DAYS": f"{seconds / DAY:.8f}"})
    cid = "web:test:brief"
    try:
        enqueue(clean_redis, _message("brief", 1, "/book_table"), retention_seconds=seconds)
        _served(clean_redis, cid, 1)
        assert 0 < max(_ttls(clean_redis, cid).values()) <= seconds
        deadline = time.monotonic() + 20
        while _ttls(clean_redis, cid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ttls(clean_redis, cid) == {}  # the form, the history, the numbering: gone
        assert enqueue(clean_redis, _message("brief", 2, "/opening_hours"),
                       retention_seconds=seconds) == 1
        _served(clean_redis, cid, 2)
        latest = _replies(clean_redis, cid)[-1]
        # Number 1 again, answered as a new conversation (no booking form waiting).
        assert (latest.sequence, latest.text) == (1, "We open at 18:00.")
    finally:
        worker.stop()
