"""End to end: the real gateway process, a real celery worker, real Redis, a callback sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.key_expiry import keys_without_expiry
from tests.fakes.callback_sink import CallbackSink
from tests.processes import (  # noqa: F401  (fixtures)
    GatewayProcess,
    bot_model,
    redis_client,
    worker,
)

SECRET = "e2e-test-secret"


@pytest.fixture
def clean_redis(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """Our Redis database, empty before and after the test; and before it is emptied, every
    key the test's gateways, workers and desks left must expire (``workers.retention``)
    unless it is documented as global or belongs to an open handoff: the test fails naming
    the others."""
    redis_client.flushdb()
    yield redis_client
    try:
        lasting = keys_without_expiry(redis_client)
    finally:
        redis_client.flushdb()
    if lasting:
        pytest.fail("keys without an expiry (not in workers.retention.GLOBAL_KEYS, not an "
                    f"open handoff's): {', '.join(lasting)}", pytrace=False)


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
