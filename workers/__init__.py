"""Workers: the Celery app, the bus between gateway and workers, and per-conversation
ordering.

    settings.py            WorkerSettings.from_env (PARLEY_*)
    bus.py                 queue/stream/key names; Celery-protocol publishing without kombu
    ordering.py            TicketLock: serve a conversation's messages in sequence order
    conversation_store.py  tracker load and the atomic commit (tracker + served + replies)
    celery_app.py          the Celery app and its deliberate reliability settings
    tasks.py               handle_inbound, the task per inbound message

Errors: ``WorkerSettingsError`` (a PARLEY_* value is missing or malformed), ``LeaseLost``
(another worker took over a conversation; the turn is not committed).
"""
