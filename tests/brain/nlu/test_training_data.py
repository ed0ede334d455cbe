"""The Rasa-format reader: valid files, and each kind of invalid file named by file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from brain.errors import BotDataError
from brain.nlu.training_data import load_training_data


def test_reads_every_file_of_the_bot(tiny_bot: Path) -> None:
    data = load_training_data(tiny_bot)
    assert data.intents == ["goodbye", "greet", "order_status", "ship_to"]
    assert sum(1 for e in data.examples if e.intent == "goodbye") == 10  # long form, 2nd file
    example = next(e for e in data.examples if e.text == "where is my order ORD-55821")
    assert [(a.entity, a.start, a.end, a.value) for a in example.entities] == [
        ("order_id", 18, 27, "ORD-55821")]
    assert example.path.endswith("data/nlu.yml") and example.line == 17


def test_synonyms_regexes_and_lookups(tiny_bot: Path) -> None:
    data = load_training_data(tiny_bot)
    # from the synonym section and from annotations whose value differs from the text
    assert data.synonyms["america"] == "United States"
    assert data.synonyms["the usa"] == "United States"
    assert data.synonyms["uk"] == "United Kingdom"
    assert [(r.name, r.pattern) for r in data.regexes] == [
        ("order_id", r"\b[A-Za-z]{0,3}-?\d{5,10}\b")]
    assert {t.name: t.elements for t in data.lookups}["carrier"] == ("dhl", "fedex", "royal mail")
    assert data.entity_types == ["carrier", "country", "order_id"]


def test_fingerprint_is_stable_and_content_sensitive(tiny_bot: Path) -> None:
    data = load_training_data(tiny_bot)
    assert data.fingerprint() == load_training_data(tiny_bot).fingerprint()
    fewer = data.with_examples(data.examples[1:])
    assert fewer.fingerprint() != data.fingerprint()


def _bot(tmp_path: Path, content: str, name: str = "nlu.yml") -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / name).write_text(textwrap.dedent(content).lstrip(), encoding="utf-8")
    return tmp_path


VALID_HEAD = """\
    version: "3.1"
    nlu:
    - intent: greet
      examples: |
        - hi
        - hello
"""


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (VALID_HEAD + "    - intent: [unclosed\n", 8, "invalid YAML"),
        (VALID_HEAD + "    responses: {}\n", 7, "unknown top-level key 'responses'"),
        (VALID_HEAD + "    - intent: bye\n      exmples: |\n        - bye\n", 8,
         "unknown key 'exmples' in intent 'bye'"),
        (VALID_HEAD + "    - intent: bye\n      examples: |\n        - bye\n        cya\n", 10,
         "example lines must start with '- '"),
        (VALID_HEAD + '    - intent: bye\n      examples: |\n        - see you [tom]{"entity": '
         '"name", "role": "friend"}\n', 9, "entity role on '[tom]' is not supported"),
        (VALID_HEAD + "    - intent: bye\n      examples: |\n        - see [you](name\n", 9,
         "unbalanced entity markup"),
        (VALID_HEAD + "    - regex: zip\n      examples: |\n        - \\d{5\n        - ([a-z\n",
         10, "regex 'zip': invalid pattern '([a-z'"),
        (VALID_HEAD + "    - intent: bye\n      examples: |\n        - Hello\n", 9,
         "example 'Hello' is in intent 'bye' and in 'greet'"),
        (VALID_HEAD + "    - intent: bye\n      intent: bye2\n", 8, "duplicate key 'intent'"),
        (VALID_HEAD.replace('"3.1"', '"2.0"'), 1, "unsupported format version '2.0'"),
        ('version: "3.1"\nnlu:\n  intent: greet\n', 2, "'nlu' must be a list"),
        (VALID_HEAD + "    - intent: bye\n      synonym: x\n      examples: |\n        - bye\n",
         7, "needs exactly one of intent, synonym, regex, lookup"),
        (VALID_HEAD + "    - intent: bye\n", 7, "intent 'bye' has no 'examples'"),
        (VALID_HEAD + "    - just a string\n", 7, "each 'nlu' item must be a mapping"),
    ],
)
def test_invalid_file_names_file_line_and_problem(tmp_path: Path, content: str, line: int,
                                                  fragment: str) -> None:
    bot = _bot(tmp_path, content)
    with pytest.raises(BotDataError) as caught:
        load_training_data(bot)
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(f"{tmp_path.name}/data/nlu.yml:{line}: ") and fragment in m
               for m in messages), messages


def test_all_problems_of_all_files_are_reported_together(tmp_path: Path) -> None:
    _bot(tmp_path, VALID_HEAD + "    stories2: []\n", "a.yml")
    _bot(tmp_path, "nlu:\n- regex: r\n  examples: |\n    - (\n", "b.yml")
    with pytest.raises(BotDataError) as caught:
        load_training_data(tmp_path)
    text = str(caught.value)
    assert "a.yml:7: unknown top-level key 'stories2'" in text
    assert "b.yml:4: regex 'r': invalid pattern '('" in text


def test_missing_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BotDataError, match="no training data: expected YAML files under data/"):
        load_training_data(tmp_path)


def test_error_pickles_for_celery(tmp_path: Path) -> None:
    import pickle

    with pytest.raises(BotDataError) as caught:
        load_training_data(tmp_path)
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.problems == caught.value.problems and str(again) == str(caught.value)
