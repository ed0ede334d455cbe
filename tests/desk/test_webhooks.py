"""Desk events as signed webhooks, on the real Redis (DB 12) and a fake helpdesk: an aiohttp
app on port 0 that checks the signature as a receiver would (``verify_signature``), counts
what it accepted by delivery id, and can be told to answer 500/429/400 or to hang."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

from channels.errors import Unauthorized
from channels.web.adapter import verify_signature
from desk.webhook_settings import WebhookSettings, WebhookSettingsError
from desk.webhooks import DEAD_STREAM, GROUP, DeskWebhooks, webhook_metrics
from workers.bus import DESK_EVENTS_STREAM

pytestmark = pytest.mark.timeout(60)
REDIS_URL = "redis://127.0.0.1:6379/12"
SECRET = "s3cret-of-the-helpdesk"
CLIENT_NAME = "parley-desk-webhooks-test"


@pytest.fixture
def db() -> Iterator[redis.Redis]:
    """DB 12, empty before and after (only DB 12 is touched)."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


# --- the fake helpdesk -------------------------------------------------------------------

@dataclass
class Hit:
    delivery: str
    event: str
    timestamp: str
    content_type: str
    body: bytes
    at: float  # monotonic
    status: int


@dataclass
class Helpdesk:
    """Answers ``plan`` in turn ((status, headers) or "hang"), then ``default``."""

    secret: str = SECRET
    plan: deque[tuple[int, dict[str, str]] | str] = field(default_factory=deque)
    default: int = 200
    delay: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    order: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_signature(self.secret, request.headers, body, window=300)
        except Unauthorized:
            self.bad_signatures += 1
            return web.Response(status=401)
        answer = self.plan.popleft() if self.plan else (self.default, {})
        status = 0 if answer == "hang" else answer[0]
        h = request.headers
        self.hits.append(Hit(h["X-Parley-Delivery-Id"], h["X-Parley-Event"],
                             h["X-Parley-Timestamp"], h["Content-Type"], body,
                             time.monotonic(), status))
        if answer == "hang":
            await self.release.wait()
            return web.Response(status=200)
        await asyncio.sleep(self.delay)
        if 200 <= status < 300:
            self.accepted[h["X-Parley-Delivery-Id"]] += 1
            self.order.append(h["X-Parley-Delivery-Id"])
        return web.Response(status=status, headers=answer[1])

    def attempts(self, delivery: str) -> int:
        return sum(1 for hit in self.hits if hit.delivery == delivery)


async def serve(desk: Helpdesk, port: int = 0) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/hooks", desk.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, runner.addresses[0][1]


async def stop(desk: Helpdesk, runner: web.AppRunner) -> None:
    desk.release.set()
    await runner.cleanup()


# --- helpers -----------------------------------------------------------------------------

def settings(port: int, **changes: Any) -> WebhookSettings:
    base = WebhookSettings(url=f"http://127.0.0.1:{port}/hooks", secret=SECRET, attempts=8,
                           timeout_seconds=2.0, initial_backoff_seconds=0.05,
                           max_backoff_seconds=0.2, max_retry_after_seconds=5.0)
    return replace(base, **changes)


def publish(db: redis.Redis, kind: str = "handoff.requested", **data: Any) -> str:
    payload = {"type": kind, "conversation_id": "web:site:c1", "epoch": 1,
               "handoff_id": "h1", "team": "support", "at": 1.5, **data}
    return db.xadd(DESK_EVENTS_STREAM, {"type": kind, "data": json.dumps(payload)}).decode()


def sample(registry: CollectorRegistry, name: str, kind: str) -> float:
    return registry.get_sample_value(f"parley_desk_webhooks_{name}_total",
                                     {"type": kind}) or 0.0


def pending(db: redis.Redis) -> int:
    return int(db.xpending(DESK_EVENTS_STREAM, GROUP)["pending"])


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.02)


Scenario = Callable[[DeskWebhooks, Helpdesk, CollectorRegistry], Awaitable[None]]


def run_one(desk: Helpdesk, scenario: Scenario, options: dict[str, Any] | None = None,
            **changes: Any) -> None:
    """``scenario`` with one started replica (consumer ``gw-1``, ``options``) and its
    metrics; ``changes`` to the settings."""
    async def main() -> None:
        runner, port = await serve(desk)
        client = aioredis.Redis.from_url(REDIS_URL)
        registry = CollectorRegistry()
        try:
            async with aiohttp.ClientSession() as session:
                hooks = DeskWebhooks(client, settings(port, **changes), session, "gw-1",
                                     metrics=webhook_metrics(registry), block_ms=200,
                                     claim_interval_seconds=0.1, **(options or {}))
                await hooks.start()
                try:
                    await scenario(hooks, desk, registry)
                finally:
                    await hooks.aclose()
        finally:
            await client.aclose()
            await stop(desk, runner)

    asyncio.run(main())


# --- delivering --------------------------------------------------------------------------

def test_an_event_arrives_signed_with_its_headers_and_compact_body(db: redis.Redis) -> None:
    entry = publish(db, reason="asked", status="waiting", text="Grüße")
    desk = Helpdesk()

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: desk.accepted[entry] == 1)
        await until(lambda: pending(db) == 0)
        assert hooks.healthy

    run_one(desk, scenario)
    (hit,) = desk.hits
    assert desk.bad_signatures == 0
    assert (hit.delivery, hit.event, hit.content_type) == (
        entry, "handoff.requested", "application/json")
    assert abs(int(hit.timestamp) - time.time()) < 5
    data = json.loads(db.xrange(DESK_EVENTS_STREAM)[0][1][b"data"])
    assert hit.body == json.dumps({"id": entry, "type": "handoff.requested", "data": data},
                                  separators=(",", ":"), ensure_ascii=False).encode()


def test_a_wrong_secret_is_refused_by_the_receiver(db: redis.Redis) -> None:
    """The receiver's check can fail: signed with another key, the event is refused (401,
    not retried) and dead-lettered."""
    entry = publish(db)
    desk = Helpdesk(secret="another-secret-entirely")

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: db.xlen(DEAD_STREAM) == 1)

    run_one(desk, scenario)
    assert desk.bad_signatures == 1 and not desk.accepted
    assert db.xrange(DEAD_STREAM)[0][1][b"entry"].decode() == entry


def test_500_twice_then_200_is_delivered_with_the_same_delivery_id(db: redis.Redis) -> None:
    entry = publish(db, kind="message.user", text="hello")
    desk = Helpdesk(plan=deque([(500, {}), (503, {})]))

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: desk.accepted[entry] == 1)
        await until(lambda: pending(db) == 0)
        assert sample(registry, "retried", "message.user") == 2
        assert sample(registry, "delivered", "message.user") == 1

    run_one(desk, scenario)
    assert [(h.delivery, h.status) for h in desk.hits] == [
        (entry, 500), (entry, 503), (entry, 200)]
    assert desk.hits[0].body == desk.hits[2].body
    assert db.xlen(DEAD_STREAM) == 0


def test_429_with_retry_after_is_honoured(db: redis.Redis) -> None:
    entry = publish(db)
    desk = Helpdesk(plan=deque([(429, {"Retry-After": "1"})]))

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: desk.accepted[entry] == 1)

    run_one(desk, scenario)  # the backoff alone would wait 0.05 s at most
    assert desk.hits[1].at - desk.hits[0].at >= 0.95


def test_a_long_retry_after_is_bounded(db: redis.Redis) -> None:
    entry = publish(db)
    desk = Helpdesk(plan=deque([(429, {"Retry-After": "3600"})]))

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: desk.accepted[entry] == 1)

    run_one(desk, scenario, max_retry_after_seconds=0.3)
    assert 0.25 <= desk.hits[1].at - desk.hits[0].at < 2.0


def test_400_goes_to_the_dead_stream_with_the_reason_and_is_not_retried(
        db: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    entry = publish(db, kind="handoff.closed", text="private words")
    desk = Helpdesk(plan=deque([(400, {})]))

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: db.xlen(DEAD_STREAM) == 1)
        await asyncio.sleep(0.3)
        assert sample(registry, "dead", "handoff.closed") == 1
        assert sample(registry, "retried", "handoff.closed") == 0

    with caplog.at_level(logging.INFO, logger="parley.desk.webhooks"):
        run_one(desk, scenario)
    assert desk.attempts(entry) == 1 and pending(db) == 0
    (_, fields), = db.xrange(DEAD_STREAM)
    assert fields[b"entry"].decode() == entry and fields[b"type"] == b"handoff.closed"
    assert b"400" in fields[b"reason"]
    assert json.loads(fields[b"data"])["text"] == "private words"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and entry in errors[0] and "400" in errors[0]
    assert not any(SECRET in r.getMessage() or "private words" in r.getMessage()
                   or "127.0.0.1" in r.getMessage() for r in caplog.records)


def test_the_last_failed_attempt_goes_to_the_dead_stream(db: redis.Redis) -> None:
    entry = publish(db)
    desk = Helpdesk(default=500)

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: db.xlen(DEAD_STREAM) == 1)

    run_one(desk, scenario, attempts=3)
    assert desk.attempts(entry) == 3 and pending(db) == 0
    assert db.xrange(DEAD_STREAM)[0][1][b"reason"] == b"the helpdesk answered 500 (attempt 3 of 3)"


def test_a_hanging_receiver_times_out_and_the_retry_delivers(db: redis.Redis) -> None:
    entry = publish(db)
    desk = Helpdesk(plan=deque(["hang"]))

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: desk.accepted[entry] == 1)

    run_one(desk, scenario, timeout_seconds=0.3)
    assert [h.delivery for h in desk.hits] == [entry, entry]
    assert desk.hits[1].at - desk.hits[0].at >= 0.3


def test_an_unsendable_entry_is_dead_lettered_unsent_and_the_next_goes(db: redis.Redis) -> None:
    bad_type = db.xadd(DESK_EVENTS_STREAM, {"type": "x\r\nInjected: 1", "data": "{}"}).decode()
    bad_data = db.xadd(DESK_EVENTS_STREAM, {"type": "message.user", "data": "[1]"}).decode()
    good = publish(db)
    desk = Helpdesk()

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: desk.accepted[good] == 1)
        assert sample(registry, "dead", "invalid") == 1

    run_one(desk, scenario)
    assert [h.delivery for h in desk.hits] == [good]
    dead = {f[b"entry"].decode(): f[b"reason"].decode() for _, f in db.xrange(DEAD_STREAM)}
    assert dead.keys() == {bad_type, bad_data}
    assert "type" in dead[bad_type] and "JSON object" in dead[bad_data]


def test_one_replica_keeps_the_stream_order(db: redis.Redis) -> None:
    entries = [publish(db, kind="message.user", text=str(n)) for n in range(20)]
    desk = Helpdesk(plan=deque([(500, {})] + [(200, {})] * 5 + [(503, {})]))

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: len(desk.order) == 20)

    run_one(desk, scenario)
    assert desk.order == entries


def test_a_receiver_down_then_up_gets_the_event(db: redis.Redis) -> None:
    desk = Helpdesk()

    async def main() -> None:
        runner, port = await serve(desk)
        await runner.cleanup()  # down: nothing listens on the port
        entry = publish(db)
        client = aioredis.Redis.from_url(REDIS_URL)
        registry = CollectorRegistry()
        async with aiohttp.ClientSession() as session:
            hooks = DeskWebhooks(client, settings(port, attempts=50), session, "gw-1",
                                 metrics=webhook_metrics(registry), block_ms=200)
            await hooks.start()
            try:
                await until(lambda: sample(registry, "retried", "handoff.requested") >= 2)
                assert desk.hits == []
                runner, _ = await serve(desk, port)
                await until(lambda: desk.accepted[entry] == 1)
                await until(lambda: pending(db) == 0)
            finally:
                await hooks.aclose()
                await client.aclose()
                await stop(desk, runner)

    asyncio.run(main())
    assert db.xlen(DEAD_STREAM) == 0


def test_events_produced_while_no_gateway_ran_are_delivered(db: redis.Redis) -> None:
    """The group is kept: what arrives between one replica's stop and another's start
    is delivered, and nothing twice."""
    first = publish(db)
    desk = Helpdesk()

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: desk.accepted[first] == 1)

    run_one(desk, scenario)
    second = publish(db, kind="handoff.claimed")
    desk2 = Helpdesk()

    async def scenario2(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: desk.accepted[second] == 1)
        await asyncio.sleep(0.3)

    run_one(desk2, scenario2)
    assert list(desk2.accepted) == [second]


# --- replicas ----------------------------------------------------------------------------

async def replicas(port: int, session: aiohttp.ClientSession, names: list[str],
                   **kwargs: Any) -> list[tuple[DeskWebhooks, CollectorRegistry, Any]]:
    made = []
    for name in names:
        client = aioredis.Redis.from_url(REDIS_URL)
        registry = CollectorRegistry()
        changes = kwargs.pop("settings", {})
        hooks = DeskWebhooks(client, settings(port, **changes), session, name,
                             metrics=webhook_metrics(registry), block_ms=200,
                             claim_interval_seconds=0.1, **kwargs)
        made.append((hooks, registry, client))
    return made


def test_two_replicas_deliver_each_event_exactly_once(db: redis.Redis) -> None:
    entries = [publish(db, kind="message.agent", text=str(n)) for n in range(40)]
    desk = Helpdesk(delay=0.005)
    delivered: list[float] = []

    async def main() -> None:
        runner, port = await serve(desk)
        async with aiohttp.ClientSession() as session:
            both = await replicas(port, session, ["gw-1", "gw-2"])
            await asyncio.gather(*(hooks.start() for hooks, _, _ in both))
            try:
                await until(lambda: len(desk.order) >= 40)
                await asyncio.sleep(0.5)
                delivered.extend(sample(r, "delivered", "message.agent") for _, r, _ in both)
            finally:
                for hooks, _, client in both:
                    await hooks.aclose()
                    await client.aclose()
                await stop(desk, runner)

    asyncio.run(main())
    assert sorted(desk.accepted) == sorted(entries)
    assert set(desk.accepted.values()) == {1}
    assert sum(delivered) == 40 and min(delivered) > 0  # both took part
    assert pending(db) == 0


def test_a_stopped_replicas_pending_event_is_delivered_by_another(db: redis.Redis) -> None:
    desk = Helpdesk(default=500)
    closing: list[float] = []

    async def main() -> None:
        runner, port = await serve(desk)
        async with aiohttp.ClientSession() as session:
            (one, _, c1), (two, _, c2) = await replicas(
                port, session, ["gw-1", "gw-2"], claim_idle_seconds=0.5,
                settings={"attempts": 50, "initial_backoff_seconds": 0.3})
            await one.start()
            entry = publish(db)
            try:
                await until(lambda: desk.attempts(entry) >= 1)
                started = time.monotonic()
                await one.aclose()  # in the middle of its retries
                closing.append(time.monotonic() - started)
                assert desk.accepted[entry] == 0
                info = db.xpending_range(DESK_EVENTS_STREAM, GROUP, "-", "+", 10)
                assert [(p["message_id"].decode(), p["consumer"]) for p in info] == [
                    (entry, b"gw-1")]
                desk.default = 200
                await two.start()
                await until(lambda: desk.accepted[entry] == 1)
                await until(lambda: pending(db) == 0)
            finally:
                await two.aclose()
                await c1.aclose()
                await c2.aclose()
                await stop(desk, runner)

    asyncio.run(main())
    assert closing[0] < 1.0


def test_a_live_replica_keeps_its_event_past_the_idle_time(db: redis.Redis) -> None:
    """The holder refreshes what it holds: a replica that looks for idle entries does not
    take an event the holder is still retrying."""
    desk = Helpdesk(plan=deque([(500, {})] * 6))
    counts: dict[str, float] = {}

    async def main() -> None:
        runner, port = await serve(desk)
        async with aiohttp.ClientSession() as session:
            (one, r1, c1), (two, r2, c2) = await replicas(
                port, session, ["gw-1", "gw-2"], claim_idle_seconds=0.3,
                settings={"initial_backoff_seconds": 0.2, "max_backoff_seconds": 0.2})
            await one.start()
            entry = publish(db, kind="sla.breached")
            try:
                await until(lambda: desk.attempts(entry) >= 1)
                await two.start()
                await until(lambda: desk.accepted[entry] == 1)  # ≥ 0.6 s after the first
                await until(lambda: pending(db) == 0)
                for name, registry in (("one", r1), ("two", r2)):
                    for metric in ("retried", "delivered"):
                        counts[f"{name} {metric}"] = sample(registry, metric, "sla.breached")
            finally:
                for hooks, client in ((one, c1), (two, c2)):
                    await hooks.aclose()
                    await client.aclose()
                await stop(desk, runner)

    asyncio.run(main())
    assert desk.hits[-1].at - desk.hits[0].at > 0.6
    assert counts == {"one retried": 6, "one delivered": 1, "two retried": 0,
                      "two delivered": 0}
    assert sum(desk.accepted.values()) == 1


def test_a_replica_lets_go_of_an_event_another_took_over(db: redis.Redis) -> None:
    """Taken over (as after a Redis blip that kept the holder from refreshing it), the
    event is the new holder's: the old one neither retries it further, nor takes it back,
    nor acknowledges or dead-letters it, and goes on with the next."""
    desk = Helpdesk(default=500)
    entry = publish(db)
    attempts: list[int] = []

    async def gw2_keeps_it_fresh() -> None:
        while True:
            db.xclaim(DESK_EVENTS_STREAM, GROUP, "gw-2", 0, [entry], justid=True)
            await asyncio.sleep(0.05)

    async def scenario(hooks: DeskWebhooks, desk: Helpdesk, registry: CollectorRegistry) -> None:
        await until(lambda: desk.attempts(entry) >= 1)
        gw2 = asyncio.create_task(gw2_keeps_it_fresh())
        try:
            await asyncio.sleep(0.5)  # the holder refreshes every 0.1 s: it has noticed
            attempts.append(desk.attempts(entry))
            desk.default = 200
            nxt = publish(db, kind="handoff.claimed")
            await until(lambda: desk.accepted[nxt] == 1)
            await asyncio.sleep(0.5)
        finally:
            gw2.cancel()

    run_one(desk, scenario, {"claim_idle_seconds": 0.3}, attempts=50,
            initial_backoff_seconds=0.1, max_backoff_seconds=0.1)
    assert desk.attempts(entry) == attempts[0] and desk.accepted[entry] == 0
    info = db.xpending_range(DESK_EVENTS_STREAM, GROUP, "-", "+", 10)
    assert [(p["message_id"].decode(), p["consumer"]) for p in info] == [(entry, b"gw-2")]
    assert db.xlen(DEAD_STREAM) == 0


def test_members_that_hold_nothing_and_went_silent_are_forgotten(db: redis.Redis) -> None:
    publish(db)
    db.xgroup_create(DESK_EVENTS_STREAM, GROUP, id="0")
    db.xgroup_createconsumer(DESK_EVENTS_STREAM, GROUP, "gone-empty")
    db.xreadgroup(GROUP, "gone-holding", {DESK_EVENTS_STREAM: ">"}, count=1)
    desk = Helpdesk()

    async def main() -> None:
        runner, port = await serve(desk)
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as session:
            ((hooks, _, client),) = await replicas(port, session, ["gw-1"],
                                                   claim_idle_seconds=60,
                                                   forget_after_seconds=0.2)
            await hooks.start()
            try:
                await until(lambda: "gone-empty" not in names())
            finally:
                await hooks.aclose()
                await client.aclose()
                await stop(desk, runner)

    def names() -> set[str]:
        return {c["name"].decode() for c in db.xinfo_consumers(DESK_EVENTS_STREAM, GROUP)}

    asyncio.run(main())
    assert names() == {"gone-holding", "gw-1"}  # the holder's event waits to be taken
    assert desk.hits == []


# --- supervision and stopping ------------------------------------------------------------

def test_a_dropped_redis_connection_is_survived(db: redis.Redis) -> None:
    desk = Helpdesk()
    first = publish(db)

    async def main() -> None:
        runner, port = await serve(desk)
        client = aioredis.Redis.from_url(REDIS_URL, client_name=CLIENT_NAME)
        async with aiohttp.ClientSession() as session:
            hooks = DeskWebhooks(client, settings(port), session, "gw-1", block_ms=200,
                                 restart_backoff=(0.05, 0.2))
            await hooks.start()
            try:
                await until(lambda: desk.accepted[first] == 1)
                ours = [c["id"] for c in db.client_list() if c.get("name") == CLIENT_NAME]
                assert ours
                for client_id in ours:  # only this test's own connections
                    db.client_kill_filter(_id=client_id)
                second = publish(db, kind="handoff.claimed")
                await until(lambda: desk.accepted[second] == 1)
                await until(lambda: hooks.healthy)
            finally:
                await hooks.aclose()
                await client.aclose()
                await stop(desk, runner)

    asyncio.run(main())
    assert set(desk.accepted.values()) == {1}


def test_stopping_is_prompt_in_a_long_backoff_and_in_a_blocking_read(db: redis.Redis) -> None:
    desk = Helpdesk(default=500)
    took: list[float] = []

    async def main() -> None:
        runner, port = await serve(desk)
        client = aioredis.Redis.from_url(REDIS_URL)
        async with aiohttp.ClientSession() as session:
            for backoff in (30.0, None):
                hooks = DeskWebhooks(client, settings(port, initial_backoff_seconds=30.0,
                                                      max_backoff_seconds=30.0),
                                     session, "gw-1", block_ms=5000)
                await hooks.start()
                if backoff:
                    entry = publish(db)
                    await until(lambda: desk.attempts(entry) == 1)  # noqa: B023
                else:
                    db.xautoclaim(DESK_EVENTS_STREAM, GROUP, "other", 0)  # not ours now
                    await until(lambda: hooks.healthy)  # noqa: B023
                await asyncio.sleep(0.3)
                started = time.monotonic()
                await hooks.aclose()
                took.append(time.monotonic() - started)
                assert not hooks.healthy
        await client.aclose()
        await stop(desk, runner)

    asyncio.run(main())
    assert max(took) < 1.0


# --- settings ----------------------------------------------------------------------------

def test_settings_off_defaults_and_masked_secret(tmp_path: Path) -> None:
    assert WebhookSettings.from_env({}) is None
    assert WebhookSettings.from_env({"PARLEY_DESK_WEBHOOK_URL": ""}) is None
    got = WebhookSettings.from_env({"PARLEY_DESK_WEBHOOK_URL": "https://desk.example/in",
                                    "PARLEY_DESK_WEBHOOK_SECRET": SECRET})
    assert got is not None
    assert (got.url, got.secret, got.attempts, got.timeout_seconds) == (
        "https://desk.example/in", SECRET, 8, 10.0)
    assert SECRET not in repr(got)
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    got = WebhookSettings.from_env({"PARLEY_DESK_WEBHOOK_URL": "http://desk.local/in",
                                    "PARLEY_DESK_WEBHOOK_SECRET_FILE": str(path),
                                    "PARLEY_DESK_WEBHOOK_ATTEMPTS": "3",
                                    "PARLEY_DESK_WEBHOOK_TIMEOUT_SECONDS": "2.5"})
    assert got is not None
    assert (got.secret, got.attempts, got.timeout_seconds) == (SECRET, 3, 2.5)


URL = {"PARLEY_DESK_WEBHOOK_URL": "https://desk.example/in"}
SIGNED = {**URL, "PARLEY_DESK_WEBHOOK_SECRET": SECRET}


@pytest.mark.parametrize(("env", "expected"), [
    ({"PARLEY_DESK_WEBHOOK_SECRET": SECRET}, "PARLEY_DESK_WEBHOOK_URL must be an http(s) URL "
     "such as https://helpdesk.example/parley (it is not set, but PARLEY_DESK_WEBHOOK_SECRET "
     "is)"),
    ({"PARLEY_DESK_WEBHOOK_URL": "ftp://desk.example/in?token=t0ken",
      "PARLEY_DESK_WEBHOOK_SECRET": SECRET}, "PARLEY_DESK_WEBHOOK_URL must be an http(s) URL"),
    ({"PARLEY_DESK_WEBHOOK_URL": "https:///no-host", "PARLEY_DESK_WEBHOOK_SECRET": SECRET},
     "PARLEY_DESK_WEBHOOK_URL must be an http(s) URL"),
    (URL, "PARLEY_DESK_WEBHOOK_SECRET (the HMAC key"),
    ({**URL, "PARLEY_DESK_WEBHOOK_SECRET": "short"},
     "PARLEY_DESK_WEBHOOK_SECRET must give a secret of at least 16 characters"),
    ({**URL, "PARLEY_DESK_WEBHOOK_SECRET_FILE": "/nonexistent/secret"},
     "PARLEY_DESK_WEBHOOK_SECRET_FILE names '/nonexistent/secret', which cannot be read"),
    ({**SIGNED, "PARLEY_DESK_WEBHOOK_SECRET_FILE": "/x"}, "set one of "
     "PARLEY_DESK_WEBHOOK_SECRET and PARLEY_DESK_WEBHOOK_SECRET_FILE, not both"),
    ({**SIGNED, "PARLEY_DESK_WEBHOOK_ATTEMPTS": "0"},
     "PARLEY_DESK_WEBHOOK_ATTEMPTS must be a whole number from 1 to 50, got '0'"),
    ({**SIGNED, "PARLEY_DESK_WEBHOOK_ATTEMPTS": "²"}, "PARLEY_DESK_WEBHOOK_ATTEMPTS must"),
    ({**SIGNED, "PARLEY_DESK_WEBHOOK_TIMEOUT_SECONDS": "nan"},
     "PARLEY_DESK_WEBHOOK_TIMEOUT_SECONDS must be a number of seconds from 0.1 to 300"),
    ({**SIGNED, "PARLEY_DESK_WEBHOOK_TIMEOUT_SECONDS": "0"},
     "PARLEY_DESK_WEBHOOK_TIMEOUT_SECONDS must"),
])
def test_settings_errors_name_the_variable_and_never_the_secret(
        env: dict[str, str], expected: str) -> None:
    with pytest.raises(WebhookSettingsError) as raised:
        WebhookSettings.from_env(env)
    message = str(raised.value)
    assert expected in message
    assert SECRET not in message and "t0ken" not in message and "short" not in message


def test_a_secret_file_must_hold_a_long_enough_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("tiny\n")
    with pytest.raises(WebhookSettingsError, match="PARLEY_DESK_WEBHOOK_SECRET_FILE must give"):
        WebhookSettings.from_env({**URL, "PARLEY_DESK_WEBHOOK_SECRET_FILE": str(path)})
