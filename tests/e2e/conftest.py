"""End to end: the real gateway process, a real celery worker, real Redis, a callback sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.fakes.callback_sink import CallbackSink
from tests.processes import (  # noqa: F401  (fixtures)
    GatewayProcess,
    bot_model,
    clean_redis,
    redis_client,
    worker,
)

SECRET = "e2e-test-secret"


@pytest.fixture
def sink() -> Iterator[CallbackSink]:
    with CallbackSink(SECRET) as server:
        yield server


@pytest.fixture
def gateway_env(sink: CallbackSink) -> dict[str, str]:
    return {"PARLEY_WEB_SECRET": SECRET, "PARLEY_WEB_CALLBACK_URL": sink.url,
            "PARLEY_MAX_BODY_BYTES": "4096", "PARLEY_CALLBACK_ATTEMPTS": "5"}


@pytest.fixture
def gateway(gateway_env: dict[str, str], clean_redis: redis.Redis,
            tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "gateway.log", gateway_env)
    yield process
    process.stop()
