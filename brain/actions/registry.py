"""Loading a bot's ``actions.py`` and finding its ``@action`` functions."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from brain.actions.context import ActionContext
from brain.errors import BotDataError, Problem

__all__ = ["ActionFunction", "ActionRegistry", "action", "load_actions"]

ActionFunction = Callable[[ActionContext], list[Any] | None]
F = TypeVar("F", bound=Callable[..., Any])
_TAG = "__parley_action__"


def action(name: str) -> Callable[[F], F]:
    """Tag ``function`` as the custom action ``name`` (no registration happens here)."""
    if not name.startswith(("action_", "validate_")):
        raise ValueError(f"action names start with action_ or validate_, got {name!r}")

    def tag(function: F) -> F:
        setattr(function, _TAG, name)
        return function

    return tag


class ActionRegistry:
    """The custom actions of one bot, by name."""

    def __init__(self, actions: dict[str, ActionFunction] | None = None) -> None:
        self._actions = dict(actions or {})

    def get(self, name: str) -> ActionFunction | None:
        return self._actions.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._actions))

    @classmethod
    def from_module(cls, module: ModuleType) -> ActionRegistry:
        found = {}
        for value in vars(module).values():
            name = getattr(value, _TAG, None)
            if isinstance(name, str) and callable(value):
                found[name] = value
        return cls(found)


def load_actions(bot_dir: Path) -> ActionRegistry:
    """Import ``BOTDIR/actions.py`` (if any) under a name of its own and collect its actions."""
    path = bot_dir / "actions.py"
    if not path.is_file():
        return ActionRegistry()
    module_name = f"parley_bot_actions_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BotDataError([Problem(str(path), None, "cannot import actions.py")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's module can raise anything at import time
        del sys.modules[module_name]
        line = _error_line(exc, path)
        raise BotDataError([Problem(str(path), line, f"actions.py failed to import: "
                                    f"{type(exc).__name__}: {exc}")]) from exc
    return ActionRegistry.from_module(module)


def _error_line(exc: BaseException, path: Path) -> int | None:
    if isinstance(exc, SyntaxError):
        return exc.lineno
    trace = exc.__traceback__
    line = None
    while trace is not None:
        if Path(trace.tb_frame.f_code.co_filename) == path:
            line = trace.tb_lineno
        trace = trace.tb_next
    return line
