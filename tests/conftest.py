"""Shared test set-up: a clean PARLEY_* environment per test, and the fixture bots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _scrub_parley_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("PARLEY_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="session")
def tiny_bot() -> Path:
    return FIXTURES / "bots" / "tiny_bot"
