"""The bus between gateway and workers: names, keys, and Celery's own message format.

A person's message is not carried by its Celery task: the gateway's enqueue script
(``workers.inbox``) stores it in its conversation's inbox, and the task only says "serve
this conversation". Whatever happens to a task message (a worker killed holding it, a
task failed by a Redis outage, kombu's race on a dying connection), the message waits in
the inbox until a turn serves it, and the gateway's sweep asks again for conversations
that stopped making progress.

The gateway must not block its event loop: Celery's ``apply_async`` costs 1–4 ms of
blocking work per call here (kombu builds a producer per publish) while one ``LPUSH``
costs ~0.1 ms. So the gateway builds the Celery protocol-2 message itself (what kombu's
Redis transport would push) and ``LPUSH``es it inside its scripts; a normal Celery worker
consumes it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

__all__ = [
    "ARCHIVE_STREAM",
    "DEAD_LETTER_STREAM",
    "DESK_EVENTS_STREAM",
    "DESK_TEAMS_KEY",
    "HEARTBEAT_KEY",
    "INBOUND_DEAD_STREAM",
    "INBOUND_QUEUE",
    "OUTBOUND_STREAM",
    "SERVE_TASK",
    "UNSERVED_KEY",
    "celery_message",
    "conversation_key",
    "dedupe_key",
    "desk_key",
    "live_channel",
    "person_key",
    "queued_since",
    "redis_text",
    "serve_message",
    "typing_frame",
]

INBOUND_QUEUE = "parley.inbound"
SERVE_TASK = "parley.serve_conversation"
OUTBOUND_STREAM = "parley:outbound"
DEAD_LETTER_STREAM = "parley:outbound:dead"     # replies given up on, with the reason
INBOUND_DEAD_STREAM = "parley:inbound:dead"     # messages no turn could serve, with the reason
UNSERVED_KEY = "parley:unserved"  # zset: conversation → when it last made progress (ms)
HEARTBEAT_KEY = "parley:workers:heartbeat"  # set by workers with a short expiry
DESK_EVENTS_STREAM = "parley:desk:events"   # handoff and desk events (desk/events.py)
ARCHIVE_STREAM = "parley:archive"  # one record per turn (workers.turn_record), for the archiver
DESK_TEAMS_KEY = "parley:desk:teams"        # hash: team → its desk.yml settings (JSON)


def conversation_key(conversation_id: str, part: str) -> str:
    """Keys of one conversation. Inbound: ``seq`` (the last number given), ``inbox``
    (hash: number → message, until served), ``served`` (the last number served),
    ``queued`` (a serve task is queued or running), ``lease``, ``attempts``. State:
    ``tracker``, ``events``, ``owner`` (hash: who holds the conversation — ``state`` bot,
queued, agent or closed, its ``epoch``, ``handoff``, ``team``, ``agent``, ``offline``).
Outbound: ``outseq`` (the last reply number given), ``outq``
    (zset: stream entries of replies not yet delivered, by number). The browser chat's
    ``outbox`` (stream of frames), ``outbox_seq`` and ``delivered:…`` (``gateway.web.outbox``).
    Each expires (``workers.retention``). The id is in braces: one hash slot, so a Lua
    script may touch them all."""
    return f"parley:conv:{{{conversation_id}}}:{part}"


def desk_key(*parts: str) -> str:
    """Keys of the agent desk: ``handoff:<id>`` (hash, the handoff's record),
    ``queue:<team>`` (zset: waiting handoff ids by when they were requested),
    ``offline`` (zset: offline tickets), ``active`` (zset: claimed handoffs),
    ``closed`` (zset, recent), ``presence:<team>`` (zset: online agent ids by when their
    presence expires), ``waits:<team>`` (list: the team's recent waits, seconds),
    ``deadlines`` (zset: handoff id → its next timer)."""
    return "parley:desk:" + ":".join(parts)


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


def person_key(channel: str, user_id: str) -> str:
    """The set of one person's conversations (``CHANNEL:USER``), noted by the gateway when
    it accepts their messages and expiring with them: where an export or an erasure
    (``desk.person_rights``) finds what Redis holds about the person."""
    return f"parley:person:{channel}:{user_id}"


def celery_message(task: str, args: list[Any], queue: str, task_id: str | None = None,
                   queued_at: float | None = None) -> bytes:
    """The JSON envelope kombu's Redis transport pushes for ``task.apply_async(args)``.

    The body is plain JSON (no ``body_encoding``), which kombu accepts.
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
            **({} if queued_at is None else {"parley_queued_at": int(queued_at * 1000)}),
        },
        "properties": {
            "correlation_id": task_id, "reply_to": "", "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()


def serve_message(conversation_id: str, *, now: float | None = None) -> bytes:
    """The Celery message asking a worker to serve ``conversation_id``: every message of
    its inbox not served yet, in order (``workers.tasks.serve_conversation``). Each has its
    own task id: a conversation may be asked for again while one is queued. Its header
    ``parley_queued_at`` (ms) tells how far behind the workers are (``queued_since``)."""
    return celery_message(SERVE_TASK, [conversation_id], INBOUND_QUEUE,
                          queued_at=time.time() if now is None else now)


def redis_text(value: bytes | str) -> str:
    """A value as redis-py returns it (bytes, unless the client decodes) as text."""
    return value.decode() if isinstance(value, bytes) else value


def queued_since(raw: bytes | str | None) -> float | None:
    """When the Celery message ``raw`` was queued (seconds), if it says."""
    if raw is None:
        return None
    try:
        stamp = json.loads(raw)["headers"].get("parley_queued_at")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return float(stamp) / 1000 if isinstance(stamp, int | float) else None
