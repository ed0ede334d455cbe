"""``parley review export`` as a user runs it: the desk's labels (in the bot folder's
parley.db) become ``data/reviewed_nlu.yml``, which the bot's loader reads back exactly and
``parley train`` learns from; duplicates are skipped, conflicts reported with the existing
example's file and line and left out, and a second export changes nothing."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from brain.nlu import load_model, load_training_data
from desk.accounts import Accounts
from desk.database import database_url, open_database, upgrade
from desk.review import label
from desk.schema import ConversationRow, TurnRow
from gateway.cli import main

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# (text, verdict, intent, entities): the parse said "greet" for each, at 0.3
LABELS: list[tuple[str, str, str | None, list[dict[str, Any]] | None]] = [
    ("i want my money back", "relabel", "refund", []),
    ("refund my order please", "relabel", "refund", []),
    ("give me a refund for ORD-12345", "relabel", "refund",
     [{"start": 21, "end": 30, "entity": "order_id"}]),
    ("send it to deutschland", "relabel", "ship_to",
     [{"start": 11, "end": 22, "entity": "country", "value": "Germany"}]),
    ("  ship to [the] moon  ", "relabel", "ship_to", []),        # brackets, no markup: kept
    ("see [this](thing) now", "relabel", "greet", []),           # would read as markup
    ("Track  my PACKAGE", "relabel", "order_status", []),        # already in nlu.yml
    ("hello bot", "relabel", "goodbye", []),                     # nlu.yml has it as greet
    ("cancel it", "relabel", "refund", []),                      # two labels disagree
    ("CANCEL it", "relabel", "goodbye", []),
    ("hey you", "correct", None, None),                          # the bot was right
]


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _parley(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """``parley ARGS`` in this process (a subprocess would spend seconds importing)."""
    try:
        status = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Ran(status, out, err)


async def _label_all(bot: Path) -> None:
    url = database_url(None, bot)
    await upgrade(url)
    async with open_database(url) as db:
        sue = (await Accounts(db, hasher=PasswordHasher(time_cost=1, memory_cost=8,
                                                         parallelism=1)).add_user(
            "sue@example.com", "supervisor")).user
        async with db.sessions.begin() as session:
            session.add(ConversationRow(id="web:s:1", channel="web", user_id="u", first_at=T0,
                                        last_at=T0))
            await session.flush()
            session.add_all([TurnRow(
                conversation_id="web:s:1", sequence=n, channel="web", kind="message",
                user_message=True, message_id=f"m{n}", at=T0 + timedelta(seconds=n), text=text,
                intent="greet", confidence=0.3, model="m",
                record={"parse": {"intent": {"name": "greet", "confidence": 0.3},
                                  "entities": []}})
                for n, (text, *_) in enumerate(LABELS, start=1)])
        for n, (_, verdict, intent, entities) in enumerate(LABELS, start=1):
            await label(db, conversation_id="web:s:1", sequence=n, verdict=verdict,
                        intent=intent, entities=entities, reviewer=sue)


def test_labels_become_training_data_that_train_uses(
        tiny_bot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bot = tmp_path / "bot"
    shutil.copytree(tiny_bot, bot)
    asyncio.run(_label_all(bot))

    first = _parley(capsys, "review", "export", str(bot))
    assert first.returncode == 1, first.stderr  # conflicts were left out
    assert "Traceback" not in first.stderr
    err = first.stderr
    assert "'hello bot' is labelled goodbye, but bot/data/nlu.yml:10 has it under greet" in err
    assert "labels disagree on 'cancel it'" in err
    assert "duplicate: label web:s:1#7: 'Track  my PACKAGE' is already at bot/data/nlu.yml" \
           in err
    assert "skipped: label web:s:1#6: 'see [this](thing) now' holds brackets" in err
    assert "6 new examples" in first.stdout and "new intents: refund" in first.stdout

    out = bot / "data" / "reviewed_nlu.yml"
    written = out.read_text()
    assert "    - give me a refund for [ORD-12345](order_id)\n" in written
    assert "    - ship to [the] moon\n" in written
    assert '    - send it to [deutschland]{"entity": "country", "value": "Germany"}\n' in written
    data = load_training_data(bot)  # the whole bot still loads, with the reviewed examples
    reviewed = {(e.text, e.intent, tuple((a.start, a.end, a.entity) for a in e.entities))
                for e in data.examples if e.path == "bot/data/reviewed_nlu.yml"}
    assert reviewed == {
        ("i want my money back", "refund", ()), ("refund my order please", "refund", ()),
        ("give me a refund for ORD-12345", "refund", ((21, 30, "order_id"),)),
        ("ship to [the] moon", "ship_to", ()), ("hey you", "greet", ()),
        ("send it to deutschland", "ship_to", ((11, 22, "country"),))}
    assert data.synonyms["deutschland"] == "Germany"
    assert not any(e.text in ("hello bot", "cancel it") and e.intent != "greet"
                   for e in data.examples)

    again = _parley(capsys, "review", "export", str(bot))
    assert again.returncode == 1 and "unchanged" in again.stdout
    assert "0 new examples (6 in the file), 6 exported before, 1 duplicates skipped" in \
        again.stdout
    assert out.read_text() == written

    model = tmp_path / "model.tar.gz"
    trained = _parley(capsys, "train", str(bot), "--out", str(model), "--seed", "3")
    assert trained.returncode == 0, trained.stderr
    nlu = load_model(model)
    assert "refund" in nlu.meta["intents"]
    assert nlu.meta["data_fingerprint"] == data.fingerprint()
    assert nlu.parse("i want my money back")["intent"]["name"] == "refund"


def test_user_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = _parley(capsys, "review", "export", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "is not a bot folder" in missing.stderr
    bad_day = _parley(capsys, "review", "export", str(tmp_path), "--from", "yesterday")
    assert bad_day.returncode == 2 and "YYYY-MM-DD" in bad_day.stderr
    no_desk = _parley(capsys, "review", "export", str(tmp_path))
    assert no_desk.returncode == 2 and "parley.db does not exist" in no_desk.stderr
    assert not (tmp_path / "parley.db").exists()


def test_an_output_file_with_more_than_intents_is_refused(
        tiny_bot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bot = tmp_path / "bot"
    shutil.copytree(tiny_bot, bot)
    asyncio.run(upgrade(database_url(None, bot)))
    mine = bot / "data" / "reviewed_nlu.yml"
    mine.write_text('version: "3.1"\nnlu:\n- synonym: refund\n  examples: |\n    - money back\n')
    refused = _parley(capsys, "review", "export", str(bot))
    assert refused.returncode == 2 and "bot/data/reviewed_nlu.yml:1: parley review export " \
        "rewrites this file, so it may hold only 'nlu:' intent examples" in refused.stderr
    assert "synonym: refund" in mine.read_text()
    # Elsewhere (--out), that file is just the bot's data; with no labels nothing is written.
    elsewhere = tmp_path / "out" / "reviewed.yml"
    empty = _parley(capsys, "review", "export", str(bot), "--out", str(elsewhere))
    assert empty.returncode == 0 and "not written; 0 labels" in empty.stdout
    assert not elsewhere.exists()
