"""What Parley does instead of each component and policy Rasa 3.6 ships.

A ``config.yml`` written for Rasa names components Parley does not run: its NLU pipeline is
fixed (``brain.nlu.training``) and its dialogue is deterministic (rules, stories by
memoization, forms). Each such name gets one notice saying what takes its place, so a
Rasa user learns where the knob went; the few settings with a Parley meaning are carried
over by ``brain.rasa_config`` (``NLU_SETTINGS``, ``POLICY_SETTINGS``).

The names are those of ``rasa.engine.recipes.default_components.DEFAULT_COMPONENTS`` in
Rasa 3.6.21, plus components and policies of older Rasa versions that 3.0 no longer has (a
config carried over from 2.x names them).
"""

from __future__ import annotations

__all__ = ["NLU_SETTINGS", "POLICY_SETTINGS", "REMOVED_IN_RASA_3", "REPLACED", "component_name"]

_TOKENIZER = ("Parley tokenises with spaCy's English rules (spacy.blank('en')) and "
              "normalises chat spelling itself")
_FEATURIZER = ("Parley's intent classifier makes its own features (TF-IDF over word 1-2-grams "
               "and character 2-5-grams)")
_LANGUAGE_MODEL = "Parley needs no pretrained language model: it starts from spacy.blank('en')"
_INTENTS = ("Parley's intent classifier (TF-IDF with logistic regression; tune it with "
            "nlu: classifier_c) takes its place")
_ENTITIES = ("Parley's entity recogniser (spaCy NER trained on the annotated examples; "
             "nlu: ner_epochs) takes its place")
_ML_POLICY = ("Parley has no machine-learned dialogue policy: rules, stories (by memoization) "
              "and forms decide")

# Component → what Parley uses instead (one notice line). ``None``: fully carried over.
REPLACED: dict[str, str | None] = {
    "WhitespaceTokenizer": _TOKENIZER,
    "SpacyTokenizer": _TOKENIZER,
    "JiebaTokenizer": _TOKENIZER + " (only English is supported)",
    "MitieTokenizer": _TOKENIZER,
    "SpacyNLP": _LANGUAGE_MODEL,
    "MitieNLP": _LANGUAGE_MODEL,
    "CountVectorsFeaturizer": _FEATURIZER,
    "LexicalSyntacticFeaturizer": _FEATURIZER,
    "RegexFeaturizer": _FEATURIZER + "; regex sections extract entities instead",
    "SpacyFeaturizer": _FEATURIZER,
    "ConveRTFeaturizer": _FEATURIZER,
    "LanguageModelFeaturizer": _FEATURIZER,
    "MitieFeaturizer": _FEATURIZER,
    "DIETClassifier": ("Parley's intent classifier (TF-IDF with logistic regression, trained "
                       "in one pass, no epochs; nlu: classifier_c) and its entity recogniser "
                       "(spaCy NER; nlu: ner_epochs, default 30) take its place"),
    "KeywordIntentClassifier": _INTENTS,
    "MitieIntentClassifier": _INTENTS,
    "SklearnIntentClassifier": _INTENTS,
    "LogisticRegressionClassifier": _INTENTS,
    "FallbackClassifier": None,
    "ResponseSelector": ("Parley's intent classifier learns retrieval intents' sub-intents "
                         "(faq/ask_hours) itself"),
    "CRFEntityExtractor": _ENTITIES,
    "MitieEntityExtractor": _ENTITIES,
    "SpacyEntityExtractor": ("Parley has no pretrained entity model (PERSON, ORG, ...): "
                             "entities come from annotated examples, lookup tables and regexes"),
    "DucklingEntityExtractor": ("Parley extracts time, number and amount_of_money itself, "
                                "without a Duckling server (its dimensions and timezone are "
                                "read; Duckling's 'amount-of-money' is Parley's "
                                "'amount_of_money')"),
    "EntitySynonymMapper": "Parley applies the training data's synonyms itself",
    "RegexEntityExtractor": ("Parley always extracts regex sections named like an entity and "
                             "lookup tables' entries"),
    "MemoizationPolicy": None,
    "AugmentedMemoizationPolicy": None,
    "RulePolicy": None,
    "TEDPolicy": _ML_POLICY,
    "UnexpecTEDIntentPolicy": _ML_POLICY + "; action_unlikely_intent is never predicted",
}

REMOVED_IN_RASA_3 = frozenset({
    "FormPolicy", "MappingPolicy", "FallbackPolicy", "TwoStageFallbackPolicy", "KerasPolicy",
    "SklearnPolicy", "EmbeddingPolicy", "EmbeddingIntentClassifier", "HFTransformersNLP",
    "LanguageModelTokenizer", "ConveRTTokenizer",
})

# Component → {its setting: Parley's setting}, for the settings that mean the same thing.
NLU_SETTINGS: dict[str, dict[str, str]] = {
    "FallbackClassifier": {"threshold": "fallback_threshold",
                           "ambiguity_threshold": "ambiguity_threshold"},
    "DucklingEntityExtractor": {"dimensions": "values", "timezone": "timezone"},
}
POLICY_SETTINGS: dict[str, dict[str, str]] = {
    "MemoizationPolicy": {"max_history": "max_history"},
    "AugmentedMemoizationPolicy": {"max_history": "max_history"},
    "RulePolicy": {"core_fallback_threshold": "core_fallback_threshold",
                   "core_fallback_action_name": "core_fallback_action",
                   "enable_fallback_prediction": "enable_fallback_prediction"},
    # Used only when no memoization policy gives one (brain.rasa_config).
    "TEDPolicy": {"max_history": "max_history"},
}


def component_name(written: str) -> str:
    """The registry name Rasa resolves ``written`` to: ``DIETClassifier`` stays, a module
    path into Rasa (``rasa.nlu.classifiers.diet_classifier.DIETClassifier``) is its class
    name; anything else (a custom ``my_pkg.MyComponent``) is returned as written."""
    if written.startswith("rasa.") and written.rsplit(".", 1)[-1] in REPLACED:
        return written.rsplit(".", 1)[-1]
    return written
