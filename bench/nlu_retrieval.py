"""How to classify retrieval intents' sub-intents: the measurement behind the design.

Two of CLINC150's ten domains play retrieval intents (banking → ``faq``, small talk →
``chitchat``, 15 sub-intents each); the other 120 intents stay plain. Compared:

    A  one classifier on full labels (``faq/balance`` a class of its own), folded up:
       what ``brain.nlu.retrieval`` does
    B  a classifier on folded labels (``faq`` one class) plus one classifier per
       retrieval intent, trained on its sub-intents' examples (Rasa's ResponseSelector)

Reported on CLINC150's test split: intent accuracy (retrieval intents folded), sub-intent
accuracy given the right retrieval intent (Rasa's response selection metric), end-to-end
accuracy (intent and sub-intent right), training time, and CPU per single-message
classification; then the CPU of a whole ``NluModel.parse`` (values off) of A's model with
and without the folding and the ``response_selector`` it writes.

    python bench/nlu_retrieval.py [--per-intent 100] [--data DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import spacy
from spacy.tokens import Doc

import brain.nlu.normaliser  # noqa: F401  (registers parley_normaliser)
from brain.nlu import NluConfig, TrainingData, train_model
from brain.nlu.intent_classifier import IntentClassifier
from brain.nlu.retrieval import RetrievalLabels, split_intent
from brain.nlu.training_data import Example

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clinc150"
RETRIEVAL = {
    "faq": "transfer transactions balance freeze_account pay_bill bill_balance bill_due "
           "interest_rate routing min_payment order_checks pin_change report_fraud "
           "account_blocked spending_history".split(),
    "chitchat": "who_made_you meaning_of_life who_do_you_work_for do_you_have_pets "
                "what_are_your_hobbies fun_fact what_is_your_name where_are_you_from goodbye "
                "thank_you greeting tell_joke are_you_a_bot how_old_are_you "
                "what_can_i_ask_you".split(),
}
PARENT = {sub: base for base, subs in RETRIEVAL.items() for sub in subs}


def _full(label: str) -> str:
    return f"{PARENT[label]}/{label}" if label in PARENT else label


def _base(label: str) -> str:
    return split_intent(label)[0]


def _fit(docs: Sequence[Doc], labels: Sequence[str], seed: int) -> tuple[IntentClassifier, float]:
    started = time.perf_counter()
    classifier = IntentClassifier(c=20.0)
    classifier.fit(docs, labels, seed=seed)
    return classifier, time.perf_counter() - started


def _cpu_ms(docs: Sequence[Any], work: Callable[[Any], Any]) -> float:
    work(docs[0])
    spent = []
    for doc in docs:
        begin = time.process_time()
        work(doc)
        spent.append(time.process_time() - begin)
    return round(statistics.mean(spent) * 1000, 3)


def _accuracies(gold: list[str], predicted: list[tuple[str, dict[str, str]]]) -> dict[str, float]:
    retrieval = [(g, p) for g, p in zip(gold, predicted, strict=True) if "/" in g]
    end_to_end = sum((top == _base(g) and subs.get(_base(g)) == g) if "/" in g else top == g
                     for g, (top, subs) in zip(gold, predicted, strict=True))
    return {
        "intent_accuracy": round(sum(top == _base(g) for g, (top, _) in zip(
            gold, predicted, strict=True)) / len(gold), 4),
        "sub_intent_accuracy": round(sum(subs[_base(g)] == g for g, (_, subs) in retrieval)
                                     / len(retrieval), 4),
        "end_to_end_accuracy": round(end_to_end / len(gold), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-intent", type=int, default=100, help="training examples each")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = json.loads((args.data / "data_full.json").read_text())
    chooser = random.Random(args.seed)
    by_label: dict[str, list[str]] = {}
    for text, label in data["train"]:
        by_label.setdefault(label, []).append(text)
    train = [(t, _full(label)) for label, texts in sorted(by_label.items())
             for t in chooser.sample(texts, min(args.per_intent, len(texts)))]
    test = [(t, _full(label)) for t, label in data["test"]]
    nlp = spacy.blank("en")
    nlp.add_pipe("parley_normaliser")
    train_docs = [nlp(t) for t, _ in train]
    test_docs = [nlp(t) for t, _ in test]
    gold = [label for _, label in test]

    # A: full labels, folded
    a, a_seconds = _fit(train_docs, [label for _, label in train], args.seed)
    grouping = RetrievalLabels(a.labels)

    def a_predict(rows: Any) -> list[tuple[str, dict[str, str]]]:
        out = []
        for row in rows:
            folded = grouping.fold(row.tolist())
            selector = grouping.selector(row.tolist())
            out.append((max(folded, key=folded.__getitem__),
                        {r: selector[r]["response"]["intent_response_key"] for r in RETRIEVAL}))
        return out

    # B: folded labels, and a classifier per retrieval intent
    b, b_seconds = _fit(train_docs, [_base(label) for _, label in train], args.seed)
    selectors = {}
    for base in RETRIEVAL:
        own = [(d, label) for d, (_, label) in zip(train_docs, train, strict=True)
               if _base(label) == base]
        selectors[base], seconds = _fit([d for d, _ in own], [label for _, label in own],
                                        args.seed)
        b_seconds += seconds
    sub_rows = {base: s.predict(test_docs) for base, s in selectors.items()}
    b_predicted = [(b.labels[int(row.argmax())],
                    {base: selectors[base].labels[int(sub_rows[base][i].argmax())]
                     for base in RETRIEVAL}) for i, row in enumerate(b.predict(test_docs))]

    def b_every(doc: Doc) -> None:
        b.predict([doc])
        for s in selectors.values():
            s.predict([doc])

    def b_lazy(doc: Doc) -> None:
        top = b.labels[int(b.predict([doc])[0].argmax())]
        if top in selectors:
            selectors[top].predict([doc])

    sample = test_docs[:1000]
    result: dict[str, Any] = {
        "examples_per_intent": args.per_intent,
        "A": {**_accuracies(gold, a_predict(a.predict(test_docs))),
              "train_seconds": round(a_seconds, 1),
              "cpu_ms_per_message": _cpu_ms(sample, lambda d: a_predict(a.predict([d])))},
        "B": {**_accuracies(gold, b_predicted), "train_seconds": round(b_seconds, 1),
              "cpu_ms_per_message_every_selector": _cpu_ms(sample, b_every),
              "cpu_ms_per_message_predicted_selector": _cpu_ms(sample, b_lazy)},
    }
    result["parse_cpu_ms"] = _parse_cpu(train, [t for t, _ in test[:1000]], args.seed)
    print(json.dumps(result, indent=2))
    return 0


def _parse_cpu(train: list[tuple[str, str]], texts: list[str], seed: int) -> dict[str, float]:
    """A's whole parse with retrieval intents, and the same model's parse with its
    classifier's labels left unfolded (as a model of 150 plain intents parses)."""
    examples = tuple(Example(t, _base(label), (), "clinc150", 0, label if "/" in label else None)
                     for t, label in train)
    model = train_model(TrainingData(examples), NluConfig(values=()), seed=seed)
    with_retrieval = _cpu_ms(texts, model.parse)
    model._retrieval = RetrievalLabels([])  # the same classifier, no folding, no selector
    return {"with_retrieval_intents": with_retrieval,
            "same_labels_unfolded": _cpu_ms(texts, model.parse)}


if __name__ == "__main__":
    sys.exit(main())
