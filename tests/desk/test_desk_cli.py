"""``parley db upgrade`` and ``parley desk add-user`` through ``gateway.cli.main``, on both
backends: what they print, that the one-time secrets are shown exactly once and work, and
that a user's mistake is one line on stderr with exit status 2."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from desk.accounts import Accounts
from desk.database import database_url, head_revision, is_current, open_database
from gateway.cli import main
from tests.desk.conftest import Run


@pytest.fixture(params=["postgresql", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """(the database's async URL, the bot-folder arguments): PostgreSQL named by a plain
    PARLEY_DATABASE_URL, or no URL and the bot folder's parley.db."""
    bot = tmp_path / "bot"
    bot.mkdir()
    if request.param == "postgresql":
        plain = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("PARLEY_DATABASE_URL", plain)
        return database_url(plain, bot), [str(bot)]
    return database_url(None, bot), [str(bot)]


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("parley: error: ")
    return line


def test_db_upgrade_makes_the_schema_and_then_has_nothing_to_do(
        target: tuple[str, list[str]], run: Run[Any],
        capsys: pytest.CaptureFixture[str]) -> None:
    url, bot = target
    assert main(["db", "upgrade", *bot]) == 0
    out = capsys.readouterr().out
    assert f"from an empty database to revision {head_revision()}" in out
    assert run(is_current(url))
    assert main(["db", "upgrade", *bot]) == 0
    assert f"is up to date (revision {head_revision()})" in capsys.readouterr().out


def test_add_user_prints_the_one_time_secrets_once_and_they_work(
        target: tuple[str, list[str]], run: Run[Any],
        capsys: pytest.CaptureFixture[str]) -> None:
    url, bot = target
    assert main(["desk", "add-user", "Ana@Example.com", "--role", "admin", "--team", "support",
                 "--team", "billing", "--name", "Ana", "--token", "--bot-dir", *bot]) == 0
    captured = capsys.readouterr()
    output = captured.out + captured.err
    password = re.search(r"One-time password: (\S+)", output)
    token = re.search(r"API token: (pk_\S+)", output)
    assert password and token
    assert output.count(password[1]) == 1 and output.count(token[1]) == 1
    assert "Made the admin account ana@example.com (teams: billing, support)." in output
    assert "shown once; store it now" in output
    assert "upgraded" in output  # the empty database got its schema first

    async def check() -> None:
        async with open_database(url) as db:
            accounts = Accounts(db)
            user = await accounts.authenticate("ana@example.com", password[1])
            assert user is not None and user.name == "Ana" and user.must_change_password
            assert await accounts.user_for_token(token[1]) == user

    run(check())


def test_add_user_without_token_and_a_duplicate_email(target: tuple[str, list[str]],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _, bot = target
    assert main(["desk", "add-user", "bob@example.com", "--role", "agent", "--bot-dir",
                 *bot]) == 0
    out = capsys.readouterr().out
    assert "API token" not in out and "It is shown once; store it now." in out
    assert "(teams: none)" in out

    assert main(["desk", "add-user", "BOB@example.com", "--role", "supervisor", "--bot-dir",
                 *bot]) == 2
    assert _one_error_line(capsys) == (
        "parley: error: an account with the email bob@example.com already exists")
    assert main(["desk", "add-user", "bob", "--role", "agent", "--bot-dir", *bot]) == 2
    assert "is not an email address" in _one_error_line(capsys)


@pytest.mark.parametrize("argv", [["db", "upgrade"],
                                  ["desk", "add-user", "ana@example.com", "--role", "agent"]])
@pytest.mark.parametrize("raw", ["mysql://ana:hunter2@db.example/desk",
                                 "postgresql://ana:hunter2@db.example"])
def test_a_bad_database_url_is_one_line_and_exit_2(argv: list[str], raw: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PARLEY_DATABASE_URL", raw)
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert "PARLEY_DATABASE_URL" in line and "sqlite:///PATH" in line
    assert "hunter2" not in line


def test_an_unreachable_database_or_a_missing_bot_folder_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", str(tmp_path / "nobot")]) == 2
    assert "nobot is not a folder" in _one_error_line(capsys)
    assert not (tmp_path / "nobot").exists()

    monkeypatch.setenv("PARLEY_DATABASE_URL", "postgresql://ana:hunter2@127.0.0.1:1/desk")
    assert main(["db", "upgrade"]) == 2
    line = _one_error_line(capsys)
    assert "cannot reach the desk's database" in line and "hunter2" not in line
