"""Typed keys of what the gateway application holds for its lifetime (``app[KEY]``)."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web

from channels.web import WebAdapter
from channels.web_session import SessionSigner
from gateway.dispatcher import OutboundDispatcher
from gateway.ingress import Ingress
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from gateway.webchat_hub import LiveHub
from gateway.webchat_outbox import WebchatOutbox

__all__ = ["DISPATCHER", "HUB", "INGRESS", "METRICS", "OUTBOX", "REDIS", "SESSIONS",
           "SETTINGS", "SOCKETS", "WEB"]

SETTINGS = web.AppKey("settings", GatewaySettings)
REDIS = web.AppKey("redis", aioredis.Redis)
INGRESS = web.AppKey("ingress", Ingress)
WEB = web.AppKey("web_adapter", WebAdapter)
DISPATCHER = web.AppKey("dispatcher", OutboundDispatcher)
METRICS = web.AppKey("metrics", GatewayMetrics)
SESSIONS = web.AppKey("sessions", SessionSigner)
OUTBOX = web.AppKey("outbox", WebchatOutbox)
HUB = web.AppKey("hub", LiveHub)
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets")
