"""Conversation state in Redis, and the one atomic step that ends a turn.

Per conversation: ``tracker`` (a snapshot of the state plus the last ``TRACKER_KEEP``
events, so a turn's cost does not grow with the conversation) and ``events`` (the history,
append-only, the newest ``HISTORY_MAX`` events).

The commit of inbox entry N, under the conversation's lease (``workers.ordering``), in one
Lua script: write the new tracker, append the turn's events to the history, set
``served`` to N, add the turn's replies to the outbound stream — each numbered (``outseq``,
with its ``conversation`` beside the message) and noted in the conversation's ``outq``,
which is how the dispatchers deliver them in order — append the turn's archive record to
``parley:archive`` (``workers.turn_record``; bounded), delete the entry from the inbox, and
then either let the lease go (nothing left: ``queued`` cleared, off ``parley:unserved``),
hand the lease back and queue a new serve
task (``yield_turn``: a long backlog must not hold a worker while other conversations
wait), or keep it and return entry N+1 to serve next. A worker that dies before it leaves
no trace, one that dies after has done everything, so whoever serves the conversation next
either redoes the whole turn or finds it served.

Who holds the conversation (``owner``: bot, queued, agent, closed, and its ``epoch``) is
checked and changed in the same step: a turn decided under an epoch that is no longer
current (an agent claimed, a hand-back came) is refused as ``conflict`` before anything
is written, and served again under the new owner; a handoff the turn requests or
withdraws (``DeskOps``) changes the owner, bumps the epoch, records the handoff, puts it
in its team's queue and adds its desk event, all with the turn.

The same step renews the conversation's expiry (``workers.retention``) on every key of it
the commit touches — ``served``, ``tracker``, ``events``, ``inbox``, ``seq``, ``outseq``,
``outq``, ``attempts``, ``owner`` — or, when the turn leaves a person holding the
conversation (``queued``, ``agent``), makes them persistent; a withdrawn handoff's record
gets its expiry back.

A message that cannot be served (missing from the inbox, undecodable, or attempted too
often) is committed with ``dead_reason``: no turn, a record on ``parley:inbound:dead``
with the reason, and the conversation goes on with the next one.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import redis

from brain.dialogue.handoff import Ownership
from brain.dialogue.tracker import Tracker
from channels.models import OutboundMessage
from workers.bus import (
    ARCHIVE_STREAM,
    DESK_EVENTS_STREAM,
    INBOUND_DEAD_STREAM,
    INBOUND_QUEUE,
    OUTBOUND_STREAM,
    UNSERVED_KEY,
    conversation_key,
    serve_message,
)
from workers.ordering import Entry, ownership
from workers.retention import KEEP_LUA, RetentionSettings

__all__ = ["HISTORY_MAX", "TRACKER_KEEP", "Commit", "ConversationStore", "Step"]

TRACKER_KEEP = 60
HISTORY_MAX = 10_000
_FIRST_VARIADIC = 19  # ARGV index of the first event

_COMMIT = KEEP_LUA + """
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return {'lease_lost'} end
local n = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= n - 1 then
  redis.call('DEL', KEYS[3])
  return {'out_of_turn'}
end
local owner = redis.call('HMGET', KEYS[15], 'state', 'epoch', 'handoff', 'offline', 'team')
if tonumber(owner[2] or '0') ~= tonumber(ARGV[14]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
  return {'conflict', owner[1] or false, owner[2] or false, owner[3] or false,
          owner[4] or false, owner[5] or false}
end
local now_state = owner[1] or 'bot'
if ARGV[15] ~= '' then
  local ops = cjson.decode(ARGV[15])
  local state = owner[1] or 'bot'
  local allowed = ops.change == ''
    or (ops.change == 'requested' and (state == 'bot' or state == 'closed'))
    or (ops.change == 'withdrawn' and state == 'queued' and owner[3] == ops.id)
  if allowed and ops.change ~= '' then
    for field, value in pairs(ops.owner) do redis.call('HSET', KEYS[15], field, value) end
    for _, key in ipairs(ops.unlist) do redis.call('ZREM', key, ops.id) end
    for _, item in ipairs(ops.list) do redis.call('ZADD', item[1], item[2], ops.id) end
    now_state = ops.owner.state or now_state
  end
  if allowed then
    for field, value in pairs(ops.handoff) do redis.call('HSET', ops.handoff_key, field, value) end
    if ops.handoff.status == 'withdrawn' then
      redis.call('EXPIRE', ops.handoff_key, ARGV[18])  -- closed: no longer exempt
    end
    for _, event in ipairs(ops.events) do
      redis.call('XADD', KEYS[16], 'MAXLEN', '~', 100000, '*', 'type', event[1], 'data', event[2])
    end
  end
end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3]) end
redis.call('SET', KEYS[1], n)
local events = tonumber(ARGV[4])
local first = 19
for i = first, first + events - 1 do redis.call('RPUSH', KEYS[4], ARGV[i]) end
if events > 0 then redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1) end
for i = first + events, first + events + tonumber(ARGV[13]) - 1 do
  local k = redis.call('INCR', KEYS[9])
  local id = redis.call('XADD', KEYS[5], 'MAXLEN', '~', 1000000, '*', 'message', ARGV[i],
                        'outseq', k, 'conversation', ARGV[7])
  redis.call('ZADD', KEYS[10], k, id)
end
if ARGV[16] ~= '' then
  redis.call('XADD', KEYS[17], 'MAXLEN', '~', ARGV[17], '*', 'record', ARGV[16],
             'conversation', ARGV[7], 'sequence', n)
end
if ARGV[11] ~= '' then
  redis.call('XADD', KEYS[14], 'MAXLEN', '~', 100000, '*', 'conversation_id', ARGV[7],
             'sequence', n, 'reason', ARGV[11], 'message', ARGV[12])
end
redis.call('HDEL', KEYS[6], n)
redis.call('HDEL', KEYS[13], n)
-- The conversation's expiry, renewed by every turn (none while a person holds it).
local kept = {KEYS[1], KEYS[2], KEYS[4], KEYS[6], KEYS[7], KEYS[9], KEYS[10], KEYS[13],
              KEYS[15]}
if n >= tonumber(redis.call('GET', KEYS[7]) or '0') then
  redis.call('DEL', KEYS[3], KEYS[8])
  redis.call('ZREM', KEYS[11], ARGV[7])
  keep(is_open(now_state), ARGV[18], kept)
  return {'done'}
end
redis.call('ZADD', KEYS[11], 'XX', ARGV[6], ARGV[7])
if ARGV[9] == '1' then
  redis.call('DEL', KEYS[3])
  redis.call('LPUSH', KEYS[12], ARGV[10])
  keep(is_open(now_state), ARGV[18], kept)
  return {'yielded'}
end
redis.call('PEXPIRE', KEYS[3], ARGV[8])
local attempts = redis.call('HINCRBY', KEYS[13], n + 1, 1)
keep(is_open(now_state), ARGV[18], kept)
local now_owner = redis.call('HMGET', KEYS[15], 'state', 'epoch', 'handoff', 'offline', 'team')
return {'next', n + 1, redis.call('HGET', KEYS[6], n + 1) or false, attempts,
        now_owner[1] or false, now_owner[2] or false, now_owner[3] or false,
        now_owner[4] or false, now_owner[5] or false}
"""


class Commit(enum.Enum):
    NEXT = "next"                # committed; ``Step.entry`` is the next one to serve
    CONFLICT = "conflict"        # refused: the owner changed since the turn began (its epoch)
    DONE = "done"                # committed; nothing left, the lease is let go
    YIELDED = "yielded"          # committed; more left, asked for again at the queue's end
    LEASE_LOST = "lease_lost"    # refused: this task no longer holds the conversation
    OUT_OF_TURN = "out_of_turn"  # refused: ``served`` is not N-1 (cannot happen under lease)


@dataclass(frozen=True, slots=True)
class Step:
    """A commit's outcome; ``owner``: who holds the conversation now (for ``NEXT``, the
    next turn's; for ``CONFLICT``, the owner the turn must be done again under)."""

    outcome: Commit
    entry: Entry | None = None
    owner: Ownership | None = None


@dataclass(frozen=True, slots=True)
class DeskOps:
    """What a turn does to the conversation's owner and the desk, applied by the commit
    only while the owner's epoch is still the one the turn began with.

    ``change`` ``""`` (only ``events``, e.g. a user message shown to the agent),
    ``requested`` (allowed from ``bot`` or ``closed``) or ``withdrawn`` (allowed while
    ``queued`` with handoff ``handoff_id``); when allowed, ``owner`` fields are set on
    the owner hash and the handoff id is removed from the sorted sets ``unlist`` and added
    to ``listed`` (key, score); ``handoff`` fields are set on ``handoff_key`` and
    ``events`` (type, JSON data) added to the desk's event stream — all in the commit's
    one step."""

    change: str = ""
    handoff_id: str = ""
    handoff_key: str = ""
    owner: dict[str, str] | None = None
    handoff: dict[str, str] | None = None
    unlist: tuple[str, ...] = ()
    listed: tuple[tuple[str, int], ...] = ()
    events: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        return json.dumps({"change": self.change, "id": self.handoff_id,
                           "handoff_key": self.handoff_key, "owner": self.owner or {},
                           "handoff": self.handoff or {}, "unlist": list(self.unlist),
                           "list": [[k, str(v)] for k, v in self.listed],
                           "events": [list(e) for e in self.events]},
                          ensure_ascii=False)


class ConversationStore:
    def __init__(self, client: redis.Redis, *, archive_max: int = 1_000_000,
                 retention: RetentionSettings | None = None) -> None:
        self._redis = client
        self._archive_max = archive_max  # records the archive stream keeps unstored, at most
        # How long the conversation's keys outlive this turn (workers.retention).
        self._retention = (retention or RetentionSettings()).conversation_seconds
        self._commit = client.register_script(_COMMIT)

    @staticmethod
    def tracker_key(conversation_id: str) -> str:
        return conversation_key(conversation_id, "tracker")

    @staticmethod
    def decode(raw: bytes | str | None) -> Tracker | None:
        """The tracker stored under ``tracker_key`` (read when the lease is taken), if any."""
        if raw is None:
            return None
        return Tracker.from_json(raw.decode() if isinstance(raw, bytes) else raw)

    def load(self, conversation_id: str) -> Tracker | None:
        return self.decode(self._redis.get(self.tracker_key(conversation_id)))

    def history(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's events, oldest first (at most ``HISTORY_MAX``)."""
        raw = self._redis.lrange(conversation_key(conversation_id, "events"), 0, -1)
        return [json.loads(item) for item in raw]

    def served(self, conversation_id: str) -> int:
        return int(self._redis.get(conversation_key(conversation_id, "served")) or 0)

    def commit(self, tracker: Tracker | None, *, conversation_id: str, sequence: int,
               owner: str, lease_ms: int, now_ms: int, loaded_count: int = 0,
               outbound: Sequence[OutboundMessage] = (), yield_turn: bool = False,
               dead_reason: str = "", dead_message: bytes = b"", epoch: int = 0,
               desk: DeskOps | None = None, record: str = "") -> Step:
        """End the turn of entry ``sequence`` (module doc). ``loaded_count``:
        ``tracker.event_count`` when the turn began; the events after it are this turn's.
        ``tracker`` ``None`` (with ``dead_reason``): the state stays as it is. ``epoch``:
        the owner's epoch the turn began under (another one: ``CONFLICT``, nothing
        written); ``desk``: what the turn does to the owner and the desk; ``record``: the
        turn's archive record (``workers.turn_record``), appended to ``parley:archive``."""
        cid = conversation_id
        keys = [conversation_key(cid, "served"), self.tracker_key(cid),
                conversation_key(cid, "lease"), conversation_key(cid, "events"),
                OUTBOUND_STREAM, conversation_key(cid, "inbox"), conversation_key(cid, "seq"),
                conversation_key(cid, "queued"), conversation_key(cid, "outseq"),
                conversation_key(cid, "outq"), UNSERVED_KEY, INBOUND_QUEUE,
                conversation_key(cid, "attempts"), INBOUND_DEAD_STREAM,
                conversation_key(cid, "owner"), DESK_EVENTS_STREAM, ARCHIVE_STREAM]
        new_events = tracker.events_since(loaded_count) if tracker is not None else []
        args: list[bytes | str | int] = [
            sequence, owner, tracker.to_json(keep=TRACKER_KEEP) if tracker is not None else "",
            len(new_events), HISTORY_MAX, now_ms, cid, lease_ms, "1" if yield_turn else "0",
            serve_message(cid), dead_reason, dead_message, len(outbound), epoch,
            desk.to_json() if desk is not None else "", record, self._archive_max,
            self._retention,
            *(json.dumps(e.to_dict(), ensure_ascii=False, sort_keys=True) for e in new_events),
            *(msgspec.json.encode(m) for m in outbound)]
        assert len(args) == _FIRST_VARIADIC - 1 + len(new_events) + len(outbound)
        result: list[Any] = self._commit(keys=keys, args=args)
        outcome = Commit(result[0].decode() if isinstance(result[0], bytes) else result[0])
        if outcome is Commit.NEXT:
            return Step(outcome, Entry(int(result[1]), result[2], int(result[3])),
                        ownership(list(result[4:9])))
        if outcome is Commit.CONFLICT:
            return Step(outcome, owner=ownership(list(result[1:6])))
        return Step(outcome)
