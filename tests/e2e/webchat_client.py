"""A browser's side of the chat protocol, as the widget speaks it, for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

_OPEN: dict[int, list[ChatClient]] = {}


@contextlib.asynccontextmanager
async def browser_session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP session whose chat clients' sockets are all closed with it (a WebSocket is
    detached from the session's pool: closing the session does not close it)."""
    async with aiohttp.ClientSession() as http:
        _OPEN[id(http)] = []
        try:
            yield http
        finally:
            for client in _OPEN.pop(id(http)):
                await client.close()


class ChatClient:
    """One browser tab: a session token, a WebSocket, the frames it received."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str | None = None,
                 origin: str | None = None) -> None:
        self.http, self.base, self.token, self.origin = http, base, token, origin
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[dict[str, Any]] = []
        self.after = 0
        _OPEN.setdefault(id(http), []).append(self)

    @property
    def headers(self) -> dict[str, str]:
        return {"Origin": self.origin} if self.origin else {}

    async def session(self) -> str:
        async with self.http.post(f"{self.base}/channels/web/session",
                                  json={"token": self.token}, headers=self.headers) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        self.token = body["token"]
        return str(body["conversation"])

    async def connect(self) -> dict[str, Any]:
        """Open the socket and say hello with the last seq seen; return the welcome."""
        if self.token is None:
            await self.session()
        self.ws = await self.http.ws_connect(f"{self.base}/channels/web/ws",
                                             headers=self.headers)
        await self.ws.send_json({"type": "hello", "token": self.token, "after": self.after})
        return await self.next_frame("welcome")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(self, *, text: str | None = None, payload: str | None = None,
                   message_id: str | None = None) -> str:
        """Send a message; return its client id (without waiting for the ack)."""
        assert self.ws is not None
        message_id = message_id or uuid.uuid4().hex
        frame: dict[str, Any] = {"type": "message", "id": message_id}
        frame.update({"text": text} if text is not None else {"payload": payload})
        await self.ws.send_json(frame)
        return message_id

    async def next_frame(self, kind: str, timeout: float = 30) -> dict[str, Any]:
        """The next frame of ``kind`` (frames of other kinds are kept in ``frames``)."""
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    await self.close()
                    raise ConnectionError(f"socket closed: {message.type} {message.data}")
                frame = json.loads(message.data)
                self.frames.append(frame)
                if frame["type"] in ("reply", "user"):  # one numbering for both
                    self.after = max(self.after, frame["seq"])
                if frame["type"] == kind:
                    return dict(frame)

    async def replies(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """Wait until ``count`` replies in all were received; return them all."""
        while len(self.received()) < count:
            await self.next_frame("reply", timeout)
        return self.received()

    def received(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "reply"]

    def users(self) -> list[dict[str, Any]]:
        """The ``user`` frames received: the person's messages, from any tab."""
        return [f for f in self.frames if f["type"] == "user"]

    def history(self) -> list[dict[str, Any]]:
        """``user`` and ``reply`` frames in the order received."""
        return [f for f in self.frames if f["type"] in ("user", "reply")]

    async def quiet(self, seconds: float) -> None:
        """Keep reading for ``seconds`` (to catch anything doubled)."""
        with_timeout = asyncio.timeout(seconds)
        try:
            async with with_timeout:
                while True:
                    await self.next_frame("never", timeout=seconds + 1)
        except TimeoutError:
            pass
