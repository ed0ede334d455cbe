"""The first-response target end to end: a handoff nobody answers in time is marked
breached, counted once in ``parley_handoff_sla_breaches_total{team}`` and sent to the
supervisors (not to an agent of another team); the queue length and the waits are metrics."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import aiohttp
import redis

from tests.processes import BOT, GatewayProcess, WorkerProcess

from .desk_support import DeskApi, add_agent, desk_database
from .webchat_client import ChatClient, browser_session

# 0.05 minutes: a 3 s first-response target.
DESK_YML = """
default_team: support
teams:
  support:
    first_response_minutes: 0.05
  billing: {}
"""


def _metric(text: str, name: str, team: str) -> float:
    found = re.search(rf'^{name}\{{team="{team}"\}} ([0-9.e+]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_an_unanswered_handoff_breaches_its_target_once_and_supervisors_are_told(
        clean_redis: redis.Redis, bot_model: Path, tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    shutil.copytree(BOT, bot)
    (bot / "desk.yml").write_text(DESK_YML, encoding="utf-8")
    url = desk_database(tmp_path)
    _, agent_token = add_agent(url, "ada@example.com")
    _, boss_token = add_agent(url, "boss@example.com", role="supervisor", teams=())
    _, other_token = add_agent(url, "bill@example.com", teams=("billing",))
    worker = WorkerProcess(bot_model, tmp_path / "worker.log", bot=bot)
    gateway = GatewayProcess(tmp_path / "gateway.log",
                             {"PARLEY_SESSION_SECRET": "sla-test-secret-0123456",
                              "PARLEY_DATABASE_URL": url})

    async def scenario() -> None:
        async with browser_session() as http:
            ada, boss, bill = (DeskApi(http, gateway.url, t)
                               for t in (agent_token, boss_token, other_token))
            await ada.online()
            boss_events, bill_events = await boss.events(), await bill.events()
            user = ChatClient(http, gateway.url)
            await user.connect()
            await user.send(text="human please")
            assert "number 1 in the queue" in (await user.next_frame("reply"))["text"]
            (handoff,) = await ada.waiting()
            assert handoff["sla_breached"] is False
            # The queue-length gauge follows within a timer round (a second).
            await _until_metric(http, gateway.url, "parley_handoff_queue_length", 1.0)
            breach = await _event(boss_events, "sla.breached", 20)
            assert breach["data"]["handoff_id"] == handoff["id"]
            assert breach["data"]["target_seconds"] == 3.0
            marked = await ada.ok("GET", f"/handoffs/{handoff['id']}")
            assert marked["sla_breached"] is True
            await asyncio.sleep(2.5)  # more timer rounds: still one breach
            metrics = await _metrics(http, gateway.url)
            assert _metric(metrics, "parley_handoff_sla_breaches_total", "support") == 1.0
            # An agent of another team is not told.
            assert await _event(bill_events, "sla.breached", 1.5) is None
            # The claim ends the wait: it is observed, and the queue is empty.
            await ada.ok("POST", f"/handoffs/{handoff['id']}/claim")
            metrics = await _metrics(http, gateway.url)
            assert _metric(metrics, "parley_handoff_wait_seconds_count", "support") == 1.0
            assert 'parley_handoffs_requested_total{reason="talk_to_human",team="support"} ' \
                   '1.0' in metrics
            await _until_metric(http, gateway.url, "parley_handoff_queue_length", 0.0)
            await boss_events.close()
            await bill_events.close()

    try:
        asyncio.run(scenario())
    finally:
        gateway.stop()
        worker.stop()


async def _until_metric(http: aiohttp.ClientSession, base: str, name: str, value: float
                        ) -> None:
    async with asyncio.timeout(5):
        while _metric(await _metrics(http, base), name, "support") != value:
            await asyncio.sleep(0.1)


async def _metrics(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(base + "/metrics") as response:
        return await response.text()


async def _event(socket: aiohttp.ClientWebSocketResponse, kind: str, timeout: float
                 ) -> dict[str, object] | None:
    try:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads((await socket.receive()).data)
                if frame["type"] == kind:
                    return dict(frame)
    except TimeoutError:
        return None
