"""How the gateway serves WhatsApp through Twilio (the platform itself:
``channels/whatsapp/``).

- ``routes``: ``add_channel``, the incoming-message and status-callback routes, the
  sender and its pacer, when WhatsApp is configured;
- ``settings``: ``WhatsAppSettings``, the ``PARLEY_WHATSAPP_*`` variables (README,
  "WhatsApp (through Twilio)");
- ``state``: what the channel keeps in Redis (numbered choices, sent replies' statuses);
- ``delivery``: the sender, and what is done with Twilio's delivery reports.

The modules are not imported here: ``gateway.settings`` imports ``settings`` before the
app's keys, which ``routes`` needs, exist (``gateway.platforms`` imports ``routes``).
"""

__all__ = ["delivery", "routes", "settings", "state"]
