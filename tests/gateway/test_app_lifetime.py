"""A start-up step that fails closes the steps entered before it (aiohttp alone would leave
them open: their connections leak and a background task can hang the loop's shutdown)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from gateway.app import _all_or_nothing


def test_a_failing_step_unwinds_the_steps_before_it_in_reverse() -> None:
    events: list[str] = []

    def opened(name: str):  # type: ignore[no-untyped-def]
        async def step(app: web.Application) -> AsyncIterator[None]:
            events.append(f"open {name}")
            try:
                yield
            finally:
                events.append(f"close {name}")
        return step

    async def failing(app: web.Application) -> AsyncIterator[None]:
        raise RuntimeError("the platform refused the token")
        yield

    async def scenario() -> None:
        app = web.Application()
        for step in (opened("redis"), opened("hub"), failing, opened("dispatcher")):
            app.cleanup_ctx.append(step)
        _all_or_nothing(app)
        app.freeze()
        with pytest.raises(RuntimeError, match="refused the token"):
            await app.startup()

    asyncio.run(scenario())
    assert events == ["open redis", "open hub", "close hub", "close redis"]


def test_steps_close_in_reverse_on_a_normal_cleanup() -> None:
    events: list[str] = []

    def opened(name: str):  # type: ignore[no-untyped-def]
        async def step(app: web.Application) -> AsyncIterator[None]:
            events.append(f"open {name}")
            yield
            events.append(f"close {name}")
        return step

    async def scenario() -> None:
        app = web.Application()
        app.cleanup_ctx.append(opened("a"))
        app.cleanup_ctx.append(opened("b"))
        _all_or_nothing(app)
        app.freeze()
        await app.startup()
        await app.cleanup()

    asyncio.run(scenario())
    assert events == ["open a", "open b", "close b", "close a"]
