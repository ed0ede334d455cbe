"""Switching a running worker to another NLU model between turns (``parley model activate``).

Redis holds the model every worker should serve and what each one does serve:

``parley:model:active``   hash: ``path``, ``model_id``, ``version`` (a counter that each
                          activation bumps), ``activated_at``, and ``previous_path`` /
                          ``previous_model_id`` (for a roll-back)
``parley:model:worker:<host>:<pid>``   JSON, one per worker process, expiring 30 s after
                          its last refresh (each second): ``model_id``, ``path`` and
                          ``version`` of the model it serves, ``since`` (when it switched),
                          ``state`` — ``serving``, or ``failed`` when the newest
                          activation (``failed_version``) did not load or fit, for
                          ``error``; it then still serves the model named — ``updated_at``

Each worker process (every child of Celery's prefork pool has its own ``runtime()``) runs a
``ModelSwitch``: a thread that reads the counter every ``poll_seconds``; when it moves, the
thread loads the model named by ``path`` in full, off the turn path, while the old model
keeps serving, and checks it fits the bot's domain. Only then is it swapped in, under the
lock that ``serving()`` holds around each ``serve`` of a conversation — by the next
``serve`` itself or, on an idle worker, by the thread — so a turn parses and records
(``turn_record``'s ``model``, from ``bot.nlu.version``) with one and the same model, and
no turn ever sees a half-loaded one. A model that fails to load or fit is logged, the
worker keeps the one it has, and its status says ``failed`` with the reason. The lock
serialises serves within a process, as Celery's prefork pool (the only pool Parley runs)
does anyway. Loading shares the process's CPU and GIL with the turns: while it runs
(about a second for the example bot) turns of that process are slower, not stopped.
A newly started worker starts with the active model (``load_bot``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from brain.bot import Bot
from brain.dialogue.domain import Domain
from brain.errors import BrainError, ModelError
from brain.nlu import NluModel, find_model, load_model
from workers.bus import redis_text

__all__ = ["ACTIVE_MODEL_KEY", "WORKER_MODEL_PREFIX", "ActiveModel", "ModelSwitch",
           "activate", "load_bot", "load_checked", "model_held", "model_problems",
           "read_active", "worker_models"]

ACTIVE_MODEL_KEY = "parley:model:active"
WORKER_MODEL_PREFIX = "parley:model:worker:"
_STATUS_TTL = 30  # seconds a worker's status outlives its last refresh

_log = logging.getLogger("parley.workers.model_switch")


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """The model every worker should serve, as ``parley model activate`` published it."""

    path: Path
    model_id: str
    version: int


def read_active(client: redis.Redis) -> ActiveModel | None:
    """The published model, or None when none was ever activated."""
    fields = {redis_text(k): redis_text(v)
              for k, v in client.hgetall(ACTIVE_MODEL_KEY).items()}
    if not fields.get("path"):
        return None
    return ActiveModel(Path(fields["path"]), fields.get("model_id", ""),
                       int(fields.get("version", "0")))



def activate(client: redis.Redis, path: Path, model_id: str) -> int:
    """Publish ``path`` as the active model; return its version (the bumped counter)."""
    previous = read_active(client)
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(ACTIVE_MODEL_KEY, mapping={
            "path": str(path), "model_id": model_id, "activated_at": f"{time.time():.3f}",
            "previous_path": str(previous.path) if previous else "",
            "previous_model_id": previous.model_id if previous else ""})
        pipe.hincrby(ACTIVE_MODEL_KEY, "version", 1)
        version = int(pipe.execute()[1])
    return version


def worker_models(client: redis.Redis) -> list[dict[str, Any]]:
    """The live workers' statuses (module doc), by worker name."""
    statuses = []
    for key in sorted(client.scan_iter(match=f"{WORKER_MODEL_PREFIX}*", count=500)):
        raw = client.get(key)
        if raw is None:
            continue
        try:
            status = json.loads(raw)
        except ValueError:
            continue
        status["worker"] = redis_text(key).removeprefix(WORKER_MODEL_PREFIX)
        statuses.append(status)
    return statuses


def model_problems(model: NluModel, domain: Domain) -> tuple[list[str], list[str]]:
    """Why ``model`` cannot serve a bot with ``domain`` (errors), and what it lacks that
    the domain declares (warnings: an intent only buttons send needs no examples)."""
    intents = set(model.meta.get("intents") or model.intents)
    entities = set(model.meta.get("entities") or ())
    errors, warnings = [], []
    if extra := sorted(intents - set(domain.intents)):
        errors.append(f"it predicts intents the domain does not have: {', '.join(extra)}")
    if extra := sorted(entities - set(domain.entities)):
        errors.append(f"it extracts entities the domain does not have: {', '.join(extra)}")
    if missing := sorted(set(domain.intents) - intents):
        warnings.append(f"it never predicts these domain intents: {', '.join(missing)}")
    return errors, warnings


def load_checked(path: Path, domain: Domain) -> NluModel:
    """Load ``path`` in full and check it fits ``domain``; ``ModelError`` says why not."""
    model = load_model(path)
    errors, warnings = model_problems(model, domain)
    if errors:
        raise ModelError(f"model {path} does not fit the bot: {'; '.join(errors)}")
    for warning in warnings:
        _log.warning("model %s: %s", path, warning)
    return model


def load_bot(client: redis.Redis, bot_dir: Path, default_model: Path | None,
             clients: Mapping[str, Any]) -> tuple[Bot, int, Path]:
    """The bot with the active model if one is published and loads (else the default:
    ``PARLEY_MODEL`` or the bot folder's newest), the active version it serves (0 for the
    default) and the model's path."""
    try:
        active = read_active(client)
    except redis.RedisError as exc:
        _log.warning("active model not read (%s); starting with the default model", exc)
        active = None
    if active is not None:
        try:
            bot = Bot.load(bot_dir, model_path=active.path, clients=clients)
            errors, _ = model_problems(bot.nlu, bot.engine.domain)
            if not errors:
                return bot, active.version, active.path
            _log.error("active model %s does not fit the bot (%s); starting with the "
                       "default model", active.path, "; ".join(errors))
        except ModelError as exc:
            _log.error("active model %s not loaded (%s); starting with the default model",
                       active.path, exc)
    path = find_model(default_model or bot_dir)
    return Bot.load(bot_dir, model_path=path, clients=clients), 0, path


def model_held(models: ModelSwitch | None) -> AbstractContextManager[None]:
    """``models.serving()``, or nothing to hold for a runtime without a switch (tests)."""
    return models.serving() if models is not None else nullcontext()


class ModelSwitch:
    """Owns ``bot.nlu`` for one worker process: loads a newly activated model off the turn
    path and swaps it in between serves (module doc)."""

    def __init__(self, client: redis.Redis, bot: Bot, *, version: int, path: Path,
                 poll_seconds: float = 1.0,
                 on_switch: Callable[[str], None] | None = None) -> None:
        """``on_switch(model_id)`` runs after each swap (the worker's model metric)."""
        self._client = client
        self._on_switch = on_switch
        self._bot = bot
        self._poll = poll_seconds
        self._turns = threading.Lock()      # held by serving(): no swap during a serve
        self._pending_lock = threading.Lock()
        self._pending: tuple[int, NluModel, Path] | None = None
        self._seen = version                 # the newest version tried (loaded or failed)
        self._serving_version = version
        self._path = str(path)
        self._failure = ""
        self._failed_version = 0
        self._since = time.time()
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def start(self) -> None:
        threading.Thread(target=self._watch, daemon=True, name="parley-model-switch").start()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Hold the model for a whole ``serve``, after swapping in one loaded meanwhile."""
        with self._turns:
            self._swap_pending()
            yield

    def _watch(self) -> None:
        while True:
            try:
                self.check_now()
            except redis.RedisError as exc:  # Redis away: keep serving, look again later
                _log.debug("active model not checked: %s", exc)
            except Exception:  # the thread must outlive any surprise; the model stays
                _log.exception("model switch check failed")
            time.sleep(self._poll)

    def check_now(self) -> None:
        """One round of the thread's work: look at the counter, load, swap if idle, report."""
        raw = self._client.hget(ACTIVE_MODEL_KEY, "version")
        version = int(raw) if raw else 0
        if version != self._seen and version > 0:  # != : a Redis flushed and reused
            self._seen = version
            self._prepare(version)
        if self._pending is not None and self._turns.acquire(timeout=self._poll):
            try:  # idle between serves: swap now rather than at the next message
                self._swap_pending()
            finally:
                self._turns.release()
        self._report()

    def _prepare(self, version: int) -> None:
        """Load the active model fully, off the turn path; the old one keeps serving."""
        active = read_active(self._client)
        if active is None:
            return
        started = time.perf_counter()
        try:
            model = load_checked(active.path, self._bot.engine.domain)
        except BrainError as exc:
            self._failure, self._failed_version = f"{active.path}: {exc}", version
            _log.error("model %s not loaded, still serving %s: %s", active.path,
                       self._bot.nlu.version, exc)
            return
        except Exception as exc:  # e.g. a corrupt pickle: same answer, keep the old model
            self._failure = f"{active.path}: {type(exc).__name__}: {exc}"
            self._failed_version = version
            _log.exception("model %s not loaded, still serving %s", active.path,
                           self._bot.nlu.version)
            return
        _log.info("model %s (%s) loaded in %.1f s; switching between turns", model.version,
                  active.path, time.perf_counter() - started)
        with self._pending_lock:
            self._pending = (version, model, active.path)

    def _swap_pending(self) -> None:
        """Called with ``_turns`` held: no turn is running in this process."""
        with self._pending_lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        version, model, path = pending
        old = self._bot.nlu.version
        self._bot.nlu = model
        self._serving_version, self._path, self._since = version, str(path), time.time()
        self._failure, self._failed_version = "", 0
        _log.warning("switched NLU model %s → %s (%s)", old, model.version, path)
        if self._on_switch is not None:
            self._on_switch(model.version)

    def _report(self) -> None:
        status = {"model_id": self._bot.nlu.version, "path": self._path,
                  "version": self._serving_version, "pid": os.getpid(),
                  "state": "failed" if self._failure else "serving",
                  "error": self._failure, "failed_version": self._failed_version,
                  "since": round(self._since, 3), "updated_at": round(time.time(), 3)}
        self._client.set(f"{WORKER_MODEL_PREFIX}{self.name}", json.dumps(status),
                         ex=_STATUS_TTL)
