"""The ``parley`` command: one sub-command per job, each in its own module (a platform's own
set-up command lives with the platform: ``parley telegram`` in ``gateway.telegram.command``).

Errors a user can cause (bad bot data, a missing or incompatible model, a port in use, a bad
database URL or account)
print one clear message to stderr and exit with status 2; they never show a traceback.
Bad bot data prints one ``file:line: problem`` line per problem, then a summary line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from brain.errors import BotDataError, BrainError
from channels.log_privacy import install_log_privacy
from channels.redaction import RedactionSettingsError
from channels.secret_values import SecretFileError, resolve_secret_files
from desk.errors import DeskError
from gateway.cli import (
    analytics_command,
    archiver_command,
    db_command,
    desk_command,
    dialogue_commands,
    gateway_command,
    model_command,
    nlu_commands,
    privacy_command,
    review_command,
    run_command,
    worker_command,
)
from gateway.cli.listening import ListenError
from gateway.settings import GatewaySettingsError
from gateway.telegram import command as telegram_command
from integrations.errors import IntegrationError
from workers.settings import WorkerSettingsError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="Parley chatbot gateway")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    nlu_commands.register(commands)
    dialogue_commands.register(commands)
    worker_command.register(commands)
    gateway_command.register(commands)
    run_command.register(commands)
    telegram_command.register(commands)
    db_command.register(commands)
    desk_command.register(commands)
    review_command.register(commands)
    model_command.register(commands)
    analytics_command.register(commands)
    archiver_command.register(commands)
    privacy_command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        resolve_secret_files(os.environ)  # PARLEY_<NAME>_FILE, before any setting is read
        install_log_privacy()  # before anything logs; the child processes inherit the key
    except (SecretFileError, RedactionSettingsError) as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        status: int = args.handler(args)
    except BotDataError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"parley: error: the bot's files have {count} error{'s' if count != 1 else ''} "
              "(listed above)", file=sys.stderr)
        return 2
    except (BrainError, IntegrationError, WorkerSettingsError, GatewaySettingsError,
            ListenError, DeskError) as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status
