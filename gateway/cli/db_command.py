"""``parley db upgrade [BOTDIR]``: bring the desk's database schema up to this version.

The database is ``PARLEY_DATABASE_URL`` (PostgreSQL, or ``sqlite:///PATH``) or, when that is
unset, the SQLite file ``parley.db`` in the bot folder — the one ``parley run`` uses. Safe
to run again and from several replicas at once (PostgreSQL: an advisory lock; both: one
transaction). ``parley desk add-user`` and the gateway upgrade an empty database themselves;
run this one before starting a new version of Parley on an existing database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

__all__ = ["add_bot_dir_argument", "register", "resolve_database_url"]

DEFAULT_BOT_DIR = Path("examples/support_bot")  # as ``parley run``


def register(commands: Any) -> None:
    db = commands.add_parser("db", help="the desk's database (PARLEY_DATABASE_URL, or "
                             "parley.db in the bot folder)")
    tasks = db.add_subparsers(dest="db_task", required=True, metavar="TASK")
    upgrade = tasks.add_parser("upgrade", help="create or upgrade the desk's tables")
    upgrade.add_argument("bot_dir", nargs="?", type=Path, default=DEFAULT_BOT_DIR,
                         metavar="BOTDIR", help="the bot folder whose parley.db to use when "
                         f"PARLEY_DATABASE_URL is unset (default: {DEFAULT_BOT_DIR})")
    upgrade.set_defaults(handler=_upgrade)


def add_bot_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--bot-dir`` (or ``--bot``), for commands that take the database from the bot
    folder but have other positional arguments."""
    parser.add_argument("--bot-dir", "--bot", dest="bot_dir", type=Path,
                        default=DEFAULT_BOT_DIR, metavar="BOTDIR",
                        help="the bot folder whose parley.db to use when PARLEY_DATABASE_URL "
                        f"is unset (default: {DEFAULT_BOT_DIR})")


def resolve_database_url(bot_dir: Path) -> str:
    """The database of this command: ``PARLEY_DATABASE_URL``, else the bot folder's file
    (which must be a folder that exists: a typo should not make a new database elsewhere)."""
    from desk.database import database_url
    from desk.errors import DatabaseUrlError

    raw = os.environ.get("PARLEY_DATABASE_URL")
    if (raw is None or not raw.strip()) and not bot_dir.is_dir():
        raise DatabaseUrlError(f"{bot_dir} is not a folder, and PARLEY_DATABASE_URL is unset: "
                               "name the bot folder whose parley.db to use, or set "
                               "PARLEY_DATABASE_URL")
    return database_url(raw, bot_dir)


def _upgrade(args: argparse.Namespace) -> int:
    from desk.database import redacted, upgrade

    url = resolve_database_url(args.bot_dir)
    version = asyncio.run(upgrade(url))
    where = redacted(url)
    if not version.changed:
        print(f"parley db upgrade: {where} is up to date (revision {version.after})")
    else:
        before = f"revision {version.before}" if version.before else "an empty database"
        print(f"parley db upgrade: upgraded {where} from {before} to revision {version.after}")
    return 0
