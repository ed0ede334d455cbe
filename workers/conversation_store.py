"""Conversation state in Redis, and the one atomic step that ends a turn.

The commit writes the new tracker, the ``served`` marker and the turn's outbound messages
(``XADD`` to the outbound stream) and wakes the next ticket, in one Lua script: a worker
that dies before it leaves no trace, one that dies after it has done everything, so a
redelivered task either redoes the whole turn or finds it served and skips it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import msgspec
import redis

from brain.dialogue.tracker import Tracker
from channels.models import OutboundMessage
from workers.bus import OUTBOUND_STREAM, conversation_key

__all__ = ["Commit", "ConversationStore"]

_COMMIT = """
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 'lease_lost' end
local served = tonumber(redis.call('GET', KEYS[1]) or '0')
if served >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[3])
  return 'already_served'
end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1])
for i = 4, #ARGV do
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

    def load(self, conversation_id: str) -> Tracker | None:
        raw = self._redis.get(conversation_key(conversation_id, "tracker"))
        if raw is None:
            return None
        return Tracker.from_json(raw.decode() if isinstance(raw, bytes) else str(raw))

    def served(self, conversation_id: str) -> int:
        return int(self._redis.get(conversation_key(conversation_id, "served")) or 0)

    def commit(self, tracker: Tracker, *, sequence: int, owner: str,
               outbound: Sequence[OutboundMessage]) -> Commit:
        cid = tracker.conversation_id
        keys = [conversation_key(cid, "served"), conversation_key(cid, "tracker"),
                conversation_key(cid, "lease"), conversation_key(cid, f"wake:{sequence + 1}"),
                OUTBOUND_STREAM]
        args: list[bytes | str | int] = [sequence, owner, tracker.to_json(),
                                         *(msgspec.json.encode(m) for m in outbound)]
        result = self._commit(keys=keys, args=args)
        return Commit(result.decode() if isinstance(result, bytes) else result)
