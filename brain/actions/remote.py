"""Actions run on the bot's Rasa action server (``endpoints.yml``'s ``action_endpoint``),
through ``integrations.action_server``: short timeouts, no retry of a request the server
may have acted on, a breaker. Which actions: those the domain lists under ``actions:``
that the bot folder does not define, as in Rasa (``brain.actions.registry``)."""

from __future__ import annotations

from typing import Any

from brain.actions.rasa_protocol import ActionRejected, RasaResult
from brain.endpoints_settings import ActionEndpoint
from integrations.action_server import ActionServerClient
from integrations.errors import BackendRejected
from integrations.observer import BackendObserver
from integrations.policy import Timeouts

__all__ = ["RemoteRasaActions"]


class RemoteRasaActions:
    def __init__(self, endpoint: ActionEndpoint, *, observer: BackendObserver | None = None
                 ) -> None:
        self.endpoint = endpoint
        self.client = ActionServerClient(
            url=endpoint.url, token=endpoint.token, token_name=endpoint.token_name,
            timeouts=Timeouts(connect=min(1.0, endpoint.timeout), read=endpoint.timeout),
            observer=observer)

    def __repr__(self) -> str:
        return f"RemoteRasaActions(url={self.endpoint.url!r})"

    def run(self, call: dict[str, Any]) -> RasaResult:
        """Raises ``ActionRejected`` on a 400, the integration errors otherwise."""
        try:
            answer = self.client.run(call)
        except BackendRejected as exc:
            if exc.status == 400:  # rasa_sdk's answer to ActionExecutionRejection
                raise ActionRejected(exc.message) from exc
            raise
        return RasaResult(answer.events, answer.responses)
