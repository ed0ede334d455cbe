"""Every channel set up at once against the fake platform servers: the credentials and the
gateway environment that points the real SDKs at the fakes (for tests that drive the
whole gateway surface, such as the fuzzers)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from tests.fakes.slack_api import FakeBot, FakeSlackApi
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.twilio_api import ACCOUNT_SID, BUSINESS, TwilioApiFake

WEB_SECRET, WEB_TOKEN = "site-secret", "site-token"
SLACK_SECRET, TEAM, SLACK_TOKEN = "slack-signing-secret", "T0A1B2C3D", "xoxb-111-parley"
TELEGRAM_SECRET = "telegram_secret-1"
TWILIO_TOKEN, PUBLIC = "twilio-auth-token", "https://bot.example.test"


@dataclass
class Platforms:
    """The gateway's environment for all channels, and Twilio's fake (whose status
    callbacks need the gateway's address once it runs)."""

    env: dict[str, str]
    twilio: TwilioApiFake


@contextlib.contextmanager
def all_platforms() -> Iterator[Platforms]:
    with FakeSlackApi({SLACK_TOKEN: FakeBot(TEAM)}) as slack_api, FakeTelegramApi() as tg, \
            TwilioApiFake(ACCOUNT_SID, TWILIO_TOKEN, BUSINESS) as twilio:
        yield Platforms({
            "PARLEY_WEB_SECRET": WEB_SECRET, "PARLEY_WEB_TOKEN": WEB_TOKEN,
            "PARLEY_SESSION_SECRET": "a-session-secret-of-length",
            "PARLEY_SLACK_SIGNING_SECRET": SLACK_SECRET,
            "PARLEY_SLACK_BOT_TOKENS": f"{TEAM}={SLACK_TOKEN}",
            "PARLEY_SLACK_API_URL": slack_api.api_url,
            "PARLEY_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "PARLEY_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "PARLEY_TELEGRAM_API_URL": tg.api_url,
            "PARLEY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "PARLEY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "PARLEY_WHATSAPP_FROM": f"whatsapp:{BUSINESS}", "PARLEY_WHATSAPP_PUBLIC_URL": PUBLIC,
            "PARLEY_TWILIO_API_URL": twilio.url}, twilio)
