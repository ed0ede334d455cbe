"""A bot folder's ``credentials.yml`` (Rasa's file of channel credentials) as ``PARLEY_*``
settings.

Each channel Parley has (``slack``, ``telegram``, ``twilio`` → WhatsApp, ``rest`` → the
website webhook, ``socketio`` → the browser chat) is read as Rasa users wrote it; a value
may be or contain ``${VAR}``, taken from the environment as Rasa does, and a ``${VAR}``
that is not set is an error naming file, line and variable (Rasa refuses to start then
too). The values become the variables the channel's settings read (``gateway.rasa_channels``),
and the **environment wins per variable**: ``credentials.yml`` fills in only what the
environment leaves unset or empty. The channel settings' own ``from_env`` then read the
result, unchanged, so every rule they enforce holds; their errors about a value from the
file are given the file's name, line and key.

A channel the file configures that still lacks what Parley needs (Telegram's webhook
secret, WhatsApp's public URL: Rasa had neither) is **off** and reported with what is
missing, unless the environment sets some of its variables too: then it is an error, as a
partly configured channel is without the file. A Rasa channel Parley lacks (``facebook``,
``rasa``, a custom ``my_pkg.MyInput``) is one notice line naming it.

Every secret read from the file is registered with the log privacy
(``channels.log_privacy.register_secret``) as soon as it is read, so no log line shows it;
no error or notice here contains a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from channels.log_privacy import register_secret
from channels.secret_values import secret_values
from gateway.credentials_yaml import Entry, Sections, read_sections
from gateway.env_values import GatewaySettingsError
from gateway.rasa_channels import CHANNEL_PREFIXES, REQUIRED, SECTIONS, UNSUPPORTED
from gateway.settings import GatewaySettings

__all__ = ["ChannelSection", "Credentials", "FileSetting", "read_credentials",
           "settings_with_credentials"]

FILE_NAME = "credentials.yml"
_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_SECRET_KEY = re.compile(r"token|secret|password|key|auth", re.I)
# The environment setting one of these keeps the file's variable out (Slack: one form only).
_ALTERNATIVES = {"PARLEY_SLACK_BOT_TOKEN": ("PARLEY_SLACK_BOT_TOKENS",)}


@dataclass(frozen=True, slots=True)
class FileSetting:
    """A variable ``credentials.yml`` gives (the environment left it unset)."""

    variable: str
    value: str = field(repr=False)
    line: int
    key: str  # as the file names it: "slack.slack_token"
    channel: str


@dataclass(frozen=True, slots=True)
class ChannelSection:
    """One Parley channel the file configures. ``missing``: the variables (one of each
    group) it still needs; a channel with any is off."""

    section: str
    channel: str
    line: int
    missing: tuple[tuple[str, ...], ...] = ()
    reason: str | None = None  # why it is off although nothing is missing


@dataclass(frozen=True, slots=True)
class Credentials:
    """What ``credentials.yml`` adds to the environment (``env``: both, merged)."""

    path: str
    env: Mapping[str, str] = field(repr=False)
    settings: tuple[FileSetting, ...]
    sections: tuple[ChannelSection, ...]
    notices: tuple[str, ...]  # "credentials.yml:12: notice: …", one line each


def settings_with_credentials(env: Mapping[str, str], bot_dir: Path | None,
                              ) -> tuple[GatewaySettings, Credentials | None]:
    """The gateway's settings from ``env`` and, when ``bot_dir`` holds one, its
    ``credentials.yml``; an error about a value from the file names the file and line."""
    credentials = read_credentials(bot_dir, env) if bot_dir is not None else None
    if credentials is None:
        return GatewaySettings.from_env(env), None
    try:
        return GatewaySettings.from_env(credentials.env), credentials
    except GatewaySettingsError as exc:
        raise GatewaySettingsError(_located(str(exc), credentials)) from None


def read_credentials(bot_dir: Path, env: Mapping[str, str]) -> Credentials | None:
    """``bot_dir/credentials.yml`` merged under ``env``; ``None`` when there is none."""
    path = bot_dir / FILE_NAME
    if not path.is_file():
        return None
    shown = str(path)
    sections = read_sections(path, shown)
    _register_secrets(sections, env)
    errors: list[str] = []
    notices: list[str] = []
    found: list[FileSetting] = []
    channels: list[ChannelSection] = []
    for name, (line, entries) in sections.items():
        if name not in SECTIONS:
            notices.append(f"{shown}:{line}: notice: {name}: {_unsupported(name)}")
            continue
        notice = _notice(name, entries)
        if notice:
            notices.append(f"{shown}:{line}: notice: {name}: {notice}")
        given = _file_settings(name, entries, env, shown, errors)
        reason = _sms_number(name, given)
        if reason:
            if _from_env(SECTIONS[name].channel, env):  # meant to be on: say why it cannot
                errors.append(f"{shown}:{line}: {name}: {reason}")
            channels.append(ChannelSection(name, SECTIONS[name].channel, line, reason=reason))
            continue
        section, used = _complete(name, line, given, env, shown, errors)
        channels.append(section)
        found.extend(used)
    if errors:
        raise GatewaySettingsError("\n".join(errors))
    merged = dict(env)
    merged.update({s.variable: s.value for s in found})
    for value in secret_values({s.variable: s.value for s in found}):
        register_secret(value)
    return Credentials(shown, merged, tuple(found), tuple(channels), tuple(notices))


def _file_settings(name: str, entries: Mapping[str, Entry], env: Mapping[str, str],
                   shown: str, errors: list[str]) -> list[FileSetting]:
    """The section's values with a Parley meaning that the environment leaves unset."""
    rasa = SECTIONS[name]
    result: list[FileSetting] = []
    for key, variable in rasa.variables.items():
        entry = entries.get(key)
        if entry is not None and entry.structured:
            errors.append(f"{shown}:{entry.line}: {name}.{key}: expected a text value")
            continue
        if entry is None or entry.value is None:
            continue
        value = _expanded(entry.value, env, f"{shown}:{entry.line}: {name}.{key}", errors)
        if not value or any(env.get(v) for v in (variable, *_ALTERNATIVES.get(variable, ()))):
            continue  # empty: not given; set in the environment: the environment wins
        result.append(FileSetting(variable, value.strip(), entry.line, f"{name}.{key}",
                                  rasa.channel))
    return result


def _complete(name: str, line: int, given: list[FileSetting], env: Mapping[str, str],
              shown: str, errors: list[str]) -> tuple[ChannelSection, list[FileSetting]]:
    """The channel's state with the file's values; its values only if it can be on."""
    channel = SECTIONS[name].channel
    have = {s.variable for s in given} | {k for k, v in env.items() if v}
    missing = tuple(group for group in REQUIRED[channel] if not have & set(group))
    if not missing:
        return ChannelSection(name, channel, line), given
    from_env = _from_env(channel, env)
    if given and from_env:
        errors.append(f"{shown}:{line}: {name}: {_needs(missing)} must be set for the "
                      f"{channel} channel (the environment sets {', '.join(from_env)}, "
                      f"{shown} the rest)")
    return ChannelSection(name, channel, line, missing=missing), []


def _from_env(channel: str, env: Mapping[str, str]) -> list[str]:
    """The channel's variables the environment sets."""
    return sorted(k for k, v in env.items() if v and k.startswith(CHANNEL_PREFIXES[channel]))


def _notice(name: str, entries: Mapping[str, Entry]) -> str:
    """The section's one notice: what takes its place, and its keys Parley does not use."""
    rasa = SECTIONS[name]
    notes = [rasa.summary] if rasa.summary else []
    for key in entries:
        if key in rasa.notes:
            notes.append(f"{key}: {rasa.notes[key]}")
        elif key not in rasa.variables:
            notes.append(f"{key}: not a setting of Rasa's {name} channel; ignored")
    return "; ".join(notes)


def _sms_number(name: str, given: list[FileSetting]) -> str | None:
    """Why the ``twilio`` section stays off: Rasa's twilio channel is SMS unless its number
    is ``whatsapp:+…``, and Parley's Twilio channel is WhatsApp only (an SMS sender's
    number must not start answering on WhatsApp)."""
    number = next((s.value for s in given if s.variable == "PARLEY_WHATSAPP_FROM"), None)
    if name != "twilio" or number is None or number.startswith("whatsapp:"):
        return None
    return ("twilio_number is an SMS number (Rasa's twilio channel sends SMS from it); "
            "Parley's Twilio channel is WhatsApp only: write whatsapp:+<number> for a "
            "WhatsApp sender")


def _expanded(raw: str, env: Mapping[str, str], where: str, errors: list[str]) -> str:
    """``raw`` with each ``${VAR}`` replaced by the environment's value."""
    unset = [m for m in _REFERENCE.findall(raw) if m not in env]
    if unset:
        names = ", ".join(f"${{{name}}}" for name in unset)
        errors.append(f"{where}: {names}: the environment has no such variable (set it, or "
                      "write the value)")
        return ""
    return _REFERENCE.sub(lambda m: env[m[1]], raw)


def _register_secrets(sections: Sections, env: Mapping[str, str]) -> None:
    """Hide every secret-looking value of the file, in any section, before anything can
    log it (a channel Parley lacks included: a Facebook page token is a secret too)."""
    for _line, entries in sections.values():
        for key, entry in entries.items():
            if entry.value and _SECRET_KEY.search(key):
                value = _REFERENCE.sub(lambda m: env.get(m[1], m[0]), entry.value).strip()
                register_secret(value)


def _unsupported(name: str) -> str:
    if name in UNSUPPORTED:
        label, hint = UNSUPPORTED[name]
        return f"Parley has no {label} channel; ignored" + (f" ({hint})" if hint else "")
    return "not a channel Parley has (custom Rasa channels are not run); ignored"


def _needs(missing: tuple[tuple[str, ...], ...]) -> str:
    return ", ".join(" or ".join(group) for group in missing)


def _located(message: str, credentials: Credentials) -> str:
    """Name the file, line and key in a settings error about a value the file gave."""
    for setting in credentials.settings:
        if re.search(rf"\b{setting.variable}\b", message):
            return (f"{credentials.path}:{setting.line}: {setting.key} (Parley's "
                    f"{setting.variable}): {message}")
    return message
