"""SendPacer spreads a chat's sends at its rate, leaves other chats alone, caps the total,
and forgets chats whose bucket has drained."""

from __future__ import annotations

import asyncio
import time

from channels.models import OutboundMessage
from gateway.send_pacing import SendPacer


def _reply(conversation: str) -> OutboundMessage:
    return OutboundMessage(conversation_id=conversation, channel="slack", in_reply_to="m",
                           sequence=1, index=0, text="hi")


async def _time_waits(pacer: SendPacer, conversations: list[str]) -> float:
    started = time.monotonic()
    for conversation in conversations:
        await pacer.wait(_reply(conversation))
    return time.monotonic() - started


def test_one_chat_is_paced_at_its_rate() -> None:
    pacer = SendPacer(per_chat=4.0)
    # The first send goes at once, the next two wait a quarter second each.
    assert asyncio.run(_time_waits(pacer, ["c:1"] * 3)) >= 0.45


def test_other_chats_do_not_wait_for_a_busy_one() -> None:
    pacer = SendPacer(per_chat=1.0)
    # One limiter shared by all chats would take 19 s; the bound leaves a loaded machine
    # almost 4× that margin the other way (20 sends that do not wait take milliseconds).
    assert asyncio.run(_time_waits(pacer, [f"c:{n}" for n in range(20)])) < 5.0


def test_chat_of_groups_conversations_under_one_limit() -> None:
    # Slack's limit is per channel, whatever the thread: the key drops the thread part.
    pacer = SendPacer(per_chat=4.0, chat_of=lambda m: m.conversation_id.rsplit(":", 1)[0])
    assert asyncio.run(_time_waits(pacer, ["s:T:C1:t1", "s:T:C1:t2", "s:T:C1:t3"])) >= 0.45


def test_overall_rate_caps_all_chats_together() -> None:
    pacer = SendPacer(overall=10.0)
    # A burst of one second's worth (10) at once, then 10 per second: 15 sends ≥ 0.45 s.
    assert asyncio.run(_time_waits(pacer, [f"c:{n}" for n in range(15)])) >= 0.45


def test_drained_chats_are_forgotten() -> None:
    async def scenario() -> int:
        pacer = SendPacer(per_chat=20.0, sweep_every=0.1)
        for n in range(50):
            await pacer.wait(_reply(f"c:{n}"))
        await asyncio.sleep(0.2)  # every bucket drains (1/20 s) and a sweep is due
        await pacer.wait(_reply("c:new"))
        return pacer.chats_tracked

    assert asyncio.run(scenario()) == 1
