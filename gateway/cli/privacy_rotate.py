"""``parley privacy rotate-keys``: re-encrypt every record of the desk's database under the
first key of ``PARLEY_ENCRYPTION_KEYS`` (``desk.key_rotation``), and ``parley privacy
new-key``: print a new key to put first.

Rotating: put the new key first (``PARLEY_ENCRYPTION_KEYS=NEW,OLD``) everywhere and restart,
run ``rotate-keys`` (while the gateways run, if need be; again after a stop, it resumes),
then drop the old key. The plaintext rows from before encryption, or from a time it was
off, are encrypted by the same run. The database is ``--database-url``, else the one
``parley db upgrade`` names; the keys are the environment's, else the bot folder's key
that ``parley run`` made. A bad key, an unreachable database or a schema behind the code
is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING, Any

from gateway.cli.privacy_database import (
    add_database_arguments,
    positive_whole_number,
    task_database,
    task_database_url,
)

if TYPE_CHECKING:
    from desk.encryption import KeyRing
    from desk.key_rotation import TableCount

__all__ = ["register"]


def register(privacy_subparsers: Any) -> None:
    rotate = privacy_subparsers.add_parser(
        "rotate-keys", help="re-encrypt every record under the first key of "
        "PARLEY_ENCRYPTION_KEYS (and encrypt the plaintext ones)")
    add_database_arguments(rotate)
    rotate.add_argument("--batch", type=positive_whole_number, default=500,
                        help="rows re-encrypted per transaction (default: 500)")
    rotate.set_defaults(handler=_rotate)
    new_key = privacy_subparsers.add_parser(
        "new-key", help="print a new encryption key (for PARLEY_ENCRYPTION_KEYS)")
    new_key.set_defaults(handler=_new_key)


def _rotate(args: argparse.Namespace) -> int:
    from desk.database import redacted
    from desk.errors import EncryptionKeyError
    from gateway.cli.encryption_setup import configure_for_tool

    url = task_database_url(args.database_url, args.bot_dir)
    ring = configure_for_tool(os.environ, args.bot_dir)
    if not ring.encrypt_writes:
        raise EncryptionKeyError("rotate-keys encrypts under the newest key, and "
                                 "PARLEY_ENCRYPTION is off: unset it")
    where = redacted(url).replace("sqlite+aiosqlite:///", "")
    print(f"parley privacy rotate-keys: {where}, under key {ring.primary_id}", flush=True)
    counts = asyncio.run(_rotate_all(url, ring, args.batch))
    width = max(len(count.table) for count in counts) if counts else 0
    for count in counts:
        others = f", {count.changed_meanwhile} changed meanwhile (left as written)" \
            if count.changed_meanwhile else ""
        print(f"{count.table:<{width}}  {count.rows} rows, {count.rewritten} re-encrypted"
              f"{others}")
    meanwhile = sum(c.changed_meanwhile for c in counts)
    print(f"done: {sum(c.rewritten for c in counts)} rows re-encrypted in {len(counts)} "
          "tables; " + (f"{meanwhile} rows changed by others meanwhile: run it again once "
                        "every process encrypts with the new key" if meanwhile else
                        "every value is now under the first key"))
    return 0


async def _rotate_all(url: str, ring: KeyRing, batch: int) -> list[TableCount]:
    from desk import audit
    from desk.key_rotation import rotate_keys

    async with task_database(url, during="the rotation",
                             again="run rotate-keys again: it resumes") as db:
        counts = await rotate_keys(db, ring, batch=batch)
        await audit.record(db, actor=None, action="keys.rotated", detail={
            "key": ring.primary_id, "by": "parley privacy rotate-keys",
            "rewritten": {c.table: c.rewritten for c in counts if c.rewritten}})
    return counts


def _new_key(args: argparse.Namespace) -> int:
    from desk.encryption import new_key

    print(new_key())
    return 0
