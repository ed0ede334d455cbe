"""Secrets in the environment: read from files, and known so that no log line shows them.

- ``PARLEY_<NAME>_FILE`` names a file holding the value of ``PARLEY_<NAME>`` (a Kubernetes
  secret mounted as a file; one trailing newline is ignored). ``resolve_secret_files``
  replaces each such variable by the value it names, once at start-up, so every settings
  object reads ``PARLEY_<NAME>`` as usual and child processes inherit the value. Setting
  both forms, or naming a file that cannot be read, is an error naming the variables and
  the path, never the value.
- ``secret_values`` lists what must never be printed: the values of variables whose names
  say they are secrets (``…TOKEN``, ``…SECRET``, ``…PASSWORD``, ``…KEY``, ``…KEYS``,
  ``…CREDENTIALS`` and their plurals), each part of a list of them (Slack's per-workspace
  tokens, a key ring), and the password inside any URL (``redis://:pw@host``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["SHORTEST_SECRET", "SecretFileError", "read_secret_file", "resolve_secret_files",
           "secret_values"]

_SECRET_NAME = re.compile(r"^PARLEY_\w*(TOKEN|SECRET|PASSWORD|KEY|CREDENTIAL)S?$")
_FILE_SUFFIX = "_FILE"
_PART_SEPARATORS = re.compile(r"[\s,;=]+")
SHORTEST_SECRET = 6  # shorter strings are not secrets worth hiding; replacing them garbles lines


class SecretFileError(ValueError):
    """One line naming the variable (and the file), never the secret."""


def resolve_secret_files(env: MutableMapping[str, str]) -> None:
    """Replace every ``PARLEY_<NAME>_FILE`` in ``env`` by ``PARLEY_<NAME>`` holding the
    file's text."""
    for file_name in sorted(n for n in env if n.startswith("PARLEY_")
                            and n.endswith(_FILE_SUFFIX) and len(n) > 12):
        name = file_name.removesuffix(_FILE_SUFFIX)
        path = env[file_name]
        if env.get(name):
            raise SecretFileError(f"set one of {name} and {file_name}, not both")
        value = read_secret_file(file_name, path)
        if not value:
            raise SecretFileError(f"{file_name} names {path!r}, which is empty")
        env[name] = value
        del env[file_name]


def read_secret_file(variable: str, path: str) -> str:
    """The secret in the file ``variable`` names, without one trailing newline; an error
    naming the variable and the path if it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SecretFileError(f"{variable} names {path!r}, which cannot be read: "
                              f"{reason}") from None
    return text.removesuffix("\n").removesuffix("\r")


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Every secret string in ``env`` (and its parts), longest first."""
    found: set[str] = set()
    for name, value in env.items():
        if not name.startswith("PARLEY_") or not value:
            continue
        if _SECRET_NAME.match(name):
            found.add(value)
            found.update(_parts(value))
        found.update(_url_passwords(value))
    return sorted((s for s in found if len(s) >= SHORTEST_SECRET), key=lambda s: (-len(s), s))


def _parts(value: str) -> Iterable[str]:
    """The pieces of a list of secrets: ``T1=xoxb-…,T2=xoxb-…``, JSON objects, lines."""
    try:
        decoded = json.loads(value)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        yield from (v for v in decoded.values() if isinstance(v, str))
    elif isinstance(decoded, list):
        yield from (v for v in decoded if isinstance(v, str))
    yield from _PART_SEPARATORS.split(value)


def _url_passwords(value: str) -> Iterable[str]:
    if "://" not in value or "@" not in value:
        return
    for candidate in value.split(","):
        try:
            password = urlsplit(candidate.strip()).password
        except ValueError:
            continue
        if password:
            yield password
