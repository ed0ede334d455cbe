"""Auto-assignment end to end: a team with ``auto_assign: true`` gives its waiting
handoffs to its online agents, round-robin, each up to its capacity; the rest wait."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import redis

from tests.processes import BOT, GatewayProcess, WorkerProcess

from .desk_support import DeskApi, add_agent, desk_database
from .webchat_client import ChatClient, browser_session

DESK_YML = """
default_team: support
teams:
  support:
    auto_assign: true
    capacity_per_agent: 1
"""


@pytest.fixture
def assigning_bot(tmp_path: Path) -> Path:
    folder = tmp_path / "bot"
    shutil.copytree(BOT, folder)
    (folder / "desk.yml").write_text(DESK_YML, encoding="utf-8")
    return folder


def test_waiting_handoffs_go_round_robin_to_online_agents_within_capacity(
        clean_redis: redis.Redis, bot_model: Path, assigning_bot: Path,
        tmp_path: Path) -> None:
    url = desk_database(tmp_path)
    agents = [add_agent(url, f"agent{i}@example.com") for i in range(2)]
    worker = WorkerProcess(bot_model, tmp_path / "worker.log", bot=assigning_bot)
    gateway = GatewayProcess(tmp_path / "gateway.log",
                             {"PARLEY_SESSION_SECRET": "assignment-test-secret-0123",
                              "PARLEY_DATABASE_URL": url})

    async def scenario() -> None:
        async with browser_session() as http:
            desks = [DeskApi(http, gateway.url, token) for _, token in agents]
            for desk in desks:
                await desk.online()
            users = [ChatClient(http, gateway.url) for _ in range(3)]
            for user in users:
                await user.connect()
                await user.send(text="human please")
                await user.next_frame("reply")
            async with asyncio.timeout(20):
                while len(active := (await desks[0].ok("GET", "/handoffs?status=active")
                                     )["handoffs"]) < 2:
                    await asyncio.sleep(0.1)
            holders = sorted(h["agent"]["id"] for h in active)
            assert holders == sorted(agent_id for agent_id, _ in agents)  # one each
            waiting = (await desks[0].ok("GET", "/handoffs?status=waiting"))["handoffs"]
            assert len(waiting) == 1  # both agents are at their capacity of one
            # A hand-back frees an agent: the waiting handoff goes to them.
            freed = active[0]
            freed_desk = desks[[a for a, _ in agents].index(freed["agent"]["id"])]
            await freed_desk.ok("POST", f"/handoffs/{freed['id']}/handback", {})
            async with asyncio.timeout(20):
                while (await desks[0].ok("GET", "/handoffs?status=waiting"))["handoffs"]:
                    await asyncio.sleep(0.1)
            audit = await freed_desk.call("GET", "/audit")
            assert audit[0] == 403  # an agent does not read the audit log

    try:
        asyncio.run(scenario())
    finally:
        gateway.stop()
        worker.stop()
