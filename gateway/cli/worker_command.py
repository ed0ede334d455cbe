"""``parley worker``: Celery workers for the inbound queue, with Parley's defaults, kept up.

The Celery worker runs as a child process of this command, which starts it again when
it exits without being asked to: Celery 5.7 with kombu's Redis transport can die of an
"Unrecoverable error" (an ``AttributeError`` in kombu while it restores the messages of a
connection Redis dropped — seen in ``bench/chaos.py`` when Redis restarts under load), and
a worker that stays dead stops every conversation. Restarts back off from 1 s to 30 s
(reset once a worker has run a minute) and are logged. The worker has a session of its
own, so a terminal's Ctrl-C reaches only this command, which passes SIGTERM or SIGINT on
as one SIGTERM (Celery's warm shutdown: the turns in progress finish) and ends with the
worker's status; if this command is killed, the kernel kills the worker too
(``PR_SET_PDEATHSIG``), as one would kill a plain ``celery worker``. ``--no-restart`` runs
Celery in this process.

With ``--metrics-port`` (or ``PARLEY_WORKER_METRICS_PORT``; off by default) this process
serves ``/metrics``: the sum of every Celery process's metrics (``workers.metrics``,
prometheus_client's multiprocess mode in ``PROMETHEUS_MULTIPROC_DIR``, set up here before
Celery starts) and the bus's queue figures (``workers.metrics_endpoint``). It keeps
serving while the Celery worker is started again, and the counts go on.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

__all__ = ["register"]

_log = logging.getLogger("parley.workers.supervisor")
_STEADY_SECONDS = 60.0  # a worker that ran this long restarts at once after a crash


def register(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="run worker processes (needs PARLEY_REDIS_URL and PARLEY_BOT_DIR)")
    worker.add_argument("--concurrency", "-c", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per CPU)")
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument("--no-restart", action="store_true",
                        help="run Celery in this process; do not start it again if it dies")
    worker.add_argument("--metrics-port", default=os.environ.get("PARLEY_WORKER_METRICS_PORT"),
                        help="serve Prometheus metrics at http://HOST:PORT/metrics "
                        "(default: PARLEY_WORKER_METRICS_PORT, else off; 9108 is customary)")
    worker.add_argument("--metrics-host", default=os.environ.get("PARLEY_WORKER_METRICS_HOST"),
                        help="address for --metrics-port (default: PARLEY_WORKER_METRICS_HOST, "
                        "else 0.0.0.0)")
    worker.set_defaults(handler=_worker)


def _celery_argv(args: argparse.Namespace) -> list[str]:
    from workers.bus import INBOUND_QUEUE

    return ["worker", "-Q", INBOUND_QUEUE, "-c", str(args.concurrency), "-P", "prefork",
            "--without-gossip", "--without-mingle", "-l", args.loglevel]


def _worker(args: argparse.Namespace) -> int:
    from workers.metrics_endpoint import (
        MetricsEndpoint,
        MetricsEndpointError,
        prepare_directory,
        serve_metrics,
    )
    from workers.settings import WorkerSettings

    settings = WorkerSettings.from_env()  # a bad setting stops here, with one line naming it
    try:
        endpoint = MetricsEndpoint.from_values(args.metrics_port, args.metrics_host)
        if endpoint.port is None and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return _run_celery(args)  # nobody reads the metrics: they stay in memory
        # Before Celery (and prometheus_client) is imported here or in the children.
        directory, made = prepare_directory()
        with serve_metrics(endpoint, redis_url=settings.redis_url, directory=directory,
                           remove=made):
            if endpoint.port is not None:
                print(f"parley worker: metrics at http://{endpoint.host}:{endpoint.port}"
                      "/metrics", file=sys.stderr, flush=True)
            return _run_celery(args)
    except MetricsEndpointError as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2


def _run_celery(args: argparse.Namespace) -> int:
    if args.no_restart:
        from workers.celery_app import app

        app.worker_main(_celery_argv(args))
        return 0
    return _supervise([sys.executable, "-m", "celery", "-A", "workers.celery_app",
                       *_celery_argv(args)])


def _supervise(argv: list[str]) -> int:
    from gateway.child_process import die_with_parent

    stopping: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _: FrameType | None) -> None:
        stopping.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    delay = 1.0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(argv, preexec_fn=die_with_parent(signal.SIGKILL),
                                 start_new_session=True)
        code = _wait(child)
        if stopping:
            return 0 if code in (0, -signal.SIGTERM) else code
        ran = time.monotonic() - started
        delay = 1.0 if ran >= _STEADY_SECONDS else delay
        print(f"parley worker: the Celery worker exited (status {code}) after {ran:.0f} s; "
              f"starting it again in {delay:.0f} s", file=sys.stderr, flush=True)
        time.sleep(delay)
        if stopping:
            return 0
        delay = min(delay * 2, 30.0)


def _wait(child: subprocess.Popen[bytes]) -> int:
    while True:
        try:
            return child.wait()
        except InterruptedError:  # a signal arrived; the handler passed it on
            continue
