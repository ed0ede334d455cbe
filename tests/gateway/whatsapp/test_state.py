"""The WhatsApp channel's Redis state (gateway.whatsapp.state and the status policy of
gateway.whatsapp.delivery) on real Redis: numbered choices, statuses, failures once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter

from channels.models import Button, InboundMessage, OutboundMessage, decode_outbound
from channels.whatsapp.adapter import StatusReport
from gateway.dispatcher import DEAD_LETTER_STREAM
from gateway.whatsapp.delivery import StatusRecorder
from gateway.whatsapp.state import WhatsAppState, choices_key, sent_key
from tests.processes import REDIS_URL, clean_redis, redis_client  # noqa: F401  (fixtures)
from workers.bus import OUTBOUND_STREAM

T = TypeVar("T")
CID = "whatsapp:+14155238886:+15005550006"
SID = "SM" + "1" * 32
TEMPLATE = "HX" + "a" * 32
YES_NO = (Button(title="Yes", payload="/affirm"), Button(title="No", payload="/deny"))


def _run(step: Callable[[WhatsAppState, aioredis.Redis], Awaitable[T]]) -> T:
    async def main() -> T:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            return await step(WhatsAppState(client), client)
        finally:
            await client.aclose()
    return asyncio.run(main())


def _reply(sequence: int, buttons: tuple[Button, ...] = (), index: int = 0) -> OutboundMessage:
    return OutboundMessage(conversation_id=CID, channel="whatsapp", in_reply_to=f"SM{sequence}",
                           sequence=sequence, index=index, text="…", buttons=buttons)


def _said(text: str, sequence: int = 9) -> InboundMessage:
    return InboundMessage(channel="whatsapp", account="+14155238886", chat="+15005550006",
                          user_id="+15005550006", message_id=f"SMin{sequence}", text=text)


def test_an_answer_to_the_offered_list_becomes_the_payload(clean_redis: redis.Redis) -> None:
    async def step(state: WhatsAppState, _: aioredis.Redis) -> list[str | None]:
        await state.after_send(SID, _reply(4, YES_NO), template=False)
        return [(await state.choose(_said(text))).payload for text in ("2", "yes", "maybe")]
    assert _run(step) == ["/deny", "/affirm", None]
    assert 0 < clean_redis.ttl(choices_key(CID)) <= 24 * 3600


def test_a_later_reply_without_buttons_clears_the_list_but_its_own_turns_do_not(
        clean_redis: redis.Redis) -> None:
    async def step(state: WhatsAppState, _: aioredis.Redis) -> list[str | None]:
        await state.after_send(SID, _reply(4, YES_NO), template=False)
        await state.after_send("SM" + "2" * 32, _reply(4, index=1), template=False)
        same_turn = (await state.choose(_said("1"))).payload
        await state.after_send("SM" + "3" * 32, _reply(5), template=False)
        return [same_turn, (await state.choose(_said("1"))).payload]
    assert _run(step) == ["/affirm", None]
    assert not clean_redis.exists(choices_key(CID))


def test_the_furthest_status_is_kept_whatever_order_reports_come_in(
        clean_redis: redis.Redis) -> None:
    async def step(state: WhatsAppState, _: aioredis.Redis) -> list[bool]:
        await state.after_send(SID, _reply(4), template=False)
        changed = []
        for status in ("sent", "read", "delivered", "read"):
            sent = await state.record(StatusReport(sid=SID, status=status))
            changed.append(sent.changed)
        assert (sent.conversation_id, sent.sequence, sent.in_reply_to) == (CID, 4, "SM4")
        return changed
    assert _run(step) == [True, True, False, False]
    assert clean_redis.hget(sent_key(SID), "status") == b"read"
    assert 6 * 86400 < clean_redis.ttl(sent_key(SID)) <= 7 * 86400


def _recorder(state: WhatsAppState, template: str | None) -> tuple[StatusRecorder, Counter]:
    registry = CollectorRegistry()
    failures = Counter("f", "f", ["outcome"], registry=registry)
    recorder = StatusRecorder(state, template_sid=template,
                              statuses=Counter("s", "s", ["status"], registry=registry),
                              failures=failures,
                              dead_lettered=Counter("d", "d", ["channel"], registry=registry))
    return recorder, failures


def test_a_repeated_63016_failure_queues_the_template_once(clean_redis: redis.Redis) -> None:
    failed = StatusReport(sid=SID, status="failed", error_code=63016,
                          business="+14155238886", person="+15005550006")

    async def step(state: WhatsAppState, _: aioredis.Redis) -> float:
        await state.after_send(SID, _reply(4), template=False)
        recorder, failures = _recorder(state, TEMPLATE)
        for _ in range(3):
            await recorder.record(failed)
        return failures.labels("template")._value.get()  # type: ignore[no-any-return]
    assert _run(step) == 1.0
    [(_, fields)] = clean_redis.xrange(OUTBOUND_STREAM)
    queued = decode_outbound(fields[b"message"])
    assert queued == OutboundMessage(conversation_id=CID, channel="whatsapp",
                                     in_reply_to="SM4", sequence=4, index=0, text="",
                                     template=TEMPLATE)


def test_a_failed_template_and_other_failures_are_dead_lettered_once(
        clean_redis: redis.Redis) -> None:
    async def step(state: WhatsAppState, _: aioredis.Redis) -> None:
        await state.after_send(SID, _reply(4), template=True)
        recorder, _ = _recorder(state, TEMPLATE)
        for _ in range(2):
            await recorder.record(StatusReport(sid=SID, status="undelivered", error_code=63016))
    _run(step)
    [(_, fields)] = clean_redis.xrange(DEAD_LETTER_STREAM)
    assert fields[b"reason"] == b"Twilio reported the template undelivered, error 63016"
    assert fields[b"conversation_id"] == CID.encode() and fields[b"sequence"] == b"4"
    assert clean_redis.xlen(OUTBOUND_STREAM) == 0


def test_a_failure_of_an_unknown_message_uses_the_numbers_in_the_report(
        clean_redis: redis.Redis) -> None:
    async def step(state: WhatsAppState, _: aioredis.Redis) -> None:
        recorder, _ = _recorder(state, None)
        await recorder.record(StatusReport(sid=SID, status="failed", error_code=63003,
                                           error_message="Channel could not find To address",
                                           business="+14155238886", person="+15005550006"))
    _run(step)
    [(_, fields)] = clean_redis.xrange(DEAD_LETTER_STREAM)
    assert fields[b"conversation_id"] == CID.encode()
    assert fields[b"reason"].decode().endswith("error 63003: Channel could not find To address")
