"""What a worker process keeps for its whole life: settings, Redis clients, the bot.

Loaded once per process (the NLU model takes seconds to load), at ``worker_process_init``
or on first use.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from brain.bot import Bot
from brain.handoff.settings import load_desk_settings
from channels.redaction import Redactor
from integrations import OrdersClient, OrdersSettings
from workers import liveness, metrics
from workers.bus import HEARTBEAT_KEY
from workers.conversation_store import ConversationStore
from workers.handoff_desk import RedisHandoffDesk
from workers.model_switch import ModelSwitch, load_bot
from workers.ordering import LeaseRenewer
from workers.settings import WorkerSettings

__all__ = ["WorkerRuntime", "runtime"]

_log = logging.getLogger("parley.workers.runtime")


@dataclass(frozen=True)
class WorkerRuntime:
    settings: WorkerSettings
    redis: redis.Redis
    store: ConversationStore
    leases: LeaseRenewer
    bot: Bot
    desk: RedisHandoffDesk
    models: ModelSwitch | None = None  # swaps bot.nlu between serves (parley model activate)
    # What the turn records keep of personal data (workers.turn_redaction).
    redactor: Redactor = field(default_factory=Redactor)


@functools.cache
def runtime() -> WorkerRuntime:
    settings = WorkerSettings.from_env()
    # No blocking commands: a socket silent this long belongs to a Redis that went away.
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5,
                                  socket_timeout=10, health_check_interval=30)
    clients = {}
    if os.environ.get("PARLEY_ORDERS_URL"):
        clients["orders"] = OrdersClient(OrdersSettings.from_env(), observer=metrics.BACKENDS)
    bot, active_version, model_path = load_bot(client, settings.bot_dir, settings.model_path,
                                               clients)
    domain = bot.engine.domain
    desk = RedisHandoffDesk(client, load_desk_settings(settings.bot_dir, intents=domain.intents,
                                                       slots=domain.slots))
    bot.engine.desk = desk
    bot.engine.runner.observer = metrics.action_ran  # custom actions run / failed
    metrics.model_serving(bot.nlu.version)
    _publish_to_desk(desk, bot)
    _start_heartbeat(client, settings.health_file)
    leases = LeaseRenewer(client, int(settings.lease_seconds * 1000))
    store = ConversationStore(client, archive_max=settings.archive_max,
                              retention=settings.retention)
    models = ModelSwitch(client, bot, version=active_version, path=model_path,
                         on_switch=metrics.model_serving)
    models.start()
    return WorkerRuntime(settings, client, store, leases, bot, desk, models=models,
                         redactor=Redactor(kinds=settings.redact_kinds))


def _publish_to_desk(desk: RedisHandoffDesk, bot: Bot) -> None:
    """The teams, the bot's plain responses as the agents' canned replies, and the intent
    and entity names of its domain and model (the review page's picker)."""
    responses = {name: variations[0].text
                 for name, variations in bot.engine.domain.responses.items()
                 if variations and variations[0].text and "{" not in variations[0].text}
    domain, meta = bot.engine.domain, bot.nlu.meta
    intents = [*domain.intents, *meta.get("intents", ())]
    entities = [*domain.entities, *meta.get("entities", ())]
    try:
        desk.publish(responses, intents=intents, entities=entities)
    except redis.RedisError as exc:  # the next worker start (or restart) publishes them
        _log.warning("team settings not published to the desk: %s", exc)


def _start_heartbeat(client: redis.Redis, health_file: Path | None) -> None:
    """Tell gateways (``/readyz``) a worker with a loaded bot is alive: a key that expires
    unless refreshed every few seconds; and this pod's probes, through ``health_file``
    (``workers.liveness``), touched whether or not Redis answers."""

    def beat() -> None:
        unwritable = False
        while True:
            try:
                client.set(HEARTBEAT_KEY, os.getpid(), ex=15)
            except redis.RedisError:
                pass  # Redis is down: the key expires and readiness says so
            if health_file is not None:
                try:
                    liveness.touch(health_file)
                    unwritable = False
                except OSError as exc:
                    if not unwritable:  # once per outage, not every 5 s
                        _log.error("cannot touch the health file %s: %s", health_file, exc)
                    unwritable = True
            time.sleep(5)

    threading.Thread(target=beat, daemon=True, name="parley-heartbeat").start()
