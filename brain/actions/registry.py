"""A bot's custom actions, by name, and loading them from its folder.

Three kinds, found in this order (a name defined twice is an error):
  * ``@action("name")`` functions (Parley's own, given an ``ActionContext``);
  * ``rasa_sdk.Action`` subclasses (and ``FormValidationAction``), run in-process
    (``rasa_sdk_bridge``); both kinds may live in ``actions.py`` and in ``actions/``;
  * with an ``action_endpoint`` in ``endpoints.yml``: the names the domain lists under
    ``actions:`` that the folder does not define, run on that Rasa action server
    (``remote``), as Rasa runs every custom action.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from brain.actions.context import ActionContext
from brain.actions.modules import import_bot_modules, module_prefix
from brain.actions.rasa_protocol import RasaActions
from brain.actions.rasa_sdk_bridge import InProcessRasaActions, rasa_actions_in
from brain.actions.remote import RemoteRasaActions
from brain.endpoints_settings import load_endpoints
from brain.errors import BotDataError, Problem
from brain.yaml_source import YamlMap, load_yaml_file

__all__ = ["ActionFunction", "ActionRegistry", "action", "load_actions"]

ActionFunction = Callable[[ActionContext], list[Any] | None]
F = TypeVar("F", bound=Callable[..., Any])
_TAG = "__parley_action__"
_log = logging.getLogger("parley.brain.actions")


def action(name: str) -> Callable[[F], F]:
    """Tag ``function`` as the custom action ``name`` (no registration happens here)."""
    if not name.startswith(("action_", "validate_")):
        raise ValueError(f"action names start with action_ or validate_, got {name!r}")

    def tag(function: F) -> F:
        setattr(function, _TAG, name)
        return function

    return tag


class ActionRegistry:
    """The custom actions of one bot, by name: Parley functions (``get``) and Rasa actions,
    in-process or remote (``rasa``)."""

    def __init__(self, actions: dict[str, ActionFunction] | None = None, *,
                 rasa: RasaActions | None = None, rasa_names: Iterable[str] = (),
                 remote: RasaActions | None = None, remote_names: Iterable[str] = ()) -> None:
        self._actions = dict(actions or {})
        self._rasa, self._rasa_names = rasa, frozenset(rasa_names) if rasa else frozenset()
        local = {*self._actions, *self._rasa_names}
        self.remote = remote
        self._remote_names = frozenset(remote_names) - local if remote else frozenset()

    def get(self, name: str) -> ActionFunction | None:
        return self._actions.get(name)

    def rasa(self, name: str) -> RasaActions | None:
        """Where the Rasa action ``name`` runs, if it is one."""
        if name in self._rasa_names:
            return self._rasa
        return self.remote if name in self._remote_names else None

    def __contains__(self, name: object) -> bool:
        return name in self._actions or name in self._rasa_names or name in self._remote_names

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._actions, *self._rasa_names, *self._remote_names}))

    @classmethod
    def from_module(cls, module: ModuleType) -> ActionRegistry:
        return cls(_tagged([module]))


def _tagged(modules: Iterable[ModuleType]) -> dict[str, ActionFunction]:
    found: dict[str, ActionFunction] = {}
    for module in modules:
        for value in vars(module).values():
            name = getattr(value, _TAG, None)
            if isinstance(name, str) and callable(value):
                found[name] = value
    return found


def load_actions(bot_dir: Path) -> ActionRegistry:
    """Import the bot's action code (``brain.actions.modules``), collect its actions, and
    connect its action server if ``endpoints.yml`` names one."""
    modules = import_bot_modules(bot_dir)
    functions = _tagged(modules)
    rasa, rasa_names = None, frozenset[str]()
    from brain.dialogue.engine import BUILTIN_ACTIONS  # the engine imports this package

    # A Rasa class overriding an action Parley runs itself would silently never run.
    reserved = {*BUILTIN_ACTIONS, "action_session_start"}
    classes = rasa_actions_in(modules, module_prefix(bot_dir), reserved=reserved)
    if classes:
        local = InProcessRasaActions(classes)
        rasa, rasa_names = local, local.names
    twice = sorted(set(functions) & rasa_names)
    if twice:
        raise BotDataError([Problem(str(bot_dir), None, f"action '{twice[0]}' is defined "
                                    "twice: as an @action function and a rasa_sdk class")])
    endpoint = load_endpoints(bot_dir).action_endpoint
    if endpoint is None:
        return ActionRegistry(functions, rasa=rasa, rasa_names=rasa_names)
    remote = RemoteRasaActions(endpoint)
    _log.info("actions not defined in %s run on the action server at %s", bot_dir,
              endpoint.url)
    return ActionRegistry(functions, rasa=rasa, rasa_names=rasa_names, remote=remote,
                          remote_names=_domain_actions(bot_dir))


def _domain_actions(bot_dir: Path) -> list[str]:
    """The custom action names ``domain.yml`` lists (its reader reports any defect)."""
    try:
        doc = load_yaml_file(bot_dir / "domain.yml")
    except BotDataError:
        return []
    items = doc.get("actions") if isinstance(doc, YamlMap) else None
    # An item is a name, or (Rasa 3) {name: {send_domain: true}}.
    names = [next(iter(i)) if isinstance(i, dict) and len(i) == 1 else i for i in items or []]
    return [str(n) for n in names if isinstance(n, str) and not n.startswith("utter_")]
