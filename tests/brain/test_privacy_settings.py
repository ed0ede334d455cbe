"""``privacy.yml``: which entities and slots hold personal data; defects by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from brain.dialogue.domain import Slot, SlotMapping
from brain.errors import BotDataError
from brain.privacy_settings import PrivacySettings, load_privacy_settings, validate_privacy

ENTITIES = ("order_id", "email", "city")
SLOTS = {"order_id": Slot("order_id", "text", (SlotMapping("from_entity", entity="order_id"),)),
         "address": Slot("address", "text", (SlotMapping("from_text"),)),
         "city": Slot("city", "text", (SlotMapping("from_entity", entity="city"),))}


def _bot(tmp_path: Path, text: str) -> Path:
    (tmp_path / "privacy.yml").write_text(text, encoding="utf-8")
    return tmp_path


def test_no_file_marks_nothing_sensitive(tmp_path: Path) -> None:
    settings = load_privacy_settings(tmp_path, entities=ENTITIES, slots=SLOTS)
    assert settings == PrivacySettings() and not settings.any


def test_a_slot_filled_from_a_sensitive_entity_is_sensitive_too(tmp_path: Path) -> None:
    settings = load_privacy_settings(_bot(tmp_path, """\
sensitive_entities: [order_id]
sensitive_slots: [address]
"""), entities=ENTITIES, slots=SLOTS)
    assert settings.entities == {"order_id"}
    assert settings.slots == {"order_id", "address"}  # not city: its entity is not marked


def test_every_defect_is_named_with_its_line(tmp_path: Path) -> None:
    bot = _bot(tmp_path, """\
sensitive_entities: [order_id, iban]
sensitive_slots: address
redact: everything
""")
    with pytest.raises(BotDataError) as caught:
        load_privacy_settings(bot, entities=ENTITIES, slots=SLOTS)
    shown = [str(p) for p in caught.value.problems]
    assert any(":1:" in p and "'iban' is not an entity" in p for p in shown), shown
    assert any(":2:" in p and "'sensitive_slots' must be a list of slot names" in p
               for p in shown), shown
    assert any(":3:" in p and "unknown key 'redact'" in p for p in shown), shown
    assert len(validate_privacy(bot, ENTITIES, SLOTS)) == 3


def test_a_yaml_twin_is_refused(tmp_path: Path) -> None:
    (tmp_path / "privacy.yaml").write_text("sensitive_entities: [order_id]\n")
    with pytest.raises(BotDataError, match="rename this file"):
        load_privacy_settings(tmp_path)
