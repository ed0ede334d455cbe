"""One desk webhook: a ``parley:desk:events`` entry in its wire form, and one POST of it.

The body is ``{"id": <entry id>, "type": <type>, "data": {...}}`` as compact UTF-8 JSON;
``data`` is re-encoded from the entry's JSON, so a receiver sees one form whoever produced
it. An entry that cannot be sent (no ``type``, a type unfit for a header, ``data`` not a
JSON object) is a ``DeskEvent`` with a ``problem``: it goes to the dead stream unsent.

``post_event`` makes one attempt and classifies it (``Attempt``); whether and when to try
again is ``desk.webhooks``'s business. No outcome's text holds the URL (it may carry the
helpdesk's token), the secret or the body.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from channels.web.adapter import sign
from desk.webhook_settings import WebhookSettings

__all__ = ["Attempt", "DeskEvent", "desk_event", "post_event", "retry_after_seconds"]

# Header-safe and label-safe: "handoff.requested", "sla.breached".
_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31}){0,3}")
_log = logging.getLogger("parley.desk.webhooks")


@dataclass(frozen=True, slots=True)
class DeskEvent:
    entry_id: str
    type: str         # "" when the entry has none fit to send
    body: bytes       # b"" with a problem
    raw_type: bytes   # the entry's fields as they were, for the dead stream
    raw_data: bytes
    problem: str = ""

    @property
    def label(self) -> str:
        """The metrics label: the type, or "invalid" (no unbounded label values)."""
        return self.type or "invalid"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST's outcome: ``reason`` empty when delivered; ``retry`` when another
    attempt may succeed; ``retry_after`` seconds when the helpdesk said when."""

    reason: str = ""
    retry: bool = False
    retry_after: float | None = None


def desk_event(entry_id: str, fields: Mapping[bytes | str, bytes | str]) -> DeskEvent:
    """The event of one stream entry; never raises (a bad entry has a ``problem``)."""
    raw = {_bytes(k): _bytes(v) for k, v in fields.items()}
    raw_type, raw_data = raw.get(b"type", b""), raw.get(b"data", b"")
    kind = raw_type.decode("utf-8", "replace")
    if _TYPE.fullmatch(kind) is None:
        return DeskEvent(entry_id, "", b"", raw_type, raw_data,
                         "malformed event: the type must be dotted lowercase words such "
                         f"as handoff.requested, got {kind[:40]!r}")
    try:
        data = json.loads(raw_data)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return DeskEvent(entry_id, kind, b"", raw_type, raw_data,
                         "malformed event: data is not a JSON object")
    try:
        body = json.dumps({"id": entry_id, "type": kind, "data": data},
                          separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError):  # NaN or Infinity: not JSON a receiver can read
        return DeskEvent(entry_id, kind, b"", raw_type, raw_data,
                         "malformed event: data holds NaN or Infinity")
    return DeskEvent(entry_id, kind, body.encode(), raw_type, raw_data)


async def post_event(session: aiohttp.ClientSession, settings: WebhookSettings,
                     event: DeskEvent, now: Callable[[], float]) -> Attempt:
    """One signed POST of ``event``; never raises but for cancellation."""
    timestamp = str(int(now()))
    headers = {"Content-Type": "application/json", "X-Parley-Delivery-Id": event.entry_id,
               "X-Parley-Event": event.type, "X-Parley-Timestamp": timestamp,
               "X-Parley-Signature": sign(settings.secret, timestamp, event.body)}
    try:
        async with session.post(settings.url, data=event.body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds),
                                allow_redirects=False, raise_for_status=False) as response:
            status, retry_after = response.status, response.headers.get("Retry-After")
    except TimeoutError:
        return Attempt(f"no answer within {settings.timeout_seconds:g} s", retry=True)
    except aiohttp.ClientError as exc:
        return Attempt(_describe(exc, settings.url), retry=True)
    except Exception as exc:  # a bug, or a value the client refuses: it can never go
        _log.exception("desk event %s (%s) cannot be sent", event.entry_id, event.label)
        return Attempt(_describe(exc, settings.url))
    if 200 <= status < 300:
        return Attempt()
    reason = f"the helpdesk answered {status}"
    if status in (408, 429) or status >= 500:
        return Attempt(reason, retry=True, retry_after=retry_after_seconds(retry_after, now))
    return Attempt(reason + (" (redirects are not followed)" if 300 <= status < 400 else ""))


def retry_after_seconds(value: str | None, now: Callable[[], float]) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date), if it is one."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)  # the caller bounds it
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now())


def _describe(exc: BaseException, url: str) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):  # its text names the URL
        return f"{type(exc).__name__} (status {exc.status})"
    return f"{type(exc).__name__}: {exc}".replace(url, "<webhook URL>")[:300]


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
