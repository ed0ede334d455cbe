"""The website: a site's server posts messages and receives replies at its callback URL
(server to server), and people chat in the browser through the widget the gateway serves.
Setup: README, "The website webhook (server to server)" and "The website chat (browser)".

- ``adapter``: ``WebAdapter``, the webhook's verify, parse and send (signed with
  ``X-Parley-Signature`` / ``X-Parley-Timestamp``, or a bearer token);
- ``session``: ``SessionSigner``, the browser's signed session token;
- ``chat``: the browser chat protocol (frames in, frames out; pure);
- ``static/``: the chat page and the embeddable ``widget.js`` (package data).

How the gateway serves it: ``gateway/web/``.
"""

from channels.web.adapter import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebAdapter,
    delivery_id,
    sign,
    verify_signature,
    verify_signed_headers,
)
from channels.web.session import Session, SessionSigner

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "Session", "SessionSigner", "WebAdapter",
           "delivery_id", "sign", "verify_signature", "verify_signed_headers"]
