"""Retention in Redis (``workers.retention``) on real Redis, through the scripts that write a
conversation's keys: the gateway's ``ENQUEUE`` and the workers' lease and commit. Every key
of a served conversation expires, activity renews it, a conversation a person holds does not
expire, and one that expired (or lost half of its count) starts again from 1 and is served."""

from __future__ import annotations

import time

import pytest
import redis

from brain.dialogue.events import UserUttered
from brain.dialogue.tracker import Tracker
from channels.models import InboundMessage, OutboundMessage
from workers.bus import conversation_key
from workers.conversation_store import Commit, ConversationStore
from workers.inbox import enqueue
from workers.ordering import ConversationLease, LeaseRenewer
from workers.retention import DAY, RetentionSettings, RetentionSettingsError

pytestmark = pytest.mark.timeout(60)
CID = "web:site:ttl"
STATE = ("seq", "served", "tracker", "events", "outseq", "outq")  # left after a turn


def _message(number: int, chat: str = "ttl") -> InboundMessage:
    return InboundMessage(channel="web", account="site", chat=chat, user_id="u",
                          message_id=f"{chat}-{number}-{time.time_ns()}", text="hi")


def _serve(client: redis.Redis, ttl: int, cid: str = CID, *, owner: str = "") -> list[int]:
    """Serve the inbox as a worker does (a tracker and one reply per turn), with ``ttl`` as
    the retention; the sequence numbers served."""
    store = ConversationStore(client, retention=RetentionSettings(conversation_seconds=ttl))
    served: list[int] = []
    with ConversationLease(client, cid, renewer=LeaseRenewer(client, 10_000)) as lease:
        taken = lease.take()
        entry = taken.entry
        while entry is not None:
            tracker = Tracker(conversation_id=cid)
            tracker.apply(UserUttered(timestamp=time.time(), text="hi", parse={}))
            step = store.commit(tracker, conversation_id=cid, sequence=entry.sequence,
                                owner=lease.owner, lease_ms=10_000,
                                now_ms=int(time.time() * 1000),
                                epoch=int(client.hget(conversation_key(cid, "owner"), "epoch")
                                          or 0),
                                outbound=[OutboundMessage(conversation_id=cid, channel="web",
                                                          in_reply_to=f"r{entry.sequence}",
                                                          sequence=entry.sequence, index=0,
                                                          text="hello")])
            assert step.outcome in (Commit.NEXT, Commit.DONE), step
            served.append(entry.sequence)
            entry = step.entry
        lease.ended()
    return served


def _ttls(client: redis.Redis, cid: str = CID) -> dict[str, int]:
    """Each key of the conversation that exists, and its TTL in seconds (-1: none)."""
    prefix = conversation_key(cid, "")
    return {key.decode().removeprefix(prefix): int(client.ttl(key))
            for key in client.scan_iter(match=prefix.replace("{", "[{]") + "*")}


def test_the_retention_is_read_from_the_environment_and_a_bad_value_is_named() -> None:
    assert RetentionSettings.from_env({}).conversation_seconds == 30 * DAY
    assert RetentionSettings.from_env({"PARLEY_RETENTION_DAYS": "7"}).conversation_seconds \
        == 7 * DAY
    assert RetentionSettings.from_env({"PARLEY_RETENTION_DAYS": "0.5"}).conversation_seconds \
        == DAY // 2
    assert RetentionSettings(conversation_seconds=3600).capped(7 * DAY) == 3600
    for bad in ("0", "-1", "thirty", "nan", "4000"):
        with pytest.raises(RetentionSettingsError, match="PARLEY_RETENTION_DAYS must be a "
                                                         "number of days"):
            RetentionSettings.from_env({"PARLEY_RETENTION_DAYS": bad})


def test_every_key_of_a_served_conversation_expires_and_each_message_renews_it(
        clean_redis: redis.Redis) -> None:
    ttl = 5 * DAY
    enqueue(clean_redis, _message(1), retention_seconds=ttl)
    waiting = _ttls(clean_redis)
    assert {"seq", "inbox", "queued"} <= waiting.keys()
    assert all(0 < seconds <= ttl for seconds in waiting.values()), waiting
    assert _serve(clean_redis, ttl) == [1]
    served = _ttls(clean_redis)
    assert set(STATE) <= served.keys(), served
    assert all(ttl - 5 <= served[part] <= ttl for part in STATE), served
    # One instant for the whole conversation: ``seq`` never outlives ``served``, nor
    # ``served`` ``seq`` (Redis reads its clock again at each EXPIRE; not at PEXPIREAT).
    assert len({clean_redis.pexpiretime(conversation_key(CID, p)) for p in STATE}) == 1
    # Time passes (the keys' clocks run down); the next message and its turn renew them.
    for part in served:
        clean_redis.expire(conversation_key(CID, part), 100)
    enqueue(clean_redis, _message(2), retention_seconds=ttl)
    assert all(_ttls(clean_redis)[part] > ttl - 5 for part in ("seq", "served", "inbox"))
    assert len({clean_redis.pexpiretime(conversation_key(CID, p))
                for p in ("seq", "served", "inbox")}) == 1
    assert _serve(clean_redis, ttl) == [2]
    renewed = _ttls(clean_redis)
    assert all(renewed[part] > ttl - 5 for part in STATE), renewed


def test_a_conversation_a_person_holds_does_not_expire_until_the_handoff_ends(
        clean_redis: redis.Redis) -> None:
    ttl = 5 * DAY
    enqueue(clean_redis, _message(1), retention_seconds=ttl)
    _serve(clean_redis, ttl)
    clean_redis.hset(conversation_key(CID, "owner"), mapping={"state": "agent", "epoch": 1})
    enqueue(clean_redis, _message(2), retention_seconds=ttl)
    _serve(clean_redis, ttl)
    held = _ttls(clean_redis)
    assert all(held[part] == -1 for part in (*STATE, "owner")), held
    enqueue(clean_redis, _message(3), retention_seconds=ttl)  # still held: no expiry added
    assert _ttls(clean_redis)["inbox"] == -1
    _serve(clean_redis, ttl)
    clean_redis.hset(conversation_key(CID, "owner"), "state", "bot")  # handed back
    enqueue(clean_redis, _message(4), retention_seconds=ttl)
    _serve(clean_redis, ttl)
    back = _ttls(clean_redis)
    assert all(ttl - 5 <= back[part] <= ttl for part in (*STATE, "owner")), back


def test_an_expired_conversation_starts_again_from_one_and_is_served(
        clean_redis: redis.Redis) -> None:
    enqueue(clean_redis, _message(1), retention_seconds=1)
    enqueue(clean_redis, _message(2), retention_seconds=1)
    assert _serve(clean_redis, 1) == [1, 2]
    deadline = time.monotonic() + 10
    while _ttls(clean_redis) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _ttls(clean_redis) == {}  # state, history, numbering: all gone
    assert enqueue(clean_redis, _message(3), retention_seconds=DAY) == 1
    assert _serve(clean_redis, DAY) == [1]
    assert int(clean_redis.get(conversation_key(CID, "served"))) == 1


def test_a_count_that_lost_its_sequence_does_not_wedge_the_conversation(
        clean_redis: redis.Redis) -> None:
    """Should ``seq`` vanish without ``served`` (they expire together; a restore or a
    hand could part them), the next message still gets served, as number 1."""
    for number in range(1, 4):
        enqueue(clean_redis, _message(number))
    assert _serve(clean_redis, DAY) == [1, 2, 3]
    clean_redis.delete(conversation_key(CID, "seq"))
    clean_redis.hset(conversation_key(CID, "attempts"), "1", 3)  # a stale count of entry 1
    assert enqueue(clean_redis, _message(4)) == 1
    assert _serve(clean_redis, DAY) == [1]
