"""Auto-assignment: a team with ``auto_assign: true`` (desk.yml) has its waiting handoffs
given to its online agents, round-robin, each up to ``capacity_per_agent`` conversations.

Run on the timers' beat by the one replica that holds the timers' lock, oldest handoff
first. The assignment is a claim (``desk.ownership``, atomic: an agent who claims by hand
at the same moment wins or loses cleanly), made on the agent's behalf, and written to the
audit log with no actor (the system did it).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import redis.asyncio as aioredis

from desk import audit
from desk.accounts import Accounts
from desk.database import Database
from desk.handoffs import HandoffReader
from desk.metrics import DeskMetrics
from desk.ownership import DeskOperations
from desk.presence import Presence
from workers.bus import desk_key

__all__ = ["AutoAssigner"]

_log = logging.getLogger("parley.desk.assignment")


class AutoAssigner:
    def __init__(self, client: aioredis.Redis, *, reader: HandoffReader, ops: DeskOperations,
                 presence: Presence, accounts: Accounts, db: Database,
                 metrics: DeskMetrics) -> None:
        self._redis = client
        self._reader = reader
        self._ops = ops
        self._presence = presence
        self._accounts = accounts
        self._db = db
        self._metrics = metrics

    async def assign(self) -> int:
        """One round over every auto-assigning team; how many handoffs were assigned."""
        teams = await self._reader.teams()
        wanted = {name: s for name, s in teams.items() if s.get("auto_assign")}
        if not wanted:
            return 0
        load = await self._load()
        assigned = 0
        for name, settings in sorted(wanted.items()):
            assigned += await self._team(name, settings, load)
        return assigned

    async def _team(self, team: str, settings: dict[str, Any], load: Counter[str]) -> int:
        waiting = await self._reader.records(await self._reader.ids("waiting", [team]))
        if not waiting:
            return 0
        online = sorted(await self._presence.online_in(team))
        capacity = int(settings.get("capacity_per_agent") or 1)
        assigned = 0
        for record in waiting:
            free = [a for a in online if load[a] < capacity]
            if not free:
                break
            turn = int(await self._redis.incr(desk_key("round_robin", team)))
            agent_id = free[turn % len(free)]
            user = await self._accounts.get_user(agent_id)
            if user is None or user.disabled:
                online.remove(agent_id)
                continue
            result = await self._ops.claim(record, {"id": user.id, "email": user.email,
                                                    "name": user.name or user.email})
            if result.kind != "claimed":
                continue  # claimed by hand meanwhile, or withdrawn
            load[agent_id] += 1
            assigned += 1
            if result.wait is not None:
                self._metrics.waits.labels(team).observe(result.wait)
            await audit.record(self._db, actor=None, action="handoff.assigned",
                               conversation_id=record.get("conversation_id"),
                               handoff_id=record["id"], detail={"agent": user.id,
                                                                "team": team})
            _log.info("handoff %s assigned to %s (team %s)", record["id"], user.email, team)
        return assigned

    async def _load(self) -> Counter[str]:
        """Active conversations per agent."""
        active = await self._reader.records(await self._reader.ids("active", []))
        return Counter(r.get("agent", "") for r in active if r.get("status") == "active")
