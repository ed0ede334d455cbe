"""Desk API: logging in and out, one's own account, and the admin's users and audit log.

Every login and password change (and every failed one) and every user change is written
to the audit log with who, what and from where. Every check of a password, at the login or
for a change of it, is counted by the same throttle (``desk.auth.LoginThrottle``).
"""

from __future__ import annotations

import re

import msgspec
from aiohttp import web

from desk import audit
from desk.accounts import User
from desk.auth import set_session_cookie
from desk.context import CONTEXT, body, client_address, error, principal

__all__ = ["add_routes"]

_WHOLE = re.compile(r"[0-9]{1,19}")
_MAX_TEAMS = 100  # teams one account may belong to


class _Login(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


class _PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current: str
    new: str


class _NewUser(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    role: str
    teams: list[str] = []
    name: str | None = None


class _UserChange(msgspec.Struct, forbid_unknown_fields=True):
    role: str | None = None
    teams: list[str] | None = None
    disabled: bool | None = None
    name: str | None = None


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/login", _login)
    app.router.add_post("/api/logout", _logout)
    app.router.add_get("/api/me", _me)
    app.router.add_post("/api/password", _password)
    app.router.add_get("/api/users", _users)
    app.router.add_post("/api/users", _add_user)
    app.router.add_patch("/api/users/{user_id}", _change_user)
    app.router.add_get("/api/audit", _audit)


async def _login(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    if request.content_type != "application/json":
        # A cross-site form can post form data, not JSON: no login forged from another page.
        return error(415, "send the login as application/json")
    form = await body(request, _Login)
    address = client_address(request)
    if len(form.email) > 320 or len(form.password) > 1024:
        return error(400, "email or password too long")
    wait = await context.throttle.retry_after(form.email, address)
    if wait:
        return web.json_response({"error": "too many failed logins; try again later"},
                                 status=429, headers={"Retry-After": str(wait)})
    user = await context.accounts.authenticate(form.email, form.password)
    if user is None:
        await context.throttle.failed(form.email, address)
        await audit.record(context.db, actor=None, action="login.failed",
                           detail={"email": form.email[:320]}, ip=address)
        return error(401, "wrong email or password")
    await context.throttle.succeeded(form.email)
    token, csrf = await context.sessions.create(user)
    await audit.record(context.db, actor=user, action="login", ip=address)
    response = web.json_response({"user": await context.user_json(user), "csrf_token": csrf})
    set_session_cookie(response, request, token, context.sessions.max_age)
    return response


async def _logout(request: web.Request) -> web.Response:
    context, caller = request.app[CONTEXT], principal(request)
    if caller.session_key:
        await context.sessions.drop(caller.session_key)
    await audit.record(context.db, actor=caller.user, action="logout",
                       ip=client_address(request))
    response = web.Response(status=204)
    response.del_cookie("parley_desk_session", path="/desk")
    return response


async def _me(request: web.Request) -> web.Response:
    context, caller = request.app[CONTEXT], principal(request)
    return web.json_response({"user": await context.user_json(caller.user),
                              "csrf_token": caller.csrf or None})


async def _password(request: web.Request) -> web.Response:
    context, caller = request.app[CONTEXT], principal(request)
    change = await body(request, _PasswordChange)
    address = client_address(request)
    # The same throttle as the login's: else a session would be a way to go on guessing
    # the password once logins of the account are refused.
    wait = await context.throttle.retry_after(caller.user.email, address)
    if wait:
        return web.json_response({"error": "too many failed password checks; try again "
                                           "later"}, status=429,
                                 headers={"Retry-After": str(wait)})
    if await context.accounts.authenticate(caller.user.email, change.current) is None:
        await context.throttle.failed(caller.user.email, address)
        await audit.record(context.db, actor=caller.user, action="password.change_failed",
                           ip=address)
        return error(403, "the current password is wrong")
    await context.accounts.set_password(caller.user.id, change.new)
    await audit.record(context.db, actor=caller.user, action="password.changed", ip=address)
    return web.Response(status=204)


def _whole(text: str) -> bool:
    """ASCII digits of a number a database integer holds (``str.isdigit`` takes '²')."""
    return bool(_WHOLE.fullmatch(text)) and int(text) < 2**63


def _admin(request: web.Request) -> User | web.Response:
    user = principal(request).user
    if not user.can_manage_users():
        return error(403, "only an admin may do this")
    return user


async def _users(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    caller = principal(request).user
    if not caller.is_supervisor:
        return error(403, "only supervisors and admins see the accounts")
    users = await context.accounts.list_users()
    statuses = await context.presence.status_of(u.id for u in users)
    return web.json_response({"users": [
        {**u.as_json(), "presence": statuses.get(u.id, "offline"), "disabled": u.disabled,
         "must_change_password": u.must_change_password} for u in users]})


async def _add_user(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    admin = _admin(request)
    if isinstance(admin, web.Response):
        return admin
    new = await body(request, _NewUser)
    if len(new.teams) > _MAX_TEAMS:
        return error(400, f"at most {_MAX_TEAMS} teams")
    created = await context.accounts.add_user(new.email, new.role, new.teams, name=new.name)
    await audit.record(context.db, actor=admin, action="user.added",
                       detail={"user": created.user.id, "email": created.user.email,
                               "role": str(created.user.role), "teams": list(created.user.teams)},
                       ip=client_address(request))
    return web.json_response({"user": await context.user_json(created.user),
                              "password": created.password}, status=201)


async def _change_user(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    admin = _admin(request)
    if isinstance(admin, web.Response):
        return admin
    change = await body(request, _UserChange)
    if change.teams is not None and len(change.teams) > _MAX_TEAMS:
        return error(400, f"at most {_MAX_TEAMS} teams")
    user_id = request.match_info["user_id"]
    if "\x00" in user_id or len(user_id) > 64:
        return error(404, "no such account")
    user = await context.accounts.update_user(user_id, role=change.role, teams=change.teams,
                                              disabled=change.disabled, name=change.name)
    if change.disabled:
        await context.sessions.drop_all_of(user_id)
        await context.accounts.revoke_tokens(user_id)
    await audit.record(context.db, actor=admin, action="user.changed",
                       detail={"user": user_id, **{k: v for k, v in msgspec.structs.asdict(
                           change).items() if v is not None}}, ip=client_address(request))
    return web.json_response({"user": await context.user_json(user)})


async def _audit(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    caller = principal(request).user
    if not caller.is_supervisor:
        return error(403, "only supervisors and admins read the audit log")
    before = request.query.get("before")
    limit = request.query.get("limit", "100")
    if (before is not None and not _whole(before)) or not _whole(limit):
        return error(400, "before and limit are whole numbers below 2**63")
    conversation = request.query.get("conversation_id")
    if conversation is not None and ("\x00" in conversation or len(conversation) > 300):
        return error(400, "conversation_id: at most 300 characters, no NUL")
    entries = await audit.list_audit(context.db, limit=max(1, int(limit)),
                                     before_id=int(before) if before else None,
                                     conversation_id=conversation)
    return web.json_response({"entries": [e.as_json() for e in entries]})
