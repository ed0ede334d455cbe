"""Slack channel settings from ``PARLEY_SLACK_*`` variables (None when not configured).

- ``PARLEY_SLACK_SIGNING_SECRET`` (required): the app's Signing Secret.
- ``PARLEY_SLACK_BOT_TOKENS``: ``T0123=xoxb-…,T0456=xoxb-…``, a bot token per workspace
  (team id); or ``PARLEY_SLACK_BOT_TOKEN``: the one bot token of a single workspace.
  Exactly one of the two.
- ``PARLEY_SLACK_LISTEN_CHANNELS``: channel ids where every message is taken, not only
  those that mention the bot.
- ``PARLEY_SLACK_API_URL``: the Web API's base URL (default ``https://slack.com/api/``).

Errors name the variable (and the team id) but never echo a token or the secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.env_values import GatewaySettingsError, http_url

__all__ = ["SlackSettings"]

DEFAULT_API_URL = "https://slack.com/api/"
_NAMES = ("PARLEY_SLACK_SIGNING_SECRET", "PARLEY_SLACK_BOT_TOKENS", "PARLEY_SLACK_BOT_TOKEN",
          "PARLEY_SLACK_LISTEN_CHANNELS", "PARLEY_SLACK_API_URL")
_TEAM = re.compile(r"[TE][A-Z0-9]{2,}")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}")


@dataclass(frozen=True, slots=True)
class SlackSettings:
    signing_secret: str = field(repr=False)
    # team id → bot token; empty when one workspace is served with ``bot_token``
    bot_tokens: Mapping[str, str] = field(default_factory=dict, repr=False)
    bot_token: str | None = field(default=None, repr=False)
    listen_channels: frozenset[str] = frozenset()
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SlackSettings | None:
        if not any(env.get(name) for name in _NAMES):
            return None
        secret = env.get("PARLEY_SLACK_SIGNING_SECRET") or ""
        if not secret.strip():
            raise GatewaySettingsError(
                "PARLEY_SLACK_SIGNING_SECRET must be set (the Slack app's Signing Secret, "
                "under Basic Information) when other PARLEY_SLACK_* variables are set")
        tokens = _bot_tokens(env.get("PARLEY_SLACK_BOT_TOKENS") or "")
        single = (env.get("PARLEY_SLACK_BOT_TOKEN") or "").strip() or None
        if tokens and single:
            raise GatewaySettingsError("set PARLEY_SLACK_BOT_TOKENS (one token per workspace) "
                                       "or PARLEY_SLACK_BOT_TOKEN (one workspace), not both")
        if not tokens and single is None:
            raise GatewaySettingsError(
                "PARLEY_SLACK_BOT_TOKEN (xoxb-…) or PARLEY_SLACK_BOT_TOKENS "
                "(T0123=xoxb-…,T0456=xoxb-…) must be set for the Slack channel")
        if single is not None and not single.startswith("xoxb-"):
            raise GatewaySettingsError("PARLEY_SLACK_BOT_TOKEN must be a bot token (xoxb-…)")
        return cls(signing_secret=secret.strip(), bot_tokens=tokens, bot_token=single,
                   listen_channels=_channels(env.get("PARLEY_SLACK_LISTEN_CHANNELS") or ""),
                   api_url=http_url(env, "PARLEY_SLACK_API_URL", DEFAULT_API_URL)
                   or DEFAULT_API_URL)


def _bot_tokens(raw: str) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for number, entry in enumerate((e.strip() for e in raw.split(",") if e.strip()), start=1):
        team, sep, token = (part.strip() for part in entry.partition("="))
        if not sep or not _TEAM.fullmatch(team):
            raise GatewaySettingsError(
                f"PARLEY_SLACK_BOT_TOKENS entry {number} must be TEAM_ID=xoxb-… such as "
                "T0123ABCD=xoxb-…, separated by commas")
        if not token.startswith("xoxb-"):
            raise GatewaySettingsError(
                f"PARLEY_SLACK_BOT_TOKENS: the token of {team} must be a bot token (xoxb-…)")
        if team in tokens:
            raise GatewaySettingsError(f"PARLEY_SLACK_BOT_TOKENS names {team} twice")
        tokens[team] = token
    return tokens


def _channels(raw: str) -> frozenset[str]:
    channels = [c.strip() for c in raw.split(",") if c.strip()]
    for channel in channels:
        if not _CHANNEL.fullmatch(channel):
            raise GatewaySettingsError(
                "PARLEY_SLACK_LISTEN_CHANNELS must be comma-separated channel ids such as "
                f"C0123ABCD (not names like #general), got {channel!r}")
    return frozenset(channels)
