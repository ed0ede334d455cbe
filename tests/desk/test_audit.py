"""desk.audit on both backends: entries are written with the actor's email and listed newest
first, page by page and per conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher

from desk.accounts import Accounts
from desk.audit import MAX_AUDIT_PAGE, list_audit, record
from desk.database import Database
from desk.errors import RecordError
from tests.desk.conftest import Run


def test_entries_say_who_did_what_when_and_where(database: Database, run: Run[Any]) -> None:
    accounts = Accounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=8,
                                                        parallelism=1))
    ana = run(accounts.add_user("ana@example.com", "agent", ["support"])).user
    before = datetime.now(UTC)
    entry = run(record(database, actor=ana, action="handoff.claim",
                       conversation_id="web:site:s1", handoff_id="h" * 32,
                       detail={"team": "support"}, ip="203.0.113.9"))
    assert (entry.actor_id, entry.actor_email, entry.action) == (ana.id, "ana@example.com",
                                                                 "handoff.claim")
    assert before - timedelta(seconds=1) <= entry.at <= datetime.now(UTC)
    run(record(database, actor=None, action="handoff.timeout", conversation_id="web:site:s2"))
    run(record(database, actor=ana, action="login", ip="2001:db8::1"))

    (login, timeout, claim) = run(list_audit(database))
    assert [e.action for e in (login, timeout, claim)] == ["login", "handoff.timeout",
                                                           "handoff.claim"]
    assert claim == entry
    assert claim.detail == {"team": "support"} and claim.ip == "203.0.113.9"
    assert timeout.actor_id is None and timeout.actor_email is None and timeout.detail == {}
    assert login.ip == "2001:db8::1"
    assert claim.as_json()["at"] == pytest.approx(entry.at.timestamp())

    assert run(list_audit(database, limit=2)) == [login, timeout]
    assert run(list_audit(database, limit=2, before_id=timeout.id)) == [claim]
    assert run(list_audit(database, conversation_id="web:site:s1")) == [claim]


def test_pages_are_bounded_and_bad_entries_refused(database: Database, run: Run[Any]) -> None:
    for n in range(3):
        run(record(database, actor=None, action=f"a{n}"))
    assert len(run(list_audit(database, limit=10 * MAX_AUDIT_PAGE))) == 3
    with pytest.raises(RecordError, match="at least 1"):
        run(list_audit(database, limit=0))
    with pytest.raises(RecordError, match="1 to 64 characters"):
        run(record(database, actor=None, action=""))
    with pytest.raises(RecordError, match="is not JSON"):
        run(record(database, actor=None, action="x", detail={"when": datetime.now(UTC)}))
    with pytest.raises(RecordError, match="at most 16384"):
        run(record(database, actor=None, action="x", detail={"text": "x" * 20_000}))
    assert len(run(list_audit(database))) == 3
