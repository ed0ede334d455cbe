"""The agent desk's API against schemathesis: every documented desk operation fuzzed from
the document the gateway serves at ``/openapi.json`` (the gateway's own merged with
``desk/openapi.json``), against a real ``parley gateway`` with the desk on (SQLite), a real
worker and a real Redis, with handoffs seeded by web chat users who asked for a person.

Each case is sent with an admin's bearer token, and again without credentials (to which
every authenticated operation answers 401, whatever the method). Asserted by
schemathesis's checks: no 5xx (Redis and the database are up: no 503 either), every status,
content type, header and body is the documented one, a 405 carries ``Allow``, a request
the document allows is not refused as malformed, a request it forbids (the desk's bodies
refuse unknown fields) is refused, and no operation answers 2xx without credentials
(``ignored_auth`` also probes each with none and with invalid ones). Half of the positive
cases are pointed at a seeded handoff (a waiting one for the claim, held ones for the
reply, typing, transfer and hand-back, ...) or at a real account, so that the success
paths are reached too, not only the 404s; ``test_the_success_paths_were_reached`` says
they were.

The console's session (cookie and CSRF token), which the fuzzing does not use, is driven
by hand; so are inputs the generators do not reach (a line break in an unknown field's
name, a superscript digit, a value past the database's integers, an audit entry too large
for a change that must then not happen). The WebSocket is no request/response exchange:
its frames, and the signed webhooks the same gateway POSTs to a sink here, are checked
against the document's schemas. Last, a desk on PostgreSQL: a U+0000 (which PostgreSQL's
text cannot hold, and SQLite's can) is no 500, and with its database away the desk
answers the documented 503.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jsonschema_rs
import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from channels.web.adapter import verify_signature
from desk.database import database_url, upgrade
from tests.conftest import REPO
from tests.processes import BOT, GatewayProcess, WorkerProcess

from .desk_support import DeskApi, add_account, add_agent, desk_database
from .webchat_client import ChatClient, browser_session

WEBHOOK_SECRET = "desk-fuzz-webhook-secret-0123456789"
ENV = {"PARLEY_SESSION_SECRET": "desk-fuzz-session-secret-0123"}
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
# the operations without credentials (the pages; their data comes from the API)
OPEN = {"/desk/", "/desk/api/login", "/desk/analytics", "/desk/review"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, unsupported_method,
          ignored_auth, positive_data_acceptance, negative_data_rejection]


def _document() -> dict[str, Any]:
    """The document a gateway with the desk serves, merged as ``gateway.app._openapi``
    merges it (``test_the_document_is_the_one_served`` holds the two together)."""
    document: dict[str, Any] = json.loads((REPO / "gateway" / "openapi.json").read_text(
        encoding="utf-8"))
    desk = json.loads((REPO / "desk" / "openapi.json").read_text(encoding="utf-8"))
    document["paths"].update(desk["paths"])
    document.setdefault("webhooks", {}).update(desk.get("webhooks", {}))
    for part, items in desk["components"].items():
        document["components"].setdefault(part, {}).update(items)
    document.setdefault("tags", []).extend(desk.get("tags", []))
    return document


DOCUMENT = _document()


def _validator(schema: dict[str, Any]) -> Any:
    """A JSON Schema 2020-12 validator of ``schema`` that resolves the document's refs."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": DOCUMENT["components"]})


# --- the webhook receiver -------------------------------------------------------------------

class _Sink(ThreadingHTTPServer):
    """The external helpdesk: keeps every POST (headers, body) and answers 200."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/desk-events"


class _SinkHandler(BaseHTTPRequestHandler):
    server: _Sink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sink() -> Iterator[_Sink]:
    server = _Sink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# --- the desk, seeded -----------------------------------------------------------------------

class Desk:
    """The running desk: its gateway, the admin's token, a spare agent's account, a console
    user's one-time password, and the seeded handoffs."""

    def __init__(self, gateway: GatewayProcess, admin_id: str, token: str, spare_id: str,
                 console: tuple[str, str], handoffs: dict[str, str]) -> None:
        self.gateway, self.url = gateway, gateway.url
        self.admin_id, self.token, self.spare_id = admin_id, token, spare_id
        self.console_email, self.console_password = console
        self.handoffs = handoffs
        self.headers = {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def desk(redis_client: redis.Redis, bot_model: Path, sink: _Sink,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    redis_client.flushdb()
    folder = tmp_path_factory.mktemp("fuzz_desk")
    url = desk_database(folder)
    admin_id, token = add_agent(url, "admin@example.com", role="admin", teams=("support",))
    spare_id, _ = add_agent(url, "spare@example.com")
    console = add_account(url, "console@example.com", role="supervisor")
    worker = WorkerProcess(bot_model, folder / "worker.log", bot=BOT)
    gateway = GatewayProcess(folder / "gateway.log", {
        **ENV, "PARLEY_DATABASE_URL": url, "PARLEY_DESK_WEBHOOK_URL": sink.url,
        "PARLEY_DESK_WEBHOOK_SECRET": WEBHOOK_SECRET})
    try:
        handoffs = asyncio.run(_seed(gateway.url, token))
        yield Desk(gateway, admin_id, token, spare_id,
                   (console.user.email, console.password), handoffs)
    finally:
        gateway.stop()
        worker.stop()
        redis_client.flushdb()


async def _seed(base: str, token: str) -> dict[str, str]:
    """Six web chat users ask for a person; the admin claims four of them. Which handoff
    each operation's cases may be pointed at (each its own, so one operation's success does
    not take another's away: a close does not end the hand-back's); "held" is for the
    tests after the fuzzing."""
    async with browser_session() as http:
        admin = DeskApi(http, base, token)
        await admin.online()
        for _ in range(6):
            user = ChatClient(http, base)
            await user.connect()
            await user.send(text="human please")
            await user.next_frame("reply")
        async with asyncio.timeout(20):
            while len(waiting := await admin.waiting()) < 6:
                await asyncio.sleep(0.1)
        claim, replied, transfer, handback, close, held = (h["id"] for h in waiting)
        for handoff in (replied, transfer, handback, held):
            await admin.ok("POST", f"/handoffs/{handoff}/claim")
    return {"claim": claim, "messages": replied, "typing": replied, "notes": replied,
            "transfer": transfer, "handback": handback, "close": close, "": replied,
            "held": held}


@pytest.fixture(scope="module")
def anonymous() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


# --- the console's session -----------------------------------------------------------------

def test_a_console_session_answers_as_documented(desk: Desk, redis_client: redis.Redis
                                                 ) -> None:
    """The deskSession and deskCsrf schemes, which the fuzzing (a bearer token) does not
    use: the login's DeskSession and cookie, a one-time password to change first, the CSRF
    token on every state-changing request, the logout's expired cookie."""
    session_schema = _validator({"$ref": "#/components/schemas/DeskSession"})
    handoffs = _validator({"type": "object", "required": ["handoffs"], "properties": {
        "handoffs": {"type": "array", "items": {"$ref": "#/components/schemas/DeskHandoff"}}}})
    for key in redis_client.scan_iter(match="parley:desk:login_failures:*"):
        redis_client.delete(key)  # another test's failed logins from this address
    api = f"{desk.url}/desk/api"
    with requests.Session() as browser:
        login = browser.post(f"{api}/login", json={"email": desk.console_email,
                                                   "password": desk.console_password})
        assert login.status_code == 200, login.text
        assert session_schema.is_valid(login.json()), login.json()
        cookie = login.headers["Set-Cookie"]
        assert all(part in cookie for part in ("parley_desk_session=", "HttpOnly",
                                               "SameSite=Strict", "Path=/desk")), cookie
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        assert browser.get(f"{api}/handoffs").status_code == 403  # the password first
        me = browser.get(f"{api}/me")
        assert me.status_code == 200 and me.json()["csrf_token"] == csrf["X-CSRF-Token"]
        change = {"current": desk.console_password, "new": "a new long password 1"}
        assert browser.post(f"{api}/password", json=change).status_code == 403  # no CSRF
        assert browser.post(f"{api}/password", json=change,
                            headers={"X-CSRF-Token": "wrong"}).status_code == 403
        assert browser.post(f"{api}/password", json=change, headers=csrf).status_code == 204
        listed = browser.get(f"{api}/handoffs")
        assert listed.status_code == 200 and handoffs.is_valid(listed.json()), listed.text
        assert browser.put(f"{api}/presence", json={"status": "away"}).status_code == 403
        assert browser.post(f"{api}/logout").status_code == 403
        logout = browser.post(f"{api}/logout", headers=csrf)
        assert logout.status_code == 204 and "parley_desk_session=" in logout.headers[
            "Set-Cookie"]
        assert browser.get(f"{api}/me").status_code == 401


# --- the fuzzing ----------------------------------------------------------------------------

# Loaded when the tests are collected (schemathesis's lazy fixture loader does not run under
# pytest 9.2); the cases are sent to the gateway the module starts.
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict({
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
               "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
    "generation": {"mode": "all"}}))

REACHED: dict[str, set[int]] = defaultdict(set)  # operation → statuses answered with the token


def _positive(case: schemathesis.Case, location: ParameterLocation) -> bool:
    return case.meta is not None and not case.meta.is_negative_at(location)


def _point_at_seeds(case: schemathesis.Case, desk: Desk) -> None:
    """Half of the positive cases at a seeded handoff or the spare account, and a
    transfer's team or agent at real ones (the choice by a length's parity, as random as
    the value)."""
    path = case.path_parameters or {}
    if _positive(case, ParameterLocation.PATH):
        if "id" in path and len(str(path["id"])) % 2 == 0:
            action = case.operation.path.rsplit("}", 1)[-1].strip("/")
            path["id"] = desk.handoffs[action]
        if "user_id" in path and len(str(path["user_id"])) % 2 == 0:
            path["user_id"] = desk.spare_id
    body = case.body
    if case.operation.path.endswith("/transfer") and isinstance(body, dict) and _positive(
            case, ParameterLocation.BODY):
        if isinstance(body.get("team"), str) and len(str(body["team"])) % 2 == 0:
            body["team"] = "support"
        if isinstance(body.get("agent_id"), str) and len(str(body["agent_id"])) % 2 == 0:
            body["agent_id"] = desk.admin_id


def _checks(case: schemathesis.Case, *, authenticated: bool) -> list[Any]:
    """Every check, but positive_data_acceptance where a valid body names what may not
    exist: a transfer's team (desk.yml's) or agent (an account) is any string to the
    document, and an unknown one is a 400 by design; an analytics range whose from is after
    its to (or longer than 366 days); a review label whose entity spans must fall inside a
    message's text the document cannot know."""
    checks = list(CHECKS)
    if not authenticated:
        # Credentials first: a stranger's request with another method is a 401, like any
        # of theirs (the method is checked once the caller is known).
        checks.remove(unsupported_method)
    if case.operation.path.endswith(("/transfer", "/label")) or \
            case.operation.path == "/desk/api/analytics":
        checks.remove(positive_data_acceptance)
    return checks


# The WebSocket is tested below, and outside the desk the gateway's own test fuzzes.
@schema.include(path_regex="^/desk/").exclude(path="/desk/api/events").parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_desk_operation_answers_as_documented(case: schemathesis.Case, desk: Desk,
                                                    anonymous: requests.Session) -> None:
    _point_at_seeds(case, desk)
    headers = None if case.operation.path in OPEN else desk.headers
    response = case.call(base_url=desk.url, headers=headers, timeout=30)
    REACHED[case.operation.label].add(response.status_code)
    case.validate_response(response, checks=_checks(case, authenticated=True), headers=headers,
                           transport_kwargs={"base_url": desk.url, "headers": headers,
                                             "timeout": 30})
    if headers is not None:  # and as a stranger would send it: 401, nothing done
        stranger = case.call(base_url=desk.url, session=anonymous, timeout=30)
        assert stranger.status_code in (401, 405, 408, 413), (stranger.status_code,
                                                              stranger.text)
        case.validate_response(stranger, checks=_checks(case, authenticated=False),
                               transport_kwargs={"base_url": desk.url, "timeout": 30})


def test_the_success_paths_were_reached(desk: Desk) -> None:
    """The seeds did their work: each operation answered its documented success at least
    once (a fuzzer that only ever met 404s and 400s would prove little)."""
    wanted = {"GET /desk/api/handoffs": 200, "GET /desk/api/handoffs/{id}": 200,
              "POST /desk/api/handoffs/{id}/claim": 200,
              "POST /desk/api/handoffs/{id}/messages": 202,
              "POST /desk/api/handoffs/{id}/typing": 204,
              "POST /desk/api/handoffs/{id}/notes": 201,
              "POST /desk/api/handoffs/{id}/transfer": 200,
              "POST /desk/api/handoffs/{id}/handback": 200,
              "POST /desk/api/handoffs/{id}/close": 200,
              "POST /desk/api/users": 201, "PATCH /desk/api/users/{user_id}": 200,
              "PUT /desk/api/presence": 200, "GET /desk/api/audit": 200,
              "GET /desk/api/me": 200, "POST /desk/api/logout": 204,
              "GET /desk/api/analytics": 200, "GET /desk/api/review": 200,
              "GET /desk/api/review/intents": 200}
    missed = {op: sorted(REACHED.get(op, ())) for op, status in wanted.items()
              if status not in REACHED.get(op, ())}
    assert not missed, missed


def test_the_audit_log_refuses_what_is_no_whole_number_it_can_page_by(desk: Desk) -> None:
    """limit and before are ASCII digits, before within the database's integers (the
    document's maximum): anything else is a 400, never a 500."""
    answers = {}
    for query in ({"limit": "\u00b2"}, {"before": "\u00b2"}, {"limit": "-1"},
                  {"before": str(2**63)}, {"before": "9" * 30}):
        answer = requests.get(f"{desk.url}/desk/api/audit", params=query,
                              headers=desk.headers, timeout=10)
        answers[json.dumps(query)] = answer.status_code
    assert set(answers.values()) == {400}, answers
    answer = requests.get(f"{desk.url}/desk/api/audit", params={"before": str(2**63 - 1)},
                          headers=desk.headers, timeout=10)
    assert answer.status_code == 200, answer.text


def test_a_reply_over_the_documented_length_is_a_400_however_it_is_padded(
        desk: Desk) -> None:
    """The document's maxLength counts the text as sent: 4096 characters and a leading
    tab is too long, though stripped it would fit (schemathesis found it accepted)."""
    path = f"{desk.url}/desk/api/handoffs/{desk.handoffs['held']}/messages"
    answer = requests.post(path, json={"text": "\t" + "a" * 4096}, headers=desk.headers,
                           timeout=10)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "the message has 4097 characters; at most 4096"


def test_a_malformed_body_is_a_400_whatever_it_holds(desk: Desk) -> None:
    """The 400 names what is wrong with the body, even when that is an unknown field with
    a line break in its name (from anyone: the login needs no credentials)."""
    answers = {}
    cases: tuple[tuple[str, Any, dict[str, str] | None], ...] = (
            ("/login", {"email": "a@example.com", "password": "p", "x\ry": 1}, None),
            ("/logout", None, desk.headers),
            (f"/handoffs/{desk.handoffs['held']}/notes", {"text": "hi", "\n": 1},
             desk.headers))
    for path, body, headers in cases:
        answer = requests.post(f"{desk.url}/desk/api{path}", json=body, headers=headers,
                               timeout=10)
        answers[path] = (answer.status_code, answer.headers.get("Content-Type"))
    assert answers == {
        "/login": (400, "application/json; charset=utf-8"),
        "/logout": (204, None),
        f"/handoffs/{desk.handoffs['held']}/notes": (400, "application/json; charset=utf-8"),
    }, answers


def test_a_refused_change_changes_nothing(desk: Desk) -> None:
    """A 4xx leaves things as they were: an account change, a new account or a hand-back
    whose audit entry would be too large is either done and answered 2xx, or refused and
    not done (never done, unaudited, and answered 400)."""
    api, headers = f"{desk.url}/desk/api", desk.headers
    teams = [f"t{i:03d}" + "x" * 55 for i in range(300)]  # valid names, 18 KB in the audit
    change = requests.patch(f"{api}/users/{desk.spare_id}", json={"teams": teams},
                            headers=headers, timeout=10)
    spare = next(u for u in requests.get(f"{api}/users", headers=headers, timeout=10).json()[
        "users"] if u["id"] == desk.spare_id)
    problems: list[tuple[Any, ...]] = []  # every case is tried: one does not hide the next
    if not change.ok and len(spare["teams"]) == len(teams):
        problems.append(("account change refused but done", change.status_code, change.text))
    added = requests.post(f"{api}/users", json={"email": "many-teams@example.com",
                                                "role": "agent", "teams": teams},
                          headers=headers, timeout=10)
    emails = [u["email"] for u in requests.get(f"{api}/users", headers=headers,
                                               timeout=10).json()["users"]]
    if not added.ok and "many-teams@example.com" in emails:
        problems.append(("new account refused but made", added.status_code, added.text))
    held = desk.handoffs["held"]
    slots = {f"slot_{i:05d}": 1 for i in range(2000)}  # 20 KB of slot names in the audit
    back = requests.post(f"{api}/handoffs/{held}/handback", json={"slots": slots},
                         headers=headers, timeout=10)
    status = requests.get(f"{api}/handoffs/{held}", headers=headers, timeout=10).json()["status"]
    if not back.ok and status != "active":
        problems.append(("hand-back refused but done", back.status_code, back.text, status))
    assert not problems, problems


def test_the_document_is_the_one_served(desk: Desk) -> None:
    served = requests.get(f"{desk.url}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


# --- the WebSocket and the webhooks ---------------------------------------------------------

def test_the_event_stream_speaks_as_documented(desk: Desk) -> None:
    """A bearer token opens the socket: hello with the caller, then the events as
    DeskEvent frames (a presence change and a claim here); no token: 401; a plain GET that
    is no handshake: 400."""
    hello = _validator(DOCUMENT["components"]["schemas"]["DeskUser"])
    event = _validator({"$ref": "#/components/schemas/DeskEvent"})

    async def scenario() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            api = DeskApi(http, desk.url, desk.token)
            await api.ok("PUT", "/presence", {"status": "offline"})  # whatever the fuzz left
            socket = await api.events()
            first = json.loads((await socket.receive(timeout=10)).data)
            assert first["type"] == "hello" and hello.is_valid(first["user"]), first
            await api.ok("PUT", "/presence", {"status": "away"})
            await api.ok("PUT", "/presence", {"status": "online"})
            await socket.send_str('{"type":"ping"}')
            frames: list[dict[str, Any]] = []
            async with asyncio.timeout(10):
                while len([f for f in frames if f["type"] in ("pong", "presence.changed")]) < 3:
                    frames.append(json.loads((await socket.receive()).data))
            await socket.close()
            async with http.get(f"{desk.url}/desk/api/events") as plain:
                assert plain.status == 401
            async with http.get(f"{desk.url}/desk/api/events", headers=api.headers) as plain:
                assert plain.status == 400 and "error" in await plain.json()
            return frames

    frames = asyncio.run(scenario())
    assert {"type": "pong"} in frames
    events = [f for f in frames if f != {"type": "pong"}]
    assert [(e["type"], e["data"]["status"]) for e in events
            if e["type"] == "presence.changed"] == [("presence.changed", "away"),
                                                    ("presence.changed", "online")]
    for frame in events:
        assert event.is_valid(frame), [e.message for e in event.iter_errors(frame)]


def test_the_webhooks_are_the_documented_ones(desk: Desk, sink: _Sink,
                                              redis_client: redis.Redis) -> None:
    """Every desk event reached the helpdesk as documented: the body a DeskEvent, the
    headers of the webhook's parameters, the signature the website webhook's."""
    hook = DOCUMENT["webhooks"]["deskEvent"]["post"]
    body_schema = _validator({"$ref": "#/components/schemas/DeskEvent"})
    header_schemas = {p["name"]: _validator(p["schema"]) for p in hook["parameters"]}
    expected = redis_client.xlen("parley:desk:events")
    deadline = time.monotonic() + 15
    while len(sink.received) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    with sink.lock:
        received = list(sink.received)
    assert len(received) >= expected > 5
    kinds = set()
    for headers, raw in received:
        body = json.loads(raw)
        assert body_schema.is_valid(body), [e.message for e in body_schema.iter_errors(body)]
        for name, check in header_schemas.items():
            assert check.is_valid(headers.get(name)), (name, headers.get(name))
        assert headers["X-Parley-Delivery-Id"] == body["id"]
        assert headers["X-Parley-Event"] == body["type"]
        verify_signature(WEBHOOK_SECRET, headers, raw, window=300)
        kinds.add(body["type"])
    assert {"handoff.requested", "handoff.claimed", "presence.changed"} <= kinds, kinds


def test_the_gateway_logged_no_traceback(desk: Desk) -> None:
    log = Path(desk.gateway.log).read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


# --- the database of record away ------------------------------------------------------------

@pytest.fixture(scope="module")
def postgres_desk(redis_client: redis.Redis, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[str, str, str]]:
    """A gateway whose desk keeps its records in a PostgreSQL database of its own: (the
    gateway's URL, an admin's token, the database's name)."""
    name = f"parley_fuzz_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    url = f"{POSTGRES}/{name}"
    folder = tmp_path_factory.mktemp("postgres_desk")
    gateway = None
    try:
        asyncio.run(upgrade(database_url(url, folder)))
        _, token = add_agent(url, "pg-admin@example.com", role="admin")
        gateway = GatewayProcess(folder / "gateway.log", {**ENV, "PARLEY_DATABASE_URL": url})
        yield gateway.url, token, name
    finally:
        if gateway is not None:
            gateway.stop()
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _admin(*statements: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def test_a_nul_character_is_no_500_on_postgresql(postgres_desk: tuple[str, str, str],
                                                 desk: Desk) -> None:
    """PostgreSQL's text holds no U+0000 (SQLite's does, so the fuzzing above cannot tell):
    a string with one, from anyone, is refused or taken, never a 500. (This desk shares
    the seeded handoffs: they are in Redis.)"""
    base, token, _ = postgres_desk
    headers = {"Authorization": f"Bearer {token}"}
    answers = {}
    for method, path, body, params in (
            ("POST", "/desk/api/login", {"email": "a\u0000@example.com", "password": "p"}, None),
            ("GET", "/desk/api/audit", None, {"conversation_id": "\u0000"}),
            ("PATCH", "/desk/api/users/\u0000", {}, None),
            ("POST", "/desk/api/users", {"email": "\u0000x@example.com", "role": "agent"},
             None),
            ("POST", f"/desk/api/handoffs/{desk.handoffs['held']}/notes",
             {"text": "a \u0000 in a note"}, None)):
        answer = requests.request(method, f"{base}{path}", json=body, params=params,
                                  headers=headers if path != "/desk/api/login" else None,
                                  timeout=10)
        answers[f"{method} {path}"] = answer.status_code
    assert all(status < 500 for status in answers.values()), answers


def test_the_desk_answers_503_while_its_database_is_down(
        postgres_desk: tuple[str, str, str], redis_client: redis.Redis) -> None:
    """The document's DeskUnavailable: the database of record refuses connections (and the
    ones the desk held are gone) → 503 with Retry-After and a JSON error, not a 500."""
    base, token, database = postgres_desk
    for key in redis_client.scan_iter(match="parley:desk:login_failures:*"):
        redis_client.delete(key)  # the fuzzing's failed logins from this address
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{base}/desk/api/me", headers=headers, timeout=10).status_code == 200
    asyncio.run(_admin(f"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false",
                       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       f"WHERE datname = '{database}'"))
    try:
        for method, path, body in (("GET", "/desk/api/me", None),
                                   ("GET", "/desk/api/users", None),
                                   ("POST", "/desk/api/login",
                                    {"email": "pg-admin@example.com", "password": "x" * 12})):
            answer = requests.request(method, f"{base}{path}", json=body, headers=headers,
                                      timeout=30)
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert answer.headers.get("Retry-After", "").isdigit()
            assert "error" in answer.json()
    finally:
        asyncio.run(_admin(f"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true"))
