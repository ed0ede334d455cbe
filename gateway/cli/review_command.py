"""``parley review export BOTDIR [--out PATH] [--from WHEN] [--to WHEN]``: the desk's review
labels as Rasa 3.x NLU training data (``BOTDIR/data/reviewed_nlu.yml`` by default).

The database is the desk's (``PARLEY_DATABASE_URL``, else ``BOTDIR/parley.db``), as for
``parley db upgrade``. ``--from``/``--to`` pick labels by when they were made (a day, UTC,
``--to`` including it; or an ISO 8601 time). What is written, skipped and refused is
``gateway.cli.review_export``'s plan; the output file holds only intent examples and is
rewritten with what it had plus the new labels (so a second run changes nothing).

Exit status: 0 the file is written (or already current); 1 some labels conflict with the
bot's data or with each other (they are listed and left out; the rest is written); 2 a
user error (no such folder, bad data, an unreadable database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from brain.errors import BotDataError, Problem
from brain.nlu.training_data import Example, load_training_data
from brain.yaml_source import YamlMap, load_yaml_file
from gateway.cli.db_command import resolve_database_url
from gateway.cli.review_export import ExportPlan, LabelExample, plan_export, render

__all__ = ["register"]

OUT_NAME = "reviewed_nlu.yml"


def register(commands: Any) -> None:
    review = commands.add_parser("review", help="the desk's review labels")
    tasks = review.add_subparsers(dest="review_task", required=True, metavar="TASK")
    export = tasks.add_parser("export", help="write the review labels as NLU training data")
    export.add_argument("bot_dir", type=Path, metavar="BOTDIR")
    export.add_argument("--out", type=Path, help=f"the file (default BOTDIR/data/{OUT_NAME})")
    export.add_argument("--from", dest="start", type=_moment, metavar="WHEN",
                        help="labels made from this day (YYYY-MM-DD, UTC) or time (ISO 8601)")
    export.add_argument("--to", dest="end", type=_end_moment, metavar="WHEN",
                        help="labels made up to this day (included) or time")
    export.set_defaults(handler=_export)


def _moment(raw: str, *, end: bool = False) -> datetime:
    try:
        if len(raw) == 10:
            day = datetime.combine(date.fromisoformat(raw), time(), UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or an ISO 8601 time, not "
                                         f"{raw!r}") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _end_moment(raw: str) -> datetime:
    return _moment(raw, end=True)


def _export(args: argparse.Namespace) -> int:
    bot_dir: Path = args.bot_dir
    if not bot_dir.is_dir():
        print(f"parley: error: {bot_dir} is not a bot folder", file=sys.stderr)
        return 2
    out: Path = args.out or bot_dir / "data" / OUT_NAME
    url = resolve_database_url(bot_dir)
    missing = _missing_sqlite_file(url)
    if missing is not None:
        print(f"parley: error: there are no review labels: the desk's database {missing} does "
              "not exist (set PARLEY_DATABASE_URL to the desk's database)", file=sys.stderr)
        return 2
    from gateway.cli.encryption_setup import configure_for_reading

    configure_for_reading(os.environ, bot_dir)  # the labels' texts are encrypted
    labels = asyncio.run(_labels(url, args.start, args.end))
    data = load_training_data(bot_dir)
    shown = _display(out, bot_dir)
    plan = plan_export(labels, data.examples, _file_examples(out, shown))
    text = render(plan.examples)
    changed = bool(plan.examples) and (not out.exists() or out.read_text("utf-8") != text)
    if changed:
        _check_reads_back(text, len(plan.examples))
        _write(out, text)
    _report(plan, shown, changed, len(labels), _new_intents(bot_dir, data.intents, plan))
    if changed:
        print(f"next: parley train {bot_dir}, then parley nlu compare OLD NEW {bot_dir}, then "
              "parley model activate NEW")
    return 1 if plan.conflicts else 0


async def _labels(url: str, start: datetime | None, end: datetime | None
                  ) -> list[LabelExample]:
    from sqlalchemy import select

    from desk.database import ensure_current, open_database
    from desk.schema import ReviewLabelRow

    await ensure_current(url)
    query = select(ReviewLabelRow).order_by(ReviewLabelRow.at, ReviewLabelRow.conversation_id,
                                            ReviewLabelRow.sequence)
    if start is not None:
        query = query.where(ReviewLabelRow.at >= start)
    if end is not None:
        query = query.where(ReviewLabelRow.at < end)
    async with open_database(url) as db, db.reads() as session:
        return [LabelExample(r.text, r.intent, tuple(r.entities or ()),
                             f"label {r.conversation_id}#{r.sequence}")
                for r in await session.scalars(query)]


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file ``url`` names when it does not exist (opening it would make it)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and \
            not Path(parsed.database).exists():
        return Path(parsed.database)
    return None


def _display(path: Path, bot_dir: Path) -> str:
    """``path`` as the data loader names it (relative to the bot folder's parent)."""
    try:
        return str(path.absolute().relative_to(bot_dir.absolute().parent))
    except ValueError:
        return str(path)


def _file_examples(out: Path, shown: str) -> list[Example]:
    """The output file's examples as they are (none when it does not exist yet); it may
    hold nothing but intent examples, since it is rewritten."""
    if not out.exists():
        return []
    document = load_yaml_file(out, display_path=shown)
    items = document.get("nlu") if isinstance(document, YamlMap) else None
    others = [k for k in (document if isinstance(document, YamlMap) else []) if k not in (
        "version", "nlu")]
    if others or (items is not None and any(
            not isinstance(i, YamlMap) or "intent" not in i for i in items)):
        raise BotDataError([Problem(shown, 1, "parley review export rewrites this file, so it "
                                    "may hold only 'nlu:' intent examples: move synonyms, "
                                    "regexes, lookups, rules and stories to another file")])
    if not items:
        return []
    return [Example(e.text, e.intent, e.entities, shown, e.line)
            for e in _read_alone(out.read_text("utf-8"), shown)]


def _read_alone(text: str, shown: str) -> tuple[Example, ...]:
    """The examples of one data file's ``text``, read by the bot's own loader."""
    with tempfile.TemporaryDirectory(prefix="parley-review-") as tmp:
        (Path(tmp) / "data").mkdir()
        (Path(tmp) / "data" / OUT_NAME).write_text(text, "utf-8")
        try:
            return load_training_data(Path(tmp)).examples
        except BotDataError as exc:
            raise BotDataError([Problem(shown, p.line, p.message) for p in exc.problems]
                               ) from exc


def _check_reads_back(text: str, count: int) -> None:
    """What is about to be written is read back by the loader, every example of it."""
    read = _read_alone(text, "the file to write")
    if len(read) != count:  # pragma: no cover - plan_export already checked each line
        raise BotDataError([Problem("the file to write", None, f"{count} examples written, "
                                    f"{len(read)} read back: nothing written")])


def _write(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=out.parent, delete=False,
                                     prefix=f".{out.name}.", suffix=".tmp") as handle:
        handle.write(text)
    try:
        if out.exists():
            shutil.copymode(out, handle.name)
        os.replace(handle.name, out)
    except OSError:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _new_intents(bot_dir: Path, nlu_intents: Sequence[str], plan: ExportPlan
                 ) -> tuple[list[str], bool]:
    """The intents of the new examples the bot does not know (its domain's, or with no
    domain its NLU data's before this export), and whether it has a domain."""
    from brain.dialogue.domain_reader import load_domain

    has_domain = (bot_dir / "domain.yml").exists()
    known = set(load_domain(bot_dir).intents) if has_domain else set(nlu_intents)
    return sorted({lb.intent for lb in plan.new} - known), has_domain


def _report(plan: ExportPlan, shown: str, changed: bool, labels: int,
            new_intents: tuple[list[str], bool]) -> None:
    for line in plan.conflicts:
        print(f"conflict: {line}", file=sys.stderr)
    for line in plan.unwritable:
        print(f"skipped: {line}", file=sys.stderr)
    for label, where in plan.duplicates:
        print(f"duplicate: {label.source}: {label.text!r} is already at {where}",
              file=sys.stderr)
    state = "written" if changed else "unchanged" if plan.examples else "not written"
    print(f"{shown}: {state}; {labels} labels: {len(plan.new)} new examples "
          f"({len(plan.examples)} in the file), {plan.exported} exported before, "
          f"{len(plan.duplicates)} duplicates skipped, "
          f"{len(plan.conflicts)} conflicts left out, {len(plan.unwritable)} not writable")
    names, has_domain = new_intents
    if names:
        print(f"new intents: {', '.join(names)}")
        if has_domain:
            print("add them to domain.yml under 'intents:' (and a rule or response for "
                  "each): `parley train` warns about an intent that is not in the domain, and "
                  "the bot answers it only with utter_<intent>")
    if plan.conflicts:
        print("conflicting labels were left out (listed above): relabel them in the desk or "
              "change the example they conflict with, then export again")
