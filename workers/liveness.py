"""A worker's own health check, for Kubernetes' probes: a file its processes keep touching.

Every Celery process that has loaded the bot touches ``PARLEY_WORKER_HEALTH_PATH`` (when it is
set) every few seconds, from the thread that also refreshes the gateways' heartbeat key
(``workers.runtime``). It does so whether Redis answers or not: a Redis outage is for the
gateways' ``/readyz`` to report, not a reason to restart every worker.

    python -m workers.liveness /tmp/parley-worker.alive --max-age 30

exits 0 when the file was touched within ``--max-age`` seconds, else 1 with one line saying
why (missing, or how old). It imports only the standard library, so an exec probe costs a
few milliseconds of CPU, where starting ``parley`` costs seconds. The same check serves the
startup probe (the file appears once a process has loaded the bot and its model) and the
liveness probe (it goes stale when no process is alive to touch it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["HEALTH_FILE_VARIABLE", "age", "main", "touch"]

# Not ..._FILE: a PARLEY_*_FILE variable names a file to read a secret from
# (channels.secret_values).
HEALTH_FILE_VARIABLE = "PARLEY_WORKER_HEALTH_PATH"
DEFAULT_MAX_AGE = 30.0


def touch(path: Path) -> None:
    """Mark the worker alive now (creates the file; ``OSError`` is the caller's)."""
    with path.open("a"):
        pass
    os.utime(path)


def age(path: Path, now: float | None = None) -> float | None:
    """Seconds since the file was last touched, or ``None`` when there is no such file."""
    try:
        touched = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, (time.time() if now is None else now) - touched)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.liveness",
                                     description="exit 0 if a worker process is alive")
    parser.add_argument("file", nargs="?", default=os.environ.get(HEALTH_FILE_VARIABLE),
                        help=f"the health file (default: {HEALTH_FILE_VARIABLE})")
    parser.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE,
                        help=f"seconds since the last touch (default: {DEFAULT_MAX_AGE:g})")
    args = parser.parse_args(argv)
    if not args.file:
        print(f"no health file: give one or set {HEALTH_FILE_VARIABLE}", file=sys.stderr)
        return 2
    seconds = age(Path(args.file))
    if seconds is None:
        print(f"{args.file}: no worker process has loaded the bot yet", file=sys.stderr)
        return 1
    if seconds > args.max_age:
        print(f"{args.file}: last touched {seconds:.0f} s ago (more than {args.max_age:g} s): "
              "no worker process is alive", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
