"""PARLEY_SLACK_* → SlackSettings: absent, complete, or one clear line naming the variable.

(It tests ``gateway.slack.settings``.)
"""

from __future__ import annotations

import pytest

from gateway.env_values import GatewaySettingsError
from gateway.settings import GatewaySettings
from gateway.slack.settings import DEFAULT_API_URL, SlackSettings

SECRET = "0123456789abcdef0123456789abcdef"


def test_no_slack_variables_means_no_slack_channel() -> None:
    assert SlackSettings.from_env({}) is None
    assert SlackSettings.from_env({"PARLEY_SLACK_BOT_TOKEN": ""}) is None
    assert GatewaySettings.from_env({"PARLEY_REDIS_URL": "redis://x:6379/0"}).slack is None


def test_a_token_per_workspace() -> None:
    settings = SlackSettings.from_env({
        "PARLEY_SLACK_SIGNING_SECRET": SECRET,
        "PARLEY_SLACK_BOT_TOKENS": " T0123ABCD=xoxb-1-a , E0456EFGH=xoxb-2-b ",
        "PARLEY_SLACK_LISTEN_CHANNELS": "C0LISTEN1, G0PRIVATE",
        "PARLEY_SLACK_API_URL": "http://127.0.0.1:9999/api/"})
    assert settings is not None
    assert dict(settings.bot_tokens) == {"T0123ABCD": "xoxb-1-a", "E0456EFGH": "xoxb-2-b"}
    assert settings.bot_token is None
    assert settings.listen_channels == {"C0LISTEN1", "G0PRIVATE"}
    assert settings.api_url == "http://127.0.0.1:9999/api/"


def test_one_workspace_with_one_token_and_the_default_api() -> None:
    settings = SlackSettings.from_env({"PARLEY_SLACK_SIGNING_SECRET": SECRET,
                                       "PARLEY_SLACK_BOT_TOKEN": "xoxb-only"})
    assert settings is not None
    assert settings.bot_token == "xoxb-only" and not settings.bot_tokens
    assert settings.api_url == DEFAULT_API_URL and settings.listen_channels == frozenset()


def test_secrets_are_not_in_the_repr() -> None:
    settings = SlackSettings.from_env({"PARLEY_SLACK_SIGNING_SECRET": SECRET,
                                       "PARLEY_SLACK_BOT_TOKENS": "T0123ABCD=xoxb-hidden"})
    assert SECRET not in repr(settings) and "xoxb-hidden" not in repr(settings)


@pytest.mark.parametrize(("env", "named"), [
    ({"PARLEY_SLACK_BOT_TOKEN": "xoxb-1"}, "PARLEY_SLACK_SIGNING_SECRET"),
    ({"PARLEY_SLACK_SIGNING_SECRET": SECRET}, "PARLEY_SLACK_BOT_TOKEN"),
    ({"PARLEY_SLACK_SIGNING_SECRET": SECRET, "PARLEY_SLACK_BOT_TOKEN": "xoxb-1",
      "PARLEY_SLACK_BOT_TOKENS": "T0123ABCD=xoxb-2"}, "not both"),
    ({"PARLEY_SLACK_SIGNING_SECRET": SECRET, "PARLEY_SLACK_BOT_TOKEN": "xoxp-user"},
     "PARLEY_SLACK_BOT_TOKEN must be a bot token"),
    ({"PARLEY_SLACK_SIGNING_SECRET": SECRET, "PARLEY_SLACK_BOT_TOKENS": "xoxb-no-team"},
     "PARLEY_SLACK_BOT_TOKENS entry 1"),
    ({"PARLEY_SLACK_SIGNING_SECRET": SECRET,
      "PARLEY_SLACK_BOT_TOKENS": "T0123ABCD=xoxb-1,general=xoxb-2"},
     "PARLEY_SLACK_BOT_TOKENS entry 2"),
    ({"PARLEY_SLACK_SIGNING_SECRET": SECRET, "PARLEY_SLACK_BOT_TOKENS": "T0123ABCD=secret9"},
     "the token of T0123ABCD"),
    ({"PARLEY_SLACK_SIGNING_SECRET": SECRET,
      "PARLEY_SLACK_BOT_TOKENS": "T0123ABCD=xoxb-1,T0123ABCD=xoxb-2"}, "twice"),
    ({"PARLEY_SLACK_SIGNING_SECRET": SECRET, "PARLEY_SLACK_BOT_TOKEN": "xoxb-1",
      "PARLEY_SLACK_LISTEN_CHANNELS": "#general"}, "PARLEY_SLACK_LISTEN_CHANNELS"),
    ({"PARLEY_SLACK_SIGNING_SECRET": SECRET, "PARLEY_SLACK_BOT_TOKEN": "xoxb-1",
      "PARLEY_SLACK_API_URL": "slack.com/api"}, "PARLEY_SLACK_API_URL"),
])
def test_incomplete_or_bad_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(GatewaySettingsError, match=named) as caught:
        SlackSettings.from_env(env)
    message = str(caught.value)
    assert "\n" not in message and "secret9" not in message and "xoxp-user" not in message
