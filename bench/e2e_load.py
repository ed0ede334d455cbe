"""End-to-end load benchmark: gateway + worker processes + Redis, the website webhook.

Starts a stack on this machine (``parley gateway`` and ``parley worker -c N``, on its own
Redis database, default 15, flushed before and after), a callback sink, then offers a fixed
rate of signed messages across many conversations for a fixed time. Each message is timed
from its POST to the arrival of its reply at the sink. Prints msg/s (replies per second
over the offered period), p50/p95/p99 latency, lost and doubled replies, and as its last
line one JSON object with those figures.

    python bench/e2e_load.py --rate 200 --seconds 60 [--workers 2] [--conversations 500]
        [--postgres postgresql://postgres@127.0.0.1:5432] [--archiver on|off]

The gateway archives every turn (``desk.archiver``) into a database of its own: a SQLite
file in a temporary folder, or with ``--postgres SERVER`` a database created on that server
and dropped after; ``--archiver off`` runs the gateway without its archiver (the workers
still append each turn record to the stream). ``cpu_ms_per_msg`` is the CPU time (user +
system, from /proc) the gateway, the worker and its children, and a ``--private-redis``
spent over the offered period and the drain, per reply; ``archive_backlog_max`` the most
turn records waiting for the archiver at any one-second sample, ``archive_backlog_end``
what was left when the replies were in, and ``archive_caught_up_s`` how long after that
the archive had stored everything (the CPU figure counts until then).

``--flood N`` also sends one more conversation N messages at once when the offered period
begins, with the per-conversation cap lifted (as a messaging platform's conversation, which
cannot be told 429, is accepted): the latencies printed are then the other conversations'
only, and ``flood_done_s`` is when the flooding conversation's last reply came.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import redis
from bench_stack import (
    CallbackSink,
    RedisServer,
    archive_backlog,
    cpu_seconds,
    free_port,
    stop_processes,
)
from handoff_stack import postgres_database

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model
from channels.web.adapter import sign
from desk.database import database_url, upgrade
from desk.encryption import new_key
from workers.bus import ARCHIVE_STREAM

REPO = Path(__file__).resolve().parents[1]
BOT = REPO / "examples" / "support_bot"
SECRET = "bench-secret"
TEXTS = ["hi", "what are your opening hours", "how long does delivery take", "thanks",
         "are you a bot", "bye"]


def _start_stack(args: argparse.Namespace, sink: CallbackSink, model: Path,
                 logs: Path, database: str) -> tuple[list[subprocess.Popen[bytes]], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_REDIS_URL=args.redis_url, PARLEY_WEB_SECRET=SECRET,
               PARLEY_WEB_CALLBACK_URL=sink.url, PARLEY_PORT=str(port),
               PARLEY_BOT_DIR=str(BOT), PARLEY_MODEL=str(model),
               PARLEY_DATABASE_URL=database, PARLEY_ARCHIVER=args.archiver,
               PARLEY_ENCRYPTION_KEYS=new_key())  # encryption at rest, as in production
    if args.flood:
        env["PARLEY_MAX_UNSERVED"] = str(max(50, args.flood))
    parley = [sys.executable, "-m", "gateway.cli"]
    worker = subprocess.Popen([*parley, "worker", "-c", str(args.workers), "--loglevel",
                               "WARNING"], env=env, cwd=REPO,
                              stdout=(logs / "worker.log").open("w"), stderr=subprocess.STDOUT)
    gateway = subprocess.Popen([*parley, "gateway"], env=env, cwd=REPO,
                               stdout=(logs / "gateway.log").open("w"),
                               stderr=subprocess.STDOUT)
    client = redis.Redis.from_url(args.redis_url)
    deadline = time.monotonic() + 90
    while not client.exists("parley:workers:heartbeat") and time.monotonic() < deadline:
        time.sleep(0.2)
    while time.monotonic() < deadline:  # and the gateway listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return [worker, gateway], f"http://127.0.0.1:{port}"


async def _offer(url: str, rate: float, seconds: float, conversations: int, flood: int
                 ) -> dict[str, float]:
    sent: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def post(n: int, conversation: str | None = None) -> None:
            mid = f"flood{n}" if conversation else f"m{n}"
            conversation = conversation or f"bench{n % conversations}"
            body = json.dumps({"conversation_id": conversation, "user_id": conversation,
                               "message_id": mid,
                               "text": TEXTS[(n // conversations) % len(TEXTS)]}).encode()
            stamp = str(int(time.time()))
            sent[mid] = time.perf_counter()
            async with session.post(f"{url}/channels/web/messages", data=body, headers={
                    "Content-Type": "application/json", "X-Parley-Timestamp": stamp,
                    "X-Parley-Signature": sign(SECRET, stamp, body)}) as response:
                if response.status != 202:
                    print(f"message {mid}: HTTP {response.status}", file=sys.stderr)

        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for n in range(flood):
                group.create_task(post(n, "flooding"))
            for n in range(int(rate * seconds)):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                group.create_task(post(n))
    return sent


def _first_replies(sink: CallbackSink) -> tuple[dict[str, float], int]:
    """Each inbound message's first reply time (perf_counter), and the repeats."""
    offset = time.perf_counter() - time.monotonic()
    first: dict[str, float] = {}
    seen: set[str] = set()
    repeats = 0
    for arrival, reply in sink.snapshot():
        if reply["delivery_id"] in seen:
            repeats += 1
            continue
        seen.add(reply["delivery_id"])
        first.setdefault(reply["in_reply_to"], arrival + offset)
    return first, repeats


def _archive_backlog(client: redis.Redis) -> int:
    """Turn records on the archive stream the archiver has not stored yet (all of them
    while no archiver has joined)."""
    backlog = archive_backlog(client)
    return int(client.xlen(ARCHIVE_STREAM)) if backlog is None else backlog


class _BacklogSampler(threading.Thread):
    """The archive's backlog once a second, while the benchmark runs."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self._client = redis.Redis.from_url(url)
        self.samples: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            with contextlib.suppress(redis.RedisError):
                self.samples.append(_archive_backlog(self._client))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="messages offered per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--private-redis", choices=("always", "everysec", "off"),
                        help="a redis-server of its own instead of --redis-url: its "
                        "append-only file fsynced always, every second, or no persistence")
    parser.add_argument("--drain-seconds", type=float, default=30.0)
    parser.add_argument("--flood", type=int, default=0, metavar="N",
                        help="one more conversation sent N messages at once at the start")
    parser.add_argument("--postgres", metavar="SERVER",
                        help="archive into a new database on this PostgreSQL server "
                        "(e.g. postgresql://postgres@127.0.0.1:5432), dropped after")
    parser.add_argument("--archiver", choices=("on", "off"), default="on",
                        help="run the gateway's archiver (default on)")
    args = parser.parse_args()
    sink = CallbackSink()
    sink.start()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        database = (stack.enter_context(postgres_database(args.postgres)) if args.postgres
                    else f"sqlite:///{tmp}/archive.db")
        asyncio.run(upgrade(database_url(database, Path(tmp))))
        bus = None
        if args.private_redis:
            bus = RedisServer(Path(tmp), None if args.private_redis == "off"
                              else args.private_redis)
            args.redis_url = bus.url
        client = redis.Redis.from_url(args.redis_url)
        client.flushdb()
        model = save_model(train_model(load_training_data(BOT), load_nlu_config(BOT)),
                           Path(tmp) / "model.tar.gz")
        processes, url = _start_stack(args, sink, model, Path(tmp), database)
        measured = [p.pid for p in processes] + ([bus.process.pid] if bus and bus.process
                                                 else [])
        sampler = _BacklogSampler(args.redis_url)
        try:
            cpu_before = cpu_seconds(measured)
            sampler.start()
            started = time.perf_counter()
            sent = asyncio.run(_offer(url, args.rate, args.seconds, args.conversations,
                                     args.flood))
            offered_for = time.perf_counter() - started
            deadline = time.monotonic() + args.drain_seconds
            while len(sink.answered()) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.2)
            replied_at = time.perf_counter()
            backlog_end = _archive_backlog(client)
            while args.archiver == "on" and _archive_backlog(client) and \
                    time.monotonic() < deadline + args.drain_seconds:
                time.sleep(0.2)  # the archiver's catching up is part of the cost
            archived_after = time.perf_counter() - replied_at
            cpu = cpu_seconds(measured) - cpu_before
        finally:
            sampler.done.set()
            stop_processes(processes, name=lambda p: p.args[3])
            client.flushdb()
            if bus is not None:
                bus.stop()
    first, repeats = _first_replies(sink)
    latencies = [(first[mid] - t) * 1000 for mid, t in sent.items()
                 if mid in first and not mid.startswith("flood")]
    flooded = [first.get(f"flood{n}") for n in range(args.flood)]
    in_period = sum(1 for mid in sent if first.get(mid, float("inf")) <= started + offered_for)
    result = {
        "offered_rate": args.rate, "seconds": args.seconds, "workers": args.workers,
        "messages": len(sent), "replied": sum(1 for mid in sent if mid in first),
        "msg_per_s": round(in_period / offered_for, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 1),
        "p95_ms": round(_percentile(latencies, 0.95), 1),
        "p99_ms": round(_percentile(latencies, 0.99), 1),
        "lost": sum(1 for mid in sent if mid not in first), "doubled": repeats,
        "redis": args.private_redis or "given",
        "archiver": args.archiver, "database": "postgresql" if args.postgres else "sqlite",
        "cpu_ms_per_msg": round(cpu * 1000 / max(1, len(first)), 2),
        "archive_backlog_max": max(sampler.samples, default=0),
        "archive_backlog_end": backlog_end,
        "archive_caught_up_s": round(archived_after, 1) if args.archiver == "on" else None,
    }
    if args.flood:
        done = [t for t in flooded if t is not None]
        result["flood"] = args.flood
        result["flood_done_s"] = (round(max(done) - started, 1) if len(done) == args.flood
                                  else None)
    for key, value in result.items():
        print(f"{key:<14}{value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
