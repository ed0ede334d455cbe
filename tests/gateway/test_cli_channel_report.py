"""A real ``parley gateway`` with ``PARLEY_BOT_DIR`` naming a folder with a Rasa
``credentials.yml``: it serves the channels the file configures and says which are on,
without a secret in its output."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.processes import GatewayProcess

TWILIO_TOKEN = "twilio-auth-token-0123456789abcd"
CREDENTIALS = """\
rest:
twilio:
  account_sid: AC0123456789abcdef0123456789abcdef
  auth_token: ${TWILIO_TOKEN}
  twilio_number: whatsapp:+14155238886
telegram:
  access_token: 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw
mattermost:
  url: https://chat.example.com/api/v4
  token: mattermost-token-0123456789
"""


def test_parley_gateway_says_which_channels_are_on(tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    bot.mkdir()
    (bot / "credentials.yml").write_text(CREDENTIALS)
    log = tmp_path / "gateway.log"
    gateway = GatewayProcess(log, {"PARLEY_BOT_DIR": str(bot), "TWILIO_TOKEN": TWILIO_TOKEN,
                                   "PARLEY_WHATSAPP_PUBLIC_URL": "https://bot.example.com"})
    try:
        answer = httpx.post(f"{gateway.url}/channels/whatsapp", data={"Body": "hi"})
        assert answer.status_code == 401  # served, and Twilio's signature checked
    finally:
        gateway.stop()
    text = log.read_text()
    shown = bot / "credentials.yml"
    for line in ("channel website chat: on",
                 f"channel whatsapp: on (from {shown} and the environment)",
                 f"channel telegram: off: {shown}:6 (telegram) configures it, but "
                 "PARLEY_TELEGRAM_WEBHOOK_SECRET must be set too",
                 "channel slack: off (not configured)",
                 f"{shown}:8: notice: mattermost: Parley has no Mattermost channel; ignored"):
        assert line in text, text
    assert TWILIO_TOKEN not in text and "mattermost-token" not in text
