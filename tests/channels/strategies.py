"""Hypothesis strategies for what a client can send: bytes, text (surrogates included, as
aiohttp hands undecodable header bytes on), JSON of any shape, forms, and the values that
broke parsers before (``²`` passes ``str.isdigit`` and fails ``int``; ``int`` refuses more
than 4300 digits; JSON can spell a lone surrogate; nesting can exhaust the stack)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

TRICKY = ["", " ", "0", "²", "١٢٣", "９", "1" * 5000, "9" * 20, "-1", "+1", "1.0", "1e400",
          "NaN", "\ud800", "\udcff", "é", "v1=" + "²" * 64, "v0=" + "0" * 64, "\x00",
          "a b", "\n", "😀"]

# Text of any code point (lone surrogates too, which JSON can spell and aiohttp makes of
# a header's undecodable bytes), mixed with the values above.
any_text = st.one_of(st.sampled_from(TRICKY),
                     st.text(st.characters(exclude_categories=()), max_size=40),
                     st.text(max_size=40))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63),
                    st.floats(allow_nan=False, allow_infinity=False), any_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=25)


def objects_with(fields: Mapping[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict]:
    """JSON objects holding some of ``fields`` (each of its own or any type), and more."""
    def value(name: str) -> st.SearchStrategy[Any]:
        return st.one_of(fields[name], json_values)

    return st.fixed_dictionaries({}, optional={name: value(name) for name in fields}).flatmap(
        lambda known: st.dictionaries(any_text, json_values, max_size=2).map(
            lambda extra: {**extra, **known}))


def dumped(value: Any) -> bytes:
    """JSON bytes as a client would send them; lone surrogates escaped (as JSON allows)."""
    return json.dumps(value, ensure_ascii=True).encode()


def deeply_nested(depth: int = 50_000) -> bytes:
    return b"[" * depth + b"]" * depth


def bodies(values: st.SearchStrategy[Any] = json_values) -> st.SearchStrategy[bytes]:
    """Bytes of any kind: random, JSON of ``values``, cut JSON, or too deep to parse."""
    return st.one_of(st.binary(max_size=200), values.map(dumped),
                     values.map(dumped).map(lambda b: b[: len(b) // 2]),
                     st.just(deeply_nested()), st.just(b'{"a":' + deeply_nested(5_000) + b"}"))


def forms(fields: Mapping[str, st.SearchStrategy[str]]) -> st.SearchStrategy[bytes]:
    """URL-encoded forms holding some of ``fields`` and more, and random bytes."""
    text = st.text(st.characters(exclude_categories=()), max_size=30).map(
        lambda s: s.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    pairs = st.fixed_dictionaries({}, optional={
        name: st.one_of(strategy, text, st.sampled_from(TRICKY).map(
            lambda s: s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")))
        for name, strategy in fields.items()})
    encoded = st.tuples(pairs, st.dictionaries(text, text, max_size=3)).map(
        lambda both: urlencode({**both[1], **both[0]}).encode())
    return st.one_of(encoded, st.binary(max_size=200))


def headers(names: Mapping[str, st.SearchStrategy[str]]) -> st.SearchStrategy[dict[str, str]]:
    """Header dicts holding some of ``names`` (valid values or any text)."""
    return st.fixed_dictionaries({}, optional={
        name: st.one_of(strategy, any_text) for name, strategy in names.items()})
