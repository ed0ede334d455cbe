"""Reading ``PARLEY_*`` values: the checks every settings object shares, and its error.

A bad value stops start-up with one line naming the variable and the expected form.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlparse

__all__ = ["GatewaySettingsError", "http_url", "integer", "number", "origins"]


class GatewaySettingsError(ValueError):
    """One line naming the variable and the expected form."""


def _ascii_digits(text: str) -> bool:
    """``str.isdigit`` also accepts "²" and other digits ``int()`` refuses."""
    return text.isascii() and text.isdigit()


def integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not _ascii_digits(raw.strip()) or not low <= int(raw) <= high:
        raise GatewaySettingsError(f"{name} must be a whole number from {low} to {high}, "
                                   f"got {raw!r}")
    return int(raw)


def number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise GatewaySettingsError(f"{name} must be a number from {low:g} to {high:g}, "
                                   f"got {raw!r}")
    return value


def http_url(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """An http(s) URL, or ``default`` when the variable is unset or empty."""
    raw = env.get(name) or default
    if raw is None:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise GatewaySettingsError(f"{name} must be an http(s) URL such as "
                                   f"https://bot.example.com/path, got {raw!r}")
    return raw


def origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    values = tuple(o.strip().rstrip("/") for o in env.get(name, "").split(",") if o.strip())
    for origin in values:
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path:
            raise GatewaySettingsError(f"{name} must be a comma-separated list of origins "
                                       f"such as https://shop.example, got {origin!r}")
    return values
