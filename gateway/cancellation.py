"""Stopping background loops reliably, although a cancellation can be lost in redis-py.

redis-py 8.1's asyncio client can swallow a ``Task.cancel()`` that arrives while a
command is in flight: the command returns its result and the task carries on, its
cancellation spent (measured: 1 in a few hundred gateway shutdowns under CPU load, each a
loop that then never ended and a ``parley run`` that hung instead of exiting). The task
still counts the request (``Task.cancelling()``), so every long-lived loop asks
``stop_requested()`` where it would otherwise go round again.
"""

from __future__ import annotations

import asyncio

__all__ = ["raise_if_stop_requested", "stop_requested"]


def stop_requested() -> bool:
    """True once the running task has been asked to stop, whether or not the
    ``CancelledError`` reached it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def raise_if_stop_requested(cause: BaseException | None = None) -> None:
    """Raise ``CancelledError`` if the running task has been asked to stop (from a retry
    loop's ``except``: a connection error can be the cancellation itself)."""
    if stop_requested():
        raise asyncio.CancelledError from cause
