"""WhatsApp through Twilio end to end: the real gateway process behind a "proxy" (Twilio
signs over the public URL, the gateway listens elsewhere), a real celery worker, real
Redis, and the fake Twilio Messages API, which also POSTs signed status callbacks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from channels.models import Attachment, decode_inbound
from channels.whatsapp.adapter import sign
from gateway.dispatcher import DEAD_LETTER_STREAM
from gateway.whatsapp.state import choices_key, sent_key
from tests.fakes.twilio_api import ACCOUNT_SID, BUSINESS, PERSON, TwilioApiFake, recorded
from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import INBOUND_QUEUE, conversation_key

TOKEN = "e2e-twilio-auth-token"
PUBLIC = "https://bot.example.test"  # what Twilio calls; the gateway listens elsewhere
TEMPLATE = "HX" + "c" * 32
HINT = "_Reply with the number or the name of your choice._"
StartGateway = Callable[..., GatewayProcess]


@pytest.fixture
def twilio() -> Iterator[TwilioApiFake]:
    with TwilioApiFake(ACCOUNT_SID, TOKEN, BUSINESS) as fake:
        yield fake


@pytest.fixture
def start_gateway(twilio: TwilioApiFake, clean_redis: redis.Redis,
                  tmp_path: Path) -> Iterator[StartGateway]:
    started: list[GatewayProcess] = []

    def start(**extra: str) -> GatewayProcess:
        env = {"PARLEY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "PARLEY_TWILIO_AUTH_TOKEN": TOKEN,
               "PARLEY_WHATSAPP_FROM": f"whatsapp:{BUSINESS}",
               "PARLEY_WHATSAPP_PUBLIC_URL": PUBLIC, "PARLEY_TWILIO_API_URL": twilio.url,
               **extra}
        process = GatewayProcess(tmp_path / f"gateway{len(started)}.log", env)
        started.append(process)
        twilio.callback_target = process.url  # the proxy: public URL → this process
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def gateway(start_gateway: StartGateway) -> GatewayProcess:
    return start_gateway()


def _post(gateway: GatewayProcess, body: bytes, *, path: str = "/channels/whatsapp",
          token: str = TOKEN, signed_url: str | None = None) -> requests.Response:
    signature = sign(token, signed_url or PUBLIC + path, body)
    return requests.post(gateway.url + path, data=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})


def _said(number: int, text: str, person: str = PERSON) -> bytes:
    return recorded("text_message", MessageSid=f"SM{number:032x}", Body=text,
                    From=f"whatsapp:{person}", WaId=person.lstrip("+"))


def _to(twilio: TwilioApiFake, person: str) -> list[dict[str, object]]:
    return [m for m in twilio.messages if m["To"] == f"whatsapp:{person}"]


def _metrics(gateway: GatewayProcess) -> str:
    return requests.get(gateway.url + "/metrics", timeout=5).text


def _eventually(check: Callable[[], object], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _nothing_enqueued(client: redis.Redis) -> bool:
    return (client.llen(INBOUND_QUEUE) == 0 and not client.keys("parley:dedupe:*")
            and not client.keys("parley:conv:*"))


def test_a_signed_message_is_answered_through_the_messages_api_and_statuses_recorded(
        gateway: GatewayProcess, worker: WorkerProcess, twilio: TwilioApiFake,
        clean_redis: redis.Redis) -> None:
    twilio.statuses = ("sent", "delivered", "read")
    response = _post(gateway, _said(1, "/opening_hours"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.text.endswith("<Response />")
    [reply] = twilio.wait_for(1, timeout=30)
    assert reply["Body"] == "We open at 18:00."
    assert (reply["To"], reply["From"]) == (f"whatsapp:{PERSON}", f"whatsapp:{BUSINESS}")
    assert reply["StatusCallback"] == f"{PUBLIC}/channels/whatsapp/status"
    key = sent_key(str(reply["Sid"]))
    _eventually(lambda: clean_redis.hget(key, "status") == b"read")
    assert clean_redis.hget(key, "conversation_id") == f"whatsapp:{BUSINESS}:{PERSON}".encode()
    assert [answer for _, _, answer in twilio.callbacks] == [200, 200, 200]
    metrics = _metrics(gateway)
    for status in ("sent", "delivered", "read"):
        assert f'parley_whatsapp_statuses_total{{status="{status}"}} 1.0' in metrics
    assert 'parley_replies_delivered_total{channel="whatsapp"} 1.0' in metrics


def test_booking_by_answering_the_numbered_list_by_number_or_title(
        gateway: GatewayProcess, worker: WorkerProcess, twilio: TwilioApiFake,
        clean_redis: redis.Redis) -> None:
    ada, bob = PERSON, "+15005550007"
    turns = ["/book_table", '/inform{"guests": 2}', '/inform{"name": "Ada"}']
    for person, first in ((ada, 10), (bob, 20)):
        for number, text in enumerate(turns, start=first):
            assert _post(gateway, _said(number, text, person)).status_code == 200
    _eventually(lambda: len(_to(twilio, ada)) == 3 and len(_to(twilio, bob)) == 3, 40)
    question = "A table for 2.0 under Ada. Shall I book it?"
    for person in (ada, bob):
        bodies = [m["Body"] for m in _to(twilio, person)]
        assert bodies == ["For how many people?", "Under which name?",
                          f"{question}\n\n1. Yes\n2. No\n\n{HINT}"]
    assert _post(gateway, _said(13, "1", ada)).status_code == 200   # by number
    assert _post(gateway, _said(23, "No", bob)).status_code == 200  # by title
    _eventually(lambda: len(_to(twilio, ada)) == 4 and len(_to(twilio, bob)) == 4, 30)
    assert str(_to(twilio, ada)[3]["Body"]).startswith("Booked: BK-")
    assert _to(twilio, bob)[3]["Body"] == "Okay, cancelled."
    # The replies without buttons withdrew the list: a later "1" is just text.
    assert not clean_redis.exists(choices_key(f"whatsapp:{BUSINESS}:{ada}"))


def test_a_redelivered_webhook_is_answered_once(
        gateway: GatewayProcess, worker: WorkerProcess, twilio: TwilioApiFake) -> None:
    body = _said(30, "/opening_hours")
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: _post(gateway, body), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    time.sleep(1.5)  # let a doubled reply arrive, if any
    assert [m["Body"] for m in twilio.wait_for(1, timeout=30)] == ["We open at 18:00."]
    metrics = _metrics(gateway)
    assert 'parley_inbound_messages_total{channel="whatsapp",outcome="accepted"} 1.0' in metrics
    assert 'parley_inbound_messages_total{channel="whatsapp",outcome="duplicate"} 3.0' in metrics


@pytest.mark.parametrize("case", ["wrong token", "signed for the internal url", "tampered",
                                  "unsigned", "forged status"])
def test_forged_or_misdirected_signatures_are_refused_and_nothing_enqueued(
        gateway: GatewayProcess, twilio: TwilioApiFake, clean_redis: redis.Redis,
        case: str) -> None:
    body = _said(40, "/opening_hours")
    if case == "wrong token":  # e.g. signed with a rotated-out token
        response = _post(gateway, body, token="the-previous-token")
    elif case == "signed for the internal url":
        response = _post(gateway, body, signed_url=gateway.url + "/channels/whatsapp")
    elif case == "tampered":
        signature = sign(TOKEN, PUBLIC + "/channels/whatsapp", body)
        response = requests.post(gateway.url + "/channels/whatsapp", timeout=10,
                                 data=_said(40, "/affirm"),
                                 headers={"X-Twilio-Signature": signature})
    elif case == "unsigned":
        response = requests.post(gateway.url + "/channels/whatsapp", data=body, timeout=10)
    else:
        response = _post(gateway, recorded("status_failed_63016"),
                         path="/channels/whatsapp/status", token="forged")
    assert response.status_code == 401
    assert "X-Twilio-Signature" in response.json()["error"]
    assert _nothing_enqueued(clean_redis)
    assert not clean_redis.keys("parley:whatsapp:*")
    assert "refused a request" in gateway.log.read_text()


def test_a_429_is_retried_no_earlier_than_the_advertised_delay(
        gateway: GatewayProcess, worker: WorkerProcess, twilio: TwilioApiFake) -> None:
    twilio.fail_next(429, 20429, retry_after="4")
    assert _post(gateway, _said(50, "/opening_hours")).status_code == 200
    [reply] = twilio.wait_for(1, timeout=40)
    assert reply["Body"] == "We open at 18:00."
    assert twilio.answers == [429, 201]
    assert twilio.arrivals[1] - twilio.arrivals[0] >= 4.0
    assert 'parley_reply_send_retries_total{channel="whatsapp"} 1.0' in _metrics(gateway)


def test_unknown_events_are_answered_200_and_skipped(
        gateway: GatewayProcess, clean_redis: redis.Redis) -> None:
    ignored = [("/channels/whatsapp", recorded("location_message")),
               ("/channels/whatsapp", recorded("sms_message")),
               ("/channels/whatsapp", recorded("status_sent")),  # a status at the wrong URL
               ("/channels/whatsapp/status", recorded("status_sent", MessageStatus="receiving"))]
    for path, body in ignored:
        response = _post(gateway, body, path=path)
        assert response.status_code == 200, (path, response.text)
        assert response.text.endswith("<Response />")
    assert _nothing_enqueued(clean_redis)


def test_media_are_normalised_to_attachments(
        gateway: GatewayProcess, clean_redis: redis.Redis) -> None:
    assert _post(gateway, recorded("media_message")).status_code == 200
    [queued] = clean_redis.lrange(INBOUND_QUEUE, 0, -1)  # "serve this conversation"
    [conversation] = json.loads(json.loads(queued)["body"])[0]
    inbox = clean_redis.hgetall(conversation_key(conversation, "inbox"))
    assert list(inbox) == [b"1"]
    message = decode_inbound(inbox[b"1"])
    assert message.message_id == "MM2a1b3c4d5e6f708192a3b4c5d6e7f809"
    assert message.text == "Our menu and the booking"
    assert [a.content_type for a in message.attachments] == ["image/jpeg", "application/pdf"]
    assert all(isinstance(a, Attachment) and a.url.startswith("https://api.twilio.com/")
               for a in message.attachments)


def test_outside_the_window_the_configured_template_is_sent_once(
        start_gateway: StartGateway, worker: WorkerProcess, twilio: TwilioApiFake) -> None:
    gateway = start_gateway(PARLEY_WHATSAPP_TEMPLATE_SID=TEMPLATE)
    twilio.fail_delivery_next(63016)  # accepted, then reported failed, as Twilio does
    twilio.callback_repeats = 2       # and Twilio may say it twice
    assert _post(gateway, _said(60, "/opening_hours")).status_code == 200
    first, template = twilio.wait_for(2, timeout=30)
    time.sleep(1)
    assert len(twilio.messages) == 2
    assert first["Body"] == "We open at 18:00."
    assert template["ContentSid"] == TEMPLATE and "Body" not in template
    assert template["To"] == f"whatsapp:{PERSON}"
    assert 'parley_whatsapp_failed_replies_total{outcome="template"} 1.0' in _metrics(gateway)


def test_outside_the_window_without_a_template_the_reply_is_dropped_with_a_reason(
        gateway: GatewayProcess, worker: WorkerProcess, twilio: TwilioApiFake,
        clean_redis: redis.Redis) -> None:
    twilio.fail_delivery_next(63016)
    assert _post(gateway, _said(70, "/opening_hours")).status_code == 200
    twilio.wait_for(1, timeout=30)
    _eventually(lambda: "24-hour window" in gateway.log.read_text())
    assert "no PARLEY_WHATSAPP_TEMPLATE_SID" in gateway.log.read_text()
    assert 'parley_whatsapp_failed_replies_total{outcome="dropped"} 1.0' in _metrics(gateway)
    # Twilio may also refuse at once with 63016: then the dispatcher dead-letters it.
    twilio.fail_next(400, 63016)
    assert _post(gateway, _said(71, "/opening_hours")).status_code == 200
    _eventually(lambda: clean_redis.xlen(DEAD_LETTER_STREAM) == 1, 30)
    [(_, fields)] = clean_redis.xrange(DEAD_LETTER_STREAM)
    assert b"error 63016" in fields[b"reason"]
    assert b"PARLEY_WHATSAPP_TEMPLATE_SID" in fields[b"reason"]
    assert len(twilio.messages) == 1


def test_other_delivery_failures_are_reported_in_the_dead_letter_stream(
        gateway: GatewayProcess, worker: WorkerProcess, twilio: TwilioApiFake,
        clean_redis: redis.Redis) -> None:
    twilio.fail_delivery_next(63003)
    twilio.callback_repeats = 2
    assert _post(gateway, _said(80, "/opening_hours")).status_code == 200
    [reply] = twilio.wait_for(1, timeout=30)
    _eventually(lambda: clean_redis.xlen(DEAD_LETTER_STREAM) >= 1)
    time.sleep(0.5)
    [(_, fields)] = clean_redis.xrange(DEAD_LETTER_STREAM)
    assert fields[b"reason"] == b"Twilio reported the reply failed, error 63003"
    assert fields[b"entry"] == f"twilio:{reply['Sid']}".encode()
    assert fields[b"conversation_id"] == f"whatsapp:{BUSINESS}:{PERSON}".encode()
    assert "error 63003" in gateway.log.read_text()
    metrics = _metrics(gateway)
    assert 'parley_whatsapp_failed_replies_total{outcome="reported"} 1.0' in metrics
    assert 'parley_replies_dead_lettered_total{channel="whatsapp"} 1.0' in metrics
