"""WhatsApp-through-Twilio settings from ``PARLEY_TWILIO_*`` and ``PARLEY_WHATSAPP_*``.

``None`` when none of the channel's variables is set; when some are, the four required ones
must all be set and well formed, or start-up stops with one line naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.env_values import GatewaySettingsError, http_url, number

__all__ = ["DEFAULT_RATE", "WhatsAppSettings"]

# Twilio's documented default throughput is 80 messages a second per WhatsApp sender; a
# quarter of it leaves room for other senders on the account and for several replicas
# (each paces on its own). The sandbox number allows one message every 3 s: set 0.3 there.
DEFAULT_RATE = 20.0
VARIABLES = ("PARLEY_TWILIO_ACCOUNT_SID", "PARLEY_TWILIO_AUTH_TOKEN", "PARLEY_WHATSAPP_FROM",
             "PARLEY_WHATSAPP_PUBLIC_URL", "PARLEY_WHATSAPP_TEMPLATE_SID",
             "PARLEY_TWILIO_API_URL", "PARLEY_WHATSAPP_RATE")
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_NUMBER = re.compile(r"(?:whatsapp:)?(\+[1-9][0-9]{6,14})")


@dataclass(frozen=True, slots=True)
class WhatsAppSettings:
    """``from_number`` is E.164 (``+14155238886``); ``public_url`` has no trailing slash:
    Twilio signs its requests over ``public_url`` + the route's path, the URL it calls,
    whatever host and scheme a proxy hands the gateway."""

    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str = ""
    public_url: str = ""
    template_sid: str | None = None
    api_url: str = "https://api.twilio.com"
    rate: float = DEFAULT_RATE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WhatsAppSettings | None:
        if not any(env.get(name) for name in VARIABLES):
            return None
        account_sid = _required(env, "PARLEY_TWILIO_ACCOUNT_SID")
        if not _ACCOUNT_SID.fullmatch(account_sid):
            raise GatewaySettingsError("PARLEY_TWILIO_ACCOUNT_SID must be the account's SID, "
                                       "AC followed by 32 hex digits")
        token = _required(env, "PARLEY_TWILIO_AUTH_TOKEN")
        sender = _NUMBER.fullmatch(_required(env, "PARLEY_WHATSAPP_FROM"))
        if sender is None:
            raise GatewaySettingsError("PARLEY_WHATSAPP_FROM must be the business's WhatsApp "
                                       "number such as +14155238886 or whatsapp:+14155238886, "
                                       f"got {env['PARLEY_WHATSAPP_FROM']!r}")
        _required(env, "PARLEY_WHATSAPP_PUBLIC_URL")
        public_url = str(http_url(env, "PARLEY_WHATSAPP_PUBLIC_URL")).rstrip("/")
        template = env.get("PARLEY_WHATSAPP_TEMPLATE_SID") or None
        if template is not None and not _CONTENT_SID.fullmatch(template):
            raise GatewaySettingsError("PARLEY_WHATSAPP_TEMPLATE_SID must be a Content SID, "
                                       f"HX followed by 32 hex digits, got {template!r}")
        api_url = str(http_url(env, "PARLEY_TWILIO_API_URL", "https://api.twilio.com"))
        return cls(account_sid=account_sid, auth_token=token, from_number=sender.group(1),
                   public_url=public_url, template_sid=template, api_url=api_url.rstrip("/"),
                   rate=number(env, "PARLEY_WHATSAPP_RATE", DEFAULT_RATE, 0.01, 400.0))


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise GatewaySettingsError(f"{name} must be set to use WhatsApp (the PARLEY_TWILIO_* "
                                   "and PARLEY_WHATSAPP_* variables are partly set)")
    return value
