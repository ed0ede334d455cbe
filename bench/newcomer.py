"""The newcomer's path, exactly: the README's run command on a fresh clone, no redis-server.

Clones this repository's HEAD into a temporary folder, runs the install part of the
README's run command there (a new virtualenv, ``pip install`` from ``constraints.txt``),
then its last part (``.venv/bin/parley run``) with an empty ``PATH`` — no ``redis-server``,
no ``python3`` to be found — and a clean ``HOME``, as on a laptop that has only Python. It
waits for "Parley is running", opens a chat session as the widget does and asks "where is
my order ORD-55821"; the answer must be the demo order's. Then, as the newcomer would at
``/desk/analytics``, it logs in to the desk with the admin's printed one-time password,
chooses a new one, and asks the analytics API for today: the conversation just had must be
counted there (the archiver stored it). Prints the bus that served, the seconds to install,
to ready, to the first answer and to the conversation being in the analytics, and as its
last line one JSON object with those figures. Exit status 1 if anything is wrong.
``.ci/run`` runs it after the suite.

    python bench/newcomer.py                      # the whole path (a new venv: minutes)
    python bench/newcomer.py --venv .venv --bus fakeredis   # reuse a venv; one bus kind
    python bench/newcomer.py --venv .venv --keep-path        # redis-server from PATH

``--venv`` skips the install (time to first answer of one bus kind, in an installed
environment); ``--bus`` is passed to ``parley run``; ``--keep-path`` runs it with this
``PATH`` (so a ``redis-server`` on it serves).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
QUESTION = "where is my order ORD-55821"
EXPECTED = "Order ORD-55821 has shipped with DHL"
READY_SECONDS = 600


def readme_run_command(readme: Path) -> str:
    """The README's run command: the first shell line that ends in ``parley run``."""
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("python3 -m venv") and line.rstrip().endswith("parley run"):
            return line.strip()
    raise SystemExit(f"no run command (a line ending in 'parley run') in {readme}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def install(clone: Path, steps: list[str], home: Path) -> float:
    """Run the install part of the command in the clone, with the ordinary PATH."""
    started = time.monotonic()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8"}
    for step in steps:
        print(f"$ {step}", flush=True)
        subprocess.run(["bash", "-c", step], cwd=clone, env=env, check=True)
    return time.monotonic() - started


async def first_answer(url: str, timeout: float) -> tuple[str, float]:
    """As the widget does: a session, the WebSocket, one question; the first reply to it."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/channels/web/session", json={}) as response:
            response.raise_for_status()
            token = (await response.json())["token"]
        async with http.ws_connect(f"{url}/channels/web/ws") as ws:
            await ws.send_json({"type": "hello", "token": token, "after": 0})
            asked = uuid.uuid4().hex
            await ws.send_json({"type": "message", "id": asked, "text": QUESTION})
            async with asyncio.timeout(timeout):
                async for message in ws:
                    frame: dict[str, Any] = json.loads(message.data)
                    # Only the reply to the question (not a greeting, nor an echo of it).
                    if frame.get("type") == "reply" and frame.get("in_reply_to") == asked:
                        return str(frame.get("text", "")), time.monotonic() - started
    raise ConnectionError("the socket closed before the answer came")


async def analytics_conversations(url: str, email: str, password: str, timeout: float
                                  ) -> tuple[int, float]:
    """As the newcomer at /desk/analytics: log in, replace the one-time password, read
    today's figures until a conversation is counted (the archiver works in the background);
    (conversations counted, seconds it took)."""
    started = time.monotonic()
    # unsafe: keep the session cookie of a host that is an IP address, as a browser does
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{url}/desk/api/login",
                             json={"email": email, "password": password}) as response:
            response.raise_for_status()
            csrf = (await response.json())["csrf_token"]
        async with http.post(f"{url}/desk/api/password", headers={"X-CSRF-Token": csrf},
                             json={"current": password, "new": uuid.uuid4().hex}) as response:
            response.raise_for_status()
        counted = 0
        while time.monotonic() - started < timeout:
            async with http.get(f"{url}/desk/api/analytics") as response:
                response.raise_for_status()
                counted = int((await response.json())["total"]["conversations"])
            if counted:
                break
            await asyncio.sleep(0.5)
    return counted, time.monotonic() - started


def run_and_ask(clone: Path, command: str, *, home: Path, bus: str, keep_path: bool,
                log: Path) -> dict[str, Any]:
    port = free_port()
    empty = home / "empty-path"
    empty.mkdir(exist_ok=True)
    path = os.environ.get("PATH", "") if keep_path else str(empty)
    env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "PARLEY_PORT": str(port)}
    argv = shlex.split(command) + ([] if bus == "auto" else ["--bus", bus])
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=clone, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while "Parley is running" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() - started > READY_SECONDS:
                raise SystemExit(f"parley run did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        ready = time.monotonic() - started
        text, answer = asyncio.run(first_answer(f"http://127.0.0.1:{port}", 120))
        login = re.search(r"desk: log in as (\S+) with the one-time password (\S+)",
                          log.read_text(errors="replace"))
        if login is None:
            raise SystemExit(f"parley run printed no desk login:\n{log.read_text()[-3000:]}")
        counted, archived = asyncio.run(analytics_conversations(
            f"http://127.0.0.1:{port}", login.group(1), login.group(2), 60))
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log.read_text(errors="replace")
    served = re.search(r"bus: Started (?:a private |an embedded in-process Redis \()"
                       r"(redis-server|valkey-server|fakeredis)", output)
    return {"bus": served.group(1) if served else "unknown", "ready_seconds": round(ready, 2),
            "answer_seconds": round(answer, 3), "answer": text,
            "analytics_conversations": counted, "analytics_seconds": round(archived, 2),
            "trained": "training on" in output, "exit_status": process.returncode}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, help="use this installed venv (skip install)")
    parser.add_argument("--bus", default="auto", choices=("auto", "valkey-server", "fakeredis"))
    parser.add_argument("--keep-path", action="store_true",
                        help="run with this PATH instead of an empty one")
    args = parser.parse_args()
    command = readme_run_command(REPO / "README.md")
    *install_steps, run_step = command.split(" && ")
    with tempfile.TemporaryDirectory(prefix="parley-newcomer-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        if args.venv:
            clone, installed = REPO, 0.0
            run_step = f"{args.venv.resolve()}/bin/parley run"
        else:
            clone = root / "parley"
            subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
            installed = install(clone, install_steps, home)
        result = run_and_ask(clone, run_step, home=home, bus=args.bus, keep_path=args.keep_path,
                             log=root / "run.log")
        if not result["answer"].startswith(EXPECTED):
            print((root / "run.log").read_text(errors="replace")[-3000:], file=sys.stderr)
    result = {"install_seconds": round(installed, 1), **result,
              "ok": result["answer"].startswith(EXPECTED) and result["exit_status"] == 0
              and result["analytics_conversations"] >= 1}
    print(f"bus {result['bus']}: installed in {result['install_seconds']} s, ready after "
          f"{result['ready_seconds']} s (trained: {result['trained']}), first answer "
          f"{result['answer_seconds']} s later; answer: {result['answer']!r}; "
          f"in the desk's analytics {result['analytics_seconds']} s after that: "
          f"{result['analytics_conversations']} conversation(s); "
          f"exit status {result['exit_status']}")
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
