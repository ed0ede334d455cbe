"""How long a conversation waits when a whole worker (main process and children) dies.

Starts ``parley worker -c 2`` on its own Redis database (default 15, flushed before and
after) with the test fixture bot whose ``/slow`` action takes 3 s, enqueues one ``/slow``
message the way the gateway does, SIGKILLs the worker's whole process group while the turn
runs, starts a second worker, and times from the kill until the reply is in the outbound
stream. The message waits in its conversation's inbox; it is served again once the dead
worker's lease has expired and the gateway's inbox sweep (run here as every gateway runs
it) asks for the conversation — or, with ``--no-sweep``, once kombu restores the dead
worker's task message after the visibility timeout. Prints the figures and, last, one
JSON line.

    python bench/worker_recovery.py [--visibility S] [--lease S] [--no-sweep]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model
from channels.models import InboundMessage, decode_outbound
from gateway.sweeper import InboxSweeper
from workers.bus import HEARTBEAT_KEY, OUTBOUND_STREAM, conversation_key
from workers.inbox import enqueue
from workers.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[1]
BOT = REPO / "tests" / "fixtures" / "bots" / "dialogue_bot"
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(WorkerSettings)}


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker", "-c", "2",
                             "--loglevel", "WARNING"], env=env, cwd=REPO,
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _ready(client: redis.Redis, process: subprocess.Popen[bytes]) -> None:
    client.delete(HEARTBEAT_KEY)
    deadline = time.monotonic() + 90
    while not client.exists(HEARTBEAT_KEY):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the worker did not start")
        time.sleep(0.1)


def _sweep_in_background(url: str) -> None:
    """The inbox sweep every gateway runs (``gateway.sweeper``), in a daemon thread."""
    async def sweep() -> None:
        sweeper = InboxSweeper(aioredis.Redis.from_url(url), owner="bench")
        await sweeper.start()
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(sweep(),), daemon=True).start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visibility", type=float, default=_DEFAULTS["visibility_timeout"],
                        help="PARLEY_VISIBILITY_TIMEOUT (seconds)")
    parser.add_argument("--lease", type=float, default=_DEFAULTS["lease_seconds"],
                        help="PARLEY_LEASE_SECONDS")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--no-sweep", action="store_true",
                        help="no gateway's inbox sweep: recovery by the visibility timeout")
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    workers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        model = save_model(train_model(load_training_data(BOT), load_nlu_config(BOT)),
                           Path(tmp) / "model.tar.gz")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env.update(PARLEY_REDIS_URL=args.redis_url, PARLEY_BOT_DIR=str(BOT),
                   PARLEY_MODEL=str(model), PARLEY_VISIBILITY_TIMEOUT=str(args.visibility),
                   PARLEY_LEASE_SECONDS=str(args.lease))
        try:
            workers.append(_worker(env, Path(tmp) / "first.log"))
            _ready(client, workers[0])
            if not args.no_sweep:
                _sweep_in_background(args.redis_url)
            message = InboundMessage(channel="web", account="bench", chat="slow",
                                     user_id="u", message_id="slow-1", payload="/slow",
                                     received_at=time.time())
            enqueue(client, message)
            lease = conversation_key(message.conversation_id, "lease")
            while not client.exists(lease):
                time.sleep(0.02)
            os.killpg(workers[0].pid, signal.SIGKILL)
            killed = time.monotonic()
            workers[0].wait()
            workers.append(_worker(env, Path(tmp) / "second.log"))
            _ready(client, workers[1])
            started = time.monotonic() - killed
            while not client.xlen(OUTBOUND_STREAM):
                if time.monotonic() - killed > args.visibility + args.lease + 60:
                    raise SystemExit("no reply: the message was lost")
                time.sleep(0.05)
            recovered = time.monotonic() - killed
            time.sleep(3)
            replies = [decode_outbound(f[b"message"]).text
                       for _, f in client.xrange(OUTBOUND_STREAM)]
        finally:
            for process in workers:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=30)
            client.flushdb()
    result = {"visibility_timeout": args.visibility, "lease_seconds": args.lease,
              "sweep": not args.no_sweep,
              "second_worker_ready_s": round(started, 1), "recovered_s": round(recovered, 1),
              "replies": len(replies), "text": replies[0] if replies else None}
    for key, value in result.items():
        print(f"{key:<22}{value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
