"""Which keys a ``parley`` command encrypts the desk's records with (``desk.encryption``),
configured once for the whole process before it opens the database.

- The servers (``parley gateway``, ``parley archiver``) take them from the environment only
  and refuse to start with a database and no key unless ``PARLEY_ENCRYPTION=off`` says so.
- ``parley run`` (a laptop) makes a key in the bot folder when none is set, says where, and
  uses it again on the next run.
- The one-off tools (``parley privacy rotate-keys``, ``parley review export``) take the
  environment's keys, else the bot folder's key that ``parley run`` made; one that only
  reads can do without, as long as it meets no ciphertext.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

from desk.encryption import KEY_FILE, KeyRing, configure, ensure_key_file, ring_from_env
from desk.errors import EncryptionKeyError

__all__ = ["MISSING_KEY", "configure_for_reading", "configure_for_run", "configure_for_server",
           "configure_for_tool"]

MISSING_KEY = ("set PARLEY_ENCRYPTION_KEYS (or PARLEY_ENCRYPTION_KEYS_FILE) to a Fernet key — "
               "`parley privacy new-key` makes one — or PARLEY_ENCRYPTION=off to store the "
               "records in plaintext")
# Revisions before encryption existed: their databases hold no ciphertext.
_BEFORE_ENCRYPTION = (None, "0001_desk", "0002_archive")


def configure_for_server(env: Mapping[str, str], *, database: str | None) -> KeyRing | None:
    """The environment's ring, configured; with a ``database`` and no key set,
    :class:`EncryptionKeyError` saying what to set. A bad key is refused either way."""
    ring = ring_from_env(env)
    if ring is None and database is not None:
        raise EncryptionKeyError(f"the desk's records are encrypted at rest and no key is "
                                 f"set: {MISSING_KEY}")
    if ring is not None:  # none and no database: nothing will be encrypted
        configure(ring)
    return ring


def configure_for_tool(env: Mapping[str, str], bot_dir: Path) -> KeyRing:
    """The environment's ring, else the one of ``bot_dir``'s generated key file; configured.
    Neither: :class:`EncryptionKeyError` saying what to set."""
    ring = _tool_ring(env, bot_dir)
    if ring is None:
        raise EncryptionKeyError(f"no encryption key is set (and {bot_dir / KEY_FILE} does "
                                 f"not exist): {MISSING_KEY}")
    configure(ring)
    return ring


def configure_for_reading(env: Mapping[str, str], bot_dir: Path) -> KeyRing | None:
    """As :func:`configure_for_tool`, for a command that only reads: with no key anywhere
    it reads the plaintext rows, and a ciphertext is one error saying what to set."""
    ring = _tool_ring(env, bot_dir)
    if ring is not None:
        configure(ring)
    return ring


def _tool_ring(env: Mapping[str, str], bot_dir: Path) -> KeyRing | None:
    ring = ring_from_env(env)
    if ring is None and (bot_dir / KEY_FILE).is_file():
        ring = ensure_key_file(bot_dir)[1]
    return ring


def configure_for_run(env: Mapping[str, str], bot_dir: Path, database: str,
                      say: Callable[[str], None]) -> KeyRing:
    """The environment's ring, else the bot folder's key file, made when missing (unless
    the database already holds ciphertexts: a new key would not open them); configured."""
    ring = ring_from_env(env)
    if ring is None:
        path = bot_dir / KEY_FILE
        if not path.exists() and asyncio.run(_holds_ciphertext(database)):
            from desk.database import redacted

            raise EncryptionKeyError(
                f"the desk's database ({redacted(database)}) holds encrypted records and "
                f"there is no key to read them: put the key file back at {path}, or set "
                "PARLEY_ENCRYPTION_KEYS to the keys they were written with")
        path, ring, created = ensure_key_file(bot_dir)
        if created:
            say(f"warning: encryption: made a key for the desk's records in {path}: back it "
                "up (without it they cannot be read) and for production move it to "
                "PARLEY_ENCRYPTION_KEYS")
        else:
            say(f"encryption: the desk's records use the key in {path} (for production, "
                "set PARLEY_ENCRYPTION_KEYS)")
    elif not ring.encrypt_writes:
        say("warning: encryption: off (PARLEY_ENCRYPTION=off): the desk's records are stored "
            "in plaintext")
    configure(ring)
    return ring


async def _holds_ciphertext(database: str) -> bool:
    from desk.database import open_database, schema_version
    from desk.key_rotation import holds_ciphertext

    if _missing_file(database) or await schema_version(database) in _BEFORE_ENCRYPTION:
        return False
    async with open_database(database) as db:
        return await holds_ciphertext(db)


def _missing_file(database: str) -> bool:
    from sqlalchemy.engine import make_url

    url = make_url(database)
    return url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file()
