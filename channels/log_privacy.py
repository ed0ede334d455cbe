"""What a log line may show: no secret, no personal data, identifiers only pseudonymised.

``install_log_privacy`` is called once by every entry point (the ``parley`` command, the
Celery worker's start-up) before anything logs. It wraps logging's record factory, so every
record of every logger — ours, aiohttp's access log, Celery's, the SDKs' debug lines —
is cleaned when it is made, whatever handler later writes it. A record is cleaned as a
whole: its message with its arguments, the text of its exception and traceback, and its
stack. Exceptions nobody caught (``sys.excepthook``, ``threading.excepthook``) are logged
through the same path instead of printed raw.

Cleaning, in this order:

1. secrets (``channels.secret_values``: every token, password and key in the environment,
   and those registered later with ``register_secret``) become ``<secret>``;
2. identifiers that are personal data — a conversation id (``whatsapp:+1415…:+1…``,
   ``slack:T…:C…``, ``telegram:…``, ``web:…``), a Slack user id, the values of
   ``user_id``/``chat_id``/``WaId``-like fields — become a keyed hash, the same in every
   process sharing ``PARLEY_LOG_HASH_KEY`` (``whatsapp:~3f9a1c2e7b1d``), so lines can still
   be correlated;
3. personal data (``channels.redaction``: emails, phone numbers, card numbers, IBANs, and
   the values of the bot's sensitive entities in the turn being served, given with
   ``sensitive_values``) becomes a placeholder such as ``[email]``.

``PARLEY_LOG_HASH_KEY`` unset: the key is derived from ``PARLEY_SESSION_SECRET`` (or the
first of ``PARLEY_ENCRYPTION_KEYS``); with neither, a random key is made and put in the
environment, so the processes ``parley run`` starts share it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

from channels.redaction import Redactor, parse_kinds
from channels.secret_values import SHORTEST_SECRET, secret_values

__all__ = ["LogPrivacy", "install_log_privacy", "pseudonym", "register_secret",
           "sensitive_values", "uninstall_log_privacy"]

HASH_KEY_VARIABLE = "PARLEY_LOG_HASH_KEY"
_SECRET_MARK = "<secret>"
_CHANNELS = "web|slack|telegram|whatsapp"
# A conversation id or a platform address: the channel, then ":" (or "%3A" in a URL) and
# everything up to a space, quote or closing bracket.
_CONVERSATION = re.compile(rf"\b({_CHANNELS})(:|%3A)([^\s'\"\]\[(){{}}<>,;|]+)", re.I)
_SLACK_USER = re.compile(r"\b[UW](?=[A-Z0-9]*\d)[A-Z0-9]{8,12}\b")
_ID_FIELD = re.compile(
    r"""(["']?\b(?:user_id|user|chat_id|from_id|sender_id|sender|wa_id|WaId|ProfileName|"""
    r"""author_id|person)["']?\s*[:=]\s*["']?)([^\s"'&,;)}\]]+)""")
_turn_values: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "parley_sensitive_values", default=())


def _hash(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:12]


@dataclass(slots=True)
class LogPrivacy:
    """The cleaning of one process: its redactor, the secrets it knows, its hash key."""

    redactor: Redactor
    hash_key: bytes = field(repr=False)
    _secrets: list[str] = field(default_factory=list, repr=False)
    _secret_pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def add_secrets(self, values: Iterable[str]) -> None:
        known = set(self._secrets)
        for value in values:
            known.update({value, quote(value, safe=""), quote(value)} - {""})
        self._secrets = sorted((v for v in known if len(v) >= SHORTEST_SECRET),
                               key=lambda v: (-len(v), v))
        self._secret_pattern = (re.compile("|".join(map(re.escape, self._secrets)))
                                if self._secrets else None)

    def pseudonym(self, identifier: str) -> str:
        return "~" + _hash(self.hash_key, identifier)

    def _conversation(self, match: re.Match[str]) -> str:
        identifier = match[3].rstrip(":.")  # "conversation web:a:b: served", "… web:a:b."
        return f"{match[1]}{match[2]}{self.pseudonym(identifier)}{match[3][len(identifier):]}"

    def clean(self, text: str) -> str:
        if self._secret_pattern is not None:
            text = self._secret_pattern.sub(_SECRET_MARK, text)
        text = _CONVERSATION.sub(self._conversation, text)
        text = _SLACK_USER.sub(lambda m: m[0][0] + self.pseudonym(m[0]), text)
        text = _ID_FIELD.sub(lambda m: m[1] + self.pseudonym(m[2]), text)
        values = _turn_values.get()
        if values:
            text = re.sub("|".join(map(re.escape, values)), "[sensitive]", text)
        return self.redactor.redact(text)


_active: LogPrivacy | None = None
_original_factory: Any = None
_original_hooks: tuple[Any, Any] | None = None
_formatter = logging.Formatter()


def install_log_privacy(env: MutableMapping[str, str] | None = None, *,
                        redactor: Redactor | None = None) -> LogPrivacy:
    """Clean every log record of this process from now on; calling it again replaces the
    settings (the environment may have changed), never stacks a second wrapper."""
    global _active, _original_factory, _original_hooks
    env = os.environ if env is None else env
    privacy = LogPrivacy(redactor=redactor or Redactor(kinds=parse_kinds(env.get("PARLEY_REDACT"))),
                         hash_key=_hash_key(env))
    privacy.add_secrets(secret_values(env))
    if _original_factory is None:
        _original_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_make_record)
    if _original_hooks is None:
        _original_hooks = (sys.excepthook, threading.excepthook)
        sys.excepthook, threading.excepthook = _log_uncaught, _log_uncaught_in_thread
    _active = privacy
    return privacy


def uninstall_log_privacy() -> None:
    """Back to logging as it was (for tests that run several entry points in one process)."""
    global _active, _original_factory, _original_hooks
    if _original_factory is not None:
        logging.setLogRecordFactory(_original_factory)
    if _original_hooks is not None:
        sys.excepthook, threading.excepthook = _original_hooks
    _active, _original_factory, _original_hooks = None, None, None


def register_secret(value: str) -> None:
    """A secret made at run time (a generated key or password) is hidden from now on."""
    if _active is not None:
        _active.add_secrets([value])


def pseudonym(identifier: str) -> str:
    """``identifier`` as log lines show it: its keyed hash (with no privacy installed, under
    the key this process's environment gives, as installing it would)."""
    if _active is not None:
        return _active.pseudonym(identifier)
    return "~" + _hash(_environment_key(), identifier)


@functools.cache
def _environment_key() -> bytes:
    return _hash_key(dict(os.environ))


@contextlib.contextmanager
def sensitive_values(values: Iterable[str]) -> Iterator[None]:
    """While open, log lines of this thread or task show ``[sensitive]`` for ``values``
    (the bot's sensitive entities found in the message being served)."""
    kept = tuple(sorted({v for v in values if len(v) >= 2}, key=len, reverse=True))
    token = _turn_values.set(_turn_values.get() + kept)
    try:
        yield
    finally:
        _turn_values.reset(token)


def _hash_key(env: MutableMapping[str, str]) -> bytes:
    given = env.get(HASH_KEY_VARIABLE)
    if given:
        return given.encode()
    for name in ("PARLEY_SESSION_SECRET", "PARLEY_ENCRYPTION_KEYS"):
        source = (env.get(name) or "").split(",")[0].strip()
        if source:
            return hmac.new(source.encode(), b"parley log pseudonyms", hashlib.sha256).digest()
    made = secrets.token_hex(32)
    env[HASH_KEY_VARIABLE] = made  # the processes started from here share it
    return made.encode()


def _make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record: logging.LogRecord = _original_factory(*args, **kwargs)
    privacy = _active
    if privacy is not None:
        _clean_record(privacy, record)
    return record


def _clean_record(privacy: LogPrivacy, record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit: the template alone, never the arguments
        record.msg = privacy.clean(f"{record.msg} (its arguments did not format)")
        record.args = None
        return
    record.msg, record.args = privacy.clean(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = privacy.clean(_formatter.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = privacy.clean(record.stack_info)


def _log_uncaught(kind: type[BaseException], value: BaseException,
                  tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("parley").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    value = args.exc_value if args.exc_value is not None else args.exc_type()
    logging.getLogger("parley").critical("uncaught exception in thread %s", name,
                                         exc_info=(args.exc_type, value, args.exc_traceback))

