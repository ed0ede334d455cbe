"""The archive's record of one turn, appended to ``parley:archive`` by the turn's commit.

One JSON object per served inbox entry, built from what the turn already has (the inbound
message, the events the turn added to the tracker, the replies it queued) so that the
archiver (``desk.archiver``) can store the turn without asking Redis or the bot anything:

``v``                    record format (1)
``conversation_id``, ``sequence``, ``channel``, ``user_id``, ``message_id``
``kind``                 the inbox entry's kind (``message``, ``conversation_start``,
                         ``agent_message``, ``handoff_end``, ``handoff_resume``, ``feedback``)
``text``, ``payload``    what the person sent (``payload``: a pressed button's, else null)
``attachments``          [{url, content_type}]
``received_at``          when the gateway accepted it (epoch seconds)
``queued_at``            when its replies were queued (this commit; epoch seconds)
``latency_ms``           ``queued_at - received_at``
``model``                the NLU model's version (``brain.nlu.model.NluModel.version``)
``parse``                the user message's parse (intent, confidence, ranking, entities,
                         fallback reason), or null when the turn parsed nothing
``events``               the tracker events the turn added (``Event.to_dict``)
``replies``              the queued messages: index, author, agent name, text, buttons, image
``state``                after the turn: active form, requested slot, handed off
``feedback``             for a feedback entry, its validated ``control`` (``workers.feedback``)

It is archived as it is; what the archive keeps of it is ``desk.archive_store``'s job.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from brain.dialogue.events import Event, UserUttered
from brain.dialogue.tracker import Tracker
from channels.models import InboundMessage, OutboundMessage

__all__ = ["RECORD_FORMAT", "encode_record", "turn_fields", "turn_record"]

RECORD_FORMAT = 1


def turn_record(message: InboundMessage, tracker: Tracker, events: Sequence[Event],
                replies: Sequence[OutboundMessage], *, model: str, queued_at: float,
                feedback: dict[str, Any] | None = None) -> str:
    """The JSON record of the turn that served ``message`` (module doc)."""
    return encode_record(turn_fields(message, tracker, events, replies, model=model,
                                     queued_at=queued_at, feedback=feedback))


def encode_record(fields: dict[str, Any]) -> str:
    """``turn_fields``'s record as the archive stream holds it."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=str)


def turn_fields(message: InboundMessage, tracker: Tracker, events: Sequence[Event],
                replies: Sequence[OutboundMessage], *, model: str, queued_at: float,
                feedback: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record of the turn that served ``message`` as data (the worker counts its
    metrics from it before it is encoded, instead of decoding the JSON again)."""
    received = message.received_at or queued_at
    parse = next((e.parse for e in events if isinstance(e, UserUttered)), None)
    record = {
        "v": RECORD_FORMAT,
        "conversation_id": message.conversation_id,
        "sequence": message.sequence,
        "channel": message.channel,
        "user_id": message.user_id,
        "message_id": message.message_id,
        "kind": message.kind,
        "text": message.text,
        "payload": message.payload,
        "attachments": [{"url": a.url, "content_type": a.content_type}
                        for a in message.attachments],
        "received_at": received,
        "queued_at": queued_at,
        "latency_ms": round(max(0.0, queued_at - received) * 1000, 1),
        "model": model,
        "parse": parse,
        "events": [e.to_dict() for e in events],
        "replies": [{"index": r.index, "author": r.author, "agent_name": r.agent_name,
                     "text": r.text, "buttons": [[b.title, b.payload] for b in r.buttons],
                     "image": r.image} for r in replies],
        "state": {"active_form": tracker.active_form, "requested_slot": tracker.requested_slot,
                  "handoff": bool(tracker.handoff)},
        "feedback": feedback,
    }
    return record
