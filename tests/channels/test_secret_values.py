"""Secrets from files (``PARLEY_<NAME>_FILE``) and the list of values no log line may show."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.secret_values import SecretFileError, resolve_secret_files, secret_values


def test_a_file_variable_becomes_the_variable_it_names(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("xoxb-from-a-mounted-file\n")
    env = {"PARLEY_SLACK_BOT_TOKEN_FILE": str(tmp_path / "token"), "PARLEY_HOST": "0.0.0.0"}
    resolve_secret_files(env)
    assert env == {"PARLEY_SLACK_BOT_TOKEN": "xoxb-from-a-mounted-file",
                   "PARLEY_HOST": "0.0.0.0"}


def test_both_forms_at_once_are_refused_without_showing_the_value(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("a-secret-in-a-file")
    env = {"PARLEY_SESSION_SECRET": "a-secret-in-the-env",
           "PARLEY_SESSION_SECRET_FILE": str(tmp_path / "s")}
    with pytest.raises(SecretFileError) as caught:
        resolve_secret_files(env)
    message = str(caught.value)
    assert "PARLEY_SESSION_SECRET" in message and "PARLEY_SESSION_SECRET_FILE" in message
    assert "a-secret-in" not in message


@pytest.mark.parametrize(("content", "reason"), [(None, "No such file"), ("", "empty"),
                                                 (b"\xff\xfe", "not UTF-8")])
def test_an_unreadable_or_empty_file_is_named(tmp_path: Path, content: str | bytes | None,
                                              reason: str) -> None:
    path = tmp_path / "secret"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SecretFileError, match=reason) as caught:
        resolve_secret_files({"PARLEY_TELEGRAM_BOT_TOKEN_FILE": str(path)})
    assert "PARLEY_TELEGRAM_BOT_TOKEN_FILE" in str(caught.value)
    assert str(path) in str(caught.value)


def test_secret_values_cover_names_lists_and_url_passwords() -> None:
    env = {
        "PARLEY_SLACK_SIGNING_SECRET": "signing-secret-value",
        "PARLEY_SLACK_BOT_TOKENS": "T111=xoxb-first-workspace,T222=xoxb-second-workspace",
        "PARLEY_ENCRYPTION_KEYS": "key-number-one,key-number-two",
        "PARLEY_REDIS_URL": "redis://:redis-password@cache:6379/0",
        "PARLEY_DATABASE_URL": "postgresql://parley:db-password@db/parley",
        "PARLEY_HOST": "0.0.0.0",
        "PARLEY_WEB_TOKEN": "short",  # too short to hide without garbling lines
        "HOME": "/root",
    }
    values = secret_values(env)
    for secret in ("signing-secret-value", "xoxb-first-workspace", "xoxb-second-workspace",
                   "key-number-one", "key-number-two", "redis-password", "db-password"):
        assert secret in values
    assert "0.0.0.0" not in values and "/root" not in values and "short" not in values
    assert values == sorted(values, key=lambda v: (-len(v), v))  # longest replaced first


def test_slack_tokens_given_as_json_are_each_a_secret() -> None:
    values = secret_values({"PARLEY_SLACK_BOT_TOKENS": '{"T1": "xoxb-json-one", '
                                                       '"T2": "xoxb-json-two"}'})
    assert {"xoxb-json-one", "xoxb-json-two"} <= set(values)
