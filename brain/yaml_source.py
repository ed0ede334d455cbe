"""YAML loading that remembers line numbers, so every error can name file and line.

PyYAML's composed node tree carries marks; we convert it into plain dicts and lists that
also record the 1-based line of each key and item. Duplicate keys are an error (PyYAML
would silently keep the last one, hiding a typo in a bot file).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from brain.errors import BotDataError, Problem

__all__ = ["YamlMap", "YamlSeq", "load_yaml_file"]


class _Yaml12Loader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML reads YAML 1.1, where ``yes``/``no``/``on``/``off`` are booleans; Rasa reads
    YAML 1.2, where they are text. Bot files mean 1.2: a user saying "no" is text."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


class YamlMap(dict[str, Any]):
    """A mapping from a YAML file with the line of itself and of each key."""

    line: int
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class YamlSeq(list[Any]):
    """A sequence from a YAML file with the line of itself and of each item."""

    line: int
    item_lines: list[int]


def load_yaml_file(path: Path, *, display_path: str | None = None) -> Any:
    """Read one YAML document; errors name the file (as ``display_path``) and line."""
    shown = display_path or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BotDataError([Problem(shown, None, f"cannot read file: {exc}")]) from exc
    try:
        node = yaml.compose(text, Loader=_Yaml12Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise BotDataError([Problem(shown, line, f"invalid YAML: {reason}")]) from exc
    except yaml.YAMLError as exc:
        raise BotDataError([Problem(shown, None, f"invalid YAML: {exc}")]) from exc
    if node is None:
        return None
    return _convert(node, shown, _Yaml12Loader(""))


def _convert(node: yaml.Node, shown: str, loader: _Yaml12Loader) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result = YamlMap()
        result.line, result.key_lines = line, {}
        for key_node, value_node in node.value:
            key = _convert(key_node, shown, loader)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                raise BotDataError([Problem(shown, key_node.start_mark.line + 1,
                                            f"duplicate key '{key}'")])
            result[key] = _convert(value_node, shown, loader)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        seq = YamlSeq(_convert(item, shown, loader) for item in node.value)
        seq.line, seq.item_lines = line, [item.start_mark.line + 1 for item in node.value]
        return seq
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise BotDataError([Problem(shown, line, f"invalid value: {exc}")]) from exc

