"""WhatsApp settings from the environment (gateway.whatsapp.settings)."""

from __future__ import annotations

import pytest

from gateway.env_values import GatewaySettingsError
from gateway.whatsapp.settings import DEFAULT_RATE, WhatsAppSettings

SID = "AC" + "0" * 32
GOOD = {"PARLEY_TWILIO_ACCOUNT_SID": SID, "PARLEY_TWILIO_AUTH_TOKEN": "s3cret-token",
        "PARLEY_WHATSAPP_FROM": "whatsapp:+14155238886",
        "PARLEY_WHATSAPP_PUBLIC_URL": "https://bot.example.com/"}


def test_not_configured_without_any_variable() -> None:
    assert WhatsAppSettings.from_env({"PARLEY_REDIS_URL": "redis://x"}) is None


def test_a_full_configuration_with_defaults() -> None:
    settings = WhatsAppSettings.from_env(GOOD)
    assert settings == WhatsAppSettings(account_sid=SID, auth_token="s3cret-token",
                                        from_number="+14155238886",
                                        public_url="https://bot.example.com",
                                        template_sid=None, api_url="https://api.twilio.com",
                                        rate=DEFAULT_RATE)
    assert "s3cret-token" not in repr(settings)


def test_optional_values() -> None:
    settings = WhatsAppSettings.from_env({
        **GOOD, "PARLEY_WHATSAPP_FROM": "+14155238886",
        "PARLEY_WHATSAPP_TEMPLATE_SID": "HX" + "a" * 32,
        "PARLEY_TWILIO_API_URL": "http://127.0.0.1:9/", "PARLEY_WHATSAPP_RATE": "0.3"})
    assert settings is not None
    assert settings.from_number == "+14155238886" and settings.template_sid == "HX" + "a" * 32
    assert settings.api_url == "http://127.0.0.1:9" and settings.rate == 0.3


@pytest.mark.parametrize(("changes", "named"), [
    ({"PARLEY_TWILIO_AUTH_TOKEN": ""}, "PARLEY_TWILIO_AUTH_TOKEN"),
    ({"PARLEY_TWILIO_ACCOUNT_SID": "AC123"}, "PARLEY_TWILIO_ACCOUNT_SID"),
    ({"PARLEY_WHATSAPP_FROM": "14155238886"}, "PARLEY_WHATSAPP_FROM"),
    ({"PARLEY_WHATSAPP_PUBLIC_URL": ""}, "PARLEY_WHATSAPP_PUBLIC_URL"),
    ({"PARLEY_WHATSAPP_PUBLIC_URL": "bot.example.com"}, "PARLEY_WHATSAPP_PUBLIC_URL"),
    ({"PARLEY_WHATSAPP_TEMPLATE_SID": "welcome"}, "PARLEY_WHATSAPP_TEMPLATE_SID"),
    ({"PARLEY_TWILIO_API_URL": "ftp://x"}, "PARLEY_TWILIO_API_URL"),
    ({"PARLEY_WHATSAPP_RATE": "0"}, "PARLEY_WHATSAPP_RATE")])
def test_a_bad_or_missing_value_names_its_variable(changes: dict[str, str], named: str) -> None:
    with pytest.raises(GatewaySettingsError, match=named) as caught:
        WhatsAppSettings.from_env({**GOOD, **changes})
    assert "s3cret-token" not in str(caught.value)


def test_one_variable_alone_asks_for_the_others() -> None:
    with pytest.raises(GatewaySettingsError, match="PARLEY_TWILIO_ACCOUNT_SID must be set"):
        WhatsAppSettings.from_env({"PARLEY_WHATSAPP_TEMPLATE_SID": "HX" + "a" * 32})
