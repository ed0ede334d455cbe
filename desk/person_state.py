"""A person's state in Redis: what it holds about them, and its erasure.

Which conversations are a person's: the ones the gateway noted under the person when it
accepted their messages (``workers.bus.person_key``: a set renewed like the conversation's
keys), and the ones the database knows (``desk.people``). Of each conversation:

- every key of it (``parley:conv:{<id>}:*``: the inbound numbering and inbox, the tracker
  and history, the owner, the outbound queue, the web chat's frames and delivery marks);
- WhatsApp's numbered choices and delivery statuses, Telegram's reply parts, the handoff records
  (``parley:desk:handoff:<id>``) and the desk's lists that name them;
- the dedupe keys of the messages it still names (inbox, history, archive);
- the entries of the streams that name it (replies not yet delivered, turn records not
  yet stored, desk events, dead letters), so that nothing about them is written later.

A turn being served while the erasure runs finds its lease gone and commits nothing
(``workers.conversation_store``: ``lease_lost``). A new message afterwards starts a fresh
conversation (the numbering starts again from 1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

import redis.asyncio as aioredis

from workers.bus import (
    ARCHIVE_STREAM,
    DESK_EVENTS_STREAM,
    INBOUND_DEAD_STREAM,
    OUTBOUND_STREAM,
    UNSERVED_KEY,
    conversation_key,
    dedupe_key,
    desk_key,
    person_key,
    redis_text,
)

__all__ = ["STREAMS", "erase_conversations", "export_conversations", "redis_conversations"]

# The streams whose entries name a conversation, and the field that names it.
STREAMS: tuple[tuple[str, str], ...] = (
    (OUTBOUND_STREAM, "conversation"), (ARCHIVE_STREAM, "conversation"),
    (DESK_EVENTS_STREAM, "data"), (INBOUND_DEAD_STREAM, "conversation_id"),
    ("parley:outbound:dead", "conversation"))
_GLOB = re.compile(r"([*?\[\]\\])")
_CHUNK = 1000


async def redis_conversations(client: aioredis.Redis, channel: str, user_id: str) -> list[str]:
    """The conversations the gateway noted for this person."""
    members = await cast(Any, client.smembers(person_key(channel, user_id)))
    return sorted(redis_text(m) for m in members)


async def export_conversations(client: aioredis.Redis, conversation_ids: Sequence[str]
                               ) -> dict[str, Any]:
    """Each conversation's state as Redis holds it: tracker, history, owner, the messages
    still waiting in its inbox, the web chat's frames."""
    exported: dict[str, Any] = {}
    for cid in conversation_ids:
        tracker = await client.get(conversation_key(cid, "tracker"))
        events = await cast(Any, client.lrange(conversation_key(cid, "events"), 0, -1))
        owner = await cast(Any, client.hgetall(conversation_key(cid, "owner")))
        inbox = await cast(Any, client.hgetall(conversation_key(cid, "inbox")))
        frames = cast(list[Any], await client.xrange(conversation_key(cid, "outbox")))
        exported[cid] = {
            "tracker": _json(tracker),
            "history": [_json(e) for e in events],
            "owner": {redis_text(k): redis_text(v) for k, v in owner.items()},
            "inbox": {redis_text(k): _json(v) for k, v in sorted(inbox.items())},
            "web_frames": [_json(fields.get(b"frame")) for _, fields in frames],
        }
    return exported


async def erase_conversations(client: aioredis.Redis, channel: str, user_id: str,
                              conversation_ids: Sequence[str],
                              message_ids: Iterable[str] = ()) -> dict[str, int]:
    """Delete everything of these conversations (module doc); keys and stream entries
    deleted, by kind. ``message_ids``: the person's message ids the database knows (their
    dedupe keys go too)."""
    counts = {"keys": 0, "stream_entries": 0}
    messages = set(message_ids)
    handoffs: set[str] = set()
    for cid in conversation_ids:
        messages |= await _message_ids(client, cid)
        handoff = await client.hget(conversation_key(cid, "owner"), "handoff")
        if handoff:
            handoffs.add(redis_text(handoff))
        counts["keys"] += await _delete_matching(client, _conversation_pattern(cid))
        counts["keys"] += await client.delete(f"parley:whatsapp:choices:{cid}")
        counts["keys"] += await _delete_matching(client, f"parley:telegram:parts:{_glob(cid)}:*")
        await client.zrem(UNSERVED_KEY, cid)
    counts["keys"] += await _erase_handoffs(client, handoffs, set(conversation_ids))
    counts["keys"] += await _erase_delivery_statuses(client, set(conversation_ids))
    keys = [dedupe_key(channel, m) for m in sorted(messages)] + [person_key(channel, user_id)]
    for start in range(0, len(keys), _CHUNK):
        counts["keys"] += await client.delete(*keys[start:start + _CHUNK])
    counts["stream_entries"] = await _erase_stream_entries(client, set(conversation_ids))
    return counts


async def _message_ids(client: aioredis.Redis, cid: str) -> set[str]:
    found: set[str] = set()
    inbox = await cast(Any, client.hvals(conversation_key(cid, "inbox")))
    events = await cast(Any, client.lrange(conversation_key(cid, "events"), 0, -1))
    for raw in (*inbox, *events):
        item = _json(raw)
        if isinstance(item, dict) and item.get("message_id"):
            found.add(str(item["message_id"]))
    return found


async def _erase_handoffs(client: aioredis.Redis, handoffs: set[str],
                          conversations: set[str]) -> int:
    """The handoff records of these conversations (those the owners name, and any other
    record that names one of them), off every desk list."""
    async for key in client.scan_iter(match=desk_key("handoff", "*"), count=_CHUNK):
        cid = await client.hget(key, "conversation_id")
        if cid is not None and redis_text(cid) in conversations:
            handoffs.add(redis_text(key).rsplit(":", 1)[1])
    if not handoffs:
        return 0
    lists = [desk_key("offline"), desk_key("active"), desk_key("closed"),
             desk_key("deadlines")]
    async for key in client.scan_iter(match=desk_key("queue", "*"), count=_CHUNK):
        lists.append(redis_text(key))
    for zset in lists:
        await client.zrem(zset, *handoffs)
    return int(await client.delete(*(desk_key("handoff", h) for h in sorted(handoffs))))


async def _erase_delivery_statuses(client: aioredis.Redis, conversations: set[str]) -> int:
    """WhatsApp's delivery statuses (``parley:whatsapp:sent:<sid>``: which reply a Twilio
    message carried, and for which conversation) and their failure marks."""
    doomed: list[str] = []
    async for key in client.scan_iter(match="parley:whatsapp:sent:*", count=_CHUNK):
        cid = await client.hget(key, "conversation_id")
        if cid is not None and redis_text(cid) in conversations:
            sid = redis_text(key).rsplit(":", 1)[1]
            doomed += [redis_text(key), f"parley:whatsapp:failure:{sid}"]
    return int(await client.delete(*doomed)) if doomed else 0


async def _erase_stream_entries(client: aioredis.Redis, conversations: set[str]) -> int:
    """XDEL every entry of ``STREAMS`` that names one of ``conversations``."""
    deleted = 0
    for stream, field in STREAMS:
        start = "-"
        while True:
            entries = cast(list[Any], await client.xrange(stream, min=start, count=_CHUNK))
            doomed = [entry_id for entry_id, fields in entries
                      if _names(fields.get(field.encode()), conversations)]
            if doomed:
                deleted += await client.xdel(stream, *doomed)
            if len(entries) < _CHUNK:
                break
            start = "(" + redis_text(entries[-1][0])
    return deleted


def _names(value: bytes | None, conversations: set[str]) -> bool:
    if value is None:
        return False
    text = redis_text(value)
    if text in conversations:
        return True
    if text.startswith("{"):  # a desk event's JSON data
        data = _json(value)
        return isinstance(data, dict) and data.get("conversation_id") in conversations
    return False


async def _delete_matching(client: aioredis.Redis, pattern: str) -> int:
    deleted, batch = 0, []
    async for key in client.scan_iter(match=pattern, count=_CHUNK):
        batch.append(key)
        if len(batch) >= _CHUNK:
            deleted += await client.delete(*batch)
            batch = []
    if batch:
        deleted += await client.delete(*batch)
    return deleted


def _conversation_pattern(cid: str) -> str:
    return conversation_key(_glob(cid), "*")


def _glob(text: str) -> str:
    """``text`` matched literally by SCAN's MATCH."""
    return _GLOB.sub(r"\\\1", text)


def _json(raw: bytes | str | None) -> Any:
    if raw is None:
        return None
    text = redis_text(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text
