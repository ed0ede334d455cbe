"""The desk's part of ``parley run``: its database ready, and a first account to log in with.

With no ``PARLEY_DATABASE_URL`` the desk keeps its records in the bot folder's SQLite file.
The schema is brought up to date (``parley db upgrade`` does the same for a production
database), the teams of ``desk.yml`` are created, and when no account exists yet an admin
who belongs to every team is made, with a one-time password printed once: the newcomer
logs in at ``/desk`` and is the agent the bot hands conversations to.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FIRST_ADMIN", "DeskReady", "desk_teams", "prepare_desk"]

FIRST_ADMIN = "admin@localhost"


@dataclass(frozen=True, slots=True)
class DeskReady:
    """What the person starting Parley is told: where the records are, and the first
    admin's one-time password (``None`` when accounts existed already)."""

    where: str
    admin_email: str | None = None
    admin_password: str | None = None


def prepare_desk(url: str, teams: list[str]) -> DeskReady:
    """Upgrade the schema at ``url``, create ``teams``, and the first admin if nobody
    has an account."""
    return asyncio.run(_prepare(url, teams))


async def _prepare(url: str, teams: list[str]) -> DeskReady:
    from desk.accounts import Accounts
    from desk.database import open_database, redacted, upgrade

    await upgrade(url)
    db = open_database(url)
    try:
        accounts = Accounts(db)
        await accounts.ensure_teams(teams)
        where = redacted(url).replace("sqlite+aiosqlite:///", "")
        if await accounts.count_users():
            return DeskReady(where)
        new = await accounts.add_user(FIRST_ADMIN, "admin", teams, name="Admin")
        return DeskReady(where, new.user.email, new.password)
    finally:
        await db.aclose()


def desk_teams(bot_dir: Path) -> list[str]:
    from brain.handoff.settings import load_desk_settings

    return sorted(load_desk_settings(bot_dir).teams)
