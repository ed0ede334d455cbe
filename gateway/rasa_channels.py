"""Rasa's channels in ``credentials.yml`` and what each is in Parley.

The keys are those Rasa 3.6's input channels read in ``from_credentials``
(``rasa/core/channels/<name>.py``). A key with a Parley meaning becomes the ``PARLEY_*``
variable of the same setting (``SECTIONS[name].variables``); the others get a clause in
the section's one notice line saying what Parley does instead (``notes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CHANNEL_PREFIXES", "REQUIRED", "SECTIONS", "UNSUPPORTED", "RasaChannel"]


@dataclass(frozen=True, slots=True)
class RasaChannel:
    """``channel``: Parley's channel this section configures."""

    channel: str
    variables: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    summary: str | None = None  # said whenever the section is present


_SLACK_REPLIES = "Parley answers where the person wrote (the channel, or the thread)"
SECTIONS: dict[str, RasaChannel] = {
    "slack": RasaChannel(
        channel="slack",
        variables={"slack_token": "PARLEY_SLACK_BOT_TOKEN",
                   "slack_signing_secret": "PARLEY_SLACK_SIGNING_SECRET"},
        notes={"slack_channel": _SLACK_REPLIES + ", not to one fixed channel",
               "use_threads": _SLACK_REPLIES,
               "conversation_granularity": ("a conversation is a channel or a thread "
                                            "(slack:<team>:<channel>[:<thread>])"),
               "proxy": "not supported (no proxy for the Slack Web API)",
               "slack_retry_reason_header": "Slack's retries are deduplicated on event_id",
               "slack_retry_number_header": "Slack's retries are deduplicated on event_id",
               "errors_ignore_retry": "Slack's retries are deduplicated on event_id"}),
    "telegram": RasaChannel(
        channel="telegram",
        variables={"access_token": "PARLEY_TELEGRAM_BOT_TOKEN"},
        notes={"verify": "Parley learns the bot's username from getMe",
               "webhook_url": ("register the webhook with `parley telegram set-webhook "
                               "https://<host>/channels/telegram` (Parley's path), which also "
                               "gives Telegram PARLEY_TELEGRAM_WEBHOOK_SECRET")}),
    "twilio": RasaChannel(
        channel="whatsapp",
        variables={"account_sid": "PARLEY_TWILIO_ACCOUNT_SID",
                   "auth_token": "PARLEY_TWILIO_AUTH_TOKEN",
                   "twilio_number": "PARLEY_WHATSAPP_FROM"}),
    "rest": RasaChannel(
        channel="website webhook",
        summary=("Parley's website webhook (POST /channels/web/messages) takes the REST "
                 "channel's place: it needs PARLEY_WEB_SECRET or PARLEY_WEB_TOKEN, and "
                 "replies go to PARLEY_WEB_CALLBACK_URL instead of the HTTP answer")),
    "socketio": RasaChannel(
        channel="website chat",
        summary=("Parley's chat page and widget (/widget.js, WebSocket or long-poll) take "
                 "the Socket.IO channel's place with a protocol of their own"),
        notes={"user_message_evt": "not used", "bot_message_evt": "not used",
               "namespace": "not used", "socketio_path": "not used",
               "metadata_key": "not used",
               "session_persistence": ("sessions always persist (PARLEY_SESSION_DAYS, "
                                       "history included)"),
               "jwt_key": "sessions are signed with PARLEY_SESSION_SECRET instead",
               "jwt_method": "sessions are signed with PARLEY_SESSION_SECRET instead"}),
}

# Rasa's other built-in channels: one notice each, naming the channel (and the nearest
# thing Parley has, if any).
UNSUPPORTED: dict[str, tuple[str, str | None]] = {
    "rasa": ("Rasa X / Rasa Enterprise", "Parley's agent desk is at /desk"),
    "facebook": ("Facebook Messenger", None),
    "mattermost": ("Mattermost", None),
    "rocketchat": ("Rocket.Chat", None),
    "callback": ("callback", "the website webhook with PARLEY_WEB_CALLBACK_URL is the "
                 "nearest, with its own body format and signature"),
    "botframework": ("Microsoft Bot Framework", None),
    "hangouts": ("Google Hangouts Chat", None),
    "webexteams": ("Webex Teams", None),
    "twilio_voice": ("Twilio Voice", None),
    "cmdline": ("command-line", "use `parley shell BOTDIR`"),
}

# What each Parley channel needs before it can be on: every group, one variable of each.
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "slack": (("PARLEY_SLACK_SIGNING_SECRET",),
              ("PARLEY_SLACK_BOT_TOKEN", "PARLEY_SLACK_BOT_TOKENS")),
    "telegram": (("PARLEY_TELEGRAM_BOT_TOKEN",), ("PARLEY_TELEGRAM_WEBHOOK_SECRET",)),
    "whatsapp": (("PARLEY_TWILIO_ACCOUNT_SID",), ("PARLEY_TWILIO_AUTH_TOKEN",),
                 ("PARLEY_WHATSAPP_FROM",), ("PARLEY_WHATSAPP_PUBLIC_URL",)),
    "website webhook": (("PARLEY_WEB_SECRET", "PARLEY_WEB_TOKEN"),),
    "website chat": (),
}

# The variables of a channel, by prefix: any of them set in the environment means the
# environment configures that channel too.
CHANNEL_PREFIXES: dict[str, tuple[str, ...]] = {
    "slack": ("PARLEY_SLACK_",),
    "telegram": ("PARLEY_TELEGRAM_",),
    "whatsapp": ("PARLEY_TWILIO_", "PARLEY_WHATSAPP_"),
    "website webhook": ("PARLEY_WEB_SECRET", "PARLEY_WEB_TOKEN", "PARLEY_WEB_CALLBACK_URL"),
    "website chat": (),
}
