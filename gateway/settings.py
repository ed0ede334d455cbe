"""Gateway settings from ``PARLEY_*`` environment variables, checked once at start-up.

A bad or missing value stops start-up with one line naming the variable; secrets are
masked in ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from desk.retention import ArchiveRetention
from desk.webhook_settings import WebhookSettings
from gateway.env_values import GatewaySettingsError, integer, origins
from gateway.limit_settings import LimitSettings
from gateway.slack.settings import SlackSettings
from gateway.telegram.settings import TelegramSettings
from gateway.whatsapp.settings import WhatsAppSettings
from workers.retention import RetentionSettings, RetentionSettingsError

__all__ = ["GatewaySettings", "GatewaySettingsError"]


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    redis_url: str
    host: str = "127.0.0.1"
    port: int = 8080
    web_secret: str | None = field(default=None, repr=False)   # HMAC key of the site
    web_token: str | None = field(default=None, repr=False)    # bearer token, simpler option
    web_callback_url: str | None = None
    max_body_bytes: int = 64 * 1024
    replay_window_seconds: int = 300
    dedupe_ttl_seconds: int = 24 * 3600
    callback_attempts: int = 6
    claim_idle_seconds: int = 30  # a reply pending this long on a dead dispatcher is taken
    # The website's and the browser chat's cap on a conversation's unanswered messages.
    max_unserved: int = 50
    # Browser chat: the key of session tokens (None: a random one per process, so sessions
    # neither survive a restart nor work across replicas), their lifetime, the origins
    # besides the gateway's own allowed to open the widget's connections, the outbox size.
    session_secret: str | None = field(default=None, repr=False)
    session_days: int = 30
    allowed_origins: tuple[str, ...] = ()
    outbox_size: int = 200
    # Slow and greedy clients: read deadlines, rate limits, the socket cap, trusted proxies.
    limits: LimitSettings = field(default_factory=LimitSettings)
    # The agent desk: the database of record (PARLEY_DATABASE_URL; None: the SQLite file
    # in the bot folder, when PARLEY_BOT_DIR names one; neither: no desk).
    database_url: str | None = field(default=None, repr=False)
    bot_dir: Path | None = None
    desk_webhooks: WebhookSettings | None = None  # PARLEY_DESK_WEBHOOK_*
    desk_archiver: bool = True  # PARLEY_ARCHIVER=off: this gateway stores no turn records
    # How long a conversation's keys outlive its last message (PARLEY_RETENTION_DAYS), and
    # the archive's rows its last activity (PARLEY_ARCHIVE_RETENTION_DAYS).
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    archive_retention: ArchiveRetention = field(default_factory=ArchiveRetention)
    # Messaging platforms: each is None unless its variables are set.
    slack: SlackSettings | None = None
    telegram: TelegramSettings | None = None
    whatsapp: WhatsAppSettings | None = None

    @property
    def desk_database(self) -> str | None:
        """The desk's database URL with its driver (``desk.database``), or ``None``: no
        desk. A malformed PARLEY_DATABASE_URL raises ``DatabaseUrlError``, named."""
        if self.database_url is None and self.bot_dir is None:
            return None
        from desk.database import database_url

        return database_url(self.database_url, self.bot_dir or Path("."))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        env = os.environ if environ is None else environ
        url = env.get("PARLEY_REDIS_URL", "")
        if urlparse(url).scheme not in ("redis", "rediss", "unix"):
            raise GatewaySettingsError("PARLEY_REDIS_URL must be a redis:// URL such as "
                                       "redis://127.0.0.1:6379/0" + ("" if url else
                                                                     " (it is not set)"))
        secret, token = env.get("PARLEY_WEB_SECRET") or None, env.get("PARLEY_WEB_TOKEN") or None
        session_secret = env.get("PARLEY_SESSION_SECRET") or None
        if session_secret is not None and len(session_secret) < 16:
            raise GatewaySettingsError("PARLEY_SESSION_SECRET must be at least 16 characters")
        callback = env.get("PARLEY_WEB_CALLBACK_URL") or None
        if callback and urlparse(callback).scheme not in ("http", "https"):
            raise GatewaySettingsError("PARLEY_WEB_CALLBACK_URL must be an http(s) URL")
        if callback and not (secret or token):
            raise GatewaySettingsError("PARLEY_WEB_CALLBACK_URL is set: PARLEY_WEB_SECRET (HMAC "
                                       "key) or PARLEY_WEB_TOKEN must be set to sign callbacks")
        return cls(redis_url=url, host=env.get("PARLEY_HOST", "127.0.0.1"),
                   port=integer(env, "PARLEY_PORT", 8080, 0, 65535),
                   web_secret=secret, web_token=token, web_callback_url=callback,
                   max_body_bytes=integer(env, "PARLEY_MAX_BODY_BYTES", 64 * 1024, 256,
                                           16 * 1024 * 1024),
                   replay_window_seconds=integer(env, "PARLEY_REPLAY_WINDOW_SECONDS", 300,
                                                  1, 3600),
                   callback_attempts=integer(env, "PARLEY_CALLBACK_ATTEMPTS", 6, 1, 50),
                   claim_idle_seconds=integer(env, "PARLEY_CLAIM_IDLE_SECONDS", 30, 1, 3600),
                   max_unserved=integer(env, "PARLEY_MAX_UNSERVED", 50, 1, 100_000),
                   session_secret=session_secret,
                   session_days=integer(env, "PARLEY_SESSION_DAYS", 30, 1, 3650),
                   allowed_origins=origins(env, "PARLEY_WEB_ALLOWED_ORIGINS"),
                   outbox_size=integer(env, "PARLEY_OUTBOX_SIZE", 200, 10, 100_000),
                   limits=LimitSettings.from_env(env),
                   database_url=env.get("PARLEY_DATABASE_URL") or None,
                   bot_dir=Path(env["PARLEY_BOT_DIR"]) if env.get("PARLEY_BOT_DIR") else None,
                   desk_webhooks=WebhookSettings.from_env(env),
                   desk_archiver=_on_off(env, "PARLEY_ARCHIVER"),
                   retention=_retention(env),
                   archive_retention=ArchiveRetention.from_env(env),
                   slack=SlackSettings.from_env(env),
                   telegram=TelegramSettings.from_env(env),
                   whatsapp=WhatsAppSettings.from_env(env))


def _on_off(env: Mapping[str, str], name: str, default: bool = True) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
        raise GatewaySettingsError(f"{name} must be on or off, got {env[name]!r}")
    return raw in ("on", "true", "1", "yes")


def _retention(env: Mapping[str, str]) -> RetentionSettings:
    try:
        return RetentionSettings.from_env(env)
    except RetentionSettingsError as exc:
        raise GatewaySettingsError(str(exc)) from None
