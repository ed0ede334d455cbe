"""Log lines that flood while their cause lasts, let through once per key a while.

A client sending garbage, Redis down for every request, a site on a refused origin: each
would write a line per request. ``Throttle`` lets a key's line through at most once per
``every`` seconds and counts what it held back, so the next line can say how many.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

__all__ = ["Throttle"]


class Throttle:
    """Lets a key through at most once per ``every`` seconds, counting what it holds back.

    At most ``most`` keys are remembered (the oldest are forgotten first once their
    minute is over; while all are recent, new keys are held back), so a flood of made-up
    client addresses grows neither memory nor the log without bound."""

    def __init__(self, *, every: float = 60.0, most: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._every, self._most, self._clock = every, most, clock
        self._last: dict[Hashable, float] = {}  # key → when it was last let through
        self._held: dict[Hashable, int] = {}  # key → times held back since

    def allow(self, key: Hashable) -> int | None:
        """``None`` to hold this occurrence back; otherwise how many were held since the
        key was last let through."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._every:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        if last is None and len(self._last) >= self._most:
            self._forget(now)
            if len(self._last) >= self._most:
                return None
        self._last[key] = now
        return self._held.pop(key, 0)

    def _forget(self, now: float) -> None:
        for key, last in list(self._last.items()):
            if now - last >= self._every:
                del self._last[key]
                self._held.pop(key, None)
