"""Agents' presence: online, away or offline, shared by every gateway replica.

An agent's chosen status is kept in ``parley:desk:presence`` (hash: user id → status).
While online, the agent is in each of their teams' ``presence:<team>`` sorted set with
an expiry (ms) as the score, renewed by the console's pings and API calls; a closed tab
stops renewing it and the agent counts as offline ``GRACE_SECONDS`` later. The workers
ask these sets whether anyone of a team is there before they promise a person
(``workers.handoff_desk``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import cast

import redis.asyncio as aioredis

from desk.accounts import User
from workers.bus import desk_key

__all__ = ["GRACE_SECONDS", "STATUSES", "Presence"]

GRACE_SECONDS = 45.0
STATUSES = ("online", "away", "offline")
_ALL = "_all"  # every online agent, whatever their teams


class Presence:
    def __init__(self, client: aioredis.Redis, *, grace_seconds: float = GRACE_SECONDS
                 ) -> None:
        self._redis = client
        self._grace = grace_seconds

    async def set(self, user: User, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"presence must be one of {', '.join(STATUSES)}")
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(desk_key("presence"), user.id, status)
        for team in (*user.teams, _ALL):
            if status == "online":
                pipe.zadd(desk_key("presence", team), {user.id: self._expiry()})
            else:
                pipe.zrem(desk_key("presence", team), user.id)
        await pipe.execute()

    async def touch(self, user: User) -> None:
        """Renew an online agent's presence (a ping, a request); others stay as they are."""
        if await self.chosen(user.id) != "online":
            return
        pipe = self._redis.pipeline(transaction=False)
        for team in (*user.teams, _ALL):
            pipe.zadd(desk_key("presence", team), {user.id: self._expiry()})
        await pipe.execute()

    async def chosen(self, user_id: str) -> str:
        raw = await self._redis.hget(desk_key("presence"), user_id)
        return raw.decode() if isinstance(raw, bytes) else "offline"

    async def status_of(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Each agent's status now: ``online`` only while their presence has not lapsed."""
        ids = list(user_ids)
        if not ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(desk_key("presence"), ids)
        for user_id in ids:
            pipe.zscore(desk_key("presence", _ALL), user_id)
        chosen, *expiries = await pipe.execute()
        now = time.time() * 1000
        statuses: dict[str, str] = {}
        for user_id, status, expiry in zip(ids, cast(list[bytes | None], chosen), expiries,
                                           strict=True):
            text = status.decode() if status else "offline"
            if text == "online" and (expiry is None or float(expiry) < now):
                text = "offline"
            statuses[user_id] = text
        return statuses

    async def online_in(self, team: str) -> list[str]:
        now = int(time.time() * 1000)
        found = await self._redis.zrangebyscore(desk_key("presence", team), now, "+inf")
        return [v.decode() if isinstance(v, bytes) else str(v) for v in found]

    def _expiry(self) -> int:
        return int((time.time() + self._grace) * 1000)
