"""Who may do what at the desk, end to end: every refusal is a 4xx JSON answer and changes
nothing; the console's session cookie, CSRF token and login throttle; the audit log.

A real gateway with the desk (SQLite), a real Celery worker, real Redis; the user speaks the
browser chat's protocol, agents the API (bearer tokens) or the console's session cookie."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from desk.accounts import Accounts
from desk.database import database_url, open_database
from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import DESK_EVENTS_STREAM, conversation_key

from .desk_support import desk_database
from .webchat_client import ChatClient, browser_session

ENV = {"PARLEY_SESSION_SECRET": "desk-access-session-secret-1"}
COOKIE = "parley_desk_session"
CLOSED = "This conversation with our team is closed."
HANDED_BACK = "You're back with the bot."


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    password: str
    token: str


@pytest.fixture
def desk_url(tmp_path: Path) -> str:
    return desk_database(tmp_path)


@pytest.fixture
def desk_gateway(clean_redis: redis.Redis, tmp_path: Path, desk_url: str
                 ) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "gateway.log", {**ENV, "PARLEY_DATABASE_URL": desk_url})
    yield process
    process.stop()


def _accounts(url: str, *specs: tuple[str, str, tuple[str, ...]]) -> dict[str, Account]:
    """Accounts (email, role, teams) with their one-time password and an API token, by the
    name before the email's @."""
    async def create() -> dict[str, Account]:
        db = open_database(database_url(url, Path(".")))
        made: dict[str, Account] = {}
        try:
            for email, role, teams in specs:
                new = await Accounts(db).add_user(email, role, teams, token=True)
                assert new.token is not None
                made[email.partition("@")[0]] = Account(new.user.id, email, new.password,
                                                        new.token)
        finally:
            await db.aclose()
        return made

    return asyncio.run(create())


class Api:
    """``/desk/api`` with whatever credentials a case needs; every refusal must be JSON."""

    def __init__(self, http: aiohttp.ClientSession, base: str, *, token: str | None = None,
                 header: str | None = None) -> None:
        self.http, self.base = http, base.rstrip("/") + "/desk/api"
        self.headers: dict[str, str] = {}
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        if header is not None:
            self.headers["Authorization"] = header
        self.cookie = ""
        self.csrf = ""

    async def call(self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
                   csrf: bool = True, headers: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        sent = {**self.headers, **(headers or {})}
        if self.cookie:
            sent["Cookie"] = f"{COOKIE}={self.cookie}"
        if self.csrf and csrf:
            sent["X-CSRF-Token"] = self.csrf
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        async with self.http.request(method, self.base + path, json=body, data=data,
                                     headers=sent) as response:
            self.last = response
            text = await response.text()
            if response.status >= 400:
                assert response.content_type == "application/json", (response.status, text)
                refusal = json.loads(text)
                assert isinstance(refusal.get("error"), str) and refusal["error"], refusal
                return response.status, refusal
            return response.status, json.loads(text) if text else None

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await self.call(method, path, body)
        assert 200 <= status < 300, (method, path, status, data)
        return data

    async def refused(self, status: int, method: str, path: str, body: Any = None, *,
                      data: bytes | None = None, csrf: bool = True) -> str:
        got, answer = await self.call(method, path, body, data=data, csrf=csrf)
        assert got == status, (method, path, body, data, got, answer)
        return str(answer["error"])

    async def until(self, status: str, timeout: float = 20) -> dict[str, Any]:
        """The one handoff of ``status``, once it is listed."""
        async with asyncio.timeout(timeout):
            while True:
                found = (await self.ok("GET", f"/handoffs?status={status}"))["handoffs"]
                if found:
                    (one,) = found
                    return dict(one)
                await asyncio.sleep(0.05)


class Console(Api):
    """The browser console: a session cookie from the login and its CSRF token."""

    async def login(self, email: str, password: str, headers: dict[str, str] | None = None
                    ) -> tuple[int, Any, SimpleCookie]:
        status, body = await self.call("POST", "/login", {"email": email, "password": password},
                                       headers=headers)
        cookies = SimpleCookie()
        for value in self.last.headers.getall("Set-Cookie", []):
            cookies.load(value)
        if status == 200:
            self.cookie, self.csrf = cookies[COOKIE].value, body["csrf_token"]
        return status, body, cookies


def test_refusals_are_json_and_change_nothing(
        desk_gateway: GatewayProcess, worker: WorkerProcess, desk_url: str,
        clean_redis: redis.Redis) -> None:
    people = _accounts(desk_url, ("ada@example.com", "agent", ("support",)),
                       ("bea@example.com", "agent", ("support",)),
                       ("carl@example.com", "agent", ("billing",)),
                       ("sue@example.com", "supervisor", ()),
                       ("root@example.com", "admin", ()))

    async def scenario() -> None:
        async with browser_session() as http:
            base = desk_gateway.url
            ada, bea, carl, sue, root = (Api(http, base, token=people[n].token)
                                         for n in ("ada", "bea", "carl", "sue", "root"))
            await ada.ok("PUT", "/presence", {"status": "online"})
            carl_events = await http.ws_connect(f"{base}/desk/api/events",
                                                headers=carl.headers)
            user = ChatClient(http, base)
            await user.connect()
            await user.send(text="human please")
            told = (await user.next_frame("reply"))["text"]
            waiting = await ada.until("waiting")
            hid, cid = waiting["id"], waiting["conversation_id"]
            path = f"/handoffs/{hid}"

            async def snapshot() -> dict[str, Any]:
                detail = await sue.ok("GET", path)
                return {"status": detail["status"], "agent": detail["agent"],
                        "team": detail["team"], "epoch": detail["epoch"],
                        "transcript": detail["transcript"], "notes": detail["notes"],
                        "owner": clean_redis.hgetall(conversation_key(cid, "owner")),
                        "events": clean_redis.xlen(DESK_EVENTS_STREAM)}

            before = await snapshot()
            assert (before["status"], before["agent"]) == ("waiting", None)

            # No caller, a wrong one, a malformed Authorization header: 401 everywhere.
            everything = [("GET", "/handoffs?status=waiting", None), ("GET", path, None),
                          ("POST", f"{path}/claim", None),
                          ("POST", f"{path}/messages", {"text": "hi", "client_message_id": "x"}),
                          ("POST", f"{path}/notes", {"text": "a note"}),
                          ("POST", f"{path}/typing", {"on": True}),
                          ("POST", f"{path}/transfer", {"team": "support"}),
                          ("POST", f"{path}/handback", {}), ("POST", f"{path}/close", None),
                          ("PUT", "/presence", {"status": "offline"}), ("GET", "/me", None),
                          ("GET", "/users", None),
                          ("POST", "/users", {"email": "eve@example.com", "role": "admin"}),
                          ("GET", "/audit", None), ("GET", "/teams", None)]
            token = people["ada"].token
            strangers = [Api(http, base), Api(http, base, token="pk_" + "A" * 43),
                         Api(http, base, token=token[:-2] + "xx"),
                         Api(http, base, header="Bearer"), Api(http, base, header="Bearer  "),
                         Api(http, base, header=f"Token {token}"), Api(http, base, header=token),
                         Api(http, base, header="Basic YWRhOnNlY3JldA==")]
            forged = Api(http, base)
            forged.cookie, forged.csrf = "not-a-session", "not-a-token"
            for stranger in [*strangers, forged]:
                for method, where, body in everything:
                    await stranger.refused(401, method, where, body)
            for headers in ({}, {"Authorization": "Bearer pk_wrong"}):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused_socket:
                    await http.ws_connect(f"{base}/desk/api/events", headers=headers)
                assert refused_socket.value.status == 401
            assert await snapshot() == before

            # An agent of another team neither sees nor touches it.
            assert (await carl.ok("GET", "/handoffs?status=waiting"))["handoffs"] == []
            assert (await carl.ok("GET", "/handoffs?status=waiting&team=support")
                    )["handoffs"] == []
            for method, where, body in everything[1:9]:
                assert "another team" in await carl.refused(403, method, where, body)
            assert await snapshot() == before

            # An agent (or a supervisor) on the admin's endpoints.
            users_before = (await root.ok("GET", "/users"))["users"]
            for caller in (ada, carl):
                await caller.refused(403, "GET", "/users")
                await caller.refused(403, "GET", "/audit")
            for caller in (ada, sue):
                await caller.refused(403, "POST", "/users",
                                     {"email": "eve@example.com", "role": "admin"})
                await caller.refused(403, "PATCH", f"/users/{people['carl'].id}",
                                     {"disabled": True})
                await caller.refused(403, "PATCH", f"/users/{people['ada'].id}",
                                     {"role": "admin"})
            assert (await root.ok("GET", "/users"))["users"] == users_before
            assert (await carl.ok("GET", "/me"))["user"]["role"] == "agent"
            assert (await ada.ok("GET", "/me"))["user"]["role"] == "agent"

            # Ada holds it; another agent of the team may not end it or write in it.
            claimed = await ada.ok("POST", f"{path}/claim")
            assert claimed["agent"]["id"] == people["ada"].id
            held = await snapshot()
            assert held["epoch"] == before["epoch"] + 1
            await bea.refused(403, "POST", f"{path}/handback", {})
            await bea.refused(403, "POST", f"{path}/close")
            await bea.refused(403, "POST", f"{path}/transfer", {"team": "support"})
            await bea.refused(409, "POST", f"{path}/typing", {"on": True})
            status, answer = await bea.call("POST", f"{path}/claim")
            assert status == 409 and answer["holder"]["id"] == people["ada"].id
            status, answer = await bea.call("POST", f"{path}/messages",
                                            {"text": "me too", "client_message_id": "b-1"})
            assert status == 409 and answer["holder"]["id"] == people["ada"].id
            assert await snapshot() == held

            # Bad input from the holder herself: 400/404, and nothing is sent or changed.
            messages = f"{path}/messages"
            for text in ("", "   \n\t  ", "x" * 10_000, "y" * 4097):
                await ada.refused(400, "POST", messages, {"text": text,
                                                          "client_message_id": "c-1"})
            for client_id in ("has space", "x" * 101, "ünïcode", "a/b", "<script>"):
                assert "client_message_id" in await ada.refused(
                    400, "POST", messages, {"text": "hello", "client_message_id": client_id})
            malformed: list[Any] = [{"text": "hi", "client_message_id": "c-2", "html": "<b>"},
                                    {"text": 5}, {}, {"client_message_id": "c-3"}, ["hi"], "hi"]
            for wrong in malformed:
                await ada.refused(400, "POST", messages, wrong)
            for raw in (b"{not json", b"text=hi", b'{"text": "hi"', b"\xff\xfe"):
                await ada.refused(400, "POST", messages, data=raw)
            await ada.refused(400, "POST", f"{path}/handback", {"slots": {}, "later": True})
            await ada.refused(400, "POST", f"{path}/handback", data=b"[")
            await ada.refused(400, "POST", f"{path}/transfer", {})
            await ada.refused(400, "POST", f"{path}/transfer", {"team": "nope"})
            await ada.refused(400, "POST", f"{path}/transfer",
                              {"team": "support", "agent_id": people["bea"].id})
            await ada.refused(400, "POST", f"{path}/notes", {"text": "  "})
            await ada.refused(400, "POST", f"{path}/notes", {"text": "n" * 10_000})
            await ada.refused(400, "PUT", "/presence", {"status": "busy"})
            await ada.refused(400, "PUT", "/presence", data=b"online")
            await ada.refused(400, "GET", "/handoffs?status=everything")
            for unknown in ("0" * 32, "f" * 65, "nope"):
                await ada.refused(404, "GET", f"/handoffs/{unknown}")
                await ada.refused(404, "POST", f"/handoffs/{unknown}/claim")
                await ada.refused(404, "POST", f"/handoffs/{unknown}/messages",
                                  {"text": "hi", "client_message_id": "c-4"})
                await ada.refused(404, "POST", f"/handoffs/{unknown}/close")
            assert await snapshot() == held
            assert (await ada.ok("GET", "/me"))["user"]["presence"] == "online"

            # Closed: nothing more can be done in it.
            closed = await ada.ok("POST", f"{path}/close")
            assert closed["status"] == "closed"
            assert (await user.next_frame("reply"))["text"].startswith(CLOSED)
            after = await snapshot()
            await ada.refused(409, "POST", messages, {"text": "one more thing",
                                                      "client_message_id": "c-5"})
            for action in ("claim", "close", "handback"):
                await ada.refused(409, "POST", f"{path}/{action}", {})
            await ada.refused(409, "POST", f"{path}/transfer", {"team": "support"})
            await ada.refused(409, "POST", f"{path}/typing", {"on": True})
            assert await snapshot() == after
            await user.quiet(1.5)
            assert [r["text"] for r in user.received()][:1] == [told]
            assert len(user.received()) == 2 and not any(
                line["kind"] == "agent" for line in after["transcript"])
            # Carl's live stream never carried this handoff.
            assert not [f for f in await _frames(carl_events)
                        if f.get("data", {}).get("handoff_id") == hid]
            await carl_events.close()
            # An admin disables an agent: their token stops working at once.
            await root.ok("PATCH", f"/users/{people['bea'].id}", {"disabled": True})
            await bea.refused(401, "GET", "/me")

    asyncio.run(scenario())


def test_console_session_csrf_throttle_and_audit(
        desk_gateway: GatewayProcess, worker: WorkerProcess, desk_url: str) -> None:
    people = _accounts(desk_url, ("cara@example.com", "agent", ("support",)),
                       ("dan@example.com", "agent", ("support",)),
                       ("sue@example.com", "supervisor", ()))
    cara, dan = people["cara"], people["dan"]
    new_password = "correct horse battery staple"

    async def scenario() -> None:
        async with browser_session() as http, aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar()) as plain:
            base = desk_gateway.url
            sue = Api(http, base, token=people["sue"].token)
            console = Console(plain, base)
            status, login, cookies = await console.login(cara.email, cara.password)
            assert status == 200 and login["user"]["must_change_password"] is True
            morsel = cookies[COOKIE]
            assert (morsel["httponly"], morsel["samesite"], morsel["path"]) == (
                True, "Strict", "/desk")
            assert not morsel["secure"]  # plain HTTP, no proxy saying HTTPS
            me = await console.ok("GET", "/me")
            assert me["csrf_token"] == login["csrf_token"]
            # The one-time password must be changed first, and that needs the CSRF token.
            await console.refused(403, "GET", "/handoffs?status=waiting")
            await console.refused(403, "PUT", "/presence", {"status": "online"})
            change = {"current": cara.password, "new": new_password}
            await console.refused(403, "POST", "/password", change, csrf=False)
            console.csrf = "wrong-" + login["csrf_token"]
            await console.refused(403, "POST", "/password", change)
            console.csrf = login["csrf_token"]
            assert (await console.ok("GET", "/me"))["user"]["must_change_password"] is True
            await console.refused(403, "POST", "/password", {**change, "current": "not it"})
            assert (await console.call("POST", "/password", change))[0] == 204
            assert (await console.ok("GET", "/me"))["user"]["must_change_password"] is False

            # Presence without the CSRF token: refused, still offline.
            await console.refused(403, "PUT", "/presence", {"status": "online"}, csrf=False)
            assert (await console.ok("GET", "/me"))["user"]["presence"] == "offline"
            await console.ok("PUT", "/presence", {"status": "online"})
            assert (await console.ok("GET", "/me"))["user"]["presence"] == "online"

            user = ChatClient(http, base)
            await user.connect()
            await user.send(text="human please")
            assert "number 1 in the queue" in (await user.next_frame("reply"))["text"]
            first = await sue.until("waiting")
            hid, cid = first["id"], first["conversation_id"]
            await console.refused(403, "POST", f"/handoffs/{hid}/claim", csrf=False)
            console.csrf = "x"
            await console.refused(403, "POST", f"/handoffs/{hid}/claim")
            console.csrf = login["csrf_token"]
            still = await sue.ok("GET", f"/handoffs/{hid}")
            assert (still["status"], still["agent"], still["epoch"]) == (
                "waiting", None, first["epoch"])
            await console.ok("POST", f"/handoffs/{hid}/claim")
            await console.refused(403, "POST", f"/handoffs/{hid}/messages",
                                  {"text": "forged", "client_message_id": "f-1"}, csrf=False)
            assert (await console.call("POST", f"/handoffs/{hid}/messages",
                                       {"text": "Hello from Cara.",
                                        "client_message_id": "m-1"}))[0] == 202
            assert (await user.next_frame("reply"))["text"] == "Hello from Cara."
            await console.refused(403, "POST", f"/handoffs/{hid}/handback", {}, csrf=False)
            await console.ok("POST", f"/handoffs/{hid}/handback", {})
            assert (await user.next_frame("reply"))["text"].startswith(HANDED_BACK)
            assert "forged" not in [r["text"] for r in user.received()]
            # A second handoff of the same conversation, closed this time.
            await user.send(text="human please")
            await user.next_frame("reply")
            second = await sue.until("waiting")
            await console.ok("POST", f"/handoffs/{second['id']}/claim")
            await console.ok("POST", f"/handoffs/{second['id']}/close")
            assert (await user.next_frame("reply"))["text"].startswith(CLOSED)
            await console.refused(403, "GET", "/audit")  # an agent does not read it
            # The live stream takes the cookie only from the desk's own pages.
            events = f"{base}/desk/api/events"
            with_cookie = {"Cookie": f"{COOKIE}={console.cookie}"}
            with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
                await plain.ws_connect(events, headers={**with_cookie,
                                                        "Origin": "https://evil.example"})
            assert foreign.value.status == 403
            own = await plain.ws_connect(events, headers={**with_cookie, "Origin": base})
            hello = json.loads((await own.receive()).data)
            assert (hello["type"], hello["user"]["id"]) == ("hello", cara.id)
            await own.close()

            # Logging out needs the token too, and ends the session for good.
            await console.refused(403, "POST", "/logout", csrf=False)
            await console.ok("GET", "/me")
            assert (await console.call("POST", "/logout"))[0] == 204
            gone = SimpleCookie()
            for value in console.last.headers.getall("Set-Cookie", []):
                gone.load(value)
            assert gone[COOKIE].value == "" and gone[COOKIE]["path"] == "/desk"
            await console.refused(401, "GET", "/me")
            await console.refused(401, "POST", f"/handoffs/{second['id']}/claim")
            with pytest.raises(aiohttp.WSServerHandshakeError) as ended:
                await plain.ws_connect(events, headers={**with_cookie, "Origin": base})
            assert ended.value.status == 401
            # The one-time password is spent.
            assert (await Console(plain, base).login(cara.email, cara.password))[0] == 401

            # Behind an HTTPS proxy the cookie is Secure.
            dans = Console(plain, base)
            status, _, cookies = await dans.login(dan.email, dan.password,
                                                  headers={"X-Forwarded-Proto": "https"})
            assert status == 200 and cookies[COOKIE]["secure"]
            # Throttle: five wrong passwords, then even the right one waits.
            for _ in range(5):
                assert (await Console(plain, base).login(dan.email, "wrong password!"))[0] == 401
            for email, password in ((dan.email, "wrong password!"), (dan.email, dan.password),
                                    (" DAN@Example.com", dan.password)):
                attempt = Console(plain, base)
                status, _, _ = await attempt.login(email, password)
                assert status == 429
                retry = int(attempt.last.headers["Retry-After"])
                assert 0 < retry <= 900
            # Every check of the password waits, also the one a password change makes (else
            # a session would be a way around the throttle to guess the password).
            dan_change = {"current": dan.password, "new": "another long passphrase"}
            assert await dans.refused(429, "POST", "/password", dan_change)
            assert 0 < int(dans.last.headers["Retry-After"]) <= 900
            assert (await dans.ok("GET", "/me"))["user"]["must_change_password"] is True
            # Per account: Cara, from the same address, still gets in.
            status, again, _ = await Console(plain, base).login(cara.email, new_password)
            assert status == 200 and again["user"]["must_change_password"] is False

            # The audit log: who did what, in which handoff and conversation.
            entries = (await sue.ok("GET", "/audit?limit=500"))["entries"]
            by_cara = [(e["action"], e["handoff_id"], e["conversation_id"]) for e in entries
                       if e["actor_id"] == cara.id]
            assert all(e["actor_email"] == cara.email for e in entries
                       if e["actor_id"] == cara.id)
            expected = [("login", None, None), ("password.change_failed", None, None),
                        ("password.changed", None, None),
                        ("handoff.claimed", hid, cid), ("handoff.replied", hid, cid),
                        ("handoff.handed_back", hid, cid),
                        ("handoff.claimed", second["id"], cid),
                        ("handoff.closed", second["id"], cid), ("logout", None, None),
                        ("login", None, None)]
            assert [e for e in reversed(by_cara) if e[0] != "presence.changed"] == expected
            failed = [e for e in entries if e["action"] == "login.failed"]
            assert [e["detail"]["email"] for e in failed].count(dan.email) == 5
            assert all(e["actor_id"] is None for e in failed)
            scoped = (await sue.ok("GET", f"/audit?conversation_id={cid}"))["entries"]
            assert {e["conversation_id"] for e in scoped} == {cid}
            # Who opened the transcript, and when, is in the log too.
            reads = [e for e in scoped if e["action"] == "transcript.read"]
            assert reads and all(e["actor_id"] and e["handoff_id"] for e in reads)
            assert len(scoped) - len(reads) == 5

    asyncio.run(scenario())


async def _frames(socket: aiohttp.ClientWebSocketResponse, quiet: float = 1.0
                  ) -> list[dict[str, Any]]:
    """Every frame that arrives until the socket has been quiet for ``quiet`` seconds."""
    frames: list[dict[str, Any]] = []
    while True:
        try:
            message = await socket.receive(timeout=quiet)
        except TimeoutError:
            return frames
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frames.append(json.loads(message.data))
