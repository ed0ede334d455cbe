"""The turn record the archive receives: personal data out of every text, the record's
shape and identifiers kept, the tracker's own data untouched."""

from __future__ import annotations

import copy
from typing import Any

from brain.privacy_settings import PrivacySettings
from channels.redaction import Redactor
from workers.turn_redaction import redact_record, sensitive_strings

PRIVACY = PrivacySettings(entities=frozenset({"order_id"}),
                          slots=frozenset({"order_id", "address"}))
TEXT = "order ORD-77812 please, mail me at jane@example.com"


def _record() -> dict[str, Any]:
    parse = {"intent": {"name": "order_status", "confidence": 0.93},
             "entities": [{"entity": "order_id", "value": "ORD-77812", "text": "ORD-77812",
                           "start": 6, "end": 15}], "text": TEXT}
    return {
        "conversation_id": "whatsapp:+14155550100:+14155550199", "sequence": 4,
        "user_id": "+14155550199", "message_id": "SM1", "channel": "whatsapp",
        "text": TEXT, "payload": None, "parse": parse,
        "events": [{"type": "user", "text": TEXT, "parse": parse},
                   {"type": "slot", "name": "order_id", "value": "ORD-77812"},
                   {"type": "slot", "name": "address", "value": "12 Baker Street"},
                   {"type": "slot", "name": "city", "value": "London"},
                   {"type": "bot", "text": "Shipping ORD-77812 to 12 Baker Street, "
                    "call +44 20 7946 0958 if needed"}],
        "replies": [{"index": 0, "text": "Your card 4111 1111 1111 1111 was charged"}],
        "feedback": None,
    }


def test_sensitive_values_and_pattern_kinds_leave_every_text() -> None:
    record = _record()
    original = copy.deepcopy(record)
    sensitive = sensitive_strings(record, {"address": "12 Baker Street"}, PRIVACY)
    redacted = redact_record(record, Redactor(), privacy=PRIVACY, sensitive=sensitive)
    assert record == original  # the tracker's events and parse are shared: never mutated
    flat = repr({k: v for k, v in redacted.items()
                 if k not in ("conversation_id", "user_id")})
    for secret in ("ORD-77812", "jane@example.com", "Baker Street", "7946", "4111"):
        assert secret not in flat, secret
    assert redacted["text"] == "order [order_id] please, mail me at [email]"
    assert redacted["events"][1] == {"type": "slot", "name": "order_id", "value": "[order_id]"}
    assert redacted["events"][3]["value"] == "London"  # not marked sensitive
    assert redacted["events"][4]["text"].startswith("Shipping [order_id] to [address]")
    assert redacted["parse"]["intent"] == {"name": "order_status", "confidence": 0.93}
    # Identifiers stay: the archive is keyed by them.
    assert redacted["conversation_id"] == record["conversation_id"]
    assert redacted["sequence"] == 4 and redacted["message_id"] == "SM1"


def test_without_privacy_yml_only_the_patterns_are_redacted() -> None:
    redacted = redact_record(_record(), Redactor())
    assert redacted["text"] == "order ORD-77812 please, mail me at [email]"
    assert redacted["events"][2]["value"] == "12 Baker Street"


def test_no_kinds_configured_keeps_the_text() -> None:
    redacted = redact_record(_record(), Redactor(kinds=()))
    assert redacted["text"] == TEXT
