"""What the WhatsApp channel keeps in Redis, so that every gateway replica sees the same.

    parley:whatsapp:choices:{conversation}  hash: the buttons last offered as a numbered
                                            list (``sequence``, ``buttons``), 24 h
    parley:whatsapp:sent:{MessageSid}       hash: the reply a Twilio message carried
                                            (conversation, sequence, index, template) and
                                            its furthest delivery status, 7 d
    parley:whatsapp:failure:{MessageSid}    set once the message's failure was acted on, 7 d

Each expiry is capped by ``PARLEY_RETENTION_DAYS`` (``workers.retention``): what the channel
remembers of a conversation does not outlive the conversation's own state.

A person answers a numbered list with "2" or "no": ``choose`` turns that into the button's
payload at ingress. A reply without buttons to a later message clears the choices, so an
old list cannot capture an unrelated "1". Each step is one Lua script: replicas and
repeated status callbacks cannot interleave inside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import msgspec
import redis.asyncio as aioredis

from channels.models import Button, InboundMessage, OutboundMessage
from channels.whatsapp.adapter import StatusReport
from channels.whatsapp.render import chosen_payload
from gateway.dispatcher import DEAD_LETTER_STREAM
from workers.bus import OUTBOUND_STREAM
from workers.retention import RetentionSettings

__all__ = ["SentReply", "WhatsAppState", "choices_key", "sent_key"]

CHOICES_TTL = 24 * 3600  # as long as WhatsApp's session window
SENT_TTL = 7 * 24 * 3600
_buttons = msgspec.json.Decoder(tuple[Button, ...])

_AFTER_SEND = """
redis.call('HSET', KEYS[1], 'conversation_id', ARGV[1], 'in_reply_to', ARGV[2],
           'sequence', ARGV[3], 'index', ARGV[4], 'template', ARGV[5])
redis.call('HSETNX', KEYS[1], 'status', 'queued')
redis.call('HSETNX', KEYS[1], 'rank', '0')
redis.call('EXPIRE', KEYS[1], ARGV[6])
if ARGV[7] == 'keep' then return 0 end
if ARGV[7] ~= '' then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'sequence', ARGV[3], 'buttons', ARGV[7])
  redis.call('EXPIRE', KEYS[2], ARGV[8])
  return 1
end
local offered = redis.call('HGET', KEYS[2], 'sequence')
if offered and tonumber(offered) < tonumber(ARGV[3]) then redis.call('DEL', KEYS[2]) end
return 0
"""

_RECORD = """
local rank = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
local changed = 0
if tonumber(ARGV[2]) > rank then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rank', ARGV[2], 'error_code', ARGV[3],
             'updated', ARGV[4])
  changed = 1
end
if ARGV[6] ~= '' then redis.call('HSETNX', KEYS[1], 'conversation_id', ARGV[6]) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
local known = redis.call('HMGET', KEYS[1], 'conversation_id', 'in_reply_to', 'sequence',
                         'index', 'template')
return {changed, known[1] or '', known[2] or '', known[3] or '0', known[4] or '0',
        known[5] or '0'}
"""

_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000000, '*', unpack(ARGV, 2))
return 1
"""


def choices_key(conversation_id: str) -> str:
    return f"parley:whatsapp:choices:{conversation_id}"


def sent_key(sid: str) -> str:
    return f"parley:whatsapp:sent:{sid}"


def _failure_key(sid: str) -> str:
    return f"parley:whatsapp:failure:{sid}"


@dataclass(frozen=True, slots=True)
class SentReply:
    """The reply a Twilio message carried, as far as this gateway remembers it."""

    sid: str
    conversation_id: str
    in_reply_to: str
    sequence: int
    index: int
    template: bool
    changed: bool  # this report moved the message's status forward


class WhatsAppState:
    def __init__(self, client: aioredis.Redis, *,
                 retention: RetentionSettings | None = None) -> None:
        self._redis = client
        retention = retention or RetentionSettings()
        self._choices_ttl = retention.capped(CHOICES_TTL)
        self._sent_ttl = retention.capped(SENT_TTL)
        self._after_send = client.register_script(_AFTER_SEND)
        self._record = client.register_script(_RECORD)
        self._once = client.register_script(_ONCE)

    async def choose(self, message: InboundMessage) -> InboundMessage:
        """``message`` with the payload of the offered button its text names, if any."""
        if message.payload is not None or not message.text.strip():
            return message
        offered = await self._redis.hget(choices_key(message.conversation_id), "buttons")
        if offered is None:
            return message
        payload = chosen_payload(message.text, _buttons.decode(offered))
        return message if payload is None else msgspec.structs.replace(message,
                                                                       payload=payload)

    async def after_send(self, sid: str, message: OutboundMessage, *, template: bool) -> None:
        """Remember what ``sid`` carried; offer its buttons, or drop older ones."""
        if template:
            choices = "keep"  # a template says nothing about the session's choices
        else:
            choices = msgspec.json.encode(message.buttons).decode() if message.buttons else ""
        await self._after_send(
            keys=[sent_key(sid), choices_key(message.conversation_id)],
            args=[message.conversation_id, message.in_reply_to, message.sequence,
                  message.index, int(template), self._sent_ttl, choices, self._choices_ttl])

    async def record(self, report: StatusReport) -> SentReply:
        """Keep the furthest status of ``report.sid``; what the message carried."""
        fallback = (f"whatsapp:{report.business}:{report.person}"
                    if report.business and report.person else "")
        result: list[Any] = await self._record(
            keys=[sent_key(report.sid)],
            args=[report.status, report.rank, report.error_code or "", int(time.time()),
                  self._sent_ttl, fallback])
        changed, cid, in_reply_to, sequence, index, template = (
            v.decode() if isinstance(v, bytes) else v for v in result)
        return SentReply(sid=report.sid, conversation_id=str(cid),
                         in_reply_to=str(in_reply_to), sequence=int(sequence),
                         index=int(index), template=template == "1", changed=changed == 1)

    async def queue_once(self, sid: str, message: OutboundMessage) -> bool:
        """Put ``message`` on the outbound stream, unless ``sid``'s failure was handled."""
        return await self._act_once(sid, OUTBOUND_STREAM,
                                    {"message": msgspec.json.encode(message)})

    async def dead_letter_once(self, sent: SentReply, reason: str) -> bool:
        """Report ``sent`` in the dead-letter stream, unless its failure was handled."""
        return await self._act_once(sent.sid, DEAD_LETTER_STREAM, {
            "entry": f"twilio:{sent.sid}", "reason": reason,
            "conversation_id": sent.conversation_id, "sequence": sent.sequence})

    async def _act_once(self, sid: str, stream: str, fields: dict[str, Any]) -> bool:
        flat = [part for pair in fields.items() for part in pair]
        done = await self._once(keys=[_failure_key(sid), stream], args=[self._sent_ttl, *flat])
        return bool(done)
