"""Actions written for Rasa (``rasa_sdk.Action``, ``FormValidationAction``) run in-process.

They run through ``rasa_sdk``'s own ``ActionExecutor``, given the same JSON an action
server would get, so an action behaves here as on ``python -m rasa_sdk``: its
``Tracker`` (``get_slot``, ``latest_message``, ``events``, ``active_loop``,
``get_latest_entity_values`` …), its ``CollectingDispatcher``, its events as dicts.

``rasa-sdk`` is an optional extra (``pip install "parley[rasa]"``): this module imports it
only once a bot's actions module has (``rasa_actions_in``), so bots without Rasa actions
never need it. Not supported: a ``ValidationAction`` (``action_validate_slot_mappings``,
Rasa's global slot validation and ``extract_<slot>`` custom mappings), since Parley fills
slots from the domain's mappings: it is a load error, not an action that silently never runs.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import sys
import warnings
from collections.abc import Collection, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from brain.actions.rasa_protocol import ActionRejected, RasaResult
from brain.errors import BotDataError, Problem

__all__ = ["InProcessRasaActions", "rasa_actions_in"]

T = TypeVar("T")
_log = logging.getLogger("parley.brain.actions.rasa_sdk")


class InProcessRasaActions:
    """The bot's ``rasa_sdk`` actions, run as ``rasa_sdk``'s action server runs them."""

    def __init__(self, actions: Iterable[Any]) -> None:
        from rasa_sdk.executor import ActionExecutor

        self._executor = ActionExecutor()
        for instance in actions:
            self._executor.register_action(instance)
        self.names = frozenset(self._executor.actions)

    def run(self, call: dict[str, Any]) -> RasaResult:
        from rasa_sdk.interfaces import ActionExecutionRejection

        # Its own copy, in plain JSON as over HTTP: an action cannot reach Parley's tracker.
        call = json.loads(json.dumps(call))
        # rasa_sdk warns where it would log (a dynamic form slot without extract_<slot>):
        # log lines here too, not exceptions under a strict warnings filter.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = _run_sync(self._executor.run(call))
            except ActionExecutionRejection as exc:
                raise ActionRejected(exc.message) from exc
            finally:
                for warning in caught:
                    _log.warning("action %s: %s", call.get("next_action"), warning.message)
        answer = result.model_dump() if result is not None else {}
        answer = json.loads(json.dumps(answer))  # a value JSON cannot hold fails here
        return RasaResult(answer.get("events", []), answer.get("responses", []))


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end from sync code (workers and the shell are sync); from
    inside a running event loop, on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def rasa_actions_in(modules: Iterable[ModuleType], prefix: str, *,
                    reserved: Collection[str] = ()) -> list[Any]:
    """Instances of the ``rasa_sdk.Action`` subclasses the bot's modules (names starting
    with ``prefix``) define, as ``rasa_sdk`` registers them: concrete classes only. A name
    in ``reserved`` (an action Parley runs itself) is an error: it would never run."""
    if "rasa_sdk" not in sys.modules:
        return []  # no module imported it, so no class can derive from its Action
    from rasa_sdk import Action
    from rasa_sdk.forms import FormValidationAction, ValidationAction

    found: dict[type, Any] = {}
    for module in modules:
        for value in list(vars(module).values()):
            if (isinstance(value, type) and issubclass(value, Action) and value not in found
                    and value.__module__.startswith(prefix) and not inspect.isabstract(value)):
                if issubclass(value, ValidationAction) and not issubclass(
                        value, FormValidationAction):
                    raise BotDataError([_problem(value, "ValidationAction (Rasa's global slot "
                                                 "validation and extract_<slot> mappings) is "
                                                 "not supported: validate in a "
                                                 "FormValidationAction or a validate_<slot> "
                                                 "@action")])
                found[value] = _instance(value)
    names: dict[str, type] = {}
    for cls, instance in found.items():
        other = names.setdefault(instance.name(), cls)
        if other is not cls:
            raise BotDataError([_problem(cls, f"action '{instance.name()}' is defined twice "
                                         f"(also by {other.__name__})")])
        if instance.name() in reserved:
            raise BotDataError([_problem(cls, f"the rasa_sdk action '{instance.name()}' "
                                         "would never run: Parley runs its own (sessions "
                                         "start by session_config; restart, handoff and "
                                         "ending a form are built in)")])
    return list(found.values())


def _instance(cls: type) -> Any:
    try:
        instance = cls()
        instance.name()
    except Exception as exc:  # a user's class can raise anything; rasa_sdk would stop too
        raise BotDataError([_problem(cls, f"action class {cls.__name__} cannot be used: "
                                     f"{type(exc).__name__}: {exc}")]) from exc
    return instance


def _problem(cls: type, message: str) -> Problem:
    try:
        path, line = inspect.getsourcefile(cls), inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        path, line = None, None
    return Problem(str(Path(path)) if path else cls.__module__, line, message)
