"""Cross-validation of a bot's NLU data: how well would the model do on unseen messages?

``evaluate_bot`` trains on part of the examples and parses the rest, either once (a
stratified hold-out split) or k times (stratified k-fold, every example tested once), and
returns an ``EvaluationReport``; ``evaluation_report.write_report`` turns it into files.
Entities are scored by exact span and type, for the types the examples annotate.
Sub-intents of retrieval intents (``faq/ask_hours``) are scored as Rasa's response
selection report scores them: over the retrieval intents' examples, the sub-intent the
expected retrieval intent's selection picked, per sub-intent; the intent scores count
``faq`` as one intent. Splits are stratified by sub-intent, so each is trained and tested.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, classification_report
from sklearn.model_selection import StratifiedKFold, train_test_split

from brain.errors import BotDataError, Problem
from brain.nlu.config import NluConfig, load_nlu_config
from brain.nlu.model import NluModel
from brain.nlu.retrieval import full_retrieval_intent
from brain.nlu.training import train_model
from brain.nlu.training_data import Example, TrainingData, load_training_data

__all__ = ["EvaluationReport", "Prediction", "evaluate_bot", "evaluate_data", "evaluate_model"]


@dataclass(frozen=True, slots=True)
class Prediction:
    """One held-out example and what the model made of it."""

    example: Example
    intent: str | None
    confidence: float
    nlu_fallback: bool
    entities: tuple[tuple[int, int, str], ...]
    # The sub-intent the expected retrieval intent's selection picked (retrieval examples).
    intent_response_key: str | None = None
    # What the bot acts on: the intent, or for a retrieval intent its selected sub-intent.
    full_intent: str | None = None


@dataclass
class EvaluationReport:
    """Scores over all held-out predictions."""

    method: str
    predictions: list[Prediction]
    accuracy: float = 0.0
    macro_f1: float = 0.0
    weighted_f1: float = 0.0
    per_intent: dict[str, dict[str, float]] = field(default_factory=dict)
    confused_pairs: list[tuple[str, str, int]] = field(default_factory=list)
    per_entity: dict[str, dict[str, float]] = field(default_factory=dict)
    # Sub-intents (Rasa's response selection report); empty without retrieval intents.
    response_selection: dict[str, Any] = field(default_factory=dict)
    report_dir: Path | None = None

    @property
    def labels(self) -> list[str]:
        return sorted({p.example.intent for p in self.predictions})

    def errors(self) -> list[Prediction]:
        """Misclassified (intent or sub-intent) or fallback predictions, worst first: the
        relabelling worklist."""
        wrong = [p for p in self.predictions
                 if (p.full_intent or p.intent) != p.example.label or p.nlu_fallback]
        return sorted(wrong, key=lambda p: (p.intent == p.example.intent, -p.confidence))


def evaluate_bot(bot_dir: Path, *, folds: int | None = None, test_split: float = 0.2,
                 seed: int = 0, report_dir: Path | None = None) -> EvaluationReport:
    """Evaluate the bot in ``bot_dir``; write the report folder when ``report_dir`` is set."""
    data = load_training_data(bot_dir)
    report = evaluate_data(data, load_nlu_config(bot_dir), folds=folds, test_split=test_split,
                           seed=seed)
    if report_dir is not None:
        from brain.nlu.evaluation_report import write_report

        write_report(report, report_dir)
    return report


def evaluate_data(data: TrainingData, config: NluConfig, *, folds: int | None = None,
                  test_split: float = 0.2, seed: int = 0) -> EvaluationReport:
    """Train and test on stratified splits of ``data``; score the held-out predictions."""
    examples = list(data.examples)
    labels = [e.label for e in examples]
    _check_enough(labels, folds or 2, "fold" if folds else "split")
    if folds:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        splits = [(list(a), list(b)) for a, b in splitter.split(examples, labels)]
        method = f"{folds}-fold cross-validation"
    else:
        indices = list(range(len(examples)))
        train, test = train_test_split(indices, test_size=test_split, stratify=labels,
                                       random_state=seed)
        splits = [(list(train), list(test))]
        method = f"hold-out split, {test_split:.0%} tested"
    predictions: list[Prediction] = []
    for train_idx, test_idx in splits:
        subset = data.with_examples(tuple(examples[i] for i in train_idx))
        model = train_model(subset, config, seed=seed)
        predictions.extend(_predict(model, [examples[i] for i in test_idx]))
    return _score(method, predictions, data)


def evaluate_model(model: NluModel, data: TrainingData, *, method: str) -> EvaluationReport:
    """Score a trained ``model`` on ``data``'s examples, which it must not have been
    trained on (the caller's promise: ``parley nlu compare`` checks it)."""
    return _score(method, _predict(model, list(data.examples)), data)


def _predict(model: NluModel, examples: list[Example]) -> list[Prediction]:
    predictions = []
    for example in examples:
        parse = model.parse(example.text)
        spans = tuple((e["start"], e["end"], e["entity"]) for e in parse["entities"])
        selected = None
        if example.intent_response_key:
            chosen = parse.get("response_selector", {}).get(example.intent, {})
            selected = chosen.get("response", {}).get("intent_response_key")
        predictions.append(Prediction(example, parse["intent"]["name"],
                                      parse["intent"]["confidence"], parse["nlu_fallback"],
                                      spans, selected, full_retrieval_intent(parse)))
    return predictions


def _check_enough(labels: list[str], needed: int, what: str) -> None:
    counts = Counter(labels)
    few = sorted(name for name, n in counts.items() if n < needed)
    if few:
        raise BotDataError([Problem("data", None, f"intent(s) {', '.join(few)} have fewer "
                                    f"than {needed} examples, too few for a stratified {what}")])


def _score(method: str, predictions: list[Prediction], data: TrainingData) -> EvaluationReport:
    gold = [p.example.intent for p in predictions]
    predicted = [p.intent or "" for p in predictions]
    table: dict[str, Any] = classification_report(gold, predicted, labels=sorted(set(gold)),
                                                  output_dict=True, zero_division=0)
    per_intent = {name: {k: round(float(v), 4) for k, v in table[name].items()}
                  for name in sorted(set(gold))}
    pairs = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    report = EvaluationReport(
        method=method, predictions=predictions,
        accuracy=round(float(accuracy_score(gold, predicted)), 4),
        macro_f1=round(float(table["macro avg"]["f1-score"]), 4),
        weighted_f1=round(float(table["weighted avg"]["f1-score"]), 4),
        per_intent=per_intent,
        confused_pairs=[(g, p, n) for (g, p), n in pairs.most_common(10)],
        per_entity=_entity_scores(predictions, data),
        response_selection=_response_selection(predictions),
    )
    return report


def _response_selection(predictions: list[Prediction]) -> dict[str, Any]:
    """Per sub-intent precision, recall and F1 of the retrieval intents' examples, as in
    Rasa's ``response_selection_report.json``; ``end_to_end_accuracy`` also needs the
    intent right (what the user gets answered with)."""
    tested = [p for p in predictions if p.example.intent_response_key]
    if not tested:
        return {}
    gold = [str(p.example.intent_response_key) for p in tested]
    picked = [p.intent_response_key or "" for p in tested]
    labels = sorted(set(gold))
    table: dict[str, Any] = classification_report(gold, picked, labels=labels,
                                                  output_dict=True, zero_division=0)
    pairs = Counter((g, p) for g, p in zip(gold, picked, strict=True) if g != p)
    return {
        "examples_tested": len(tested),
        "accuracy": round(float(accuracy_score(gold, picked)), 4),
        "end_to_end_accuracy": round(sum(p.full_intent == g for p, g in zip(
            tested, gold, strict=True)) / len(tested), 4),
        "macro_f1": round(float(table["macro avg"]["f1-score"]), 4),
        "weighted_f1": round(float(table["weighted avg"]["f1-score"]), 4),
        "per_sub_intent": {name: {k: round(float(v), 4) for k, v in table[name].items()}
                           for name in labels},
        "most_confused": [{"sub_intent": g, "predicted": p, "count": n}
                          for (g, p), n in pairs.most_common(10)],
    }


def _entity_scores(predictions: list[Prediction],
                   data: TrainingData) -> dict[str, dict[str, float]]:
    annotated = sorted({a.entity for e in data.examples for a in e.entities}
                       | {r.name for r in data.regexes} | {t.name for t in data.lookups})
    scores: dict[str, dict[str, float]] = {}
    for entity in annotated:
        true_pos = false_pos = false_neg = 0
        for p in predictions:
            gold = {(a.start, a.end) for a in p.example.entities if a.entity == entity}
            found = {(s, e) for s, e, name in p.entities if name == entity}
            true_pos += len(gold & found)
            false_pos += len(found - gold)
            false_neg += len(gold - found)
        precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 0.0
        recall = true_pos / (true_pos + false_neg) if true_pos + false_neg else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[entity] = {"precision": round(precision, 4), "recall": round(recall, 4),
                          "f1-score": round(f1, 4), "support": float(true_pos + false_neg)}
    return scores
