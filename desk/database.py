"""The desk's database of record: which database (``database_url``), one owner of its
connections (``Database``), and its schema's version (``upgrade``, ``is_current``).

PostgreSQL is named by ``PARLEY_DATABASE_URL``; people paste the plain forms (``postgresql://``,
``postgres://``, ``sqlite:///path``), so Parley picks the async drivers itself (asyncpg,
aiosqlite). With no URL the desk keeps a SQLite file, ``parley.db``, in the bot folder: the
same schema and the same code path, so a laptop runs what production runs.

Migrations are Alembic's, shipped inside the package (``desk/migrations``), run from code:
users never need an ``alembic.ini``. A process that finds the schema behind the code stops
with :class:`SchemaNotCurrentError` ("run `parley db upgrade`") instead of failing later on a
missing column.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from asyncpg import InterfaceError as PgInterfaceError
from asyncpg.exceptions import (
    CannotConnectNowError,
    PostgresConnectionError,
    TooManyConnectionsError,
)
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from desk.errors import DatabaseUnavailableError, DatabaseUrlError, SchemaNotCurrentError

__all__ = ["SQLITE_FILENAME", "UNAVAILABLE", "Database", "SchemaVersion", "database_url",
           "downgrade", "ensure_current", "head_revision", "insert_ignoring_duplicates",
           "is_current", "open_database", "redacted", "schema_version", "upgrade"]

_log = logging.getLogger("parley.desk.database")
_T = TypeVar("_T")

SQLITE_FILENAME = "parley.db"
# What a database down or restarting raises (not: this record is bad): the writers off the
# hot path (desk.recorder, desk.archiver) keep their records for later on these.
UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PgInterfaceError,
               PostgresConnectionError, CannotConnectNowError, TooManyConnectionsError)
_ACCEPTED = ("postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or postgres://, "
             "postgresql+asyncpg://) or sqlite:///PATH (or sqlite+aiosqlite:///PATH)")
_POSTGRES = {"postgresql", "postgres", "postgresql+asyncpg"}
_SQLITE = {"sqlite", "sqlite+aiosqlite"}
_MIGRATIONS = Path(__file__).parent / "migrations"
# Two gateway replicas starting together must not both run the same migration.
_PG_MIGRATION_LOCK = 0x7061726C6579  # "parley"


def database_url(raw: str | None, bot_dir: Path) -> str:
    """The async-driver URL for ``raw`` (the value of ``PARLEY_DATABASE_URL``), or the
    bot folder's SQLite file when ``raw`` is unset or blank. A relative SQLite path is taken
    from the current directory, as SQLAlchemy does, and made absolute so that the engine does
    not depend on where the process later runs. Raises :class:`DatabaseUrlError` naming
    the variable and the accepted forms; the message never holds the password."""
    if raw is None or not raw.strip():
        path = (bot_dir / SQLITE_FILENAME).absolute()
        if "?" in str(path):  # a URL would read the rest as its query
            raise DatabaseUrlError(f"the bot folder {bot_dir} has a '?' in its path, which a "
                                   "SQLite URL cannot hold: set PARLEY_DATABASE_URL to "
                                   "sqlite:///PATH elsewhere")
        return URL.create("sqlite+aiosqlite", database=str(path)).render_as_string()
    try:
        url = make_url(raw.strip())
        if url.port is not None and not 0 < url.port < 65536:
            raise ValueError("port out of range")
    except (ArgumentError, ValueError) as exc:
        raise _url_error("is not a database URL") from exc
    if url.drivername in _POSTGRES:
        return _postgres(url)
    if url.drivername in _SQLITE:
        return _sqlite(url)
    raise _url_error(f"uses the scheme {url.drivername!r}, which the desk does not support")


def _postgres(url: URL) -> str:
    if not url.database:
        raise _url_error("names no database (the path after the host)")
    query = dict(url.query)
    if "sslmode" in query:  # libpq's name; asyncpg takes the same modes as ``ssl``
        query["ssl"] = query.pop("sslmode")
    return url.set(drivername="postgresql+asyncpg", query=query).render_as_string(
        hide_password=False)


def _sqlite(url: URL) -> str:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise _url_error("names no SQLite file (an in-memory database would vanish "
                         "between connections)")
    path = Path(url.database).expanduser().absolute()
    return url.set(drivername="sqlite+aiosqlite", database=str(path)).render_as_string()


def _url_error(problem: str) -> DatabaseUrlError:
    return DatabaseUrlError(f"PARLEY_DATABASE_URL {problem}; expected {_ACCEPTED}")


def redacted(url: str) -> str:
    """``url`` with its password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """The owner of the desk's engine and session factory. Sessions come from ``sessions``
    (``async with db.sessions.begin() as session``; ``reads`` for read-only work);
    ``aclose`` returns every connection.
    SQLite connections get foreign keys on, WAL, and transactions that take the write lock
    when they begin (``BEGIN IMMEDIATE``, waiting up to 10 s for it): a transaction that
    read and then writes could otherwise fail at once with "database is locked" when
    another wrote in between. So on SQLite transactions run one at a time — keep them
    short, and never hash a password or call out while one is open."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, **engine_options)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False)
        # Read-only work: on SQLite a deferred transaction, which WAL lets run beside the
        # one writer (``sessions`` begins IMMEDIATE: every read would queue for the lock).
        self.reads: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine.execution_options(parley_begin="DEFERRED"), expire_on_commit=False)
        if self.engine.dialect.name == "sqlite":
            _sqlite_connection_setup(self.engine)

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self.engine.dialect.name

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Database({redacted(self.url)!r})"


def insert_ignoring_duplicates(session: AsyncSession, table: type[Any]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table`` (a mapped class) in the dialect
    of ``session``: how a record stored twice (a redelivered message, a team two requests
    create at once) stays one row without a failed transaction."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


def open_database(url: str) -> Database:
    """A :class:`Database` for ``url`` (as :func:`database_url` returns it). Connections
    are made on first use; close it with ``aclose()`` or use it as ``async with``."""
    return Database(url, pool_pre_ping=True)


def _sqlite_connection_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we send BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        for pragma in ("foreign_keys = ON", "journal_mode = WAL", "busy_timeout = 10000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("parley_begin", "IMMEDIATE")
        connection.exec_driver_sql("BEGIN DEFERRED" if mode == "DEFERRED" else "BEGIN IMMEDIATE")


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """The schema's revision before and after an upgrade (``None``: no desk tables yet)."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def head_revision() -> str:
    """The revision this code needs."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "desk/migrations has no revision"
    return head


async def schema_version(url: str) -> str | None:
    """The database's current revision, ``None`` when it has no desk tables yet."""
    return await _with_connection(url, _current_revision, lock=False)


async def is_current(url: str) -> bool:
    return await schema_version(url) == head_revision()


async def ensure_current(url: str) -> None:
    """Raise :class:`SchemaNotCurrentError` unless the schema is at this code's revision."""
    current, head = await schema_version(url), head_revision()
    if current != head:
        found = f"at revision {current}" if current else "empty"
        raise SchemaNotCurrentError(
            f"the desk's database ({redacted(url)}) is {found}, and this version of Parley "
            f"needs revision {head}: run `parley db upgrade`")


async def upgrade(url: str, revision: str = "head") -> SchemaVersion:
    """Run the migrations up to ``revision``, in one transaction (DDL is transactional on
    both backends), and say from which revision to which."""
    return await _migrate(url, "upgrade", revision)


async def downgrade(url: str, revision: str = "base") -> SchemaVersion:
    """Undo migrations down to ``revision`` (``base``: drop every desk table)."""
    return await _migrate(url, "downgrade", revision)


async def _migrate(url: str, direction: str, revision: str) -> SchemaVersion:
    def run(connection: Connection) -> SchemaVersion:
        from alembic import command

        before = _current_revision(connection)
        config = _alembic_config()
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)
        return SchemaVersion(before, _current_revision(connection))

    version = await _with_connection(url, run, lock=True)
    if version.changed:
        _log.info("desk schema %s: %s → %s", direction, version.before, version.after)
    return version


async def _with_connection(url: str, work: Callable[[Connection], _T], *, lock: bool) -> _T:
    _check_sqlite_folder(url)
    db = Database(url)
    try:
        try:
            connection = await db.engine.connect()
        except Exception as exc:  # each driver has its own family: refused, no such database...
            raise DatabaseUnavailableError(
                f"cannot reach the desk's database ({redacted(url)}): {_reason(exc)}") from exc
        try:
            async with connection.begin():
                if lock and db.dialect == "postgresql":
                    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                             {"key": _PG_MIGRATION_LOCK})
                return await connection.run_sync(work)
        finally:
            await connection.close()
    finally:
        await db.aclose()


def _check_sqlite_folder(url: str) -> None:
    """A SQLite file in a missing folder cannot be made: say so before aiosqlite fails (its
    failed connect also leaves a thread behind that reports to the event loop later)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and \
            not Path(parsed.database).parent.is_dir():
        raise DatabaseUnavailableError(f"cannot make the desk's database {parsed.database}: "
                                       f"the folder {Path(parsed.database).parent} does not exist")


def _reason(exc: Exception) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return str(orig).splitlines()[0] if str(orig) else type(orig).__name__


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config
