"""A trained model: parse contract, extractors, fallback flags, save/load and versions."""

from __future__ import annotations

import json
import tarfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from brain.errors import BotDataError, ModelError, ModelVersionError
from brain.nlu import NluModel, load_model, load_nlu_config, load_training_data, save_model
from brain.nlu.training import train_model

BERLIN = ZoneInfo("Europe/Berlin")
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN)


def _entity(parse: dict, name: str) -> dict:
    matches = [e for e in parse["entities"] if e["entity"] == name]
    assert matches, parse["entities"]
    return matches[0]


def test_parse_contract(tiny_model: NluModel) -> None:
    parse = tiny_model.parse("hello there")
    assert parse["intent"]["name"] == "greet"
    assert parse["intent"]["confidence"] == parse["intent_ranking"][0]["confidence"]
    confidences = [r["confidence"] for r in parse["intent_ranking"]]
    assert confidences == sorted(confidences, reverse=True)
    assert {r["name"] for r in parse["intent_ranking"]} == set(tiny_model.intents)
    assert abs(sum(confidences) - 1) < 1e-3
    assert parse["nlu_fallback"] is False and parse["fallback_reason"] is None


def test_typos_short_forms_and_case(tiny_model: NluModel) -> None:
    assert tiny_model.parse("WHERE IS MY ORDR??")["intent"]["name"] == "order_status"
    assert tiny_model.parse("helo thereee")["intent"]["name"] == "greet"
    assert tiny_model.parse("c u later")["intent"]["name"] == "goodbye"


def test_regex_entity_keeps_spelling_in_upper_case(tiny_model: NluModel) -> None:
    parse = tiny_model.parse("where is ord-31337 pls")
    entity = _entity(parse, "order_id")
    assert entity == {"entity": "order_id", "value": "ORD-31337", "text": "ord-31337",
                      "start": 9, "end": 18, "confidence": 1.0, "extractor": "regex"}


def test_lookup_matches_despite_typo_and_maps_synonym(tiny_model: NluModel) -> None:
    carrier = _entity(tiny_model.parse("is it sent with fedx"), "carrier")
    assert (carrier["text"], carrier["extractor"]) == ("fedx", "entity_ruler")
    country = _entity(tiny_model.parse("do you ship to america"), "country")
    assert (country["text"], country["value"]) == ("america", "United States")


def test_ner_learns_annotated_entities(tiny_model: NluModel) -> None:
    country = _entity(tiny_model.parse("can you ship to germany"), "country")
    assert (country["text"], country["extractor"], country["confidence"]) == (
        "germany", "ner", None)


def test_values_are_normalised_against_reference_time(tiny_model: NluModel) -> None:
    parse = tiny_model.parse("can it come tomorrow at 2pm for $40", reference_time=WEDNESDAY)
    assert _entity(parse, "time")["value"] == "2026-11-26T14:00:00+01:00"
    assert _entity(parse, "amount_of_money")["value"] == {"amount": 40.0, "currency": "USD"}


@pytest.mark.parametrize("text", ["qwxz vbnm plkj", "asdfgh jkl", "zzzzzz qqqq"])
def test_gibberish_is_flagged_as_fallback(tiny_model: NluModel, text: str) -> None:
    parse = tiny_model.parse(text)
    assert parse["nlu_fallback"] is True, parse["intent_ranking"][:3]
    assert parse["fallback_reason"] == "low_confidence"


def test_empty_text_yields_a_fallback_parse(tiny_model: NluModel) -> None:
    parse = tiny_model.parse("   ")
    assert parse["intent"] == {"name": None, "confidence": 0.0}
    assert (parse["nlu_fallback"], parse["fallback_reason"], parse["entities"]) == (
        True, "empty", [])


def test_ambiguity_margin_flags_close_calls(tiny_bot: Path) -> None:
    data, config = load_training_data(tiny_bot), load_nlu_config(tiny_bot)
    strict = train_model(data, config.__class__(**{**config.to_dict(), "values": (),
                                                    "ambiguity_threshold": 0.99}), seed=7)
    parse = strict.parse("hello there")
    assert parse["ambiguous"] is True and parse["fallback_reason"] == "ambiguous"


@pytest.mark.parametrize("name", ["model", "model.tar.gz"])
def test_save_and_load_round_trip(tiny_model: NluModel, tmp_path: Path, name: str) -> None:
    path = save_model(tiny_model, tmp_path / name)
    loaded = load_model(path)
    for text in ["where is ord-31337", "do you ship to america", "bye", "qwxz"]:
        assert loaded.parse(text, reference_time=WEDNESDAY) == tiny_model.parse(
            text, reference_time=WEDNESDAY)
    assert loaded.meta["data_fingerprint"] == tiny_model.meta["data_fingerprint"]
    assert loaded.meta["versions"]["spacy"].startswith("3.8")
    assert loaded.config == tiny_model.config


def test_newest_model_in_a_folder_is_found(tiny_model: NluModel, tmp_path: Path) -> None:
    save_model(tiny_model, tmp_path / "models" / "nlu-1.tar.gz")
    assert load_model(tmp_path).intents == tiny_model.intents
    with pytest.raises(ModelError, match="no Parley model at"):
        load_model(tmp_path / "nothing")


@pytest.mark.parametrize(
    ("change", "expected"),
    [({"model_format": 99}, "model format 99"),
     ({"versions": {"parley": "0.0.1", "spacy": "3.4.1", "scikit-learn": "1.9.1"}},
      "spaCy 3.4.1")],
)
def test_incompatible_model_names_the_version_that_made_it(
        tiny_model: NluModel, tmp_path: Path, change: dict, expected: str) -> None:
    folder = save_model(tiny_model, tmp_path / "model")
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(change)
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelVersionError) as caught:
        load_model(folder)
    assert expected in str(caught.value) and "made by Parley" in str(caught.value)
    assert "parley train" in str(caught.value)


def test_corrupt_archive_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.tar.gz"
    path.write_bytes(b"not a tarball")
    with pytest.raises(ModelError, match="cannot read model archive"):
        load_model(path)
    assert not tarfile.is_tarfile(path)


def test_same_seed_gives_the_same_model(tiny_bot: Path, tiny_model: NluModel) -> None:
    again = train_model(load_training_data(tiny_bot), load_nlu_config(tiny_bot), seed=7)
    for text in ["where is my package", "can i get it to spain", "hey", "later"]:
        assert again.parse(text, reference_time=WEDNESDAY) == tiny_model.parse(
            text, reference_time=WEDNESDAY)


def test_bad_config_names_file_and_line(tmp_path: Path, tiny_bot: Path) -> None:
    (tmp_path / "config.yml").write_text(
        "language: en\nnlu:\n  fallback_threshold: 2\n  typo_key: 1\npipelines: []\n")
    with pytest.raises(BotDataError) as caught:
        load_nlu_config(tmp_path)
    text = str(caught.value)
    assert "config.yml:3: 'fallback_threshold': expected a number between 0 and 1" in text
    assert "config.yml:4: unknown NLU setting 'typo_key'" in text
    assert "config.yml:5: unsupported key 'pipelines'" in text  # Rasa's 'pipeline' is read
