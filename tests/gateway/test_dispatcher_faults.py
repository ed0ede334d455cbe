"""The outbound dispatcher under faults, on the real Redis, with the real senders and the
real commit script producing the replies: it cannot die, delivers each reply once and in
order across dispatchers, and never waits on what it already holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, cast

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web

from brain.dialogue.tracker import Tracker
from channels.models import InboundMessage, OutboundMessage
from channels.web.adapter import WebAdapter
from gateway.delivery import GROUP
from gateway.dispatcher import OutboundDispatcher, alive_key
from gateway.metrics import GatewayMetrics
from integrations.policy import RetryPolicy
from tests.fakes.redis_proxy import RedisProxy
from tests.processes import REDIS_URL, clean_redis, redis_client  # noqa: F401
from workers.bus import DEAD_LETTER_STREAM, OUTBOUND_STREAM, conversation_key
from workers.conversation_store import ConversationStore
from workers.inbox import enqueue
from workers.ordering import ConversationLease, LeaseRenewer

pytestmark = pytest.mark.timeout(120)
DATABASE = REDIS_URL.rsplit("/", 1)[1]


def commit_replies(client: redis.Redis, chat: str, texts: list[str]) -> None:
    """Each text the reply of one message of ``web:site:<chat>``, committed as a worker
    commits a turn (numbered in ``outq``)."""
    cid = f"web:site:{chat}"
    first = int(client.get(conversation_key(cid, "seq")) or 0) + 1
    for n, _ in enumerate(texts, start=first):
        enqueue(client, InboundMessage(channel="web", account="site", chat=chat, user_id="u",
                                       message_id=f"{chat}-m{n}", text="hi"))
    store = ConversationStore(client)
    with ConversationLease(client, cid, renewer=LeaseRenewer(client, 10_000)) as lease:
        lease.take()
        for n, text in enumerate(texts, start=first):
            store.commit(Tracker(conversation_id=cid), conversation_id=cid, sequence=n,
                         owner=lease.owner, lease_ms=10_000, now_ms=int(time.time() * 1000),
                         outbound=[OutboundMessage(conversation_id=cid, channel="web",
                                                   in_reply_to=f"{chat}-m{n}", sequence=n,
                                                   index=0, text=text)])
        lease.ended()


class Site:
    """The website's callback endpoint: what arrived, in order; optionally slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.received: list[dict[str, Any]] = []
        self.on_receive: Any = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if self.on_receive is not None:
            self.on_receive(body)
        await asyncio.sleep(self.delay)
        return web.json_response({"ok": True})

    def texts(self) -> list[str]:
        return [r["text"] for r in self.received]


async def serve(site: Site) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/callback", site.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/callback"


def dispatcher(client: aioredis.Redis, url: str, http: aiohttp.ClientSession, *,
               consumer: str, claim_idle_ms: int = 30_000) -> OutboundDispatcher:
    adapter = WebAdapter(secret="s", token=None, callback_url=url, window=300, session=http)
    return OutboundDispatcher(client, {"web": adapter}, consumer=consumer,
                              retry=RetryPolicy(attempts=3, initial_backoff=0.1,
                                                max_backoff=0.5, jitter=0.0),
                              metrics=GatewayMetrics(), claim_idle_ms=claim_idle_ms,
                              block_ms=200, claim_interval=0.3, alive_seconds=2.0)


async def until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())


@pytest.fixture
def proxy(clean_redis: redis.Redis) -> Iterator[RedisProxy]:
    with RedisProxy() as server:
        yield server


def test_a_reply_that_can_never_be_sent_is_dead_lettered_and_the_rest_go_on(
        clean_redis: redis.Redis) -> None:
    """The poison message: a conversation id with a control character became a header
    aiohttp refuses (``ValueError``), and the dispatcher died on it, on every gateway."""
    commit_replies(clean_redis, "bad\u000e", ["poisoned"])
    commit_replies(clean_redis, "good", ["one", "two"])
    clean_redis.xadd(OUTBOUND_STREAM, {"message": b"{not a reply"})  # undecodable
    commit_replies(clean_redis, "good", ["three"])
    site = Site()

    async def scenario() -> bool:
        runner, url = await serve(site)
        client = aioredis.Redis.from_url(REDIS_URL)
        async with aiohttp.ClientSession() as http:
            one = dispatcher(client, url, http, consumer="gw-1")
            await one.start()
            try:
                await until(lambda: len(site.received) == 3, 30)
                await asyncio.sleep(0.5)
                return one.healthy
            finally:
                await one.aclose()
                await client.aclose()
                await runner.cleanup()

    assert asyncio.run(scenario())
    assert site.texts() == ["one", "two", "three"]
    dead = [fields for _, fields in clean_redis.xrange(DEAD_LETTER_STREAM)]
    assert sorted(f[b"reason"].split(b":")[0] for f in dead) == [
        b"ValueError", b"the reply cannot be decoded"]
    assert clean_redis.xpending(OUTBOUND_STREAM, GROUP)["pending"] == 0
    assert clean_redis.zcard(conversation_key("web:site:bad\u000e", "outq")) == 0


def test_an_acknowledgement_lost_to_a_redis_outage_is_retried_not_the_send(
        clean_redis: redis.Redis, proxy: RedisProxy) -> None:
    """Redis goes away just as the site accepted a reply: the dispatcher's XACK fails; it
    must not send again, nor die; it says it is not ready meanwhile."""
    commit_replies(clean_redis, "c1", ["first", "second", "third"])
    site = Site()

    def outage_after_the_first(body: dict[str, Any]) -> None:
        if body["text"] == "first":
            proxy.cut()

    site.on_receive = outage_after_the_first

    async def scenario() -> list[bool]:
        runner, url = await serve(site)
        client = aioredis.Redis.from_url(proxy.url(DATABASE), socket_timeout=5)
        seen: list[bool] = []
        async with aiohttp.ClientSession() as http:
            one = dispatcher(client, url, http, consumer="gw-1")
            await one.start()
            try:
                await until(lambda: len(site.received) >= 1, 20)
                await until(lambda: not one.healthy, 10)
                seen.append(one.healthy)
                await asyncio.sleep(1.5)
                proxy.restore()
                await until(lambda: len(site.received) >= 3, 30)
                await until(lambda: one.healthy, 10)
                seen.append(one.healthy)
                await asyncio.sleep(1)
            finally:
                await one.aclose()
                await client.aclose()
                await runner.cleanup()
        return seen

    assert asyncio.run(scenario()) == [False, True]
    assert site.texts() == ["first", "second", "third"]
    assert clean_redis.xpending(OUTBOUND_STREAM, GROUP)["pending"] == 0


def test_two_dispatchers_deliver_one_conversation_once_each_in_order(
        clean_redis: redis.Redis) -> None:
    """The consumer group hands the entries of one conversation to both gateways; the
    head of ``outq`` decides who sends next."""
    texts = [f"reply {n}" for n in range(1, 21)]
    site = Site(delay=0.02)

    async def scenario() -> None:
        runner, url = await serve(site)
        client = aioredis.Redis.from_url(REDIS_URL)
        async with aiohttp.ClientSession() as http:
            both = [dispatcher(client, url, http, consumer=f"gw-{n}") for n in (1, 2)]
            for one in both:
                await one.start()
            try:
                await asyncio.to_thread(commit_replies, clean_redis, "shared", texts[:10])
                await asyncio.sleep(0.3)
                await asyncio.to_thread(commit_replies, clean_redis, "shared", texts[10:])
                await until(lambda: len(site.received) >= 20, 60)
                await asyncio.sleep(0.5)
            finally:
                for one in both:
                    await one.aclose()
                await client.aclose()
                await runner.cleanup()

    asyncio.run(scenario())
    assert site.texts() == texts


def test_a_slow_site_does_not_make_a_dispatcher_claim_what_it_still_holds(
        clean_redis: redis.Redis) -> None:
    """0.4 s a callback and a claim idle time of 1 s: the replies queued behind the first
    look idle to XAUTOCLAIM; they were delivered twice (23 of 120 in the fault run)."""
    texts = [f"reply {n}" for n in range(1, 9)]
    commit_replies(clean_redis, "slow", texts)
    site = Site(delay=0.4)

    async def scenario() -> None:
        runner, url = await serve(site)
        client = aioredis.Redis.from_url(REDIS_URL)
        async with aiohttp.ClientSession() as http:
            one = dispatcher(client, url, http, consumer="gw-1", claim_idle_ms=1000)
            await one.start()
            try:
                await until(lambda: len(site.received) >= 8, 30)
                await asyncio.sleep(1.5)
            finally:
                await one.aclose()
                await client.aclose()
                await runner.cleanup()

    asyncio.run(scenario())
    assert site.texts() == texts


def test_a_dead_gateways_replies_go_first_and_without_waiting_for_the_idle_time(
        clean_redis: redis.Redis) -> None:
    """A gateway read #1 and #2 and died (no heartbeat); #3 and #4 came after. The live one
    takes #1 and #2 over at once (not after the 30 s idle time) and sends them first
    (#10 arrived after #11 and #12 in the fault run)."""
    clean_redis.xgroup_create(OUTBOUND_STREAM, GROUP, id="0", mkstream=True)
    commit_replies(clean_redis, "taken", ["one", "two"])
    read = cast(list[Any], clean_redis.xreadgroup(GROUP, "dead-gw", {OUTBOUND_STREAM: ">"}))
    assert len(read[0][1]) == 2 and not clean_redis.exists(alive_key("dead-gw"))
    commit_replies(clean_redis, "taken", ["three", "four"])
    site = Site()

    async def scenario() -> float:
        runner, url = await serve(site)
        client = aioredis.Redis.from_url(REDIS_URL)
        async with aiohttp.ClientSession() as http:
            live = dispatcher(client, url, http, consumer="gw-live")
            started = time.monotonic()
            await live.start()
            try:
                await until(lambda: len(site.received) >= 4, 20)
                return time.monotonic() - started
            finally:
                await live.aclose()
                await client.aclose()
                await runner.cleanup()

    took = asyncio.run(scenario())
    assert site.texts() == ["one", "two", "three", "four"]
    assert took < 15, f"{took:.1f} s: the takeover waited for the idle time (30 s)"
    names = [c["name"] for c in clean_redis.xinfo_consumers(OUTBOUND_STREAM, GROUP)]
    assert b"dead-gw" not in names
