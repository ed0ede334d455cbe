"""A person's rights end to end: Ada writes on Telegram and on WhatsApp (where she asks for
a person, so a handoff waits for an agent); an admin exports everything held about her
through the desk API, then erases it with ``parley privacy erase``. The export holds her
state, her archived turns and her handoff; afterwards no Redis key, no stream entry, no
value and no row names her, the audit log says an erasure happened without saying whom,
and her next message starts a fresh conversation. A turn of hers being served while the
erasure runs leaves nothing behind either."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import requests

from tests.conftest import TEST_ENCRYPTION_KEY
from tests.e2e.desk_support import add_agent, archive_settled, desk_database, every_row
from tests.e2e.test_telegram_channel import ADA, post, text_update, texts
from tests.e2e.test_whatsapp_channel import PUBLIC, _post, _said, _to
from tests.e2e.test_whatsapp_channel import TOKEN as TWILIO_TOKEN
from tests.fakes.telegram_api import BOT_ID, TOKEN, FakeTelegramApi
from tests.fakes.twilio_api import ACCOUNT_SID, BUSINESS, PERSON, TwilioApiFake
from tests.processes import REDIS_URL, GatewayProcess, WorkerProcess, run_parley
from workers.bus import conversation_key

from .test_telegram_channel import SECRET as TELEGRAM_SECRET

ON_TELEGRAM, ON_WHATSAPP = f"telegram:{ADA}", f"whatsapp:{PERSON}"
# What names Ada: her ids on both platforms (the WhatsApp number without its "+" too).
NAMING_HER = (str(ADA), PERSON, PERSON.lstrip("+"))


@pytest.fixture
def stack(clean_redis: redis.Redis, tmp_path: Path
          ) -> Iterator[tuple[GatewayProcess, FakeTelegramApi, TwilioApiFake, str, str]]:
    url = desk_database(tmp_path)
    _, admin = add_agent(url, "dpo@example.com", role="admin")
    with FakeTelegramApi() as telegram, TwilioApiFake(ACCOUNT_SID, TWILIO_TOKEN,
                                                       BUSINESS) as twilio:
        gateway = GatewayProcess(tmp_path / "gateway.log", {
            "PARLEY_TELEGRAM_BOT_TOKEN": TOKEN, "PARLEY_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "PARLEY_TELEGRAM_API_URL": telegram.api_url,
            "PARLEY_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "PARLEY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "PARLEY_WHATSAPP_FROM": f"whatsapp:{BUSINESS}", "PARLEY_WHATSAPP_PUBLIC_URL": PUBLIC,
            "PARLEY_TWILIO_API_URL": twilio.url, "PARLEY_DATABASE_URL": url})
        twilio.callback_target = gateway.url
        try:
            yield gateway, telegram, twilio, url, admin
        finally:
            gateway.stop()


def _eventually(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def _everything_in_redis(client: redis.Redis) -> str:
    """Every key of the database with every value it holds, as text."""
    readers: dict[str, Any] = {"string": client.get, "hash": client.hgetall,
                               "list": lambda key: client.lrange(key, 0, -1),
                               "set": client.smembers,
                               "zset": lambda key: client.zrange(key, 0, -1),
                               "stream": client.xrange}
    parts = []
    for key in client.scan_iter(count=1000):
        read = readers.get(client.type(key).decode())
        parts.append(f"{key!r} {read(key) if read else None!r}")
    return "\n".join(parts)


def _names_her(text: str) -> list[str]:
    """The lines of ``text`` that name Ada."""
    return [line[:300] for line in text.splitlines() if any(n in line for n in NAMING_HER)]


def _erase(url: str) -> dict[str, str]:
    done = run_parley("privacy", "erase", "--person", ON_TELEGRAM, "--person", ON_WHATSAPP,
                      "--yes", "--database-url", url,
                      env={"PARLEY_REDIS_URL": REDIS_URL,
                           "PARLEY_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("done: ")
    return dict(line.split("  ", 1) for line in done.stdout.splitlines()[:-1])


def test_export_then_erase_a_person_on_two_channels(
        stack: tuple[GatewayProcess, FakeTelegramApi, TwilioApiFake, str, str],
        worker: WorkerProcess, clean_redis: redis.Redis, tmp_path: Path) -> None:
    gateway, telegram, twilio, url, admin = stack
    assert post(gateway, text_update("/book_table")).status_code == 200
    assert texts(telegram.wait_for_sent(1, timeout=60)) == ["For how many people?"]
    assert _post(gateway, _said(1, "human please")).status_code == 200
    _eventually(lambda: len(_to(twilio, PERSON)) >= 1)  # told how the handoff goes
    _eventually(lambda: archive_settled(clean_redis))
    assert _names_her(_everything_in_redis(clean_redis))  # the check below can see her

    answer = requests.get(
        f"{gateway.url}/desk/api/people/{quote(ON_TELEGRAM, safe='')}/export",
        params={"also": ON_WHATSAPP}, headers={"Authorization": f"Bearer {admin}"},
        timeout=30)
    assert answer.status_code == 200, answer.text
    exported = answer.json()
    by_person = {c["person"]: c for c in exported["conversations"]}
    telegram_one, whatsapp_one = by_person[ON_TELEGRAM], by_person[ON_WHATSAPP]
    assert telegram_one["id"] == f"telegram:{BOT_ID}:{ADA}"
    assert telegram_one["state"]["tracker"]["state"]["active_form"] == "booking_form"
    assert any(t["text"] == "/book_table" or t["payload"] == "/book_table"
               for t in telegram_one["archive"]["turns"])
    assert whatsapp_one["state"]["owner"]["state"] == "queued", whatsapp_one["state"]
    (handoff,) = whatsapp_one["archive"]["handoffs"]
    assert handoff["user_id"] == PERSON, handoff
    assert any(t["text"] == "human please" for t in whatsapp_one["archive"]["turns"])

    removed = _erase(url)
    assert int(removed["turns"]) >= 2 and int(removed["handoffs"]) == 1
    assert int(removed["keys"]) > 0
    assert _names_her(_everything_in_redis(clean_redis)) == []
    rows = every_row(Path(url.removeprefix("sqlite:///")))
    assert _names_her(rows) == [], "a row still names her"
    audit = requests.get(f"{gateway.url}/desk/api/audit",
                         headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()
    actions = [e["action"] for e in audit["entries"]]
    assert "person.erase" in actions and "person.export" in actions
    assert _names_her(repr(audit)) == []

    # Her next message is a new conversation, numbered from 1.
    sent = len(telegram.calls_of("sendMessage"))
    assert post(gateway, text_update("/opening_hours")).status_code == 200
    _eventually(lambda: len(telegram.calls_of("sendMessage")) == sent + 1)
    assert texts(telegram.calls_of("sendMessage"))[-1] == "We open at 18:00."
    cid = f"telegram:{BOT_ID}:{ADA}"
    assert int(clean_redis.get(conversation_key(cid, "seq")) or 0) == 1


def test_a_turn_served_while_the_erasure_runs_leaves_nothing_behind(
        stack: tuple[GatewayProcess, FakeTelegramApi, TwilioApiFake, str, str],
        worker: WorkerProcess, clean_redis: redis.Redis) -> None:
    gateway, telegram, _, url, admin = stack
    cid = f"telegram:{BOT_ID}:{ADA}"
    assert post(gateway, text_update("/opening_hours")).status_code == 200
    telegram.wait_for_sent(1, timeout=60)
    assert post(gateway, text_update("/slow")).status_code == 200  # a 3 s backend call
    _eventually(lambda: clean_redis.exists(conversation_key(cid, "lease")), timeout=30)
    erased = requests.delete(f"{gateway.url}/desk/api/people/{quote(ON_TELEGRAM, safe='')}",
                             headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    assert erased.status_code == 200, erased.text
    assert erased.json()["removed"]["keys"] > 0
    time.sleep(5)  # the slow turn ends, and finds its lease gone
    _eventually(lambda: archive_settled(clean_redis))
    assert _names_her(_everything_in_redis(clean_redis)) == []
    assert _names_her(every_row(Path(url.removeprefix("sqlite:///")))) == []
    # Its commit was refused: no reply went out for a conversation that no longer exists.
    assert "done slowly" not in texts(telegram.calls_of("sendMessage"))
