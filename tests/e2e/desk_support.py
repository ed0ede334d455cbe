"""The agent's side of the desk for end-to-end tests: a database with accounts, and an API
client that speaks to ``/desk/api`` as a helpdesk integration would (bearer token)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from desk.accounts import Accounts, NewUser
from desk.database import database_url, open_database, upgrade


def desk_database(folder: Path) -> str:
    """A fresh SQLite database of record in ``folder`` at the newest schema: its
    ``PARLEY_DATABASE_URL``."""
    plain = f"sqlite:///{folder / 'desk.db'}"
    asyncio.run(upgrade(database_url(plain, folder)))
    return plain


def add_agent(url: str, email: str, *, role: str = "agent",
              teams: tuple[str, ...] = ("support",)) -> tuple[str, str]:
    """An account with an API token: (user id, token)."""
    new = add_account(url, email, role=role, teams=teams)
    assert new.token is not None
    return new.user.id, new.token


def add_account(url: str, email: str, *, role: str = "agent",
                teams: tuple[str, ...] = ("support",), name: str | None = None) -> NewUser:
    """An account with its one-time password and an API token."""
    async def create() -> NewUser:
        db = open_database(database_url(url, Path(".")))
        try:
            return await Accounts(db).add_user(email, role, teams, name=name, token=True)
        finally:
            await db.aclose()

    return asyncio.run(create())


class DeskApi:
    """``/desk/api`` with a bearer token."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base = http, base.rstrip("/") + "/desk/api"
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, json=body,
                                     headers=self.headers) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await self.call(method, path, body)
        assert 200 <= status < 300, (status, data)
        return data

    async def online(self) -> None:
        await self.ok("PUT", "/presence", {"status": "online"})

    async def waiting(self, status: str = "waiting", timeout: float = 20) -> list[Any]:
        """The handoffs of ``status``, once there is at least one."""
        async with asyncio.timeout(timeout):
            while True:
                found = (await self.ok("GET", f"/handoffs?status={status}"))["handoffs"]
                if found:
                    return list(found)
                await asyncio.sleep(0.05)

    async def reply(self, handoff: str, text: str, client_id: str | None = None
                    ) -> tuple[int, Any]:
        return await self.call("POST", f"/handoffs/{handoff}/messages",
                               {"text": text, "client_message_id": client_id or uuid.uuid4().hex})

    async def events(self) -> aiohttp.ClientWebSocketResponse:
        return await self.http.ws_connect(self.base + "/events", headers=self.headers)


def archive_settled(client: Any) -> bool:
    """Every turn record stored by the archiver: its group exists and holds nothing unread
    or unacknowledged (``client``: a synchronous redis-py client)."""
    from redis.exceptions import ResponseError

    from workers.bus import ARCHIVE_STREAM

    try:
        groups = client.xinfo_groups(ARCHIVE_STREAM)
    except ResponseError:
        return False
    return bool(groups) and all(g["pending"] == 0 and g["lag"] == 0 for g in groups)


def every_row(path: Path) -> str:
    """Every cell of every table of the SQLite file at ``path``, as text."""
    import sqlite3

    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells: list[str] = []
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                cells.extend(c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c)
                             for c in row)
    return "\n".join(cells)
