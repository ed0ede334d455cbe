"""``parley desk add-user EMAIL --role ROLE [--team NAME ...]``: make an account of the agent
desk and print its one-time password (and, with ``--token``, an API token) once.

The database is the one ``parley db upgrade`` names (``PARLEY_DATABASE_URL`` or the bot
folder's ``parley.db``, ``--bot-dir``); an empty or older schema is upgraded first. Neither
secret is stored in clear, so this output is the only place they appear: the password must
be changed at first login; the token is for ``Authorization: Bearer`` in API clients.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from gateway.cli.db_command import add_bot_dir_argument, resolve_database_url

if TYPE_CHECKING:
    from desk.accounts import NewUser

__all__ = ["register"]


def register(commands: Any) -> None:
    desk = commands.add_parser("desk", help="the agent desk's accounts")
    tasks = desk.add_subparsers(dest="desk_task", required=True, metavar="TASK")
    add = tasks.add_parser("add-user", help="make an account and print its one-time password")
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=("agent", "supervisor", "admin"),
                     help="agent: works its teams' queues; supervisor: every queue, reassigns; "
                     "admin: also manages users and teams")
    add.add_argument("--team", action="append", default=[], metavar="NAME",
                     help="a team the account works in (repeat for several; made if new)")
    add.add_argument("--name", help="the name agents and users see (default: none)")
    add.add_argument("--token", action="store_true", help="also make an API token")
    add_bot_dir_argument(add)
    add.set_defaults(handler=_add_user)


def _add_user(args: argparse.Namespace) -> int:
    url = resolve_database_url(args.bot_dir)
    new = asyncio.run(_create(url, args))
    user = new.user
    teams = ", ".join(user.teams) if user.teams else "none"
    print(f"Made the {user.role} account {user.email} (teams: {teams}).")
    print(f"One-time password: {new.password}")
    if new.token is not None:
        print(f"API token: {new.token}")
    secrets = "They are" if new.token is not None else "It is"
    print(f"{secrets} shown once; store it now. The password must be changed at first login.")
    return 0


async def _create(url: str, args: argparse.Namespace) -> NewUser:
    from desk.accounts import Accounts
    from desk.database import open_database, redacted, upgrade

    version = await upgrade(url)
    if version.changed:
        print(f"parley desk: upgraded {redacted(url)} to revision {version.after}")
    async with open_database(url) as db:
        return await Accounts(db).add_user(args.email, args.role, args.team, name=args.name,
                                           token=args.token)
