"""Parley's natural-language understanding: Rasa-format data in, spaCy pipeline, ``parse``.

Where things live:
    training_data.py   reading nlu.yml files (annotations.py: the [text](entity) markup)
    config.py          a bot's NLU settings (config.yml)
    normaliser.py      case, short forms, elongations → token.norm_
    intent_classifier.py  the intent component and why it is not spaCy's textcat
    entity_rules.py    lookup tables (entity_ruler) and regex entities
    values.py          dates, times, numbers and amounts → normalised values
    training.py        building and training the pipeline
    model.py           NluModel.parse and the parse contract
    retrieval.py       retrieval intents (faq/ask_hours): folding, response_selector
    model_store.py     versioned save/load
    evaluation.py      cross-validation reports
"""

from brain.nlu.config import NluConfig, load_nlu_config
from brain.nlu.model import NluModel, ParseResult
from brain.nlu.model_store import find_model, load_model, save_model
from brain.nlu.training import TrainingEvent, train_model
from brain.nlu.training_data import TrainingData, load_training_data

__all__ = [
    "NluConfig",
    "NluModel",
    "ParseResult",
    "TrainingData",
    "TrainingEvent",
    "find_model",
    "load_model",
    "load_nlu_config",
    "load_training_data",
    "save_model",
    "train_model",
]
