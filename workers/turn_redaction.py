"""What the archive keeps of a turn: its record with the personal data taken out.

The worker redacts the turn record (``workers.turn_record``) before its commit appends it
to ``parley:archive``, so neither the stream nor the database ever holds the clear text.
The NLU and the dialogue already had the real text; the tracker keeps it (it expires with
the conversation). Redacted, in every text of the record (the message, its parse, the
events, the replies, a rating's comment):

- the values of the bot's sensitive entities (``privacy.yml``) found in this message, and
  the values its sensitive slots hold (a reply may repeat one given turns ago): each
  becomes ``[<entity or slot name>]``; a sensitive slot's own value in a ``slot`` event too;
- what ``channels.redaction`` finds (emails, phone numbers, cards, IBANs), as ``[email]``…

Identifiers (conversation, user, message ids) stay: the archive is keyed by them, and
they are pseudonymous platform ids, not text a person wrote.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from brain.privacy_settings import PrivacySettings
from channels.redaction import Redactor

__all__ = ["redact_record", "sensitive_strings"]

_CONTENT = ("text", "payload", "attachments", "parse", "events", "replies", "feedback")
_SHORTEST = 2  # a one-character value would blank out letters all over the record


def sensitive_strings(record: Mapping[str, Any], slots: Mapping[str, Any],
                      privacy: PrivacySettings) -> dict[str, str]:
    """Each sensitive value of the turn → its placeholder: the entities of the message's
    parse the bot marks sensitive, and the values of its sensitive slots."""
    found: dict[str, str] = {}
    parse = record.get("parse") or {}
    for entity in parse.get("entities") or ():
        if entity.get("entity") in privacy.entities:
            for value in (entity.get("text"), entity.get("value")):
                _add(found, value, entity["entity"])
    for name in privacy.slots:
        _add(found, slots.get(name), name)
    for event in record.get("events") or ():
        if event.get("type") == "slot" and event.get("name") in privacy.slots:
            _add(found, event.get("value"), event["name"])
    return found


def redact_record(record: Mapping[str, Any], redactor: Redactor, *,
                  sensitive: Mapping[str, str] | None = None,
                  privacy: PrivacySettings | None = None) -> dict[str, Any]:
    """A copy of ``record`` whose content fields hold no personal data (module doc)."""
    values = dict(sensitive or {})
    pattern = (re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
               if values else None)

    def clean(text: str) -> str:
        if pattern is not None:
            text = pattern.sub(lambda m: f"[{values[m[0]]}]", text)
        return redactor.redact(text)

    slots = privacy.slots if privacy is not None else frozenset()
    redacted = dict(record)
    for key in _CONTENT:
        if key in redacted and redacted[key] is not None:
            redacted[key] = _walk(redacted[key], clean, slots)
    return redacted


def _walk(value: Any, clean: Callable[[str], str], slots: frozenset[str]) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        if value.get("type") == "slot" and value.get("name") in slots \
                and value.get("value") is not None:
            return {**value, "value": f"[{value['name']}]"}
        return {k: _walk(v, clean, slots) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, clean, slots) for v in value]
    return value


def _add(found: dict[str, str], value: Any, name: str) -> None:
    if isinstance(value, str) and len(value.strip()) >= _SHORTEST:
        found.setdefault(value, name)
    elif isinstance(value, list):
        for item in value:
            _add(found, item, name)
