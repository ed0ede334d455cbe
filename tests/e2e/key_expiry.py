"""Which of Parley's Redis keys have no expiry and should (``workers.retention``): every key
is a conversation's (it expires) unless ``GLOBAL_KEYS`` names it, or it belongs to an open
handoff (its conversation's keys while the owner is a person, the handoff's record while it
is waiting, offline or active)."""

from __future__ import annotations

import fnmatch
import re

import redis

from workers.bus import conversation_key, desk_key
from workers.retention import GLOBAL_KEYS

__all__ = ["families", "keys_without_expiry"]

_CONVERSATION = re.compile(r"parley:conv:\{(?P<cid>.*)\}:(?P<part>[^:]+)(?::.*)?")
_HANDOFF = re.compile(r"parley:desk:handoff:(?P<id>[0-9a-f]+)")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _global(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern, _ in GLOBAL_KEYS)


def _open(client: redis.Redis, key: str) -> bool:
    """``key`` belongs to a handoff that is open, so it is exempt while it is."""
    if found := _CONVERSATION.fullmatch(key):
        state = client.hget(conversation_key(found["cid"], "owner"), "state")
        return state in (b"queued", b"agent")
    if found := _HANDOFF.fullmatch(key):
        status = client.hget(desk_key("handoff", found["id"]), "status")
        return status in (b"waiting", b"offline", b"active")
    return False


def keys_without_expiry(client: redis.Redis) -> list[str]:
    """The keys of ``client``'s database with no TTL that are neither documented as global
    nor an open handoff's, sorted."""
    found = []
    for raw in client.scan_iter(count=1000):
        key = _text(raw)
        if client.ttl(raw) == -1 and not _global(key) and not _open(client, key):
            found.append(key)
    return sorted(found)


def families(client: redis.Redis) -> dict[str, int]:
    """How many keys of each per-conversation family (``seq``, ``tracker``, ...) and of the
    other expiring kinds (``dedupe``, ``telegram:button``...) the database holds: what a
    scan looked at, so a test can tell it saw real keys."""
    counts: dict[str, int] = {}
    for raw in client.scan_iter(count=1000):
        key = _text(raw)
        if found := _CONVERSATION.fullmatch(key):
            family = f"conv:{found['part']}"
        elif _HANDOFF.fullmatch(key):
            family = "desk:handoff"
        elif key.startswith("parley:") and not _global(key):
            family = ":".join(key.split(":")[1:3])
        else:
            continue
        counts[family] = counts.get(family, 0) + 1
    return counts
