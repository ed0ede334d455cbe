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

__all__ = ["FileProblems", "YamlMap", "YamlSeq", "load_parley_file", "load_yaml_file"]


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


class FileProblems:
    """The problems of one file, collected while its parts are read (so that all of them
    are reported at once, each with its line)."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.problems: list[Problem] = []

    def add(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.shown, line, message))

    def unknown_keys(self, node: YamlMap, allowed: tuple[str, ...], what: str) -> None:
        for key in node:
            if key not in allowed:
                self.add(node.line_of(key), f"unknown key '{key}' in {what} "
                         f"(allowed: {', '.join(allowed)})")


def load_parley_file(bot_dir: Path, filename: str, keys: str
                     ) -> tuple[str, YamlMap | None] | None:
    """One of Parley's own files in a bot folder (``desk.yml``, ``feedback.yml``): ``None``
    when there is none, else (its path as shown in errors, its mapping or ``None`` when
    empty). A ``.yaml`` twin, or a document that is not a mapping (of ``keys``, named in
    the error), is a ``BotDataError``: a typo must not silently turn the file off."""
    path = bot_dir / filename
    if not path.exists():
        misnamed = path.with_suffix(".yaml")
        if misnamed.exists():
            raise BotDataError([Problem(str(misnamed), None,
                                        f"Parley reads {filename}; rename this file")])
        return None
    shown = str(path)
    doc = load_yaml_file(path, display_path=shown)
    if doc is not None and not isinstance(doc, YamlMap):
        raise BotDataError([Problem(shown, getattr(doc, "line", 1),
                                    f"{filename} must be a mapping ({keys})")])
    return shown, doc


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

