"""``PARLEY_TELEGRAM_*``: the Telegram channel is off, on, or a one-line error naming the
variable (never showing the token)."""

from __future__ import annotations

import pytest

from gateway.env_values import GatewaySettingsError
from gateway.settings import GatewaySettings
from gateway.telegram.settings import DEFAULT_API_URL, TelegramSettings
from tests.fakes.telegram_api import TOKEN

GOOD = {"PARLEY_TELEGRAM_BOT_TOKEN": TOKEN, "PARLEY_TELEGRAM_WEBHOOK_SECRET": "hook_Secret-1"}


def test_unset_means_the_channel_is_off() -> None:
    assert TelegramSettings.from_env({}) is None
    assert TelegramSettings.from_env({"PARLEY_TELEGRAM_BOT_TOKEN": ""}) is None
    assert GatewaySettings.from_env({"PARLEY_REDIS_URL": "redis://x/0"}).telegram is None


def test_a_full_configuration_with_defaults() -> None:
    settings = TelegramSettings.from_env(GOOD)
    assert settings is not None
    assert settings.bot_token == TOKEN and settings.webhook_secret == "hook_Secret-1"
    assert settings.api_url == DEFAULT_API_URL and settings.start_payload == "/greet"
    assert settings.bot_id == "123456789"


def test_secrets_are_not_in_the_repr() -> None:
    text = repr(GatewaySettings.from_env({"PARLEY_REDIS_URL": "redis://x/0", **GOOD}))
    assert "TelegramSettings(" in text
    assert TOKEN not in text and "hook_Secret-1" not in text


def test_api_url_and_start_payload_can_be_set() -> None:
    settings = TelegramSettings.from_env({**GOOD, "PARLEY_TELEGRAM_API_URL":
                                          "http://127.0.0.1:8081/bot",
                                          "PARLEY_TELEGRAM_START_PAYLOAD": '/greet{"via": "tg"}'})
    assert settings is not None and settings.api_url == "http://127.0.0.1:8081/bot"
    assert settings.start_payload == '/greet{"via": "tg"}'


@pytest.mark.parametrize(("env", "named"), [
    ({"PARLEY_TELEGRAM_WEBHOOK_SECRET": "abc"}, "PARLEY_TELEGRAM_BOT_TOKEN must be set"),
    ({**GOOD, "PARLEY_TELEGRAM_BOT_TOKEN": "12345"}, "PARLEY_TELEGRAM_BOT_TOKEN must look"),
    ({**GOOD, "PARLEY_TELEGRAM_BOT_TOKEN": TOKEN + " "}, "PARLEY_TELEGRAM_BOT_TOKEN must look"),
    ({"PARLEY_TELEGRAM_BOT_TOKEN": TOKEN}, "PARLEY_TELEGRAM_WEBHOOK_SECRET must be 1 to 256"),
    ({**GOOD, "PARLEY_TELEGRAM_WEBHOOK_SECRET": "has space"}, "PARLEY_TELEGRAM_WEBHOOK_SECRET"),
    ({**GOOD, "PARLEY_TELEGRAM_WEBHOOK_SECRET": "x" * 257}, "PARLEY_TELEGRAM_WEBHOOK_SECRET"),
    ({**GOOD, "PARLEY_TELEGRAM_API_URL": "api.telegram.org"}, "PARLEY_TELEGRAM_API_URL"),
    ({**GOOD, "PARLEY_TELEGRAM_START_PAYLOAD": "hello"}, "PARLEY_TELEGRAM_START_PAYLOAD"),
    ({"PARLEY_TELEGRAM_API_URL": "http://127.0.0.1/bot"}, "PARLEY_TELEGRAM_BOT_TOKEN must be"),
])
def test_a_bad_or_missing_value_is_one_line_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(GatewaySettingsError) as caught:
        TelegramSettings.from_env(env)
    message = str(caught.value)
    assert named in message and "\n" not in message
    assert TOKEN not in message and "12345" not in message
