"""Encryption at rest on both backends: every column that holds what a person wrote is
ciphertext when read with plain SQL, and plaintext through the desk's code; key rotation
(``desk.key_rotation``) re-encrypts under the newest key, and encrypts the plaintext rows
written before encryption or while it was off; migration 0003 keeps the old rows readable
and its downgrade decrypts them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError

from brain.dialogue.events import FormActivated, SlotSet, UserUttered
from brain.dialogue.tracker import Tracker
from channels.models import Attachment, Button, InboundMessage, OutboundMessage
from desk import audit, encryption
from desk.accounts import Accounts, User
from desk.analytics import analytics
from desk.archive_store import parse_record, store_turns
from desk.database import Database, downgrade, open_database, upgrade
from desk.encryption import MARK, KeyRing, new_key
from desk.errors import EncryptionNotConfiguredError
from desk.key_rotation import encrypted_tables, rotate_keys
from desk.records import add_message, add_note, get_handoff, messages_for, notes_for, upsert_handoff
from desk.review_labels import get_label, label
from desk.schema import Base, TurnRow
from tests.desk.conftest import Run
from tests.desk.test_records import redis_record
from workers.turn_record import turn_record

PII = "Zorblax4417"  # planted everywhere a person's words can go; must never be stored
T0 = 1_780_000_000.0
DAY = date.fromtimestamp(T0)
ENCRYPTED = {  # what must be encrypted (the schema's EncryptedText / EncryptedJSON columns)
    "audit_log": ("detail",), "feedback": ("comment",), "handoff_messages": ("text",),
    "handoffs": ("reason", "request"), "messages": ("text", "buttons"), "notes": ("text",),
    "review_labels": ("text", "entities"), "turns": ("text", "payload", "record")}


def _turn(chat: str, sequence: int, **message: Any) -> dict[str, Any]:
    inbound = InboundMessage(channel="web", account="site", chat=chat, user_id=f"u-{chat}",
                             message_id=f"{chat}-{sequence}", sequence=sequence,
                             received_at=T0 + sequence, **message)
    events = [UserUttered(text=inbound.text, parse={
                  "intent": {"name": "inform", "confidence": 0.4},
                  "entities": [{"start": 12, "end": 23, "entity": "email", "value": PII}]}),
              FormActivated(name="contact_form"), SlotSet(name="email", value=f"{PII}@mail.test"),
              SlotSet(name="requested_slot", value="phone")]
    replies = [OutboundMessage(conversation_id=inbound.conversation_id, channel="web",
                               in_reply_to=inbound.message_id, sequence=sequence, index=0,
                               text=f"Thanks {PII}, and your phone?",
                               buttons=(Button("That's me", f'/confirm{{"name":"{PII}"}}'),))]
    raw = turn_record(inbound, Tracker(inbound.conversation_id), events, replies,
                      model="nlu-1", queued_at=T0 + sequence + 0.1)
    found = parse_record(raw)
    assert found is not None
    return found


def _feedback(chat: str, sequence: int) -> dict[str, Any]:
    record = _turn(chat, sequence, text="")
    record.update(kind="feedback", events=[], replies=[], parse=None,
                  feedback={"kind": "thumbs", "value": 0, "comment": f"{PII} was wrong",
                            "about_sequence": 1, "about_position": 0})
    return record


@pytest.fixture
def reviewer(database: Database, run: Run[Any]) -> User:
    accounts = Accounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=8,
                                                        parallelism=1))
    return run(accounts.add_user("sue@example.com", "supervisor", ["support"])).user


async def _plant(db: Database, reviewer: User, chat: str = "c") -> None:
    """A person's PII through every writer of the desk, as the gateway runs them."""
    await store_turns(db, [
        _turn(chat, 1, text=f"my email is {PII}@mail.test",
              attachments=(Attachment(f"https://files.test/{PII}.jpg", "image/jpeg"),)),
        _turn(chat, 2, text="", payload=f'/inform{{"email":"{PII}"}}'),
        _feedback(chat, 3)])
    handoff_id = (chat * 32)[:32]
    await upsert_handoff(db, redis_record(handoff_id, conversation_id=f"web:site:{chat}",
                                          reason=f"asked for {PII}", request=json.dumps(
                                              {"transcript": [{"text": PII}]})))
    await add_message(db, message_id=f"{chat}-m1", handoff_id=handoff_id,
                      conversation_id=f"web:site:{chat}", author_kind="user",
                      author_id=f"u-{chat}", text=f"I am {PII}", at=T0 + 10)
    await add_note(db, handoff_id, f"web:site:{chat}", reviewer, f"called {PII} back")
    await audit.record(db, actor=None, action="login.failed", detail={"email": PII})
    await label(db, conversation_id=f"web:site:{chat}", sequence=1, verdict="relabel",
                intent="give_email", entities=[{"start": 12, "end": 23, "entity": "email"}],
                reviewer=reviewer)


async def _raw(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as the driver gives it (no column type in between)."""
    async with db.engine.connect() as connection:
        return {name: [tuple(row) for row in await connection.execute(
                    text(f'SELECT * FROM "{name}"'))]
                for name in Base.metadata.tables}


async def _encrypted_values(db: Database) -> list[tuple[str, str, Any]]:
    """(table, column, stored value as text) of every encrypted column's non-empty value."""
    found = []
    async with db.engine.connect() as connection:
        for name, columns in ENCRYPTED.items():
            for column in columns:
                for (value,) in await connection.execute(text(
                        f'SELECT CAST("{column}" AS TEXT) FROM "{name}"')):
                    if value not in (None, "", '""', "[]", "{}"):
                        found.append((name, column, value))
    return found


def _stored(value: str) -> str:
    """A JSON column's text is a JSON string: the stored value inside it."""
    return json.loads(value) if value.startswith('"') else value


async def _read_back(db: Database, chat: str = "c") -> list[str]:
    """What the desk's code reads of the planted rows (decrypted)."""
    handoff = await get_handoff(db, (chat * 32)[:32])
    assert handoff is not None
    async with db.reads() as session:
        turn = await session.get(TurnRow, (f"web:site:{chat}", 1))
        assert turn is not None
    stored_label = await get_label(db, f"web:site:{chat}", 1)
    assert stored_label is not None
    return [turn.text, turn.record["attachments"][0]["url"], handoff.reason,
            handoff.request["transcript"][0]["text"],
            (await messages_for(db, handoff.id))[0].text,
            (await notes_for(db, handoff.id))[0].text, stored_label.text]


def test_the_encrypted_columns_are_those_that_hold_a_persons_words() -> None:
    assert {t.name: (*t.texts, *t.documents) for t in encrypted_tables()} == ENCRYPTED


def test_no_column_holds_the_planted_pii_in_the_clear(database: Database, reviewer: User,
                                                      run: Run[Any]) -> None:
    run(_plant(database, reviewer))
    raw = run(_raw(database))
    assert len(raw["turns"]) == 3 and raw["handoffs"] and raw["review_labels"]
    assert PII not in repr(raw)  # every row of every table, read with plain SQL
    values = run(_encrypted_values(database))
    assert {(t, c) for t, c, _ in values} == {(t, c) for t, cs in ENCRYPTED.items()
                                               for c in cs}
    assert all(_stored(v).startswith(MARK) for _, _, v in values)
    assert all(PII in found for found in run(_read_back(database)))  # and read in the clear
    # what SQL still counts on stays plain: intents, form names, the asked slot
    turn = raw["turns"][0]
    assert "inform" in repr(turn) and "contact_form" in repr(turn) and "phone" in repr(turn)


def test_analytics_and_the_review_queue_still_work_on_encrypted_rows(
        database: Database, reviewer: User, run: Run[Any]) -> None:
    run(_plant(database, reviewer))
    report = run(analytics(database, start=DAY, end=DAY, channel=None))
    assert report.total.user_messages == 2 and report.total.thumbs_down == 1
    [form] = report.total.forms
    assert (form.form, form.started, form.completed) == ("contact_form", 2, 0)
    assert [(d.slot, d.count) for d in form.dropped] == [("phone", 2)]


def test_a_write_without_a_configured_ring_stores_nothing(database: Database,
                                                          run: Run[Any]) -> None:
    encryption.configure(None)
    with pytest.raises(StatementError) as caught:
        run(store_turns(database, [_turn("n", 1, text=f"hi {PII}")]))
    assert isinstance(caught.value.orig, EncryptionNotConfiguredError)

    async def count() -> int:
        async with database.reads() as session:
            return int(await session.scalar(select(func.count()).select_from(TurnRow)) or 0)

    assert run(count()) == 0


@pytest.fixture
def keys() -> Iterator[tuple[str, str]]:
    yield new_key(), new_key()


def test_rotation_reencrypts_under_the_new_key_and_old_rows_stay_readable(
        database: Database, reviewer: User, keys: tuple[str, str], run: Run[Any]) -> None:
    a, b = keys
    encryption.configure(KeyRing.from_keys([a]))
    run(_plant(database, reviewer, "c"))
    both = KeyRing.from_keys([b, a])
    encryption.configure(both)  # B first: new rows under B, old ones still read with A
    run(_plant(database, reviewer, "d"))
    assert all(PII in found for chat in "cd" for found in run(_read_back(database, chat)))
    under = {_stored(v).split(":")[1] for _, _, v in run(_encrypted_values(database))}
    assert under == set(both.key_ids)

    counts = {c.table: c for c in run(rotate_keys(database, both, batch=2))}
    assert set(counts) == set(ENCRYPTED)
    assert (counts["turns"].rows, counts["turns"].rewritten) == (6, 3)  # c's, not d's
    assert (counts["audit_log"].rows, counts["audit_log"].rewritten) == (4, 2)  # c's two
    assert sum(c.changed_meanwhile for c in counts.values()) == 0

    alone = KeyRing.from_keys([b])
    for _, _, value in run(_encrypted_values(database)):
        alone.unseal(_stored(value))  # every ciphertext opens with B alone
    encryption.configure(alone)
    assert all(PII in found for chat in "cd" for found in run(_read_back(database, chat)))
    assert PII not in repr(run(_raw(database)))
    again = run(rotate_keys(database, both))
    assert sum(c.rewritten for c in again) == 0  # a second run (or a resumed one): nothing


def test_rows_written_with_encryption_off_are_encrypted_by_rotation(
        database: Database, reviewer: User, keys: tuple[str, str], run: Run[Any]) -> None:
    encryption.configure(KeyRing.disabled())
    run(_plant(database, reviewer))
    assert PII in repr(run(_raw(database)))  # off: stored as written
    ring = KeyRing.from_keys([keys[0]])
    encryption.configure(ring)
    assert all(PII in found for found in run(_read_back(database)))  # plaintext reads
    counts = run(rotate_keys(database, ring))
    assert sum(c.rewritten for c in counts) == sum(c.rows for c in counts) > 0
    assert PII not in repr(run(_raw(database)))
    assert all(PII in found for found in run(_read_back(database)))


async def _old_rows(url: str) -> None:
    """A turn with a form as revision 0002's code stored it (plaintext)."""
    record = {"v": 1, "kind": "message", "text": f"I am {PII}", "events": [
        {"type": "form_start", "name": "contact_form"},
        {"type": "slot", "name": "email", "value": PII},
        {"type": "slot", "name": "requested_slot", "value": "phone"}],
        "state": {"active_form": "contact_form", "requested_slot": "phone"}}
    db = open_database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO conversations (id, channel, user_id, first_at, last_at, "
                "user_messages, bot_messages, agent_messages, fallbacks, handed_off, outcome, "
                "last_sequence, outcome_sequence, model) VALUES ('web:site:old', 'web', 'u', "
                ":at, :at, 1, 0, 0, 0, false, 'abandoned', 1, 1, '')"), {"at": _at(db)})
            await connection.execute(text(
                "INSERT INTO turns (conversation_id, sequence, channel, kind, user_message, "
                "message_id, at, text, intent, fallback, out_of_scope, handoff_requested, "
                "active_form, requested_slot, model, record) VALUES ('web:site:old', 1, "
                "'web', 'message', true, 'm1', :at, :text, 'inform', false, false, false, "
                "'contact_form', 'phone', '', :record)"),
                {"at": _at(db), "text": f"I am {PII}", "record": json.dumps(record)})
    finally:
        await db.aclose()


def _at(db: Database) -> Any:
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(T0, UTC)
    return moment.replace(tzinfo=None).isoformat(" ") if db.dialect == "sqlite" else moment


def test_migration_0003_keeps_old_rows_and_its_downgrade_decrypts(
        database_url: str, keys: tuple[str, str], run: Run[Any]) -> None:
    run(upgrade(database_url, "0002_archive"))
    run(_old_rows(database_url))
    run(upgrade(database_url))
    ring = KeyRing.from_keys([keys[0]])
    encryption.configure(ring)
    db = open_database(database_url)
    try:
        report = run(analytics(db, start=DAY, end=DAY, channel=None))
        [form] = report.total.forms  # the form events came out of the plaintext record
        assert (form.form, form.started, [(d.slot, d.count) for d in form.dropped]) == (
            "contact_form", 1, [("phone", 1)])
        counts = {c.table: c.rewritten for c in run(rotate_keys(db, ring))}
        assert counts["turns"] == 1 and PII not in repr(run(_raw(db)))
    finally:
        run(db.aclose())
    run(downgrade(database_url, "0002_archive"))  # revision 0002 reads plaintext
    db = open_database(database_url)
    try:
        raw = run(_raw(db))["turns"]
        assert PII in repr(raw) and MARK not in repr(raw)
    finally:
        run(db.aclose())


def test_a_row_changed_during_the_rotation_keeps_what_its_writer_stored(
        database: Database, reviewer: User, keys: tuple[str, str], run: Run[Any]) -> None:
    """Between rotate-keys' read and its update another process upserts the handoff: the
    update finds the value changed and leaves the row as that writer stored it."""
    from desk.key_rotation import _Rotate, rewrite_batch  # the batch under test, and its rule

    a, b = keys
    encryption.configure(KeyRing.from_keys([a]))
    run(_plant(database, reviewer))
    both = KeyRing.from_keys([b, a])
    encryption.configure(both)
    [handoffs] = [t for t in encrypted_tables() if t.name == "handoffs"]
    newer = both.encode_text("a newer reason")

    def racing_batch(connection: Any) -> Any:
        class Racing(_Rotate):
            def document(self, raw: str) -> Any:  # the other writer, in between
                connection.execute(text("UPDATE handoffs SET reason = :r"), {"r": newer})
                return super().document(raw)

        return rewrite_batch(connection, handoffs, Racing(both), None, 10)

    async def rotate() -> Any:
        async with database.sessions.begin() as session:
            return await (await session.connection()).run_sync(racing_batch)

    done = run(rotate())
    assert (done.rows, done.rewritten, done.changed_meanwhile) == (1, 0, 1)
    handoff = run(get_handoff(database, "c" * 32))
    assert handoff is not None and handoff.reason == "a newer reason"
