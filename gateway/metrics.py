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
        self.browser_sockets = Gauge("parley_webchat_sockets",
                                     "Browser WebSockets open on this gateway",
                                     registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
