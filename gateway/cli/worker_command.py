"""``parley worker``: Celery workers for the inbound queue, with Parley's defaults."""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["register"]


def register(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="run worker processes (needs PARLEY_REDIS_URL and PARLEY_BOT_DIR)")
    worker.add_argument("--concurrency", "-c", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per CPU)")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace) -> int:
    from workers.settings import WorkerSettings

    WorkerSettings.from_env()  # a bad setting stops here, with one line naming it
    from workers.bus import INBOUND_QUEUE
    from workers.celery_app import app

    app.worker_main(["worker", "-Q", INBOUND_QUEUE, "-c", str(args.concurrency),
                     "-P", "prefork", "--without-gossip", "--without-mingle",
                     "-l", args.loglevel])
    return 0
