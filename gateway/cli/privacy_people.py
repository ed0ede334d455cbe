"""``parley privacy export --person CHANNEL:USER`` and ``parley privacy erase --person …``:
a person's rights of access and erasure from the command line (``desk.person_rights``; the
desk's API has the same for admins).

``export`` prints everything held about the person — their conversations' state in Redis
and their rows in the database, decrypted — as JSON (``--output FILE`` writes it there,
readable by its owner only). ``erase`` removes all of it and prints what went; it asks for
``--yes``. Both are written to the audit log (by "the command line", under the person's
pseudonym). Redis is ``PARLEY_REDIS_URL``, the database ``--database-url`` or the one ``parley
db upgrade`` names, the keys the environment's or the bot folder's. Errors are one line
and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from gateway.cli.privacy_database import add_database_arguments, task_database, task_database_url

__all__ = ["register"]


def register(privacy_subparsers: Any) -> None:
    export = privacy_subparsers.add_parser(
        "export", help="print everything held about one person (JSON)")
    _person_arguments(export)
    export.add_argument("--output", "-o", metavar="FILE", type=Path,
                        help="write the JSON to FILE (mode 0600) instead of standard output")
    export.set_defaults(handler=_export)
    erase = privacy_subparsers.add_parser(
        "erase", help="remove everything held about one person from Redis and the database")
    _person_arguments(erase)
    erase.add_argument("--yes", action="store_true",
                       help="erase without asking (required: there is no undo)")
    erase.set_defaults(handler=_erase)


def _person_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--person", required=True, metavar="CHANNEL:USER", action="append",
                        help="the person: the channel and the platform's user id, such as "
                        "whatsapp:+15005550006 or slack:U0PERSON1 (repeat it for the same "
                        "person's ids on other channels)")
    add_database_arguments(parser)


def _export(args: argparse.Namespace) -> int:
    exported = asyncio.run(_run(args, erase=False))
    text = json.dumps(exported, ensure_ascii=False, indent=2, default=str)
    if args.output is None:
        print(text)
        return 0
    descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    print(f"parley privacy export: {len(exported['conversations'])} conversations written "
          f"to {args.output}", file=sys.stderr)
    return 0


def _erase(args: argparse.Namespace) -> int:
    if not args.yes:
        print("parley: error: erasing cannot be undone: add --yes to erase everything held "
              "about this person", file=sys.stderr)
        return 2
    removed = asyncio.run(_run(args, erase=True))
    for kind, count in removed.items():
        print(f"{kind}  {count}")
    print(f"done: {sum(removed.values())} keys, stream entries and rows removed")
    return 0


async def _run(args: argparse.Namespace, *, erase: bool) -> Any:
    import redis.asyncio as aioredis

    from desk.errors import DatabaseUnavailableError
    from desk.people import parse_person
    from desk.person_rights import erase_person, export_person
    from gateway.cli.encryption_setup import configure_for_tool

    people = list(dict.fromkeys(parse_person(text) for text in args.person))
    redis_url = os.environ.get("PARLEY_REDIS_URL", "")
    if not redis_url:
        raise DatabaseUnavailableError("PARLEY_REDIS_URL must name the Redis of the "
                                       "gateways and workers (the person's state is there)")
    url = task_database_url(args.database_url, args.bot_dir)
    configure_for_tool(os.environ, args.bot_dir)
    client = aioredis.Redis.from_url(redis_url, socket_timeout=30)
    try:
        await client.ping()
    except aioredis.RedisError as exc:
        raise DatabaseUnavailableError(f"Redis at PARLEY_REDIS_URL does not answer "
                                       f"({type(exc).__name__})") from None
    try:
        async with task_database(url, during="the erasure" if erase else "the export",
                                 again="run it again") as db:
            if erase:
                return await erase_person(db, client, people, actor=None, via="command line")
            return await export_person(db, client, people, actor=None,
                                         via="command line")
    finally:
        await client.aclose()
