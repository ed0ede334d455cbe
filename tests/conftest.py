"""Shared test set-up: a clean PARLEY_* environment per test, the fixture bots, and the
hypothesis profile of the property tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from channels.log_privacy import uninstall_log_privacy
from desk import encryption

# Property tests: no deadline (two shared cores under a full suite make timings noise) and
# a bounded number of examples, so that each parser's properties take seconds. The example
# database lives in .hypothesis/ (ignored by git). HYPOTHESIS_PROFILE=parley-long runs more.
settings.register_profile("parley", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("parley-long", parent=settings.get_profile("parley"),
                          max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "parley"))

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
# The key of the desk's records: this process's ring in every test, and the
# PARLEY_ENCRYPTION_KEYS of the gateways and archivers tests start (tests.processes).
TEST_ENCRYPTION_KEY = encryption.new_key()


@pytest.fixture(autouse=True)
def _encryption_ring() -> Iterator[None]:
    """Encryption at rest on, as in production, so that every test exercises it."""
    encryption.configure(encryption.KeyRing.from_keys([TEST_ENCRYPTION_KEY]))
    yield
    encryption.configure(None)


@pytest.fixture(autouse=True)
def _scrub_parley_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("PARLEY_"):
            monkeypatch.delenv(name)
    yield
    uninstall_log_privacy()  # an entry point run in this process installed it


@pytest.fixture(scope="session")
def tiny_bot() -> Path:
    return FIXTURES / "bots" / "tiny_bot"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give schemathesis's cases node ids of their own. It names each operation's case
    ``test_x[POST /path]`` but leaves them all one node id, and pytest-xdist, which
    schedules by node id, then ran one of the 12 and dropped the rest without a word."""
    from _pytest.nodeid import coerce_node_id  # pytest 9 keeps the id here (pinned <10)

    for item in items:
        if item.name != getattr(item, "originalname", item.name) and "[" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid.rsplit('::', 1)[0]}::{item.name}")
