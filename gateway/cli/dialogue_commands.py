"""``parley shell``, ``parley test`` and ``parley data validate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from brain.conversation_tests import StoryDesk, load_stories, run_story
from brain.errors import BotDataError, ModelError, Problem
from brain.handoff.settings import load_desk_settings
from brain.nlu import find_model
from gateway.cli.bot_runtime import bot_runtime

__all__ = ["register"]


def register(commands: Any) -> None:
    shell = commands.add_parser("shell", help="chat with a bot in the terminal")
    shell.add_argument("bot_dir", type=Path, metavar="BOTDIR")
    shell.add_argument("--model", type=Path, help="NLU model (default: newest in BOTDIR, "
                       "trained first if there is none)")
    shell.set_defaults(handler=_shell)

    test = commands.add_parser("test", help="run a bot's conversation tests (BOTDIR/tests)")
    test.add_argument("bot_dir", type=Path, metavar="BOTDIR")
    test.add_argument("--model", type=Path)
    test.set_defaults(handler=_test)

    data = commands.add_parser("data", help="check a bot folder")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    validate = data_commands.add_parser("validate", help="check a bot folder for defects "
                                        "(errors stop train and run, warnings do not)")
    validate.add_argument("bot_dir", type=Path, metavar="BOTDIR")
    validate.add_argument("--fail-on-warnings", action="store_true",
                          help="exit 1 on warnings too (for CI)")
    validate.set_defaults(handler=_validate)


def ensure_model(bot_dir: Path, model: Path | None, console: Console) -> Path:
    """The model to use; trains one into ``BOTDIR/models`` when the folder has none."""
    if model is not None:
        return model
    try:
        return find_model(bot_dir)
    except ModelError:
        console.print(f"no model in {bot_dir}: training one first")
        from gateway.cli.nlu_commands import train_and_save

        return train_and_save(bot_dir, None, seed=0, console=console)


def _shell(args: argparse.Namespace) -> int:
    from gateway.cli.shell import run_interactive, run_piped

    console = Console(stderr=True)
    model = ensure_model(args.bot_dir, args.model, console)
    with bot_runtime(args.bot_dir, model, console) as bot:
        # Nobody answers a handoff in the shell: the bot says so (/handback ends it).
        _with_desk(bot, args.bot_dir, available=False)
        if sys.stdin.isatty():
            run_interactive(bot, Console())
        else:
            run_piped(bot, sys.stdin, sys.stdout)
    return 0


def _with_desk(bot: Any, bot_dir: Path, *, available: bool) -> None:
    domain = bot.engine.domain
    settings = load_desk_settings(bot_dir, intents=domain.intents, slots=domain.slots)
    bot.engine.desk = StoryDesk(settings, available=available)


def _test(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    model = ensure_model(args.bot_dir, args.model, Console(stderr=True))
    stories = load_stories(args.bot_dir)
    if not stories:
        console.print(f"no test stories in {args.bot_dir / 'tests'}")
        return 1
    failed = 0
    with bot_runtime(args.bot_dir, model, Console(stderr=True)) as bot:
        _with_desk(bot, args.bot_dir, available=True)
        for story in stories:
            result = run_story(bot, story)
            mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
            console.print(f"{mark} {story.name}  ({story.path}:{story.line})")
            for failure in result.failures:
                console.print(f"     {failure}", markup=False)
            failed += not result.passed
    console.print(f"{len(stories) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _validate(args: argparse.Namespace) -> int:
    """Every problem on stdout, errors first (``file:line: problem``, warnings with
    ``warning:``, then ``config.yml``'s notices, which count as neither); exit 1 on an
    error (or on a warning with ``--fail-on-warnings``)."""
    from brain.nlu.config import format_notice
    from brain.validation import format_warning, validate_bot

    report = validate_bot(args.bot_dir)
    for problem in report.errors:
        print(problem)
    for problem in report.warnings:
        print(format_warning(problem))
    for notice in _config_notices(args.bot_dir):
        print(format_notice(notice))
    errors, warnings = len(report.errors), len(report.warnings)
    if not errors and not warnings:
        print(f"{args.bot_dir}: ok")
        return 0
    print(f"{args.bot_dir}: {errors} error(s), {warnings} warning(s)"
          + ("" if errors else " (warnings do not stop train or run)"))
    return 1 if errors or (warnings and args.fail_on_warnings) else 0


def _config_notices(bot_dir: Path) -> tuple[Problem, ...]:
    """``config.yml``'s notices; none when it has errors (those are reported already)."""
    from brain.nlu.config import load_config_notices

    try:
        return load_config_notices(bot_dir)
    except BotDataError:
        return ()
