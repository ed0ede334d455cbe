"""Which channels a gateway serves, one line each, for ``parley run`` and ``parley gateway``.

A channel is on when its settings are complete (``GatewaySettings``); the line says where
they came from (the environment, ``credentials.yml``, or both), and for a channel
``credentials.yml`` configures that is still off, what is missing. The notices of
``credentials.yml`` (its channels Parley lacks) follow. No line holds a value.
"""

from __future__ import annotations

from gateway.credentials_file import ChannelSection, Credentials
from gateway.rasa_channels import CHANNEL_PREFIXES
from gateway.settings import GatewaySettings

__all__ = ["channel_report"]


def channel_report(settings: GatewaySettings, credentials: Credentials | None) -> list[str]:
    """The report's lines; an off channel's line starts with ``channel <name>: off``."""
    sections = {s.channel: s for s in credentials.sections} if credentials else {}
    lines = ["channel website chat: on (the chat page at / and the widget /widget.js)"]
    if settings.web_secret or settings.web_token:
        replies = (" replies to PARLEY_WEB_CALLBACK_URL" if settings.web_callback_url
                   else " no PARLEY_WEB_CALLBACK_URL: replies are dead-lettered")
        lines.append(f"channel website webhook: on (POST /channels/web/messages;{replies})")
    else:
        lines.append(_off("website webhook", sections.get("website webhook"), credentials,
                          "PARLEY_WEB_SECRET or PARLEY_WEB_TOKEN is not set, so it answers "
                          "401"))
    for channel, on in (("slack", settings.slack is not None),
                        ("telegram", settings.telegram is not None),
                        ("whatsapp", settings.whatsapp is not None)):
        if on:
            lines.append(f"channel {channel}: on (from {_source(channel, credentials)})")
        else:
            lines.append(_off(channel, sections.get(channel), credentials, "not configured"))
    if credentials is not None:
        lines.extend(credentials.notices)
    return lines


def _off(channel: str, section: ChannelSection | None, credentials: Credentials | None,
         otherwise: str) -> str:
    if section is None or credentials is None:
        return f"channel {channel}: off ({otherwise})"
    where = f"{credentials.path}:{section.line} ({section.section})"
    if section.reason:
        return f"channel {channel}: off: {where}: {section.reason}"
    needs = ", ".join(" or ".join(group) for group in section.missing)
    return f"channel {channel}: off: {where} configures it, but {needs} must be set too"


def _source(channel: str, credentials: Credentials | None) -> str:
    if credentials is None:
        return "the environment"
    from_file = {s.variable for s in credentials.settings if s.channel == channel}
    from_env = {k for k, v in credentials.env.items()
                if v and k.startswith(CHANNEL_PREFIXES[channel]) and k not in from_file}
    if from_file and from_env:
        return f"{credentials.path} and the environment"
    return credentials.path if from_file else "the environment"
