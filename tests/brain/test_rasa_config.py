"""Rasa's config.yml read as Rasa users write it: Rasa's keys accepted, the settings with a
Parley meaning carried over, one notice per component Parley replaces, Parley's own keys
winning, bad values naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brain.errors import BotDataError
from brain.nlu.config import (
    NluConfig,
    format_notice,
    load_config_notices,
    load_greet_on_start,
    load_nlu_config,
)
from brain.policy_settings import PolicySettings, load_policy_settings
from brain.rasa_components import REPLACED

# `rasa init`'s config.yml (Rasa 3.6.21): pipeline and policies present, but null.
RASA_INIT = """\
# The config recipe.
recipe: default.v1
assistant_id: placeholder_default
language: en

pipeline:
# # No configuration for the NLU pipeline was provided. The following default pipeline
#   - name: WhitespaceTokenizer
#   - name: FallbackClassifier
#     threshold: 0.3

policies:
# # No configuration for policies was provided. The following default policies were used
#   - name: MemoizationPolicy
#   - name: TEDPolicy
#     max_history: 5
"""

SPACY_BOT = """\
version: "3.1"
recipe: default.v1
assistant_id: 20250622-153332-orthogonal-template
language: en
pipeline:
  - name: SpacyNLP
    model: en_core_web_md
  - name: SpacyTokenizer
  - name: SpacyFeaturizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: 100
  - name: EntitySynonymMapper
  - name: ResponseSelector
    epochs: 100
  - name: FallbackClassifier
    threshold: 0.4
    ambiguity_threshold: 0.15
  - name: my_pkg.MyComponent
policies:
  - name: MemoizationPolicy
    max_history: 3
  - name: RulePolicy
    core_fallback_threshold: 0.4
    core_fallback_action_name: action_my_fallback
    enable_fallback_prediction: false
  - name: UnexpecTEDIntentPolicy
    max_history: 5
    epochs: 100
  - name: TEDPolicy
    max_history: 8
    epochs: 100
"""

# rasa.engine.recipes.default_components.DEFAULT_COMPONENTS of Rasa 3.6.21, by class name.
RASA_36_COMPONENTS = {
    "DIETClassifier", "FallbackClassifier", "KeywordIntentClassifier", "MitieIntentClassifier",
    "SklearnIntentClassifier", "LogisticRegressionClassifier", "ResponseSelector",
    "CRFEntityExtractor", "DucklingEntityExtractor", "EntitySynonymMapper",
    "MitieEntityExtractor", "SpacyEntityExtractor", "RegexEntityExtractor",
    "LexicalSyntacticFeaturizer", "ConveRTFeaturizer", "MitieFeaturizer", "SpacyFeaturizer",
    "CountVectorsFeaturizer", "LanguageModelFeaturizer", "RegexFeaturizer", "JiebaTokenizer",
    "MitieTokenizer", "SpacyTokenizer", "WhitespaceTokenizer", "MitieNLP", "SpacyNLP",
    "TEDPolicy", "UnexpecTEDIntentPolicy", "RulePolicy", "MemoizationPolicy",
    "AugmentedMemoizationPolicy",
}


def _bot(tmp_path: Path, text: str) -> Path:
    (tmp_path / "config.yml").write_text(text, encoding="utf-8")
    return tmp_path


def _messages(bot: Path) -> list[str]:
    return [format_notice(n) for n in load_config_notices(bot)]


def test_the_rasa_init_config_is_rasas_defaults_and_parleys(tmp_path: Path) -> None:
    bot = _bot(tmp_path, RASA_INIT)
    assert load_nlu_config(bot) == NluConfig()
    assert load_policy_settings(bot) == PolicySettings()
    assert load_greet_on_start(bot) is True
    assert load_config_notices(bot) == ()  # nothing is replaced that the user wrote


def test_a_custom_pipeline_carries_its_settings_over(tmp_path: Path) -> None:
    bot = _bot(tmp_path, SPACY_BOT)
    config = load_nlu_config(bot)
    assert (config.fallback_threshold, config.ambiguity_threshold) == (0.4, 0.15)
    assert config.ner_epochs == 30  # DIET's epochs are not the NER's
    assert load_policy_settings(bot) == PolicySettings(
        max_history=3, core_fallback_threshold=0.4, core_fallback_action="action_my_fallback",
        enable_fallback_prediction=False)


def test_each_replaced_component_gets_one_notice_line(tmp_path: Path) -> None:
    shown = str(tmp_path / "config.yml")
    messages = _messages(_bot(tmp_path, SPACY_BOT))
    named = [m.split(": notice: ", 1)[1].split(":", 1)[0] for m in messages]
    assert named == ["SpacyNLP", "SpacyTokenizer", "SpacyFeaturizer", "CountVectorsFeaturizer",
                     "DIETClassifier", "EntitySynonymMapper", "ResponseSelector",
                     "my_pkg.MyComponent", "RulePolicy", "UnexpecTEDIntentPolicy", "TEDPolicy"]
    by_name = dict(zip(named, messages, strict=True))
    assert by_name["SpacyNLP"].startswith(f"{shown}:6: notice: SpacyNLP: ")
    assert "nlu: ner_epochs" in by_name["DIETClassifier"]
    assert "'epochs: 100' is not carried over" in by_name["DIETClassifier"]
    assert "does not run custom components" in by_name["my_pkg.MyComponent"]
    assert "'core_fallback_threshold' is kept but has no effect" in by_name["RulePolicy"]
    assert "is used" not in by_name["TEDPolicy"]  # MemoizationPolicy gave max_history
    assert all("\n" not in m for m in messages)


def test_every_component_rasa_ships_is_known(tmp_path: Path) -> None:
    assert set(REPLACED) == RASA_36_COMPONENTS
    pipeline = "".join(f"  - name: {name}\n" for name in sorted(RASA_36_COMPONENTS))
    messages = _messages(_bot(tmp_path, f"pipeline:\n{pipeline}"))
    assert not any("custom components" in m for m in messages)
    for name, replacement in REPLACED.items():
        if replacement is not None:
            assert sum(f": notice: {name}: {replacement}" in m for m in messages) == 1, name


def test_a_module_path_into_rasa_is_the_component(tmp_path: Path) -> None:
    bot = _bot(tmp_path, "pipeline:\n  - name: rasa.nlu.classifiers.fallback_classifier."
               "FallbackClassifier\n    threshold: 0.5\n")
    assert load_nlu_config(bot).fallback_threshold == 0.5
    assert not any("custom" in m for m in _messages(bot))


def test_parleys_own_setting_wins_with_a_notice_naming_both(tmp_path: Path) -> None:
    bot = _bot(tmp_path, SPACY_BOT + "nlu:\n  fallback_threshold: 0.35\n  ambiguity_threshold:"
               " 0.15\ndialogue:\n  max_history: 6\n")
    assert load_nlu_config(bot).fallback_threshold == 0.35
    assert load_nlu_config(bot).ambiguity_threshold == 0.15
    assert load_policy_settings(bot).max_history == 6
    messages = _messages(bot)
    assert any(":38: notice: nlu: fallback_threshold 0.35 is used, not FallbackClassifier "
               "'threshold' 0.4 (line 21)" in m for m in messages)
    assert any(":41: notice: dialogue: max_history 6 is used, not MemoizationPolicy "
               "'max_history' 3 (line 26)" in m for m in messages)
    assert not any("ambiguity_threshold 0.15 is used" in m for m in messages)  # the same


def test_teds_max_history_counts_only_without_a_memoization_one(tmp_path: Path) -> None:
    bot = _bot(tmp_path, "policies:\n  - name: MemoizationPolicy\n  - name: TEDPolicy\n"
               "    max_history: 8\n")
    assert load_policy_settings(bot).max_history == 8
    messages = _messages(bot)
    assert any("TEDPolicy: " in m and "'max_history' 8 is used" in m for m in messages)
    assert any("MemoizationPolicy: without a max_history Rasa matches whole conversations"
               in m for m in messages)
    bot = _bot(tmp_path, "policies:\n  - name: TEDPolicy\n    max_history: 8\n"
               "  - name: AugmentedMemoizationPolicy\n    max_history: 2\n")
    assert load_policy_settings(bot).max_history == 2


def test_a_pipeline_without_fallback_classifier_is_said(tmp_path: Path) -> None:
    bot = _bot(tmp_path, "pipeline:\n  - name: DIETClassifier\npolicies:\n  - name: TEDPolicy\n")
    assert load_nlu_config(bot) == NluConfig()
    messages = _messages(bot)
    assert any(":1: notice: 'pipeline' has no FallbackClassifier: Rasa would never predict "
               "nlu_fallback; Parley keeps its NLU fallback" in m for m in messages)
    assert any(":3: notice: 'policies' has no RulePolicy" in m for m in messages)


def test_duckling_dimensions_and_timezone_become_values_and_timezone(tmp_path: Path) -> None:
    bot = _bot(tmp_path, "pipeline:\n  - name: DucklingEntityExtractor\n"
               "    url: http://localhost:8000\n    dimensions: [time, amount-of-money, email]\n"
               "    timezone: Europe/Berlin\n")
    config = load_nlu_config(bot)
    assert (config.values, config.timezone) == (("time", "amount_of_money"), "Europe/Berlin")
    assert any("Duckling dimensions Parley does not extract: email" in m for m in _messages(bot))
    (tmp_path / "config.yml").write_text("timezone: UTC\npipeline:\n  - name: "
                                         "DucklingEntityExtractor\n    timezone: Asia/Tokyo\n")
    assert load_nlu_config(bot).timezone == "UTC"  # Parley's own key wins


@pytest.mark.parametrize(("text", "expected"), [
    ("pipeline:\n  - name: FallbackClassifier\n    threshold: high\n",
     ":3: FallbackClassifier 'threshold': expected a number between 0 and 1, got 'high'"),
    ("policies:\n  - name: MemoizationPolicy\n    max_history: -1\n",
     ":3: MemoizationPolicy 'max_history': expected a whole number of at least 1, got -1"),
    ("policies:\n  - name: RulePolicy\n    enable_fallback_prediction: 'no'\n",
     ":3: RulePolicy 'enable_fallback_prediction': expected true or false, got 'no'"),
    ("policies:\n  - name: RulePolicy\n    core_fallback_action_name: ''\n",
     ":3: RulePolicy 'core_fallback_action_name': expected an action name"),
    ("dialogue:\n  max_history: 0\n", ":2: dialogue: max_history: expected a whole number"),
    ("dialogue:\n  history: 3\n", ":2: unknown dialogue setting 'history'"),
    ("language: de\n", ":1: 'language': only 'en' is supported, got 'de'"),
    ("recipe: custom.v9\n", ":1: unknown recipe 'custom.v9'"),
    ("pipeline: WhitespaceTokenizer\n", ":1: 'pipeline' must be a list of components"),
    ("policies:\n  - RulePolicy\n", ":2: each item of 'policies' needs a 'name'"),
    ("pipelines: []\n", ":1: unsupported key 'pipelines'"),
])
def test_a_bad_value_names_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    bot = _bot(tmp_path, text)
    for load in (load_nlu_config, load_config_notices):
        with pytest.raises(BotDataError) as caught:
            load(bot)
        assert f"{tmp_path / 'config.yml'}{expected}" in str(caught.value)


def test_policy_settings_alone_report_their_defects_too(tmp_path: Path) -> None:
    bot = _bot(tmp_path, "policies:\n  - name: MemoizationPolicy\n    max_history: many\n")
    with pytest.raises(BotDataError, match=r"config\.yml:3: MemoizationPolicy 'max_history'"):
        load_policy_settings(bot)
    assert load_policy_settings(tmp_path / "absent") == PolicySettings()


def test_the_graph_recipe_is_a_notice(tmp_path: Path) -> None:
    bot = _bot(tmp_path, "recipe: graph.v1\ntrain_schema:\n  nodes: {}\npredict_schema:\n"
               "  nodes: {}\n")
    assert load_nlu_config(bot) == NluConfig()
    assert [m.split(": notice: ")[0] for m in _messages(bot)] == [f"{tmp_path}/config.yml:1"]


def test_loading_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bot = _bot(tmp_path, SPACY_BOT)
    load_nlu_config(bot)
    load_policy_settings(bot)
    load_greet_on_start(bot)
    assert capsys.readouterr() == ("", "")


def test_the_stored_config_keeps_its_shape_so_old_models_load(tmp_path: Path) -> None:
    """A model stores NluConfig.to_dict(); one written before Rasa's keys were read holds
    exactly these keys, and reads back as it was."""
    old = {"language": "en", "timezone": "Europe/Berlin", "fallback_threshold": 0.45,
           "ambiguity_threshold": 0.05, "classifier_c": 20.0, "ner_epochs": 12,
           "values": ["time", "number", "amount_of_money"], "default_currency": "USD",
           "entity_case": {"order_id": "upper"}}
    config = NluConfig.from_dict(json.loads(json.dumps(old)))
    assert config.to_dict() == old
    assert set(load_nlu_config(_bot(tmp_path, SPACY_BOT)).to_dict()) == set(old)
