"""Conversation state in Redis, and the one atomic step that ends a turn.

Per conversation: ``tracker`` (a snapshot of the state plus the last ``TRACKER_KEEP``
events, so a turn's cost does not grow with the conversation) and ``events`` (the history,
append-only, the newest ``HISTORY_MAX`` events).

The commit writes the new tracker, appends the turn's events to the history, sets the
``served`` marker, adds the turn's outbound messages (``XADD`` to the outbound stream) and
wakes the next ticket, in one Lua script: a worker that dies before it leaves no trace, one
that dies after it has done everything, so a redelivered task either redoes the whole turn
or finds it served and skips it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from typing import Any

import msgspec
import redis

from brain.dialogue.tracker import Tracker
from channels.models import OutboundMessage
from workers.bus import OUTBOUND_STREAM, conversation_key

__all__ = ["HISTORY_MAX", "TRACKER_KEEP", "Commit", "ConversationStore"]

TRACKER_KEEP = 60
HISTORY_MAX = 10_000

_COMMIT = """
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 'lease_lost' end
local served = tonumber(redis.call('GET', KEYS[1]) or '0')
if served >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[3])
  return 'already_served'
end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1])
local events = tonumber(ARGV[4])
for i = 6, 5 + events do redis.call('RPUSH', KEYS[6], ARGV[i]) end
if events > 0 then redis.call('LTRIM', KEYS[6], -tonumber(ARGV[5]), -1) end
for i = 6 + events, #ARGV do
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', 1000000, '*', 'message', ARGV[i])
end
redis.call('DEL', KEYS[3])
redis.call('RPUSH', KEYS[4], '1')
redis.call('PEXPIRE', KEYS[4], 600000)
return 'committed'
"""


class Commit(enum.Enum):
    COMMITTED = "committed"
    ALREADY_SERVED = "already_served"
    LEASE_LOST = "lease_lost"


class ConversationStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._commit = client.register_script(_COMMIT)

    @staticmethod
    def tracker_key(conversation_id: str) -> str:
        return conversation_key(conversation_id, "tracker")

    @staticmethod
    def decode(raw: bytes | str | None) -> Tracker | None:
        """The tracker stored under ``tracker_key`` (read by the ticket lock), if any."""
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

    def commit(self, tracker: Tracker, *, sequence: int, owner: str, loaded_count: int,
               outbound: Sequence[OutboundMessage]) -> Commit:
        """``loaded_count``: ``tracker.event_count`` when it was loaded; the events after
        it are this turn's, appended to the history."""
        cid = tracker.conversation_id
        keys = [conversation_key(cid, "served"), self.tracker_key(cid),
                conversation_key(cid, "lease"), conversation_key(cid, f"wake:{sequence + 1}"),
                OUTBOUND_STREAM, conversation_key(cid, "events")]
        new_events = tracker.events_since(loaded_count)
        args: list[bytes | str | int] = [
            sequence, owner, tracker.to_json(keep=TRACKER_KEEP), len(new_events), HISTORY_MAX,
            *(json.dumps(e.to_dict(), ensure_ascii=False, sort_keys=True) for e in new_events),
            *(msgspec.json.encode(m) for m in outbound)]
        result = self._commit(keys=keys, args=args)
        return Commit(result.decode() if isinstance(result, bytes) else result)
