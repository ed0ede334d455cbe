"""The desk's records, written to the database off the hot path: handoffs and their messages.

The live state of a handoff is in Redis; the database is its record (what an archive,
analytics or an audit reads later). The recorder reads the desk's event stream as a
member of the consumer group ``parley-desk-recorder`` and, for each event of a handoff,
stores the handoff's current record (an upsert that never lets an older copy, a lower
epoch, overwrite a newer one) and, for ``message.user`` and ``message.agent``, the message
(idempotent by its id). An event is acknowledged only after the database said yes: a
database that is down holds the events in the stream until it is back (a replica that
died holding some leaves them to be taken over after ``claim_idle_ms``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

import redis.asyncio as aioredis
from asyncpg import PostgresError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from desk import records
from desk.background import BackgroundLoop
from desk.database import UNAVAILABLE, Database
from desk.errors import DeskError, RecordError
from desk.events import ensure_group
from desk.handoffs import HandoffReader
from workers.bus import DESK_EVENTS_STREAM

__all__ = ["GROUP", "DeskRecorder"]

GROUP = "parley-desk-recorder"
_log = logging.getLogger("parley.desk.recorder")
_MESSAGES = {"message.user": "user", "message.agent": "agent"}


class DeskRecorder:
    def __init__(self, client: aioredis.Redis, db: Database, *, consumer: str,
                 claim_idle_ms: int = 60_000) -> None:
        self._redis = client
        self._db = db
        self._reader = HandoffReader(client)
        self._consumer = consumer
        self._claim_idle_ms = claim_idle_ms
        self._loop = BackgroundLoop("desk-recorder")

    async def start(self) -> None:
        self._loop.start(self._run)

    async def aclose(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        delay = 0.5
        while not self._loop.stopping.is_set():
            try:
                await ensure_group(self._redis, GROUP, start="0")
                await self._record(await self._pending())
                await self._record(await self._claimed())
                while not self._loop.stopping.is_set():
                    found = cast(list[Any], await self._redis.xreadgroup(
                        GROUP, self._consumer, {DESK_EVENTS_STREAM: ">"}, count=100,
                        block=1000))
                    for _, items in found or ():
                        await self._record(items)
                    delay = 0.5
            except (RedisError, OSError, DeskError, *UNAVAILABLE) as exc:
                _log.warning("desk recorder: %s; retrying in %.1f s", type(exc).__name__,
                             delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except Exception:  # a bug: logged, and the recorder goes on after a pause
                _log.exception("desk recorder stopped on an error; restarting in %.1f s",
                               delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _pending(self) -> list[Any]:
        found = cast(list[Any], await self._redis.xreadgroup(
            GROUP, self._consumer, {DESK_EVENTS_STREAM: "0"}, count=1000))
        return [item for _, items in found or () for item in items]

    async def _claimed(self) -> list[Any]:
        claimed = await self._redis.xautoclaim(DESK_EVENTS_STREAM, GROUP, self._consumer,
                                               min_idle_time=self._claim_idle_ms, count=1000)
        return list(claimed[1])

    async def _record(self, items: list[Any]) -> None:
        for entry_id, fields in items:
            if fields:
                try:
                    await self.store(fields)
                except UNAVAILABLE:
                    raise  # kept pending: stored once the database is back
                except (SQLAlchemyError, PostgresError) as exc:  # this record, not the database
                    _log.error("desk recorder: event %s not stored (%s); skipped",
                               entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
                               type(exc).__name__)
            await self._redis.xack(DESK_EVENTS_STREAM, GROUP, entry_id)

    async def store(self, fields: dict[bytes, bytes]) -> None:
        """Store what one event says (a malformed one is logged and skipped)."""
        try:
            data = json.loads(fields.get(b"data", b"{}"))
        except ValueError:
            _log.error("desk recorder: an event that is not JSON was skipped")
            return
        handoff_id = str(data.get("handoff_id") or "") if isinstance(data, dict) else ""
        if not handoff_id:
            return
        record = await self._reader.record(handoff_id)
        if record is None:
            return
        try:
            await records.upsert_handoff(self._db, record)
        except RecordError as exc:  # a record the database refuses: logged, not retried
            _log.error("desk recorder: handoff %s not recorded: %s", handoff_id, exc)
            return
        kind = _MESSAGES.get(str(data.get("type")))
        if kind is not None:
            await self._message(data, record, kind)

    async def _message(self, data: dict[str, Any], record: dict[str, str], kind: str) -> None:
        agent = data.get("agent") if isinstance(data.get("agent"), dict) else {}
        message_id = f"{record['conversation_id']}:{data.get('message_id', '')}"[:255]
        text = str(data.get("text") or data.get("payload") or "").replace("\x00", "")
        await records.add_message(self._db, message_id=message_id, handoff_id=record["id"],
                                  conversation_id=record["conversation_id"], author_kind=kind,
                                  author_id=(agent or {}).get("id") if kind == "agent"
                                  else record.get("user_id"),
                                  text=text, at=float(data.get("at") or 0.0))
