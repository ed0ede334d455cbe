"""The demo orders HTTP API (see ``integrations/orders.py`` for the contract).

Refunds are idempotent: a repeated ``Idempotency-Key`` returns the first answer (status
200 instead of 201) and files nothing new. Cancelled orders cannot be refunded (409).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

DATA = Path(__file__).with_name("orders.json")
_ORDERS: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("orders", dict)
_REFUNDS: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("refunds", dict)


def create_app(data_path: Path = DATA) -> web.Application:
    app = web.Application()
    orders = json.loads(data_path.read_text(encoding="utf-8"))["orders"]
    app[_ORDERS] = {order["id"].upper(): order for order in orders}
    app[_REFUNDS] = {}
    app.router.add_get("/healthz", _health)
    app.router.add_get("/orders/{order_id}", _get_order)
    app.router.add_post("/refunds", _post_refund)
    return app


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _get_order(request: web.Request) -> web.Response:
    order = request.app[_ORDERS].get(request.match_info["order_id"].strip().upper())
    if order is None:
        return _error(404, "order not found")
    return web.json_response(order)


async def _post_refund(request: web.Request) -> web.Response:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return _error(400, "the Idempotency-Key header is required")
    earlier = request.app[_REFUNDS].get(key)
    if earlier is not None:
        return web.json_response(earlier, status=200)
    try:
        body = await request.json()
        order_id, reason = str(body["order_id"]).strip().upper(), str(body["reason"])
    except (ValueError, KeyError, TypeError):
        return _error(400, "expected JSON with order_id and reason")
    order = request.app[_ORDERS].get(order_id)
    if order is None:
        return _error(404, "order not found")
    if order["status"] == "cancelled":
        return _error(409, "a cancelled order cannot be refunded")
    refund = {"reference": f"RF-{secrets.token_hex(3).upper()}", "order_id": order["id"],
              "reason": reason, "status": "filed"}
    request.app[_REFUNDS][key] = refund
    return web.json_response(refund, status=201)
