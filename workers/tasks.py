"""``handle_inbound``: one task per inbound message, served in order per conversation.

An inbound event may instead be the start of a conversation, which a channel enqueues
when a conversation opens (the browser chat does, for a new session: ``InboundMessage.kind``
``"conversation_start"``). It is not a person's message: it gets no NLU and no typing
indicator, and the bot only starts the session and says its greeting, if it has one
(``Bot.start_conversation``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
import redis
from celery import Task
from celery.signals import worker_process_init

from brain.dialogue.engine import TurnResult
from brain.dialogue.tracker import Tracker
from channels.models import Button, InboundMessage, OutboundMessage, decode_inbound
from workers.bus import INBOUND_TASK, live_channel, typing_frame
from workers.celery_app import app
from workers.conversation_store import Commit
from workers.ordering import TicketLock, Turn
from workers.runtime import WorkerRuntime, runtime

__all__ = ["handle_inbound", "serve"]

_log = logging.getLogger("parley.workers.tasks")
LIVE_CHANNELS = frozenset({"webchat"})  # channels whose clients watch turns live


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _load_bot(**_: Any) -> None:
    runtime()


@app.task(name=INBOUND_TASK, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def handle_inbound(self: Task, payload: str, sequence: int) -> str:
    """``sequence`` comes apart from ``payload``: the gateway's enqueue script assigns it."""
    message = msgspec.structs.replace(decode_inbound(payload), sequence=int(sequence))
    outcome = serve(runtime(), message)
    if outcome == "not_yet":
        # Earlier messages of this conversation are not served yet: give the slot back.
        raise self.retry(countdown=0.2)
    return outcome


def serve(rt: WorkerRuntime, message: InboundMessage) -> str:
    """Serve ``message`` if it is its turn: 'committed', 'duplicate', 'not_yet' or 'lost'."""
    key = rt.store.tracker_key(message.conversation_id)
    with TicketLock(rt.redis, message.conversation_id, message.sequence, state_key=key,
                    renewer=rt.leases, wait_seconds=rt.settings.turn_wait_seconds) as lock:
        turn = lock.acquire()
        if turn is Turn.DONE:
            return "duplicate"
        if turn is Turn.NOT_YET:
            return "not_yet"
        starts = message.kind == "conversation_start"
        live = message.channel in LIVE_CHANNELS and not starts
        if live:
            _publish(rt, message.conversation_id, typing_frame(True))
        tracker = rt.store.decode(lock.state) or rt.bot.new_tracker(message.conversation_id)
        loaded = tracker.event_count
        result = _turn(rt, tracker, message, starts=starts)
        commit = rt.store.commit(tracker, sequence=message.sequence, owner=lock.owner,
                                 loaded_count=loaded, outbound=_outbound(message, result))
        if commit is not Commit.LEASE_LOST:
            lock.ended()  # the commit script released the lease
        if live and not result.messages:
            _publish(rt, message.conversation_id, typing_frame(False))
    if commit is Commit.LEASE_LOST:
        _log.warning("conversation %s: lease lost while serving #%d; another worker serves it",
                     message.conversation_id, message.sequence)
        return "lost"
    return "committed" if commit is Commit.COMMITTED else "duplicate"


def _turn(rt: WorkerRuntime, tracker: Tracker, message: InboundMessage, *, starts: bool
          ) -> TurnResult:
    now = message.received_at or time.time()
    if starts:
        return rt.bot.start_conversation(tracker, channel=message.channel, now=now)
    return rt.bot.respond(tracker, message.payload or message.text, channel=message.channel,
                          message_id=message.message_id, now=now)


def _publish(rt: WorkerRuntime, conversation_id: str, frame: bytes) -> None:
    """Best effort: a typing indicator is not worth failing a turn for."""
    try:
        rt.redis.publish(live_channel(conversation_id), frame)
    except redis.RedisError as exc:
        _log.warning("conversation %s: typing frame not published: %s", conversation_id, exc)


def _outbound(message: InboundMessage, result: TurnResult) -> list[OutboundMessage]:
    return [OutboundMessage(conversation_id=message.conversation_id, channel=message.channel,
                            in_reply_to=message.message_id, sequence=message.sequence,
                            index=i, text=m.text,
                            buttons=tuple(Button(b["title"], b["payload"]) for b in m.buttons),
                            image=m.image)
            for i, m in enumerate(result.messages)]
