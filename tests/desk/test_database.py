"""desk.database: which URLs are accepted and what they become, the migrations up and down
on both backends (and that they build exactly what desk.schema declares), the schema check,
and what each connection of SQLite is set up with."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, text

from desk.database import (
    Database,
    SchemaVersion,
    database_url,
    downgrade,
    ensure_current,
    head_revision,
    is_current,
    open_database,
    redacted,
    schema_version,
    upgrade,
)
from desk.errors import DatabaseUnavailableError, DatabaseUrlError, DeskError, SchemaNotCurrentError
from desk.schema import AuditEntryRow, Base
from tests.desk.conftest import Run

TABLES = {"users", "teams", "user_teams", "api_tokens", "handoffs", "handoff_messages", "notes",
          "audit_log", "conversations", "turns", "messages", "feedback", "review_labels"}


@pytest.mark.parametrize(("raw", "expected"), [
    ("postgresql://ana@db.example:5433/desk", "postgresql+asyncpg://ana@db.example:5433/desk"),
    ("postgres://ana:s3cret@db.example/desk", "postgresql+asyncpg://ana:s3cret@db.example/desk"),
    ("postgresql+asyncpg://ana@db.example/desk", "postgresql+asyncpg://ana@db.example/desk"),
    ("  postgresql://ana@db.example/desk\n", "postgresql+asyncpg://ana@db.example/desk"),
    ("postgresql://ana@db.example/desk?sslmode=require",
     "postgresql+asyncpg://ana@db.example/desk?ssl=require"),
    ("sqlite:////var/lib/parley/desk.db", "sqlite+aiosqlite:////var/lib/parley/desk.db"),
    ("sqlite+aiosqlite:////var/lib/parley/desk.db", "sqlite+aiosqlite:////var/lib/parley/desk.db"),
])
def test_plain_urls_get_the_async_drivers(raw: str, expected: str, tmp_path: Path) -> None:
    assert database_url(raw, tmp_path) == expected


def test_a_relative_sqlite_path_is_taken_from_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_url("sqlite:///data/desk.db", Path("bot")) == \
        f"sqlite+aiosqlite:///{tmp_path}/data/desk.db"


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_no_url_is_a_sqlite_file_in_the_bot_folder(raw: str | None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_url(raw, Path("mybot")) == f"sqlite+aiosqlite:///{tmp_path}/mybot/parley.db"


@pytest.mark.parametrize(("raw", "problem"), [
    ("not a url", "is not a database URL"),
    ("mysql://ana:hunter2@db.example/desk", "scheme 'mysql'"),
    ("postgresql+psycopg2://ana:hunter2@db.example/desk", "scheme 'postgresql+psycopg2'"),
    ("postgresql://ana:hunter2@db.example:99999/desk", "is not a database URL"),
    ("postgresql://ana:hunter2@db.example:port/desk", "is not a database URL"),
    ("postgresql://ana:hunter2@db.example", "names no database"),
    ("sqlite://", "names no SQLite file"),
    ("sqlite:///:memory:", "names no SQLite file"),
])
def test_bad_urls_are_one_clear_error_without_the_password(raw: str, problem: str,
                                                           tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        database_url(raw, tmp_path)
    message = str(caught.value)
    assert message.startswith("PARLEY_DATABASE_URL ")
    assert problem in message
    assert "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE" in message
    assert "sqlite:///PATH" in message
    assert "hunter2" not in message
    assert isinstance(caught.value, DeskError)
    assert str(pickle.loads(pickle.dumps(caught.value))) == message


def test_a_bot_folder_that_no_url_can_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError, match=r"has a '\?' in its path"):
        database_url(None, tmp_path / "what?")


def test_the_password_is_masked_where_a_url_is_shown() -> None:
    url = "postgresql+asyncpg://ana:hunter2@db.example/desk"
    assert "hunter2" not in redacted(url)
    assert "hunter2" not in repr(open_database(url))  # no connection is made


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def _inspect(url: str, read: object) -> object:
    async with open_database(url) as db, db.engine.connect() as connection:
        return await connection.run_sync(read)  # type: ignore[arg-type]


def test_migrations_go_up_to_what_the_models_declare_and_down_again(database_url: str,
                                                                    run: Run[object]) -> None:
    assert run(schema_version(database_url)) is None
    assert run(is_current(database_url)) is False

    assert run(upgrade(database_url)) == SchemaVersion(None, head_revision())
    assert run(is_current(database_url)) is True
    assert run(_inspect(database_url, _tables)) == TABLES
    assert run(_inspect(database_url, _differences)) == []
    assert run(upgrade(database_url)) == SchemaVersion(head_revision(), head_revision())

    assert run(downgrade(database_url)) == SchemaVersion(head_revision(), None)
    assert run(_inspect(database_url, _tables)) == set()
    assert run(upgrade(database_url)).after == head_revision()  # and up again from base


def test_a_schema_behind_the_code_says_to_run_the_upgrade(database_url: str,
                                                         run: Run[object]) -> None:
    with pytest.raises(SchemaNotCurrentError, match=r"is empty.*run `parley db upgrade`"):
        run(ensure_current(database_url))
    run(upgrade(database_url))
    run(ensure_current(database_url))


def test_a_database_that_does_not_answer_is_one_clear_error(tmp_path: Path,
                                                           run: Run[object]) -> None:
    url = database_url("postgresql://ana:hunter2@127.0.0.1:1/desk", tmp_path)
    with pytest.raises(DatabaseUnavailableError, match="cannot reach the desk's database") as e:
        run(upgrade(url))
    assert "hunter2" not in str(e.value)
    missing = database_url(f"sqlite:///{tmp_path}/no/such/folder/desk.db", tmp_path)
    with pytest.raises(DatabaseUnavailableError, match=r"the folder .*/no/such/folder does not"):
        run(schema_version(missing))


def test_times_come_back_aware_and_in_utc(database: Database, run: Run[object]) -> None:
    async def scenario() -> datetime:
        at = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
        async with database.sessions.begin() as session:
            session.add(AuditEntryRow(at=at, action="test", detail={}))
        async with database.sessions() as session:
            stored: datetime = await session.scalar(select(AuditEntryRow.at))
        return stored

    stored = run(scenario())
    assert stored == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert stored.utcoffset() == timedelta(0)


def test_naive_times_are_refused(database: Database, run: Run[object]) -> None:
    async def scenario() -> None:
        async with database.sessions.begin() as session:
            session.add(AuditEntryRow(at=datetime(2026, 3, 1), action="test", detail={}))

    with pytest.raises(Exception, match="naive datetime"):
        run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_connections_enforce_foreign_keys_and_use_wal(database: Database,
                                                             run: Run[object]) -> None:
    async def scenario() -> tuple[object, object]:
        async with database.engine.connect() as connection:
            keys = await connection.scalar(text("PRAGMA foreign_keys"))
            journal = await connection.scalar(text("PRAGMA journal_mode"))
        return keys, journal

    assert run(scenario()) == (1, "wal")
