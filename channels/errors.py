"""Errors of channel adapters; nothing above ``channels/`` sees an SDK or HTTP exception.

    ChannelError
    ├── BadRequest          the platform's request is malformed (→ 400, nothing enqueued)
    ├── Unauthorized        missing or wrong signature/token, or stale timestamp (→ 401)
    ├── Unavailable         a platform API the request needs is down (→ 503: it redelivers)
    └── SendError           a reply could not be delivered
        ├── TransientSendError   worth retrying (timeouts, 429, 5xx); ``retry_after`` if told
        └── PermanentSendError   retrying cannot help (4xx other than 429, no callback URL)
"""

from __future__ import annotations

__all__ = ["BadRequest", "ChannelError", "PermanentSendError", "SendError",
           "TransientSendError", "Unauthorized", "Unavailable"]


class ChannelError(Exception):
    """Root of the channel errors."""


class BadRequest(ChannelError):
    pass


class Unauthorized(ChannelError):
    pass


class Unavailable(ChannelError):
    pass


class SendError(ChannelError):
    pass


class TransientSendError(SendError):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[TransientSendError], tuple[str, float | None]]:
        return (type(self), (str(self), self.retry_after))


class PermanentSendError(SendError):
    pass
