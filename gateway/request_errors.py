"""How the gateway answers and logs the requests it refuses: never a 500 for a client's
mistake, and never a log flooded by one client.

- A request Parley refuses (a channel's ``BadRequest``/``Unauthorized``, aiohttp's own
  4xx: 404, 405, 413, a body that breaks HTTP's framing) gets its JSON error, with the
  headers the refusal carries (``Allow`` on a 405). A *malformed* one (400, 413, 415) is
  logged as one line — route, client address, reason — at most once per client address a
  minute (``Throttle``), without a traceback: a broken or hostile client is no bug of ours.
- An exception nobody foresaw, raised while a channel read the request (the innermost of
  Parley's own frames is in ``channels/``: a payload shape its parser did not expect), is
  the client's malformed request too: 400 "malformed request". Anywhere else it is ours:
  500. Either way its traceback is logged, at most once per (route, exception type) a
  minute, so a real bug stays visible without one request a second filling the disk.
- aiohttp logs a traceback at ERROR ("Error handling request from …", logger
  ``aiohttp.server``) for every request whose HTTP it cannot parse (a malformed request
  line or header): ``tame_server_log`` installs a filter that makes it the same one line
  per client a minute. aiohttp answers those itself (400, text/plain: no middleware runs
  for a request that never parsed).

- Where a route's credentials are all in its headers (Telegram's secret token, the
  website webhook's bearer token; a signature's form and age), the route registers a
  header check (``add_header_check``) and the app's error middleware, the outermost, runs
  it first (``refuse_from_headers``): a stranger is refused (401) before any later
  middleware or the handler reads the body.

Infrastructure errors (Redis down → 503 with ``Retry-After``) are the app's middleware's,
and not this module's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import TracebackType

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.log_throttle import Throttle

__all__ = ["MALFORMED_STATUSES", "HeaderCheck", "Throttle", "add_header_check", "malformed_http",
           "refuse_from_headers", "refused", "setup_request_errors", "unexpected"]

HeaderCheck = Callable[[web.Request], None]  # raises Unauthorized, reads no body
_HEADER_CHECKS = web.AppKey("header_checks", dict[str, HeaderCheck])  # route pattern → check
_log = logging.getLogger("parley.gateway.requests")
MALFORMED_STATUSES = frozenset({400, 413, 415})
# Parley's own packages: where a traceback's innermost frame says whose code raised.
_OURS = ("channels.", "gateway.", "workers.", "brain.", "integrations.", "desk.")
_KEPT_OUT = frozenset({"content-type", "content-length", "content-encoding"})


_CLIENTS = Throttle()  # one line per client address a minute, malformed requests
_BUGS = Throttle()  # one traceback per (route, exception type) a minute


def refused(request: web.Request, status: int, reason: str,
            headers: Mapping[str, str] | None = None) -> web.Response:
    """The JSON answer to a request refused with ``status``; ``headers`` the refusal's own
    (an ``HTTPException``'s ``Allow``, ``Retry-After``), its content headers left out."""
    if status in MALFORMED_STATUSES:
        _note_malformed(request.remote, f"{request.method} {_route(request)}", reason)
    kept = {name: value for name, value in (headers or {}).items()
            if name.lower() not in _KEPT_OUT}
    return web.json_response({"error": reason}, status=status, headers=kept)


def unexpected(request: web.Request, exc: Exception) -> web.Response:
    """The answer to an exception nobody foresaw: 400 if a channel raised it reading the
    request, 500 otherwise; its traceback logged at most once per route and type a minute."""
    route = f"{request.method} {_route(request)}"
    from_channel = _innermost_ours(exc.__traceback__).startswith("channels.")
    if (held := _BUGS.allow((route, type(exc)))) is not None:
        _log.error("unexpected %s while %s %s from %s%s", type(exc).__name__,
                   "a channel read" if from_channel else "handling", route, request.remote,
                   f" ({held} more of these since the last traceback)" if held else "",
                   exc_info=exc)
    if from_channel:
        return web.json_response({"error": "malformed request"}, status=400)
    return web.json_response({"error": "internal error"}, status=500)


def _note_malformed(client: str | None, route: str, reason: str) -> None:
    held = _CLIENTS.allow(client or "?")
    if held is not None:
        _log.warning("refused a malformed request to %s from %s: %s%s", route, client or "?",
                     reason[:300], f" ({held} more from this client since)" if held else "")


def _route(request: web.Request) -> str:
    """The route's pattern (``/channels/slack/events``), not the path a client made up."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def _innermost_ours(tb: TracebackType | None) -> str:
    """The module of the innermost frame of Parley's own code in ``tb`` ("" if none)."""
    found = ""
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(_OURS):
            found = module
        tb = tb.tb_next
    return found


class _ServerLogFilter(logging.Filter):
    """aiohttp's "Error handling request" records: for HTTP it could not parse, one line
    per client a minute without a traceback (at debug, as aiohttp logs a first request
    that is not HTTP at all, such as TLS on the HTTP port, it stays at debug and is not
    counted); for anything else, the traceback at most once per exception type a minute."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or not record.msg.startswith("Error handling"):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return _BUGS.allow(("aiohttp.server", type(exc))) is not None
        client = str(record.args[0]) if isinstance(record.args, tuple) and record.args else "?"
        held = 0 if record.levelno < logging.WARNING else _CLIENTS.allow(client)
        if held is None:
            return False
        record.msg = "refused a malformed HTTP request from %s: %s%s"
        record.args = (client, " ".join((exc.message or type(exc).__name__).split())[:300],
                       f" ({held} more from this client since)" if held else "")
        record.exc_info, record.exc_text = None, None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup_request_errors(app: web.Application, *,
                         header_checks: Mapping[str, HeaderCheck]) -> None:
    """The app's header checks (route pattern → check; channels add theirs with
    ``add_header_check``), and the filter on ``aiohttp.server``'s log (installed once per
    process, however many apps)."""
    app[_HEADER_CHECKS] = dict(header_checks)
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ServerLogFilter) for f in logger.filters):
        logger.addFilter(_ServerLogFilter())


def add_header_check(app: web.Application, path: str, check: HeaderCheck) -> None:
    """Have ``check`` refuse a request to the route ``path`` before its body is read."""
    app[_HEADER_CHECKS][path] = check


def refuse_from_headers(request: web.Request) -> None:
    """Run the request's route's header check, if it has one (``Unauthorized`` → 401)."""
    resource = request.match_info.route.resource
    checks = request.app.get(_HEADER_CHECKS)
    if resource is not None and checks and (check := checks.get(resource.canonical)):
        check(request)


def malformed_http(request: web.Request, exc: HttpProcessingError) -> web.Response:
    """A body that breaks HTTP's framing (a bad chunk, a Content-Encoding that does not
    decode), found while a handler read it: 400."""
    return refused(request, 400, f"malformed HTTP body: {exc.message or type(exc).__name__}")
