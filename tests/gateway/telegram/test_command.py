"""``parley telegram set-webhook URL`` as an operator runs it, against the fake Bot API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import REPO
from tests.fakes.telegram_api import TOKEN, FakeTelegramApi

SECRET = "hook_Secret-1"
URL = "https://bot.example.com/channels/telegram"


@pytest.fixture
def fake() -> Iterator[FakeTelegramApi]:
    with FakeTelegramApi() as server:
        yield server


def parley(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=REPO,
                          env={**full, **env}, capture_output=True, text=True, timeout=60,
                          check=False)


def configured(fake: FakeTelegramApi, **changes: str) -> dict[str, str]:
    return {"PARLEY_TELEGRAM_BOT_TOKEN": TOKEN, "PARLEY_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "PARLEY_TELEGRAM_API_URL": fake.api_url, **changes}


def test_set_webhook_registers_the_url_with_the_secret(fake: FakeTelegramApi) -> None:
    result = parley("telegram", "set-webhook", URL, env=configured(fake))
    assert result.returncode == 0, result.stderr
    assert fake.webhook == {"url": URL, "secret_token": SECRET,
                            "allowed_updates": ["message", "callback_query"]}
    assert result.stdout.strip() == (
        f"Telegram accepted the webhook of @ParleyTestBot: {URL} (updates: message, "
        "callback_query; signed with PARLEY_TELEGRAM_WEBHOOK_SECRET)")
    assert result.stderr == ""
    assert TOKEN not in result.stdout and SECRET not in result.stdout


def test_without_a_token_it_says_so(fake: FakeTelegramApi) -> None:
    result = parley("telegram", "set-webhook", URL, env={})
    assert result.returncode == 2
    assert result.stderr.strip() == ("parley: error: PARLEY_TELEGRAM_BOT_TOKEN and "
                                     "PARLEY_TELEGRAM_WEBHOOK_SECRET must be set")
    assert fake.calls == []


def test_without_a_secret_it_names_the_variable(fake: FakeTelegramApi) -> None:
    env = configured(fake)
    del env["PARLEY_TELEGRAM_WEBHOOK_SECRET"]
    result = parley("telegram", "set-webhook", URL, env=env)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "PARLEY_TELEGRAM_WEBHOOK_SECRET must be 1 to 256" in result.stderr
    assert fake.calls == []


@pytest.mark.parametrize("url", ["bot.example.com/channels/telegram", "ftp://bot.example.com/x",
                                 "https://"])
def test_a_bad_url_is_refused_before_asking_telegram(fake: FakeTelegramApi, url: str) -> None:
    result = parley("telegram", "set-webhook", url, env=configured(fake))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "parley: error: the webhook URL must be an https:// URL such as "
        f"https://bot.example.com/channels/telegram, got {url!r}")
    assert fake.calls == []


def test_telegrams_refusal_is_shown_in_one_line(fake: FakeTelegramApi) -> None:
    result = parley("telegram", "set-webhook", "http://bot.example.com/channels/telegram",
                    env=configured(fake))
    assert result.returncode == 2
    assert result.stderr.strip() == ("parley: error: Telegram refused setWebhook: Bad webhook: "
                                      "an https url must be provided for webhook")
    assert fake.webhook is None


def test_a_rejected_token_is_not_printed(fake: FakeTelegramApi) -> None:
    other = TOKEN.replace("AAH", "BBH")
    result = parley("telegram", "set-webhook", URL,
                    env=configured(fake, PARLEY_TELEGRAM_BOT_TOKEN=other))
    assert result.returncode == 2
    assert result.stderr.strip() == ("parley: error: Telegram rejected the bot token "
                                     "(PARLEY_TELEGRAM_BOT_TOKEN): Unauthorized")
    assert other not in result.stdout + result.stderr


def test_an_unreachable_api_is_one_line_without_the_token(fake: FakeTelegramApi) -> None:
    result = parley("telegram", "set-webhook", URL, env=configured(
        fake, PARLEY_TELEGRAM_API_URL="http://127.0.0.1:9/bot"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("parley: error: getMe failed: the Telegram "
                                                   "API at http://127.0.0.1:9/bot<token> ")
    assert TOKEN not in result.stderr


def test_a_url_off_the_telegram_route_gets_a_note(fake: FakeTelegramApi) -> None:
    result = parley("telegram", "set-webhook", "https://bot.example.com/hooks/tg",
                    env=configured(fake))
    assert result.returncode == 0
    assert "does not end with it" in result.stderr
    assert fake.webhook is not None and fake.webhook["url"] == "https://bot.example.com/hooks/tg"
