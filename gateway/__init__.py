"""The aiohttp gateway and the ``parley`` command (``gateway.cli``).

At the top, the core every platform shares: the app and its lifetime (``app``,
``app_keys``), ingress, the outbound dispatcher and delivery, send pacing, the inbox sweep,
settings, metrics, request and client limits, the embedded Redis. Below it, one package per
platform, mirroring ``channels/``: ``web``, ``slack``, ``telegram``, ``whatsapp``, each with
its routes and settings; ``gateway.platforms`` lists the messaging platforms it serves."""
