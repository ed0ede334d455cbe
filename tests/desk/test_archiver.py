"""The archive's consumer: turn records into rows exactly once (``desk.archive_store``), the
archiver that reads ``parley:archive`` (``desk.archiver``, ``parley archiver``) killed in the
middle of its work, and the database going away under it — real Redis, real PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from brain.dialogue.events import (
    Event,
    FallbackTriggered,
    FormActivated,
    HandoffStarted,
    UserUttered,
)
from brain.dialogue.tracker import Tracker
from channels.models import Button, InboundMessage, OutboundMessage
from desk.archive_store import parse_record, store_turns
from desk.archiver import GROUP, Archiver, archive_backlog
from desk.database import Database, open_database, upgrade
from desk.database import database_url as desk_url
from desk.schema import ArchivedMessageRow, ConversationRow, FeedbackRow, TurnRow
from tests.conftest import REPO, TEST_ENCRYPTION_KEY
from tests.desk.conftest import Run
from tests.fakes.redis_proxy import RedisProxy
from tests.processes import REDIS_URL, clean_redis, redis_client  # noqa: F401
from workers.bus import ARCHIVE_STREAM
from workers.turn_record import turn_record

T0 = 1_780_000_000.0


def record(chat: str, sequence: int, *, text: str = "hello", intent: str | None = "greet",
           confidence: float = 0.9, fallback: int | None = None, handoff: bool = False,
           form: str | None = None, replies: tuple[str, ...] = ("Hi!",),
           agent: str | None = None, kind: str = "message",
           feedback: dict[str, Any] | None = None) -> str:
    """A turn record as the worker's commit writes it (``workers.turn_record``)."""
    message = InboundMessage(channel="web", account="site", chat=chat, user_id=f"u-{chat}",
                             message_id=f"{chat}-{sequence}", text=text, sequence=sequence,
                             received_at=T0 + sequence, kind=kind)  # type: ignore[arg-type]
    tracker = Tracker(message.conversation_id, events=[FormActivated(name=form)] if form else [])
    events: list[Event] = []
    if intent is not None:
        events.append(UserUttered(text=text, parse={
            "intent": {"name": intent, "confidence": confidence}, "entities": [],
            "fallback_reason": "low_confidence" if fallback else None}))
    if fallback is not None:
        events.append(FallbackTriggered(stage=fallback))
    if handoff:
        events.append(HandoffStarted(reason="asked", team="support"))
    outbound = [OutboundMessage(conversation_id=message.conversation_id, channel="web",
                                in_reply_to=message.message_id, sequence=sequence, index=i,
                                text=reply, buttons=(Button("Yes", "/yes"),),
                                author="agent" if agent else "bot",
                                agent_name=agent)  # type: ignore[arg-type]
                for i, reply in enumerate(replies)]
    return turn_record(message, tracker, events, outbound, model="nlu-7",
                       queued_at=T0 + sequence + 0.25, feedback=feedback)


def parsed(raw: str) -> dict[str, Any]:
    turn = parse_record(raw)
    assert turn is not None
    return turn


async def rows(db: Database) -> dict[str, Any]:
    async with db.reads() as session:
        conversations = {c.id: c for c in (await session.execute(
            select(ConversationRow))).scalars()}
        turns = {(t.conversation_id, t.sequence): t for t in (await session.execute(
            select(TurnRow))).scalars()}
        messages = (await session.execute(select(func.count()).select_from(
            ArchivedMessageRow))).scalar_one()
        feedback = list((await session.execute(select(FeedbackRow))).scalars())
    return {"conversations": conversations, "turns": turns, "messages": messages,
            "feedback": feedback}


def test_store_turns_is_exact_and_idempotent_out_of_order(database: Database,
                                                          run: Run[Any]) -> None:
    a = [record("a", 1, kind="conversation_start", intent=None, replies=("Welcome",)),
         record("a", 2, text="blorf", intent="nlu_fallback", confidence=0.2, fallback=1,
                replies=("Did you mean...?", "Or?")),
         record("a", 3, intent="order_status", replies=("It ships today.",)),
         record("a", 4, intent="human", handoff=True, replies=("Finding someone",)),
         record("a", 5, kind="agent_message", intent=None, replies=("Agent here",),
                agent="Ada")]
    b = [record("b", 1, text="bad\x00text", intent="x" * 300, confidence=float("nan")),
         record("b", 2, kind="feedback", intent=None, replies=(), feedback={
             "kind": "thumbs", "value": 0, "comment": "no", "about_sequence": 1,
             "about_position": 0}),
         record("b", 3, intent="order", form="order_form", replies=("Which order?",))]
    # Out of order across batches: the later turn (3) first, then 2, which must not decide
    # the outcome; a's first batch holds its resolved turn 3 before the fallback turn 2.
    first = [parsed(r) for r in (a[0], a[2], b[2], b[0])]
    assert run(store_turns(database, first)) == 4
    assert run(store_turns(database, first)) == 0  # the same batch again: nothing new
    state = run(rows(database))
    assert state["conversations"]["web:site:a"].outcome == "resolved"
    assert state["conversations"]["web:site:b"].outcome == "abandoned"  # an unfinished form

    second = [parsed(r) for r in (a[1], b[1], a[0])]  # a[0] is a duplicate
    assert run(store_turns(database, second)) == 2
    state = run(rows(database))
    assert state["conversations"]["web:site:a"].outcome == "resolved"  # 3 is still the last
    assert run(store_turns(database, [parsed(a[3]), parsed(a[4]), parsed(a[3])])) == 2
    assert run(store_turns(database, [parsed(r) for r in a + b])) == 0
    state = run(rows(database))

    conv_a, conv_b = state["conversations"]["web:site:a"], state["conversations"]["web:site:b"]
    assert (conv_a.user_messages, conv_a.bot_messages, conv_a.agent_messages,
            conv_a.fallbacks, conv_a.handed_off, conv_a.outcome, conv_a.last_sequence) == \
        (3, 5, 1, 1, True, "handed_off", 5)
    assert conv_a.first_at.timestamp() == T0 + 1 and conv_a.last_at.timestamp() == T0 + 5
    assert conv_a.model == "nlu-7" and conv_a.channel == "web" and conv_a.user_id == "u-a"
    assert (conv_b.user_messages, conv_b.bot_messages, conv_b.fallbacks, conv_b.outcome,
            conv_b.last_sequence) == (2, 2, 0, "abandoned", 3)
    assert len(state["turns"]) == 8 and state["messages"] == 8
    fallback_turn = state["turns"][("web:site:a", 2)]
    assert (fallback_turn.fallback, fallback_turn.intent, fallback_turn.fallback_reason,
            fallback_turn.user_message, fallback_turn.latency_ms) == \
        (True, "nlu_fallback", "low_confidence", True, 250.0)
    start = state["turns"][("web:site:a", 1)]
    assert not start.user_message and start.latency_ms is None and start.intent is None
    assert state["turns"][("web:site:a", 4)].handoff_requested
    clipped = state["turns"][("web:site:b", 1)]
    assert clipped.text == "badtext" and clipped.intent == "x" * 128
    assert clipped.record["text"] == "badtext" and clipped.confidence is None  # was NaN
    assert clipped.record["parse"]["intent"]["confidence"] is None
    assert state["turns"][("web:site:b", 3)].active_form == "order_form"
    [rating] = state["feedback"]
    assert (rating.sequence, rating.kind, rating.value, rating.comment,
            rating.about_sequence, rating.about_position) == (2, "thumbs", 0, "no", 1, 0)
    assert not state["turns"][("web:site:b", 2)].user_message
    # A rating after the unfinished form's turn is no message of the person's: still
    # abandoned, decided by turn 3.
    thanks = record("b", 4, kind="feedback", intent=None, replies=(), feedback={
        "kind": "thumbs", "value": 1, "comment": "", "about_sequence": 3,
        "about_position": 0})
    assert run(store_turns(database, [parsed(thanks)])) == 1
    conv_b = run(rows(database))["conversations"]["web:site:b"]
    assert (conv_b.outcome, conv_b.outcome_sequence, conv_b.last_sequence) == \
        ("abandoned", 3, 4)


def test_two_archivers_racing_on_one_batch_store_it_once(pg_database: Database,
                                                         run: Run[Any]) -> None:
    """Two transactions at once on overlapping batches (one archiver took over another's
    entries while it was still storing them): every turn counted once, no deadlock."""
    raws = [record(f"r{i % 12}", i // 12 + 1, fallback=1 if i % 7 == 0 else None)
            for i in range(600)]
    other = open_database(pg_database.url)

    async def race() -> list[int]:
        import asyncio

        batches = [[parsed(r) for r in raws[:400]], [parsed(r) for r in reversed(raws[200:])]]
        return list(await asyncio.gather(store_turns(pg_database, batches[0]),
                                         store_turns(other, batches[1])))

    try:
        counts = [run(race()) for _ in range(2)]
    finally:
        run(other.aclose())
    assert sum(counts[0]) == 600 and counts[1] == [0, 0]
    assert run(totals(pg_database)) == expected(600)


def test_parse_record_refuses_what_is_not_a_turn_record() -> None:
    assert parse_record(b"{not json") is None
    assert parse_record(json.dumps({"v": 2, "conversation_id": "c", "sequence": 1})) is None
    assert parse_record(json.dumps({"v": 1, "conversation_id": "", "sequence": 1})) is None
    assert parse_record(json.dumps({"v": 1, "conversation_id": "c", "sequence": "1"})) is None
    assert parse_record(json.dumps({"v": 1, "conversation_id": "c", "sequence": 1,
                                    "text": "a\x00b"}))["text"] == "ab"  # type: ignore[index]


def test_parley_archiver_off_is_a_gateway_setting() -> None:
    from gateway.settings import GatewaySettings, GatewaySettingsError

    base = {"PARLEY_REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert GatewaySettings.from_env(base).desk_archiver
    assert not GatewaySettings.from_env({**base, "PARLEY_ARCHIVER": "off"}).desk_archiver
    with pytest.raises(GatewaySettingsError, match="PARLEY_ARCHIVER must be on or off"):
        GatewaySettings.from_env({**base, "PARLEY_ARCHIVER": "maybe"})


# --- the archiver against the stream ---------------------------------------------------

def append(client: redis.Redis, raw: str) -> None:
    """XADD as the worker's commit does (``workers.conversation_store``)."""
    turn = json.loads(raw)
    client.xadd(ARCHIVE_STREAM, {"record": raw, "conversation": turn["conversation_id"],
                                 "sequence": turn["sequence"]})


class Producer:
    """Appends records of ``chats`` conversations, ``rate`` a second, in a thread, until
    stopped or ``limit`` are in; ``count``: how many it appended."""

    def __init__(self, client: redis.Redis, *, chats: int = 20, rate: float = 400.0,
                 limit: int = 3000) -> None:
        self.chats, self.rate, self.limit, self.count = chats, rate, limit, 0
        self._client = client
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        began = time.monotonic()
        while not self._stop.is_set() and self.count < self.limit:
            i = self.count
            append(self._client, record(f"c{i % self.chats}", i // self.chats + 1,
                                        fallback=1 if i % 7 == 0 else None))
            self.count += 1
            ahead = self.count / self.rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)

    def __enter__(self) -> Producer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


async def totals(db: Database) -> tuple[int, int, int, int]:
    """(turns, sum of user_messages, sum of bot_messages, sum of fallbacks)."""
    async with db.reads() as session:
        turns = (await session.execute(select(func.count()).select_from(TurnRow))).scalar_one()
        sums = (await session.execute(select(
            func.coalesce(func.sum(ConversationRow.user_messages), 0),
            func.coalesce(func.sum(ConversationRow.bot_messages), 0),
            func.coalesce(func.sum(ConversationRow.fallbacks), 0)))).one()
    return int(turns), int(sums[0]), int(sums[1]), int(sums[2])


def expected(total: int) -> tuple[int, int, int, int]:
    return total, total, total, sum(1 for i in range(total) if i % 7 == 0)


def wait_for(check: Callable[[], bool], seconds: float, what: str | Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            said = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out waiting for {said}")
        time.sleep(0.1)


@pytest.fixture
def pg_database(postgres_url: str, tmp_path: Path, run: Run[Any]) -> Iterator[Database]:
    url = desk_url(postgres_url, tmp_path)
    run(upgrade(url))
    db = open_database(url)
    yield db
    run(db.aclose())


class ArchiverProcess:
    """``parley archiver`` as an operator starts it."""

    def __init__(self, database: str, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env.update(PARLEY_REDIS_URL=REDIS_URL, PARLEY_DATABASE_URL=database,
                   PARLEY_ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY)
        self._log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "archiver", "--batch", "40",
             "--claim-idle-seconds", "1"], cwd=REPO, env=env, stdout=self._log,
            stderr=subprocess.STDOUT)

    def stop(self, signum: int) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        status = self.process.wait(30)
        self._log.close()
        return status


@pytest.fixture
def archivers() -> Iterator[list[ArchiverProcess]]:
    """The ``parley archiver`` processes a test starts, killed after it whatever happened
    (one left behind would read the next test's stream)."""
    started: list[ArchiverProcess] = []
    yield started
    for archiver in started:
        archiver.stop(signal.SIGKILL)


def test_archiver_killed_mid_batch_stores_every_record_once(
        clean_redis: redis.Redis, postgres_url: str, pg_database: Database, run: Run[Any],
        tmp_path: Path, archivers: list[ArchiverProcess]) -> None:
    log = tmp_path / "archiver.log"
    first = ArchiverProcess(postgres_url, log)
    archivers.append(first)
    with Producer(clean_redis) as producer:
        wait_for(lambda: run(totals(pg_database))[0] >= 200, 30, "the first turns stored")
        # Kill it while it holds a batch it has not acknowledged.
        wait_for(lambda: clean_redis.xpending(ARCHIVE_STREAM, GROUP)["pending"] > 0, 10,
                 "a batch in hand")
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        stored_at_kill = run(totals(pg_database))[0]
        assert stored_at_kill < producer.count
        time.sleep(1.0)  # records keep coming while no archiver runs
        second = ArchiverProcess(postgres_url, log)
        archivers.append(second)
        wait_for(lambda: run(totals(pg_database))[0] > stored_at_kill, 30, "the restart")
        time.sleep(1.0)
    total = producer.count
    wait_for(lambda: run(totals(pg_database))[0] >= total, 60,
             lambda: f"every record stored: {run(totals(pg_database))} of {total}, "
             f"{clean_redis.xinfo_groups(ARCHIVE_STREAM)}, {log.read_text()[-3000:]}")
    wait_for(lambda: _sync_backlog(clean_redis) == 0, 10, "an empty backlog")
    assert second.stop(signal.SIGTERM) == 0
    assert run(totals(pg_database)) == expected(total), log.read_text()[-3000:]
    assert "parley archiver: stopped" in log.read_text()


def _sync_backlog(client: redis.Redis) -> int:
    [group] = [g for g in client.xinfo_groups(ARCHIVE_STREAM) if g["name"] == GROUP.encode()]
    return int(group["lag"]) + int(group["pending"])


def _async_client() -> Any:
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(REDIS_URL)


def test_database_away_and_back_nothing_acked_then_caught_up_once(
        clean_redis: redis.Redis, postgres_url: str, pg_database: Database, run: Run[Any],
        tmp_path: Path) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    with RedisProxy(upstream=("127.0.0.1", 5432)) as proxy:
        proxied = open_database(desk_url(f"postgresql://postgres@127.0.0.1:{proxy.port}/{name}",
                                         tmp_path))
        client = _async_client()
        archiver = Archiver(client, proxied, consumer="a1", batch=50, metrics_interval=0.2)
        gauge = archiver.metrics.backlog

        async def scenario() -> None:
            import asyncio

            async def until(check: Callable[[], Any], seconds: float, what: str) -> None:
                deadline = time.monotonic() + seconds
                while not await check():
                    assert time.monotonic() < deadline, f"timed out waiting for {what}"
                    await asyncio.sleep(0.1)

            async def stored(n: int) -> bool:
                return (await totals(pg_database))[0] >= n

            async with archiver:
                for i in range(300):
                    append(clean_redis, record(f"c{i % 10}", i // 10 + 1))
                await until(lambda: stored(300), 20, "the first records stored")
                proxy.cut()  # done in the proxy's thread: let it take effect first
                await asyncio.sleep(0.5)
                for i in range(300, 700):
                    append(clean_redis, record(f"c{i % 10}", i // 10 + 1,
                                               fallback=1 if i % 7 == 0 else None))
                await asyncio.sleep(2.0)
                backlog, oldest, length = await archive_backlog(client)
                assert backlog == 400 and length == 700 and oldest is not None
                assert (await totals(pg_database))[0] == 300  # nothing stored meanwhile
                await until(lambda: _gauge_at_least(gauge, 400), 5, "the backlog gauge")
                assert archiver.metrics.failures.labels("unavailable")._value.get() >= 1
                proxy.restore()
                await until(lambda: stored(700), 40, "the backlog caught up")
                await until(lambda: _backlog_empty(client), 5, "nothing pending")

        try:
            run(scenario())
        finally:
            run(client.aclose())
            run(proxied.aclose())
    fallbacks = sum(1 for i in range(300, 700) if i % 7 == 0)
    assert run(totals(pg_database)) == (700, 700, 700, fallbacks)
    assert archiver.metrics.stored._value.get() == 700


async def _gauge_at_least(gauge: Any, value: float) -> bool:
    return bool(gauge._value.get() >= value)


async def _backlog_empty(client: Any) -> bool:
    return bool((await archive_backlog(client))[0] == 0)


def test_a_poison_record_is_skipped_alone(clean_redis: redis.Redis, pg_database: Database,
                                          run: Run[Any]) -> None:
    for i in range(20):
        append(clean_redis, record("p", i + 1))
    clean_redis.xadd(ARCHIVE_STREAM, {"record": b"{not json"})
    # A rating PostgreSQL cannot hold (an int32 column): refused as data, found by splitting.
    append(clean_redis, record("q", 1, kind="feedback", intent=None, replies=(), feedback={
        "kind": "csat", "value": 2**40, "comment": "", "about_sequence": None,
        "about_position": None}))
    for i in range(20, 40):
        append(clean_redis, record("p", i + 1))
    client = _async_client()
    archiver = Archiver(client, pg_database, consumer="a1", batch=100)

    async def scenario() -> None:
        import asyncio

        async with archiver:
            deadline = time.monotonic() + 20
            while (await archive_backlog(client))[0] and time.monotonic() < deadline:
                await asyncio.sleep(0.1)

    try:
        run(scenario())
    finally:
        run(client.aclose())
    assert run(totals(pg_database))[:2] == (40, 40)
    assert clean_redis.xpending(ARCHIVE_STREAM, GROUP)["pending"] == 0
    assert archiver.metrics.failures.labels("refused")._value.get() == 1
    assert archiver.metrics.failures.labels("malformed")._value.get() == 1
