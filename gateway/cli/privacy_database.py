"""The desk database a ``parley privacy`` task works on: ``--database-url`` (named as such
in its errors), else the one ``parley db upgrade`` names; a SQLite file that does not exist
is named, never made (and found empty); a schema behind the code, or a database lost while
the task runs, is one error line."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli.db_command import add_bot_dir_argument, resolve_database_url

if TYPE_CHECKING:
    from desk.database import Database

__all__ = ["add_database_arguments", "check_file", "positive_whole_number", "task_database",
           "task_database_url"]


def positive_whole_number(raw: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {raw!r}")
    return int(raw)


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """``--database-url`` and the bot folder (whose ``parley.db`` and key are the defaults)."""
    parser.add_argument("--database-url", metavar="URL",
                        help="the database (default: PARLEY_DATABASE_URL, else parley.db in "
                        "the bot folder)")
    add_bot_dir_argument(parser)


def task_database_url(raw: str | None, bot_dir: Path) -> str:
    """The task's database URL, as ``desk.database.database_url`` gives it."""
    from desk.database import database_url
    from desk.errors import DatabaseUrlError

    if not raw:
        return resolve_database_url(bot_dir)
    try:
        return database_url(raw, bot_dir)
    except DatabaseUrlError as exc:  # its message names the variable; here it is the option
        raise DatabaseUrlError(str(exc).replace("PARLEY_DATABASE_URL", "--database-url", 1)
                               ) from None


def check_file(url: str) -> None:
    """A SQLite file that does not exist is one error, not a new empty database."""
    from sqlalchemy.engine import make_url

    from desk.errors import DatabaseUnavailableError

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise DatabaseUnavailableError(f"there is no desk database at {parsed.database}")


@contextlib.asynccontextmanager
async def task_database(url: str, *, during: str, again: str) -> AsyncIterator[Database]:
    """The task's database, checked (it exists, its schema is current) and open; losing it
    inside the block is one ``DatabaseUnavailableError``: "lost … during ``during``
    (…); ``again``"."""
    from desk.database import UNAVAILABLE, ensure_current, open_database, redacted
    from desk.errors import DatabaseUnavailableError

    check_file(url)
    await ensure_current(url)  # unreachable or behind: one line
    async with open_database(url) as db:
        try:
            yield db
        except UNAVAILABLE as exc:
            raise DatabaseUnavailableError(
                f"lost the desk's database ({redacted(url)}) during {during} "
                f"({type(exc).__name__}); {again}") from exc
