"""Which keys the ``parley`` commands encrypt the desk's records with: the servers refuse to
start with a database and no key unless ``PARLEY_ENCRYPTION=off`` says so; ``parley run``
makes a key in the bot folder, says where, and uses it again (``gateway.cli.encryption_setup``)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from desk import encryption
from desk.archive_store import store_turns
from desk.database import database_url, open_database, upgrade
from desk.encryption import KEY_FILE, KeyRing, new_key
from desk.errors import EncryptionKeyError
from gateway.cli.encryption_setup import configure_for_run
from tests.desk.test_archiver import parsed, record
from tests.e2e.desk_support import desk_database
from tests.processes import REDIS_URL, GatewayProcess, run_parley


def test_run_makes_a_key_in_the_bot_folder_once_and_says_where(tmp_path: Path) -> None:
    url = database_url(None, tmp_path)
    lines: list[str] = []
    say = lines.append
    ring = configure_for_run({}, tmp_path, url, say)
    path = tmp_path / KEY_FILE
    assert encryption.current() == ring and ring.encrypt_writes
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [line] = lines
    assert line.startswith(f"warning: encryption: made a key for the desk's records in {path}")
    assert "back it up" in line and "PARLEY_ENCRYPTION_KEYS" in line
    assert path.read_text().strip() not in line

    lines.clear()
    assert configure_for_run({}, tmp_path, url, say) == ring
    assert lines == [f"encryption: the desk's records use the key in {path} (for "
                     "production, set PARLEY_ENCRYPTION_KEYS)"]


def test_run_takes_the_environments_key_or_off_and_makes_none(tmp_path: Path) -> None:
    url = database_url(None, tmp_path)
    lines: list[str] = []
    say = lines.append
    key = new_key()
    ring = configure_for_run({"PARLEY_ENCRYPTION_KEYS": key}, tmp_path, url, say)
    assert ring == KeyRing.from_keys([key]) and lines == []
    off = configure_for_run({"PARLEY_ENCRYPTION": "off"}, tmp_path, url, say)
    assert not off.encrypt_writes and lines[0].startswith("warning: encryption: off")
    assert not (tmp_path / KEY_FILE).exists()


def test_run_will_not_make_a_new_key_for_records_an_old_one_encrypted(tmp_path: Path) -> None:
    url = database_url(None, tmp_path)
    encryption.configure(KeyRing.from_keys([new_key()]))

    async def archive() -> None:
        await upgrade(url)
        async with open_database(url) as db:
            await store_turns(db, [parsed(record("a", 1))])

    asyncio.run(archive())
    lines: list[str] = []
    say = lines.append
    with pytest.raises(EncryptionKeyError, match=f"holds encrypted records and there is no "
                       f"key to read them: put the key file back at {tmp_path / KEY_FILE}"):
        configure_for_run({}, tmp_path, url, say)
    assert not (tmp_path / KEY_FILE).exists()


def test_the_servers_refuse_a_database_without_a_key(tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    bot.mkdir()
    for argv, env in ((["gateway"], {"PARLEY_BOT_DIR": str(bot)}),
                      (["gateway"], {"PARLEY_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}),
                      (["archiver", "--bot-dir", str(bot)], {})):
        done = run_parley(*argv, env={"PARLEY_REDIS_URL": REDIS_URL, "PARLEY_PORT": "0",
                                      **env}, timeout=60)
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines() == [
            "parley: error: the desk's records are encrypted at rest and no key is set: set "
            "PARLEY_ENCRYPTION_KEYS (or PARLEY_ENCRYPTION_KEYS_FILE) to a Fernet key — "
            "`parley privacy new-key` makes one — or PARLEY_ENCRYPTION=off to store the "
            "records in plaintext"]
    assert not (bot / "parley.db").exists() and not (tmp_path / "d.db").exists()
    bad = run_parley("gateway", env={"PARLEY_REDIS_URL": REDIS_URL, "PARLEY_BOT_DIR": str(bot),
                                     "PARLEY_ENCRYPTION_KEYS": "sesame-sesame"}, timeout=60)
    assert bad.returncode == 2 and "sesame" not in bad.stderr + bad.stdout
    assert bad.stderr.splitlines() == ["parley: error: PARLEY_ENCRYPTION_KEYS: key 1 is not "
                                       "a Fernet key (32 random bytes in URL-safe base64: 44 "
                                       "characters; `parley privacy new-key` makes one)"]


def test_the_gateway_starts_with_encryption_off_when_told_so(tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path / "gateway.log", {
        "PARLEY_DATABASE_URL": desk_database(tmp_path), "PARLEY_ENCRYPTION": "off"})
    gateway.stop()
    assert "encryption at rest is off (PARLEY_ENCRYPTION=off)" in gateway.log.read_text()
