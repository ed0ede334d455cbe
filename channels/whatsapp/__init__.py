"""WhatsApp through Twilio: Twilio's signed webhook forms in (messages and delivery
reports), the Messages API out, through the twilio SDK's aiohttp client. Setting up the
Twilio sender and its webhook URLs: README, "Messaging channels" → "WhatsApp (through
Twilio)".

- ``adapter``: ``WhatsAppAdapter`` (verify ``X-Twilio-Signature``, parse messages and
  status reports, send) and the signature (``sign``);
- ``client``: the Twilio REST client on the SDK's aiohttp client (API URL, timeouts,
  ``Retry-After``);
- ``render``: buttons as a numbered list, and a typed answer back to its button (pure).

How the gateway serves it: ``gateway/whatsapp/``.
"""

from channels.whatsapp.adapter import (
    OUTSIDE_WINDOW,
    SIGNATURE_HEADER,
    STATUS_RANK,
    SentMessage,
    StatusReport,
    WhatsAppAdapter,
    parse_form,
    sign,
)

__all__ = ["OUTSIDE_WINDOW", "SIGNATURE_HEADER", "STATUS_RANK", "SentMessage", "StatusReport",
           "WhatsAppAdapter", "parse_form", "sign"]
