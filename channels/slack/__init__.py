"""Slack: the Events API and interactivity (button clicks) in over HTTP, through
slack-bolt; ``chat.postMessage`` out, with one bot token per workspace. Creating the Slack
app, its scopes and Request URLs: README, "Messaging channels" → "Slack".

- ``adapter``: ``SlackAdapter`` (verify, parse, dispatch through bolt, send) and the v0
  request signature (``sign``, ``verify_signature``);
- ``parse``: Slack's payloads → ``InboundMessage`` (pure; what is not taken is skipped);
- ``render``: ``OutboundMessage`` → one ``chat.postMessage`` call (Block Kit).

How the gateway serves it: ``gateway/slack/``.
"""

from channels.slack.adapter import SlackAdapter, sign, verifier, verify_signature

__all__ = ["SlackAdapter", "sign", "verifier", "verify_signature"]
