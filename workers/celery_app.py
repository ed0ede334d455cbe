"""The Celery app, configured for "never lose, never double" rather than for speed.

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after
  its turn is committed; a worker process killed mid-task puts it back at once.
- ``worker_prefetch_multiplier = 1``: a worker holds one unacknowledged message at a time,
  so a slow turn does not sit on messages other workers could serve.
- ``visibility_timeout`` (``PARLEY_VISIBILITY_TIMEOUT``, 30 s): a message unacknowledged
  that long (its whole worker died) is restored to the queue. It may be shorter than a
  slow turn: a restored copy finds the lease taken and waits, then finds the turn served.
- ``unacked_restore_interval`` 2 s, ``throttle`` 1: kombu checks for such messages every
  2 s instead of every ~100 s (10 s × every 10th sweep), so recovery takes
  visibility_timeout + ~2 s.
- Redis sockets have explicit timeouts longer than any blocking read we issue.
"""

from __future__ import annotations

from celery import Celery

from workers.bus import INBOUND_QUEUE
from workers.settings import WorkerSettings

__all__ = ["app", "create_celery"]


def create_celery(settings: WorkerSettings) -> Celery:
    celery = Celery("parley", broker=settings.redis_url, include=["workers.tasks"])
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
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


app = create_celery(WorkerSettings.from_env())
