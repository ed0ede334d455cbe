"""How the gateway serves Slack (the platform itself: ``channels/slack/``).

- ``routes``: ``add_channel``, the Events API and interactivity routes, the sender and its
  pacer, when Slack is configured;
- ``settings``: ``SlackSettings``, the ``PARLEY_SLACK_*`` variables (README, "Slack").

The modules are not imported here: ``gateway.settings`` imports ``settings`` before the
app's keys, which ``routes`` needs, exist (``gateway.platforms`` imports ``routes``).
"""

__all__ = ["routes", "settings"]
