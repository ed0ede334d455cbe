"""What running a Rasa action means to Parley, however it runs (in-process or on an action
server): a call in Rasa's JSON (``rasa_tracker_state.action_call``) in, Rasa event dicts
and response dicts out, or a rejection (Rasa's ``ActionExecutionRejection``; HTTP 400)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["ActionRejected", "RasaActions", "RasaResult"]


@dataclass(frozen=True, slots=True)
class RasaResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


class ActionRejected(Exception):
    """The action refused to run (a form's validation: "nothing to take here")."""


class RasaActions(Protocol):
    """Runs the Rasa action ``call["next_action"]``; raises ``ActionRejected``, or anything
    else when it failed."""

    def run(self, call: dict[str, Any]) -> RasaResult: ...
