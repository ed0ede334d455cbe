"""``parley privacy purge`` on PostgreSQL and SQLite: it prints the rows per table of the
conversations older than the retention, deletes them (or, ``--dry-run``, only counts them),
takes ``PARLEY_ARCHIVE_RETENTION_DAYS`` unless ``--older-than-days`` is given, does nothing
when the retention is off, and names a bad value in one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from desk.archive_store import store_turns
from desk.audit import list_audit
from desk.database import Database
from desk.records import upsert_handoff
from desk.schema import ConversationRow, HandoffRow
from gateway.cli import main
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.desk.conftest import Run, database, database_url, postgres_url, run  # noqa: F401
from tests.desk.test_retention import handoff, turn

NOW = datetime.now(UTC)


def _seed(db: Database, run: Run[Any]) -> None:
    ancient, fresh = NOW - timedelta(days=400), NOW - timedelta(days=100)
    run(store_turns(db, [turn("ancient", 1, ancient), turn("ancient", 2, ancient),
                         turn("fresh", 1, fresh)]))
    run(upsert_handoff(db, handoff("gone", requested=ancient, closed=ancient)))


def _left(db: Database, run: Run[Any]) -> set[str]:
    async def ids() -> set[str]:
        async with db.reads() as session:
            return set(await session.scalars(select(ConversationRow.id))) | set(
                await session.scalars(select(HandoffRow.conversation_id)))
    return run(ids())


def _table(out: str) -> dict[str, int]:
    rows = [line.split() for line in out.splitlines()[1:-1]]
    return {name: int(count) for name, count in rows}


def test_the_purge_prints_the_counts_and_deletes_only_when_told(
        database: Database, database_url: str, run: Run[Any],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(database, run)
    everything = {"web:site:ancient", "web:site:fresh", "web:site:gone"}
    assert main(["privacy", "purge", "--database-url", database_url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "quiet for more than 365 days" in out and "dry run, nothing is deleted" in out
    counted = _table(out)
    assert counted == {"turns": 2, "messages": 2, "feedback": 0, "review_labels": 0,
                       "notes": 0, "handoff_messages": 0, "handoffs": 1, "conversations": 1}
    assert out.splitlines()[-1] == "would delete 6 rows"
    assert _left(database, run) == everything

    monkeypatch.setenv("PARLEY_ENCRYPTION_KEYS", TEST_ENCRYPTION_KEY)  # for the audit entry
    monkeypatch.setenv("PARLEY_ARCHIVE_RETENTION_DAYS", "off")
    assert main(["privacy", "purge", "--database-url", database_url]) == 0
    assert "is off, so nothing is purged" in capsys.readouterr().out
    assert _left(database, run) == everything

    assert main(["privacy", "purge", "--database-url", database_url, "--older-than-days",
                 "200"]) == 0
    out = capsys.readouterr().out
    assert _table(out) == counted and out.splitlines()[-1] == "done: 6 rows deleted"
    assert _left(database, run) == {"web:site:fresh"}
    (entry,) = [e for e in run(list_audit(database)) if e.action == "archive.purged"]
    assert entry.detail["rows"] == counted and entry.detail["by"] == "parley privacy purge"

    monkeypatch.setenv("PARLEY_ARCHIVE_RETENTION_DAYS", "30")
    assert main(["privacy", "purge", "--database-url", database_url]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "done: 3 rows deleted"
    assert _left(database, run) == set()


def test_a_bad_retention_is_one_line_naming_the_variable(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ARCHIVE_RETENTION_DAYS", "a year")
    assert main(["privacy", "purge", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["parley: error: PARLEY_ARCHIVE_RETENTION_DAYS must be a whole number of "
                   "days from 1 to 36500, or off (keep forever), got 'a year'"]
