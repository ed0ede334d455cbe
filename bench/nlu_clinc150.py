"""CLINC150 benchmark of Parley's NLU: in-scope accuracy, out-of-scope recall, speed.

Protocol (../shared/data/clinc150/README.md): train on ``train`` + ``oos_train`` (as the
``out_of_scope`` intent), choose the fallback threshold and ambiguity margin on ``val`` +
``oos_val``, report on ``test`` + ``oos_test`` only. A message counts as out-of-scope when
its top intent is ``out_of_scope`` or the parse is ``nlu_fallback``. Parse latency is
measured over single ``parse`` calls of the full default pipeline (values included).

    python bench/nlu_clinc150.py [--data DIR] [--seed N] [--min-val-oos-recall 0.60]

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from brain.nlu import NluConfig, NluModel, TrainingData, train_model
from brain.nlu.training_data import Example

OOS = "out_of_scope"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clinc150"


def _examples(rows: list[list[str]]) -> tuple[Example, ...]:
    return tuple(Example(text, OOS if label == "oos" else label, (), "clinc150", 0)
                 for text, label in rows)


def _scores(model: NluModel, texts: list[str]) -> tuple[np.ndarray, list[str]]:
    classifier = model.nlp.get_pipe("parley_intent_classifier")
    normalise = model.nlp.get_pipe("parley_normaliser")
    docs = [normalise(model.nlp.make_doc(t)) for t in texts]
    return classifier.predict(docs), classifier.labels


def _flags(probs: np.ndarray, labels: list[str], threshold: float,
           margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Predicted label per row, and whether the row is taken as out-of-scope."""
    order = np.sort(probs, axis=1)
    top, second = order[:, -1], order[:, -2]
    predicted = np.array(labels)[probs.argmax(axis=1)]
    oos = (predicted == OOS) | (top < threshold) | ((top - second) < margin)
    return predicted, oos


def _tune(model: NluModel, val: list[list[str]], oos_val: list[list[str]],
          min_recall: float) -> tuple[float, float]:
    probs_in, labels = _scores(model, [t for t, _ in val])
    probs_out, _ = _scores(model, [t for t, _ in oos_val])
    gold = np.array([label for _, label in val])
    best: tuple[float, float, float] = (-1.0, 0.0, 0.0)
    for threshold in np.arange(0.0, 0.8, 0.01):
        for margin in (0.0, 0.02, 0.05, 0.1, 0.15):
            predicted, oos = _flags(probs_in, labels, threshold, margin)
            accuracy = float(((predicted == gold) & ~oos).mean())
            recall = float(_flags(probs_out, labels, threshold, margin)[1].mean())
            if recall >= min_recall and accuracy > best[0]:
                best = (accuracy, float(threshold), margin)
    return best[1], best[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-val-oos-recall", type=float, default=0.60)
    parser.add_argument("--latency-sample", type=int, default=2000)
    args = parser.parse_args()
    data = json.loads((args.data / "data_full.json").read_text())

    started = time.perf_counter()
    training = TrainingData(_examples(data["train"] + data["oos_train"]))
    model = train_model(training, NluConfig(), seed=args.seed)
    train_seconds = time.perf_counter() - started

    threshold, margin = _tune(model, data["val"], data["oos_val"], args.min_val_oos_recall)
    config = dataclasses.replace(model.config, fallback_threshold=threshold,
                                 ambiguity_threshold=margin)
    model = NluModel(model.nlp, config, model.synonyms, model.meta)

    def out_of_scope(parse: dict) -> bool:
        return parse["intent"]["name"] == OOS or parse["nlu_fallback"] or parse["ambiguous"]

    test_parses = [(label, model.parse(text)) for text, label in data["test"]]
    oos_parses = [model.parse(text) for text, _ in data["oos_test"]]
    correct = sum(p["intent"]["name"] == label and not out_of_scope(p) for label, p in test_parses)
    flagged_in = sum(out_of_scope(p) for _, p in test_parses)
    flagged_out = sum(out_of_scope(p) for p in oos_parses)

    sample = [text for text, _ in (data["test"] + data["oos_test"])[: args.latency_sample]]
    timings = []
    for text in sample:
        begin = time.perf_counter()
        model.parse(text)
        timings.append((time.perf_counter() - begin) * 1000)
    timings.sort()

    result = {
        "in_scope_accuracy": round(correct / len(test_parses), 4),
        "oos_recall": round(flagged_out / len(oos_parses), 4),
        "oos_precision": round(flagged_out / max(1, flagged_out + flagged_in), 4),
        "train_seconds": round(train_seconds, 1),
        "parse_ms_p50": round(statistics.median(timings), 3),
        "parse_ms_p99": round(timings[int(len(timings) * 0.99) - 1], 3),
        "fallback_threshold": round(threshold, 3),
        "ambiguity_threshold": margin,
    }
    print(f"{'metric':<22}value")
    for key, value in result.items():
        print(f"{key:<22}{value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
