"""``parley privacy rotate-keys`` and ``parley privacy new-key`` through ``gateway.cli.main``,
on both backends: the counts it prints, that afterwards the new key alone reads everything,
and that a bad key, no key, or a database it cannot use is one line and exit status 2."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from desk import encryption
from desk.archive_store import store_turns
from desk.audit import AuditEntry, list_audit
from desk.database import database_url, open_database, upgrade
from desk.encryption import KeyRing, ensure_key_file, new_key
from desk.key_rotation import encrypted_tables
from desk.records import get_handoff, upsert_handoff
from gateway.cli import main
from tests.desk.conftest import Run
from tests.desk.test_archiver import parsed, record
from tests.desk.test_records import redis_record


@pytest.fixture(params=["postgresql", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """(the database's async URL, the bot folder): PostgreSQL named by PARLEY_DATABASE_URL,
    or the bot folder's parley.db."""
    bot = tmp_path / "bot"
    bot.mkdir()
    if request.param == "postgresql":
        plain = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("PARLEY_DATABASE_URL", plain)
        return database_url(plain, bot), bot
    return database_url(None, bot), bot


def _seed(url: str, ring: KeyRing, run: Run[Any]) -> None:
    encryption.configure(ring)
    run(upgrade(url))

    async def write() -> None:
        async with open_database(url) as db:
            await store_turns(db, [parsed(record("a", 1, text="my name is Ada")),
                                   parsed(record("a", 2, text="call me at 0612"))])
            await upsert_handoff(db, redis_record())

    run(write())


def _reads_with(url: str, ring: KeyRing, run: Run[Any]) -> str:
    encryption.configure(ring)

    async def read() -> str:
        async with open_database(url) as db:
            handoff = await get_handoff(db, "a" * 32)
            assert handoff is not None
            return handoff.reason

    return run(read())


def _audit(url: str, run: Run[Any]) -> list[AuditEntry]:
    async def read() -> list[AuditEntry]:
        async with open_database(url) as db:
            return await list_audit(db)

    return run(read())


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("parley: error: ")
    return line


def test_rotate_keys_prints_its_counts_and_leaves_everything_under_the_new_key(
        target: tuple[str, Path], run: Run[Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, bot = target
    old, new = new_key(), new_key()
    _seed(url, KeyRing.from_keys([old]), run)
    monkeypatch.setenv("PARLEY_ENCRYPTION_KEYS", f"{new},{old}")
    assert main(["privacy", "rotate-keys", "--bot-dir", str(bot), "--batch", "1"]) == 0
    out = capsys.readouterr().out
    ring = KeyRing.from_keys([new])
    assert out.splitlines()[0].endswith(f", under key {ring.primary_id}")
    assert re.search(r"^turns +2 rows, 2 re-encrypted$", out, re.M)
    assert re.search(r"^handoffs +1 rows, 1 re-encrypted$", out, re.M)
    assert {line.split()[0] for line in out.splitlines()[1:-1]} == {
        t.name for t in encrypted_tables()}
    assert out.splitlines()[-1].startswith("done: 5 rows re-encrypted in 8 tables")
    assert old not in out and new not in out
    assert _reads_with(url, ring, run) == "asked for a person"  # the new key alone
    (entry,) = [e for e in _audit(url, run) if e.action == "keys.rotated"]
    assert entry.actor_id is None and entry.detail["key"] == ring.primary_id
    assert entry.detail["rewritten"]["turns"] == 2

    assert main(["privacy", "rotate-keys", "--bot-dir", str(bot)]) == 0  # nothing left
    assert "done: 0 rows re-encrypted" in capsys.readouterr().out


def test_rotate_keys_takes_a_database_url_and_the_bot_folders_key(
        tmp_path: Path, run: Run[Any], capsys: pytest.CaptureFixture[str]) -> None:
    bot = tmp_path / "bot"
    _, ring, _ = ensure_key_file(bot)  # what `parley run` made, on a laptop
    plain = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    _seed(database_url(plain, tmp_path), KeyRing.disabled(), run)  # written with it off
    assert main(["privacy", "rotate-keys", "--bot-dir", str(bot), "--database-url",
                 plain]) == 0
    assert re.search(r"^turns +2 rows, 2 re-encrypted$", capsys.readouterr().out, re.M)
    assert _reads_with(database_url(plain, tmp_path), ring, run) == "asked for a person"


@pytest.mark.parametrize(("env", "said"), [
    ({"PARLEY_ENCRYPTION_KEYS": "{new},hunter2hunter2"},
     "PARLEY_ENCRYPTION_KEYS: key 2 is not a Fernet key"),
    ({}, "no encryption key is set"),
    ({"PARLEY_ENCRYPTION": "off"}, "rotate-keys encrypts under the newest key, and "
     "PARLEY_ENCRYPTION is off"),
    ({"PARLEY_ENCRYPTION": "off", "PARLEY_ENCRYPTION_KEYS": "{new}"},
     "rotate-keys encrypts under the newest key, and PARLEY_ENCRYPTION is off"),
])
def test_a_bad_or_missing_key_is_one_line_and_exit_2(
        env: dict[str, str], said: str, target: tuple[str, Path], run: Run[Any],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url, bot = target
    key = new_key()
    _seed(url, KeyRing.from_keys([key]), run)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(new=key))
    assert main(["privacy", "rotate-keys", "--bot-dir", str(bot)]) == 2
    line = _one_error_line(capsys)
    assert said in line and key not in line and "hunter2" not in line


def test_a_database_it_cannot_use_is_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PARLEY_ENCRYPTION_KEYS", new_key())
    assert main(["privacy", "rotate-keys", "--database-url",
                 "postgresql://ana:hunter2@127.0.0.1:1/desk"]) == 2
    line = _one_error_line(capsys)
    assert "cannot reach the desk's database" in line and "hunter2" not in line
    assert main(["privacy", "rotate-keys", "--database-url", "mysql://db/desk"]) == 2
    assert "--database-url uses the scheme 'mysql'" in _one_error_line(capsys)
    assert main(["privacy", "rotate-keys", "--bot-dir", str(tmp_path)]) == 2
    assert "there is no desk database at" in _one_error_line(capsys)
    assert not (tmp_path / "parley.db").exists()


def test_new_key_prints_a_key_the_ring_takes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["privacy", "new-key"]) == 0
    key = capsys.readouterr().out.strip()
    assert KeyRing.from_keys([key]).primary_id is not None
