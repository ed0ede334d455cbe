"""``parley model activate`` on real parts: a real prefork Celery worker (two children)
serving a steady stream of text messages enqueued the way the gateway enqueues them, a
second model activated mid-stream. What must hold: every message answered once and in
order, and every archived turn names the model that parsed it (checked by the parse's
confidence, which differs between the two models for every text sent), the old one before
the workers switched and the new one after; a model that cannot be loaded is refused and
changes nothing."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import redis

from brain.bot import Bot
from brain.nlu import NluModel, load_model, load_nlu_config, load_training_data, save_model
from brain.nlu.training import train_model
from channels.models import InboundMessage, OutboundMessage, decode_outbound
from gateway.cli import main
from tests.processes import BOT, REDIS_URL, WorkerProcess, run_parley
from workers.bus import ARCHIVE_STREAM, OUTBOUND_STREAM, conversation_key
from workers.inbox import enqueue
from workers.model_switch import ModelSwitch, activate, load_bot, read_active, worker_models

TEXTS = ("hi", "when do you open", "hello", "opening hours")
CHATS = 4


@pytest.fixture(scope="session")
def second_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dialogue bot's model retrained on one more example with another regulariser:
    the same intents (so it fits the bot), other confidences, another model id."""
    bot = tmp_path_factory.mktemp("bot2") / "dialogue_bot"
    shutil.copytree(BOT, bot, ignore=shutil.ignore_patterns("models", "__pycache__"))
    nlu = bot / "data" / "nlu.yml"
    nlu.write_text(nlu.read_text().replace("    - hello\n", "    - hello\n    - hey there\n"))
    config = load_nlu_config(bot)
    model = train_model(load_training_data(bot), type(config)(classifier_c=3.0), seed=1)
    return save_model(model, tmp_path_factory.mktemp("model2") / "model2.tar.gz")


def _message(chat: int, number: int) -> InboundMessage:
    return InboundMessage(channel="web", account="test", chat=f"m{chat}", user_id=f"m{chat}",
                          message_id=f"m{chat}-{number}", text=TEXTS[number % len(TEXTS)],
                          received_at=time.time())


class _Stream:
    """Enqueues one message every ``interval`` s, round-robin over ``CHATS`` chats."""

    def __init__(self, client: redis.Redis, interval: float = 0.03) -> None:
        self.client, self.interval = client, interval
        self.sent: dict[int, int] = defaultdict(int)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Stream:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        chat = 0
        while not self._stop.is_set():
            self.sent[chat] += 1
            enqueue(self.client, _message(chat, self.sent[chat]))
            chat = (chat + 1) % CHATS
            time.sleep(self.interval)

    def total(self) -> int:
        return sum(self.sent.values())


def _entries(client: redis.Redis, stream: str) -> list[Any]:
    return list(client.xrange(stream) or [])


def _replies(client: redis.Redis) -> list[OutboundMessage]:
    return [decode_outbound(f[b"message"]) for _, f in _entries(client, OUTBOUND_STREAM)]


def _records(client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(f[b"record"]) for _, f in _entries(client, ARCHIVE_STREAM)]


def _served(client: redis.Redis, sent: dict[int, int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(int(client.get(conversation_key(f"web:test:m{c}", "served")) or 0) == n
               for c, n in sent.items()):
            return True
        time.sleep(0.1)
    return False


def _wait_for_workers(client: redis.Redis, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(worker_models(client)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(worker_models(client)) == count, worker_models(client)


def _confidences(model: NluModel) -> dict[str, float]:
    return {text: model.parse(text)["intent"]["confidence"] for text in TEXTS}


def test_workers_switch_models_between_turns_under_load(
        bot_model: Path, second_model: Path, clean_redis: redis.Redis, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = load_model(bot_model), load_model(second_model)
    assert old.version != new.version
    expected = {old.version: _confidences(old), new.version: _confidences(new)}
    assert all(expected[old.version][t] != expected[new.version][t] for t in TEXTS)
    worker = WorkerProcess(bot_model, tmp_path / "worker.log", concurrency=2)
    try:
        _wait_for_workers(clean_redis, 2)
        env = {"PARLEY_REDIS_URL": REDIS_URL, "PARLEY_BOT_DIR": str(BOT)}
        with _Stream(clean_redis) as stream:
            time.sleep(2)
            before = stream.total()
            switched = run_parley("model", "activate", str(second_model), "--wait", "30",
                                  env=env, timeout=90)
            assert switched.returncode == 0, switched.stderr
            assert "2 of 2 worker processes serve it" in switched.stderr
            time.sleep(1.5)
            broken = tmp_path / "broken.tar.gz"
            broken.write_bytes(b"not a gzip archive")
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            assert main(["model", "activate", str(broken)]) == 2
            refused = capsys.readouterr().err
            time.sleep(1)
        assert refused.startswith("parley: error: cannot read model archive")
        assert len(refused.strip().splitlines()) == 1
        assert _served(clean_redis, stream.sent, timeout=60), dict(stream.sent)
        statuses = worker_models(clean_redis)
    finally:
        worker.stop()
    assert before > 10 and stream.total() > before + 20
    active = read_active(clean_redis)
    assert active is not None and active.version == 1 and active.model_id == new.version

    # Every message answered once (one reply each: greet or the opening hours), in order.
    replies = _replies(clean_redis)
    by_chat: dict[str, list[OutboundMessage]] = defaultdict(list)
    for reply in replies:
        by_chat[reply.conversation_id].append(reply)
    for chat, count in stream.sent.items():
        mine = by_chat[f"web:test:m{chat}"]
        assert [r.sequence for r in mine] == list(range(1, count + 1))
        assert [r.in_reply_to for r in mine] == [f"m{chat}-{n}" for n in range(1, count + 1)]

    # Each turn record names the model whose confidences its parse has.
    records = [r for r in _records(clean_redis) if r["kind"] == "message"]
    assert len(records) == stream.total()
    for record in records:
        assert record["model"] in expected, record["model"]
        confidence = record["parse"]["intent"]["confidence"]
        assert confidence == expected[record["model"]][record["text"]], record
    # Old model before the first child switched, new after the last one did.
    assert sorted(s["model_id"] for s in statuses) == [new.version] * 2
    assert all(s["version"] == 1 and s["state"] == "serving" for s in statuses)
    first, last = min(s["since"] for s in statuses), max(s["since"] for s in statuses)
    early = [r["model"] for r in records if r["queued_at"] < first]
    late = [r["model"] for r in records if r["queued_at"] > last]
    assert early and set(early) == {old.version}
    assert late and set(late) == {new.version}
    for conversation in {r["conversation_id"] for r in records}:
        models = [r["model"] for r in sorted(records, key=lambda r: r["sequence"])
                  if r["conversation_id"] == conversation]
        assert models[0] == old.version and models[-1] == new.version


def test_a_model_that_fails_on_the_worker_leaves_the_old_one_serving(
        bot_model: Path, second_model: Path, clean_redis: redis.Redis, tmp_path: Path) -> None:
    """In one worker process: a published model that does not load is reported as failed
    and the bot keeps its model; a good one waits for the serve in progress to end."""
    bot = Bot.load(BOT, model_path=bot_model)
    old = bot.nlu.version
    switch = ModelSwitch(clean_redis, bot, version=0, path=bot_model, poll_seconds=0.1)
    activate(clean_redis, tmp_path / "gone.tar.gz", "gone")
    switch.check_now()
    [status] = worker_models(clean_redis)
    assert (status["state"], status["failed_version"], status["model_id"]) == (
        "failed", 1, old)
    assert "gone.tar.gz" in status["error"] and bot.nlu.version == old
    # A worker starting now cannot load the active model either: it starts with its own.
    started, version, path = load_bot(clean_redis, BOT, bot_model, {})
    assert (started.nlu.version, version, path) == (old, 0, bot_model)

    activate(clean_redis, second_model, "second")
    with switch.serving():                 # a serve in progress: no swap under it
        switch.check_now()
        assert bot.nlu.version == old
    with switch.serving():                 # the next serve starts with the new model
        assert bot.nlu.version == load_model(second_model).version
    switch.check_now()
    [status] = worker_models(clean_redis)
    assert (status["state"], status["version"], status["error"]) == ("serving", 2, "")
    started, version, path = load_bot(clean_redis, BOT, bot_model, {})  # a worker starting
    assert (started.nlu.version, version, path) == (bot.nlu.version, 2, second_model)
