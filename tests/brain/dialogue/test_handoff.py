"""The bot's side of a handoff: what it says for each offer, a custom action's handoff
with a team, withdrawal while waiting (not once a person holds it), the one
acknowledgement on an offline ticket, and the end of a handoff."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from brain.actions import load_actions
from brain.dialogue.domain_reader import load_domain
from brain.dialogue.engine import DialogueEngine, TurnResult
from brain.dialogue.events import UserUttered
from brain.dialogue.handoff import BOT, HandoffOffer, Ownership
from brain.dialogue.rules import load_rules
from brain.dialogue.tracker import Tracker

from .conftest import BOT, parse

VIP_ACTION = '''
from brain.actions import ActionContext, action
from brain.dialogue.events import HandoffStarted


@action("action_vip_desk")
def vip_desk(context: ActionContext):
    return [HandoffStarted(reason="vip customer", team="billing")]
'''
VIP_RULE = """
- rule: vip goes to a person at once
  steps:
  - intent: greet
  - action: action_vip_desk
"""


class Desk:
    """A desk that offers what the test says and records what it was asked."""

    def __init__(self, offer: HandoffOffer) -> None:
        self.offer_made = offer
        self.asked: list[dict[str, Any]] = []

    def offer(self, *, requested_team: str, intent: str | None, slots: Mapping[str, Any],
              channel: str | None) -> HandoffOffer:
        self.asked.append({"team": requested_team, "intent": intent, "channel": channel})
        return HandoffOffer(team=requested_team or self.offer_made.team,
                            available=self.offer_made.available,
                            position=self.offer_made.position,
                            wait_seconds=self.offer_made.wait_seconds,
                            hours=self.offer_made.hours)


def _engine(folder: Path, desk: Desk) -> DialogueEngine:
    return DialogueEngine(load_domain(folder), load_rules(folder), load_actions(folder),
                          desk=desk)


class Conversation:
    def __init__(self, engine: DialogueEngine) -> None:
        self.engine = engine
        self.tracker = Tracker("test:handoff", engine.domain.initial_slots())
        self.n = 0

    def say(self, intent: str, owner: Ownership = BOT) -> TurnResult:
        self.n += 1
        message = UserUttered(timestamp=1000.0 + self.n, text=intent, parse=parse(intent),
                              message_id=f"m{self.n}")
        return self.engine.handle(self.tracker, message, channel="webchat", owner=owner)


def _texts(turn: TurnResult) -> list[str]:
    return [m.text for m in turn.messages]


def test_someone_there_the_queue_place_and_the_wait_are_said() -> None:
    desk = Desk(HandoffOffer(team="support", available=True, position=3, wait_seconds=250))
    talk = Conversation(_engine(BOT, desk))
    turn = talk.say("talk_to_human")
    assert turn.handoff is not None and (turn.handoff.kind, turn.handoff.team,
                                         turn.handoff.offline) == ("requested", "support", False)
    (text,) = _texts(turn)
    assert "number 3 in the queue" in text and "about 4 minutes" in text
    assert desk.asked == [{"team": "", "intent": "talk_to_human", "channel": "webchat"}]
    assert talk.tracker.handoff


def test_nobody_there_the_truth_and_a_way_back_then_one_acknowledgement() -> None:
    desk = Desk(HandoffOffer(team="billing", available=False, hours="Mon–Fri 09:00–17:00"))
    talk = Conversation(_engine(BOT, desk))
    turn = talk.say("talk_to_human")
    assert turn.handoff is not None and turn.handoff.offline
    (message,) = turn.messages
    assert "Nobody from our billing team is available right now" in message.text
    assert "Mon–Fri 09:00–17:00" in message.text and "in the queue" not in message.text
    assert message.buttons == ({"title": "Back to the bot", "payload": "/handoff_cancel"},)
    waiting = Ownership("queued", epoch=1, handoff="h1", offline=True, team="billing")
    assert _texts(talk.say("inform", waiting)) == ["Thanks, your message is kept for the team."]
    assert _texts(talk.say("inform", waiting)) == []  # once, not on every message


def test_a_custom_actions_handoff_goes_to_its_team_and_is_said_once(tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    shutil.copytree(BOT, folder, ignore=shutil.ignore_patterns("__pycache__", "models"))
    (folder / "actions.py").write_text((BOT / "actions.py").read_text() + VIP_ACTION)
    domain = (folder / "domain.yml").read_text()
    (folder / "domain.yml").write_text(domain.replace("actions: [", "actions: [action_vip_desk, "))
    rules = (folder / "data" / "rules.yml").read_text()
    (folder / "data" / "rules.yml").write_text(
        rules.replace("- rule: greet\n  steps:\n  - intent: greet\n  - action: utter_greet\n", "")
        + VIP_RULE)
    desk = Desk(HandoffOffer(team="support", available=True))
    talk = Conversation(_engine(folder, desk))
    turn = talk.say("greet")
    assert turn.handoff is not None
    assert (turn.handoff.team, turn.handoff.reason) == ("billing", "vip customer")
    assert desk.asked[0]["team"] == "billing"
    assert len(turn.messages) == 1 and "billing team" in turn.messages[0].text
    assert talk.tracker.handoff


def test_withdrawal_while_waiting_but_not_once_a_person_holds_it() -> None:
    talk = Conversation(_engine(BOT, Desk(HandoffOffer(team="support", available=True))))
    talk.say("talk_to_human")
    held = Ownership("agent", epoch=2, handoff="h1", team="support")
    silent = talk.say("cancel", held)
    assert (silent.messages, silent.handoff) == ((), None) and talk.tracker.handoff
    waiting = Ownership("queued", epoch=1, handoff="h1", team="support")
    back = talk.say("cancel", waiting)
    assert back.handoff is not None and back.handoff.kind == "withdrawn"
    assert back.actions == ("action_handoff_cancel",)
    assert _texts(back) == ["OK, you're back with the bot. How can I help?"]
    assert not talk.tracker.handoff
    assert _texts(talk.say("greet")) in (["Hello!"], ["Hi there!"])


@pytest.mark.parametrize(("reason", "said"), [
    ("handed_back", "You're back with the bot."),
    ("closed", "This conversation with our team is closed."),
    ("timeout", "Sorry, nobody from the team could take this chat in time."),
])
def test_the_end_of_a_handoff_gives_the_bot_its_voice_back(reason: str, said: str) -> None:
    talk = Conversation(_engine(BOT, Desk(HandoffOffer(team="support", available=True))))
    talk.say("talk_to_human")
    ended = talk.engine.end_handoff(talk.tracker, {"reason": reason, "slots": {"name": "Ada",
                                                                               "nope": 1}},
                                    now=2000.0)
    assert _texts(ended)[0].startswith(said)
    assert not talk.tracker.handoff and talk.tracker.slots["name"] == "Ada"
    assert "nope" not in talk.tracker.slots  # not a slot of the domain
    again = talk.engine.end_handoff(talk.tracker, {"reason": reason}, now=2001.0)
    assert again.messages == ()  # ended once: a second end says nothing
