"""Settings of the desk's webhooks (``desk.webhooks``) from ``PARLEY_DESK_WEBHOOK_*``.

- ``PARLEY_DESK_WEBHOOK_URL``: the external helpdesk's http(s) endpoint; every desk event is
  POSTed to it. Unset (and no other ``PARLEY_DESK_WEBHOOK_*`` set): webhooks are off and
  ``from_env`` returns ``None``.
- ``PARLEY_DESK_WEBHOOK_SECRET`` (at least 16 characters), or
  ``PARLEY_DESK_WEBHOOK_SECRET_FILE`` naming a file that holds it (a mounted secret; one
  trailing newline is ignored): the HMAC key of ``X-Parley-Signature``. One of the two is
  required once the URL is set.
- ``PARLEY_DESK_WEBHOOK_ATTEMPTS`` (1–50, default 8): attempts per event, the first included.
- ``PARLEY_DESK_WEBHOOK_TIMEOUT_SECONDS`` (0.1–300, default 10): one attempt's whole time.

The backoff fields are not read from the environment; they are frozen policy values the
caller (or a test) may set. The secret is masked in ``repr`` and no message names it.

desk may not import ``gateway.env_values``, so the few checks it needs are written here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from channels.secret_values import SecretFileError, read_secret_file
from desk.errors import DeskError

__all__ = ["WebhookSettings", "WebhookSettingsError"]

_URL = "PARLEY_DESK_WEBHOOK_URL"
_SECRET = "PARLEY_DESK_WEBHOOK_SECRET"
_SECRET_FILE = "PARLEY_DESK_WEBHOOK_SECRET_FILE"
_ATTEMPTS = "PARLEY_DESK_WEBHOOK_ATTEMPTS"
_TIMEOUT = "PARLEY_DESK_WEBHOOK_TIMEOUT_SECONDS"
_NAMES = (_URL, _SECRET, _SECRET_FILE, _ATTEMPTS, _TIMEOUT)
_MIN_SECRET = 16


class WebhookSettingsError(DeskError, ValueError):
    """One line naming the variable and the expected form (never the secret)."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str
    secret: str = field(repr=False)
    attempts: int = 8
    timeout_seconds: float = 10.0
    # Exponential backoff between attempts: initial · 2^(n-1), capped, with jitter (each
    # wait is drawn from [½, 1] of it). A Retry-After is honoured up to max_retry_after:
    # one replica delivers one event at a time, so a longer wait would hold all the others.
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_retry_after_seconds: float = 120.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookSettings | None:
        """The settings, or ``None`` when no ``PARLEY_DESK_WEBHOOK_*`` variable is set."""
        env = os.environ if environ is None else environ
        if not any(env.get(name) for name in _NAMES):
            return None
        url = env.get(_URL) or ""
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            # The URL may carry a token of the helpdesk's: it is not echoed.
            raise WebhookSettingsError(
                f"{_URL} must be an http(s) URL such as https://helpdesk.example/parley"
                + ("" if url else f" (it is not set, but {_set_names(env)} is)"))
        return cls(url=url, secret=_secret(env),
                   attempts=_integer(env, _ATTEMPTS, 8, 1, 50),
                   timeout_seconds=_number(env, _TIMEOUT, 10.0, 0.1, 300.0))


def _set_names(env: Mapping[str, str]) -> str:
    return ", ".join(name for name in _NAMES if env.get(name))


def _secret(env: Mapping[str, str]) -> str:
    given, path = env.get(_SECRET) or "", env.get(_SECRET_FILE) or ""
    if given and path:
        raise WebhookSettingsError(f"set one of {_SECRET} and {_SECRET_FILE}, not both")
    if not given and not path:
        raise WebhookSettingsError(f"{_URL} is set: {_SECRET} (the HMAC key of the "
                                   f"signature, at least {_MIN_SECRET} characters) or "
                                   f"{_SECRET_FILE} (a file holding it) must be set too")
    name = _SECRET
    if path:
        name = _SECRET_FILE
        try:
            given = read_secret_file(_SECRET_FILE, path)
        except SecretFileError as exc:
            raise WebhookSettingsError(str(exc)) from None
    if len(given) < _MIN_SECRET or given != given.strip():
        raise WebhookSettingsError(f"{name} must give a secret of at least {_MIN_SECRET} "
                                   "characters without leading or trailing spaces")
    return given


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    # ASCII digits only: str.isdigit also takes "²", which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise WebhookSettingsError(f"{name} must be a whole number from {low} to {high}, "
                                   f"got {raw!r}")
    return int(raw)


def _number(env: Mapping[str, str], name: str, default: float, low: float,
            high: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # NaN fails too
        raise WebhookSettingsError(f"{name} must be a number of seconds from {low:g} to "
                                   f"{high:g}, got {raw!r}")
    return value
