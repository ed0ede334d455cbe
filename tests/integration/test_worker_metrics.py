"""The workers' metrics endpoint on a real ``parley worker -c 2`` (two prefork processes),
fed the way the gateway feeds it: the counts are the sum over both processes, and a pool
process killed and replaced neither loses nor doubles a count, nor leaves a stale gauge."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from brain.nlu import load_model
from channels.models import InboundMessage
from tests.deploy.metered_worker import MeteredWorker, Samples, total
from workers.inbox import enqueue

TURNS = "parley_worker_turns_total"


def _message(chat: str, number: int, text: str) -> InboundMessage:
    return InboundMessage(channel="webchat", account="test", chat=chat, user_id=chat,
                          message_id=f"{chat}-{number}", text=text, received_at=time.time())


def _until(worker: MeteredWorker, done: Callable[[Samples], bool], timeout: float = 30
           ) -> Samples:
    deadline = time.monotonic() + timeout
    found = worker.samples()
    while not done(found) and time.monotonic() < deadline:
        time.sleep(0.2)
        found = worker.samples()
    return found


@pytest.fixture
def metered(bot_model: Path, clean_redis: redis.Redis, tmp_path: Path
            ) -> Iterator[MeteredWorker]:
    process = MeteredWorker(bot_model, tmp_path / "worker.log", concurrency=2,
                            env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")})
    yield process
    process.stop()


def test_the_endpoint_sums_both_processes_and_survives_a_killed_one(
        metered: MeteredWorker, clean_redis: redis.Redis, bot_model: Path,
        tmp_path: Path) -> None:
    version = load_model(bot_model).version
    # One process sleeps 3 s in action_slow while the other serves everything else.
    enqueue(clean_redis, _message("slow", 1, "/slow"))
    time.sleep(0.3)
    for chat in ("a", "b"):
        enqueue(clean_redis, _message(chat, 1, "/greet"))
        enqueue(clean_redis, _message(chat, 2, "/opening_hours"))
    enqueue(clean_redis, _message("lost", 1, "zzqx blorf wibble"))  # low confidence
    enqueue(clean_redis, _message("crash", 1, "/crash"))             # its action raises
    found = _until(metered, lambda s: total(s, TURNS) >= 7)

    assert total(found, TURNS, kind="message") == 7
    assert total(found, "parley_worker_turn_latency_seconds_count", channel="webchat") == 7
    assert total(found, "parley_worker_turn_latency_seconds_sum") > 0
    assert total(found, "parley_nlu_fallbacks_total") == 1
    assert total(found, "parley_nlu_fallbacks_total", stage="1", reason="low_confidence") == 1
    assert total(found, "parley_nlu_confidence_count") == 7
    assert total(found, "parley_worker_actions_total", action="action_crash",
                 outcome="failed") == 1
    assert total(found, "parley_worker_actions_total", action="action_slow", outcome="ok") == 1
    assert total(found, "parley_worker_model_info", model=version) == 2  # two live processes
    assert total(found, "parley_worker_bus_up") == 1
    assert total(found, "parley_worker_queue_length") == 0
    # Both processes served turns: each has a file of its own with part of the count.
    per_process = _turns_per_process(tmp_path / "metrics")
    assert len(per_process) == 2 and sum(per_process.values()) == 7, per_process

    before = metered.children()
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = metered.children()
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.2)
    assert victim not in metered.children(), "the killed process was not replaced"
    # Its counts stay in the sum, its live gauge goes; the new process reports its model.
    found = _until(metered, lambda s: total(s, "parley_worker_model_info", model=version) == 2
                   and victim not in _pids(tmp_path / "metrics", "gauge_livesum"))
    assert total(found, TURNS) == 7
    assert total(found, "parley_worker_model_info", model=version) == 2
    enqueue(clean_redis, _message("after", 1, "/greet"))
    enqueue(clean_redis, _message("after", 2, "/greet"))
    found = _until(metered, lambda s: total(s, TURNS) >= 9)
    time.sleep(0.5)  # anything counted twice would show by now
    found = metered.samples()
    assert total(found, TURNS) == 9
    assert total(found, "parley_worker_turn_latency_seconds_count") == 9
    assert total(found, "parley_nlu_fallbacks_total") == 1


def _turns_per_process(directory: Path) -> dict[int, float]:
    from prometheus_client.mmap_dict import MmapedDict

    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        turns = sum(value for key, value, _, _ in values if f'"{TURNS}"' in key)
        if turns:
            counts[int(path.stem.split("_")[1])] = turns
    return counts


def _pids(directory: Path, prefix: str) -> set[int]:
    return {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob(f"{prefix}_*.db")}
