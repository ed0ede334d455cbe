"""The Telegram channel's route in the gateway, and its sender for the dispatcher.

``POST /channels/telegram``: verify the secret token (→ 401, from the headers alone: an
unauthenticated request's body is never read) → parse the update (→ 400) →
read back a long button payload (Redis) → ingress dedupes and enqueues → 200. Only then
does Telegram get its answer (it redelivers an update until it gets a 2xx); a pressed
button's answer (``answerCallbackQuery``) is the response body. Updates the bot does not
take (edits, group chatter not meant for it, unknown types) are answered 200 and skipped.

Start-up: first of all, one ``telegram.Bot`` for this gateway, asked ``getMe`` for the
username groups address it by (and shut down last); then, after Redis and before the
dispatcher, its sender and a pacer of one message a second per chat and thirty a second
overall (Telegram's limits) go to the dispatcher. The token stays out of the logs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import Counter
from telegram import Bot

from channels.models import OutboundMessage
from channels.telegram.adapter import TelegramAdapter
from channels.telegram.bot import TelegramSetupError, connect, make_bot, redacted_logs
from channels.telegram.parse import BotIdentity
from channels.telegram.state import TelegramState
from gateway.app_keys import INGRESS, METRICS, PACERS, REDIS, SENDERS, SETTINGS
from gateway.env_values import GatewaySettingsError
from gateway.request_errors import add_header_check
from gateway.send_pacing import SendPacer

__all__ = ["PATH", "add_channel"]

PATH = "/channels/telegram"
_log = logging.getLogger("parley.gateway.telegram")


@dataclass(frozen=True, slots=True)
class _Bot:
    bot: Bot
    me: BotIdentity


@dataclass(frozen=True, slots=True)
class _Channel:
    adapter: TelegramAdapter
    updates: Counter  # labelled by kind: message, command, callback_query, ignored, expired


_BOT = web.AppKey("telegram_bot", _Bot)
CHANNEL = web.AppKey("telegram_channel", _Channel)
_UPDATES = web.AppKey("telegram_updates", Counter)


def add_channel(app: web.Application) -> None:
    """Register the route and the sender, if Telegram is configured."""
    if app[SETTINGS].telegram is None:
        return
    app[_UPDATES] = Counter("parley_telegram_updates", "Telegram webhook updates by kind",
                            ["kind"], registry=app[METRICS].registry)
    app.router.add_post(PATH, _webhook)
    add_header_check(app, PATH, _secret_first)  # a stranger's body is never read
    # The bot connects first of all: a rejected token or an unreachable API stops start-up
    # before anything else is opened. It is closed last, after the dispatcher's final
    # deliveries.
    app.cleanup_ctx.insert(0, _bot)
    app.cleanup_ctx.append(_channel)


def _chat_of(message: OutboundMessage) -> str:
    """Telegram's per-chat limit is the chat's, whatever forum topic a reply goes to."""
    return ":".join(message.conversation_id.split(":", 3)[:3])


async def _bot(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].telegram
    assert settings is not None  # the context is only added when it is configured
    with redacted_logs(settings.bot_token):
        bot = make_bot(settings.bot_token, settings.api_url)
        try:
            me = await connect(bot)
        except TelegramSetupError as exc:
            raise GatewaySettingsError(str(exc)) from None
        try:
            if str(me.id) != settings.bot_id:
                raise GatewaySettingsError("PARLEY_TELEGRAM_BOT_TOKEN: getMe answered for "
                                           "another bot than the token names")
            app[_BOT] = _Bot(bot, me)
            yield
        finally:
            await bot.shutdown()


async def _channel(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].telegram
    assert settings is not None
    bot, me = app[_BOT].bot, app[_BOT].me
    adapter = TelegramAdapter(bot=bot, me=me, secret=settings.webhook_secret,
                              state=TelegramState(app[REDIS], retention_seconds=app[
                                  SETTINGS].retention.conversation_seconds),
                              start_payload=settings.start_payload)
    app[CHANNEL] = _Channel(adapter, app[_UPDATES])
    app[SENDERS]["telegram"] = adapter
    app[PACERS]["telegram"] = SendPacer(per_chat=1.0, overall=30.0, chat_of=_chat_of)
    _log.info("Telegram bot @%s (%d) ready at %s", me.username, me.id, PATH)
    yield


def _secret_first(request: web.Request) -> None:
    """The secret token is a header: checked before anything reads the body."""
    request.app[CHANNEL].adapter.verify(request.headers)


async def _webhook(request: web.Request) -> web.StreamResponse:
    channel = request.app[CHANNEL]
    adapter = channel.adapter
    adapter.verify(request.headers)  # _secret_first did, before the body was read
    update = adapter.parse(await request.read())
    message = await adapter.resolve(update)
    if message is not None:
        await request.app[INGRESS].accept(message)
    expired = update.message is not None and message is None
    channel.updates.labels("expired_button" if expired else update.kind).inc()
    answer = adapter.webhook_answer(update, enqueued=message is not None)
    if answer is None:
        # Empty text/plain: Telegram performs a method call only given in JSON or a form.
        return web.Response(status=200, text="")
    return web.json_response(answer)
