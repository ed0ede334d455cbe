"""desk.review on both backends: the archive's user messages worth a look come worst first,
each with its reasons and context; labels are checked against the message and replace
each other; labelled messages leave the open queue."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from brain.handoff.settings import DeskSettings
from desk.accounts import Accounts, User
from desk.app import DeskConfig, create_desk_app
from desk.database import Database, open_database, upgrade
from desk.database import database_url as desk_url
from desk.review import (
    ReviewError,
    UnknownTurnError,
    get_label,
    label,
    review_queue,
    unlabel,
)
from desk.schema import (
    ArchivedMessageRow,
    AuditEntryRow,
    ConversationRow,
    FeedbackRow,
    TurnRow,
)
from tests.desk.conftest import Run
from tests.processes import REDIS_URL, clean_redis, redis_client  # noqa: F401
from workers.handoff_desk import RedisHandoffDesk

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _turn(cid: str, sequence: int, at: datetime, text: str, *, intent: str | None = "greet",
          confidence: float | None = 0.95, kind: str = "message", fallback: bool = False,
          handoff: bool = False, payload: str | None = None,
          entities: list[dict[str, Any]] | None = None) -> TurnRow:
    parse = None if intent is None and confidence is None else {
        "text": text, "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence},
                           {"name": "goodbye", "confidence": 0.01}],
        "entities": entities or [], "fallback_reason": "low_confidence" if fallback else None}
    return TurnRow(conversation_id=cid, sequence=sequence, channel=cid.split(":")[0], kind=kind,
                   user_message=kind == "message", message_id=f"m{sequence}", at=at, text=text,
                   payload=payload, intent=intent, confidence=confidence, fallback=fallback,
                   fallback_reason="low_confidence" if fallback else None,
                   out_of_scope=intent == "out_of_scope", handoff_requested=handoff,
                   model="m1", record={"parse": parse})


def _reply(cid: str, sequence: int, at: datetime, text: str, position: int = 0,
           author: str = "bot") -> ArchivedMessageRow:
    return ArchivedMessageRow(conversation_id=cid, sequence=sequence, position=position,
                              author_kind=author, author_name="", text=text, buttons=[], at=at)


def _archive(db: Database, run: Run[Any]) -> None:
    """Five conversations: a fallback rephrased, a thumbs down, a handoff, an out-of-scope
    on telegram, and a confident resolved one (plus a button press and a feedback turn)."""
    s = timedelta(seconds=1)
    rows: list[Any] = [ConversationRow(id=cid, channel=cid.split(":")[0], user_id="u",
                                       first_at=T0, last_at=T0 + 600 * s)
                       for cid in ("web:s:fall", "web:s:thumb", "web:s:hand", "telegram:b:oos",
                                   "web:s:fine")]
    rows += [  # fell back at 0.2, then the person rephrased 30 s later (which went fine)
        _turn("web:s:fall", 1, T0, "wheres my stuff", intent="order_status", confidence=0.2,
              fallback=True),
        _reply("web:s:fall", 1, T0 + s, "Sorry, I did not get that. Could you rephrase?"),
        _turn("web:s:fall", 2, T0 + 30 * s, "where is my order", intent="order_status"),
        _reply("web:s:fall", 2, T0 + 31 * s, "Your order is on its way."),
        # a confident answer that got a thumbs down
        _turn("web:s:thumb", 1, T0 + 60 * s, "ship to mars?", intent="ship_to",
              confidence=0.9),
        _reply("web:s:thumb", 1, T0 + 61 * s, "We ship there."),
        _turn("web:s:thumb", 2, T0 + 70 * s, "", kind="feedback", intent=None, confidence=None),
        FeedbackRow(conversation_id="web:s:thumb", sequence=2, kind="thumbs", value=0,
                    comment="wrong", about_sequence=1, about_position=0, channel="web",
                    at=T0 + 70 * s),
        # low confidence (0.5), and the next message asked for a person (5 min later)
        _turn("web:s:hand", 1, T0 + 100 * s, "my card was charged twice",
              intent="order_status", confidence=0.5),
        _reply("web:s:hand", 1, T0 + 101 * s, "Let me check your order."),
        _turn("web:s:hand", 2, T0 + 400 * s, "human please", intent="greet",
              confidence=0.8, handoff=True),
        _reply("web:s:hand", 2, T0 + 401 * s, "Connecting you to a person."),
        _turn("web:s:hand", 3, T0 + 450 * s, "", kind="agent_message", intent=None,
              confidence=None),
        _reply("web:s:hand", 3, T0 + 450 * s, "Hi, Ana here.", author="agent"),
        _turn("telegram:b:oos", 1, T0 + 200 * s, "what is the meaning of life",
              intent="out_of_scope", confidence=0.7),
        # confident and resolved: not worth a look, and a button press is never listed
        _turn("web:s:fine", 1, T0 + 300 * s, "hello", intent="greet", confidence=0.99),
        _turn("web:s:fine", 2, T0 + 310 * s, "Track", intent="order_status", confidence=0.1,
              payload="/order_status"),
    ]

    async def insert() -> None:
        async with db.sessions.begin() as session:
            session.add_all(rows[:5])
            await session.flush()
            session.add_all(rows[5:])
    run(insert())


def _reviewer(db: Database, run: Run[Any]) -> User:
    accounts = Accounts(db, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    user: User = run(accounts.add_user("sue@example.com", "supervisor")).user
    return user


def test_the_queue_lists_the_worst_first_with_reasons_and_context(
        database: Database, run: Run[Any]) -> None:
    _archive(database, run)
    items = run(review_queue(database, limit=50, offset=0))
    got = [(i.conversation_id, i.sequence, i.reasons, i.score) for i in items]
    assert got == [
        ("web:s:fall", 1, ["fallback", "rephrased", "low_confidence"], 8),
        ("web:s:hand", 1, ["handoff", "low_confidence"], 6),
        ("web:s:thumb", 1, ["thumbs_down"], 5),
        ("web:s:hand", 2, ["handoff"], 4),
        ("telegram:b:oos", 1, ["out_of_scope"], 2),
    ]  # not the confident "hello", the button press, nor the rephrase that went fine
    fall = items[0]
    assert (fall.text, fall.intent, fall.confidence, fall.channel) == (
        "wheres my stuff", "order_status", 0.2, "web")
    assert fall.at == T0 and fall.ranking[0] == {"name": "order_status", "confidence": 0.2}
    assert [(c["author"], c["text"], c["current"]) for c in fall.context] == [
        ("user", "wheres my stuff", True),
        ("bot", "Sorry, I did not get that. Could you rephrase?", False),
        ("user", "where is my order", False), ("bot", "Your order is on its way.", False)]
    # The handoff request's context runs on to the agent who answered.
    assert [c["text"] for c in items[3].context] == [
        "my card was charged twice", "Let me check your order.", "human please",
        "Connecting you to a person.", "Hi, Ana here."]
    # Filters and pages, done by the database.
    assert [i.conversation_id for i in run(review_queue(database, limit=50, offset=0,
                                                        channel="telegram"))] == [
        "telegram:b:oos"]
    window = run(review_queue(database, limit=50, offset=0, start=T0 + 90 * timedelta(
        seconds=1), end=T0 + 250 * timedelta(seconds=1)))
    assert [(i.conversation_id, i.sequence) for i in window] == [("web:s:hand", 1),
                                                                ("telegram:b:oos", 1)]
    page = run(review_queue(database, limit=2, offset=2))
    assert [(i.conversation_id, i.sequence) for i in page] == [("web:s:thumb", 1),
                                                              ("web:s:hand", 2)]
    # A stricter threshold makes the thumbs-down message (0.9) low as well.
    strict = run(review_queue(database, limit=50, offset=0, min_confidence=0.95))
    assert next(i for i in strict if i.conversation_id == "web:s:thumb").reasons == [
        "thumbs_down", "low_confidence"]
    assert "web:s:fine" not in {i.conversation_id for i in strict}  # 0.99


def test_labels_are_checked_replace_each_other_and_are_audited(
        database: Database, run: Run[Any]) -> None:
    _archive(database, run)
    sue = _reviewer(database, run)
    cid = "web:s:hand"  # "my card was charged twice"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"verdict": "relabel", "intent": "billing",
          "entities": [{"start": 3, "end": 40, "entity": "card"}]}, "start < end <= 25"),
        ({"verdict": "relabel", "intent": "billing",
          "entities": [{"start": 3, "end": 7, "entity": "card"},
                       {"start": 5, "end": 11, "entity": "x"}]}, "entities overlap"),
        ({"verdict": "relabel", "intent": "billing",
          "entities": [{"start": 2, "end": 7, "entity": "card"}]}, "starts or ends with a space"),
        ({"verdict": "relabel", "intent": "billing",
          "entities": [{"start": 3, "end": 7, "entity": "my card"}]}, "entity name"),
        ({"verdict": "relabel", "intent": "pay bill", "entities": []}, "not a valid name"),
        ({"verdict": "relabel", "intent": "nlu_fallback", "entities": []}, "default intents"),
        ({"verdict": "correct", "intent": "billing", "entities": None}, "relabel"),
        ({"verdict": "maybe", "intent": "billing", "entities": []}, "verdict is one of"),
    ]
    for bad, problem in cases:
        with pytest.raises(ReviewError, match=problem):
            run(label(database, conversation_id=cid, sequence=1, reviewer=sue, **bad))
    with pytest.raises(UnknownTurnError):
        run(label(database, conversation_id=cid, sequence=3, verdict="correct", intent=None,
                  entities=None, reviewer=sue))  # an agent's message, not the person's
    with pytest.raises(ReviewError, match="button press"):
        run(label(database, conversation_id="web:s:fine", sequence=2, verdict="correct",
                  intent=None, entities=None, reviewer=sue))

    first = run(label(database, conversation_id=cid, sequence=1, verdict="correct",
                      intent=None, entities=None, reviewer=sue, ip="203.0.113.7"))
    assert (first.verdict, first.intent, first.text) == ("correct", "order_status",
                                                         "my card was charged twice")
    second = run(label(database, conversation_id=cid, sequence=1, verdict="relabel",
                       intent="billing", reviewer=sue,
                       entities=[{"start": 3, "end": 7, "entity": "payment_method",
                                  "value": "card"},  # the same as the text: no value kept
                                 {"start": 20, "end": 25, "entity": "count", "value": "2"}]))
    stored = run(get_label(database, cid, 1))
    assert stored is not None and stored.intent == "billing" and stored.verdict == "relabel"
    assert [dict(e) for e in stored.entities] == [
        {"start": 3, "end": 7, "entity": "payment_method"},
        {"start": 20, "end": 25, "entity": "count", "value": "2"}]
    assert second.as_json()["entities"] == [dict(e) for e in stored.entities]

    open_now = [(i.conversation_id, i.sequence) for i in run(review_queue(database, limit=50))]
    assert (cid, 1) not in open_now and len(open_now) == 4
    done = run(review_queue(database, limit=50, status="labelled"))
    assert [(i.conversation_id, i.sequence, i.label.intent if i.label else None)
            for i in done] == [(cid, 1, "billing")]
    everything = run(review_queue(database, limit=50, status="all"))
    assert (everything[-1].conversation_id, everything[-1].sequence) == (cid, 1)

    assert run(unlabel(database, conversation_id=cid, sequence=1, reviewer=sue)) is True
    assert run(unlabel(database, conversation_id=cid, sequence=1, reviewer=sue)) is False
    assert run(get_label(database, cid, 1)) is None

    async def audit() -> list[tuple[str, str | None, dict[str, Any]]]:
        async with database.reads() as session:
            rows = await session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.id))
            return [(r.action, r.conversation_id, r.detail) for r in rows
                    if r.action.startswith("review.")]
    assert run(audit()) == [
        ("review.labelled", cid, {"sequence": 1, "verdict": "correct",
                                  "intent": "order_status", "entities": []}),
        ("review.labelled", cid, {"sequence": 1, "verdict": "relabel", "intent": "billing",
                                  "entities": ["payment_method", "count"]}),
        ("review.unlabelled", cid, {"sequence": 1})]


async def _api(db: Database, sync_redis: Any) -> dict[str, Any]:
    """The answers of the review API to a supervisor, an agent and bad input."""
    accounts = Accounts(db, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    agent = await accounts.add_user("agent@example.com", "agent", ["support"], token=True)
    lead = await accounts.add_user("lead@example.com", "supervisor", [], token=True)
    # What a worker publishes at start (workers.runtime._publish_to_desk).
    RedisHandoffDesk(sync_redis, DeskSettings()).publish(
        {}, intents=["greet", "order_status", "greet"], entities=["order_id"])
    root = web.Application()
    root.add_subapp("/desk", create_desk_app(DeskConfig(
        redis_url=REDIS_URL, database_url=db.url, registry=CollectorRegistry(), timers=False)))
    got: dict[str, Any] = {}
    async with TestServer(root) as server, aiohttp.ClientSession() as http:
        async def call(name: str, method: str, path: str, token: str | None, **kw: Any) -> None:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.request(method, str(server.make_url("/desk" + path)),
                                    headers=headers, **kw) as answer:
                text = await answer.text()
                body = json.loads(text) if answer.content_type == "application/json" else text
                got[name] = (answer.status, body,
                             answer.headers.get("Content-Security-Policy", ""),
                             answer.headers.get("X-Frame-Options", ""))
        assert agent.token is not None and lead.token is not None
        label_path = "/api/review/web:s:hand/1/label"
        await call("agent", "GET", "/api/review", agent.token)
        await call("nobody", "GET", "/api/review", None)
        await call("queue", "GET", "/api/review", lead.token,
                   params={"limit": "2", "from": "2026-12-01", "to": "2026-12-01"})
        await call("later", "GET", "/api/review", lead.token, params={"from": "2026-12-02"})
        for bad in ({"limit": "0"}, {"limit": "x"}, {"status": "done"}, {"from": "noon"},
                    {"channel": "Web Chat"}, {"min_confidence": "2"}, {"to": "2026-13-01"}):
            await call(f"bad {bad}", "GET", "/api/review", lead.token, params=bad)
        await call("put", "PUT", label_path, lead.token, json={
            "verdict": "relabel", "intent": "billing",
            "entities": [{"start": 3.0, "end": 7, "entity": "payment_method"}]})  # 3.0 is 3
        await call("put bad span", "PUT", label_path, lead.token, json={
            "verdict": "relabel", "intent": "billing",
            "entities": [{"start": 3, "end": 99, "entity": "payment_method"}]})
        await call("put bad body", "PUT", label_path, lead.token, json={"verdict": 3})
        await call("put agent", "PUT", label_path, agent.token, json={"verdict": "correct"})
        await call("put unknown", "PUT", "/api/review/web:s:nope/1/label", lead.token,
                   json={"verdict": "correct"})
        await call("put sequence", "PUT", "/api/review/web:s:hand/x/label", lead.token,
                   json={"verdict": "correct"})
        await call("intents", "GET", "/api/review/intents", lead.token)
        await call("delete", "DELETE", label_path, lead.token)
        await call("delete again", "DELETE", label_path, lead.token)
        await call("page", "GET", "/review", None)
    return got


# desk.app keeps its config under a plain string key, which aiohttp warns about.
def test_the_api_serves_supervisors_and_refuses_the_rest_as_json(
        database: Database, run: Run[Any], clean_redis: Any) -> None:
    _archive(database, run)
    got = run(_api(database, clean_redis))
    assert got["agent"][:2] == (403, {"error": "only supervisors and admins review the bot's "
                                               "messages"})
    assert got["nobody"][0] == 401
    status, body, *_ = got["queue"]
    assert status == 200 and [(i["conversation_id"], i["reasons"]) for i in body["items"]] == [
        ("web:s:fall", ["fallback", "rephrased", "low_confidence"]),
        ("web:s:hand", ["handoff", "low_confidence"])]
    assert body["items"][0]["context"][1]["author"] == "bot"
    assert got["later"][:2] == (200, {"items": [], "min_confidence": 0.6, "limit": 50,
                                      "offset": 0})
    for name in [n for n in got if n.startswith("bad ")]:
        status, body, *_ = got[name]
        assert status == 400 and isinstance(body, dict) and body["error"], (name, body)
    status, body, *_ = got["put"]
    assert status == 200 and body["new_intent"] is True
    assert body["label"]["intent"] == "billing" and body["label"]["entities"] == [
        {"start": 3, "end": 7, "entity": "payment_method"}]
    assert got["put bad span"][0] == 400 and "start < end <= 25" in got["put bad span"][1][
        "error"]
    assert got["put bad body"][0] == 400
    assert got["put agent"][0] == 403
    assert got["put unknown"][0] == 404 and got["put sequence"][0] == 404
    assert got["intents"][:2] == (200, {"intents": ["greet", "order_status"],
                                        "entities": ["order_id"], "new_intents": ["billing"],
                                        "published": True})
    assert got["delete"][0] == 204 and got["delete again"][0] == 404
    status, page, policy, framing = got["page"]
    assert status == 200 and '<script type="module" src="/desk/review.js">' in page
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert framing == "DENY"


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SLOW = 60_000  # ms: a loaded 2-core machine


async def _in_the_browser(db: Database, email: str, password: str) -> list[str]:
    """A supervisor signs in at the console, follows its Review link, labels one message
    with a new intent and an entity marked by selecting text, another with ``r`` (the bot
    was right), then lists the labelled ones. Returns the labelled rows' texts."""
    from playwright.async_api import async_playwright, expect

    root = web.Application()
    root.add_subapp("/desk", create_desk_app(DeskConfig(
        redis_url=REDIS_URL, database_url=db.url, registry=CollectorRegistry(), timers=False)))
    async with TestServer(root) as server, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = await browser.new_page()
        page.set_default_timeout(SLOW)
        failures: list[str] = []
        page.on("pageerror", lambda exc: failures.append(str(exc)))
        await page.goto(str(server.make_url("/desk/")))
        await page.get_by_test_id("login-email").fill(email)
        await page.get_by_test_id("login-password").fill(password)
        await page.get_by_test_id("login-submit").click()
        await page.get_by_test_id("review-tab").click()
        rows = page.get_by_test_id("review-row")
        await expect(rows).to_have_count(5)
        await expect(rows.nth(0)).to_contain_text("fallback")
        await page.get_by_test_id("review-list").focus()
        await page.keyboard.press("j")
        text = page.get_by_test_id("review-text")
        await expect(text).to_have_text("my card was charged twice")
        await text.evaluate("""(p) => {  // the reviewer selects " card " (spaces trimmed)
            const range = document.createRange();
            range.setStart(p.firstChild, 2); range.setEnd(p.firstChild, 8);
            getSelection().removeAllRanges(); getSelection().addRange(range);
            p.dispatchEvent(new MouseEvent("mouseup", {bubbles: true})); }""")
        await page.get_by_test_id("entity-name").fill("payment_method")
        await page.get_by_test_id("entity-add").click()
        await expect(page.get_by_test_id("entity-list")).to_contain_text(
            "card \u2192 payment_method")
        await page.get_by_test_id("intent-select").select_option(label="New intent\u2026")
        await page.get_by_test_id("intent-new").fill("billing")
        await page.get_by_test_id("save-label").click()
        await expect(rows).to_have_count(4)
        await page.get_by_test_id("review-list").focus()
        await page.keyboard.press("r")  # "ship to mars?" is next: the bot was right
        await expect(rows).to_have_count(3)
        await page.get_by_test_id("filter-status").select_option("labelled")
        await page.locator("#review-filters button[type=submit]").click()
        await expect(rows).to_have_count(2)
        labelled = [await page.get_by_test_id("review-row").nth(i).inner_text()
                    for i in range(2)]
        await browser.close()
    assert failures == []
    return labelled


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (.ci/run "
                    "installs Debian's chromium)")
def test_the_page_labels_with_the_keyboard_and_a_text_selection(
        tmp_path: Path, run: Run[Any], clean_redis: Any) -> None:
    url = desk_url(f"sqlite:///{tmp_path / 'desk.db'}", tmp_path)
    run(upgrade(url))
    db = open_database(url)
    try:
        _archive(db, run)
        accounts = Accounts(db, hasher=PasswordHasher(time_cost=1, memory_cost=8,
                                                      parallelism=1))
        new = run(accounts.add_user("lead@example.com", "supervisor"))
        run(accounts.set_password(new.user.id, "a-long-password-for-review"))
        labelled = run(_in_the_browser(db, "lead@example.com", "a-long-password-for-review"))
        assert "labelled: billing" in labelled[0] and "labelled: ship_to" in labelled[1]
        stored = run(get_label(db, "web:s:hand", 1))
        assert stored is not None and (stored.verdict, stored.intent) == ("relabel", "billing")
        assert [dict(e) for e in stored.entities] == [
            {"start": 3, "end": 7, "entity": "payment_method"}]
        right = run(get_label(db, "web:s:thumb", 1))
        assert right is not None and (right.verdict, right.intent) == ("correct", "ship_to")
    finally:
        run(db.aclose())
