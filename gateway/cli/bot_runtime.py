"""Everything a bot needs to run in one process: its backend clients and the loaded bot.

When ``PARLEY_ORDERS_URL`` is unset and the bot folder ships a demo orders service
(``orders_service/``, as the example bot does), it is started on a free local port so the
bot works offline; otherwise the configured URL is used.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from brain.bot import Bot
from integrations import OrdersClient, OrdersSettings

__all__ = ["bot_runtime", "import_demo_runner", "start_demo_orders"]


@contextmanager
def bot_runtime(bot_dir: Path, model: Path, console: Console) -> Iterator[Bot]:
    """Yield the loaded bot; stop its clients and demo services afterwards."""
    with ExitStack() as stack:
        clients: dict[str, Any] = {}
        settings = _orders_settings(bot_dir, stack, console)
        if settings is not None:
            orders = stack.enter_context(OrdersClient(settings))
            clients["orders"] = orders
        yield Bot.load(bot_dir, model_path=model, clients=clients)


def _orders_settings(bot_dir: Path, stack: ExitStack, console: Console) -> OrdersSettings | None:
    if os.environ.get("PARLEY_ORDERS_URL"):
        return OrdersSettings.from_env()
    url = start_demo_orders(bot_dir, stack, console)
    return None if url is None else OrdersSettings(url=url)


def start_demo_orders(bot_dir: Path, stack: ExitStack, console: Console) -> str | None:
    """Start the demo orders service ``bot_dir`` ships, if any (stopped with ``stack``);
    its URL. Callers use it only when ``PARLEY_ORDERS_URL`` is unset."""
    if not (bot_dir / "orders_service" / "runner.py").is_file():
        return None
    service = import_demo_runner(bot_dir).start_demo_service()
    stack.callback(service.stop)
    console.print(f"PARLEY_ORDERS_URL is not set: started the demo orders service at "
                  f"{service.url}")
    return str(service.url)


def import_demo_runner(bot_dir: Path) -> Any:
    """The ``orders_service.runner`` module shipped in ``bot_dir``."""
    folder = str(bot_dir.resolve())
    sys.path.insert(0, folder)
    try:
        return importlib.import_module("orders_service.runner")
    finally:
        sys.path.remove(folder)
