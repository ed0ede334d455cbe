"""Retrieval intents in the NLU: reading ``faq/ask_hours`` examples, the parse's
``response_selector`` (Rasa's shape), model formats, and the sub-intent evaluation."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from brain.errors import BotDataError, ModelVersionError
from brain.nlu import NluModel, load_model, load_nlu_config, load_training_data, save_model
from brain.nlu.evaluation import evaluate_bot
from brain.nlu.model_store import MODEL_FORMAT
from brain.nlu.training import train_model
from tests.conftest import FIXTURES

FAQ_BOT = FIXTURES / "bots" / "faq_bot"


@pytest.fixture(scope="module")
def faq_model() -> NluModel:
    return train_model(load_training_data(FAQ_BOT), load_nlu_config(FAQ_BOT), seed=3)


def _bot_with_nlu(tmp_path: Path, nlu: str) -> Path:
    bot = tmp_path / "bot"
    (bot / "data").mkdir(parents=True)
    (bot / "data" / "nlu.yml").write_text(textwrap.dedent(nlu))
    return bot


def test_sub_intents_are_read_as_rasa_names_them() -> None:
    data = load_training_data(FAQ_BOT)
    assert data.intents == ["chitchat", "faq", "goodbye", "greet"]
    assert data.retrieval_intents == ["chitchat", "faq"]
    assert "faq/ask_hours" in data.intent_response_keys and len(data.intent_response_keys) == 7
    example = next(e for e in data.examples if e.text == "when are you open")
    assert (example.intent, example.intent_response_key, example.label) == (
        "faq", "faq/ask_hours", "faq/ask_hours")
    plain = next(e for e in data.examples if e.text == "hello")
    assert (plain.intent_response_key, plain.label) == (None, "greet")
    # the domain's sub-intent responses come along, for the parse to list
    assert data.responses["utter_faq/ask_hours"] == (
        {"text": "We are open 9:00 to 18:00, Monday to Saturday."},)
    assert "utter_greet" not in data.responses


def test_a_sub_intent_label_changes_the_fingerprint(tmp_path: Path) -> None:
    body = """\
        nlu:
        - intent: faq/{sub}
          examples: |
            - when are you open
        - intent: greet
          examples: |
            - hello
        """
    one = load_training_data(_bot_with_nlu(tmp_path / "a", body.format(sub="ask_hours")))
    two = load_training_data(_bot_with_nlu(tmp_path / "b", body.format(sub="ask_times")))
    assert one.fingerprint() != two.fingerprint()


@pytest.mark.parametrize(("intent", "message"), [
    ("faq/ask/hours", "intent 'faq/ask/hours': a retrieval intent is written "
                      "'intent/sub_intent', with one '/'"),
    ("faq/", "intent 'faq/': a retrieval intent is written 'intent/sub_intent', with one '/'"),
])
def test_malformed_sub_intent_names_are_errors_on_their_line(
        tmp_path: Path, intent: str, message: str) -> None:
    bot = _bot_with_nlu(tmp_path, f"""\
        nlu:
        - intent: greet
          examples: |
            - hello
        - intent: {intent}
          examples: |
            - when are you open
        """)
    with pytest.raises(BotDataError) as caught:
        load_training_data(bot)
    assert [str(p) for p in caught.value.problems] == [f"bot/data/nlu.yml:5: {message}"]


def test_an_intent_with_examples_of_its_own_and_sub_intents_is_an_error(tmp_path: Path) -> None:
    bot = _bot_with_nlu(tmp_path, """\
        nlu:
        - intent: faq/ask_hours
          examples: |
            - when are you open
        - intent: faq
          examples: |
            - i have a question
        """)
    with pytest.raises(BotDataError) as caught:
        load_training_data(bot)
    assert [str(p) for p in caught.value.problems] == [
        "bot/data/nlu.yml:5: intent 'faq' has examples of its own and of sub-intent "
        "'faq/ask_hours' (also at bot/data/nlu.yml:2); a retrieval intent has examples only "
        "under its sub-intents"]


def test_the_same_text_in_two_sub_intents_is_an_error(tmp_path: Path) -> None:
    bot = _bot_with_nlu(tmp_path, """\
        nlu:
        - intent: faq/ask_hours
          examples: |
            - when are you open
        - intent: faq/ask_days
          examples: |
            - When are you open
        """)
    with pytest.raises(BotDataError, match="is in intent 'faq/ask_days' and in "
                                           "'faq/ask_hours'"):
        load_training_data(bot)


@pytest.mark.slow
def test_parse_names_the_retrieval_intent_and_carries_the_selection(faq_model: NluModel) -> None:
    parse = faq_model.parse("when are you open")
    assert parse["intent"]["name"] == "faq"
    assert parse["intent"]["full_retrieval_intent_name"] == "faq/ask_hours"
    assert parse["intent_ranking"][0]["name"] == "faq"
    assert {r["name"] for r in parse["intent_ranking"]} == {"chitchat", "faq", "goodbye", "greet"}
    assert abs(sum(r["confidence"] for r in parse["intent_ranking"]) - 1) < 1e-3
    selector = parse["response_selector"]
    assert selector["all_retrieval_intents"] == ["chitchat", "faq"]
    assert set(selector) == {"all_retrieval_intents", "chitchat", "faq", "default"}
    response = selector["faq"]["response"]
    assert response == {"responses": [{"text": "We are open 9:00 to 18:00, Monday to Saturday."}],
                        "confidence": response["confidence"],
                        "intent_response_key": "faq/ask_hours",
                        "utter_action": "utter_faq/ask_hours"}
    ranking = selector["faq"]["ranking"]
    assert [set(r) for r in ranking] == [{"confidence", "intent_response_key"}] * 5
    assert ranking[0] == {"confidence": response["confidence"],
                          "intent_response_key": "faq/ask_hours"}
    assert abs(sum(r["confidence"] for r in ranking) - 1) < 1e-3
    assert {r["intent_response_key"] for r in selector["default"]["ranking"]} == set(
        load_training_data(FAQ_BOT).intent_response_keys)
    assert parse["nlu_fallback"] is False


@pytest.mark.slow
def test_the_retrieval_intents_confidence_is_the_sum_of_its_sub_intents(
        faq_model: NluModel) -> None:
    classifier = faq_model.nlp.get_pipe("parley_intent_classifier")
    doc = faq_model.nlp("do you take visa")
    faq_total = sum(p for label, p in doc.cats.items() if label.startswith("faq/"))
    parse = faq_model.parse("do you take visa")
    assert parse["intent"] == {"name": "faq", "confidence": round(faq_total, 4),
                               "full_retrieval_intent_name": "faq/ask_payment"}
    assert len(classifier.labels) == 9 and faq_model.intents == [
        "chitchat", "faq", "goodbye", "greet"]


@pytest.mark.slow
def test_a_plain_intent_still_carries_every_selector_and_no_full_name(
        faq_model: NluModel) -> None:
    parse = faq_model.parse("hello")
    assert parse["intent"]["name"] == "greet" and "full_retrieval_intent_name" not in parse[
        "intent"]
    assert parse["response_selector"]["faq"]["response"]["intent_response_key"].startswith(
        "faq/")
    empty = faq_model.parse("  ")
    assert empty["response_selector"] == {"all_retrieval_intents": ["chitchat", "faq"]}


@pytest.mark.slow
def test_entities_annotated_in_sub_intent_examples_are_extracted(faq_model: NluModel) -> None:
    parse = faq_model.parse("do you ship to germany")
    assert parse["intent"]["full_retrieval_intent_name"] == "faq/ask_shipping"
    assert [(e["entity"], e["text"]) for e in parse["entities"]] == [("country", "germany")]


@pytest.mark.slow
def test_a_retrieval_model_is_format_2_and_loads_back(faq_model: NluModel,
                                                      tmp_path: Path) -> None:
    path = save_model(faq_model, tmp_path / "faq.tar.gz")
    loaded = load_model(path)
    assert loaded.meta["model_format"] == MODEL_FORMAT == 2
    assert loaded.retrieval_intents == ["chitchat", "faq"]
    assert loaded.parse("what is your address") == faq_model.parse("what is your address")


def test_a_model_without_retrieval_intents_stays_format_1(tiny_model: NluModel,
                                                          tmp_path: Path) -> None:
    folder = save_model(tiny_model, tmp_path / "model")
    assert json.loads((folder / "meta.json").read_text())["model_format"] == 1
    assert "response_selector" not in load_model(folder).parse("hello there")


def test_a_format_1_model_written_before_retrieval_intents_loads(tiny_model: NluModel,
                                                                 tmp_path: Path) -> None:
    folder = save_model(tiny_model, tmp_path / "model")
    meta = json.loads((folder / "meta.json").read_text())
    for key in ("retrieval_intents", "retrieval_responses"):  # what such a model lacks
        del meta[key]
    (folder / "meta.json").write_text(json.dumps(meta))
    loaded = load_model(folder)
    assert loaded.retrieval_intents == [] and loaded.parse("hello there")["intent"][
        "name"] == "greet"


def test_a_newer_model_format_is_refused_by_name(tiny_model: NluModel, tmp_path: Path) -> None:
    folder = save_model(tiny_model, tmp_path / "model")
    meta = json.loads((folder / "meta.json").read_text())
    meta["model_format"] = 3
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelVersionError, match=r"model format 3.*reads model formats 1, 2"):
        load_model(folder)


@pytest.mark.slow
def test_evaluation_reports_every_sub_intent(tmp_path: Path) -> None:
    bot = tmp_path / "faq_bot"
    shutil.copytree(FAQ_BOT, bot)
    report = evaluate_bot(bot, folds=2, seed=0, report_dir=tmp_path / "report")
    assert set(report.per_intent) == {"chitchat", "faq", "goodbye", "greet"}
    selection = report.response_selection
    keys = load_training_data(bot).intent_response_keys
    assert sorted(selection["per_sub_intent"]) == keys
    assert selection["examples_tested"] == 40
    assert sum(row["support"] for row in selection["per_sub_intent"].values()) == 40
    for row in selection["per_sub_intent"].values():
        assert set(row) == {"precision", "recall", "f1-score", "support"}
    assert 0 < selection["end_to_end_accuracy"] <= selection["accuracy"] <= 1
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["response_selection"] == selection
    # a wrong sub-intent is on the relabelling worklist under its full name
    wrong = [p for p in report.predictions if p.example.intent_response_key
             and p.full_intent != p.example.intent_response_key]
    assert {p.example.text for p in wrong} <= {p.example.text for p in report.errors()}


def test_evaluation_of_a_bot_without_retrieval_intents_has_no_sub_intent_report(
        tiny_model: NluModel) -> None:
    from brain.nlu.evaluation import evaluate_model

    data = load_training_data(FIXTURES / "bots" / "tiny_bot")
    report = evaluate_model(tiny_model, data.with_examples(data.examples[:5]), method="test")
    assert report.response_selection == {}


def test_folding_sums_sub_intents_and_each_selector_renormalises_its_own() -> None:
    from brain.nlu.retrieval import RetrievalLabels

    labels = ["chitchat/ask_name", "faq/ask_hours", "faq/ask_returns", "greet"]
    grouping = RetrievalLabels(labels, {"utter_faq/ask_returns": [{"text": "30 days"}]})
    probabilities = [0.1, 0.2, 0.6, 0.1]
    assert grouping.intents == ["chitchat", "faq", "greet"]
    assert grouping.fold(probabilities) == pytest.approx({"chitchat": 0.1, "faq": 0.8,
                                                          "greet": 0.1})
    selector = grouping.selector(probabilities)
    assert selector["faq"] == {
        "response": {"responses": [{"text": "30 days"}], "confidence": 0.75,
                     "intent_response_key": "faq/ask_returns",
                     "utter_action": "utter_faq/ask_returns"},
        "ranking": [{"confidence": 0.75, "intent_response_key": "faq/ask_returns"},
                    {"confidence": 0.25, "intent_response_key": "faq/ask_hours"}]}
    assert selector["chitchat"]["response"]["confidence"] == 1.0
    assert [r["intent_response_key"] for r in selector["default"]["ranking"]] == [
        "faq/ask_returns", "faq/ask_hours", "chitchat/ask_name"]
    assert selector["default"]["response"]["confidence"] == round(0.6 / 0.9, 4)
    assert not RetrievalLabels(["greet", "goodbye"])
