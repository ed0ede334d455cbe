"""desk.records on both backends: handoffs stored from their Redis records (bytes or text,
idempotent, never overwritten by an older epoch), messages stored once per id, notes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from argon2 import PasswordHasher

from desk.accounts import Accounts, User
from desk.database import Database
from desk.errors import RecordError, UnknownHandoffError
from desk.records import (
    add_message,
    add_note,
    get_handoff,
    list_handoffs,
    messages_for,
    notes_for,
    upsert_handoff,
)
from desk.schema import AuthorKind, HandoffStatus
from tests.desk.conftest import Run

REQUESTED = 1_780_000_000.25
REQUEST = {"parse": {"intent": {"name": "human", "confidence": 0.93}, "intent_ranking": [],
                     "entities": [], "text": "a person please"},
           "slots": {"order_id": "A-17"}, "active_form": None, "requested_slot": None,
           "transcript": [{"kind": "user", "text": "a person please", "at": REQUESTED}],
           "channel": "web", "user_id": "s1"}


def redis_record(handoff_id: str = "a" * 32, **fields: Any) -> dict[bytes, bytes]:
    """A handoff hash as redis-py's HGETALL returns it (bytes, no decode_responses)."""
    record = {"id": handoff_id, "conversation_id": "web:site:s1", "channel": "web",
              "user_id": "s1", "team": "support", "reason": "asked for a person",
              "status": "waiting", "agent": "", "requested_at": str(REQUESTED),
              "claimed_at": "", "first_reply_at": "", "closed_at": "",
              "sla_deadline": str(REQUESTED + 120), "timeout_at": str(REQUESTED + 900),
              "epoch": "1", "request": json.dumps(REQUEST)} | fields
    return {key.encode(): str(value).encode() for key, value in record.items()}


@pytest.fixture
def agent(database: Database, run: Run[Any]) -> User:
    accounts = Accounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=8,
                                                        parallelism=1))
    return run(accounts.add_user("ana@example.com", "agent", ["support"])).user


def test_a_handoff_is_stored_from_its_redis_record(database: Database, run: Run[Any]) -> None:
    stored = run(upsert_handoff(database, redis_record()))
    assert stored == run(get_handoff(database, "a" * 32))
    assert (stored.conversation_id, stored.channel, stored.user_id, stored.team) == (
        "web:site:s1", "web", "s1", "support")
    assert stored.status is HandoffStatus.WAITING and stored.agent_id is None
    assert stored.requested_at == datetime.fromtimestamp(REQUESTED, UTC)
    assert stored.claimed_at is None and stored.closed_at is None
    assert stored.sla_deadline == datetime.fromtimestamp(REQUESTED + 120, UTC)
    assert stored.epoch == 1 and stored.request == REQUEST
    assert run(get_handoff(database, "b" * 32)) is None


def test_upserts_are_idempotent_and_an_older_epoch_changes_nothing(
        database: Database, agent: User, run: Run[Any]) -> None:
    first = run(upsert_handoff(database, redis_record()))
    assert run(upsert_handoff(database, redis_record())) == first
    claimed = {"status": "active", "agent": agent.id, "claimed_at": REQUESTED + 30,
               "epoch": 2}
    active = run(upsert_handoff(database, redis_record(**claimed)))
    assert (active.status, active.agent_id, active.epoch) == ("active", agent.id, 2)
    assert active.claimed_at == datetime.fromtimestamp(REQUESTED + 30, UTC)
    # The same epoch may add facts (the first reply does not change the owner) ...
    replied = run(upsert_handoff(database, redis_record(**claimed,
                                                        first_reply_at=REQUESTED + 40)))
    assert replied.first_reply_at == datetime.fromtimestamp(REQUESTED + 40, UTC)
    # ... but the waiting copy, redelivered late, does not undo the claim.
    assert run(upsert_handoff(database, redis_record())) == replied
    # str keys and values (decode_responses=True) are the same record
    text = {k.decode(): v.decode() for k, v in redis_record(**claimed, first_reply_at=REQUESTED
                                                             + 40).items()}
    assert run(upsert_handoff(database, text)) == replied


def test_handoffs_are_listed_by_status_and_team(database: Database, run: Run[Any]) -> None:
    for n, (status, team) in enumerate([("waiting", "support"), ("waiting", "billing"),
                                        ("offline", "support"), ("closed", "support")]):
        run(upsert_handoff(database, redis_record(f"{n:032d}", status=status, team=team,
                                                  requested_at=REQUESTED + 10 - n)))
    waiting = run(list_handoffs(database, status="waiting"))
    assert [h.id for h in waiting] == [f"{1:032d}", f"{0:032d}"]  # oldest request first
    assert [h.team for h in run(list_handoffs(database, status=["waiting", "offline"],
                                              teams=["support"]))] == ["support", "support"]
    assert len(run(list_handoffs(database))) == 4
    with pytest.raises(RecordError, match="unknown handoff status 'lost'"):
        run(list_handoffs(database, status="lost"))


@pytest.mark.parametrize(("fields", "problem"), [
    ({"status": "lost"}, "unknown handoff status 'lost'"),
    ({"requested_at": ""}, "requested_at is missing"),
    ({"claimed_at": "soon"}, "claimed_at is not seconds"),
    ({"epoch": "two"}, "epoch is not an integer"),
    ({"request": "{not json"}, "request is not JSON"),
    ({"request": "[1, 2]"}, "request is not a JSON object"),
    ({"conversation_id": ""}, "conversation_id must be 1 to 512"),
    ({"team": "t" * 65}, "team must be 1 to 64"),
    ({"agent": "f" * 32}, "is not an account"),
])
def test_malformed_handoff_records_are_refused(fields: dict[str, Any], problem: str,
                                               database: Database, run: Run[Any]) -> None:
    with pytest.raises(RecordError, match=problem):
        run(upsert_handoff(database, redis_record(**fields)))
    assert run(get_handoff(database, "a" * 32)) is None


def test_messages_are_stored_once_per_id_in_order(database: Database, agent: User,
                                                  run: Run[Any]) -> None:
    run(upsert_handoff(database, redis_record()))
    conversation = "web:site:s1"
    now = time.time()
    assert run(add_message(database, message_id="m2", handoff_id="a" * 32,
                           conversation_id=conversation, author_kind="agent",
                           author_id=agent.id, text="Hi, I'm Ana.", at=now + 1))
    assert run(add_message(database, message_id="m1", handoff_id="a" * 32,
                           conversation_id=conversation, author_kind=AuthorKind.USER,
                           author_id="s1", text="hello?", at=datetime.fromtimestamp(now, UTC)))
    assert not run(add_message(database, message_id="m1", handoff_id="a" * 32,
                               conversation_id=conversation, author_kind="user",
                               author_id="s1", text="hello? (again)", at=now + 5))
    messages = run(messages_for(database, "a" * 32))
    assert [(m.id, m.author_kind, m.text) for m in messages] == [
        ("m1", AuthorKind.USER, "hello?"), ("m2", AuthorKind.AGENT, "Hi, I'm Ana.")]
    assert messages[0].at == datetime.fromtimestamp(now, UTC)

    with pytest.raises(UnknownHandoffError):
        run(add_message(database, message_id="m3", handoff_id="b" * 32,
                        conversation_id=conversation, author_kind="bot", author_id=None,
                        text="x", at=now))
    with pytest.raises(RecordError, match="unknown message author 'robot'"):
        run(add_message(database, message_id="m3", handoff_id="a" * 32,
                        conversation_id=conversation, author_kind="robot", author_id=None,
                        text="x", at=now))


def test_notes(database: Database, agent: User, run: Run[Any]) -> None:
    run(upsert_handoff(database, redis_record()))
    first = run(add_note(database, "a" * 32, "web:site:s1", agent, "VIP customer"))
    second = run(add_note(database, "a" * 32, "web:site:s1", agent, "refund approved"))
    assert first.author_id == agent.id and first.at.tzinfo is not None
    assert run(notes_for(database, "a" * 32)) == [first, second]
    assert run(notes_for(database, "b" * 32)) == []
    with pytest.raises(RecordError, match="1 to 10000 characters"):
        run(add_note(database, "a" * 32, "web:site:s1", agent, "   "))
    with pytest.raises(UnknownHandoffError):
        run(add_note(database, "b" * 32, "web:site:s1", agent, "lost"))
