"""``parley train``, ``parley nlu parse`` and ``parley nlu evaluate`` (and ``compare``,
in ``gateway.cli.nlu_compare``)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from brain.nlu import load_model, load_nlu_config, load_training_data, save_model, train_model
from brain.nlu.config import format_notice, load_config_notices
from gateway.cli import nlu_compare

__all__ = ["register", "train_and_save"]


def register(commands: Any) -> None:
    train = commands.add_parser("train", help="train the NLU model of a bot folder")
    train.add_argument("bot_dir", type=Path, metavar="BOTDIR")
    train.add_argument("--out", type=Path, help="model path (folder, or ending in .tar.gz); "
                       "default BOTDIR/models/nlu-<time>.tar.gz")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.set_defaults(handler=_train)

    nlu = commands.add_parser("nlu", help="explore and evaluate the NLU")
    nlu_commands = nlu.add_subparsers(dest="nlu_command", required=True, metavar="COMMAND")
    parse = nlu_commands.add_parser("parse", help="parse stdin (a message per line) to JSON lines")
    parse.add_argument("--model", type=Path, required=True,
                       help="a model folder/archive, or a folder holding models (newest wins)")
    parse.add_argument("--reference-time", type=_aware_datetime,
                       help="ISO time that relative dates resolve against (default: now)")
    parse.set_defaults(handler=_parse)

    evaluate = nlu_commands.add_parser("evaluate", help="cross-validate a bot's NLU data")
    evaluate.add_argument("bot_dir", type=Path, metavar="BOTDIR")
    split = evaluate.add_mutually_exclusive_group()
    split.add_argument("--folds", type=_folds, help="k-fold cross-validation with K folds")
    split.add_argument("--test-split", type=_fraction, help="hold out this fraction (default 0.2)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--report", type=Path,
                          help="report folder (default BOTDIR/reports/nlu-<time>)")
    evaluate.set_defaults(handler=_evaluate)
    nlu_compare.register(nlu_commands, folds=_folds, fraction=_fraction)


def _aware_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("give a UTC offset, e.g. 2026-11-25T10:00:00+01:00")
    return parsed


def _folds(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 2, got {value!r}")
    return int(value)


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {value!r}")
    return number


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _train(args: argparse.Namespace) -> int:
    """Check the bot as ``parley data validate`` does, then train: an error (a rule on an
    unknown intent, a placeholder for no slot, …) stops it before the slow part, so no
    model of a broken bot is written. A folder of NLU data only trains without the rest."""
    from gateway.cli.bot_checks import check_bot

    console = Console(stderr=True)
    check_bot(args.bot_dir, require_domain=False)
    if not (args.bot_dir / "domain.yml").exists():
        console.print(f"{args.bot_dir} has no domain.yml: checking and training its NLU data "
                      "only", highlight=False)
    out = train_and_save(args.bot_dir, args.out, seed=args.seed, console=console)
    print(out)
    return 0


def train_and_save(bot_dir: Path, out: Path | None, *, seed: int, console: Console) -> Path:
    """Train the bot's NLU with a progress bar and save it; return the model path. First
    the notices of ``config.yml`` (Rasa components Parley replaces), one line each: here,
    where a model is made, and not where one is loaded (every worker start)."""
    data = load_training_data(bot_dir)
    config = load_nlu_config(bot_dir)
    for notice in load_config_notices(bot_dir):
        console.print(format_notice(notice), markup=False, highlight=False, soft_wrap=True)
    console.print(f"training on {len(data.examples)} examples, {len(data.intents)} intents, "
                  f"entities: {', '.join(data.entity_types) or 'none'} (seed {seed})")
    from gateway.cli.progress import TrainingProgress

    with TrainingProgress(console) as progress:
        model = train_model(data, config, seed=seed, progress=progress)
    path = out or bot_dir / "models" / f"nlu-{_stamp()}.tar.gz"
    save_model(model, path)
    console.print(f"trained in {model.meta['metrics']['train_seconds']} s: {path}")
    return path


def _parse(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    for line in sys.stdin:
        result = model.parse(line.rstrip("\r\n"), reference_time=args.reference_time)
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from brain.nlu.evaluation import evaluate_bot
    from gateway.cli.evaluation_table import print_evaluation

    split = args.test_split if args.test_split is not None else 0.2
    report_dir = args.report or args.bot_dir / "reports" / f"nlu-{_stamp()}"
    report = evaluate_bot(args.bot_dir, folds=args.folds, test_split=split, seed=args.seed,
                          report_dir=report_dir)
    print_evaluation(report, Console())
    return 0
