"""How long Redis keeps what Parley writes about a conversation (``PARLEY_RETENTION_DAYS``).

Every key of one conversation (``workers.bus.conversation_key``: ``seq``, ``served``,
``inbox``, ``attempts``, ``tracker``, ``events``, ``owner``, ``outseq``, ``outq``) expires
``conversation_seconds`` (30 days) after the conversation's last activity. The expiry is set
by the scripts that write the keys, in the same atomic step, never by a sweep:

- the gateway's ``ENQUEUE`` (``workers.inbox``), for each accepted message: ``seq``,
  ``served`` and ``inbox``;
- the workers' commit (``workers.conversation_store``), for each turn: all of them;
- the desk's operations that put an entry in the inbox (``desk.ownership``: a claim, an
  agent's reply, a hand-back, a close, a queue timeout): ``seq``, ``served``, ``inbox``.

``seq`` and ``served`` decide what a worker serves next: they are always renewed together,
to the same instant, so they expire together; and a message that finds ``seq`` gone starts
the conversation's numbering afresh (``served``, ``inbox`` and ``attempts`` are dropped with
it in the same script), so a conversation never wedges on half of a pair. The expiry must
be far longer than anything can wait (a serve task: ``QUEUED_TTL``, 300 s; a lease: seconds;
a reply: until delivered): every message and every commit renews it.

A conversation a person holds (its owner is ``queued`` or ``agent``: an open handoff) does
not expire at all: the commit and the desk make its keys persistent while it is open and
give them their expiry again with the turn that ends the handoff. The handoff's own record
(``parley:desk:handoff:<id>``) likewise has no expiry while it is open (``waiting``,
``offline``, ``active``) and expires ``conversation_seconds`` after it is closed or
withdrawn. An offline ticket stays until someone takes or closes it.

Other keys have their own expiries, documented where they are written and listed in the
README ("Retention"): dedupe keys (a platform's message ids 24 h, an agent's 7 days, never
renewed), the web chat's outbox (``PARLEY_SESSION_DAYS``), Telegram's button references
(30 days) and reply parts (1 day), WhatsApp's numbered choices (24 h) and delivery statuses
(7 days). Those that hold what a conversation said — the outbox, the button references,
WhatsApp's choices and statuses — never outlive the conversation's state either:
``capped`` bounds them by ``conversation_seconds``.

The keys that are not any one conversation's (queues, streams, counters, sets of ids,
published settings) have no expiry: ``GLOBAL_KEYS`` names them, and the end-to-end suite
fails on any other key without one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DAY", "DEFAULT_DAYS", "GLOBAL_KEYS", "KEEP_LUA", "RetentionSettings",
           "RetentionSettingsError"]

DAY = 86400
DEFAULT_DAYS = 30
_VARIABLE = "PARLEY_RETENTION_DAYS"
_MAX_DAYS = 3650

# Lua shared by the scripts that renew a conversation's keys (``keep``): persistent while
# its owner is a person (``is_open``), else ``ttl`` seconds from now — one instant for all
# of them (``PEXPIREAT``, not ``EXPIRE``: Redis reads its clock again at each ``EXPIRE``,
# and ``seq`` must never outlive ``served``, nor ``served`` ``seq``).
KEEP_LUA = """
local function is_open(state) return state == 'queued' or state == 'agent' end
local function keep(open, ttl, keys)
  if open then
    for _, key in ipairs(keys) do redis.call('PERSIST', key) end
    return
  end
  local now = redis.call('TIME')
  local at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
             + tonumber(ttl) * 1000
  for _, key in ipairs(keys) do redis.call('PEXPIREAT', key, at) end
end
"""

# Keys without an expiry by design (fnmatch patterns), and why each is not a conversation's.
GLOBAL_KEYS: tuple[tuple[str, str], ...] = (
    ("parley.inbound", "the Celery queue of serve tasks"),
    ("_kombu.binding*", "kombu's routing tables"),
    ("unacked", "kombu: task messages a worker holds"),
    ("unacked_index", "kombu: when each held task message was taken"),
    ("parley:outbound", "stream: replies to deliver (MAXLEN)"),
    ("parley:outbound:dead", "stream: replies given up on (MAXLEN)"),
    ("parley:inbound:dead", "stream: messages no turn could serve (MAXLEN)"),
    ("parley:archive", "stream: turn records for the archiver (MAXLEN)"),
    ("parley:desk:events", "stream: desk events (MAXLEN)"),
    ("parley:desk:webhooks:dead", "stream: desk events no webhook took (MAXLEN)"),
    ("parley:unserved", "zset: conversations with unserved messages (left when served)"),
    ("parley:model:active", "hash: the NLU model the workers serve"),
    ("parley:desk:teams", "hash: the teams' settings, published by the workers"),
    ("parley:desk:canned", "hash: the bot's responses as canned replies"),
    ("parley:desk:nlu", "the bot's intent and entity names"),
    ("parley:desk:queue:*", "zset: a team's waiting handoff ids"),
    ("parley:desk:offline", "zset: offline ticket ids"),
    ("parley:desk:active", "zset: claimed handoff ids"),
    ("parley:desk:deadlines", "zset: open handoff ids by their next timer"),
    ("parley:desk:closed", "zset: closed handoff ids, trimmed to the retention"),
    ("parley:desk:presence", "hash: agent id to chosen status"),
    ("parley:desk:presence:*", "zset: a team's online agents by presence expiry"),
    ("parley:desk:waits:*", "list: a team's last 50 waits"),
    ("parley:desk:round_robin:*", "counter: a team's auto-assignment turn"),
)


class RetentionSettingsError(ValueError):
    """One line naming the variable and the expected form."""


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """``conversation_seconds``: how long a conversation's keys outlive its last activity
    (``PARLEY_RETENTION_DAYS`` × 86400). Read by the gateway, the workers and the desk, so
    every writer of a conversation's keys renews them to the same length."""

    conversation_seconds: int = DEFAULT_DAYS * DAY

    def capped(self, seconds: int) -> int:
        """``seconds``, or less: what holds a conversation's words never outlives it."""
        return max(1, min(seconds, self.conversation_seconds))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetentionSettings:
        env = os.environ if environ is None else environ
        raw = env.get(_VARIABLE)
        if raw is None or not raw.strip():
            return cls()
        try:
            days = float(raw)
        except ValueError:
            days = float("nan")
        if not 0 < days <= _MAX_DAYS:  # NaN fails too
            raise RetentionSettingsError(
                f"{_VARIABLE} must be a number of days above 0 and at most {_MAX_DAYS} "
                f"(decimals allowed: 0.5 is 12 hours), got {raw!r}")
        return cls(conversation_seconds=max(1, round(days * DAY)))
