"""The desk as a worker's turn sees it: where a handoff goes, who is there, and the
desk's side of the turn's commit.

``RedisHandoffDesk.offer`` answers the dialogue's question (``brain.dialogue.handoff``):
the team desk.yml routes the handoff to, whether the team is open and has an agent online
(presence in Redis, kept by the desk), the place in its queue and the expected wait (the
median of the team's recent waits). ``desk_ops`` turns the turn's outcome into the
``DeskOps`` the commit applies atomically: the handoff record and its queue entry, the
owner's new state and epoch, and the desk events (``handoff.requested``,
``handoff.cancelled``, ``message.user``, ``message.agent``).

The team settings are also published to Redis (``DESK_TEAMS_KEY``) when a worker starts,
so the desk (which does not read bot folders) knows each team's targets.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from brain.dialogue.events import AgentUttered, BotUttered, HandoffStarted, UserUttered
from brain.dialogue.handoff import HandoffChange, HandoffOffer, Ownership
from brain.dialogue.tracker import Tracker
from brain.handoff.settings import DeskSettings, TeamSettings
from channels.models import InboundMessage
from workers.bus import DESK_TEAMS_KEY, desk_key
from workers.conversation_store import DeskOps

__all__ = ["RedisHandoffDesk", "TurnFacts", "desk_ops"]

_TRANSCRIPT_TURNS = 20   # messages copied into the handoff's request snapshot
_RECENT_WAITS = 20       # waits the expected wait is computed from


class RedisHandoffDesk:
    """``HandoffDesk`` on the desk's Redis keys (``workers.bus.desk_key``)."""

    def __init__(self, client: redis.Redis, settings: DeskSettings) -> None:
        self._redis = client
        self.settings = settings

    def team(self, name: str) -> TeamSettings:
        return self.settings.teams.get(name) or self.settings.teams[self.settings.default_team]

    def offer(self, *, requested_team: str, intent: str | None, slots: Mapping[str, Any],
              channel: str | None) -> HandoffOffer:
        team = self.settings.route(intent=intent, slots=slots, channel=channel or "",
                                   requested_team=requested_team or None)
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        pipe.zcount(desk_key("presence", team.name), int(now * 1000), "+inf")
        pipe.zcard(desk_key("queue", team.name))
        pipe.lrange(desk_key("waits", team.name), 0, _RECENT_WAITS - 1)
        online, waiting, waits = pipe.execute()
        is_open = team.is_open(datetime.now(UTC))
        recent = [float(w) for w in waits]
        return HandoffOffer(team=team.name, available=is_open and int(online) > 0,
                            position=int(waiting) + 1,
                            wait_seconds=statistics.median(recent) if recent else None,
                            hours=team.hours_text() if team.hours is not None else "")

    def publish(self, responses: Mapping[str, str], *, intents: Sequence[str] = (),
                entities: Sequence[str] = ()) -> None:
        """Tell the desk every team's settings, the bot's responses (its canned replies)
        and its intent and entity names (``desk_key("nlu")``, the review page's picker);
        idempotent, each worker does it when it starts."""
        teams = self.settings.to_json().get("teams", {})
        pipe = self._redis.pipeline(transaction=True)
        if teams:
            pipe.hset(DESK_TEAMS_KEY, mapping={
                name: json.dumps(value, sort_keys=True) for name, value in teams.items()})
        pipe.delete(desk_key("canned"))
        if responses:
            pipe.hset(desk_key("canned"), mapping=dict[Any, Any](responses))
        pipe.set(desk_key("nlu"), json.dumps({"intents": sorted(set(intents)),
                                              "entities": sorted(set(entities))}))
        pipe.execute()


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """What ``desk_ops`` needs to know of a served entry beyond the tracker."""

    message: InboundMessage
    owner: Ownership
    change: HandoffChange | None
    now: float


def desk_ops(desk: RedisHandoffDesk | None, tracker: Tracker, facts: TurnFacts
             ) -> DeskOps | None:
    """The desk's side of the turn (``None``: nothing for the desk)."""
    change, owner, message = facts.change, facts.owner, facts.message
    if change is not None and change.kind == "requested" and desk is not None:
        return _requested(desk, tracker, facts, change)
    if change is not None and change.kind == "withdrawn":
        return _withdrawn(owner, tracker, message, facts.now)
    if message.kind == "agent_message" and owner.handoff:
        return DeskOps(events=(_event("message.agent", message, owner.epoch, owner.handoff,
                                      facts.now, team=owner.team, text=message.text,
                                      agent=message.control.get("agent") or {},
                                      message_id=message.message_id,
                                      client_message_id=message.control.get("client_id", "")),))
    if message.kind == "message" and owner.state in ("queued", "agent") and owner.handoff:
        parse = _last_parse(tracker)
        seen = {"last_user_at": f"{facts.now:.3f}", "last_user_text": _excerpt(message)}
        return DeskOps(handoff_id=owner.handoff, handoff_key=desk_key("handoff", owner.handoff),
                       handoff=seen, events=(_event(
            "message.user", message, owner.epoch, owner.handoff, facts.now,
            team=owner.team, text=message.text, payload=message.payload,
            message_id=message.message_id,
            attachments=[{"url": a.url, "content_type": a.content_type}
                         for a in message.attachments], parse=parse),))
    return None


def _requested(desk: RedisHandoffDesk, tracker: Tracker, facts: TurnFacts,
               change: HandoffChange) -> DeskOps:
    message, now = facts.message, facts.now
    team = desk.team(change.team)
    handoff_id = uuid.uuid4().hex
    epoch = facts.owner.epoch + 1
    status = "offline" if change.offline else "waiting"
    # No first-response target for an offline ticket: nobody was there to miss it.
    sla = "" if change.offline else f"{now + team.first_response_seconds:.3f}"
    timeout_at = now + team.queue_timeout_seconds
    request = {"parse": _last_parse(tracker), "slots": _plain_slots(tracker),
               "active_form": tracker.active_form, "requested_slot": tracker.requested_slot,
               "transcript": _transcript(tracker), "channel": message.channel,
               "user_id": message.user_id}
    record = {"id": handoff_id, "conversation_id": message.conversation_id,
              "channel": message.channel, "account": message.account, "chat": message.chat,
              "user_id": message.user_id, "team": team.name, "reason": change.reason,
              "status": status, "agent": "", "requested_at": f"{now:.3f}", "claimed_at": "",
              "first_reply_at": "", "closed_at": "", "sla_deadline": sla,
              "timeout_at": f"{timeout_at:.3f}", "epoch": str(epoch),
              "last_user_at": f"{now:.3f}", "last_user_text": _excerpt(message),
              "request": json.dumps(request, ensure_ascii=False, default=str)}
    queue = desk_key("offline") if change.offline else desk_key("queue", team.name)
    deadline = min(float(sla), timeout_at) if sla else timeout_at
    event = _event("handoff.requested", message, epoch, handoff_id, now, team=team.name,
                   reason=change.reason, status=status, channel=message.channel,
                   request=request)
    return DeskOps(change="requested", handoff_id=handoff_id,
                   handoff_key=desk_key("handoff", handoff_id),
                   owner={"state": "queued", "epoch": str(epoch), "handoff": handoff_id,
                          "team": team.name, "agent": "", "offline": "1" if change.offline
                          else "0"},
                   handoff=record,
                   listed=((queue, int(now * 1000)), (desk_key("deadlines"),
                                                       int(deadline * 1000))),
                   events=(event,))


def _withdrawn(owner: Ownership, tracker: Tracker, message: InboundMessage, now: float
               ) -> DeskOps:
    """The user went back to the bot while waiting. An offline ticket on which they left
    a message stays a ticket (the message was promised to the team, as after a queue
    timeout); otherwise the handoff is withdrawn."""
    epoch = owner.epoch + 1
    hid = owner.handoff
    kept = owner.offline and _left_a_message(tracker)
    if kept:
        record = {"epoch": str(epoch), "withdrawn_at": f"{now:.3f}"}
        unlist: tuple[str, ...] = (desk_key("queue", owner.team), desk_key("deadlines"))
        listed: tuple[tuple[str, int], ...] = ()
    else:
        record = {"status": "withdrawn", "closed_at": f"{now:.3f}", "epoch": str(epoch)}
        unlist = (desk_key("queue", owner.team), desk_key("offline"), desk_key("deadlines"))
        listed = ((desk_key("closed"), int(now * 1000)),)
    return DeskOps(change="withdrawn", handoff_id=hid, handoff_key=desk_key("handoff", hid),
                   owner={"state": "bot", "epoch": str(epoch), "handoff": "", "agent": "",
                          "offline": "0"},
                   handoff=record, unlist=unlist, listed=listed,
                   events=(_event("handoff.cancelled", message, epoch, hid, now,
                                  team=owner.team, kept_as_ticket=kept),))


def _left_a_message(tracker: Tracker) -> bool:
    """A user message between the handoff and the one that withdraws it."""
    users = 0
    for event in reversed(tracker.events):
        if isinstance(event, HandoffStarted):
            return users > 1
        if isinstance(event, UserUttered):
            users += 1
    return False


def _event(kind: str, message: InboundMessage, epoch: int, handoff_id: str, now: float,
           **data: Any) -> tuple[str, str]:
    body = {"type": kind, "conversation_id": message.conversation_id, "epoch": epoch,
            "handoff_id": handoff_id, "at": now, **data}
    return kind, json.dumps(body, ensure_ascii=False, default=str)


def _excerpt(message: InboundMessage) -> str:
    text = message.text or message.payload or ("(attachment)" if message.attachments else "")
    return text[:200]


def _last_parse(tracker: Tracker) -> dict[str, Any]:
    latest = tracker.latest_message
    if latest is None:
        return {}
    parse = latest.parse
    return {"text": latest.text, "intent": parse.get("intent"),
            "intent_ranking": parse.get("intent_ranking", [])[:5],
            "entities": parse.get("entities", [])}


def _plain_slots(tracker: Tracker) -> dict[str, Any]:
    return {k: v for k, v in tracker.slots.items() if v is not None}


def _transcript(tracker: Tracker) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for event in tracker.events:
        if isinstance(event, UserUttered):
            intent = event.parse.get("intent") or {}
            lines.append({"kind": "user", "text": event.text, "at": event.timestamp,
                          "intent": intent.get("name"), "confidence": intent.get("confidence")})
        elif isinstance(event, BotUttered):
            lines.append({"kind": "bot", "text": event.text, "at": event.timestamp,
                          "response": event.response})
        elif isinstance(event, AgentUttered):
            lines.append({"kind": "agent", "text": event.text, "at": event.timestamp,
                          "agent": event.name})
    return lines[-_TRANSCRIPT_TURNS:]
