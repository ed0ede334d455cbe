"""The terminal chat of ``parley shell``: interactive, or JSON lines when piped.

Piped, every input line gives one JSON object on stdout:
``{"user", "intent", "confidence", "bot": [{"text", "buttons"}], "slots", "active_form",
"handoff"}``. ``/payload X`` presses a button with payload X; ``/restart``, ``/slots`` and
``/tracker`` are commands in both modes (``/handback`` ends a handoff). Interactive, lines
can be edited and recalled (``line_editing``); piped, input is taken as it is.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.markup import escape

from brain.bot import Bot
from brain.dialogue.events import HandoffEnded

if TYPE_CHECKING:
    from gateway.cli.line_editing import LineEditor

__all__ = ["run_interactive", "run_piped"]

_CONVERSATION = "shell:local:1"


class _Session:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.tracker = bot.new_tracker(_CONVERSATION)
        self._ids = itertools.count(1)

    def command(self, line: str) -> dict[str, Any] | None:
        """Handle a shell command; ``None`` if ``line`` is a message for the bot."""
        if line == "/restart":
            self.tracker = self.bot.new_tracker(_CONVERSATION)
            return {"user": line, "restarted": True}
        if line == "/slots":
            return {"user": line, "slots": self.tracker.slots}
        if line == "/tracker":
            return {"user": line, "tracker": json.loads(self.tracker.to_json())}
        if line == "/handback":
            self.tracker.apply(HandoffEnded())
            return {"user": line, "handoff": self.tracker.handoff}
        return None

    def say(self, line: str) -> dict[str, Any]:
        text = line[len("/payload "):].strip() if line.startswith("/payload ") else line
        turn = self.bot.respond(self.tracker, text, channel="shell",
                                message_id=f"{_CONVERSATION}:{next(self._ids)}")
        message = self.tracker.latest_message
        intent = message.parse.get("intent", {}) if message else {}
        return {"user": line, "intent": intent.get("name"),
                "confidence": intent.get("confidence"),
                "bot": [{"text": m.text, "buttons": list(m.buttons)} for m in turn.messages],
                "slots": dict(self.tracker.slots), "active_form": self.tracker.active_form,
                "handoff": self.tracker.handoff}


def run_piped(bot: Bot, lines: Iterable[str], out: TextIO) -> None:
    session = _Session(bot)
    for raw in lines:
        line = raw.rstrip("\r\n")
        result = session.command(line) or session.say(line)
        out.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
        out.flush()


def run_interactive(bot: Bot, console: Console) -> None:
    """Chat in a terminal, with line editing and history (Up recalls earlier messages)."""
    from gateway.cli.line_editing import LineEditor

    console.print("[bold]Parley shell[/bold] — type a message; /restart, /slots, /tracker, "
                  "/handback; a number presses a button; Up/Down recall earlier lines; "
                  "Ctrl-D quits.")
    with console.capture() as prompt:  # rich decides colour (NO_COLOR, TERM=dumb)
        console.print("[bold cyan]you>[/bold cyan] ", end="")
    with LineEditor(prompt.get()) as editor:
        _chat(_Session(bot), editor, console)


def _chat(session: _Session, editor: LineEditor, console: Console) -> None:
    buttons: list[dict[str, str]] = []
    while True:
        try:
            line = editor.read().strip()
        except EOFError:
            console.print()
            return
        if line.isascii() and line.isdigit() and 0 < int(line) <= len(buttons):
            line = f"/payload {buttons[int(line) - 1]['payload']}"
        result = session.command(line)
        if result is not None:
            console.print_json(json.dumps(result, default=str))
            continue
        reply = session.say(line)
        buttons = []
        for message in reply["bot"]:
            # escaped: a bot text with brackets is text, not rich markup (or a MarkupError)
            console.print(f"[bold green]bot>[/bold green] {escape(message['text'])}")
            for button in message["buttons"]:
                buttons.append(button)
                console.print(f"      [{len(buttons)}] {escape(button['title'])}")
        if reply["handoff"]:
            console.print("[dim](handed over to a person: the bot stays silent; /handback)[/dim]")
