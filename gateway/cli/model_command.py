"""``parley model activate PATH`` and ``parley model current``: which NLU model the running
workers serve.

``activate`` loads the model here first, in full, and checks it fits the bot's domain
(``workers.model_switch.model_problems``); only a model that passes is published in Redis
(``parley:model:active``), and each worker process then loads it off its turn path and
switches between turns. ``--wait`` waits until every live worker process reports the new
model, or that it could not load it (exit 1). Rolling back is activating the previous
model again (``current`` shows its path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis
from rich.console import Console
from rich.table import Table

from brain.dialogue.domain_reader import load_domain
from brain.nlu import find_model
from workers.bus import redis_text
from workers.model_switch import (
    ACTIVE_MODEL_KEY,
    activate,
    load_checked,
    model_problems,
    worker_models,
)
from workers.settings import WorkerSettings, WorkerSettingsError

__all__ = ["register"]


def register(commands: Any) -> None:
    model = commands.add_parser("model", help="switch the running workers' NLU model")
    model_commands = model.add_subparsers(dest="model_command", required=True,
                                          metavar="COMMAND")
    activate_cmd = model_commands.add_parser(
        "activate", help="make the workers serve this model, switching between turns")
    activate_cmd.add_argument("path", type=Path, metavar="PATH",
                              help="a model folder or .tar.gz the workers can read")
    activate_cmd.add_argument("--bot-dir", "--bot", dest="bot", type=Path, metavar="BOTDIR",
                              help="the bot the workers run (default PARLEY_BOT_DIR)")
    activate_cmd.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                              help="wait until every live worker process serves it "
                              "(exit 1 if one cannot, or on time-out)")
    activate_cmd.set_defaults(handler=_activate)
    current = model_commands.add_parser(
        "current", help="the active model and the one each worker process serves")
    current.add_argument("--json", action="store_true")
    current.set_defaults(handler=_current)


def _settings(bot: Path | None) -> WorkerSettings:
    env = dict(os.environ)
    if bot is not None:
        env["PARLEY_BOT_DIR"] = str(bot)
    return WorkerSettings.from_env(env)


def _client(settings: WorkerSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=10)


def _activate(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    settings = _settings(args.bot)
    path = find_model(args.path).resolve()
    domain = load_domain(settings.bot_dir)
    model = load_checked(path, domain)  # ModelError (exit 2) when it cannot serve the bot
    for warning in model_problems(model, domain)[1]:
        console.print(f"warning: {warning}")
    try:
        with _client(settings) as client:
            version = activate(client, path, model.version)
            print(f"activated {model.version} ({path}) as version {version}")
            if args.wait <= 0:
                return 0
            return _wait(client, version, args.wait, console)
    except redis.RedisError as exc:
        console.print(f"parley: error: Redis (PARLEY_REDIS_URL) did not answer: {exc}")
        return 2


def _wait(client: redis.Redis, version: int, seconds: float, console: Console) -> int:
    """Until each live worker process serves ``version`` or reported it failed."""
    deadline = time.monotonic() + seconds
    while True:
        workers = worker_models(client)
        waiting = [w for w in workers if w.get("version") != version
                   and w.get("failed_version") != version]
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    failed = [w for w in workers if w.get("failed_version") == version]
    for w in failed:
        console.print(f"worker {w['worker']} kept {w.get('model_id')}: {w.get('error')}")
    for w in waiting:
        console.print(f"worker {w['worker']} still serves {w.get('model_id')} "
                      f"after {seconds:g} s")
    if not workers:
        console.print("no worker is running: workers that start will use this model")
    else:
        console.print(f"{len(workers) - len(failed) - len(waiting)} of {len(workers)} "
                      "worker processes serve it")
    return 1 if failed or waiting else 0


def _current(args: argparse.Namespace) -> int:
    try:
        with redis.Redis.from_url(_redis_url(), socket_connect_timeout=5,
                                  socket_timeout=10) as client:
            active = {redis_text(k): redis_text(v)
                      for k, v in client.hgetall(ACTIVE_MODEL_KEY).items()}
            workers = worker_models(client)
    except redis.RedisError as exc:
        print(f"parley: error: Redis (PARLEY_REDIS_URL) did not answer: {exc}",
              file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"active": active or None, "workers": workers}, indent=2))
        return 0
    _print_current(active, workers, Console(highlight=False, soft_wrap=True))
    return 0


def _redis_url() -> str:
    """``current`` needs Redis only, not a bot folder."""
    url = os.environ.get("PARLEY_REDIS_URL", "")
    if urlparse(url).scheme not in ("redis", "rediss", "unix"):
        raise WorkerSettingsError("PARLEY_REDIS_URL must be a redis:// URL such as "
                                  "redis://127.0.0.1:6379/0" + ("" if url else " (it is not set)"))
    return url



def _print_current(active: dict[str, str], workers: list[dict[str, Any]],
                   console: Console) -> None:
    if not active:
        console.print("no model was activated: workers serve PARLEY_MODEL or the bot's newest")
    else:
        when = datetime.fromtimestamp(float(active.get("activated_at", 0)), UTC)
        console.print(f"active: {active.get('model_id')} ({active.get('path')}), version "
                      f"{active.get('version')}, since {when:%Y-%m-%d %H:%M:%S} UTC")
        if active.get("previous_path"):
            console.print(f"previous: {active.get('previous_model_id')} "
                          f"({active['previous_path']}) — roll back with "
                          f"`parley model activate {active['previous_path']}`")
    table = Table("worker", "model", "version", "state", "error", title="Worker processes")
    for w in workers:
        table.add_row(str(w["worker"]), str(w.get("model_id")), str(w.get("version")),
                      str(w.get("state")), str(w.get("error") or ""))
    console.print(table if workers else "no worker process is running")
