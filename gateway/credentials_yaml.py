"""``credentials.yml``'s shape: channel sections of ``key: value``, each with its line.

The gateway does not import ``brain`` (DESIGN: dependencies), so this reads the file with
PyYAML's node tree itself. Values stay the text written: a Twilio number ``+14155238886``
unquoted would be an integer to a YAML 1.1 loader, and a token must never be converted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gateway.env_values import GatewaySettingsError

__all__ = ["Entry", "Sections", "read_sections"]

_NULL = "tag:yaml.org,2002:null"


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``key: value`` of a section: the scalar's text, ``None`` for null, or a list or
    mapping (``structured``) for settings Parley does not read."""

    value: str | None = field(repr=False)
    line: int
    structured: bool = False


Sections = dict[str, tuple[int, dict[str, Entry]]]


def read_sections(path: Path, shown: str) -> Sections:
    """``{channel: (line, {key: Entry})}``; a malformed file is an error naming its line."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewaySettingsError(f"{shown}: cannot read the file: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{shown}:{mark.line + 1}" if mark else shown
        raise GatewaySettingsError(f"{where}: invalid YAML: {exc.problem or exc.context}"
                                   ) from None
    except yaml.YAMLError as exc:
        raise GatewaySettingsError(f"{shown}: invalid YAML: {exc}") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL):
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise GatewaySettingsError(f"{shown}:{root.start_mark.line + 1}: credentials.yml must "
                                   "be a mapping of channel names to their credentials")
    sections: Sections = {}
    for key_node, value_node in root.value:
        name = _key(key_node, sections, shown)
        sections[name] = (key_node.start_mark.line + 1, _entries(name, value_node, shown))
    return sections


def _entries(name: str, node: yaml.Node, shown: str) -> dict[str, Entry]:
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
        return {}  # "rest:" with nothing under it
    if not isinstance(node, yaml.MappingNode):
        raise GatewaySettingsError(f"{shown}:{node.start_mark.line + 1}: '{name}' must be a "
                                   "mapping of its credentials (key: value)")
    entries: dict[str, Entry] = {}
    for key_node, value_node in node.value:
        key = _key(key_node, entries, shown)
        line = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode):
            text = None if value_node.tag == _NULL else str(value_node.value)
            entries[key] = Entry(text, line)
        else:
            entries[key] = Entry(None, line, structured=True)
    return entries


def _key(node: yaml.Node, seen: Mapping[str, object], shown: str) -> str:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode):
        raise GatewaySettingsError(f"{shown}:{line}: a key must be a plain name")
    key = str(node.value)
    if key in seen:
        raise GatewaySettingsError(f"{shown}:{line}: '{key}' appears twice")
    return key
