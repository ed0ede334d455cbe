"""Reading handoffs for the desk: records, queues, and a conversation as an agent sees it.

The live state is in Redis (written by the workers' commit and ``desk.ownership``): each
handoff's record (``parley:desk:handoff:<id>``), the team queues, the offline tickets,
the active and recently closed sets, the owner hash and the conversation's history and
tracker. This module only reads them, and shapes the API's summary and detail objects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import redis.asyncio as aioredis

from workers.bus import DESK_TEAMS_KEY, conversation_key, desk_key

__all__ = ["WHATSAPP_WINDOW", "HandoffReader", "Record", "number", "summary"]

Record = dict[str, str]
WHATSAPP_WINDOW = 24 * 3600.0   # a business may answer a WhatsApp user this long after them
_CLOSED_SHOWN = 200             # closed handoffs a list shows, newest first
_LIST_MAX = 500                 # entries of one queue a list shows


class HandoffReader:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def record(self, handoff_id: str) -> Record | None:
        if not handoff_id or len(handoff_id) > 64:
            return None
        raw = cast(dict[bytes, bytes], await self._redis.hgetall(desk_key("handoff",
                                                                         handoff_id)))
        if not raw:
            return None
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def teams(self) -> dict[str, dict[str, Any]]:
        """Every team's desk.yml settings, as the workers published them."""
        raw = cast(dict[bytes, bytes], await self._redis.hgetall(DESK_TEAMS_KEY))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    async def ids(self, status: str, teams: Iterable[str]) -> list[str]:
        """Handoff ids of a status: ``waiting`` (oldest first, per team), ``offline``,
        ``active`` (oldest first), ``closed`` (newest first)."""
        if status == "waiting":
            found: list[str] = []
            for team in sorted(set(teams)):
                found += _texts(cast(list[bytes], await self._redis.zrange(
                    desk_key("queue", team), 0, _LIST_MAX - 1)))
            return found
        if status == "closed":
            return _texts(cast(list[bytes], await self._redis.zrevrange(
                desk_key("closed"), 0, _CLOSED_SHOWN - 1)))
        return _texts(cast(list[bytes], await self._redis.zrange(desk_key(status), 0,
                                                                 _LIST_MAX - 1)))

    async def records(self, ids: list[str]) -> list[Record]:
        pipe = self._redis.pipeline(transaction=False)
        for handoff_id in ids:
            pipe.hgetall(desk_key("handoff", handoff_id))
        rows = await pipe.execute()
        return [{k.decode(): v.decode() for k, v in row.items()} for row in rows if row]

    async def position(self, record: Record) -> int | None:
        if record.get("status") != "waiting":
            return None
        rank = cast(int | None, await self._redis.zrank(desk_key("queue", record.get("team", "")),
                                                        record["id"]))
        return None if rank is None else rank + 1

    async def transcript(self, conversation_id: str, *, since: float = 0.0
                         ) -> list[dict[str, Any]]:
        """The conversation's messages (user, bot, agent) and handoff events, oldest first,
        each user turn with the intent and confidence the bot understood."""
        raw = await self._redis.lrange(conversation_key(conversation_id, "events"), 0, -1)
        lines: list[dict[str, Any]] = []
        for item in raw:
            event = json.loads(item)
            line = _line(event)
            if line is not None and float(line.get("at") or 0) >= since:
                lines.append(line)
        return lines

    async def state(self, conversation_id: str) -> dict[str, Any]:
        """The tracker's slots and form, as the last committed turn left them."""
        raw = await self._redis.get(conversation_key(conversation_id, "tracker"))
        if raw is None:
            return {"slots": {}, "form": None}
        state = json.loads(raw).get("state", {})
        slots = {k: v for k, v in (state.get("slots") or {}).items()
                 if v is not None and k != "requested_slot"}
        form = state.get("active_form")
        return {"slots": slots, "form": {"name": form, "requested_slot":
                                         (state.get("slots") or {}).get("requested_slot")}
                if form else None}


def summary(record: Mapping[str, str], *, agent: dict[str, Any] | None,
            position: int | None, now: float | None = None) -> dict[str, Any]:
    """The API's summary of one handoff."""
    now = time.time() if now is None else now
    request = _json(record.get("request"))
    parse = request.get("parse") or {}
    intent = parse.get("intent") or {}
    requested = number(record.get("requested_at")) or now
    ended = number(record.get("claimed_at")) or number(record.get("closed_at"))
    sla = number(record.get("sla_deadline"))
    first = number(record.get("first_reply_at"))
    last_user = number(record.get("last_user_at"))
    window = last_user + WHATSAPP_WINDOW if record.get("channel") == "whatsapp" and \
        last_user else None
    return {
        "id": record.get("id"), "conversation_id": record.get("conversation_id"),
        "channel": record.get("channel"), "team": record.get("team"),
        "reason": record.get("reason"), "status": record.get("status"), "agent": agent,
        "requested_at": requested, "claimed_at": number(record.get("claimed_at")),
        "first_reply_at": first, "closed_at": number(record.get("closed_at")),
        "wait_seconds": round((ended or now) - requested, 3),
        "sla_deadline": sla,
        # Breached: marked by the timers, or visibly so while it still waits.
        "sla_breached": record.get("sla_breached") == "1" or bool(
            sla and record.get("status") in ("waiting", "active") and (first or now) > sla),
        "intent": intent.get("name"), "confidence": intent.get("confidence"),
        "last_user_text": record.get("last_user_text", ""),
        "whatsapp_window_ends": window,
        "epoch": int(record.get("epoch") or 0), "position": position,
    }


def _line(event: Mapping[str, Any]) -> dict[str, Any] | None:
    kind, at = event.get("type"), event.get("timestamp")
    if kind == "user":
        files = event.get("attachments") or []
        if not event.get("text") and not event.get("parse") and not files:
            return None  # a conversation start: no message
        intent = (event.get("parse") or {}).get("intent") or {}
        return {"kind": "user", "text": event.get("text", ""), "at": at,
                "intent": intent.get("name"), "confidence": intent.get("confidence"),
                "entities": (event.get("parse") or {}).get("entities", []),
                "message_id": event.get("message_id", ""), "attachments": files}
    if kind == "bot":
        return {"kind": "bot", "text": event.get("text", ""), "at": at,
                "response": event.get("response")}
    if kind == "agent":
        return {"kind": "agent", "text": event.get("text", ""), "at": at,
                "agent": {"id": event.get("agent"), "name": event.get("name")},
                "message_id": event.get("message_id", "")}
    if kind == "handoff":
        return {"kind": "event", "text": f"handed off ({event.get('reason') or 'no reason'})",
                "at": at}
    if kind == "handback":
        return {"kind": "event", "text": f"back to the bot ({event.get('reason') or ''})",
                "at": at}
    return None


def _texts(values: Iterable[bytes | str]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def number(value: str | None) -> float | None:
    """A record's number field (``""`` or malformed: ``None``)."""
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _json(value: str | None) -> dict[str, Any]:
    try:
        data = json.loads(value) if value else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
