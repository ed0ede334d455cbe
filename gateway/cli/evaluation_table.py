"""Prints an NLU evaluation as tables on the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from brain.nlu.evaluation import EvaluationReport

__all__ = ["print_evaluation"]


def print_evaluation(report: EvaluationReport, console: Console) -> None:
    console.print(f"[bold]NLU evaluation[/bold] ({report.method}, "
                  f"{len(report.predictions)} examples tested)")
    console.print(f"accuracy {report.accuracy:.3f} · macro F1 {report.macro_f1:.3f} · "
                  f"weighted F1 {report.weighted_f1:.3f}")
    intents = Table("intent", "precision", "recall", "F1", "support", title="Intents")
    for name, row in report.per_intent.items():
        intents.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                        f"{row['f1-score']:.3f}", str(int(row["support"])))
    console.print(intents)
    _print_sub_intents(report, console)
    if report.confused_pairs:
        pairs = Table("expected", "predicted", "count", title="Most confused")
        for gold, predicted, count in report.confused_pairs:
            pairs.add_row(gold, predicted, str(count))
        console.print(pairs)
    if report.per_entity:
        entities = Table("entity", "precision", "recall", "F1", "support", title="Entities")
        for name, row in report.per_entity.items():
            entities.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                             f"{row['f1-score']:.3f}", str(int(row["support"])))
        console.print(entities)
    if report.report_dir is not None:
        console.print(f"report written to {report.report_dir} "
                      f"({len(report.errors())} examples to review in errors.yml / errors.csv)")


def _print_sub_intents(report: EvaluationReport, console: Console) -> None:
    """Retrieval intents' sub-intents, as Rasa's response selection report scores them."""
    selection = report.response_selection
    if not selection:
        return
    table = Table("sub-intent", "precision", "recall", "F1", "support",
                  title=f"Sub-intents (response selection): accuracy {selection['accuracy']:.3f}"
                        f" · with the intent right {selection['end_to_end_accuracy']:.3f}")
    for name, row in selection["per_sub_intent"].items():
        table.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                      f"{row['f1-score']:.3f}", str(int(row["support"])))
    console.print(table)
