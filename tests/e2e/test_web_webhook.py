"""The website webhook end to end: signed requests in, signed callbacks out, exactly once."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from channels.web.adapter import sign
from tests.fakes.callback_sink import CallbackSink
from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import INBOUND_QUEUE

from .conftest import SECRET


def _post(gateway: GatewayProcess, body: dict | bytes, *, secret: str = SECRET,
          timestamp: int | None = None, path: str = "/channels/web/messages"
          ) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    headers = {"Content-Type": "application/json", "X-Parley-Timestamp": stamp,
               "X-Parley-Signature": sign(secret, stamp, raw)}
    return requests.post(gateway.url + path, data=raw, headers=headers, timeout=10)


def _message(chat: str, number: int, payload: str) -> dict:
    return {"conversation_id": chat, "user_id": f"user-{chat}", "message_id": f"{chat}-{number}",
            "payload": payload}


SIX_TURNS = ["/greet", "/book_table", '/inform{"guests": 2}', '/inform{"name": "Ada"}',
             "/affirm", "/opening_hours"]


def test_six_turn_conversation_with_signed_callbacks_in_order(
        gateway: GatewayProcess, worker: WorkerProcess, sink: CallbackSink) -> None:
    for number, payload in enumerate(SIX_TURNS, start=1):
        response = _post(gateway, _message("six", number, payload))
        assert response.status_code == 202, response.text
        assert response.json() == {"message_id": f"six-{number}", "status": "accepted",
                                   "sequence": number}
    replies = sink.wait_for(6, timeout=60)
    assert [r["sequence"] for r in replies] == [1, 2, 3, 4, 5, 6]
    assert replies[1]["text"] == "For how many people?"
    assert replies[3]["text"] == "A table for 2.0 under Ada. Shall I book it?"
    assert [b["payload"] for b in replies[3]["buttons"]] == ["/affirm", "/deny"]
    assert replies[4]["text"].startswith("Booked: BK-")
    assert replies[5]["text"] == "We open at 18:00."
    assert sink.rejected_signatures == 0


def test_duplicated_delivery_is_answered_once(
        gateway: GatewayProcess, worker: WorkerProcess, sink: CallbackSink) -> None:
    body = _message("dup", 1, "/opening_hours")
    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(lambda _: _post(gateway, body), range(5)))
    statuses = sorted(r.json()["status"] for r in responses)
    assert [r.status_code for r in responses] == [202] * 5
    assert statuses == ["accepted"] + ["duplicate"] * 4
    replies = sink.wait_for(1, timeout=30)
    time.sleep(1)
    assert [r["text"] for r in sink.replies] == ["We open at 18:00."]
    assert len(replies) == 1 and sink.repeats == 0


@pytest.mark.parametrize(("kind", "status"), [
    ("bad signature", 401), ("stale timestamp", 401), ("no signature", 401),
    ("malformed json", 400), ("schema", 400), ("oversized", 413), ("unknown route", 404),
    ("control character in the conversation id", 400)])
def test_bad_requests_get_json_4xx_and_enqueue_nothing(
        gateway: GatewayProcess, clean_redis: redis.Redis, kind: str, status: int) -> None:
    good = _message("bad", 1, "/greet")
    if kind == "bad signature":
        response = _post(gateway, good, secret="wrong")
    elif kind == "stale timestamp":
        response = _post(gateway, good, timestamp=int(time.time()) - 3600)
    elif kind == "no signature":
        response = requests.post(gateway.url + "/channels/web/messages", json=good, timeout=10)
    elif kind == "malformed json":
        response = _post(gateway, b'{"conversation_id": ')
    elif kind == "schema":
        response = _post(gateway, {**good, "unexpected": 1})
    elif kind == "control character in the conversation id":
        # schemathesis's poison message: accepted, it killed every dispatcher that read it
        response = _post(gateway, {**good, "conversation_id": "i\u00d0\u000e"})
    elif kind == "oversized":
        response = _post(gateway, {**good, "payload": "x" * 10_000})
    else:
        response = _post(gateway, good, path="/channels/nope")
    assert response.status_code == status
    assert "error" in response.json()
    assert clean_redis.llen(INBOUND_QUEUE) == 0
    assert not clean_redis.keys("parley:conv:*")


def test_failing_callback_is_retried_then_delivered_once(
        gateway: GatewayProcess, worker: WorkerProcess, sink: CallbackSink) -> None:
    sink.failures.extend([(500, 0.0), (503, 0.0), (200, 12.0)])  # errors, then a timeout
    assert _post(gateway, _message("flaky", 1, "/opening_hours")).status_code == 202
    sink.wait_for(1, timeout=60)
    time.sleep(3)
    assert [r["text"] for r in sink.replies] == ["We open at 18:00."]
    assert sink.attempts >= 4              # 500, 503, the timed-out one, and a retry
    metrics = requests.get(gateway.url + "/metrics", timeout=5).text
    assert 'parley_replies_delivered_total{channel="web"} 1.0' in metrics
    assert 'parley_reply_send_retries_total{channel="web"} 3.0' in metrics


def test_replies_pending_while_the_gateway_is_down_are_delivered_after_restart(
        gateway_env: dict[str, str], worker: WorkerProcess, sink: CallbackSink,
        tmp_path: Path) -> None:
    first = GatewayProcess(tmp_path / "gw1.log", gateway_env)
    for number in range(1, 4):
        assert _post(first, _message("restart", number, "/greet")).status_code == 202
    first.stop()                          # replies are produced while no gateway runs
    time.sleep(3)
    second = GatewayProcess(tmp_path / "gw2.log", gateway_env, port=first.port)
    try:
        replies = sink.wait_for(3, timeout=60)
    finally:
        second.stop()
    assert sorted(r["sequence"] for r in replies) == [1, 2, 3]
    assert len(replies) == 3


def test_fifty_conversations_of_ten_messages_with_two_workers(
        gateway: GatewayProcess, worker: WorkerProcess, sink: CallbackSink) -> None:
    conversations, turns = 50, 10

    def converse(chat: int) -> list[int]:
        return [_post(gateway, _message(f"load{chat}", n, "/greet" if n % 2 else
                                        "/opening_hours")).status_code
                for n in range(1, turns + 1)]

    with ThreadPoolExecutor(25) as pool:
        statuses = [s for result in pool.map(converse, range(conversations)) for s in result]
    assert statuses == [202] * conversations * turns
    replies = sink.wait_for(conversations * turns, timeout=120)
    assert len(replies) == conversations * turns and sink.repeats == 0
    for chat in range(conversations):
        mine = [r["sequence"] for r in replies if r["conversation_id"] == f"load{chat}"]
        assert mine == list(range(1, turns + 1)), (chat, mine)


def test_a_reply_the_site_refuses_goes_to_the_dead_letter_stream(
        gateway: GatewayProcess, worker: WorkerProcess, sink: CallbackSink,
        clean_redis: redis.Redis) -> None:
    sink.failures.extend([(400, 0.0)] * 3)          # a 4xx is not worth retrying
    assert _post(gateway, _message("refused", 1, "/opening_hours")).status_code == 202
    deadline = time.monotonic() + 30
    while not clean_redis.xlen("parley:outbound:dead") and time.monotonic() < deadline:
        time.sleep(0.1)
    dead = clean_redis.xrange("parley:outbound:dead")
    assert len(dead) == 1 and dead[0][1][b"reason"] == b"callback answered 400"
    assert sink.attempts == 1 and sink.replies == []
    metrics = requests.get(gateway.url + "/metrics", timeout=5).text
    assert 'parley_replies_dead_lettered_total{channel="web"} 1.0' in metrics
    assert 'parley_inbound_messages_total{channel="web",outcome="accepted"} 1.0' in metrics
    assert "dead-lettered: callback answered 400" in gateway.log.read_text()


def test_a_dead_gateways_pending_replies_are_claimed_by_another(
        gateway_env: dict[str, str], worker: WorkerProcess, sink: CallbackSink,
        tmp_path: Path) -> None:
    # The site hangs on the first three deliveries (then answers 500): the first gateway is
    # in the middle of delivering them, unacknowledged, when it is killed outright.
    sink.failures.extend([(500, 8.0)] * 3)
    env = dict(gateway_env, PARLEY_CLAIM_IDLE_SECONDS="2")
    first = GatewayProcess(tmp_path / "gw1.log", env)
    try:
        for number in range(1, 4):
            assert _post(first, _message(f"claimed{number}", 1, "/greet")).status_code == 202
        deadline = time.monotonic() + 30
        while sink.attempts < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.attempts == 3
    finally:
        first.kill()
    second = GatewayProcess(tmp_path / "gw2.log", env)
    try:
        replies = sink.wait_for(3, timeout=30)
        time.sleep(3)
    finally:
        second.stop()
    assert sorted(r["conversation_id"] for r in replies) == [
        "claimed1", "claimed2", "claimed3"]
    assert sink.repeats == 0 and len(sink.replies) == 3


def test_a_429_is_retried_after_the_advertised_delay(
        gateway: GatewayProcess, worker: WorkerProcess, sink: CallbackSink) -> None:
    sink.failures.append((429, 0.0))
    sink.retry_after = "7"  # longer than the dispatcher's own backoff cap (5 s)
    assert _post(gateway, _message("busy", 1, "/opening_hours")).status_code == 202
    sink.wait_for(1, timeout=60)
    assert sink.attempts == 2
    assert sink.arrivals[1] - sink.arrivals[0] >= 7.0


def test_a_conversation_with_too_many_unanswered_messages_is_told_to_wait(
        gateway_env: dict[str, str], clean_redis: redis.Redis, tmp_path: Path,
        bot_model: Path, sink: CallbackSink) -> None:
    """With no worker yet, three messages wait; the fourth gets 429 with Retry-After and
    is not taken (so the site may send it again); another conversation is not held back;
    once the worker has answered, the same fourth message is accepted."""
    gateway = GatewayProcess(tmp_path / "gateway.log", dict(gateway_env, PARLEY_MAX_UNSERVED="3"))
    worker = None
    try:
        statuses = [_post(gateway, _message("flood", n, "/opening_hours")).status_code
                    for n in range(1, 5)]
        assert statuses == [202, 202, 202, 429]
        refused = _post(gateway, _message("flood", 4, "/opening_hours"))
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
        assert "PARLEY_MAX_UNSERVED" in refused.json()["error"]
        assert _post(gateway, _message("flood", 1, "/opening_hours")).json()["status"] == \
            "duplicate"
        assert _post(gateway, _message("calm", 1, "/opening_hours")).status_code == 202
        worker = WorkerProcess(bot_model, tmp_path / "worker.log")
        sink.wait_for(4, timeout=60)
        again = _post(gateway, _message("flood", 4, "/opening_hours"))
        assert again.status_code == 202 and again.json()["sequence"] == 4
        assert len(sink.wait_for(5, timeout=60)) == 5
    finally:
        if worker is not None:
            worker.stop()
        gateway.stop()
