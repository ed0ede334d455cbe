"""How long a conversation waits when a whole worker (main process and children) dies.

Starts ``parley worker -c 2`` on its own Redis database (default 15, flushed before and
after) with the test fixture bot whose ``/slow`` action takes 3 s, publishes one ``/slow``
message the way the gateway does, SIGKILLs the worker's whole process group while the turn
runs, starts a second worker, and times from the kill until the reply is in the outbound
stream. The message comes back when kombu's restore sweep finds it unacknowledged past the
visibility timeout; it is served once the dead worker's lease on the conversation has
expired. Prints the figures and, last, one JSON line.

    python bench/worker_recovery.py [--visibility S] [--lease S]   (default: the workers')
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model
from channels.models import InboundMessage, decode_outbound
from workers.bus import HEARTBEAT_KEY, INBOUND_QUEUE, OUTBOUND_STREAM, conversation_key
from workers.bus import inbound_message as celery_message
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visibility", type=float, default=_DEFAULTS["visibility_timeout"],
                        help="PARLEY_VISIBILITY_TIMEOUT (seconds)")
    parser.add_argument("--lease", type=float, default=_DEFAULTS["lease_seconds"],
                        help="PARLEY_LEASE_SECONDS")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
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
            message = InboundMessage(channel="web", account="bench", chat="slow",
                                     user_id="u", message_id="slow-1", payload="/slow",
                                     sequence=1, received_at=time.time())
            client.lpush(INBOUND_QUEUE, celery_message(message))
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
              "second_worker_ready_s": round(started, 1), "recovered_s": round(recovered, 1),
              "replies": len(replies), "text": replies[0] if replies else None}
    for key, value in result.items():
        print(f"{key:<22}{value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
