"""Importing a bot's action code: ``BOTDIR/actions.py`` and the ``BOTDIR/actions/``
package (Rasa's layout, every module in it, as ``rasa_sdk`` walks it).

Each bot's code is imported under a name of its own (``parley_bot_actions_<n>``), so two
bots in one process never share modules; inside the package, import sibling modules
relatively (``from .helpers import x``): ``import actions.helpers`` names a package
Parley does not create. A module that fails to import is a ``BotDataError`` naming the
file and line; one that imports ``rasa_sdk`` without it installed says, in one line,
which extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from brain.errors import BotDataError, Problem

__all__ = ["import_bot_modules", "module_prefix"]

RASA_EXTRA = 'pip install "parley[rasa]"'
T = TypeVar("T")


def module_prefix(bot_dir: Path) -> str:
    """The name every module of this bot's action code starts with."""
    return f"parley_bot_actions_{abs(hash(str(bot_dir.resolve())))}"


def import_bot_modules(bot_dir: Path) -> list[ModuleType]:
    """Import ``actions.py`` and the ``actions/`` package (whichever exist), afresh."""
    prefix = module_prefix(bot_dir)
    _forget(prefix)
    modules = []
    try:
        if (bot_dir / "actions.py").is_file():
            modules.append(_import_file(bot_dir / "actions.py", prefix))
        if (bot_dir / "actions").is_dir():
            modules.extend(_import_package(bot_dir / "actions", f"{prefix}_package"))
    except BaseException:
        _forget(prefix)
        raise
    return modules


def _forget(prefix: str) -> None:
    for name in [n for n in sys.modules if n.startswith(prefix)]:
        del sys.modules[name]


def _import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BotDataError([Problem(str(path), None, f"cannot import {path.name}")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader = spec.loader
    _run(lambda: loader.exec_module(module), path)
    return module


def _import_package(root: Path, name: str) -> list[ModuleType]:
    init = root / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(name, init,
                                                      submodule_search_locations=[str(root)])
        if spec is None or spec.loader is None:
            raise BotDataError([Problem(str(init), None, "cannot import actions/")])
        package, loader = importlib.util.module_from_spec(spec), spec.loader
        sys.modules[name] = package
        _run(lambda: loader.exec_module(package), root)
    else:  # a namespace package, as rasa_sdk accepts
        package = ModuleType(name)
        package.__path__ = [str(root)]
        sys.modules[name] = package
    modules = [package]
    for info in pkgutil.iter_modules(package.__path__, prefix=f"{name}."):
        if info.ispkg:
            modules.extend(_import_package(root / info.name.rsplit(".", 1)[1], info.name))
        else:
            modules.append(_run(partial(importlib.import_module, info.name), root))
    return modules


def _run(load: Callable[[], T], root: Path) -> T:
    """Call ``load``; turn whatever the user's code raised into a ``BotDataError``."""
    try:
        return load()
    except BotDataError:
        raise
    except Exception as exc:  # a user's module can raise anything at import time
        path, line = _where(exc, root)
        raise BotDataError([Problem(str(path), line, _message(exc, path))]) from exc


def _message(exc: Exception, path: Path) -> str:
    missing = exc.name or "" if isinstance(exc, ModuleNotFoundError) else ""
    if missing.split(".")[0] == "rasa_sdk":
        return f"imports rasa_sdk, which is not installed: {RASA_EXTRA}"
    if missing.split(".")[0] == "actions":
        return (f"imports {missing!r}: import the package's own modules relatively (from "
                ".helpers import …); Parley loads each bot's actions under a name of its own")
    return f"{path.name} failed to import: {type(exc).__name__}: {exc}"


def _where(exc: BaseException, root: Path) -> tuple[Path, int | None]:
    """The file and line in the bot's code where ``exc`` arose (the deepest such frame)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return Path(exc.filename), exc.lineno
    found: tuple[Path, int | None] = (root, None)
    trace = exc.__traceback__
    while trace is not None:
        file = Path(trace.tb_frame.f_code.co_filename)
        if file == root or root in file.parents:
            found = (file, trace.tb_lineno)
        trace = trace.tb_next
    return found
