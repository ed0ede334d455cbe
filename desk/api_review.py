"""Desk API: the review queue and its labels (supervisors and admins).

``GET /api/review`` pages the queue (``desk.review``); ``PUT
/api/review/{conversation_id}/{sequence}/label`` stores a label (replacing any earlier one;
PUT because doing it twice is doing it once), ``DELETE`` of the same path removes it;
``GET /api/review/intents`` names the bot's intents and entities for the picker, as the
workers publish them at start (``workers.handoff_desk.RedisHandoffDesk.publish``), plus the
new intents reviewers have labelled. Every label and removal is audited.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, time, timedelta

import msgspec
from aiohttp import web

from desk import audit, review
from desk.accounts import User
from desk.analytics import AnalyticsRangeError, parse_day
from desk.context import CONTEXT, body, client_address, error, principal
from desk.schema import CONVERSATION
from workers.bus import desk_key

__all__ = ["add_routes"]

_WHOLE = re.compile(r"[0-9]{1,19}")
_CHANNEL = re.compile(r"[a-z_]{1,32}")


class _Entity(msgspec.Struct, forbid_unknown_fields=True):
    start: int | float  # JSON Schema's integer includes 5.0; the label checks the rest
    end: int | float
    entity: str
    value: str | None = None


class _Label(msgspec.Struct, forbid_unknown_fields=True):
    verdict: str
    intent: str | None = None
    entities: list[_Entity] | None = None


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/review", _queue)
    app.router.add_get("/api/review/intents", _intents)
    app.router.add_put("/api/review/{conversation_id}/{sequence}/label", _label)
    app.router.add_delete("/api/review/{conversation_id}/{sequence}/label", _unlabel)


def _lead(request: web.Request) -> User | web.Response:
    user = principal(request).user
    if not user.is_supervisor:
        return error(403, "only supervisors and admins review the bot's messages")
    return user


async def _queue(request: web.Request) -> web.Response:
    user = _lead(request)
    if isinstance(user, web.Response):
        return user
    query = request.query
    limit, offset = query.get("limit", "50"), query.get("offset", "0")
    if not _WHOLE.fullmatch(limit) or not _WHOLE.fullmatch(offset) \
            or not 1 <= int(limit) <= review.MAX_PAGE or int(offset) > 10**9:
        return error(400, f"limit is a whole number from 1 to {review.MAX_PAGE}, offset one "
                          "from 0 to 10**9")
    status = query.get("status", "open")
    if status not in review.STATUSES:
        return error(400, f"status is one of {', '.join(review.STATUSES)}")
    channel = query.get("channel")
    if channel is not None and not _CHANNEL.fullmatch(channel):
        return error(400, "channel is a channel's name, such as web or telegram")
    try:
        start, end = _moment(query.get("from"), "from"), _moment(query.get("to"), "to")
        threshold = _fraction(query.get("min_confidence"))
    except ValueError as exc:
        return error(400, str(exc))
    items = await review.review_queue(
        request.app[CONTEXT].db, limit=int(limit), offset=int(offset), channel=channel,
        start=start, end=end, status=status, min_confidence=threshold)
    # The page shows archived messages with their context: a read of transcripts.
    await audit.record(request.app[CONTEXT].db, actor=user, action="review.read",
                       detail={"items": len(items), "offset": int(offset)},
                       ip=client_address(request))
    return web.json_response({"items": [i.as_json() for i in items],
                              "min_confidence": threshold, "limit": int(limit),
                              "offset": int(offset)})


def _moment(raw: str | None, name: str) -> datetime | None:
    """``from``/``to``: a day, ``YYYY-MM-DD`` (UTC); ``to`` includes the whole day."""
    if raw is None:
        return None
    try:
        day = parse_day(raw, name)
    except AnalyticsRangeError as exc:
        raise ValueError(str(exc)) from exc
    if name == "to":
        if day == date.max:  # the last day there is: no end
            return None
        day += timedelta(days=1)
    return datetime.combine(day, time(), UTC)


def _fraction(raw: str | None) -> float:
    if raw is None:
        return review.DEFAULT_MIN_CONFIDENCE
    try:
        value = float(raw) if len(raw) <= 64 else math.nan
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise ValueError("min_confidence is a number from 0 to 1")
    return value


async def _intents(request: web.Request) -> web.Response:
    user = _lead(request)
    if isinstance(user, web.Response):
        return user
    context = request.app[CONTEXT]
    raw = await context.redis.get(desk_key("nlu"))
    published = json.loads(raw) if raw else {}
    intents = [str(i) for i in published.get("intents", [])]
    labelled = await review.labelled_intents(context.db)
    return web.json_response({
        "intents": intents, "entities": [str(e) for e in published.get("entities", [])],
        "new_intents": [i for i in labelled if i not in set(intents)],
        "published": bool(raw)})


def _turn_key(request: web.Request) -> tuple[str, int] | web.Response:
    cid, sequence = request.match_info["conversation_id"], request.match_info["sequence"]
    if not cid or len(cid) > CONVERSATION or "\x00" in cid:
        return error(404, "no such conversation")
    if not _WHOLE.fullmatch(sequence) or int(sequence) >= 2**63:
        return error(404, "a message's sequence is a whole number")
    return cid, int(sequence)


def _reviewed_turn(request: web.Request) -> tuple[User, tuple[str, int]] | web.Response:
    """The reviewer and the turn a label route names, or the error answer."""
    user = _lead(request)
    if isinstance(user, web.Response):
        return user
    key = _turn_key(request)
    if isinstance(key, web.Response):
        return key
    return user, key


async def _label(request: web.Request) -> web.Response:
    found = _reviewed_turn(request)
    if isinstance(found, web.Response):
        return found
    user, key = found
    form = await body(request, _Label)
    entities = None if form.entities is None else [
        {k: _whole_number(v) for k, v in msgspec.structs.asdict(e).items() if v is not None}
        for e in form.entities]
    context = request.app[CONTEXT]
    try:
        stored = await review.label(context.db, conversation_id=key[0], sequence=key[1],
                                    verdict=form.verdict, intent=form.intent,
                                    entities=entities, reviewer=user,
                                    ip=client_address(request))
    except review.UnknownTurnError as exc:
        return error(404, str(exc))
    raw = await context.redis.get(desk_key("nlu"))
    known = set(json.loads(raw).get("intents", [])) if raw else set()
    return web.json_response({"label": stored.as_json(),
                              "new_intent": stored.intent not in known})


def _whole_number(value: object) -> object:
    """A float with nothing after the point as the int it is (``5.0`` is 5); anything
    else as it came, for the label's own checks to refuse."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


async def _unlabel(request: web.Request) -> web.Response:
    found = _reviewed_turn(request)
    if isinstance(found, web.Response):
        return found
    user, key = found
    removed = await review.unlabel(request.app[CONTEXT].db, conversation_id=key[0],
                                   sequence=key[1], reviewer=user, ip=client_address(request))
    if not removed:
        return error(404, "this message has no label")
    return web.Response(status=204)
