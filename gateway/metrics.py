"""The gateway's Prometheus metrics, served at ``/metrics``.

One registry per application (not the process-global default), so two apps in one
process (tests) never share counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["GatewayMetrics"]


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.inbound = Counter("parley_inbound_messages", "Inbound messages by outcome",
                               ["channel", "outcome"], registry=self.registry)
        self.delivered = Counter("parley_replies_delivered", "Replies the channel accepted",
                                 ["channel"], registry=self.registry)
        self.send_retries = Counter("parley_reply_send_retries",
                                    "Failed reply sends that will be retried", ["channel"],
                                    registry=self.registry)
        self.dead_lettered = Counter("parley_replies_dead_lettered",
                                     "Replies given up on and moved to the dead-letter stream",
                                     ["channel"], registry=self.registry)
        self.replies_lost = Counter(
            "parley_replies_lost",
            "Replies that left the outbound stream before any dispatcher delivered them",
            registry=self.registry)
        self.replies_superseded = Counter(
            "parley_replies_superseded",
            "Bot replies dropped at send time because a person took the conversation",
            registry=self.registry)
        self.replies_claimed = Counter(
            "parley_replies_claimed",
            "Pending replies taken over from another dispatcher, by why",
            ["reason"], registry=self.registry)
        self.dispatcher_restarts = Counter(
            "parley_dispatcher_restarts",
            "Times the outbound dispatcher's reading stopped on an error and was restarted",
            registry=self.registry)
        self.browser_sockets = Gauge("parley_webchat_sockets",
                                     "Browser WebSockets open on this gateway",
                                     registry=self.registry)
        # reason: too_large, body_timeout, body_incomplete, sessions_rate, sockets_rate,
        # sockets_open (gateway/request_limits.py, gateway/client_limits.py). Connections
        # cut by the header deadline are not counted: aiohttp closes them itself.
        self.refused = Counter("parley_requests_refused",
                               "Requests refused by a limit on slow or greedy clients",
                               ["reason"], registry=self.registry)
        self.limiter_unavailable = Counter(
            "parley_rate_limit_unavailable",
            "Rate-limit checks let through unchecked because Redis could not be asked",
            registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
