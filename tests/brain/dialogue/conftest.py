from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from brain.actions import load_actions
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.engine import DialogueEngine, TurnResult
from brain.dialogue.events import UserUttered
from brain.dialogue.rules import load_rules
from brain.dialogue.tracker import Tracker
from tests.conftest import FIXTURES

BOT = FIXTURES / "bots" / "dialogue_bot"


@pytest.fixture(scope="session")
def dialogue_bot() -> Path:
    return BOT


@pytest.fixture(scope="session")
def engine() -> DialogueEngine:
    return DialogueEngine(load_domain(BOT), load_rules(BOT), load_actions(BOT))


@pytest.fixture
def tracker(engine: DialogueEngine) -> Tracker:
    return Tracker("test:1", engine.domain.initial_slots())


def parse(intent: str | None, text: str = "", *, confidence: float = 0.95,
          entities: dict[str, Any] | None = None, ranking: list[str] | None = None,
          fallback: bool = False) -> dict[str, Any]:
    names = ranking or [intent]
    return {"text": text, "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": confidence / (i + 1)}
                               for i, n in enumerate(names)],
            "entities": [{"entity": k, "value": v, "text": str(v), "start": 0, "end": 0,
                          "confidence": 1.0, "extractor": "test"}
                         for k, v in (entities or {}).items()],
            "nlu_fallback": fallback, "ambiguous": False, "fallback_reason": None}


Say = Callable[..., TurnResult]


@pytest.fixture
def say(engine: DialogueEngine, tracker: Tracker) -> Say:
    counter = iter(range(1, 10_000))

    def _say(intent: str | None, text: str = "", channel: str | None = None,
             **kwargs: Any) -> TurnResult:
        n = next(counter)
        message = UserUttered(timestamp=1_000.0 + n, text=text or str(intent),
                              parse=parse(intent, text or str(intent), **kwargs),
                              message_id=f"m{n}")
        return engine.handle(tracker, message, channel=channel)

    return _say


def texts(turn: TurnResult) -> list[str]:
    return [m.text for m in turn.messages]
