"""Slack channel settings from ``PARLEY_SLACK_*`` variables (None when not configured)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["SlackSettings"]


@dataclass(frozen=True, slots=True)
class SlackSettings:
    signing_secret: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SlackSettings | None:
        value = env.get("PARLEY_SLACK_SIGNING_SECRET") or None
        if value is None:
            return None
        return cls(signing_secret=value)
