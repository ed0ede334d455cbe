"""``parley privacy TASK``: the people's data Parley keeps — its encryption at rest, its
retention, and one person's export and erasure.

Each task is a module of its own with a ``register(privacy_subparsers)`` that adds its
parser; :data:`TASKS` names them, in the order ``parley privacy --help`` lists them. A new
task is one module and one entry here.
"""

from __future__ import annotations

from typing import Any

from gateway.cli import privacy_people, privacy_purge, privacy_rotate

__all__ = ["TASKS", "register"]

TASKS = (privacy_rotate, privacy_purge, privacy_people)


def register(commands: Any) -> None:
    privacy = commands.add_parser(
        "privacy", help="the people's data Parley keeps: re-encrypt it under a new key "
        "(rotate-keys), make a key (new-key), purge old conversations (purge), export or "
        "erase one person's data (export, erase)")
    privacy_subparsers = privacy.add_subparsers(dest="privacy_task", required=True,
                                                metavar="TASK")
    for task in TASKS:
        task.register(privacy_subparsers)
