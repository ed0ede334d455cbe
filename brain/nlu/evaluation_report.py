"""Writes an ``EvaluationReport`` as a folder a person can work from.

    report.json            every score (accuracy, F1s, per intent, per entity, confusions;
                           per sub-intent of retrieval intents under "response_selection")
    confusion_matrix.png   gold intent (rows) × predicted intent (columns)
    errors.yml, errors.csv misclassified and fallback examples, worst first, with the file
                           and line they come from: fix the ``intent`` column and move them
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from brain.nlu.evaluation import EvaluationReport

__all__ = ["write_report"]


def write_report(report: EvaluationReport, folder: Path) -> Path:
    """Write every file of the report into ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "method": report.method,
        "examples_tested": len(report.predictions),
        "accuracy": report.accuracy,
        "macro_f1": report.macro_f1,
        "weighted_f1": report.weighted_f1,
        "per_intent": report.per_intent,
        "most_confused": [{"intent": g, "predicted": p, "count": n}
                          for g, p, n in report.confused_pairs],
        "per_entity": report.per_entity,
    }
    if report.response_selection:
        summary["response_selection"] = report.response_selection
    (folder / "report.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _write_confusion_png(report, folder / "confusion_matrix.png")
    _write_errors(report, folder)
    report.report_dir = folder
    return folder


def _write_confusion_png(report: EvaluationReport, path: Path) -> None:
    labels = report.labels
    gold = [p.example.intent for p in report.predictions]
    predicted = [p.intent if p.intent in labels else labels[0] for p in report.predictions]
    matrix = confusion_matrix(gold, predicted, labels=labels)
    size = max(6.0, 0.45 * len(labels) + 2)
    figure = Figure(figsize=(size, size), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(np.arange(len(labels)), labels=labels, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(np.arange(len(labels)), labels=labels, fontsize=8)
    axes.set_xlabel("predicted intent")
    axes.set_ylabel("expected intent")
    axes.set_title(f"Intent confusion ({report.method}), accuracy {report.accuracy:.3f}")
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if count > matrix.max() / 2 else "black"
            axes.text(col, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path)


def _write_errors(report: EvaluationReport, folder: Path) -> None:
    rows = [{
        "text": p.example.text,
        "intent": p.example.label,  # faq/ask_hours for a sub-intent: what the data says
        "predicted": p.full_intent or p.intent,
        "confidence": round(p.confidence, 4),
        "nlu_fallback": p.nlu_fallback,
        "source": f"{p.example.path}:{p.example.line}",
    } for p in report.errors()]
    with (folder / "errors.yml").open("w", encoding="utf-8") as fh:
        yaml.safe_dump(rows, fh, sort_keys=False, allow_unicode=True)
    with (folder / "errors.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "intent", "predicted", "confidence",
                                                "nlu_fallback", "source"])
        writer.writeheader()
        writer.writerows(rows)
