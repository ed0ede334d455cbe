"""Human handoff latency: from a web chat user to the agent's WebSocket and back.

Starts a stack on this machine (``parley gateway`` with the desk on a SQLite file in a
temporary folder, or with ``--postgres SERVER`` on a database of its own created on that
PostgreSQL server and dropped after, ``parley worker -c N``, on its own Redis database,
default 15, flushed before and after — or ``--private-redis``), adds one agent of the
``support`` team with an API token, sets it online and opens its live events socket
(``/desk/api/events``). Then
runs ``--handoffs`` handoffs of the example bot, each by a new browser chat user (the
widget's protocol: a session, the WebSocket, the greeting), ``--concurrency`` at a time:

(a) ``request``: the user's "talk to a human" message sent → the agent's socket receives
    its ``handoff.requested`` event;
(c) ``user_msg``: after the claim, a user message sent → the agent's ``message.user``;
(b) ``reply``: the agent's ``POST /desk/api/handoffs/{id}/messages`` sent → the user's
    socket receives that ``reply`` frame (``reply_202``: → the POST's 202 came back);

and ends it (``--end close`` or ``handback``), so the queue stays short. Prints the
settings, the core count, p50/p95/p99/max (nearest rank) of each in ms, and as its last
line one JSON object with those figures. Exit status 1 if any handoff's event or reply
never came (each is named).

    python bench/handoff_latency.py [--handoffs 100] [--concurrency 1] [--workers 2]
        [--postgres postgresql://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis
from bench_stack import RedisServer, stop_processes
from handoff_stack import BOT, desk_database, postgres_database, start_stack

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model

ASK = "I want to talk to a human"
DURING = "my parcel still has not arrived"
MEASURES = ("request", "user_msg", "reply", "reply_202")
Stamped = tuple[float, dict[str, Any]]  # perf_counter at arrival, the frame


class Inbox:
    """One socket's frames, read by a task of its own: each kept with its arrival time,
    and handed to whoever waits for it (a waiter is registered before the frame that
    answers it is caused, so nothing is missed)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, key: Any) -> None:
        self.ws, self._key = ws, key
        self._waiting: dict[Any, asyncio.Future[Stamped]] = {}
        self.seen: dict[Any, int] = {}
        self.task = asyncio.create_task(self._read())

    def expect(self, key: Any) -> asyncio.Future[Stamped]:
        future: asyncio.Future[Stamped] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return future

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            arrived = time.perf_counter()
            frame = json.loads(message.data)
            for key in self._key(frame):
                self.seen[key] = self.seen.get(key, 0) + 1
                future = self._waiting.pop(key, None)
                if future is not None and not future.done():
                    future.set_result((arrived, frame))

    async def close(self) -> None:
        await self.ws.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _agent_keys(frame: dict[str, Any]) -> list[Any]:
    data = frame.get("data") or {}
    kind, cid = frame.get("type"), data.get("conversation_id")
    return [(kind, cid, data.get("text"))] if kind == "message.user" else [(kind, cid)]


def _user_keys(frame: dict[str, Any]) -> list[Any]:
    if frame.get("type") != "reply":
        return []
    return [("reply_to", frame.get("in_reply_to")), ("text", frame.get("text"))]


@dataclass
class Run:
    """What the handoffs measured (ms), the queue positions the users were told, and what
    never came."""

    timings: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MEASURES})
    positions: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def _wait(future: asyncio.Future[Stamped], inbox: Inbox, seconds: float, what: str
                ) -> Stamped:
    """The frame ``future`` waits for; ``LookupError`` naming ``what`` if it does not come
    within ``seconds`` or the socket that would bring it closes first."""
    either: set[asyncio.Future[Any]] = {future, inbox.task}
    await asyncio.wait(either, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    if future.done():
        return future.result()
    future.cancel()
    if inbox.task.done():
        raise LookupError(f"{what}: the socket closed ({inbox.ws.close_code})")
    raise LookupError(f"{what}: nothing after {seconds:g} s")


async def _post(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                body: Any = None) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=headers) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def _find(http: aiohttp.ClientSession, base: str, headers: dict[str, str], cid: str
                ) -> str:
    """The id of the conversation's waiting or active handoff whose event was missed ("" if
    none), so that it is ended all the same and the queue does not grow."""
    for status in ("waiting", "active"):
        async with http.get(f"{base}/desk/api/handoffs?status={status}",
                            headers=headers) as response:
            found = (await response.json())["handoffs"] if response.status == 200 else []
        for summary in found:
            if summary["conversation_id"] == cid:
                return str(summary["id"])
    return ""


async def _handoff(n: int, http: aiohttp.ClientSession, base: str, agent: Inbox,
                   headers: dict[str, str], args: argparse.Namespace, run: Run) -> None:
    """One user from a new session to the end of the handoff; the first stage that fails
    is recorded with the handoff's number, and the handoff is still ended if it exists."""
    api = f"{base}/desk/api/handoffs"
    handoff = ""
    if agent.task.done():
        run.failures.append(f"handoff {n}: not run, the agent's socket closed "
                            f"({agent.ws.close_code})")
        return
    try:
        async with http.post(f"{base}/channels/web/session", json={}) as response:
            if response.status != 200:
                run.failures.append(f"handoff {n}: session: HTTP {response.status}")
                return
            session = await response.json()
        ws = await http.ws_connect(f"{base}/channels/web/ws")
    except aiohttp.ClientError as exc:
        run.failures.append(f"handoff {n}: the chat session or socket: {exc!r}")
        return
    cid = f"webchat:browser:{session['conversation']}"
    user = Inbox(ws, _user_keys)
    try:
        greeting = user.expect(("reply_to", ""))
        await ws.send_json({"type": "hello", "token": session["token"], "after": 0})
        await _wait(greeting, user, args.timeout, "the greeting")
        ask_id = uuid.uuid4().hex
        requested = agent.expect(("handoff.requested", cid))
        told = user.expect(("reply_to", ask_id))
        sent = time.perf_counter()
        await ws.send_json({"type": "message", "id": ask_id, "text": ASK})
        arrived, event = await _wait(requested, agent, args.timeout,
                                     "handoff.requested at the agent")
        run.timings["request"].append((arrived - sent) * 1000)
        handoff = event["data"]["handoff_id"]
        _, answer = await _wait(told, user, args.timeout, "the handoff answer to the user")
        place = re.search(r"number (\d+) in the queue", answer.get("text", ""))
        if place is None:
            raise LookupError(f"the user was told {answer.get('text')!r}, not a queue place")
        run.positions.append(int(place.group(1)))
        status, body = await _post(http, f"{api}/{handoff}/claim", headers)
        if status != 200:
            raise LookupError(f"claim: HTTP {status} {body}")
        text = f"{DURING} ({n})"
        seen = agent.expect(("message.user", cid, text))
        sent = time.perf_counter()
        await ws.send_json({"type": "message", "id": uuid.uuid4().hex, "text": text})
        arrived, _ = await _wait(seen, agent, args.timeout, "message.user at the agent")
        run.timings["user_msg"].append((arrived - sent) * 1000)
        text = f"Hi, this is Ada from support, looking at it now ({n})"
        reply = user.expect(("text", text))
        sent = time.perf_counter()
        status, body = await _post(http, f"{api}/{handoff}/messages", headers,
                                   {"text": text, "client_message_id": f"bench-{n}"})
        if status != 202:
            raise LookupError(f"agent reply: HTTP {status} {body}")
        run.timings["reply_202"].append((time.perf_counter() - sent) * 1000)
        arrived, _ = await _wait(reply, user, args.timeout, "the agent's reply at the user")
        run.timings["reply"].append((arrived - sent) * 1000)
    except (LookupError, aiohttp.ClientError) as exc:
        run.failures.append(f"handoff {n} ({cid}): {exc}")
    finally:
        handoff = handoff or await _find(http, base, headers, cid)
        if handoff:
            path = "handback" if args.end == "handback" else "close"
            status, body = await _post(http, f"{api}/{handoff}/{path}", headers,
                                       {} if path == "handback" else None)
            if status != 200:
                run.failures.append(f"handoff {n}: {path}: HTTP {status} {body}")
        await user.close()


async def _bench(base: str, token: str, args: argparse.Namespace) -> Run:
    run = Run()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{base}/desk/api/presence", json={"status": "online"},
                            headers=headers) as response:
            if response.status != 200:
                raise SystemExit(f"presence: HTTP {response.status} {await response.text()}")
        ws = await http.ws_connect(f"{base}/desk/api/events", headers=headers)
        hello = json.loads((await ws.receive()).data)
        if hello.get("type") != "hello":
            raise SystemExit(f"the desk socket said {hello} first, not hello")
        agent = Inbox(ws, _agent_keys)

        async def ping() -> None:  # as the console does: keeps the agent online
            while True:
                await asyncio.sleep(15)
                await ws.send_json({"type": "ping"})

        pinger = asyncio.create_task(ping())
        numbers = iter(range(1, args.handoffs + 1))

        async def lane() -> None:
            for n in numbers:
                await _handoff(n, http, base, agent, headers, args, run)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(args.concurrency):
                    group.create_task(lane())
            await asyncio.sleep(0.5)  # anything doubled arrives meanwhile
            for status in ("waiting", "active"):
                async with http.get(f"{base}/desk/api/handoffs?status={status}",
                                    headers=headers) as response:
                    left = (await response.json())["handoffs"]
                if left:
                    run.failures.append(f"{len(left)} handoffs still {status} at the end")
            doubled = [k for k, count in agent.seen.items()
                       if count > 1 and k[0] in ("handoff.requested", "message.user")]
            if doubled:
                run.failures.append(f"events received twice: {doubled[:5]}")
        finally:
            pinger.cancel()
            await agent.close()
    return run


def _percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--handoffs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1,
                        help="handoffs in progress at once (each by its own user)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--end", choices=("close", "handback"), default="close",
                        help="how the agent ends each handoff")
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="seconds to wait for each event or reply")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--postgres", metavar="SERVER",
                        help="the desk's database on this PostgreSQL server (e.g. "
                        "postgresql://postgres@127.0.0.1:5432): a database of its own, "
                        "dropped after; default: a SQLite file")
    parser.add_argument("--private-redis", choices=("always", "everysec", "off"),
                        help="a redis-server of its own instead of --redis-url: its "
                        "append-only file fsynced always, every second, or no persistence")
    args = parser.parse_args()
    if args.handoffs < 1 or not 1 <= args.concurrency <= args.handoffs:
        parser.error("--handoffs must be at least 1, --concurrency 1 to --handoffs")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="parley-handoff-") as tmp, \
            contextlib.ExitStack() as databases:
        plain = databases.enter_context(postgres_database(args.postgres)) \
            if args.postgres else None
        bus = None
        if args.private_redis:
            bus = RedisServer(Path(tmp), None if args.private_redis == "off"
                              else args.private_redis)
            args.redis_url = bus.url
        client = redis.Redis.from_url(args.redis_url)
        client.flushdb()
        model = save_model(train_model(load_training_data(BOT), load_nlu_config(BOT)),
                           Path(tmp) / "model.tar.gz")
        desk_url, token = desk_database(Path(tmp), plain)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            url = start_stack(args, model, desk_url, Path(tmp), processes)
            started = time.monotonic()
            run = asyncio.run(_bench(url, token, args))
            measured_for = time.monotonic() - started
        finally:
            stop_processes(processes)
            client.flushdb()
            client.close()
            if bus is not None:
                bus.stop()
        if run.failures:  # what the processes said, before their folder goes
            for name in ("gateway.log", "worker.log"):
                tail = (Path(tmp) / name).read_text(errors="replace").splitlines()[-30:]
                print(f"--- the last lines of {name}:", *tail, sep="\n", file=sys.stderr)
    result: dict[str, Any] = {
        "handoffs": args.handoffs, "concurrency": args.concurrency, "workers": args.workers,
        "end": args.end, "cores": os.cpu_count(), "redis": args.private_redis or "given",
        "database": "postgresql" if args.postgres else "sqlite",
        "completed": len(run.timings["reply"]), "max_queue_position": max(run.positions,
                                                                           default=None),
        "handoffs_s": round(measured_for, 1), "total_s": round(time.monotonic() - began, 1)}
    bus_text = (f"a private redis-server (appendfsync {args.private_redis})"
                if args.private_redis in ("always", "everysec") else
                "a private redis-server (no persistence)" if args.private_redis else
                f"Redis {args.redis_url}")
    print(f"{args.handoffs} handoffs, {args.concurrency} at a time, one agent, "
          f"{args.workers} worker processes, {os.cpu_count()} cores, {bus_text}, "
          f"desk on {'PostgreSQL' if args.postgres else 'SQLite'}, ended by {args.end}, "
          f"timeout {args.timeout:g} s per step")
    print(f"{'ms':<10}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}{'n':>6}")
    for name in MEASURES:
        values = run.timings[name]
        figures = {q: round(_percentile(values, p), 1) if values else None
                   for q, p in (("p50", .5), ("p95", .95), ("p99", .99), ("max", 1.0))}
        result.update({f"{name}_{q}_ms": v for q, v in figures.items()})
        print(f"{name:<10}" + "".join(f"{v if v is not None else '-':>9}"
                                      for v in figures.values())
              + f"{len(values):>6}")
    print(f"queue places told: max {result['max_queue_position']}; handoffs took "
          f"{result['handoffs_s']} s, the whole run {result['total_s']} s")
    for failure in run.failures:
        print(f"FAILED {failure}", file=sys.stderr)
    result["failures"] = len(run.failures)
    print(json.dumps(result))
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
