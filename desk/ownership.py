"""Who owns a conversation, and the desk's atomic operations that change it.

A conversation's owner is one of ``Owner``; a handoff's life is one of ``Status``. The
allowed changes are in ``TRANSITIONS``, the one table both sides follow: the workers'
commit makes ``bot → queued`` (a handoff requested) and ``queued → bot`` (withdrawn)
(``workers.conversation_store``); the desk makes the others, each in one Lua script that
checks the state, changes the owner hash, bumps its epoch, updates the handoff's record
and queues, appends the desk event and — when the bot must act (an agent's reply to
send, the conversation given back, an offline ticket taken) — puts an entry in the
conversation's inbox, so the worker serves it in order with the person's messages and
records it in the tracker. Nothing else writes the owner.

The scripts touch keys outside one conversation's hash slot (the team queues, the desk
event stream, the Celery queue): like the inbox scripts (``workers.inbox``) they need one
Redis (or a primary with replicas), not a Redis Cluster.

Expiry (``workers.retention``): an operation that puts an entry in the inbox renews the
conversation's ``seq``, ``served``, ``inbox`` and ``owner`` (persistent while a person holds
it); a handoff's record has no expiry while it is open and gets the conversation's once it
is closed (``parley:desk:closed`` keeps the ids of that long).
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import redis.asyncio as aioredis

from channels.models import InboundMessage
from workers.bus import (
    DESK_EVENTS_STREAM,
    INBOUND_QUEUE,
    UNSERVED_KEY,
    conversation_key,
    dedupe_key,
    desk_key,
    serve_message,
)

__all__ = ["TRANSITIONS", "DeskOperations", "OpResult", "Owner", "Status"]


class Owner(enum.StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"
    CLOSED = "closed"


class Status(enum.StrEnum):
    WAITING = "waiting"      # in its team's queue, agents online
    OFFLINE = "offline"      # a ticket: asked for when nobody was there, or timed out
    ACTIVE = "active"        # an agent holds it
    CLOSED = "closed"        # closed or handed back
    WITHDRAWN = "withdrawn"  # the user went back to the bot while waiting


# (operation, owner before) → owner after. Every change bumps the epoch.
TRANSITIONS: dict[tuple[str, Owner], Owner] = {
    ("request", Owner.BOT): Owner.QUEUED,        # the workers' commit
    ("request", Owner.CLOSED): Owner.QUEUED,     # the workers' commit
    ("withdraw", Owner.QUEUED): Owner.BOT,       # the workers' commit
    ("claim", Owner.QUEUED): Owner.AGENT,
    ("claim", Owner.BOT): Owner.AGENT,           # an offline ticket, the bot had it again
    ("claim", Owner.CLOSED): Owner.AGENT,        # the same after a close
    ("reply", Owner.QUEUED): Owner.AGENT,        # an agent's message claims
    ("transfer_agent", Owner.AGENT): Owner.AGENT,
    ("transfer_team", Owner.AGENT): Owner.QUEUED,
    ("transfer_team", Owner.QUEUED): Owner.QUEUED,
    ("handback", Owner.AGENT): Owner.BOT,
    ("close", Owner.AGENT): Owner.CLOSED,
    ("close", Owner.QUEUED): Owner.CLOSED,
    ("timeout", Owner.QUEUED): Owner.BOT,
}

DEDUPE_TTL = 7 * 86400  # an agent's client message id is remembered this long

# KEYS: handoff, owner, events, dedupe, seq, inbox, queued, unserved, inbound queue, served,
# attempts. ARGV: handoff id, now (s), operation arguments ...; the last, [10], is the
# conversation's expiry (s; workers.retention). Helpers shared by every operation.
_PRELUDE = """
local h, owner, events = KEYS[1], KEYS[2], KEYS[3]
local id, now = ARGV[1], ARGV[2]
local status = redis.call('HGET', h, 'status')
if not status then return {'missing'} end
local cid = redis.call('HGET', h, 'conversation_id')
local team = redis.call('HGET', h, 'team')
local state = redis.call('HGET', owner, 'state') or 'bot'
local epoch = tonumber(redis.call('HGET', owner, 'epoch') or '0')
local current = redis.call('HGET', owner, 'handoff') or ''
local holder = redis.call('HGET', h, 'agent') or ''
local function bump(...)
  epoch = epoch + 1
  redis.call('HSET', owner, 'epoch', epoch, ...)
  redis.call('HSET', h, 'epoch', epoch)
end
local function emit(kind, prefix)
  redis.call('XADD', events, 'MAXLEN', '~', 100000, '*', 'type', kind,
             'data', prefix .. epoch .. '}')
end
local function enqueue(message, serve, now_ms, queued_ttl, dedupe_ttl)
  if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
  redis.call('SET', KEYS[4], '1', 'EX', dedupe_ttl)
  if redis.call('EXISTS', KEYS[5]) == 0 then redis.call('DEL', KEYS[10], KEYS[6], KEYS[11]) end
  local sequence = redis.call('INCR', KEYS[5])
  redis.call('HSET', KEYS[6], sequence, message)
  -- desk activity renews the conversation's expiry (one instant for all: seq and served
  -- expire together), none while a person holds it (workers.retention)
  local held = redis.call('HGET', owner, 'state')
  local clock = redis.call('TIME')
  local at = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
             + tonumber(ARGV[10]) * 1000
  for _, key in ipairs({KEYS[5], KEYS[10], KEYS[6], owner}) do
    if held == 'queued' or held == 'agent' then redis.call('PERSIST', key)
    else redis.call('PEXPIREAT', key, at) end
  end
  redis.call('ZADD', KEYS[8], 'NX', now_ms, cid)
  if redis.call('SET', KEYS[7], '1', 'NX', 'EX', queued_ttl) then
    redis.call('LPUSH', KEYS[9], serve)
  end
  return sequence
end
local function unqueue()
  redis.call('ZREM', 'parley:desk:queue:' .. team, id)
  redis.call('ZREM', 'parley:desk:offline', id)
end
"""

# ARGV[3]: agent id; [4] event prefix; [5] inbox entry (resume); [6] serve message;
# [7] now ms; [8] queued ttl; [9] dedupe ttl.
_CLAIM = _PRELUDE + """
if status == 'active' then
  if holder == ARGV[3] then return {'ok', epoch} end
  return {'held', holder}
end
if status ~= 'waiting' and status ~= 'offline' then return {'state', status} end
if current == id and state == 'queued' then
  bump('state', 'agent', 'agent', ARGV[3], 'offline', '0')
elseif state == 'bot' or state == 'closed' then
  bump('state', 'agent', 'agent', ARGV[3], 'handoff', id, 'team', team, 'offline', '0')
  enqueue(ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
else
  return {'busy', current}
end
unqueue()
redis.call('ZREM', 'parley:desk:deadlines', id)
redis.call('HSET', h, 'status', 'active', 'agent', ARGV[3], 'claimed_at', now)
redis.call('ZADD', 'parley:desk:active', ARGV[7], id)
local wait = tonumber(now) - tonumber(redis.call('HGET', h, 'requested_at'))
redis.call('LPUSH', 'parley:desk:waits:' .. team, string.format('%.3f', wait))
redis.call('LTRIM', 'parley:desk:waits:' .. team, 0, 49)
emit('handoff.claimed', ARGV[4])
return {'claimed', epoch, string.format('%.3f', wait)}
"""

# ARGV[3]: agent id; [4] claim event prefix; [5] inbox entry; [6] serve message;
# [7] now ms; [8] queued ttl; [9] dedupe ttl.
_REPLY = _PRELUDE + """
if status == 'waiting' or status == 'offline' then
  if current ~= id or state ~= 'queued' then return {'state', status} end
  bump('state', 'agent', 'agent', ARGV[3], 'offline', '0')
  unqueue()
  redis.call('ZREM', 'parley:desk:deadlines', id)
  redis.call('HSET', h, 'status', 'active', 'agent', ARGV[3], 'claimed_at', now)
  redis.call('ZADD', 'parley:desk:active', ARGV[7], id)
  local wait = tonumber(now) - tonumber(redis.call('HGET', h, 'requested_at'))
  redis.call('LPUSH', 'parley:desk:waits:' .. team, string.format('%.3f', wait))
  redis.call('LTRIM', 'parley:desk:waits:' .. team, 0, 49)
  emit('handoff.claimed', ARGV[4])
elseif status ~= 'active' then
  return {'state', status}
elseif holder ~= ARGV[3] then
  return {'held', holder}
end
if current ~= id then return {'state', 'ended'} end
local sequence = enqueue(ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
if sequence == 0 then return {'duplicate', epoch} end
local first = redis.call('HSETNX', h, 'first_reply_at', now)
if redis.call('HGET', h, 'first_reply_at') == '' then
  redis.call('HSET', h, 'first_reply_at', now)
  first = 1
end
return {'sent', epoch, first}
"""

# ARGV[3]: 'team' or 'agent'; [4] target; [5] event prefix; [6] new SLA deadline (s or '');
# [7] now ms.
_TRANSFER = _PRELUDE + """
if status ~= 'active' and status ~= 'waiting' then return {'state', status} end
if current ~= id then return {'state', 'ended'} end
if ARGV[3] == 'agent' then
  if status ~= 'active' then return {'state', status} end
  bump('state', 'agent', 'agent', ARGV[4])
  redis.call('HSET', h, 'agent', ARGV[4])
else
  bump('state', 'queued', 'agent', '', 'team', ARGV[4], 'offline', '0')
  unqueue()
  redis.call('ZREM', 'parley:desk:active', id)
  redis.call('HSET', h, 'status', 'waiting', 'agent', '', 'team', ARGV[4])
  redis.call('ZADD', 'parley:desk:queue:' .. ARGV[4], ARGV[7], id)
  if ARGV[6] ~= '' and redis.call('HGET', h, 'first_reply_at') == '' then
    redis.call('HSET', h, 'sla_deadline', ARGV[6])
    redis.call('ZADD', 'parley:desk:deadlines', math.floor(tonumber(ARGV[6]) * 1000), id)
  end
end
emit('handoff.transferred', ARGV[5])
return {'transferred', epoch}
"""

# ARGV[3]: 'handback', 'close' or 'timeout'; [4] event prefix; [5] inbox entry; [6] serve
# message; [7] now ms; [8] queued ttl; [9] dedupe ttl.
_END = _PRELUDE + """
local op = ARGV[3]
if op == 'timeout' then
  if (status ~= 'waiting' and status ~= 'offline') or current ~= id or state ~= 'queued' then
    return {'state', status}
  end
  bump('state', 'bot', 'handoff', '', 'agent', '', 'offline', '0')
  unqueue()
  redis.call('HSET', h, 'status', 'offline', 'timed_out_at', now)
  redis.call('ZADD', 'parley:desk:offline', ARGV[7], id)
  enqueue(ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
  emit('handoff.timeout', ARGV[4])
  return {'ended', epoch}
end
if op == 'handback' and status ~= 'active' then return {'state', status} end
if status == 'closed' or status == 'withdrawn' then return {'state', status} end
if current == id and (state == 'agent' or state == 'queued') then
  bump('state', op == 'handback' and 'bot' or 'closed', 'handoff', '', 'agent', '',
       'offline', '0')
  enqueue(ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
end
unqueue()
redis.call('ZREM', 'parley:desk:active', id)
redis.call('ZREM', 'parley:desk:deadlines', id)
redis.call('HSET', h, 'status', 'closed', 'closed_at', now,
           'closed_by', op == 'handback' and 'handed_back' or 'closed')
redis.call('EXPIRE', h, ARGV[10])  -- closed: kept as long as a conversation's keys
redis.call('ZADD', 'parley:desk:closed', ARGV[7], id)
redis.call('ZREMRANGEBYSCORE', 'parley:desk:closed', '-inf',
           tonumber(ARGV[7]) - tonumber(ARGV[10]) * 1000)
emit(op == 'handback' and 'handoff.handed_back' or 'handoff.closed', ARGV[4])
return {'ended', epoch}
"""


@dataclass(frozen=True, slots=True)
class OpResult:
    """A desk operation's outcome: ``kind`` (``claimed``, ``ok``, ``sent``, ``duplicate``,
    ``transferred``, ``ended``; refusals: ``missing``, ``held`` — ``other`` is the
    holder —, ``busy``, ``state`` — ``other`` is the status that refused it), the epoch
    after it, and for a claim the wait (seconds) / for a reply whether it was the first."""

    kind: str
    epoch: int = 0
    other: str = ""
    wait: float | None = None
    first_reply: bool = False

    @property
    def done(self) -> bool:
        return self.kind in ("claimed", "ok", "sent", "duplicate", "transferred", "ended")


class DeskOperations:
    """The desk's atomic changes of a handoff and its conversation's owner."""

    def __init__(self, client: aioredis.Redis, *, queued_ttl: int = 300,
                 conversation_ttl: int = 30 * 86400) -> None:
        self._redis = client
        self._queued_ttl = queued_ttl
        self._conversation_ttl = conversation_ttl  # PARLEY_RETENTION_DAYS, in seconds
        self._claim = client.register_script(_CLAIM)
        self._reply = client.register_script(_REPLY)
        self._transfer = client.register_script(_TRANSFER)
        self._end = client.register_script(_END)

    async def claim(self, record: Mapping[str, str], agent: Mapping[str, str]) -> OpResult:
        entry = _entry(record, "handoff_resume", f"resume:{record['id']}:{time.time_ns()}",
                       control={"team": record.get("team", "")})
        result = await self._run(self._claim, record, entry.message_id, [
            agent["id"], _prefix("handoff.claimed", record, agent=agent),
            msgspec.json.encode(entry)])
        return _result(result)

    async def reply(self, record: Mapping[str, str], agent: Mapping[str, str], *, text: str,
                    client_id: str) -> tuple[OpResult, str]:
        """An agent's message: the message id it is known by, and the outcome."""
        message_id = f"desk:{record['id']}:{client_id}"
        entry = _entry(record, "agent_message", message_id, text=text, user_id=agent["id"],
                       control={"agent": dict(agent), "client_id": client_id})
        result = await self._run(self._reply, record, message_id, [
            agent["id"], _prefix("handoff.claimed", record, agent=agent),
            msgspec.json.encode(entry)])
        outcome = _result(result)
        if outcome.kind == "sent":
            outcome = OpResult("sent", outcome.epoch, first_reply=int(result[2]) == 1)
        return outcome, message_id

    async def transfer(self, record: Mapping[str, str], actor: Mapping[str, str], *,
                       team: str | None = None, agent: Mapping[str, str] | None = None,
                       sla_seconds: float | None = None) -> OpResult:
        now = time.time()
        target = ("agent", agent["id"]) if agent is not None else ("team", team or "")
        deadline = f"{now + sla_seconds:.3f}" if sla_seconds and team else ""
        prefix = _prefix("handoff.transferred", record, actor=actor, from_team=record["team"],
                         to_team=team or record["team"], to_agent=dict(agent) if agent else None)
        keys = _keys(record, "")
        args: list[str | bytes | int] = [record["id"], f"{now:.3f}", target[0], target[1],
                                         prefix, deadline, int(now * 1000)]
        return _result(await self._transfer(keys=keys, args=args))

    async def end(self, record: Mapping[str, str], actor: Mapping[str, str] | None, *,
                  op: str, slots: Mapping[str, Any] | None = None,
                  restart_form: bool = False) -> OpResult:
        """``op``: ``handback``, ``close`` or ``timeout`` (the queue timer's)."""
        reason = {"handback": "handed_back", "close": "closed", "timeout": "timeout"}[op]
        control: dict[str, Any] = {"reason": reason}
        if slots:
            control["slots"] = dict(slots)
        if restart_form:
            control["restart_form"] = True
        entry = _entry(record, "handoff_end", f"end:{record['id']}:{op}", control=control)
        kind = {"handback": "handoff.handed_back", "close": "handoff.closed",
                "timeout": "handoff.timeout"}[op]
        extra = {"agent": dict(actor)} if actor is not None else {}
        result = await self._run(self._end, record, entry.message_id, [
            op, _prefix(kind, record, **extra), msgspec.json.encode(entry)])
        return _result(result)

    async def _run(self, script: Any, record: Mapping[str, str], message_id: str,
                   args: list[str | bytes]) -> list[Any]:
        now = time.time()
        keys = _keys(record, message_id)
        cid = record["conversation_id"]
        full: list[str | bytes | int] = [record["id"], f"{now:.3f}", *args,
                                         serve_message(cid, now=now), int(now * 1000),
                                         self._queued_ttl, DEDUPE_TTL, self._conversation_ttl]
        return list(await script(keys=keys, args=full))


def _keys(record: Mapping[str, str], message_id: str) -> list[str]:
    cid = record["conversation_id"]
    return [desk_key("handoff", record["id"]), conversation_key(cid, "owner"),
            DESK_EVENTS_STREAM, dedupe_key("desk", message_id), conversation_key(cid, "seq"),
            conversation_key(cid, "inbox"), conversation_key(cid, "queued"), UNSERVED_KEY,
            INBOUND_QUEUE, conversation_key(cid, "served"), conversation_key(cid, "attempts")]


def _entry(record: Mapping[str, str], kind: str, message_id: str, *, text: str = "",
           user_id: str = "", control: dict[str, Any] | None = None) -> InboundMessage:
    return InboundMessage(channel=record["channel"], account=record["account"],
                          chat=record["chat"], user_id=user_id or record.get("user_id", ""),
                          message_id=message_id, text=text, received_at=time.time(),
                          kind=kind, control=control or {})  # type: ignore[arg-type]


def _prefix(kind: str, record: Mapping[str, str], **data: Any) -> str:
    """The event's JSON up to its epoch, which the script appends with the closing brace."""
    body = {"type": kind, "conversation_id": record["conversation_id"],
            "handoff_id": record["id"], "team": record.get("team", ""), "at": time.time(),
            **{k: v for k, v in data.items() if v is not None}}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return text[:-1] + ',"epoch":'


def _result(raw: list[Any]) -> OpResult:
    kind = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
    second = raw[1] if len(raw) > 1 else None
    if isinstance(second, bytes):
        second = second.decode()
    if kind in ("held", "busy", "state"):
        return OpResult(kind, other=str(second or ""))
    if kind == "missing":
        return OpResult(kind)
    wait = float(raw[2].decode() if isinstance(raw[2], bytes) else raw[2]) \
        if kind == "claimed" else None
    return OpResult(kind, int(second or 0), wait=wait)
