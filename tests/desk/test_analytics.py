"""Analytics (``desk.analytics``, its API and ``parley analytics``) over a small archive
designed by hand, on PostgreSQL and SQLite: every figure against the value worked out here.

The archive, days 2026-03-01 (d1) and 2026-03-02 (d2), UTC:

    c1 web       d1 resolved     greet .95/100 ms, thank .85/200; thumbs up
    c2 web       d1 handed off   refund .55/300 (fallback), handoff .90/400; an agent reply;
                                 CSAT 5
    c3 telegram  d1 abandoned    book .75/500 (form booking starts, asks date),
                                 inform .65/600 (asks time) — and nothing more
    c4 telegram  d2 abandoned    out_of_scope .25/700 and .15/800 (both fallbacks); thumbs
                                 down; CSAT 3
    c5 web       d2 resolved     book 1.0/900 (booking starts), inform .45/1000 (booking
                                 completed), book .05/50 (booking again, asks date), stop
                                 .35/150 (booking cancelled); CSAT 4
    c6 web       d2 —            a greeting only, no user message: not counted at all
    c7 web       02-28 23:59:59  started the day before (not counted as a conversation),
                                 but its greet .50/250 at d1 00:00:30 is a d1 user message
    c8 slack     03-03 00:00     the day after: nothing of it counts
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from desk.accounts import Accounts
from desk.analytics import AnalyticsRangeError, Figures, analytics, nearest_rank
from desk.app import DeskConfig, create_desk_app
from desk.database import Database
from desk.schema import ArchivedMessageRow, ConversationRow, FeedbackRow, TurnRow
from gateway.cli import main
from tests.desk.conftest import Run
from tests.processes import REDIS_URL, clean_redis, redis_client  # noqa: F401

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


def _at(day: date, clock: str) -> datetime:
    hours, minutes, seconds = (int(x) for x in clock.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, seconds, tzinfo=UTC)


class _Archive:
    """Rows as the archive store writes them (the shared definitions), built by hand."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def conversation(self, cid: str, first: datetime, outcome: str, *, users: int,
                     handed_off: bool = False) -> None:
        self.rows.append(ConversationRow(
            id=cid, channel=cid.split(":")[0], user_id="u-" + cid, first_at=first,
            last_at=first + timedelta(minutes=30), user_messages=users, outcome=outcome,
            handed_off=handed_off))

    def turn(self, cid: str, seq: int, at: datetime, *, kind: str = "message",
             intent: str | None = None, confidence: float | None = None,
             latency: float | None = None, fallback: bool = False, handoff: bool = False,
             events: Iterable[dict[str, Any]] = (), state: tuple[str, str] | None = None,
             replies: int = 1) -> None:
        user = kind == "message"
        form, slot = state or (None, None)
        record = {"kind": kind, "events": list(events),
                  "state": {"active_form": form, "requested_slot": slot, "handoff": handoff}}
        self.rows.append(TurnRow(
            conversation_id=cid, sequence=seq, channel=cid.split(":")[0], kind=kind,
            user_message=user, at=at, intent=intent, confidence=confidence,
            fallback=fallback, out_of_scope=intent == "out_of_scope",
            handoff_requested=handoff, active_form=form, requested_slot=slot,
            latency_ms=latency if user else None, record=record))
        for position in range(replies):
            self.message(cid, seq, position, at + timedelta(milliseconds=500))

    def message(self, cid: str, seq: int, position: int, at: datetime,
                author: str = "bot") -> None:
        self.rows.append(ArchivedMessageRow(conversation_id=cid, sequence=seq,
                                            position=position, author_kind=author,
                                            text="...", at=at))

    def feedback(self, cid: str, seq: int, at: datetime, kind: str, value: int) -> None:
        self.turn(cid, seq, at, kind="feedback", replies=0)
        self.rows.append(FeedbackRow(conversation_id=cid, sequence=seq, kind=kind, value=value,
                                     channel=cid.split(":")[0], at=at))


def _form_start(name: str, asks: str) -> list[dict[str, Any]]:
    return [{"type": "form_start", "name": name},
            {"type": "slot", "name": "requested_slot", "value": asks}]


def _scenario() -> _Archive:
    a = _Archive()
    a.conversation("web:a:1", _at(D1, "10:00:00"), "resolved", users=2)
    a.turn("web:a:1", 1, _at(D1, "10:00:00"), kind="conversation_start", replies=0)
    a.turn("web:a:1", 2, _at(D1, "10:00:01"), intent="greet", confidence=0.95, latency=100)
    a.turn("web:a:1", 3, _at(D1, "10:00:20"), intent="thank", confidence=0.85, latency=200)
    a.feedback("web:a:1", 4, _at(D1, "10:01:00"), "thumbs", 1)

    a.conversation("web:a:2", _at(D1, "11:00:00"), "handed_off", users=2, handed_off=True)
    a.turn("web:a:2", 1, _at(D1, "11:00:00"), intent="refund", confidence=0.55, latency=300,
           fallback=True, events=[{"type": "fallback", "stage": 1}])
    a.turn("web:a:2", 2, _at(D1, "11:00:30"), intent="handoff", confidence=0.90, latency=400,
           handoff=True, events=[{"type": "handoff", "reason": "handoff"}])
    a.turn("web:a:2", 3, _at(D1, "11:05:00"), kind="agent_message", replies=0)
    a.message("web:a:2", 3, 0, _at(D1, "11:05:00"), author="agent")
    a.feedback("web:a:2", 4, _at(D1, "11:30:00"), "csat", 5)

    a.conversation("telegram:b:3", _at(D1, "12:00:00"), "abandoned", users=2)
    a.turn("telegram:b:3", 1, _at(D1, "12:00:00"), intent="book", confidence=0.75,
           latency=500, events=_form_start("booking", "date"), state=("booking", "date"))
    a.turn("telegram:b:3", 2, _at(D1, "12:01:00"), intent="inform", confidence=0.65,
           latency=600, state=("booking", "time"),
           events=[{"type": "slot", "name": "date", "value": "tomorrow"},
                   {"type": "slot", "name": "requested_slot", "value": "time"}])

    a.conversation("telegram:b:4", _at(D2, "09:00:00"), "abandoned", users=2)
    a.turn("telegram:b:4", 1, _at(D2, "09:00:00"), intent="out_of_scope", confidence=0.25,
           latency=700, fallback=True, events=[{"type": "fallback", "stage": 1}])
    a.turn("telegram:b:4", 2, _at(D2, "09:01:00"), intent="out_of_scope", confidence=0.15,
           latency=800, fallback=True, events=[{"type": "fallback", "stage": 2}])
    a.feedback("telegram:b:4", 3, _at(D2, "09:05:00"), "thumbs", 0)
    a.feedback("telegram:b:4", 4, _at(D2, "09:06:00"), "csat", 3)

    a.conversation("web:a:5", _at(D2, "14:00:00"), "resolved", users=4)
    a.turn("web:a:5", 1, _at(D2, "14:00:00"), intent="book", confidence=1.0, latency=900,
           events=_form_start("booking", "date"), state=("booking", "date"))
    a.turn("web:a:5", 2, _at(D2, "14:01:00"), intent="inform", confidence=0.45, latency=1000,
           replies=2, events=[{"type": "slot", "name": "date", "value": "friday"},
                              {"type": "slot", "name": "time", "value": "8"},
                              {"type": "form_stop", "name": "booking", "completed": True}])
    a.turn("web:a:5", 3, _at(D2, "14:05:00"), intent="book", confidence=0.05, latency=50,
           events=_form_start("booking", "date"), state=("booking", "date"))
    a.turn("web:a:5", 4, _at(D2, "14:06:00"), intent="stop", confidence=0.35, latency=150,
           events=[{"type": "form_stop", "name": "booking", "completed": False}])
    a.feedback("web:a:5", 5, _at(D2, "14:10:00"), "csat", 4)

    a.conversation("web:a:6", _at(D2, "16:00:00"), "resolved", users=0)
    a.turn("web:a:6", 1, _at(D2, "16:00:00"), kind="conversation_start")

    a.conversation("web:a:7", _at(date(2026, 2, 28), "23:59:59"), "resolved", users=2)
    a.turn("web:a:7", 1, _at(date(2026, 2, 28), "23:59:59"), intent="greet", confidence=0.5,
           latency=250)
    a.turn("web:a:7", 2, _at(D1, "00:00:30"), intent="greet", confidence=0.5, latency=250)

    a.conversation("slack:c:8", _at(date(2026, 3, 3), "00:00:00"), "resolved", users=1)
    a.turn("slack:c:8", 1, _at(date(2026, 3, 3), "00:00:00"), intent="greet",
           confidence=0.9, latency=10)
    a.feedback("slack:c:8", 2, _at(date(2026, 3, 3), "00:01:00"), "thumbs", 1)
    return a


async def _seed(db: Database) -> None:
    async with db.sessions.begin() as session:
        session.add_all([r for r in _scenario().rows if isinstance(r, ConversationRow)])
    async with db.sessions.begin() as session:
        session.add_all([r for r in _scenario().rows if not isinstance(r, ConversationRow)])


def _funnel(figures: Figures) -> dict[str, Any]:
    return {f.form: (f.started, f.completed, f.completion_rate,
                     [(d.slot, d.count) for d in f.dropped]) for f in figures.forms}


def test_every_figure_is_the_one_worked_out_by_hand(database: Database, run: Run[Any]) -> None:
    run(_seed(database))
    report = run(analytics(database, start=D1, end=D2, channel=None))
    total = report.total
    # Conversations first seen on d1..d2 with a user message: c1..c5 (not c6, c7, c8).
    assert (total.conversations, total.resolved, total.handed_off, total.abandoned) == (
        5, 2, 1, 2)
    assert (total.containment_rate, total.handoff_rate, total.abandonment_rate) == (
        2 / 5, 1 / 5, 2 / 5)
    # User messages at d1..d2: c1 2 + c2 2 + c3 2 + c4 2 + c5 4 + c7 1 = 13. Bot replies:
    # c1 2 + c2 2 + c3 2 + c4 2 + c5 5 + c7 1 = 14 (not c6's greeting: no user message).
    assert (total.user_messages, total.bot_messages, total.agent_messages) == (13, 14, 1)
    assert (total.fallbacks, total.fallback_rate) == (3, 3 / 13)  # c2 1, c4 2
    assert (total.out_of_scope, total.out_of_scope_rate) == (2, 2 / 13)  # c4 2
    assert (total.thumbs_up, total.thumbs_down, total.thumbs_up_share) == (1, 1, 1 / 2)
    # CSAT 5, 3, 4: two of three are 4–5; mean (5 + 3 + 4) / 3 = 4.
    assert (total.csat_answers, total.csat_counts, total.csat_satisfied_share,
            total.csat_mean) == (3, [0, 0, 1, 1, 1], 2 / 3, 4.0)
    assert [(i.intent, i.count) for i in total.intents] == [
        ("book", 3), ("greet", 2), ("inform", 2), ("out_of_scope", 2), ("handoff", 1),
        ("refund", 1), ("stop", 1), ("thank", 1)]
    assert total.intents_other == 0
    # .05 | .15 | .25 | .35 | .45 | .55 .50 | .65 | .75 | .85 | .95 .90 1.0
    assert total.confidence_histogram == [1, 1, 1, 1, 1, 2, 1, 1, 1, 3]
    # 50 100 150 200 250 300 [400] 500 600 700 800 900 [1000]: nearest rank
    # ceil(.50 · 13) = 7th, ceil(.95 · 13) = 13th.
    assert (total.latency_count, total.latency_p50_ms, total.latency_p95_ms) == (
        13, 400.0, 1000.0)
    # booking: c3 (left asking for time), c5 (completed), c5 again (cancelled asking date).
    assert _funnel(total) == {"booking": (3, 1, 1 / 3, [("date", 1), ("time", 1)])}

    assert list(report.channels) == ["telegram", "web"]
    web, telegram = report.channels["web"], report.channels["telegram"]
    assert (web.conversations, web.resolved, web.handed_off, web.abandoned) == (3, 2, 1, 0)
    assert (telegram.conversations, telegram.abandoned, telegram.containment_rate) == (
        2, 2, 0.0)
    assert (web.user_messages, web.bot_messages, web.agent_messages) == (9, 10, 1)
    assert (telegram.user_messages, telegram.bot_messages) == (4, 4)
    assert (web.fallback_rate, telegram.fallback_rate) == (1 / 9, 2 / 4)
    assert (web.out_of_scope_rate, telegram.out_of_scope_rate) == (0.0, 2 / 4)
    assert (web.thumbs_up_share, telegram.thumbs_up_share) == (1.0, 0.0)
    assert (web.csat_satisfied_share, web.csat_mean) == (1.0, 4.5)  # 5 and 4
    assert (telegram.csat_satisfied_share, telegram.csat_mean) == (0.0, 3.0)
    # web 50 100 150 200 [250] 300 400 900 [1000] (5th, 9th of 9); telegram 500 [600] 700
    # [800] (2nd, 4th of 4).
    assert (web.latency_p50_ms, web.latency_p95_ms) == (250.0, 1000.0)
    assert (telegram.latency_p50_ms, telegram.latency_p95_ms) == (600.0, 800.0)
    assert _funnel(web) == {"booking": (2, 1, 1 / 2, [("date", 1)])}
    assert _funnel(telegram) == {"booking": (1, 0, 0.0, [("time", 1)])}

    assert [d.day for d in report.days] == [D1, D2]
    one, two = report.days[0].figures, report.days[1].figures
    assert (one.conversations, one.resolved, one.handed_off, one.abandoned) == (3, 1, 1, 1)
    assert (two.conversations, two.resolved, two.abandoned) == (2, 1, 1)
    assert (one.user_messages, one.fallback_rate, two.user_messages, two.fallback_rate) == (
        7, 1 / 7, 6, 2 / 6)
    assert (one.bot_messages, one.agent_messages, two.bot_messages) == (7, 1, 7)
    # d1 100 200 250 [300] 400 500 [600] (4th, 7th of 7); d2 50 150 [700] 800 900 [1000]
    # (3rd, 6th of 6).
    assert (one.latency_p50_ms, one.latency_p95_ms) == (300.0, 600.0)
    assert (two.latency_p50_ms, two.latency_p95_ms) == (700.0, 1000.0)
    assert (one.thumbs_up_share, two.thumbs_up_share, one.csat_mean, two.csat_mean) == (
        1.0, 0.0, 5.0, 3.5)
    assert _funnel(one) == {"booking": (1, 0, 0.0, [("time", 1)])}
    assert _funnel(two) == {"booking": (2, 1, 1 / 2, [("date", 1)])}
    assert sum(d.figures.confidence_histogram[9] for d in report.days) == 3

    # The top 3 intents, and the rest as "other": 13 − (3 + 2 + 2).
    top = run(analytics(database, start=D1, end=D2, channel=None, top=3)).total
    assert ([(i.intent, i.count) for i in top.intents], top.intents_other) == (
        [("book", 3), ("greet", 2), ("inform", 2)], 6)
    # One channel: its figures are that channel's slice of the whole.
    only = run(analytics(database, start=D1, end=D2, channel="telegram"))
    assert only.total == telegram and list(only.channels) == ["telegram"]
    # In Paris (UTC+1) the days start an hour earlier: c7 (23:59:59 UTC on 02-28) is a d1
    # conversation there, with both its user messages; c8 (00:00 UTC on 03-03) stays out.
    paris = run(analytics(database, start=D1, end=D2, channel=None, tz="Europe/Paris"))
    assert (paris.total.conversations, paris.total.user_messages) == (6, 14)
    assert [d.figures.conversations for d in paris.days] == [4, 2]


def test_no_data_is_no_rate_and_a_bad_range_is_refused(database: Database,
                                                        run: Run[Any]) -> None:
    run(_seed(database))
    empty = run(analytics(database, start=date(2025, 1, 1), end=date(2025, 1, 1),
                          channel=None)).total
    assert (empty.conversations, empty.containment_rate, empty.fallback_rate,
            empty.thumbs_up_share, empty.csat_mean, empty.latency_p50_ms) == (
        0, None, None, None, None, None)
    assert empty.confidence_histogram == [0] * 10 and empty.forms == []
    for start, end, tz, channel, says in (
            (D2, D1, "UTC", None, "starts (2026-03-02) after it ends"),
            (date(2024, 1, 1), date(2025, 1, 1), "UTC", None, "367 days; at most 366"),
            (D1, D2, "Mars/Olympus", None, "unknown time zone"),
            (D1, D2, "UTC", "Web Chat", "channel is a channel's name")):
        with pytest.raises(AnalyticsRangeError, match=re.escape(says)):
            run(analytics(database, start=start, end=end, channel=channel, tz=tz))
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # ceil(2.0) = 2nd
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 95) == 4.0


async def _api(db: Database) -> dict[str, Any]:
    """The answers of ``GET /desk/api/analytics`` to an agent, a supervisor and bad input."""
    accounts = Accounts(db)
    agent = await accounts.add_user("agent@example.com", "agent", ["support"], token=True)
    lead = await accounts.add_user("lead@example.com", "supervisor", [], token=True)
    root = web.Application()
    root.add_subapp("/desk", create_desk_app(DeskConfig(
        redis_url=REDIS_URL, database_url=db.url, registry=CollectorRegistry(),
        timers=False)))
    answers: dict[str, Any] = {}
    async with TestServer(root) as server, aiohttp.ClientSession() as http:
        url = str(server.make_url("/desk/api/analytics"))
        for name, token, query in (
                ("agent", agent.token, {}),
                ("bad date", lead.token, {"from": "2026-02-30"}),
                ("week date", lead.token, {"from": "2026-W09-7"}),
                ("bad tz", lead.token, {"tz": "Nowhere/City"}),
                ("too long", lead.token, {"from": "2024-01-01", "to": "2026-01-01"}),
                ("ok", lead.token, {"from": "2026-03-01", "to": "2026-03-02"}),
                ("default", lead.token, {})):
            async with http.get(url, params=query,
                                headers={"Authorization": f"Bearer {token}"}) as answer:
                answers[name] = (answer.status, await answer.json())
    return answers


# desk.app keeps its config under a plain string key, which aiohttp warns about.
def test_the_api_answers_supervisors_the_report_and_refuses_the_rest(
        database: Database, run: Run[Any], clean_redis: Any) -> None:
    run(_seed(database))
    answers = run(_api(database))
    assert answers["agent"] == (403, {"error": "only supervisors and admins see the analytics"})
    for name, says in (("bad date", "from is a date as YYYY-MM-DD"),
                       ("week date", "from is a date as YYYY-MM-DD"),
                       ("bad tz", "unknown time zone 'Nowhere/City'"),
                       ("too long", "at most 366")):
        status, body = answers[name]
        assert status == 400 and says in body["error"], (name, body)
    expected = run(analytics(database, start=D1, end=D2, channel=None)).to_json()
    assert answers["ok"] == (200, expected)
    status, body = answers["default"]  # the last 7 days, today included
    today = datetime.now(UTC).date()
    assert status == 200 and (body["start"], body["end"], len(body["days"])) == (
        str(today - timedelta(days=6)), str(today), 7)


def test_the_command_prints_the_apis_json_and_a_table(
        database: Database, run: Run[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run(_seed(database))
    monkeypatch.setenv("PARLEY_DATABASE_URL", database.url)
    args = ["analytics", "--from", "2026-03-01", "--to", "2026-03-02", "--bot", str(tmp_path)]
    assert main([*args, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == run(analytics(database, start=D1, end=D2, channel=None)).to_json()
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "2026-03-01 – 2026-03-02" in table and "40.0 %" in table  # containment 2/5
    assert main([*args[:2], "2026-3-1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "parley: error: --from is a date as YYYY-MM-DD, not '2026-3-1'"


def test_a_turn_record_without_events_is_no_error(database: Database, run: Run[Any]) -> None:
    """The walk reads records as the worker wrote them; one it cannot read adds nothing."""
    archive = _Archive()
    archive.conversation("web:z:1", _at(D1, "08:00:00"), "resolved", users=1)
    archive.turn("web:z:1", 1, _at(D1, "08:00:00"), intent="book", confidence=0.5,
                 latency=5, events=_form_start("booking", "date"))
    archive.rows[-2].record = {"events": "form_start?", "state": None}

    async def seed() -> None:
        async with database.sessions.begin() as session:
            session.add_all(archive.rows[:1])
        async with database.sessions.begin() as session:
            session.add_all(archive.rows[1:])

    run(seed())
    assert run(analytics(database, start=D1, end=D1, channel="web")).total.forms == []


def test_the_form_walk_follows_each_form_to_its_end() -> None:
    """Another form's start and a restart end the open form where it was; a form started
    in the range is followed past its end; a start after the range is not counted."""
    from desk.analytics_forms import FormTally, FormWalk

    tallies: dict[str, FormTally] = {}
    end = _at(D2, "00:00:00")

    def tally_for(form: str, channel: str, at: datetime) -> FormTally | None:
        return tallies.setdefault(form, FormTally()) if at < end else None

    walk = FormWalk(tally_for)
    asking = {"requested_slot": "email"}
    walk.turn("a", "web", _at(D1, "09:00:00"), _form_start("signup", "name"), None)
    walk.turn("a", "web", _at(D1, "09:01:00"), [], asking)  # now asking for the email
    walk.turn("a", "web", _at(D1, "09:02:00"), _form_start("booking", "date"), None)
    walk.turn("a", "web", _at(D1, "09:03:00"), [{"type": "session_start"}], None)
    walk.turn("b", "web", _at(D1, "23:59:00"), [{"type": "form_start", "name": "signup"}],
              None)  # a new conversation: nothing asked yet
    walk.turn("b", "web", _at(D2, "08:00:00"),
              [{"type": "form_stop", "name": "signup", "completed": True}], None)
    walk.turn("c", "web", _at(D2, "09:00:00"), _form_start("booking", "date"), None)
    walk.turn("d", "web", _at(D1, "10:00:00"), [{"type": "form_start", "name": "signup"}],
              None)
    walk.finish()  # d's signup: still open, before its first question
    assert {name: (t.started, t.completed, dict(t.dropped)) for name, t in tallies.items()
            } == {"signup": (3, 1, {"email": 1, None: 1}), "booking": (1, 0, {"date": 1})}
