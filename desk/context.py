"""What every desk handler works with, kept on the desk application for its lifetime."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import redis.asyncio as aioredis
from aiohttp import web

from desk.accounts import Accounts, User
from desk.auth import LoginThrottle, Principal, Sessions
from desk.database import Database
from desk.handoffs import HandoffReader
from desk.live import LiveDesk
from desk.metrics import DeskMetrics
from desk.ownership import DeskOperations
from desk.presence import Presence

__all__ = ["ADDRESS", "CONTEXT", "PRINCIPAL", "DeskContext", "body", "client_address", "error",
           "principal"]


@dataclass(frozen=True, slots=True)
class DeskContext:
    redis: aioredis.Redis
    db: Database
    accounts: Accounts
    sessions: Sessions
    throttle: LoginThrottle
    presence: Presence
    reader: HandoffReader
    ops: DeskOperations
    live: LiveDesk
    metrics: DeskMetrics

    async def user_json(self, user: User) -> dict[str, Any]:
        status = (await self.presence.status_of([user.id])).get(user.id, "offline")
        return {**user.as_json(), "presence": status,
                "must_change_password": user.must_change_password, "disabled": user.disabled}


CONTEXT = web.AppKey("desk_context", DeskContext)
PRINCIPAL = web.RequestKey("parley_desk_principal", Principal)  # the authenticated caller


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


_T = TypeVar("_T")


async def body(request: web.Request, kind: type[_T], *, refuse_nul: bool = True) -> _T:
    """The request's JSON body as ``kind`` (a msgspec struct); a malformed or invalid one
    is a 400 that says what is wrong, and so is one holding a NUL character (unless
    ``refuse_nul`` is off: a body none of whose text reaches the database)."""
    raw = await request.read()
    try:
        decoded = msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise web.HTTPBadRequest(reason=f"invalid request body: {_one_line(exc)}") from exc
    except msgspec.DecodeError as exc:
        raise web.HTTPBadRequest(reason="the request body is not JSON") from exc
    if refuse_nul and (b"\\u0000" in raw or b"\x00" in raw):  # PostgreSQL stores no NUL
        raise web.HTTPBadRequest(reason="the request body holds a NUL character")
    return decoded


def _one_line(exc: Exception) -> str:
    """An error's message fit for a status line (aiohttp refuses CR and LF there)."""
    return " ".join(str(exc).split()).encode("ascii", "backslashreplace").decode()[:300]


ADDRESS: web.AppKey[Callable[[web.Request], str]] = web.AppKey("desk_client_address")


def client_address(request: web.Request) -> str:
    """The client's address as the gateway sees it (``PARLEY_TRUSTED_PROXIES`` applied):
    what login throttling counts and the audit log records."""
    found = request.app.get(ADDRESS)
    return found(request) if found is not None else request.remote or "unknown"
