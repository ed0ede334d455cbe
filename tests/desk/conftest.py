"""Fixtures of the desk's tests: a fresh database of each kind, and one event loop per test.

``database_url`` is parametrized: ``postgresql`` is a database ``parley_test_<hex>`` of its
own on the machine's PostgreSQL (postgresql://postgres@127.0.0.1:5432, trust auth; .ci/run
makes sure it answers), created and dropped around the test through the maintenance
database; ``sqlite`` is a file in ``tmp_path``. ``database`` has the schema upgraded and an
open :class:`desk.database.Database`.

There is no pytest-asyncio: a test runs its coroutines with ``run``, which drives one event
loop for the whole test. The ``database`` fixture opens and closes its connections on that
same loop (asyncpg connections belong to the loop that made them).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from desk.database import Database, open_database, upgrade
from desk.database import database_url as desk_url

T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
MAINTENANCE_DB = f"{POSTGRES_SERVER}/postgres"


async def _maintenance(statement: str) -> None:
    try:
        connection = await asyncpg.connect(MAINTENANCE_DB, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL does not answer at {MAINTENANCE_DB} ({exc}); .ci/run starts "
                    "one", pytrace=False)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The plain URL of a new, empty PostgreSQL database, dropped after the test."""
    name = f"parley_test_{secrets.token_hex(6)}"
    asyncio.run(_maintenance(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        asyncio.run(_maintenance(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The async-driver URL of an empty database of each kind."""
    if request.param == "sqlite":
        return desk_url(f"sqlite:///{tmp_path / 'desk.db'}", tmp_path)
    return desk_url(request.getfixturevalue("postgres_url"), tmp_path)


@pytest.fixture
def run() -> Iterator[Run[Any]]:
    """Run a coroutine to completion on this test's event loop."""
    with asyncio.Runner() as runner:
        yield runner.run


@pytest.fixture
def database(database_url: str, run: Run[Any]) -> Iterator[Database]:
    """An open database with the desk's schema at head."""
    run(upgrade(database_url))
    db = open_database(database_url)
    try:
        yield db
    finally:
        run(db.aclose())
