"""Column types that store their values encrypted (``desk.encryption``): :class:`EncryptedText`
for texts, :class:`EncryptedJSON` for JSON documents.

They take the process's ring (``desk.encryption.require``) on every value, so the ring is
configured once at start-up and the columns work from any engine, session, thread or event
loop. A write with no ring configured raises instead of storing a plaintext; a read of a
plaintext (a row from before encryption, or written with ``PARLEY_ENCRYPTION=off``) needs
no ring, a read of a ciphertext does.

What SQL can do with an encrypted column: compare it to ``NULL`` and to ``""`` (both are
stored as they are, as are an empty JSON list and object), nothing more — a ciphertext is
random, so ``=``, ``LIKE``, ordering, grouping or JSON paths on it find nothing. What a
query needs to see lives in plain columns beside it that hold no personal data
(``turns.intent``, ``turns.form_events``...).

The database types are the plain ones (``TEXT``; ``JSON``, ``JSONB`` on PostgreSQL), so
turning encryption on changes no column: a JSON column holds its ciphertext as a JSON
string, and a plaintext one as the object or list it always held.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import JSON, Dialect, Text, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from desk.encryption import MARK, RAW, KeyRing, current, require
from desk.errors import DecryptionError

__all__ = ["ENCRYPTED_TYPES", "EncryptedJSON", "EncryptedText"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _ring_for_reading() -> KeyRing:
    ring = current()
    if ring is None:
        raise DecryptionError("a stored value is encrypted and this process has no "
                              "encryption keys: set PARLEY_ENCRYPTION_KEYS")
    return ring


class EncryptedText(TypeDecorator[str]):
    """A text stored encrypted (``TEXT`` holding ``penc1:…``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or value == "":
            return value
        return require().encode_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not value.startswith((MARK, RAW)):
            return value
        if value.startswith(RAW):  # a plaintext that looked like a ciphertext: no key needed
            return value[len(RAW):]
        return _ring_for_reading().decode_text(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document stored encrypted: the ciphertext of its JSON text, as a JSON string
    (``JSONB`` on PostgreSQL, ``JSON`` elsewhere)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or value == [] or value == {}:  # empty says nothing, as ""
            return value
        ring = require()
        if ring.encrypt_writes:
            return ring.seal(_encode(value))
        return ring.encode_text(value) if isinstance(value, str) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, str) or not value.startswith((MARK, RAW)):
            return value
        if value.startswith(RAW):
            return value[len(RAW):]
        return _decode(_ring_for_reading().unseal(value))


ENCRYPTED_TYPES = (EncryptedText, EncryptedJSON)
