"""Desk API: the analytics report (``desk.analytics``) as JSON, for supervisors and admins.

``GET /desk/api/analytics?from=YYYY-MM-DD&to=YYYY-MM-DD&channel=NAME&tz=ZONE``: the days
``from``..``to`` inclusive in ``tz`` (default UTC), the last 7 days when the bounds are left
out. A range, channel or zone that cannot be reported on is a 400 saying which and why.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from desk.analytics import analytics, default_range, parse_day
from desk.context import CONTEXT, error, principal

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/analytics", _analytics)


async def _analytics(request: web.Request) -> web.Response:
    context, caller = request.app[CONTEXT], principal(request).user
    if not caller.is_supervisor:
        return error(403, "only supervisors and admins see the analytics")
    query = request.query
    tz = query.get("tz", "UTC")
    # A bad range, channel or zone raises AnalyticsRangeError: the middleware's 400.
    start = parse_day(query["from"], "from") if "from" in query else None
    end = parse_day(query["to"], "to") if "to" in query else None
    start, end = default_range(start, end, tz)
    report = await analytics(context.db, start=start, end=end, channel=query.get("channel"),
                             tz=tz)
    return web.Response(body=msgspec.json.encode(report), content_type="application/json",
                        charset="utf-8", headers={"Cache-Control": "no-store"})
