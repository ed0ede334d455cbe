"""The bus between gateway and workers: names, and publishing in Celery's own protocol.

The gateway must not block its event loop: Celery's ``apply_async`` costs 1–4 ms of
blocking work per call here (kombu builds a producer per publish) while one ``LPUSH``
costs ~0.1 ms. So the gateway builds the Celery protocol-2 message itself (what kombu's
Redis transport would push) and ``LPUSH``es it with the async Redis client; a normal
Celery worker consumes it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec

from channels.models import InboundMessage

__all__ = [
    "HEARTBEAT_KEY",
    "INBOUND_QUEUE",
    "INBOUND_TASK",
    "OUTBOUND_STREAM",
    "celery_message",
    "conversation_key",
    "dedupe_key",
    "inbound_message",
    "inbound_template",
    "live_channel",
    "typing_frame",
]

INBOUND_QUEUE = "parley.inbound"
INBOUND_TASK = "parley.handle_inbound"
OUTBOUND_STREAM = "parley:outbound"
HEARTBEAT_KEY = "parley:workers:heartbeat"  # set by workers with a short expiry


def conversation_key(conversation_id: str, part: str) -> str:
    """Keys of one conversation: ``seq`` (tickets), ``served``, ``tracker``, ``lease``,
    ``wake:<n>``. The id is in braces: one hash slot, so a Lua script may touch them all."""
    return f"parley:conv:{{{conversation_id}}}:{part}"


def live_channel(conversation_id: str) -> str:
    """The pub/sub channel on which a conversation's live browser frames are fanned out to
    every gateway replica (replies, typing)."""
    return f"parley:live:{conversation_id}"


def typing_frame(on: bool) -> bytes:
    """The browser frame a worker publishes when it starts (and, with no reply, ends) a
    turn: the widget's typing indicator."""
    return b'{"type":"typing","on":true}' if on else b'{"type":"typing","on":false}'


def dedupe_key(channel: str, message_id: str) -> str:
    return f"parley:dedupe:{channel}:{message_id}"


def celery_message(task: str, args: list[Any], queue: str, task_id: str | None = None) -> bytes:
    """The JSON envelope kombu's Redis transport pushes for ``task.apply_async(args)``.

    The body is plain JSON (no ``body_encoding``), which kombu accepts, so that a Lua
    script can splice a value in (see ``inbound_template``).
    """
    task_id = task_id or str(uuid.uuid4())
    body = json.dumps([args, {}, {"callbacks": None, "errbacks": None, "chain": None,
                                  "chord": None}])
    envelope = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py", "task": task, "id": task_id, "shadow": None, "eta": None,
            "expires": None, "group": None, "group_index": None, "retries": 0,
            "timelimit": [None, None], "root_id": task_id, "parent_id": None,
            "argsrepr": f"<{len(args)} args>", "kwargsrepr": "{}", "origin": "parley-gateway",
            "ignore_result": True, "replaced_task_nesting": 0, "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": task_id, "reply_to": "", "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()


def inbound_message(message: InboundMessage) -> bytes:
    """The Celery message that asks a worker to handle ``message`` (sequence included)."""
    prefix, suffix = inbound_template(message)
    return prefix + str(message.sequence).encode() + suffix


def inbound_template(message: InboundMessage) -> tuple[bytes, bytes]:
    """The Celery message for ``message`` split where its sequence number goes.

    The gateway's enqueue script assigns the sequence (``INCR``) and pushes
    ``prefix .. sequence .. suffix`` in the same atomic step; the task receives
    ``(message_json, sequence)``. The split point is a random marker, which no text a user
    sends can contain.
    """
    marker = uuid.uuid4().hex
    payload = msgspec.json.encode(message).decode()
    raw = celery_message(INBOUND_TASK, [payload, marker], INBOUND_QUEUE,
                         task_id=f"{message.conversation_id}#{message.message_id}")
    # The marker sits JSON-encoded twice (args inside the body string): \"<marker>\"
    quoted = b'\\"' + marker.encode() + b'\\"'
    prefix, found, suffix = raw.partition(quoted)
    if not found:
        raise AssertionError("sequence marker not found in the Celery message")
    return prefix, suffix
