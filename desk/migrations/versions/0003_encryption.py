"""Encryption at rest: the turns' form events in a plain column of their own.

Revision ID: 0003_encryption
Revises: 0002_archive
Create Date: 2026-12-04

The columns that are now encrypted (``desk.encrypted_columns``) keep their types — a
ciphertext is a text in ``TEXT`` and a JSON string in ``JSON``/``JSONB`` — so the rows
already there stay as they are, readable; ``parley privacy rotate-keys`` encrypts them.
What changes is what SQL can no longer read inside the encrypted turn record: the form
funnel's events (``desk.analytics_forms.form_events``: form and slot names, never a
value) move to ``turns.form_events``, filled here from the records written so far.

The downgrade decrypts every ciphertext first (revision 0002's code reads plaintext), with
the process's keys (``desk.encryption.configure``); it stops, changing nothing, when there
is a ciphertext and no key.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_encryption"
down_revision = "0002_archive"
branch_labels = None
depends_on = None

_BATCH = 1000
_NAME = 128
# The encrypted columns as of this revision: (table, primary key, texts, JSON documents).
_ENCRYPTED = (
    ("audit_log", ("id",), (), ("detail",)),
    ("feedback", ("conversation_id", "sequence"), ("comment",), ()),
    ("handoff_messages", ("id",), ("text",), ()),
    ("handoffs", ("id",), ("reason",), ("request",)),
    ("messages", ("conversation_id", "sequence", "position"), ("text",), ("buttons",)),
    ("notes", ("id",), ("text",), ()),
    ("review_labels", ("conversation_id", "sequence"), ("text",), ("entities",)),
    ("turns", ("conversation_id", "sequence"), ("text", "payload"), ("record",)),
)


def _json_type() -> Any:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True),
                                                   "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("form_events", _json_type(), nullable=True))
    if not op.get_context().as_sql:  # SQL rendered offline cannot read the rows
        _fill_form_events(op.get_bind())


def _fill_form_events(connection: sa.Connection) -> None:
    """``form_events`` of the turns stored so far (all plaintext: nothing was encrypted
    before this revision), in batches by key."""
    turns = sa.table("turns", sa.column("conversation_id"), sa.column("sequence"),
                     sa.column("record", sa.Text), sa.column("form_events", _json_type()))
    text = sa.cast(turns.c.record, sa.Text)
    after: tuple[Any, ...] | None = None
    while True:
        query = sa.select(turns.c.conversation_id, turns.c.sequence, text).where(
            text.like("%form_st%") | text.like("%session_start%") | text.like(
                "%requested_slot%")).order_by(turns.c.conversation_id, turns.c.sequence
                                              ).limit(_BATCH)
        if after is not None:
            query = query.where(sa.tuple_(turns.c.conversation_id, turns.c.sequence)
                                > sa.tuple_(*after))
        rows = connection.execute(query).all()
        for conversation, sequence, raw in rows:
            events = _form_events(json.loads(raw))
            if events is not None:
                connection.execute(turns.update().where(
                    turns.c.conversation_id == conversation, turns.c.sequence == sequence
                ).values(form_events=events))
        if len(rows) < _BATCH:
            return
        after = (rows[-1][0], rows[-1][1])


def _form_events(record: Any) -> list[dict[str, Any]] | None:
    """As ``desk.analytics_forms.form_events`` did at this revision."""
    events = record.get("events") if isinstance(record, dict) else None
    if not isinstance(events, list):
        return None
    kept: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "form_start":
            kept.append({"type": kind, "name": str(event.get("name", ""))[:_NAME]})
        elif kind == "form_stop":
            kept.append({"type": kind, "completed": bool(event.get("completed"))})
        elif kind == "session_start":
            kept.append({"type": kind})
        elif kind == "slot" and event.get("name") == "requested_slot" \
                and isinstance(event.get("value"), str):
            kept.append({"type": kind, "name": "requested_slot",
                         "value": event["value"][:_NAME]})
    return kept or None


def downgrade() -> None:
    from desk.encryption import current
    from desk.key_rotation import EncryptedTable, decrypt_all

    tables = [EncryptedTable(name, key, texts, documents)
              for name, key, texts, documents in _ENCRYPTED]
    decrypt_all(op.get_bind(), tables, current())
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_column("form_events")
