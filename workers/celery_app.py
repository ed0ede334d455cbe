"""The Celery app, configured for "never lose, never double" rather than for speed.

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task message is acknowledged only
  after the task ended; a worker process killed mid-task puts it back at once; and
  ``task_acks_on_failure_or_timeout = False``: a task that failed (Redis went away under it
  and even the retry could not be queued) is not acknowledged either, so kombu restores it.
  The person's messages do not depend on any of this: they wait in the conversation's
  inbox (``workers.bus``), and the gateway's sweep asks again for a stalled conversation.
- ``worker_prefetch_multiplier = 1``: a worker holds one unacknowledged message at a time,
  so a slow turn does not sit on messages other workers could serve.
- ``visibility_timeout`` (``PARLEY_VISIBILITY_TIMEOUT``, 30 s): a task message
  unacknowledged that long (its whole worker died) is restored to the queue. It may be
  shorter than a slow turn: a restored copy finds the lease taken and does nothing.
- ``unacked_restore_interval`` 2 s, ``throttle`` 1: kombu checks for such messages every
  2 s instead of every ~100 s (10 s × every 10th sweep), so recovery takes
  visibility_timeout + ~2 s.
- Redis sockets have explicit timeouts longer than any blocking read we issue.
- A worker process cleans its log records (``channels.log_privacy``) from ``worker_init``
  on, and ``PARLEY_<NAME>_FILE`` secrets are read before the settings are, so a bare
  ``celery -A workers.celery_app worker`` is as private as ``parley worker``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from channels.log_privacy import install_log_privacy
from channels.secret_values import resolve_secret_files
from workers.bus import INBOUND_QUEUE
from workers.settings import WorkerSettings

__all__ = ["app", "create_celery"]


def create_celery(settings: WorkerSettings) -> Celery:
    celery = Celery("parley", broker=settings.redis_url, include=["workers.tasks"])
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=False,
        worker_prefetch_multiplier=settings.prefetch_multiplier,
        task_default_queue=INBOUND_QUEUE,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": 2,
            "unacked_restore_throttle": 1,
            "socket_timeout": 30,
            "socket_connect_timeout": 5,
        },
    )
    return celery


def _private_logs(**_: Any) -> None:
    install_log_privacy()


signals.worker_init.connect(_private_logs, weak=False, dispatch_uid="parley-log-privacy")
resolve_secret_files(os.environ)  # before any setting is read (PARLEY_REDIS_URL_FILE too)
app = create_celery(WorkerSettings.from_env())
