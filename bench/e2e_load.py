"""End-to-end load benchmark: gateway + worker processes + Redis, the website webhook.

Starts a stack on this machine (``parley gateway`` and ``parley worker -c N``, on its own
Redis database, default 15, flushed before and after), a callback sink, then offers a fixed
rate of signed messages across many conversations for a fixed time. Each message is timed
from its POST to the arrival of its reply at the sink. Prints msg/s (replies per second
over the offered period), p50/p95/p99 latency, lost and doubled replies, and as its last
line one JSON object with those figures.

    python bench/e2e_load.py --rate 200 --seconds 60 [--workers 2] [--conversations 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import redis
from aiohttp import web

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model
from channels.web import sign

REPO = Path(__file__).resolve().parents[1]
BOT = REPO / "examples" / "support_bot"
SECRET = "bench-secret"
TEXTS = ["hi", "what are your opening hours", "how long does delivery take", "thanks",
         "are you a bot", "bye"]


class Sink:
    """Records the first arrival time of each reply, and repeats."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}   # delivery id → first arrival
        self.first: dict[str, float] = {}      # inbound message id → its first reply
        self.repeats = 0
        self.lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        reply = await request.json()
        now = time.perf_counter()
        with self.lock:
            if reply["delivery_id"] in self.arrivals:
                self.repeats += 1
            else:
                self.arrivals[reply["delivery_id"]] = now
                self.first.setdefault(reply["in_reply_to"], now)
        return web.json_response({"ok": True})

    def start(self) -> None:
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

        async def serve() -> str:
            app = web.Application()
            app.router.add_post("/callback", self._handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return f"http://127.0.0.1:{runner.addresses[0][1]}/callback"

        self.url = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_stack(args: argparse.Namespace, sink: Sink, model: Path,
                 logs: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_REDIS_URL=args.redis_url, PARLEY_WEB_SECRET=SECRET,
               PARLEY_WEB_CALLBACK_URL=sink.url, PARLEY_PORT=str(port),
               PARLEY_BOT_DIR=str(BOT), PARLEY_MODEL=str(model))
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


async def _offer(url: str, rate: float, seconds: float, conversations: int
                 ) -> dict[str, float]:
    sent: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def post(n: int) -> None:
            body = json.dumps({"conversation_id": f"bench{n % conversations}",
                               "user_id": f"u{n % conversations}", "message_id": f"m{n}",
                               "text": TEXTS[(n // conversations) % len(TEXTS)]}).encode()
            stamp = str(int(time.time()))
            sent[f"m{n}"] = time.perf_counter()
            async with session.post(f"{url}/channels/web/messages", data=body, headers={
                    "Content-Type": "application/json", "X-Parley-Timestamp": stamp,
                    "X-Parley-Signature": sign(SECRET, stamp, body)}) as response:
                if response.status != 202:
                    print(f"message m{n}: HTTP {response.status}", file=sys.stderr)

        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for n in range(int(rate * seconds)):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                group.create_task(post(n))
    return sent


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
    parser.add_argument("--drain-seconds", type=float, default=30.0)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    sink = Sink()
    sink.start()
    with tempfile.TemporaryDirectory() as tmp:
        model = save_model(train_model(load_training_data(BOT), load_nlu_config(BOT)),
                           Path(tmp) / "model.tar.gz")
        processes, url = _start_stack(args, sink, model, Path(tmp))
        try:
            started = time.perf_counter()
            sent = asyncio.run(_offer(url, args.rate, args.seconds, args.conversations))
            offered_for = time.perf_counter() - started
            deadline = time.monotonic() + args.drain_seconds
            while len(sink.first) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=30)
            client.flushdb()
    with sink.lock:
        first = dict(sink.first)
    latencies = [(first[mid] - t) * 1000 for mid, t in sent.items() if mid in first]
    in_period = sum(1 for mid in sent if first.get(mid, float("inf")) <= started + offered_for)
    result = {
        "offered_rate": args.rate, "seconds": args.seconds, "workers": args.workers,
        "messages": len(sent), "replied": len(latencies),
        "msg_per_s": round(in_period / offered_for, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 1),
        "p95_ms": round(_percentile(latencies, 0.95), 1),
        "p99_ms": round(_percentile(latencies, 0.99), 1),
        "lost": len(sent) - len(latencies), "doubled": sink.repeats,
    }
    for key, value in result.items():
        print(f"{key:<14}{value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
