"""``endpoints.yml``: the action server Parley calls, Rasa's other endpoints noticed or
refused, ``${VAR}`` from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from brain.endpoints_settings import ActionEndpoint, load_endpoints
from brain.errors import BotDataError


def _endpoints(tmp_path: Path, text: str) -> Path:
    (tmp_path / "endpoints.yml").write_text(text)
    return tmp_path


def test_no_file_means_no_action_server(tmp_path: Path) -> None:
    assert load_endpoints(tmp_path).action_endpoint is None


def test_the_action_endpoint_with_a_token_from_the_environment(tmp_path: Path) -> None:
    bot = _endpoints(tmp_path, 'action_endpoint:\n  url: "http://localhost:5055/webhook"\n'
                     '  token: "${ACTIONS_TOKEN}"\n  timeout: 1.5\n'
                     "tracker_store:\n  type: redis\nmodels:\n  url: http://m\n")
    settings = load_endpoints(bot, environ={"ACTIONS_TOKEN": "s3cret"})
    assert settings.action_endpoint == ActionEndpoint(
        url="http://localhost:5055/webhook", token="s3cret", timeout=1.5)
    assert "s3cret" not in repr(settings)
    assert [str(n) for n in settings.notices] == [
        f"{bot / 'endpoints.yml'}:5: 'tracker_store' is not needed: conversations are kept "
        "in Redis and the desk's archive",
        f"{bot / 'endpoints.yml'}:7: 'models' is not needed: models are trained and "
        "switched with 'parley model'"]


def test_what_would_change_the_bot_is_refused_with_file_and_line(tmp_path: Path) -> None:
    bot = _endpoints(tmp_path, "action_endpoint:\n  url: localhost:5055\n"
                     "  headers: {X-Key: a}\n  token: ${UNSET_TOKEN}\n  timeout: 60\n"
                     "nlg:\n  url: http://nlg\n")
    with pytest.raises(BotDataError) as caught:
        load_endpoints(bot, environ={})
    shown = bot / "endpoints.yml"
    assert [str(p) for p in caught.value.problems] == [
        f"{shown}:3: unsupported key 'headers' in action_endpoint (supported: url, token, "
        "token_name, timeout)",
        f"{shown}:4: environment variable 'UNSET_TOKEN' is not set (used as ${{UNSET_TOKEN}})",
        f"{shown}:2: action_endpoint needs 'url', an http(s) URL such as "
        "http://localhost:5055/webhook",
        f"{shown}:5: action_endpoint 'timeout' must be a number of seconds above 0 and at "
        "most 30 (default 3)",
        f"{shown}:6: 'nlg' (responses from another server) is not supported: Parley says "
        "the domain's responses"]
