"""``parley privacy purge``: delete now the conversations of the desk's database whose last
activity is older than ``PARLEY_ARCHIVE_RETENTION_DAYS`` (or ``--older-than-days N``), with
everything of them (``desk.retention``), and print the rows deleted per table.

The archivers (each gateway's, or ``parley archiver``) do the same every hour; this is for
an operator who wants it done now, or — ``--dry-run`` — to see what it would delete (the
same counts, nothing deleted). The database is ``--database-url``, else the one ``parley db
upgrade`` names. A deletion is written to the audit log, whose entries are encrypted: it
takes the keys as ``parley privacy rotate-keys`` does (the environment's, else the bot
folder's). A bad value, an unreachable database or a schema behind the code is one line and
exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.cli.privacy_database import (
    add_database_arguments,
    positive_whole_number,
    task_database,
    task_database_url,
)

__all__ = ["register"]


def register(privacy_subparsers: Any) -> None:
    purge = privacy_subparsers.add_parser(
        "purge", help="delete the conversations older than PARLEY_ARCHIVE_RETENTION_DAYS "
        "from the desk's database (--dry-run: only count them)")
    add_database_arguments(purge)
    purge.add_argument("--older-than-days", type=positive_whole_number, metavar="N",
                       help="purge conversations quiet for more than N days (default: "
                       "PARLEY_ARCHIVE_RETENTION_DAYS, 365)")
    purge.add_argument("--dry-run", action="store_true",
                       help="print what would be deleted, per table, and delete nothing")
    purge.add_argument("--batch", type=positive_whole_number, default=500, help=argparse.SUPPRESS)
    purge.set_defaults(handler=_purge)


def _purge(args: argparse.Namespace) -> int:
    from desk.database import redacted
    from desk.retention import ArchiveRetention
    from gateway.cli.encryption_setup import configure_for_tool

    days = args.older_than_days or ArchiveRetention.from_env().days
    if days is None:
        print("parley privacy purge: PARLEY_ARCHIVE_RETENTION_DAYS is off, so nothing is "
              "purged (give --older-than-days N to purge anyway)")
        return 0
    url = task_database_url(args.database_url, args.bot_dir)
    if not args.dry_run:  # the audit entry of the deletion is encrypted
        configure_for_tool(os.environ, args.bot_dir)
    cutoff = datetime.now(UTC) - timedelta(days=days)
    where = redacted(url).replace("sqlite+aiosqlite:///", "")
    print(f"parley privacy purge: {where}, conversations quiet for more than {days} days "
          f"(since before {cutoff.isoformat(timespec='seconds')})"
          f"{'; dry run, nothing is deleted' if args.dry_run else ''}", flush=True)
    counts = asyncio.run(_run(url, cutoff, batch=args.batch, dry_run=args.dry_run))
    width = max(len(table) for table in counts)
    for table, n in counts.items():
        print(f"{table:<{width}}  {n}")
    total = sum(counts.values())
    print(f"would delete {total} rows" if args.dry_run else f"done: {total} rows deleted")
    return 0


async def _run(url: str, cutoff: datetime, *, batch: int, dry_run: bool) -> dict[str, int]:
    from desk import audit
    from desk.purge_job import log_purge
    from desk.retention import purge_archive

    async with task_database(url, during="the purge",
                             again="run it again: it goes on where it stopped") as db:
        counts = await purge_archive(db, cutoff=cutoff, batch=batch, dry_run=dry_run)
        log_purge(counts, cutoff, dry_run=dry_run)
        if not dry_run and any(counts.values()):
            await audit.record(db, actor=None, action="archive.purged", detail={
                "cutoff": cutoff.isoformat(), "rows": counts, "by": "parley privacy purge"})
    return counts
