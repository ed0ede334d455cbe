"""Worker settings from ``PARLEY_*`` environment variables, checked once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from channels.redaction import ALL_KINDS, RedactionSettingsError, parse_kinds
from workers.retention import RetentionSettings, RetentionSettingsError

__all__ = ["WorkerSettings", "WorkerSettingsError"]


class WorkerSettingsError(ValueError):
    """One line naming the variable and the expected form."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """``redis_url`` is the broker and the state store. ``lease_seconds``: how long a
    conversation's lease lasts unless renewed (every third of it, by a thread, while the
    turns run); it is also how long a conversation waits when the worker serving it dies,
    before the gateway's sweep asks for it again (measured by ``bench/chaos.py`` and
    ``bench/worker_recovery.py``). ``visibility_timeout``: how long kombu waits before it
    restores a task message a dead worker held; the message itself waits in the inbox
    regardless, so this only bounds a redundant redelivery. ``archive_max``: how many turn
    records the archive stream keeps while no archiver stores them (a database that is
    down): beyond it the oldest are trimmed, which the archiver's lag alert warns of long
    before. ``redact_kinds`` (``PARLEY_REDACT``): what the turn records and log lines have
    redacted (``channels.redaction``). ``retention`` (``PARLEY_RETENTION_DAYS``): how long a
    conversation's keys outlive its last turn (``workers.retention``)."""

    redis_url: str
    bot_dir: Path
    model_path: Path | None = None
    lease_seconds: float = 6.0
    visibility_timeout: float = 30.0
    prefetch_multiplier: int = 1
    archive_max: int = 1_000_000
    redact_kinds: frozenset[str] = ALL_KINDS
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    # PARLEY_WORKER_HEALTH_PATH: touched by every live process (workers.liveness); unset: none.
    health_file: Path | None = None

    def __repr__(self) -> str:
        parsed = urlparse(self.redis_url)
        shown = self.redis_url.replace(f":{parsed.password}@", ":***@") if parsed.password \
            else self.redis_url
        return f"WorkerSettings(redis_url={shown!r}, bot_dir={str(self.bot_dir)!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if environ is None else environ
        url = env.get("PARLEY_REDIS_URL", "")
        if urlparse(url).scheme not in ("redis", "rediss", "unix"):
            raise WorkerSettingsError("PARLEY_REDIS_URL must be a redis:// URL such as "
                                      "redis://127.0.0.1:6379/0" + ("" if url else
                                                                    " (it is not set)"))
        bot_dir = Path(env.get("PARLEY_BOT_DIR", "examples/support_bot"))
        if not (bot_dir / "domain.yml").is_file():
            raise WorkerSettingsError(f"PARLEY_BOT_DIR must be a bot folder with a domain.yml "
                                      f"(got {str(bot_dir)!r})")
        model = env.get("PARLEY_MODEL")
        return cls(redis_url=url, bot_dir=bot_dir, model_path=Path(model) if model else None,
                   lease_seconds=_seconds(env, "PARLEY_LEASE_SECONDS", 6.0),
                   visibility_timeout=_seconds(env, "PARLEY_VISIBILITY_TIMEOUT", 30.0),
                   prefetch_multiplier=_count(env, "PARLEY_WORKER_PREFETCH", 1),
                   archive_max=_archive_max(env), redact_kinds=_redact_kinds(env),
                   retention=_retention(env), health_file=_health_file(env))


def _health_file(env: Mapping[str, str]) -> Path | None:
    raw = (env.get("PARLEY_WORKER_HEALTH_PATH") or "").strip()
    if not raw:
        return None
    path = Path(raw)
    if not path.parent.is_dir():
        raise WorkerSettingsError(f"PARLEY_WORKER_HEALTH_PATH must be a file in an existing "
                                  f"folder, got {raw!r}")
    return path


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise WorkerSettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 64:
        raise WorkerSettingsError(f"{name} must be a whole number from 1 to 64, got {raw!r}")
    return int(raw)


def _archive_max(env: Mapping[str, str]) -> int:
    raw = env.get("PARLEY_ARCHIVE_STREAM_MAX")
    if raw is None:
        return 1_000_000
    if not raw.strip().isdigit() or not 1000 <= int(raw) <= 100_000_000:
        raise WorkerSettingsError("PARLEY_ARCHIVE_STREAM_MAX must be a whole number of turn "
                                  f"records from 1000 to 100000000, got {raw!r}")
    return int(raw)


def _redact_kinds(env: Mapping[str, str]) -> frozenset[str]:
    try:
        return parse_kinds(env.get("PARLEY_REDACT"))
    except RedactionSettingsError as exc:
        raise WorkerSettingsError(str(exc)) from None


def _retention(env: Mapping[str, str]) -> RetentionSettings:
    try:
        return RetentionSettings.from_env(env)
    except RetentionSettingsError as exc:
        raise WorkerSettingsError(str(exc)) from None
