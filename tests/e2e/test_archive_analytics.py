"""Scripted conversations through the website webhook, archived and counted: a real gateway
(with its archiver) on PostgreSQL and on SQLite, a real worker, real Redis. Every analytics
figure is checked against the value worked out by hand from the script below."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from brain.nlu import load_model
from channels.web.adapter import sign
from desk.database import database_url, upgrade
from tests.conftest import REPO
from tests.desk.conftest import postgres_url  # noqa: F401  (a fixture)
from tests.fakes.callback_sink import CallbackSink
from tests.processes import GatewayProcess, WorkerProcess

from .conftest import SECRET
from .desk_support import add_agent

GIBBERISH = ("qwxz vbnm plkj", "blorp flimflam wibble")  # the NLU falls back on both
# (conversation, [payload or text, ...]) in the order they are sent.
SCRIPT: list[tuple[str, list[str]]] = [
    ("resolved-1", ["/greet", "/opening_hours"]),
    ("resolved-2", ["/greet"]),
    ("recovered", [GIBBERISH[1], "/opening_hours"]),    # a fallback, then understood
    ("handed-off", ["/talk_to_human"]),
    ("form-left", ["/book_table"]),                      # asked for guests, never answered
    ("fallback-left", ["/greet", GIBBERISH[0]]),          # left at the fallback
]


@pytest.fixture(params=["postgresql", "sqlite"])
def archive_gateway(request: pytest.FixtureRequest, sink: CallbackSink,
                    clean_redis: redis.Redis, tmp_path: Path
                    ) -> Iterator[tuple[GatewayProcess, str]]:
    url = (request.getfixturevalue("postgres_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'archive.db'}")
    asyncio.run(upgrade(database_url(url, tmp_path)))
    process = GatewayProcess(tmp_path / "gateway.log", {
        "PARLEY_WEB_SECRET": SECRET, "PARLEY_WEB_CALLBACK_URL": sink.url,
        "PARLEY_DATABASE_URL": url, "PARLEY_SESSION_SECRET": "archive-test-session-secret-01"})
    yield process, url
    process.stop()


def _post(gateway: GatewayProcess, body: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    response = requests.post(f"{gateway.url}/channels/web/messages", data=raw, timeout=10,
                             headers={"Content-Type": "application/json",
                                      "X-Parley-Timestamp": stamp,
                                      "X-Parley-Signature": sign(SECRET, stamp, raw)})
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _say(gateway: GatewayProcess, chat: str, number: int, said: str) -> int:
    body = {"conversation_id": chat, "user_id": f"u-{chat}", "message_id": f"{chat}-{number}",
            **({"payload": said} if said.startswith("/") else {"text": said})}
    return int(_post(gateway, body)["sequence"])


def _rate(gateway: GatewayProcess, chat: str, number: int, rating: dict[str, Any]) -> None:
    _post(gateway, {"conversation_id": chat, "user_id": f"u-{chat}",
                    "message_id": f"{chat}-rating-{number}", "feedback": rating})


def test_scripted_conversations_give_the_figures_worked_out_by_hand(
        archive_gateway: tuple[GatewayProcess, str], worker: WorkerProcess,
        sink: CallbackSink, bot_model: Path) -> None:
    gateway, url = archive_gateway
    sequences: dict[str, list[int]] = {}
    for chat, lines in SCRIPT:
        sequences[chat] = [_say(gateway, chat, n, said) for n, said in enumerate(lines, 1)]
    user_messages = sum(len(lines) for _, lines in SCRIPT)  # 9
    sink.wait_for(user_messages, timeout=60)  # at least one reply per message
    # Ratings: thumbs up on resolved-1's first reply, down on fallback-left's last one,
    # a CSAT of 5 and of 3.
    _rate(gateway, "resolved-1", 1, {"kind": "thumbs", "value": 1,
                                     "about_sequence": sequences["resolved-1"][0],
                                     "about_position": 0})
    _rate(gateway, "fallback-left", 1, {"kind": "thumbs", "value": 0, "comment": "useless",
                                        "about_sequence": sequences["fallback-left"][-1],
                                        "about_position": 0})
    _rate(gateway, "resolved-2", 1, {"kind": "csat", "value": 5})
    _rate(gateway, "handed-off", 1, {"kind": "csat", "value": 3})

    _, token = add_agent(url, "sam@example.com", role="supervisor")
    headers = {"Authorization": f"Bearer {token}"}
    today = datetime.now(UTC).date().isoformat()
    query = {"from": today, "to": today}

    def report() -> dict[str, Any]:
        answer = requests.get(f"{gateway.url}/desk/api/analytics", params=query,
                              headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def settled(figures: dict[str, Any]) -> bool:
        """Every turn archived, every reply delivered to the site."""
        return (figures["conversations"], figures["user_messages"],
                figures["thumbs_up"] + figures["thumbs_down"], figures["csat_answers"],
                figures["bot_messages"]) == (6, user_messages, 2, 2, len(sink.replies))

    deadline = time.monotonic() + 60
    figures = report()["total"]
    while not settled(figures) and time.monotonic() < deadline:
        time.sleep(0.5)
        figures = report()["total"]
    replies = sink.wait_for(len(sink.replies), timeout=5)

    # By hand: 6 conversations, each with a user message. Handed off: handed-off. Abandoned:
    # form-left (a form still asking) and fallback-left (its last message fell back; the
    # thumbs down after it is no message of the person's). Resolved: the other 3.
    assert (figures["conversations"], figures["resolved"], figures["handed_off"],
            figures["abandoned"]) == (6, 3, 1, 2)
    assert figures["containment_rate"] == pytest.approx(3 / 6)
    assert figures["handoff_rate"] == pytest.approx(1 / 6)
    assert figures["abandonment_rate"] == pytest.approx(2 / 6)
    # 9 user messages (the ratings are not), 2 of them fell back, none out of scope.
    assert figures["user_messages"] == user_messages == 9
    assert (figures["fallbacks"], figures["fallback_rate"]) == (2, pytest.approx(2 / 9))
    assert (figures["out_of_scope"], figures["out_of_scope_rate"]) == (0, 0.0)
    # Every reply the site received is a bot message (no agent was online to answer).
    assert (figures["bot_messages"], figures["agent_messages"]) == (len(replies), 0)
    # Ratings: 1 up, 1 down → 1/2; CSAT 5 and 3 → one of two satisfied, mean 4.
    assert (figures["thumbs_up"], figures["thumbs_down"]) == (1, 1)
    assert figures["thumbs_up_share"] == pytest.approx(0.5)
    assert (figures["csat_answers"], figures["csat_counts"]) == (2, [0, 0, 1, 0, 1])
    assert figures["csat_satisfied_share"] == pytest.approx(0.5)
    assert figures["csat_mean"] == pytest.approx(4.0)
    # Intents: the payloads' own (confidence 1), the gibberish's top guess from the model.
    model = load_model(bot_model)
    guesses = [model.parse(text) for text in GIBBERISH]
    expected: dict[str, int] = {"greet": 3, "opening_hours": 2, "talk_to_human": 1,
                                "book_table": 1}
    for guess in guesses:
        expected[guess["intent"]["name"]] = expected.get(guess["intent"]["name"], 0) + 1
    assert {i["intent"]: i["count"] for i in figures["intents"]} == expected
    assert figures["intents_other"] == 0
    histogram = [0] * 10
    histogram[9] = 7  # the 7 payloads
    for guess in guesses:
        histogram[min(9, int(guess["intent"]["confidence"] * 10))] += 1
    assert figures["confidence_histogram"] == histogram
    # Latency: one per user message, p50 ≤ p95, both plausible for a turn on this machine.
    assert figures["latency_count"] == 9
    assert 0 < figures["latency_p50_ms"] <= figures["latency_p95_ms"] < 30_000
    # The booking form: started once, never completed, dropped while asking for guests.
    [form] = figures["forms"]
    assert (form["form"], form["started"], form["completed"], form["completion_rate"]) == (
        "booking_form", 1, 0, 0.0)
    assert form["dropped"] == [{"slot": "guests", "count": 1}]

    answer = report()
    assert set(answer["channels"]) == {"web"}
    assert answer["channels"]["web"] == figures
    [day] = answer["days"]
    assert day["day"] == today and day["figures"] == figures

    # The terminal says the same as the API.
    printed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "analytics", "--from", today, "--to", today,
         "--json"], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PARLEY_DATABASE_URL": url, "HOME": str(REPO)})
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["total"] == figures
