"""``parley nlu compare OLD NEW BOTDIR``: the gate before a model goes live.

Both models are scored on the same held-out examples, which neither was trained on, and
the command exits 1 when NEW regresses beyond ``--max-drop`` (absolute, on a 0–1 scale)
overall (accuracy, macro F1 or weighted F1) or in the F1 of any intent with at least
``--min-support`` held-out examples; 0 when it does not; 2 on a user error.

Where the held-out examples come from:

* no split flag: a test file of examples kept out of training (``--data FILE``, default
  Rasa's ``BOTDIR/train_test_split/test_data.yml``); both models are scored as they are.
  A model records digests of the texts it was trained on (``example_digests`` in its
  meta.json); test examples either model was trained on are left out (and counted). A
  model without digests (made before they were recorded) is accepted only if its data
  fingerprint is that of BOTDIR's current data, whose texts are then its training set.
* ``--test-split F`` / ``--folds K``: each model's pipeline, the config recorded in its
  meta.json, is retrained on the same training part of BOTDIR's data (same stratified
  split or folds, same seed) and scored on the same held-out part. This compares the two
  configs on today's data, not the data each model was trained on.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from brain.errors import BotDataError, BrainError
from brain.nlu import NluModel, find_model, load_model
from brain.nlu.evaluation import EvaluationReport, evaluate_data, evaluate_model
from brain.nlu.training_data import (
    TrainingData,
    data_files,
    example_digest,
    load_data_file,
    load_training_data,
)

__all__ = ["CompareError", "Comparison", "compare_reports", "register"]

DEFAULT_TEST_FILE = Path("train_test_split") / "test_data.yml"
_OVERALL = ("accuracy", "macro_f1", "weighted_f1")
_EPSILON = 1e-9  # scores are rounded to 4 places: a drop of exactly max_drop passes


class CompareError(BrainError):
    """The comparison cannot be made honestly (no held-out data, a model that may have
    seen the test examples, too few examples): exit 2 with this message."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two reports on the same examples and what regressed."""

    method: str
    old: EvaluationReport
    new: EvaluationReport
    max_drop: float
    min_support: int
    regressions: list[str]
    notes: list[str]

    @property
    def passed(self) -> bool:
        return not self.regressions


def register(nlu_commands: Any, *, folds: Callable[[str], int],
             fraction: Callable[[str], float]) -> None:
    """Add ``compare`` to ``parley nlu``; ``folds``/``fraction`` parse as ``evaluate``'s do."""
    compare = nlu_commands.add_parser(
        "compare", help="compare two models on the same held-out data (exit 1 if NEW is worse)")
    compare.add_argument("old", type=Path, metavar="OLD", help="the model in use")
    compare.add_argument("new", type=Path, metavar="NEW", help="the candidate model")
    compare.add_argument("bot_dir", type=Path, metavar="BOTDIR")
    held_out = compare.add_mutually_exclusive_group()
    held_out.add_argument("--data", type=Path, metavar="FILE",
                          help=f"held-out NLU file (default BOTDIR/{DEFAULT_TEST_FILE})")
    held_out.add_argument("--test-split", type=fraction, metavar="F",
                          help="retrain both pipelines on BOTDIR's data, hold out this fraction")
    held_out.add_argument("--folds", type=folds, metavar="K",
                          help="retrain both pipelines with K-fold cross-validation")
    compare.add_argument("--seed", type=int, default=0, help="split and training seed")
    compare.add_argument("--max-drop", type=_drop, default=0.02,
                         help="largest allowed drop of a score, 0..1 (default 0.02)")
    compare.add_argument("--min-support", type=_support, default=5,
                         help="check intents with at least this many held-out examples "
                              "(default 5)")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.set_defaults(handler=_compare)


def _drop(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value!r}")
    return number


def _support(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def _compare(args: argparse.Namespace) -> int:
    old_path, new_path = find_model(args.old), find_model(args.new)
    old, new = load_model(old_path), load_model(new_path)
    if not args.bot_dir.is_dir():
        raise CompareError(f"no bot folder at {args.bot_dir}")
    if args.folds or args.test_split:
        old_report, new_report, notes = _retrained(old, new, args)
    else:
        old_report, new_report, notes = _on_test_file(old, new, args)
    comparison = compare_reports(old_report, new_report, max_drop=args.max_drop,
                                 min_support=args.min_support, notes=notes)
    if args.json:
        print(json.dumps(_as_json(comparison, old_path, new_path, old, new), indent=2))
    else:
        console = Console()
        # Piped to a file or CI log: wide enough for the ten columns of the intent table.
        _print(comparison, old_path, new_path, old, new,
               console if console.is_terminal else Console(width=120))
    return 0 if comparison.passed else 1


def _retrained(old: NluModel, new: NluModel, args: argparse.Namespace
               ) -> tuple[EvaluationReport, EvaluationReport, list[str]]:
    """Each model's recorded config retrained on the same splits of BOTDIR's data."""
    data = _bot_data(args.bot_dir)
    for name, model in (("OLD", old), ("NEW", new)):
        if "config" not in model.meta:
            raise CompareError(f"{name} records no training config in its meta.json; "
                               "compare it on a held-out file (--data) instead")
    notes = [f"both pipelines retrained on {len(data.examples)} examples of "
             f"{args.bot_dir / 'data'} (seed {args.seed}); the data each model was trained "
             "on is not compared"]
    if old.config == new.config:
        notes.append("OLD and NEW record the same config: a split cannot tell them apart; "
                     "compare data changes on a held-out file (--data)")
    split = args.test_split if args.test_split is not None else 0.2
    reports = []
    for model in (old, new):
        try:
            reports.append(evaluate_data(data, model.config, folds=args.folds,
                                         test_split=split, seed=args.seed))
        except BotDataError as exc:
            raise CompareError("; ".join(p.message for p in exc.problems)) from exc
    return reports[0], reports[1], notes


def _bot_data(bot_dir: Path) -> TrainingData:
    if not data_files(bot_dir):
        raise CompareError(f"{bot_dir} has no NLU data (expected YAML files under "
                           f"{bot_dir / 'data'})")
    return load_training_data(bot_dir)


def _on_test_file(old: NluModel, new: NluModel, args: argparse.Namespace
                  ) -> tuple[EvaluationReport, EvaluationReport, list[str]]:
    """Both models as they are, on the test file's examples neither was trained on."""
    path = args.data or args.bot_dir / DEFAULT_TEST_FILE
    if not path.is_file():
        raise CompareError(f"no held-out data: {path} does not exist; give --data FILE, or "
                           "--test-split/--folds to retrain both pipelines on BOTDIR's data")
    test = load_data_file(path)
    seen = _trained_on(old, "OLD", args.bot_dir) | _trained_on(new, "NEW", args.bot_dir)
    kept = tuple(e for e in test.examples if example_digest(e.text) not in seen)
    notes = []
    if len(kept) < len(test.examples):
        notes.append(f"left out {len(test.examples) - len(kept)} of {len(test.examples)} "
                     f"examples of {path} that OLD or NEW was trained on")
    if not kept:
        raise CompareError(f"every example of {path} is in OLD's or NEW's training data: "
                           "nothing is held out")
    held_out = test.with_examples(kept)
    method = f"held-out file {path}"
    return (evaluate_model(old, held_out, method=method),
            evaluate_model(new, held_out, method=method), notes)


def _trained_on(model: NluModel, name: str, bot_dir: Path) -> set[str]:
    """Digests of the texts ``model`` was trained on, or ``CompareError`` if unknowable."""
    digests = model.meta.get("example_digests")
    if isinstance(digests, list):
        return {str(d) for d in digests}
    if data_files(bot_dir):
        data = load_training_data(bot_dir)
        if data.fingerprint() == model.meta.get("data_fingerprint"):
            return set(data.example_digests())
    raise CompareError(f"{name} records no training examples and was not trained on "
                       f"{bot_dir}'s current data, so the test data cannot be shown to be "
                       "held out; retrain it with this Parley, or use --test-split/--folds")


def compare_reports(old: EvaluationReport, new: EvaluationReport, *, max_drop: float,
                    min_support: int, notes: list[str] | None = None) -> Comparison:
    """What regressed from ``old`` to ``new`` (both scored on the same examples)."""
    regressions = []
    for metric in _OVERALL:
        before, after = getattr(old, metric), getattr(new, metric)
        if before - after > max_drop + _EPSILON:
            regressions.append(f"{metric} {before:.3f} → {after:.3f}")
    for intent, row in old.per_intent.items():
        support = int(row["support"])
        after = new.per_intent.get(intent, {}).get("f1-score", 0.0)
        if support >= min_support and row["f1-score"] - after > max_drop + _EPSILON:
            regressions.append(f"intent {intent}: F1 {row['f1-score']:.3f} → {after:.3f} "
                               f"(support {support})")
    return Comparison(old.method, old, new, max_drop, min_support, regressions,
                      list(notes or []))


def _intent_rows(comparison: Comparison) -> list[dict[str, Any]]:
    rows = []
    for intent in sorted(set(comparison.old.per_intent) | set(comparison.new.per_intent)):
        before = comparison.old.per_intent.get(intent, {})
        after = comparison.new.per_intent.get(intent, {})
        support = int(before.get("support", after.get("support", 0)))
        delta = round(after.get("f1-score", 0.0) - before.get("f1-score", 0.0), 4)
        rows.append({
            "intent": intent, "support": support,
            "old": {k: before.get(k, 0.0) for k in ("precision", "recall", "f1-score")},
            "new": {k: after.get(k, 0.0) for k in ("precision", "recall", "f1-score")},
            "delta_f1": delta,
            "regressed": support >= comparison.min_support
            and -delta > comparison.max_drop + _EPSILON,
        })
    return rows


def _model_summary(path: Path, model: NluModel) -> dict[str, Any]:
    return {"path": str(path), "model_id": model.version,
            "data_fingerprint": str(model.meta.get("data_fingerprint", ""))[:12]}


def _as_json(comparison: Comparison, old_path: Path, new_path: Path, old: NluModel,
             new: NluModel) -> dict[str, Any]:
    overall = {m: {"old": getattr(comparison.old, m), "new": getattr(comparison.new, m),
                   "delta": round(getattr(comparison.new, m) - getattr(comparison.old, m), 4)}
               for m in _OVERALL}
    return {"method": comparison.method, "examples": len(comparison.old.predictions),
            "old": _model_summary(old_path, old), "new": _model_summary(new_path, new),
            "max_drop": comparison.max_drop, "min_support": comparison.min_support,
            "overall": overall, "intents": _intent_rows(comparison),
            "regressions": comparison.regressions, "notes": comparison.notes,
            "passed": comparison.passed}


def _print(comparison: Comparison, old_path: Path, new_path: Path, old: NluModel,
           new: NluModel, console: Console) -> None:
    line = functools.partial(console.print, highlight=False, soft_wrap=True)
    line(f"[bold]NLU comparison[/bold] ({comparison.method}, "
         f"{len(comparison.old.predictions)} examples tested)")
    line(f"OLD {old_path} ({old.version or 'no id'})")
    line(f"NEW {new_path} ({new.version or 'no id'})")
    for note in comparison.notes:
        line(f"note: {note}")
    overall = Table("score", "OLD", "NEW", "Δ", title="Overall")
    for metric in _OVERALL:
        before, after = getattr(comparison.old, metric), getattr(comparison.new, metric)
        overall.add_row(metric.replace("_", " "), f"{before:.3f}", f"{after:.3f}",
                        f"{after - before:+.3f}")
    console.print(overall)
    intents = Table("intent", "support", "P old", "P new", "R old", "R new", "F1 old",
                    "F1 new", "Δ F1", "", title="Intents")
    for row in _intent_rows(comparison):
        o, n = row["old"], row["new"]
        intents.add_row(row["intent"], str(row["support"]), f"{o['precision']:.3f}",
                        f"{n['precision']:.3f}", f"{o['recall']:.3f}", f"{n['recall']:.3f}",
                        f"{o['f1-score']:.3f}", f"{n['f1-score']:.3f}",
                        f"{row['delta_f1']:+.3f}", "REGRESSED" if row["regressed"] else "")
    console.print(intents)
    if comparison.passed:
        line(f"PASS: no score dropped by more than {comparison.max_drop:.3f} "
             f"(intents with support ≥ {comparison.min_support})")
        return
    line(f"FAIL: NEW regresses beyond {comparison.max_drop:.3f}:")
    for regression in comparison.regressions:
        line(f"  {regression}")
