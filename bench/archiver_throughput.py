"""The archiver's throughput: turn records from ``parley:archive`` into the database.

Fills the archive stream of a redis-server of its own (no persistence) with ``--records``
realistic turn records (``workers.turn_record``: ``--conversations`` conversations of a
greeting, then messages with a parse, 2–4 replies each, a fallback now and then, a
handoff in one conversation of ten, a thumbs rating in one of five), then starts
``parley archiver`` against a fresh database — on the PostgreSQL server ``--postgres``
(a database of its own, dropped after; the default) or, with ``--sqlite``, a file in a
temporary folder — and waits until the consumer group's backlog (lag + pending) is 0.
``--encryption on`` (the default, as in production) gives the archiver a new key in
``PARLEY_ENCRYPTION_KEYS``; ``off`` runs it with ``PARLEY_ENCRYPTION=off``, so the
difference of the two is what encryption at rest costs per turn.

Prints the settings, the wall time, turns/s, and the archiver process's CPU seconds per
1,000 turns (user + system, from /proc, between its "storing" line and the empty
backlog: its start-up is not counted), then one JSON object with those figures. Exit
status 1 if the database does not hold every record once at the end.

    python bench/archiver_throughput.py [--records 20000] [--conversations 400]
        [--batch 500] [--postgres postgresql://postgres@127.0.0.1:5432 | --sqlite]
        [--encryption on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from bench_stack import RedisServer, archive_backlog, cpu_seconds, stop_processes
from handoff_stack import REPO, postgres_database

from brain.dialogue.events import Event, FallbackTriggered, HandoffStarted, UserUttered
from brain.dialogue.tracker import Tracker
from channels.models import Button, InboundMessage, OutboundMessage
from desk.database import database_url, open_database, upgrade
from desk.encryption import new_key
from workers.bus import ARCHIVE_STREAM
from workers.turn_record import turn_record

_INTENTS = ("greet", "order_status", "refund", "opening_hours", "goodbye", "nlu_fallback")


def records(total: int, conversations: int, seed: int = 1) -> list[tuple[str, str, int]]:
    """``total`` (record, conversation id, sequence), the conversations interleaved."""
    rng = random.Random(seed)
    next_sequence = [1] * conversations
    out = []
    now = time.time() - 3600
    for i in range(total):
        chat = rng.randrange(conversations)
        sequence = next_sequence[chat]
        next_sequence[chat] += 1
        raw = _record(rng, chat, sequence, now + i * 0.01)
        out.append((raw, f"web:site:bench{chat}", sequence))
    return out


def _record(rng: random.Random, number: int, sequence: int, at: float) -> str:
    chat, conversation = f"bench{number}", f"web:site:bench{number}"
    kind = "conversation_start" if sequence == 1 else \
        "feedback" if sequence % 11 == 0 and number % 5 == 0 else "message"
    text = "" if kind != "message" else rng.choice(
        ("where is my order 12345?", "I want a refund for the blue shoes", "hi there",
         "when are you open on sunday", "blorf wibble", "thanks, bye"))
    message = InboundMessage(channel="web", account="site", chat=chat, user_id=f"u-{chat}",
                             message_id=f"{chat}-{sequence}", text=text, sequence=sequence,
                             received_at=at, kind=kind)  # type: ignore[arg-type]
    events: list[Event] = []
    if kind == "message":
        intent = rng.choice(_INTENTS)
        confidence = rng.uniform(0.2, 0.99)
        events.append(UserUttered(text=text, timestamp=at, message_id=message.message_id, parse={
            "text": text, "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": confidence / (k + 2)}
                               for k, n in enumerate(_INTENTS[:5])],
            "entities": [{"entity": "order_id", "value": "12345", "start": 18, "end": 23}],
            "fallback_reason": "low_confidence" if intent == "nlu_fallback" else None}))
        if intent == "nlu_fallback":
            events.append(FallbackTriggered(stage=1, timestamp=at))
        if sequence == 6 and number % 10 == 0:
            events.append(HandoffStarted(reason="asked", team="support", timestamp=at))
    replies = [OutboundMessage(conversation_id=conversation, channel="web",
                               in_reply_to=message.message_id, sequence=sequence, index=k,
                               text=rng.choice(("Your order ships tomorrow.",
                                                "We are open 9 to 5, Monday to Saturday.",
                                                "Sorry, I did not get that. Did you mean:",
                                                "Hello! How can I help?")),
                               buttons=(Button("Yes", "/affirm"), Button("No", "/deny"))
                               if k == 0 else ())
               for k in range(rng.randint(2, 4) if kind != "feedback" else 0)]
    feedback = {"kind": "thumbs", "value": rng.randint(0, 1), "comment": "",
                "about_sequence": sequence - 1, "about_position": 0} \
        if kind == "feedback" else None
    return turn_record(message, Tracker(conversation), events, replies, model="nlu-bench",
                       queued_at=at + 0.05, feedback=feedback)


def fill(url: str, rows: list[tuple[str, str, int]]) -> None:
    client = redis.Redis.from_url(url)
    for start in range(0, len(rows), 1000):
        pipe = client.pipeline(transaction=False)
        for raw, conversation, sequence in rows[start:start + 1000]:
            pipe.xadd(ARCHIVE_STREAM, {"record": raw, "conversation": conversation,
                                       "sequence": sequence})
        pipe.execute()
    client.close()


def measure(args: argparse.Namespace, redis_url: str, plain: str, folder: Path) -> dict[str, Any]:
    rows = records(args.records, args.conversations)
    fill(redis_url, rows)
    asyncio.run(upgrade(database_url(plain, folder)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_REDIS_URL=redis_url, PARLEY_DATABASE_URL=plain)
    if args.encryption == "on":
        env["PARLEY_ENCRYPTION_KEYS"] = new_key()
    else:
        env["PARLEY_ENCRYPTION"] = "off"
    log = folder / "archiver.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "archiver", "--batch", str(args.batch)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "storing" not in line:
            raise SystemExit(f"the archiver did not start: {line}{log.read_text()[-2000:]}")
        began, cpu_began = time.monotonic(), cpu_seconds([process.pid])
        client = redis.Redis.from_url(redis_url)
        while archive_backlog(client) != 0:
            if process.poll() is not None:
                raise SystemExit(f"the archiver exited: {log.read_text()[-2000:]}")
            if time.monotonic() - began > args.timeout:
                raise SystemExit(f"not caught up after {args.timeout} s")
            time.sleep(0.02)
        wall, cpu = time.monotonic() - began, cpu_seconds([process.pid]) - cpu_began
        client.close()
    finally:
        stop_processes([process])  # type: ignore[list-item]
    stored = asyncio.run(_count(database_url(plain, folder)))
    return {"database": "sqlite" if args.sqlite else "postgresql", "records": args.records,
            "conversations": args.conversations, "batch": args.batch, "cores": os.cpu_count(),
            "encryption": args.encryption,
            "stored": stored, "wall_s": round(wall, 2),
            "turns_per_s": round(args.records / wall, 1),
            "cpu_s_per_1000_turns": round(cpu / args.records * 1000, 3)}


async def _count(url: str) -> int:
    from sqlalchemy import func, select

    from desk.schema import TurnRow

    db = open_database(url)
    try:
        async with db.reads() as session:
            return int((await session.execute(
                select(func.count()).select_from(TurnRow))).scalar_one())
    finally:
        await db.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--conversations", type=int, default=400)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=600.0)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--postgres", metavar="SERVER",
                       default="postgresql://postgres@127.0.0.1:5432",
                       help="the PostgreSQL server to make a database on (default: %(default)s)")
    where.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    parser.add_argument("--encryption", choices=("on", "off"), default="on",
                        help="encryption at rest of the stored records (default: on)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-archiver-bench-") as tmp, \
            contextlib.ExitStack() as stack:
        folder = Path(tmp)
        server = RedisServer(folder, appendfsync=None)
        stack.callback(server.stop)
        plain = f"sqlite:///{folder / 'desk.db'}" if args.sqlite else \
            stack.enter_context(postgres_database(args.postgres))
        result = measure(args, server.url, plain, folder)
    print(f"archiver: {result['records']} turn records of {result['conversations']} "
          f"conversations into {result['database']} (batch {result['batch']}, "
          f"{result['cores']} cores, encryption {result['encryption']})")
    print(f"  {result['wall_s']} s: {result['turns_per_s']} turns/s, "
          f"{result['cpu_s_per_1000_turns']} CPU s per 1,000 turns (archiver process)")
    print(json.dumps(result))
    return 0 if result["stored"] == args.records else 1


if __name__ == "__main__":
    sys.exit(main())
