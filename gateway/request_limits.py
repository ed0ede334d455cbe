"""Deadlines and a size limit on what a client sends, enforced before any handler runs.

aiohttp reads a request in two phases and bounds them differently; what it lacks is built
here with its public API:

- **Headers.** aiohttp's keep-alive timer is armed when a connection opens and again
  after each response, and closes the connection when it fires while no complete request
  has arrived, however many header bytes are trickling in (``RequestHandler.
  _process_keepalive`` closes whenever the handler waits for a message). So its
  ``keepalive_timeout`` *is* a header deadline; ``run_app`` sets 75 s. ``server_args``
  passes ``PARLEY_HEADER_TIMEOUT_SECONDS`` as ``Application(handler_args=…)``, which
  overrides ``run_app``'s value (``Application._make_handler``), so it holds for
  ``parley gateway``, ``parley run`` and test servers alike. The price: an idle keep-alive
  connection is closed after that long too. aiohttp closes such a connection without an
  answer and without telling the application, so these are not counted in the metrics.
- **Body.** aiohttp has no deadline on a body at all: a handler's ``await request.read()``
  waits as long as bytes keep coming. ``bounded_body`` reads the body itself under
  ``asyncio.timeout(PARLEY_BODY_TIMEOUT_SECONDS)``, before the route's handler (and so
  before any signature or token is checked): 408 and the connection closed when it is
  late. aiohttp keeps what ``read()`` returned (``BaseRequest._read_bytes``) and answers
  every later ``read()``, ``text()`` and ``json()`` with it, so the handlers' own reads
  cost nothing and need no change.
- **Size.** A declared ``Content-Length`` over the limit (``PARLEY_MAX_BODY_BYTES``, the
  application's ``client_max_size``) is refused with 413 before a byte of the body is
  read; a chunked body is refused as soon as it passes the limit (aiohttp's ``read()``
  raises ``HTTPRequestEntityTooLarge`` then).

Every refusal is JSON ``{"error", "reason"}`` and counted in
``parley_requests_refused_total{reason}``. After a refusal whose body is unread, aiohttp
reads and discards what the client still sends for up to 10 s (its lingering close, so
that the client can read the answer) and then closes the connection. A client that sends
``Expect: 100-continue`` is told to continue before any middleware runs (aiohttp's
default expect handler); its 413 follows at once, without waiting for the body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.app_keys import METRICS, SETTINGS
from gateway.limit_settings import LimitSettings

__all__ = ["bounded_body", "refusal", "server_args"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def server_args(limits: LimitSettings) -> dict[str, Any]:
    """The application's ``handler_args``: the header deadline (see the module's doc)."""
    return {"keepalive_timeout": limits.header_timeout_seconds}


def refusal(request: web.Request, status: int, reason: str, message: str, *,
            retry_after: int | None = None) -> web.Response:
    """A counted JSON refusal: ``{"error": message, "reason": reason}``."""
    request.config_dict[METRICS].refused.labels(reason).inc()
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response({"error": message, "reason": reason}, status=status,
                             headers=headers)


@web.middleware
async def bounded_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read the body within the deadline and the size limit, then run the handler.

    A request for no route (404, 405) goes straight on: it is refused without its body."""
    if request.body_exists and request.match_info.http_exception is None:
        refused = await _read_within_limits(request)
        if refused is not None:
            return refused
    return await handler(request)


async def _read_within_limits(request: web.Request) -> web.Response | None:
    limit = request.client_max_size
    declared = request.content_length
    too_large = (f"the request body is larger than {limit} bytes, the gateway's limit "
                 "(PARLEY_MAX_BODY_BYTES)")
    if declared is not None and declared > limit:
        return _closing(refusal(request, 413, "too_large", too_large))
    deadline = request.config_dict[SETTINGS].limits.body_timeout_seconds
    try:
        async with asyncio.timeout(deadline):
            await request.read()
    except TimeoutError:
        return _closing(refusal(request, 408, "body_timeout",
                                f"the request body did not arrive within {deadline:g} s"))
    except web.HTTPRequestEntityTooLarge:
        return _closing(refusal(request, 413, "too_large", too_large))
    except (web.RequestPayloadError, ConnectionResetError):
        # A malformed chunked body, or the client went away before its Content-Length.
        return _closing(refusal(request, 400, "body_incomplete",
                                "the request body is incomplete or malformed"))
    return None


def _closing(response: web.Response) -> web.Response:
    # The rest of the body is not read: the connection cannot carry another request.
    response.force_close()
    return response
