"""The workers' Prometheus metrics: one place declares them and decides what a turn counts as.

Celery's prefork pool runs each turn in a child process, so the metrics use
prometheus_client's multiprocess mode: each process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``parley worker``'s own process serves their sum at
``/metrics`` (``workers.metrics_endpoint``). The directory must be in the environment
before ``prometheus_client`` is first imported, which is why ``parley worker`` sets it
before it starts Celery. Without it (a plain ``celery worker``, tests that serve turns in
their own process) the same objects count in memory, where nothing reads them.

What is counted, from the committed turn's record (``workers.turn_record``), so that each
served entry counts once, with the same definitions as the archive (README, Analytics):

- latency (``parley_worker_turn_latency_seconds``) and NLU figures only for a person's
  messages (entry kind ``message``); latency is the record's ``latency_ms``;
- a fallback is a turn whose events reach a fallback stage >= 1 (counted once, by its
  highest stage, with the parse's ``fallback_reason``);
- a turn's outcome: ``handoff`` (it requested one), else ``replied`` (it queued a reply),
  else ``silent``.

Custom actions are counted as they run (``brain.dialogue.action_runner``'s observer),
backend calls as they end (``integrations.observer``). Gauges: the breaker state is the
worst of the live processes (``livemax``: 0 closed, 1 half-open, 2 open); the model gauge
is the number of live processes serving each model (``livesum``). Every label is bounded:
channels, entry kinds, intents, actions and clients come from code or the bot; anything
else is folded into ``other``. Never a conversation id or a text.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec

from celery.signals import worker_process_shutdown
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

from integrations.observer import BreakerState, CallOutcome
from workers.conversation_store import Commit

__all__ = ["BACKENDS", "REGISTRY", "action_ran", "model_serving", "observe_dead_letter",
           "observe_turn"]

_log = logging.getLogger("parley.workers.metrics")
_P = ParamSpec("_P")

# Declared on a registry of their own: served from the files, never from here.
REGISTRY = CollectorRegistry(auto_describe=True)

_KINDS = frozenset({"message", "conversation_start", "agent_message", "handoff_end",
                    "handoff_resume", "feedback"})
_FALLBACK_REASONS = frozenset({"empty", "low_confidence", "ambiguous"})
_COMMITTED = frozenset({Commit.NEXT, Commit.DONE, Commit.YIELDED})
_BREAKER_LEVEL = {"closed": 0.0, "half-open": 1.0, "open": 2.0}
_LABEL_MAX = 64

TURN_LATENCY = Histogram(
    "parley_worker_turn_latency_seconds",
    "A person's message: from the gateway's receipt to its replies being queued",
    ["channel"], buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY)
TURNS = Counter("parley_worker_turns", "Inbox entries served (committed), by kind and outcome",
                ["channel", "kind", "outcome"], registry=REGISTRY)
CONFIDENCE = Histogram(
    "parley_nlu_confidence", "The top intent's confidence for a person's message",
    ["channel"], buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
    registry=REGISTRY)
INTENTS = Counter("parley_nlu_intents", "A person's messages by the intent NLU predicted",
                  ["intent"], registry=REGISTRY)
FALLBACKS = Counter("parley_nlu_fallbacks",
                    "Turns that reached a fallback stage (1 did-you-mean, 2 rephrase, "
                    "3 handoff), by stage and NLU's fallback reason",
                    ["stage", "reason"], registry=REGISTRY)
ACTIONS = Counter("parley_worker_actions", "Custom actions and validators run, by outcome",
                  ["action", "outcome"], registry=REGISTRY)
BACKEND_CALLS = Counter("parley_worker_backend_calls",
                        "Backend calls by client and outcome (integrations.observer)",
                        ["client", "outcome"], registry=REGISTRY)
BREAKER_STATE = Gauge("parley_worker_breaker_state",
                      "Circuit breaker per backend: 0 closed, 1 half-open, 2 open (the worst "
                      "of the live worker processes)", ["client"],
                      multiprocess_mode="livemax", registry=REGISTRY)
MODEL = Gauge("parley_worker_model_info",
              "Live worker processes serving each NLU model version", ["model"],
              multiprocess_mode="livesum", registry=REGISTRY)
DEAD_LETTERS = Counter("parley_worker_dead_letters",
                       "Inbox entries given up on (recorded on parley:inbound:dead), by why",
                       ["reason"], registry=REGISTRY)

_serving: list[str] = []  # this process's model version, once known
_serving_lock = threading.Lock()  # the model switch reports from a thread of its own


def _best_effort(count: Callable[_P, None]) -> Callable[_P, None]:
    """Counting never fails a turn: an error (a malformed record, a full disk under the
    multiprocess files) is logged and the count skipped."""

    @functools.wraps(count)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            count(*args, **kwargs)
        except Exception:
            _log.exception("metrics: %s failed; not counted", count.__name__)

    return guarded


@_best_effort
def observe_turn(turn: Mapping[str, Any], outcome: Commit) -> None:
    """Count a served entry from its turn record (``workers.turn_record.turn_fields``), if
    its commit went through."""
    if outcome not in _COMMITTED:
        return  # refused: the turn is done again (conflict) or by another worker
    channel = _bounded(turn.get("channel"))
    kind = turn.get("kind") if turn.get("kind") in _KINDS else "other"
    events = turn.get("events") or []
    model_serving(str(turn.get("model") or ""))
    TURNS.labels(channel, kind, _outcome(events, turn.get("replies"))).inc()
    if kind != "message":
        return
    TURN_LATENCY.labels(channel).observe(float(turn.get("latency_ms") or 0.0) / 1000)
    parse = turn.get("parse") or {}
    intent = parse.get("intent") or {}
    if intent:
        CONFIDENCE.labels(channel).observe(float(intent.get("confidence") or 0.0))
        INTENTS.labels(_bounded(intent.get("name"))).inc()
    stage = max((int(e.get("stage", 0)) for e in events  # reason: understood, unserved
                 if e.get("type") == "fallback" and not e.get("reason")), default=0)
    if stage >= 1:
        reason = parse.get("fallback_reason")
        FALLBACKS.labels(str(min(stage, 3)),
                         reason if reason in _FALLBACK_REASONS else "none").inc()


@_best_effort
def observe_dead_letter(reason: str, outcome: Commit) -> None:
    """Count an entry given up on, if its commit went through; ``reason`` is the text
    recorded with it."""
    if outcome not in _COMMITTED:
        return
    if reason.startswith("missing"):
        kind = "missing"
    elif reason.startswith("cannot be decoded"):
        kind = "undecodable"
    else:
        kind = "attempts"
    DEAD_LETTERS.labels(kind).inc()


@_best_effort
def model_serving(version: str) -> None:
    """This process now parses with model ``version`` (at start, and after a switch)."""
    with _serving_lock:
        if not version or (_serving and _serving[0] == version):
            return
        if _serving:
            MODEL.labels(_bounded(_serving[0])).set(0)
            _serving.clear()
        _serving.append(version)
        MODEL.labels(_bounded(version)).set(1)


@_best_effort
def action_ran(name: str, ok: bool) -> None:
    """``brain.dialogue.action_runner.ActionObserver``."""
    ACTIONS.labels(_bounded(name), "ok" if ok else "failed").inc()


class _BackendMetrics:
    """``integrations.observer.BackendObserver`` that counts into the metrics above."""

    def call_ended(self, client: str, outcome: CallOutcome) -> None:
        _count_call(client, outcome)

    def breaker_changed(self, client: str, state: BreakerState) -> None:
        _set_breaker(client, state)


BACKENDS = _BackendMetrics()


@_best_effort
def _count_call(client: str, outcome: CallOutcome) -> None:
    BACKEND_CALLS.labels(_bounded(client), outcome).inc()


@_best_effort
def _set_breaker(client: str, state: BreakerState) -> None:
    BREAKER_STATE.labels(_bounded(client)).set(_BREAKER_LEVEL.get(state, 2.0))


def _outcome(events: list[dict[str, Any]], replies: Any) -> str:
    if any(e.get("type") == "handoff" for e in events):
        return "handoff"
    return "replied" if replies else "silent"


def _bounded(value: Any) -> str:
    text = str(value or "")
    return text[:_LABEL_MAX] if text else "none"


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _forget_process(**_: Any) -> None:
    """A pool child that exits drops out of the live gauges (its counters stay, summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
