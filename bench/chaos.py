"""Chaos: load through the whole stack while its parts are killed; count what went wrong.

Starts, on this machine, a private ``redis-server`` with an append-only file on a free port,
``parley gateway`` (the website webhook, replies to a callback sink) and ``parley worker``
(its own process group), then offers signed messages over many conversations. The load
generator behaves like a careful site: each conversation sends its next message only once
the previous one was accepted (202), and retries a message with the same message id after
a refused connection, a timeout or a 5xx (honouring ``Retry-After``). Meanwhile the fault
schedule kills worker children, whole worker groups, the gateway and Redis (SIGTERM and
SIGKILL), each part coming back after ``--down`` seconds. After the offered period it waits
for the replies (``--drain``), then prints:

- ``accepted``: messages answered 202 (each once, whatever the retries);
- ``answered``: accepted messages with at least one reply at the sink;
- ``lost``: accepted and never answered; ``wedged``: conversations whose last accepted
  message was never answered;
- ``doubled``: replies delivered again (the same delivery id, or the same reply of a
  message under another id); ``out_of_order``: a reply that reached the sink after a
  later one of its conversation;
- ``5xx`` (responses with a 5xx status; 503s while Redis is down are expected) and
  ``500`` (never expected);
- per fault, the longest stall: the longest a message accepted in that fault's window
  waited for its first reply.

Its last line is one JSON object with those figures, as ``bench/e2e_load.py`` prints.

    python bench/chaos.py                        # the default schedule: 180 s at 40 msg/s
    python bench/chaos.py --schedule short       # a minute, one fault of each kind
    python bench/chaos.py --appendfsync everysec --callback-delay 0.4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis
from bench_stack import CallbackSink, RedisServer, free_port, wait_for_port

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model
from channels.web.adapter import sign
from desk.encryption import new_key

REPO = Path(__file__).resolve().parents[1]
BOT = REPO / "examples" / "support_bot"
SECRET = "chaos-secret"
TEXTS = ["hi", "what are your opening hours", "how long does delivery take", "thanks",
         "are you a bot", "bye"]

# (seconds after the start of the offered period, fault)
SCHEDULES: dict[str, list[tuple[float, str]]] = {
    "default": [
        (10, "worker-child"), (20, "worker-child"), (30, "worker-group"),
        (40, "worker-child"), (48, "worker-child"), (55, "redis-term"),
        (70, "gateway"), (78, "worker-child"), (85, "worker-child"), (95, "worker-group"),
        (105, "worker-child"), (120, "redis-kill"), (135, "worker-child"),
        (150, "worker-group"), (160, "worker-child"), (170, "worker-child"),
    ],
    "short": [
        (8, "worker-child"), (16, "worker-group"), (26, "redis-kill"), (36, "gateway"),
        (44, "redis-term"),
    ],
}
DEFAULT_SECONDS = {"default": 180.0, "short": 55.0}


@dataclass
class Stack:
    """The gateway and the worker, restartable, on one Redis."""

    env: dict[str, str]
    logs: Path
    workers: int
    port: int = field(default_factory=free_port)
    gateway: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        env = dict(self.env, PARLEY_PORT=str(self.port))
        return subprocess.Popen([sys.executable, "-m", "gateway.cli", *args], env=env,
                                cwd=REPO, stdout=(self.logs / log).open("a"),
                                stderr=subprocess.STDOUT, start_new_session=True)

    def start_gateway(self) -> None:
        self.gateway = self._spawn(["gateway"], "gateway.log")
        wait_for_port(self.port, 60)

    def start_worker(self) -> None:
        self.worker = self._spawn(["worker", "-c", str(self.workers), "--loglevel", "INFO"],
                                  "worker.log")

    def worker_children(self) -> list[int]:
        """The prefork processes: children of the Celery worker that ``parley worker``
        runs (and restarts) as its own child."""
        assert self.worker is not None
        return [pid for main in _children(self.worker.pid) for pid in _children(main)]

    def stop(self) -> None:
        for process in (self.gateway, self.worker):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in (self.gateway, self.worker):
            if process is not None:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, check=False).stdout
    return [int(child) for child in out.split()]


@dataclass
class Offered:
    """What the load generator saw."""

    accepted_at: dict[str, float] = field(default_factory=dict)  # message id → first 202
    conversation_of: dict[str, str] = field(default_factory=dict)
    last_of: dict[str, str] = field(default_factory=dict)        # conversation → last accepted
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    refused: int = 0  # connections refused or reset, and timeouts


async def offer(url: str, rate: float, seconds: float, conversations: int,
                offered: Offered, deadline: float) -> None:
    """Each conversation sends its messages one after another (the next once the previous
    is accepted); the conversations together start ``rate`` messages a second."""
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=10)
    queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(conversations)]
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def post_until_accepted(conversation: int, n: int) -> None:
            cid, mid = f"chaos{conversation}", f"m{n}"
            body = json.dumps({"conversation_id": cid, "user_id": f"u{conversation}",
                               "message_id": mid, "text": TEXTS[n % len(TEXTS)]}).encode()
            backoff = 0.2
            while time.monotonic() < deadline:
                stamp = str(int(time.time()))
                wait = backoff
                try:
                    async with session.post(f"{url}/channels/web/messages", data=body, headers={
                            "Content-Type": "application/json", "X-Parley-Timestamp": stamp,
                            "X-Parley-Signature": sign(SECRET, stamp, body)}) as response:
                        offered.statuses[response.status] += 1
                        if response.status == 202:
                            offered.accepted_at.setdefault(mid, time.monotonic())
                            offered.conversation_of[mid] = cid
                            offered.last_of[cid] = mid
                            return
                        if response.status < 500 and response.status != 429:
                            print(f"{mid}: HTTP {response.status} {await response.text()}",
                                  file=sys.stderr)
                            return
                        wait = float(response.headers.get("Retry-After", backoff))
                except (aiohttp.ClientError, TimeoutError):
                    offered.refused += 1
                await asyncio.sleep(min(wait, 2.0) * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, 2.0)

        async def conversation_loop(conversation: int) -> None:
            while True:
                n = await queues[conversation].get()
                if n < 0:
                    return
                await post_until_accepted(conversation, n)

        async with asyncio.TaskGroup() as group:
            loops = [group.create_task(conversation_loop(c)) for c in range(conversations)]
            start = time.monotonic()
            for n in range(int(rate * seconds)):
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                queues[n % conversations].put_nowait(n)
            for queue in queues:
                queue.put_nowait(-1)
            del loops


def run_faults(schedule: list[tuple[float, str]], start: float, stack: Stack,
               bus: RedisServer, down: float, happened: list[tuple[float, str]],
               stop: threading.Event) -> None:
    for at, fault in schedule:
        if stop.wait(max(0.0, start + at - time.monotonic())):
            return
        happened.append((time.monotonic(), fault))
        print(f"t={time.monotonic() - start:6.1f} s  fault: {fault}", flush=True)
        if fault == "worker-child":
            children = stack.worker_children()
            if children:
                os.kill(random.choice(children), signal.SIGKILL)
        elif fault in ("worker-group", "gateway"):
            process, start_again = ((stack.worker, stack.start_worker) if fault == "worker-group"
                                    else (stack.gateway, stack.start_gateway))
            assert process is not None
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            time.sleep(down)
            start_again()
        elif fault in ("redis-term", "redis-kill"):
            bus.stop(signal.SIGTERM if fault == "redis-term" else signal.SIGKILL)
            time.sleep(down)
            bus.start()


def judge(offered: Offered, sink: CallbackSink, happened: list[tuple[float, str]],
          end: float) -> dict[str, Any]:
    deliveries = sink.snapshot()
    seen_ids: set[str] = set()
    seen_parts: set[tuple[str, int]] = set()
    first_reply: dict[str, float] = {}
    newest: dict[str, tuple[int, int]] = {}
    doubled = out_of_order = 0
    for arrival, reply in deliveries:
        if reply["delivery_id"] in seen_ids or (reply["in_reply_to"], reply["index"]) in \
                seen_parts:
            doubled += 1
            continue
        seen_ids.add(reply["delivery_id"])
        seen_parts.add((reply["in_reply_to"], reply["index"]))
        first_reply.setdefault(reply["in_reply_to"], arrival)
        position = (int(reply["sequence"]), int(reply["index"]))
        conversation = reply["conversation_id"]
        if position < newest.get(conversation, (0, -1)):
            out_of_order += 1
        else:
            newest[conversation] = position
    accepted = offered.accepted_at
    lost = [mid for mid in accepted if mid not in first_reply]
    wedged = [cid for cid, mid in offered.last_of.items() if mid not in first_reply]
    wedged_ids = [f"web:site:{cid}" for cid in wedged[:5]]
    stalls = []
    bounds = [at for at, _ in happened[1:]] + [end]
    for (at, fault), until in zip(happened, bounds, strict=True):
        waits = [first_reply.get(mid, end) - max(t, at) for mid, t in accepted.items()
                 if at - 5 <= t < until]
        stalls.append({"fault": fault, "longest_stall_s": round(max(waits, default=0.0), 1)})
    return {
        "accepted": len(accepted), "answered": len(accepted) - len(lost), "lost": len(lost),
        "wedged": len(wedged), "doubled": doubled, "out_of_order": out_of_order,
        "5xx": sum(n for status, n in offered.statuses.items() if status >= 500),
        "500": offered.statuses.get(500, 0), "refused_or_timed_out": offered.refused,
        "stalls": stalls, "lost_sample": lost[:10], "wedged_ids": wedged_ids,
    }


def diagnose(url: str, conversations: list[str]) -> dict[str, Any]:
    """Where a wedged conversation stands in Redis, to tell which part held it."""
    client = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
    found: dict[str, Any] = {}
    try:
        for cid in conversations:
            key = f"parley:conv:{{{cid}}}:"
            found[cid] = {
                "seq": client.get(key + "seq"), "served": client.get(key + "served"),
                "inbox": sorted(client.hkeys(key + "inbox"), key=int)[:5],
                "queued": client.exists(key + "queued"), "lease_ms": client.pttl(key + "lease"),
                "outq": client.zcard(key + "outq"),
                "unserved": client.zscore("parley:unserved", cid)}
            head = client.zrange(key + "outq", 0, 0, withscores=True)
            if head:
                found[cid]["head"] = head[0]
                found[cid]["head_pending"] = client.xpending_range(
                    "parley:outbound", "parley-dispatchers", head[0][0], head[0][0], 1)
                found[cid]["head_in_stream"] = bool(client.xrange(
                    "parley:outbound", head[0][0], head[0][0]))
        found["queue_length"] = client.llen("parley.inbound")
        found["consumers"] = [(c["name"], c["pending"], client.exists(
            f"parley:dispatchers:alive:{c['name']}")) for c in client.xinfo_consumers(
            "parley:outbound", "parley-dispatchers")]
        found["group"] = client.xinfo_groups("parley:outbound")
    except redis.RedisError as exc:
        found["error"] = str(exc)
    finally:
        client.close()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="default")
    parser.add_argument("--seconds", type=float, help="offered period (default by schedule)")
    parser.add_argument("--rate", type=float, default=40.0, help="messages offered per second")
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--down", type=float, default=3.5, help="seconds a killed part is down")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for replies")
    parser.add_argument("--appendfsync", choices=("always", "everysec"), default="always")
    parser.add_argument("--callback-delay", type=float, default=0.0,
                        help="seconds the site takes to answer each callback")
    parser.add_argument("--model", type=Path, help="a trained model of the example bot")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)
    seconds = args.seconds or DEFAULT_SECONDS[args.schedule]
    schedule = [(at, fault) for at, fault in SCHEDULES[args.schedule] if at < seconds]
    sink = CallbackSink(args.callback_delay)
    sink.start()
    with tempfile.TemporaryDirectory(prefix="parley-chaos-") as tmp:
        workdir = Path(tmp)
        model = args.model or save_model(
            train_model(load_training_data(BOT), load_nlu_config(BOT)), workdir / "model.tar.gz")
        bus = RedisServer(workdir, args.appendfsync)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        # A copy of the bot: the desk's SQLite file (parley.db) is made in the bot folder,
        # and must not be left in the repository's example.
        bot = workdir / BOT.name
        shutil.copytree(BOT, bot, ignore=shutil.ignore_patterns(
            "models", "reports", "__pycache__", "parley.db*", ".parley"))
        env.update(PARLEY_REDIS_URL=bus.url, PARLEY_WEB_SECRET=SECRET,
                   PARLEY_WEB_CALLBACK_URL=sink.url, PARLEY_BOT_DIR=str(bot),
                   PARLEY_MODEL=str(model), PARLEY_ENCRYPTION_KEYS=new_key())
        stack = Stack(env=env, logs=workdir, workers=args.workers)
        offered, happened, stop = Offered(), [], threading.Event()
        try:
            stack.start_worker()
            client = redis.Redis.from_url(bus.url)
            deadline = time.monotonic() + 120
            while not client.exists("parley:workers:heartbeat"):
                if time.monotonic() > deadline:
                    raise SystemExit("the worker did not start")
                time.sleep(0.2)
            client.close()
            stack.start_gateway()
            start = time.monotonic()
            faults = threading.Thread(target=run_faults, args=(
                schedule, start, stack, bus, args.down, happened, stop), daemon=True)
            faults.start()
            asyncio.run(offer(f"http://127.0.0.1:{stack.port}", args.rate, seconds,
                              args.conversations, offered,
                              deadline=start + seconds + args.drain))
            faults.join()
            offered_end = time.monotonic()
            while time.monotonic() < offered_end + args.drain:
                if set(offered.accepted_at) <= sink.answered():
                    break
                time.sleep(0.5)
            end = time.monotonic()
            result = judge(offered, sink, happened, end)
            result["wedged_state"] = diagnose(bus.url, result.pop("wedged_ids"))
        finally:
            stop.set()
            stack.stop()
            bus.stop()
            for log in ("gateway.log", "worker.log"):
                keep = os.environ.get("CHAOS_LOGS")
                if keep and (workdir / log).exists():
                    shutil.copy(workdir / log, Path(keep) / log)
    result = {"schedule": args.schedule, "seconds": seconds, "rate": args.rate,
              "appendfsync": args.appendfsync, "callback_delay": args.callback_delay,
              **result}
    for key, value in result.items():
        if key != "stalls":
            print(f"{key:<22}{value}")
    for stall in result["stalls"]:
        print(f"  stall after {stall['fault']:<14}{stall['longest_stall_s']} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
