"""How the gateway serves the website (the platform itself: ``channels/web/``).

- ``routes``: ``add_routes``, the webhook (``POST /channels/web/messages``) and the
  browser chat (page, widget, sessions, WebSocket and long-poll);
- ``outbox``: ``WebchatOutbox``, a browser conversation's frames in Redis, where the
  dispatcher "sends" a browser reply;
- ``hub``: ``LiveHub``, this replica's live fan-out of frames to its browsers.

The website is always served: its settings are the gateway's own (``PARLEY_WEB_*``,
``PARLEY_SESSION_*``, ``PARLEY_OUTBOX_SIZE``; README, "The website webhook" and "The
website chat"), and the app builds its adapter, outbox and hub with Redis. The modules are
not imported here: ``gateway.app_keys`` imports ``hub`` and ``outbox``, and ``routes``
needs the app's keys.
"""

__all__ = ["hub", "outbox", "routes"]
