"""One gateway serving Telegram and WhatsApp at once: a person who writes on both is two
conversations, each with its own state, sequence and replies on its own platform."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.test_telegram_channel import ADA, post, text_update, texts
from tests.e2e.test_whatsapp_channel import PUBLIC, _post, _said, _to
from tests.e2e.test_whatsapp_channel import TOKEN as TWILIO_TOKEN
from tests.fakes.telegram_api import BOT_ID, TOKEN, FakeTelegramApi
from tests.fakes.twilio_api import ACCOUNT_SID, BUSINESS, PERSON, TwilioApiFake
from tests.processes import GatewayProcess, WorkerProcess
from workers.bus import conversation_key

from .test_telegram_channel import SECRET as TELEGRAM_SECRET


@pytest.fixture
def both(clean_redis: redis.Redis, tmp_path: Path
         ) -> Iterator[tuple[GatewayProcess, FakeTelegramApi, TwilioApiFake]]:
    with FakeTelegramApi() as telegram, TwilioApiFake(ACCOUNT_SID, TWILIO_TOKEN,
                                                       BUSINESS) as twilio:
        gateway = GatewayProcess(tmp_path / "gateway.log", {
            "PARLEY_TELEGRAM_BOT_TOKEN": TOKEN, "PARLEY_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "PARLEY_TELEGRAM_API_URL": telegram.api_url,
            "PARLEY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "PARLEY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "PARLEY_WHATSAPP_FROM": f"whatsapp:{BUSINESS}", "PARLEY_WHATSAPP_PUBLIC_URL": PUBLIC,
            "PARLEY_TWILIO_API_URL": twilio.url})
        twilio.callback_target = gateway.url
        try:
            yield gateway, telegram, twilio
        finally:
            gateway.stop()


def test_one_person_on_two_channels_is_two_conversations(
        both: tuple[GatewayProcess, FakeTelegramApi, TwilioApiFake], worker: WorkerProcess,
        clean_redis: redis.Redis) -> None:
    gateway, telegram, twilio = both
    # Ada starts a booking on Telegram ...
    assert post(gateway, text_update("/book_table")).status_code == 200
    assert texts(telegram.wait_for_sent(1, timeout=30)) == ["For how many people?"]
    # ... then, on WhatsApp, asks when the place opens: no booking form there.
    assert _post(gateway, _said(1, "/opening_hours")).status_code == 200
    twilio.wait_for(1, timeout=30)
    assert [m["Body"] for m in _to(twilio, PERSON)] == ["We open at 18:00."]
    # Back on Telegram the form goes on where it was.
    assert post(gateway, text_update('/inform{"guests": 2}')).status_code == 200
    assert texts(telegram.wait_for_sent(2, timeout=30)) == ["For how many people?",
                                                             "Under which name?"]
    assert len(twilio.messages) == 1 and len(telegram.calls_of("sendMessage")) == 2

    on_telegram = f"telegram:{BOT_ID}:{ADA}"
    on_whatsapp = f"whatsapp:{BUSINESS}:{PERSON}"
    assert int(clean_redis.get(conversation_key(on_telegram, "seq")) or 0) == 2
    assert int(clean_redis.get(conversation_key(on_whatsapp, "seq")) or 0) == 1
