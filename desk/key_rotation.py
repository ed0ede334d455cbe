"""Re-encrypting the database under the newest key: ``parley privacy rotate-keys``.

:func:`rotate_keys` walks every table with encrypted columns (``desk.encrypted_columns``,
found in the schema, so a new one is covered without a change here) in primary-key order,
one batch per transaction, and rewrites each value that is not a ciphertext under the
ring's first key: older ciphertexts (decrypted with the key their id names), and the
plaintexts written before encryption or while it was off. A value already under the
newest key is recognised by its key id and left alone, without decrypting it — so a
rotation stopped half-way resumes by running again, and a second run rewrites nothing.

It may run while gateways and archivers write: each update says ``WHERE value = <what
was read>``, so a row another process changed meanwhile (a handoff upserted, a label
replaced) keeps what that process wrote — which its own ring encrypted — and is counted
as ``changed_meanwhile``. Keys stay in the ring until a rotation run finished after every
process encrypts with the new key: only then can the old key go.

The work is plain SQL on a synchronous connection (:func:`rewrite_batch`), so Alembic's
downgrade below revision 0003 uses it too, to decrypt (:func:`decrypt_all`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import JSON, Connection, MetaData, Text, cast, column, select, table, tuple_
from sqlalchemy.dialects.postgresql import JSONB

from desk.database import Database
from desk.encrypted_columns import EncryptedJSON, EncryptedText
from desk.encryption import MARK, RAW, KeyRing
from desk.errors import EncryptionKeyError

__all__ = ["EncryptedTable", "TableCount", "decrypt_all", "encrypted_tables",
           "holds_ciphertext", "rewrite_batch", "rotate_keys"]

DEFAULT_BATCH = 500
_KEEP = object()  # a value that stays as it is
_JSON_TYPE = JSON().with_variant(JSONB(), "postgresql")


@dataclass(frozen=True, slots=True)
class EncryptedTable:
    """A table's primary key and its encrypted columns, by kind."""

    name: str
    key: tuple[str, ...]
    texts: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()  # JSON


@dataclass(frozen=True, slots=True)
class TableCount:
    """One table's rotation: rows read, rows rewritten, rows another writer changed
    between the read and the update (left as that writer stored them)."""

    table: str
    rows: int = 0
    rewritten: int = 0
    changed_meanwhile: int = 0


@dataclass(frozen=True, slots=True)
class _Batch:
    last: tuple[Any, ...] | None
    rows: int
    rewritten: int
    changed_meanwhile: int


def encrypted_tables(metadata: MetaData | None = None) -> list[EncryptedTable]:
    """The tables of ``metadata`` (the desk's schema by default) with encrypted columns."""
    if metadata is None:
        from desk.schema import Base

        metadata = Base.metadata
    found = []
    for name, declared in sorted(metadata.tables.items()):
        texts = tuple(c.name for c in declared.columns if isinstance(c.type, EncryptedText))
        documents = tuple(c.name for c in declared.columns
                          if isinstance(c.type, EncryptedJSON))
        if texts or documents:
            found.append(EncryptedTable(name, tuple(c.name for c in declared.primary_key),
                                        texts, documents))
    return found


class _Rotate:
    """Everything under the ring's first key."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    def text(self, stored: str) -> Any:
        if not stored or self._ring.is_current(stored):
            return _KEEP
        return self._ring.seal(self._ring.decode_text(stored).encode("utf-8"))

    def document(self, raw: str) -> Any:
        if raw in ("[]", "{}"):  # stored as they are, as "" is
            return _KEEP
        if raw.startswith('"'):  # a JSON string: a ciphertext, or an escaped plaintext
            value = json.loads(raw)
            if self._ring.is_current(value):
                return _KEEP
            if value.startswith(MARK):
                return self._ring.seal(self._ring.unseal(value))
            return self._ring.seal(msgspec.json.encode(value.removeprefix(RAW)))
        return self._ring.seal(raw.encode("utf-8"))  # a plaintext document's JSON text


class _Decrypt:
    """Everything back to plaintext (for a schema that knows no encryption)."""

    def __init__(self, ring: KeyRing | None) -> None:
        self._ring = ring

    def text(self, stored: str) -> Any:
        if not stored.startswith((MARK, RAW)):
            return _KEEP
        return self._need().decode_text(stored) if stored.startswith(MARK) \
            else stored[len(RAW):]

    def document(self, raw: str) -> Any:
        if not raw.startswith('"'):
            return _KEEP
        value = json.loads(raw)
        if value.startswith(MARK):
            return msgspec.json.decode(self._need().unseal(value))
        return value[len(RAW):] if value.startswith(RAW) else _KEEP

    def _need(self) -> KeyRing:
        if self._ring is None:
            raise EncryptionKeyError("the database holds encrypted values: set "
                                     "PARLEY_ENCRYPTION_KEYS (all the keys it was written "
                                     "with) to decrypt them")
        return self._ring


_Rewrite = _Rotate | _Decrypt


def rewrite_batch(connection: Connection, spec: EncryptedTable, rewrite: _Rewrite,
                  after: tuple[Any, ...] | None, limit: int) -> _Batch:
    """Rewrite the encrypted values of up to ``limit`` rows of ``spec`` after the key
    ``after`` (in key order), each update conditional on the value read."""
    t = table(spec.name, *(column(k) for k in spec.key),
              *(column(c, Text) for c in spec.texts),
              *(column(c, _JSON_TYPE) for c in spec.documents))
    keys = [t.c[k] for k in spec.key]
    values = [t.c[c] for c in spec.texts] + [cast(t.c[c], Text) for c in spec.documents]
    query = select(*keys, *values).order_by(*keys).limit(limit)
    if after is not None:
        query = query.where(tuple_(*keys) > tuple_(*after) if len(keys) > 1
                            else keys[0] > after[0])
    rows = connection.execute(query).all()
    rewritten = meanwhile = 0
    for row in rows:
        key, read = tuple(row[:len(keys)]), row[len(keys):]
        changes = _changes(spec, rewrite, read)
        if not changes:
            continue
        where = [k == v for k, v in zip(keys, key, strict=True)]
        for name, (old, _) in changes.items():
            target = t.c[name] if name in spec.texts else cast(t.c[name], Text)
            where.append(target == old)
        result = connection.execute(t.update().where(*where).values(
            {name: new for name, (_, new) in changes.items()}))
        if result.rowcount:
            rewritten += 1
        else:
            meanwhile += 1
    last = tuple(rows[-1][:len(keys)]) if rows else None
    return _Batch(last, len(rows), rewritten, meanwhile)


def _changes(spec: EncryptedTable, rewrite: _Rewrite, read: Sequence[Any]
             ) -> dict[str, tuple[str, Any]]:
    """``{column: (value read, new value)}`` for the values of one row that change."""
    changes: dict[str, tuple[str, Any]] = {}
    names = (*spec.texts, *spec.documents)
    for index, (name, value) in enumerate(zip(names, read, strict=True)):
        if value is None:
            continue
        new = rewrite.text(value) if index < len(spec.texts) else rewrite.document(value)
        if new is not _KEEP:
            changes[name] = (value, new)
    return changes


async def rotate_keys(db: Database, ring: KeyRing, *, batch: int = DEFAULT_BATCH,
                      tables: Iterable[EncryptedTable] | None = None,
                      progress: Callable[[TableCount], None] | None = None
                      ) -> list[TableCount]:
    """Re-encrypt every encrypted value of ``db`` under ``ring``'s first key, one
    transaction per ``batch`` rows; the counts per table. ``progress`` is told each
    table's counts so far after every batch."""
    if not ring.encrypt_writes:
        raise EncryptionKeyError("rotate-keys encrypts under the newest key, and "
                                 "PARLEY_ENCRYPTION is off: unset it")
    rewrite = _Rotate(ring)
    counts = []
    for spec in encrypted_tables() if tables is None else tables:
        count, after = TableCount(spec.name), None
        while True:
            async with db.sessions.begin() as session:
                connection = await session.connection()
                done = await connection.run_sync(rewrite_batch, spec, rewrite, after, batch)
            count = TableCount(spec.name, count.rows + done.rows,
                               count.rewritten + done.rewritten,
                               count.changed_meanwhile + done.changed_meanwhile)
            if progress is not None:
                progress(count)
            if done.rows < batch:
                break
            after = done.last
        counts.append(count)
    return counts


def decrypt_all(connection: Connection, tables: Iterable[EncryptedTable],
                ring: KeyRing | None, *, batch: int = 1000) -> None:
    """Every encrypted value of ``tables`` back to plaintext, on ``connection`` (inside
    its transaction); :class:`EncryptionKeyError` when there is a ciphertext and no ring."""
    rewrite = _Decrypt(ring)
    for spec in tables:
        after = None
        while True:
            done = rewrite_batch(connection, spec, rewrite, after, batch)
            if done.rows < batch:
                break
            after = done.last


async def holds_ciphertext(db: Database) -> bool:
    """Whether any encrypted column of ``db`` holds a ciphertext (one look-up per column,
    each stopping at the first it finds)."""
    async with db.reads() as session:
        for spec in encrypted_tables():
            t = table(spec.name, *(column(c, Text) for c in spec.texts),
                      *(column(c, _JSON_TYPE) for c in spec.documents))
            probes = [t.c[c].like(f"{MARK}%") for c in spec.texts] + [
                cast(t.c[c], Text).like(f'"{MARK}%') for c in spec.documents]
            for probe in probes:
                if await session.scalar(select(1).select_from(t).where(probe).limit(1)):
                    return True
    return False
