"""Telegram channel settings from ``PARLEY_TELEGRAM_*`` variables (None when not configured)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["TelegramSettings"]


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    bot_token: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramSettings | None:
        value = env.get("PARLEY_TELEGRAM_BOT_TOKEN") or None
        if value is None:
            return None
        return cls(bot_token=value)
