"""Desk API: the handoffs — list, read, claim, reply, note, transfer, hand back, close.

Who may do what: an agent works the handoffs of their teams and the ones they hold; a
supervisor or admin every one (and may take over, transfer or close one another agent
holds). Each change is one atomic operation (``desk.ownership``) and one audit entry. An
agent's reply carries a client message id: the same id posted again is the same message,
sent once.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import msgspec
from aiohttp import web

from desk import audit, records
from desk.accounts import User
from desk.context import CONTEXT, DeskContext, body, client_address, error, principal
from desk.events import add_event
from desk.handoffs import Record, summary
from desk.ownership import OpResult
from workers.bus import conversation_key, live_channel

__all__ = ["MAX_TEXT", "add_routes"]

MAX_TEXT = 4096   # characters of one agent message (the smallest channel limit: Telegram)
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_STATUSES = ("waiting", "offline", "active", "closed")
_MAX_SLOTS = 100  # slots one hand-back may set


class _Reply(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    client_message_id: str = ""


class _Note(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class _Typing(msgspec.Struct, forbid_unknown_fields=True):
    on: bool


class _Transfer(msgspec.Struct, forbid_unknown_fields=True):
    team: str | None = None
    agent_id: str | None = None


class _Handback(msgspec.Struct, forbid_unknown_fields=True):
    slots: dict[str, Any] = {}
    restart_form: bool = False


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/handoffs", _list)
    app.router.add_get("/api/handoffs/{id}", _detail)
    app.router.add_post("/api/handoffs/{id}/claim", _claim)
    app.router.add_post("/api/handoffs/{id}/messages", _reply)
    app.router.add_post("/api/handoffs/{id}/typing", _typing)
    app.router.add_post("/api/handoffs/{id}/notes", _note)
    app.router.add_post("/api/handoffs/{id}/transfer", _transfer)
    app.router.add_post("/api/handoffs/{id}/handback", _handback)
    app.router.add_post("/api/handoffs/{id}/close", _close)


async def _list(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    status = request.query.get("status", "waiting")
    if status not in _STATUSES:
        return error(400, f"status is one of {', '.join(_STATUSES)}")
    teams = list(await context.reader.teams())
    team = request.query.get("team")
    if team is not None:
        teams = [team] if team in teams else []
    found = await context.reader.records(await context.reader.ids(status, teams))
    shown = [r for r in found if r.get("status") == status and _may_see(user, r)
             and (team is None or r.get("team") == team)]
    return web.json_response({"handoffs": [await _summary(context, r) for r in shown]})


async def _detail(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    record = await _visible(request, user)
    if isinstance(record, web.Response):
        return record
    cid = record["conversation_id"]
    notes = await _notes(context, record)
    transcript = await context.reader.transcript(cid)
    state = await context.reader.state(cid)
    await _audit(request, user, "transcript.read", record)  # who read whose words, when
    return web.json_response({**await _summary(context, record), "transcript": transcript,
                              "slots": state["slots"], "form": state["form"],
                              "request": _request(record), "notes": notes})


async def _claim(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    record = await _visible(request, user)
    if isinstance(record, web.Response):
        return record
    result = await context.ops.claim(record, _agent(user))
    refusal = await _refusal(context, result)
    if refusal is not None:
        return refusal
    if result.kind == "claimed" and result.wait is not None:
        context.metrics.waits.labels(record.get("team", "")).observe(result.wait)
    await _audit(request, user, "handoff.claimed", record)
    return web.json_response(await _summary(context, await _fresh(context, record)))


async def _reply(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    record = await _visible(request, user)
    if isinstance(record, web.Response):
        return record
    reply = await body(request, _Reply)
    if len(reply.text) > MAX_TEXT:  # as written, the way the schema's maxLength counts
        return error(400, f"the message has {len(reply.text)} characters; at most {MAX_TEXT}")
    text = reply.text.strip()
    if not text:
        return error(400, "the message is empty")
    client_id = reply.client_message_id or uuid.uuid4().hex
    if not _CLIENT_ID.fullmatch(client_id):
        return error(400, "client_message_id: 1 to 100 of A-Z a-z 0-9 _ . : -")
    window = summary(record, agent=None, position=None)["whatsapp_window_ends"]
    if window is not None and time.time() > window:
        # WhatsApp refuses a business's free-form message 24 h after the user's last one.
        return error(409, "outside WhatsApp's 24-hour reply window: the user has to write "
                          "first (only an approved template may be sent now)")
    result, message_id = await context.ops.reply(record, _agent(user), text=text,
                                                 client_id=client_id)
    refusal = await _refusal(context, result)
    if refusal is not None:
        return refusal
    if result.first_reply:
        requested = float(record.get("requested_at") or time.time())
        context.metrics.first_reply.labels(record.get("team", "")).observe(
            time.time() - requested)
    if result.kind == "sent":
        await _audit(request, user, "handoff.replied", record, {"message_id": message_id})
    return web.json_response({"message_id": message_id,
                              "duplicate": result.kind == "duplicate"}, status=202)


async def _typing(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    record = await _visible(request, user)
    if isinstance(record, web.Response):
        return record
    typing = await body(request, _Typing)
    if record.get("status") != "active" or record.get("agent") != user.id:
        return error(409, "only the agent holding the conversation is shown typing")
    if record.get("channel") == "webchat":
        frame = b'{"type":"typing","on":true}' if typing.on else b'{"type":"typing","on":false}'
        await context.redis.publish(live_channel(record["conversation_id"]), frame)
    return web.Response(status=204)


async def _note(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    record = await _visible(request, user)
    if isinstance(record, web.Response):
        return record
    note = await body(request, _Note)
    if not note.text.strip() or len(note.text) > MAX_TEXT:
        return error(400, f"a note has 1 to {MAX_TEXT} characters")
    await records.upsert_handoff(context.db, record)
    added = await records.add_note(context.db, record["id"], record["conversation_id"], user,
                                   note.text.strip())
    await _audit(request, user, "handoff.note", record, {"note": added.id})
    shown = _note_json(added, user)
    await _emit(context, record, "note.added", note=shown)  # other agents see it live
    return web.json_response(shown, status=201)


async def _transfer(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    record = await _visible(request, user)
    if isinstance(record, web.Response):
        return record
    move = await body(request, _Transfer)
    if (move.team is None) == (move.agent_id is None):
        return error(400, "give either team or agent_id")
    if not (user.is_supervisor or record.get("agent") == user.id):
        return error(403, "only the agent holding it or a supervisor may transfer it")
    teams = await context.reader.teams()
    target = None
    if move.team is not None and move.team not in teams:
        return error(400, f"no team {move.team!r}; teams: {', '.join(sorted(teams))}")
    if move.agent_id is not None:
        found = await context.accounts.get_user(move.agent_id)
        if found is None or found.disabled:
            return error(400, f"no active agent {move.agent_id!r}")
        target = _agent(found)
    sla = (teams.get(move.team or "") or {}).get("first_response_seconds")
    result = await context.ops.transfer(record, _agent(user), team=move.team, agent=target,
                                        sla_seconds=float(sla) if sla else None)
    refusal = await _refusal(context, result)
    if refusal is not None:
        return refusal
    await _audit(request, user, "handoff.transferred", record,
                 {"team": move.team, "agent": move.agent_id})
    return web.json_response(await _summary(context, await _fresh(context, record)))


async def _handback(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    record = await _visible(request, user)
    if isinstance(record, web.Response):
        return record
    back = await body(request, _Handback, refuse_nul=False)  # slots live in Redis only
    if len(back.slots) > _MAX_SLOTS or len(msgspec.json.encode(back.slots)) > 8192:
        return error(400, f"at most {_MAX_SLOTS} slots, 8 KB in all")
    if not (user.is_supervisor or record.get("agent") == user.id):
        return error(403, "only the agent holding it or a supervisor may hand it back")
    result = await context.ops.end(record, _agent(user), op="handback", slots=back.slots,
                                   restart_form=back.restart_form)
    refusal = await _refusal(context, result)
    if refusal is not None:
        return refusal
    context.metrics.handbacks.labels(record.get("team", "")).inc()
    await _audit(request, user, "handoff.handed_back", record,
                 {"slots": sorted(n.replace("\x00", "") for n in back.slots),
                  "restart_form": back.restart_form})
    return web.json_response(await _summary(context, await _fresh(context, record)))


async def _close(request: web.Request) -> web.Response:
    context, user = request.app[CONTEXT], principal(request).user
    record = await _visible(request, user)
    if isinstance(record, web.Response):
        return record
    holder = record.get("agent")
    if record.get("status") == "active" and holder != user.id and not user.is_supervisor:
        return error(403, "another agent holds it; only they or a supervisor may close it")
    result = await context.ops.end(record, _agent(user), op="close")
    refusal = await _refusal(context, result)
    if refusal is not None:
        return refusal
    await _audit(request, user, "handoff.closed", record)
    return web.json_response(await _summary(context, await _fresh(context, record)))


# --- helpers ------------------------------------------------------------------------------

def _may_see(user: User, record: Record) -> bool:
    return user.can_see_team(record.get("team", "")) or record.get("agent") == user.id


async def _visible(request: web.Request, user: User) -> Record | web.Response:
    record = await request.app[CONTEXT].reader.record(request.match_info["id"])
    if record is None:
        return error(404, "no such handoff")
    if not _may_see(user, record):
        return error(403, "this handoff belongs to another team")
    return record


async def _fresh(context: DeskContext, record: Record) -> Record:
    return await context.reader.record(record["id"]) or record


async def _refusal(context: DeskContext, result: OpResult) -> web.Response | None:
    if result.done:
        return None
    if result.kind == "missing":
        return error(404, "no such handoff")
    if result.kind == "held":
        holder = await context.accounts.get_user(result.other)
        who = holder.name or holder.email if holder else "another agent"
        return error(409, f"already claimed by {who}",
                     holder=await context.user_json(holder) if holder else None)
    if result.kind == "busy":
        return error(409, "the conversation is in another handoff now")
    return error(409, f"not possible while the handoff is {result.other or 'in this state'}")


async def _summary(context: DeskContext, record: Record) -> dict[str, Any]:
    agent = None
    if record.get("agent"):
        found = await context.accounts.get_user(record["agent"])
        agent = found.as_json() if found else {"id": record["agent"]}
    return summary(record, agent=agent, position=await context.reader.position(record))


async def _notes(context: DeskContext, record: Record) -> list[dict[str, Any]]:
    notes = await records.notes_for(context.db, record["id"])
    authors = {u.id: u for u in await context.accounts.list_users()} if notes else {}
    return [_note_json(n, authors.get(n.author_id or "")) for n in notes]


def _note_json(note: Any, author: User | None) -> dict[str, Any]:
    return {"id": note.id, "text": note.text, "at": note.at.timestamp(),
            "author": author.as_json() if author else None}


def _request(record: Record) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(record.get("request") or "{}")
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


async def _emit(context: DeskContext, record: Record, kind: str, **data: Any) -> None:
    """A desk event about this handoff that changes no owner (the current epoch)."""
    epoch = await context.redis.hget(conversation_key(record["conversation_id"], "owner"),
                                     "epoch")
    await add_event(context.redis, kind, conversation_id=record["conversation_id"],
                    handoff_id=record["id"], team=record.get("team", ""),
                    epoch=int(epoch or 0), **data)


def _agent(user: User) -> dict[str, str]:
    return {"id": user.id, "email": user.email, "name": user.name or user.email}


async def _audit(request: web.Request, user: User, action: str, record: Record,
                 detail: dict[str, Any] | None = None) -> None:
    await audit.record(request.app[CONTEXT].db, actor=user, action=action,
                       conversation_id=record.get("conversation_id"),
                       handoff_id=record.get("id"), detail=detail,
                       ip=client_address(request))
