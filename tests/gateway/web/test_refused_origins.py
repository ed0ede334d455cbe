"""The refused-origin log line: once per origin per minute, bounded however many origins."""

from __future__ import annotations

import logging

import pytest

from gateway.web.routes import _RefusedOrigins


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "parley.gateway.webchat"]


def test_one_line_per_origin_per_minute_naming_the_variable(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    refusals = _RefusedOrigins(clock=clock)
    with caplog.at_level(logging.WARNING, logger="parley.gateway.webchat"):
        for _ in range(50):
            refusals.report("https://shop.example")
        refusals.report("https://other.example")
        clock.now += 59
        refusals.report("https://shop.example")
        assert len(_lines(caplog)) == 2
        clock.now += 2
        refusals.report("https://shop.example")
    lines = _lines(caplog)
    assert len(lines) == 3
    assert "'https://shop.example'" in lines[0] and "PARLEY_WEB_ALLOWED_ORIGINS" in lines[0]
    assert "'https://other.example'" in lines[1]
    assert "50 more refusals since the last notice" in lines[2]


def test_a_flood_of_made_up_origins_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    refusals = _RefusedOrigins(clock=clock, most=10)
    with caplog.at_level(logging.WARNING, logger="parley.gateway.webchat"):
        for n in range(1000):
            refusals.report(f"https://{n}.example")
        assert len(_lines(caplog)) == 10
        clock.now += 61  # the remembered ones are forgotten: room for new ones again
        refusals.report("https://late.example")
    assert len(_lines(caplog)) == 11
    assert "late.example" in _lines(caplog)[-1]
