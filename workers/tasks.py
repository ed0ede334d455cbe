"""``serve_conversation``: serve every unserved message of one conversation, in order.

The task carries only the conversation id; the messages wait in its inbox
(``workers.inbox``). Under the conversation's lease (``workers.ordering``) the worker runs
one turn per entry — NLU, dialogue, actions — and commits it (``workers.conversation_store``),
which hands over the next entry; after ``BATCH`` turns it yields the conversation back to
the queue's end, so one flooding conversation holds at most one worker process at a time,
for at most ``BATCH`` turns, while the others are served.

An inbound event may be the start of a conversation, which a channel enqueues when a
conversation opens (the browser chat does, for a new session: ``InboundMessage.kind``
``"conversation_start"``). It is not a person's message: it gets no NLU and no typing
indicator, and the bot only starts the session and says its greeting, if it has one
(``Bot.start_conversation``).

The agent desk's entries (``InboundMessage.kind``: ``agent_message``, ``handoff_end``,
``handoff_resume``) are served the same way, in order with the person's messages: an
agent's reply is recorded (``AgentUttered``) and sent as the agent's; the end of a
handoff gives the bot the conversation back. Each turn is decided under the owner the
lease or the last commit reported (``Ownership``); a commit refused because the desk
changed the owner meanwhile (``Commit.CONFLICT``) is served again from the stored tracker
under the new owner, so a bot reply never goes out on a conversation a person took.

Failures: a Redis error fails the task, which is retried with backoff (its messages are in
the inbox either way, and the gateway's sweep asks again for a stalled conversation). A
turn that raises is logged and left for a later attempt; an entry attempted
``MAX_ATTEMPTS`` times (a message that kills or breaks every worker serving it), missing
or undecodable is given up on: recorded on ``parley:inbound:dead`` with the reason, and
the conversation goes on.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import msgspec
import redis
from celery import Task
from celery.signals import worker_process_init

from brain.actions.context import OutgoingMessage
from brain.dialogue.engine import TurnResult
from brain.dialogue.events import AgentUttered, HandoffStarted
from brain.dialogue.handoff import Ownership
from brain.dialogue.tracker import Tracker
from channels.log_privacy import sensitive_values
from channels.models import Button, InboundMessage, OutboundMessage, decode_inbound
from workers import metrics
from workers.bus import SERVE_TASK, live_channel, typing_frame
from workers.celery_app import app
from workers.conversation_store import Commit, Step
from workers.feedback import answer_feedback, feedback_entry, with_question
from workers.handoff_desk import TurnFacts, desk_ops
from workers.model_switch import model_held
from workers.ordering import BATCH, MAX_ATTEMPTS, ConversationLease, Entry
from workers.runtime import WorkerRuntime, runtime
from workers.turn_record import encode_record, turn_fields
from workers.turn_redaction import redact_record, sensitive_strings

__all__ = ["BATCH", "MAX_ATTEMPTS", "serve", "serve_conversation"]

_log = logging.getLogger("parley.workers.tasks")
LIVE_CHANNELS = frozenset({"webchat"})  # channels whose clients watch turns live
_RETRY_CAP = 10.0   # seconds between retries after a Redis error, at most
_MAX_CONFLICTS = 10  # turns of one entry done again because the desk changed its owner


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _load_bot(**_: Any) -> None:
    runtime()


@app.task(name=SERVE_TASK, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def serve_conversation(self: Task, conversation_id: str) -> str:
    try:
        return serve(runtime(), conversation_id)
    except redis.RedisError as exc:
        _log.warning("conversation %s: Redis unavailable (%s); retrying", conversation_id, exc)
        raise self.retry(exc=exc, countdown=min(0.5 * 2 ** self.request.retries,
                                                _RETRY_CAP)) from exc


class _TurnFailed(Exception):
    """A turn raised; the entry stays in the inbox for a later attempt."""


def serve(rt: WorkerRuntime, conversation_id: str) -> str:
    """Serve the conversation's inbox: 'done', 'yielded', 'busy', 'idle', 'lease_lost',
    'out_of_turn' or 'failed'."""
    # The NLU model is held for the whole serve: a switch waits (workers.model_switch).
    with (model_held(rt.models),
          ConversationLease(rt.redis, conversation_id, renewer=rt.leases) as lease):
        taken = lease.take()
        if taken.entry is None:
            return taken.kind
        tracker = rt.store.decode(taken.state) or rt.bot.new_tracker(conversation_id)
        entry: Entry | None = taken.entry
        owner = taken.owner
        turns = conflicts = 0
        while entry is not None:
            turns += 1
            try:
                step = _serve_entry(rt, lease, tracker, entry, owner, last=turns >= BATCH)
            except _TurnFailed:
                return "failed"  # the lease is released on the way out
            if step.outcome is Commit.CONFLICT and conflicts < _MAX_CONFLICTS:
                # The desk changed the owner during the turn: the turn is done again,
                # from the stored tracker, under the new owner.
                conflicts += 1
                tracker = rt.store.load(conversation_id) or rt.bot.new_tracker(conversation_id)
                owner = step.owner or owner
                turns -= 1
                continue
            if step.outcome is not Commit.NEXT:
                if step.outcome is not Commit.CONFLICT:  # else released on the way out
                    lease.ended()
                if step.outcome is Commit.LEASE_LOST:
                    _log.warning("conversation %s: lease lost while serving #%d; another "
                                 "worker serves it", conversation_id, entry.sequence)
                return str(step.outcome.value)
            entry, owner, conflicts = step.entry, step.owner or owner, 0
    return "done"


def _serve_entry(rt: WorkerRuntime, lease: ConversationLease, tracker: Tracker,
                 entry: Entry, owner: Ownership, *, last: bool) -> Step:
    cid = lease.conversation_id
    commit = functools.partial(rt.store.commit, conversation_id=cid, sequence=entry.sequence,
                               owner=lease.owner, lease_ms=rt.leases.lease_ms, yield_turn=last,
                               epoch=owner.epoch)
    message, problem = _decoded(entry)
    if message is None or entry.attempts > MAX_ATTEMPTS:
        reason = problem or f"failed on {MAX_ATTEMPTS} attempts"
        _log.error("conversation %s: message #%d given up on (%s); recorded on "
                   "parley:inbound:dead", cid, entry.sequence, reason)
        given_up = commit(None, now_ms=_now_ms(), dead_reason=reason,
                          dead_message=entry.message or b"")
        metrics.observe_dead_letter(reason, given_up.outcome)
        return given_up
    rating = feedback_entry(message)  # a rating: no NLU, no dialogue (workers.feedback)
    if rating is not None:
        message = rating.message  # kind "feedback", as the turn record stores it
    starts = message.kind == "conversation_start"
    # The widget's typing indicator: a person's message the bot is about to answer.
    live = message.channel in LIVE_CHANNELS and message.kind == "message" and \
        not tracker.handoff
    if live:
        _publish(rt, cid, typing_frame(True))
    loaded = tracker.event_count
    try:
        at = message.received_at or time.time()
        result = answer_feedback(rating, rt.bot.feedback, tracker, now=at) \
            if rating is not None else _turn(rt, tracker, message, owner, starts=starts)
        # "Was this helpful?" or the 1-5 question, where feedback.yml asks for one.
        result = with_question(rt.bot.feedback, message, tracker, tracker.events_since(loaded),
                               result, now=at)
    except Exception as exc:
        _log.exception("conversation %s: the turn of #%d failed (attempt %d of %d)", cid,
                       entry.sequence, entry.attempts, MAX_ATTEMPTS)
        if live:
            _publish(rt, cid, typing_frame(False))
        raise _TurnFailed from exc
    now = time.time()
    ops = desk_ops(rt.desk, tracker, TurnFacts(message, owner, result.handoff, now))
    epoch = owner.epoch + 1 if ops is not None and ops.change else owner.epoch
    outbound = _outbound(message, result, epoch)
    record = turn_fields(message, tracker, tracker.events_since(loaded), outbound,
                         model=rt.bot.nlu.version, queued_at=now,
                         feedback=(message.control or None) if rating is not None else None)
    privacy = rt.bot.privacy
    sensitive = sensitive_strings(record, tracker.slots, privacy) if privacy.any else {}
    stored = redact_record(record, rt.redactor, privacy=privacy, sensitive=sensitive)
    with sensitive_values(sensitive):  # the commit's log lines show them as [sensitive]
        step = commit(tracker, now_ms=int(now * 1000), loaded_count=loaded,
                      outbound=outbound, desk=ops, record=encode_record(stored))
    metrics.observe_turn(record, step.outcome)
    if live and not result.messages:
        _publish(rt, cid, typing_frame(False))
    return step


def _decoded(entry: Entry) -> tuple[InboundMessage | None, str]:
    if entry.message is None:
        return None, "missing from the inbox"
    try:
        message = decode_inbound(entry.message)
    except msgspec.DecodeError as exc:
        return None, f"cannot be decoded: {exc}"
    return msgspec.structs.replace(message, sequence=entry.sequence), ""


def _turn(rt: WorkerRuntime, tracker: Tracker, message: InboundMessage, owner: Ownership,
          *, starts: bool) -> TurnResult:
    now = message.received_at or time.time()
    if starts:
        return rt.bot.start_conversation(tracker, channel=message.channel, now=now)
    if message.kind == "agent_message":
        agent = message.control.get("agent") or {}
        tracker.apply(AgentUttered(timestamp=now, text=message.text,
                                   agent=str(agent.get("id", message.user_id)),
                                   name=str(agent.get("name", "")),
                                   message_id=message.message_id))
        return TurnResult((OutgoingMessage(message.text),), ())
    if message.kind == "handoff_end":
        return rt.bot.engine.end_handoff(tracker, message.control, now=now,
                                         channel=message.channel)
    if message.kind == "handoff_resume":
        if not tracker.handoff:
            tracker.apply(HandoffStarted(timestamp=now, reason="offline ticket taken",
                                         team=str(message.control.get("team", ""))))
        return TurnResult((), ())
    if owner.state == "agent" and not tracker.handoff:
        # An agent took an offline ticket after the bot had the conversation again; the
        # entry that tells the tracker so comes after the messages already waiting.
        tracker.apply(HandoffStarted(timestamp=now, reason="offline ticket taken",
                                     team=owner.team))
    files = tuple({"url": a.url, "content_type": a.content_type} for a in message.attachments)
    return rt.bot.respond(tracker, message.payload or message.text, channel=message.channel,
                          message_id=message.message_id, now=now, owner=owner,
                          attachments=files)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _publish(rt: WorkerRuntime, conversation_id: str, frame: bytes) -> None:
    """Best effort: a typing indicator is not worth failing a turn for."""
    try:
        rt.redis.publish(live_channel(conversation_id), frame)
    except redis.RedisError as exc:
        _log.warning("conversation %s: typing frame not published: %s", conversation_id, exc)


def _outbound(message: InboundMessage, result: TurnResult, epoch: int
              ) -> list[OutboundMessage]:
    agent = message.kind == "agent_message"
    name = str((message.control.get("agent") or {}).get("name", "")) if agent else ""
    return [OutboundMessage(conversation_id=message.conversation_id, channel=message.channel,
                            in_reply_to=message.message_id, sequence=message.sequence,
                            index=i, text=m.text,
                            buttons=tuple(Button(b["title"], b["payload"]) for b in m.buttons),
                            image=m.image, author="agent" if agent else "bot",
                            agent_name=name, epoch=epoch)
            for i, m in enumerate(result.messages)]
