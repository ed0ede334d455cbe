"""WhatsApp channel settings from ``PARLEY_WHATSAPP_*`` variables (None when not configured)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["WhatsAppSettings"]


@dataclass(frozen=True, slots=True)
class WhatsAppSettings:
    auth_token: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WhatsAppSettings | None:
        value = env.get("PARLEY_WHATSAPP_AUTH_TOKEN") or None
        if value is None:
            return None
        return cls(auth_token=value)
