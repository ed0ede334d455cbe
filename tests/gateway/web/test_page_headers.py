"""The pages' protective headers: the chat page allows scripts from the gateway only and
framing by the gateway and ``PARLEY_WEB_ALLOWED_ORIGINS`` only; the desk's pages may not be
framed at all. (That Chromium obeys them is tests/e2e/test_webchat_origins.py's part.)"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.processes import REDIS_URL

SHOP = "https://shop.example"


async def _page_headers(settings: GatewaySettings, path: str = "/") -> CIMultiDictProxy[str]:
    async with TestServer(create_app(settings), host="127.0.0.1") as server, \
            aiohttp.ClientSession() as http, http.get(server.make_url(path)) as answer:
        assert answer.status == 200
        return answer.headers


def _directives(policy: str) -> dict[str, list[str]]:
    pairs = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in pairs}


def test_the_chat_page_is_framed_only_by_the_allowed_origins() -> None:
    headers = asyncio.run(_page_headers(GatewaySettings(redis_url=REDIS_URL,
                                                        allowed_origins=(SHOP,))))
    policy = _directives(headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'self'", SHOP]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval
    assert "'unsafe-inline'" not in policy["default-src"]
    assert "X-Frame-Options" not in headers  # it cannot name SHOP; CSP says it instead
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_without_allowed_origins_only_the_gateway_may_frame_the_chat() -> None:
    headers = asyncio.run(_page_headers(GatewaySettings(redis_url=REDIS_URL)))
    assert _directives(headers["Content-Security-Policy"])["frame-ancestors"] == ["'self'"]
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
