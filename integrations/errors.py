"""Errors of backend clients; SDK and HTTP exceptions never leave this package.

    IntegrationError
    ├── BackendUnavailable   timeouts, connection errors, 429/5xx after retries, breaker open
    ├── BackendRejected      the backend refused the request (4xx); carries the status
    │   └── NotFound         404
    └── SettingsError        a PARLEY_* variable for a client is missing or malformed
"""

from __future__ import annotations

__all__ = ["BackendRejected", "BackendUnavailable", "IntegrationError", "NotFound",
           "SettingsError"]


class IntegrationError(Exception):
    """Root of the integration errors."""


class BackendUnavailable(IntegrationError):
    """The backend could not be reached or kept failing; try again later."""


class BackendRejected(IntegrationError):
    """The backend answered with a client error; retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"backend rejected the request ({status}): {message}")

    def __reduce__(self) -> tuple[type[BackendRejected], tuple[int, str]]:
        return (type(self), (self.status, self.message))


class NotFound(BackendRejected):
    """The backend has no such resource."""


class SettingsError(IntegrationError):
    """A client's configuration in the environment is missing or malformed."""
