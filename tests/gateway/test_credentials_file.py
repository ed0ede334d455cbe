"""A bot folder's credentials.yml, as Rasa users write it, configures Parley's channels:
``${VAR}`` from the environment, the environment winning per setting, a channel Parley
lacks named in one notice, incomplete channels off and said, secrets never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from channels.log_privacy import install_log_privacy
from gateway.channel_report import channel_report
from gateway.credentials_file import read_credentials, settings_with_credentials
from gateway.env_values import GatewaySettingsError

SLACK_TOKEN = "xoxb-1111-2222-from-the-file"
SLACK_SECRET = "slack-signing-secret-0123456789"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TWILIO_TOKEN = "twilio-auth-token-0123456789abcd"
FACEBOOK_TOKEN = "facebook-page-token-0123456789"
SECRETS = (SLACK_TOKEN, SLACK_SECRET, TELEGRAM_TOKEN, TWILIO_TOKEN, FACEBOOK_TOKEN)

CREDENTIALS = f"""\
# as `rasa init` writes it, then filled in
rest:
#  # you don't need to provide anything here

socketio:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered
  session_persistence: true

slack:
  slack_token: ${{SLACK_TOKEN}}
  slack_channel: "#bot"
  slack_signing_secret: "{SLACK_SECRET}"

telegram:
  access_token: "{TELEGRAM_TOKEN}"
  verify: my_parley_bot
  webhook_url: https://bot.example.com/webhooks/telegram/webhook

twilio:
  account_sid: AC0123456789abcdef0123456789abcdef
  auth_token: ${{TWILIO_TOKEN}}
  twilio_number: "whatsapp:+14155238886"

facebook:
  verify: my-verify
  page-access-token: {FACEBOOK_TOKEN}

my_pkg.channels.MyInput:
  url: http://localhost:9999
"""
BASE = {"PARLEY_REDIS_URL": "redis://127.0.0.1:6379/4", "SLACK_TOKEN": SLACK_TOKEN,
        "TWILIO_TOKEN": TWILIO_TOKEN}


@pytest.fixture
def bot(tmp_path: Path) -> Path:
    (tmp_path / "credentials.yml").write_text(CREDENTIALS, encoding="utf-8")
    return tmp_path


def test_the_file_configures_the_channels_parley_has(bot: Path) -> None:
    env = {**BASE, "PARLEY_WHATSAPP_PUBLIC_URL": "https://bot.example.com"}
    settings, credentials = settings_with_credentials(env, bot)
    assert settings.slack is not None and settings.slack.bot_token == SLACK_TOKEN
    assert settings.slack.signing_secret == SLACK_SECRET
    assert settings.whatsapp is not None and settings.whatsapp.auth_token == TWILIO_TOKEN
    assert settings.whatsapp.from_number == "+14155238886"
    assert settings.telegram is None  # Rasa has no webhook secret: off, and said so
    assert credentials is not None
    assert {(s.key, s.line) for s in credentials.settings} == {
        ("slack.slack_token", 11), ("slack.slack_signing_secret", 13),
        ("twilio.account_sid", 21), ("twilio.auth_token", 22), ("twilio.twilio_number", 23)}


def test_the_environment_wins_per_setting(bot: Path) -> None:
    env = {**BASE, "PARLEY_SLACK_BOT_TOKEN": "xoxb-9999-from-the-environment",
           "PARLEY_TELEGRAM_WEBHOOK_SECRET": "hook-secret", "PARLEY_TWILIO_AUTH_TOKEN": "e" * 32,
           "PARLEY_WHATSAPP_PUBLIC_URL": "https://bot.example.com"}
    settings, _ = settings_with_credentials(env, bot)
    assert settings.slack is not None
    assert settings.slack.bot_token == "xoxb-9999-from-the-environment"
    assert settings.slack.signing_secret == SLACK_SECRET  # the environment is silent on it
    assert settings.telegram is not None and settings.telegram.bot_token == TELEGRAM_TOKEN
    assert settings.whatsapp is not None and settings.whatsapp.auth_token == "e" * 32


def test_tokens_per_workspace_in_the_environment_replace_the_files_one(bot: Path) -> None:
    env = {**BASE, "PARLEY_SLACK_BOT_TOKENS": "T0123ABCD=xoxb-env-token"}
    settings, _ = settings_with_credentials(env, bot)
    assert settings.slack is not None
    assert (settings.slack.bot_token, dict(settings.slack.bot_tokens)) == (
        None, {"T0123ABCD": "xoxb-env-token"})


def test_the_report_lists_every_channel_and_what_is_missing(bot: Path) -> None:
    settings, credentials = settings_with_credentials(BASE, bot)
    lines = channel_report(settings, credentials)
    shown = bot / "credentials.yml"
    assert lines[:5] == [
        "channel website chat: on (the chat page at / and the widget /widget.js)",
        f"channel website webhook: off: {shown}:2 (rest) configures it, but PARLEY_WEB_SECRET"
        " or PARLEY_WEB_TOKEN must be set too",
        f"channel slack: on (from {shown})",
        f"channel telegram: off: {shown}:15 (telegram) configures it, but "
        "PARLEY_TELEGRAM_WEBHOOK_SECRET must be set too",
        f"channel whatsapp: off: {shown}:20 (twilio) configures it, but "
        "PARLEY_WHATSAPP_PUBLIC_URL must be set too",
    ]
    notices = lines[5:]
    assert f"{shown}:25: notice: facebook: Parley has no Facebook Messenger channel; ignored" \
        in notices
    assert any(n.startswith(f"{shown}:29: notice: my_pkg.channels.MyInput: not a channel "
                            "Parley has") for n in notices)
    assert any(n.startswith(f"{shown}:5: notice: socketio: ") for n in notices)
    assert any("slack_channel: Parley answers where the person wrote" in n for n in notices)
    assert all(secret not in line for line in lines for secret in SECRETS)


def test_a_reference_to_an_unset_variable_names_file_line_and_variable(bot: Path) -> None:
    with pytest.raises(GatewaySettingsError) as caught:
        settings_with_credentials({"PARLEY_REDIS_URL": BASE["PARLEY_REDIS_URL"],
                                   "SLACK_TOKEN": SLACK_TOKEN}, bot)
    assert str(caught.value) == (f"{bot / 'credentials.yml'}:22: twilio.auth_token: "
                                 "${TWILIO_TOKEN}: the environment has no such variable "
                                 "(set it, or write the value)")


def test_a_bad_value_from_the_file_names_its_line_and_never_the_value(bot: Path) -> None:
    env = {**BASE, "SLACK_TOKEN": "xapp-not-a-bot-token-123456"}
    with pytest.raises(GatewaySettingsError) as caught:
        settings_with_credentials(env, bot)
    message = str(caught.value)
    assert message.startswith(f"{bot / 'credentials.yml'}:11: slack.slack_token (Parley's "
                              "PARLEY_SLACK_BOT_TOKEN): PARLEY_SLACK_BOT_TOKEN must be a bot "
                              "token")
    assert "xapp-not-a-bot-token" not in message


def test_an_incomplete_channel_the_environment_also_configures_is_an_error(bot: Path) -> None:
    env = {**BASE, "PARLEY_TELEGRAM_START_PAYLOAD": "/hello"}
    with pytest.raises(GatewaySettingsError, match=r"credentials.yml:15: telegram: "
                       r"PARLEY_TELEGRAM_WEBHOOK_SECRET must be set for the telegram channel "
                       r"\(the environment sets PARLEY_TELEGRAM_START_PAYLOAD"):
        settings_with_credentials(env, bot)


def test_an_sms_number_keeps_whatsapp_off(tmp_path: Path) -> None:
    (tmp_path / "credentials.yml").write_text(
        "twilio:\n  account_sid: AC0123456789abcdef0123456789abcdef\n  auth_token: abcdefgh12\n"
        "  twilio_number: '+14155238886'\n")
    settings, credentials = settings_with_credentials(BASE, tmp_path)
    assert settings.whatsapp is None
    line = channel_report(settings, credentials)[4]
    assert line.startswith("channel whatsapp: off: ") and "is an SMS number" in line
    env = {**BASE, "PARLEY_WHATSAPP_PUBLIC_URL": "https://bot.example.com"}
    with pytest.raises(GatewaySettingsError, match=r"credentials.yml:1: twilio: twilio_number "
                       "is an SMS number"):
        settings_with_credentials(env, tmp_path)  # meant for WhatsApp: say why it cannot be


def test_without_the_file_the_environment_alone_decides(tmp_path: Path) -> None:
    settings, credentials = settings_with_credentials(BASE, tmp_path)
    assert credentials is None and settings.slack is None
    assert channel_report(settings, None)[2] == "channel slack: off (not configured)"
    assert settings_with_credentials(BASE, None)[1] is None


@pytest.mark.parametrize(("text", "expected"), [
    ("slack: [a, b]\n", ":1: 'slack' must be a mapping"),
    ("- slack\n", ":1: credentials.yml must be a mapping"),
    ("slack:\n  slack_token: [x]\n", ":2: slack.slack_token: expected a text value"),
    ("slack: {}\nslack: {}\n", ":2: 'slack' appears twice"),
    ("slack:\n  slack_token: 'x\n", ":3: invalid YAML"),
])
def test_a_malformed_file_names_its_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "credentials.yml").write_text(text)
    with pytest.raises(GatewaySettingsError) as caught:
        read_credentials(tmp_path, BASE)
    assert str(caught.value).startswith(f"{tmp_path / 'credentials.yml'}{expected}")


def test_secrets_from_the_file_never_reach_a_log_line(
        bot: Path, caplog: pytest.LogCaptureFixture) -> None:
    install_log_privacy({})  # as `parley` does at start: no secret in this environment
    env = {**BASE, "PARLEY_WHATSAPP_PUBLIC_URL": "https://bot.example.com"}
    read_credentials(bot, env)
    log = logging.getLogger("parley.test.credentials")
    with caplog.at_level(logging.INFO, logger="parley.test.credentials"):
        for secret in SECRETS:  # an SDK's debug line, say, with the token in a URL
            log.info("POST https://api.example.com/bot%s/sendMessage", secret)
    assert len(caplog.records) == len(SECRETS)
    assert all(r.getMessage() == "POST https://api.example.com/bot<secret>/sendMessage"
               for r in caplog.records)
