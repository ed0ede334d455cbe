"""The Telegram channel: webhook updates in, Bot API calls out (python-telegram-bot).

Inbound: ``POST /channels/telegram`` with one JSON ``Update``, authenticated by the
``X-Telegram-Bot-Api-Secret-Token`` header, which must equal the ``secret_token`` given to
``setWebhook`` (compared in constant time; Telegram sends no timestamp, so there is no replay
window: the ``update_id`` dedupe drops a replayed update within 24 h). Parsing is in
``channels.telegram.parse``; a button's long payload comes back from Redis (``resolve``).
A pressed button is answered with ``answerCallbackQuery`` in the webhook's own response body
(Telegram performs a method call given there): it leaves only after the enqueue, costs no
request of its own, and needs no task to own; its result is not reported, which a spinner
can do without.

Outbound: ``sendMessage`` / ``sendPhoto`` as ``channels.telegram.render`` lays them out. One
``send`` is one attempt (the dispatcher retries): a 429's ``retry_after`` and timeouts,
connection errors and 5xx are ``TransientSendError``; refusals (bad request, bot blocked,
chat gone) are ``PermanentSendError``. A reply in several parts records each part Telegram
accepted, so a retry sends only the rest.
"""

from __future__ import annotations

import datetime
import hmac
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from redis.exceptions import RedisError
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest as TelegramBadRequest,
)
from telegram.error import (
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from channels.errors import PermanentSendError, TransientSendError, Unauthorized
from channels.models import InboundMessage, OutboundMessage
from channels.telegram.parse import CHANNEL, BotIdentity, TelegramUpdate, parse_update
from channels.telegram.render import Part, is_reference, keyboard, render
from channels.telegram.state import TelegramState

__all__ = ["SECRET_HEADER", "TelegramAdapter", "secret_headers", "verify_secret"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
EXPIRED_BUTTON = "This button has expired. Please type your answer instead."


def secret_headers(secret: str) -> dict[str, str]:
    """The header Telegram sends with every update (the test/fake twin of ``verify_secret``)."""
    return {SECRET_HEADER: secret}


def verify_secret(secret: str, headers: Mapping[str, str]) -> None:
    """Raise ``Unauthorized`` unless the update carries the webhook's secret token."""
    given = headers.get(SECRET_HEADER)
    if not given:
        raise Unauthorized(f"missing {SECRET_HEADER} header")
    # "surrogatepass": undecodable header bytes (kept as surrogates) match no secret.
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), secret.encode()):
        raise Unauthorized(f"wrong {SECRET_HEADER}")


class TelegramAdapter:
    name = CHANNEL

    def __init__(self, *, bot: Bot, me: BotIdentity, secret: str, state: TelegramState,
                 start_payload: str = "/greet", now: Callable[[], float] = time.time) -> None:
        self._bot = bot
        self._me = me
        self._secret = secret
        self._state = state
        self._start_payload = start_payload
        self._now = now

    def verify(self, headers: Mapping[str, str], body: bytes = b"") -> None:
        """The secret is a header: checked before the body is read (``body`` is unused)."""
        verify_secret(self._secret, headers)

    def parse(self, body: bytes) -> TelegramUpdate:
        return parse_update(body, me=self._me, start_payload=self._start_payload,
                            now=self._now())

    async def resolve(self, update: TelegramUpdate) -> InboundMessage | None:
        """The message to enqueue: a referenced button payload is read back from Redis;
        ``None`` if there is nothing to enqueue (or the reference has expired)."""
        message = update.message
        if message is None or message.payload is None or not is_reference(message.payload):
            return message
        payload = await self._state.button_payload(message.payload)
        return None if payload is None else msgspec.structs.replace(message, payload=payload)

    @staticmethod
    def webhook_answer(update: TelegramUpdate, *, enqueued: bool) -> dict[str, str] | None:
        """The Bot API call to return as the webhook's response body, if any."""
        if update.callback_query_id is None:
            return None
        answer = {"method": "answerCallbackQuery", "callback_query_id": update.callback_query_id}
        if update.message is not None and not enqueued:
            answer["text"] = EXPIRED_BUTTON
        return answer

    def render(self, message: OutboundMessage) -> list[Part]:
        return render(message)

    async def send(self, message: OutboundMessage) -> None:
        """One attempt to show ``message``, skipping the parts a former attempt delivered."""
        chat_id, thread_id = self._address(message.conversation_id)
        parts = render(message)
        if not parts:
            raise PermanentSendError("the reply has neither text nor image: Telegram cannot "
                                     "show it")
        several = len(parts) > 1
        try:
            await self._state.remember_buttons(message.buttons)
            done = await self._state.parts_sent(message) if several else 0
        except RedisError as exc:
            raise TransientSendError(f"Redis unavailable: {type(exc).__name__}") from exc
        for number, part in enumerate(parts[done:], start=done + 1):
            await self._call(part, chat_id, thread_id)
            if several:
                try:
                    await self._state.part_sent(message, number)
                except RedisError as exc:
                    raise TransientSendError(f"Redis unavailable after part {number}: "
                                             f"{type(exc).__name__}") from exc

    def _address(self, conversation_id: str) -> tuple[int, int | None]:
        """Chat id (and forum topic) from ``telegram:<bot id>:<chat>[:<topic>]``."""
        _, account, chat = conversation_id.split(":", 2)
        if account != str(self._me.id):
            raise PermanentSendError(f"the conversation belongs to bot {account}; this "
                                     f"gateway's bot is {self._me.id}")
        chat_id, _, topic = chat.partition(":")
        try:
            return int(chat_id), int(topic) if topic else None
        except ValueError:
            raise PermanentSendError(f"not a Telegram chat: {chat!r}") from None

    async def _call(self, part: Part, chat_id: int, thread_id: int | None) -> None:
        markup = keyboard(part.buttons)
        method = "sendPhoto" if part.photo else "sendMessage"
        try:
            if part.photo:
                await self._bot.send_photo(
                    chat_id, part.photo, caption=part.html or None,
                    parse_mode=ParseMode.HTML if part.html else None, reply_markup=markup,
                    message_thread_id=thread_id)
            else:
                await self._bot.send_message(
                    chat_id, part.html, parse_mode=ParseMode.HTML, reply_markup=markup,
                    message_thread_id=thread_id)
        except TelegramError as exc:
            raise self._translate(exc, method) from None  # PTB's messages may hold the URL

    def _translate(self, exc: TelegramError, method: str) -> Exception:
        reason = exc.message.replace(self._bot.token, "<token>")
        if isinstance(exc, RetryAfter):
            return TransientSendError(f"{method}: Telegram rate limit (429)",
                                      _retry_after(exc))
        if isinstance(exc, ChatMigrated):
            return PermanentSendError(f"{method}: the group became supergroup "
                                      f"{exc.new_chat_id}; its conversation starts anew")
        if isinstance(exc, TelegramBadRequest | Forbidden | InvalidToken | Conflict):
            return PermanentSendError(f"{method}: Telegram refused: {reason}")
        if isinstance(exc, TimedOut | NetworkError):
            return TransientSendError(f"{method}: {type(exc).__name__}: {reason}")
        return TransientSendError(f"{method}: unexpected answer: {reason}")


def _retry_after(exc: RetryAfter) -> float:
    # PTB 22 warns on reading ``retry_after`` unless PTB_TIMEDELTA is set (int → timedelta
    # migration); both forms are handled, the warning is not ours to show.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)
