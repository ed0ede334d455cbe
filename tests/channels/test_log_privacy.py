"""Log records are cleaned when they are made: secrets hidden, personal identifiers
pseudonymised (stably, by a keyed hash), personal data redacted — in messages, their
arguments, exception texts and tracebacks, and exceptions nobody caught."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from channels.log_privacy import (
    install_log_privacy,
    pseudonym,
    register_secret,
    sensitive_values,
    uninstall_log_privacy,
)

TOKEN = "xoxb-1111-planted-slack-token"
EMAIL = "jane.doe+orders@example.com"
CARD = "4111 1111 1111 1111"
WHATSAPP = "whatsapp:+14155550100:+14155550199"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What a handler on the root logger writes, at DEBUG, with privacy installed."""
    install_log_privacy({"PARLEY_SLACK_BOT_TOKEN": TOKEN, "PARLEY_LOG_HASH_KEY": "k" * 32})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        uninstall_log_privacy()


def test_messages_and_their_arguments_are_cleaned(lines: io.StringIO) -> None:
    log = logging.getLogger("parley.test")
    log.debug("calling with token %s for %s, card %s", TOKEN, EMAIL, CARD)
    log.info("conversation %s: served", WHATSAPP)
    text = lines.getvalue()
    assert TOKEN not in text and "<secret>" in text
    assert EMAIL not in text and "[email]" in text
    assert "4111" not in text and "[card]" in text
    assert "+14155550100" not in text and "14155550199" not in text
    assert f"whatsapp:{pseudonym(WHATSAPP.removeprefix('whatsapp:'))}" in text


def test_exception_messages_and_tracebacks_are_cleaned(lines: io.StringIO) -> None:
    try:
        raise ValueError(f"cannot reach {EMAIL} with {TOKEN}")
    except ValueError:
        logging.getLogger("parley.test").exception("turn failed for %s", WHATSAPP)
    text = lines.getvalue()
    assert "Traceback" in text and "ValueError" in text
    assert EMAIL not in text and TOKEN not in text and "+1415555" not in text


def test_an_exception_nobody_caught_in_a_thread_is_logged_cleaned(lines: io.StringIO
                                                                   ) -> None:
    def fail() -> None:
        raise RuntimeError(f"no order for {EMAIL}")

    thread = threading.Thread(target=fail, name="worker-thread")
    thread.start()
    thread.join()
    text = lines.getvalue()
    assert "uncaught exception in thread worker-thread" in text
    assert "RuntimeError" in text and EMAIL not in text


def test_secrets_made_at_run_time_and_sensitive_entities_are_hidden(lines: io.StringIO
                                                                    ) -> None:
    register_secret("generated-one-time-password")
    log = logging.getLogger("parley.test")
    log.warning("password is generated-one-time-password")
    with sensitive_values(["ORD-55810", "Jane Doe"]):
        log.warning("looking up ORD-55810 for Jane Doe")
    log.warning("after the turn: ORD-55810")
    text = lines.getvalue()
    assert "generated-one-time-password" not in text
    assert "looking up [sensitive] for [sensitive]" in text
    assert "after the turn: ORD-55810" in text  # only the turn's own lines know the values


def test_slack_and_telegram_user_ids_are_pseudonymised(lines: io.StringIO) -> None:
    logging.getLogger("parley.test").info('event from U024BE7LH in {"chat_id": 987654321}, '
                                          "user_id=555123")
    text = lines.getvalue()
    assert "U024BE7LH" not in text and "987654321" not in text and "555123" not in text
    assert pseudonym("U024BE7LH") in text


def test_text_without_anything_private_is_unchanged(lines: io.StringIO) -> None:
    message = ("GET /channels/web/session 200, queue parley:inbound length 3, "
               "order #55812 on 2026-03-15 for $1,299.00")
    logging.getLogger("parley.test").info(message)
    assert lines.getvalue().strip().endswith(message)


def test_pseudonyms_are_stable_across_processes_sharing_the_key() -> None:
    program = ("import logging, sys; from channels.log_privacy import install_log_privacy;"
               "install_log_privacy({'PARLEY_LOG_HASH_KEY': sys.argv[1]});"
               "logging.basicConfig(format='%(message)s');"
               f"logging.getLogger('x').warning('conversation {WHATSAPP}')")

    def line(key: str) -> str:
        return subprocess.run([sys.executable, "-c", program, key], capture_output=True,
                              text=True, check=True).stderr.strip()

    first, again, other = line("a" * 32), line("a" * 32), line("b" * 32)
    assert first == again and first != other
    assert first.startswith("conversation whatsapp:~") and "+1415" not in first


def test_without_a_key_one_is_made_and_handed_to_child_processes() -> None:
    env: dict[str, str] = {}
    install_log_privacy(env)
    try:
        assert len(env["PARLEY_LOG_HASH_KEY"]) == 64
    finally:
        uninstall_log_privacy()
