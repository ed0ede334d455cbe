"""Typed keys of what the gateway application holds for its lifetime (``app[KEY]``)."""

from __future__ import annotations

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from channels.web.adapter import WebAdapter
from channels.web.session import SessionSigner
from gateway.dispatcher import OutboundDispatcher, Sender
from gateway.ingress import Ingress
from gateway.metrics import GatewayMetrics
from gateway.send_pacing import SendPacer
from gateway.settings import GatewaySettings
from gateway.sweeper import InboxSweeper
from gateway.web.hub import LiveHub
from gateway.web.outbox import WebchatOutbox

__all__ = ["DISPATCHER", "HTTP", "HUB", "INGRESS", "METRICS", "OUTBOX", "PACERS", "REDIS",
           "SENDERS", "SESSIONS", "SETTINGS", "SOCKETS", "SWEEPER", "WEB"]

SETTINGS = web.AppKey("settings", GatewaySettings)
REDIS = web.AppKey("redis", aioredis.Redis)
INGRESS = web.AppKey("ingress", Ingress)
WEB = web.AppKey("web_adapter", WebAdapter)
DISPATCHER = web.AppKey("dispatcher", OutboundDispatcher)
SWEEPER = web.AppKey("sweeper", InboxSweeper)
METRICS = web.AppKey("metrics", GatewayMetrics)
SESSIONS = web.AppKey("sessions", SessionSigner)
OUTBOX = web.AppKey("outbox", WebchatOutbox)
HUB = web.AppKey("hub", LiveHub)
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets")
HTTP = web.AppKey("http", aiohttp.ClientSession)  # outgoing HTTP (callbacks, platform APIs)
# Each messaging channel's start-up puts its sender (and pacer) here before the dispatcher
# starts: the dispatcher delivers a reply with the sender named by its ``channel``.
SENDERS: web.AppKey[dict[str, Sender]] = web.AppKey("senders")
PACERS: web.AppKey[dict[str, SendPacer]] = web.AppKey("pacers")
