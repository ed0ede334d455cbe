"""Slack end to end: signed Events API and interactivity requests to the real gateway
process, the real celery worker and Redis, replies to the fake Slack Web API."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import requests

from channels.slack.adapter import sign
from tests.conftest import FIXTURES
from tests.fakes.slack_api import Call, FakeBot, FakeSlackApi
from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import INBOUND_QUEUE, dedupe_key

SECRET = "e2e-slack-signing-secret"
TEAM, TOKEN = "T0A1B2C3D", "xoxb-111-parley"
DM, LISTENED = "D0DM00001", "C0LISTEN1"


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi({TOKEN: FakeBot(TEAM)}) as server:
        yield server


@pytest.fixture
def gateway(slack_api: FakeSlackApi, clean_redis: redis.Redis,
            tmp_path: Path) -> Iterator[GatewayProcess]:
    env = {"PARLEY_SLACK_SIGNING_SECRET": SECRET, "PARLEY_SLACK_BOT_TOKENS": f"{TEAM}={TOKEN}",
           "PARLEY_SLACK_API_URL": slack_api.api_url,
           "PARLEY_SLACK_LISTEN_CHANNELS": LISTENED, "PARLEY_CALLBACK_ATTEMPTS": "4"}
    process = GatewayProcess(tmp_path / "gateway.log", env)
    yield process
    process.stop()


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "slack" / f"{name}.json").read_text())


def dm(event_id: str, text: str) -> dict[str, Any]:
    body = fixture("message_im")
    body["event_id"] = event_id
    body["event"].update(text=text, ts=f"{time.time():.6f}")
    return body


def post(gateway: GatewayProcess, body: dict[str, Any] | str, *,
         path: str = "/channels/slack/events", secret: str = SECRET,
         timestamp: int | None = None, headers: dict[str, str] | None = None
         ) -> requests.Response:
    raw = body if isinstance(body, str) else json.dumps(body)
    form = raw.startswith("payload=")
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    sent = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(secret, stamp, raw), **(headers or {})}
    return requests.post(gateway.url + path, data=raw.encode(), headers=sent, timeout=10)


def click(posted: Call, title: str) -> str:
    """The interactivity payload Slack sends when a person presses ``title`` on ``posted``."""
    body = fixture("block_actions")
    buttons = [e for b in posted.body["blocks"] if b["type"] == "actions"
               for e in b["elements"]]
    button = next(b for b in buttons if b["text"]["text"] == title)
    body["container"].update(channel_id=posted.body["channel"], message_ts="1718100001.000100")
    body["message"]["blocks"] = posted.body["blocks"]
    body["actions"] = [{**button, "block_id": "r2E", "action_ts": f"{time.time():.6f}"}]
    return "payload=" + quote(json.dumps(body))


def texts(calls: list[Call]) -> list[str]:
    return [c.body["text"] for c in calls]


def test_a_booking_in_a_direct_message_with_a_button_click(
        gateway: GatewayProcess, worker: WorkerProcess, slack_api: FakeSlackApi) -> None:
    turns = ["hello", "i need a table", '/inform{"guests": 2}', '/inform{"name": "Ada"}']
    for number, text in enumerate(turns, start=1):
        response = post(gateway, dm(f"Ev0BOOK{number:04d}", text))
        assert response.status_code == 200, response.text
        slack_api.wait_for_posts(number, timeout=30)
    posts = slack_api.posts()
    assert texts(posts) == ["Hey from Slack", "For how many people?", "Under which name?",
                            "A table for 2.0 under Ada. Shall I book it?"]
    assert {(p.token, p.body["channel"]) for p in posts} == {(TOKEN, DM)}
    question = posts[-1]
    assert [e["value"] for e in question.body["blocks"][-1]["elements"]] == ["/affirm", "/deny"]

    response = post(gateway, click(question, "Yes"), path="/channels/slack/interactions")
    assert (response.status_code, response.text) == (200, "")
    booked = slack_api.wait_for_posts(5, timeout=30)[-1]
    assert booked.body["text"].startswith("Booked: BK-") and booked.body["channel"] == DM
    assert len(slack_api.posts()) == 5
    assert slack_api.count("auth.test") == 1


def test_a_mention_in_a_thread_is_acked_at_once_and_answered_in_the_thread(
        gateway: GatewayProcess, worker: WorkerProcess, slack_api: FakeSlackApi,
        clean_redis: redis.Redis) -> None:
    body = fixture("app_mention_thread")
    body["event"]["text"] = "<@U0BOT0001> take your time"  # a turn of 3 s or more
    started = time.monotonic()
    response = post(gateway, body)
    acked = time.monotonic() - started
    # Answered once the message is in Redis, long before the turn (≥ 3 s) is over; the
    # bound leaves a loaded machine a second more than that would need.
    assert response.status_code == 200 and acked < 2.0, acked
    assert clean_redis.exists(dedupe_key("slack", "Ev0THREAD01"))
    assert slack_api.posts() == []
    [reply] = slack_api.wait_for_posts(1, timeout=30)
    assert reply.body["text"] == "done slowly"
    assert (reply.body["channel"], reply.body["thread_ts"]) == ("C0GENERAL",
                                                                "1718000150.000300")
    assert reply.arrival - started > 2.5


def test_a_redelivered_event_is_answered_once(
        gateway: GatewayProcess, worker: WorkerProcess, slack_api: FakeSlackApi) -> None:
    body = dm("Ev0REDELIV1", "when do you open")
    first = post(gateway, body)
    retries = [{"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"}
               for n in (1, 2, 3)]
    with ThreadPoolExecutor(3) as pool:
        again = list(pool.map(lambda h: post(gateway, body, headers=h), retries))
    assert [r.status_code for r in [first, *again]] == [200] * 4
    posts = slack_api.wait_for_posts(1, timeout=30)
    time.sleep(1)
    assert texts(slack_api.posts()) == ["We open at 18:00."] and len(posts) == 1
    metrics = requests.get(gateway.url + "/metrics", timeout=5).text
    assert 'parley_slack_redeliveries_total{reason="http_timeout"} 3.0' in metrics
    assert 'parley_inbound_messages_total{channel="slack",outcome="duplicate"} 3.0' in metrics


def test_slack_down_for_the_bot_lookup_gets_503_and_the_redelivery_is_answered(
        gateway: GatewayProcess, worker: WorkerProcess, slack_api: FakeSlackApi,
        clean_redis: redis.Redis) -> None:
    slack_api.fail_next(503, method="auth.test")
    body = dm("Ev0AUTHDOWN1", "when do you open")
    refused = post(gateway, body)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert clean_redis.llen(INBOUND_QUEUE) == 0 and not clean_redis.keys("parley:dedupe:*")
    again = post(gateway, body, headers={"X-Slack-Retry-Num": "1",
                                         "X-Slack-Retry-Reason": "http_error"})
    assert again.status_code == 200
    assert texts(slack_api.wait_for_posts(1, timeout=30)) == ["We open at 18:00."]


@pytest.mark.parametrize("kind", ["forged", "stale", "unsigned", "wrong secret"])
def test_forged_or_stale_requests_are_refused_and_nothing_is_enqueued(
        gateway: GatewayProcess, clean_redis: redis.Redis, kind: str) -> None:
    body = dm("Ev0FORGED01", "hello")
    if kind == "forged":
        raw = json.dumps(body)
        stamp = str(int(time.time()))
        forged = json.dumps({**body, "event_id": "Ev0FORGED02"})
        response = requests.post(gateway.url + "/channels/slack/events", data=forged, headers={
            "Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(SECRET, stamp, raw)}, timeout=10)
    elif kind == "stale":
        response = post(gateway, body, timestamp=int(time.time()) - 6 * 60)
    elif kind == "unsigned":
        response = requests.post(gateway.url + "/channels/slack/events", json=body, timeout=10)
    else:
        response = post(gateway, body, secret="not-the-signing-secret")
    assert response.status_code == 401 and "error" in response.json()
    assert clean_redis.llen(INBOUND_QUEUE) == 0
    assert not clean_redis.keys("parley:dedupe:*") and not clean_redis.keys("parley:conv:*")


def test_url_verification_unknown_and_ignored_events_are_answered_and_skipped(
        gateway: GatewayProcess, clean_redis: redis.Redis, slack_api: FakeSlackApi) -> None:
    challenge = post(gateway, fixture("url_verification"))
    assert challenge.status_code == 200
    assert challenge.json() == {"challenge": fixture("url_verification")["challenge"]}
    for name in ("reaction_added", "message_changed", "channel_join", "message_own_bot"):
        response = post(gateway, fixture(name))
        assert response.status_code == 200, (name, response.text)
    menu = fixture("block_actions")
    menu["actions"][0] = {"type": "static_select", "action_id": "m", "block_id": "b",
                          "action_ts": "1718000999.000001", "selected_option": {"value": "x"}}
    response = post(gateway, "payload=" + quote(json.dumps(menu)),
                    path="/channels/slack/interactions")
    assert response.status_code == 200
    malformed = post(gateway, "{not json")
    assert malformed.status_code == 400 and "error" in malformed.json()
    assert clean_redis.llen(INBOUND_QUEUE) == 0 and not clean_redis.keys("parley:dedupe:*")
    assert slack_api.posts() == []


def test_a_429_is_retried_no_earlier_than_slacks_retry_after(
        gateway: GatewayProcess, worker: WorkerProcess, slack_api: FakeSlackApi) -> None:
    slack_api.fail_next(503)
    slack_api.fail_next(429, retry_after=6)  # longer than the dispatcher's own backoff cap
    assert post(gateway, dm("Ev0LIMITED1", "when do you open")).status_code == 200
    [reply] = slack_api.wait_for_posts(1, timeout=40)
    attempts = slack_api.attempts()
    assert [a.status for a in attempts] == [503, 429, 200]
    assert attempts[2].arrival - attempts[1].arrival >= 6.0
    assert reply.body["text"] == "We open at 18:00."
    metrics = requests.get(gateway.url + "/metrics", timeout=5).text
    assert 'parley_reply_send_retries_total{channel="slack"} 2.0' in metrics


def test_replies_to_one_channel_are_paced_to_one_a_second(
        gateway: GatewayProcess, worker: WorkerProcess, slack_api: FakeSlackApi) -> None:
    # Three people in the listened channel, one of them in a thread: one channel for Slack.
    bodies = []
    for number, thread in enumerate([None, None, "1718000150.000300"], start=1):
        body = fixture("message_channel")
        body["event_id"] = f"Ev0PACED{number:03d}"
        body["event"]["user"] = f"U0PERSON{number}"
        if thread:
            body["event"]["thread_ts"] = thread
        bodies.append(body)
    with ThreadPoolExecutor(3) as pool:
        assert [r.status_code for r in pool.map(lambda b: post(gateway, b), bodies)] == [200] * 3
    posts = slack_api.wait_for_posts(3, timeout=30)
    assert texts(posts) == ["We open at 18:00."] * 3
    gaps = [b.arrival - a.arrival for a, b in itertools.pairwise(posts)]
    assert all(gap >= 0.9 for gap in gaps), gaps
