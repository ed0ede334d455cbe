"""Alembic's entry point for the desk's migrations.

``desk.database`` runs it with a connection of its own in ``config.attributes["connection"]``
(a sync façade over the async engine, from ``AsyncConnection.run_sync``), inside a
transaction it holds. Alembic's own command line works too, with ``sqlalchemy.url`` set in
its config: then this module opens an async engine itself (or renders SQL with ``--sql``).
SQLite cannot alter most of a table, so its migrations run in batch mode (copy and move).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from desk.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("desk migrations: set sqlalchemy.url (an async-driver URL, as "
                         "desk.database.database_url returns it)")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                          render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_with_own_engine(url))


_main()
