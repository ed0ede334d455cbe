"""``parley nlu compare``: the gate refuses a worse model, passes an equal one, keeps
training examples out of the test set, and answers a user's mistakes with exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model
from brain.nlu.config import NluConfig
from gateway.cli import main

# Held out: none of these is a training example of the tiny bot, except "hi" (left out).
HELD_OUT = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello there
    - hi bot
    - hey hey
    - good morning bot
    - hi there
    - hi
- intent: order_status
  examples: |
    - where is my package
    - track order [55821](order_id)
    - has my order shipped
    - when does my parcel arrive
    - status of my order please
- intent: ship_to
  examples: |
    - do you ship to [portugal](country)
    - can you deliver to [norway](country)
    - shipping to [japan](country) possible
    - do you deliver abroad
    - can i get it delivered to [mexico](country)
- intent: goodbye
  examples: |
    - bye now
    - see you
    - goodbye bot
    - talk later
    - have a good night
"""


@pytest.fixture(scope="module")
def bot(tiny_bot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compare") / "tiny_bot"
    shutil.copytree(tiny_bot, folder)
    (folder / "train_test_split").mkdir()
    (folder / "train_test_split" / "test_data.yml").write_text(HELD_OUT)
    return folder


def _train(bot: Path, out: Path, config: NluConfig | None = None) -> Path:
    model = train_model(load_training_data(bot), config or load_nlu_config(bot), seed=0)
    return save_model(model, out)


@pytest.fixture(scope="module")
def good(bot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(bot, tmp_path_factory.mktemp("good") / "good.tar.gz")


@pytest.fixture(scope="module")
def worse(bot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained on a copy of the bot that keeps one ship_to example of ten."""
    copy = tmp_path_factory.mktemp("worse") / "tiny_bot"
    shutil.copytree(bot, copy)
    nlu = copy / "data" / "nlu.yml"
    text = nlu.read_text()
    start = text.index("- intent: ship_to")
    nlu.write_text(text[:start] + "\n".join(text[start:].splitlines()[:3]) + "\n")
    return _train(copy, tmp_path_factory.mktemp("worse_model") / "worse.tar.gz")


def _compare(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["nlu", "compare", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_model_trained_without_most_ship_to_examples_is_refused(
        good: Path, worse: Path, bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _compare(capsys, str(good), str(worse), str(bot), "--min-support", "5")
    assert status == 1
    assert "20 examples tested" in out
    assert "left out 1 of 21 examples" in out  # "hi" is a training example
    assert "FAIL" in out and "intent ship_to: F1 1.000 → " in out
    row = next(line for line in out.splitlines() if line.startswith("│ ship_to"))
    assert "REGRESSED" in row

    status, out, _ = _compare(capsys, str(good), str(worse), str(bot), "--json")
    report = json.loads(out)
    assert status == 1 and report["passed"] is False and report["examples"] == 20
    rows = {r["intent"]: r for r in report["intents"]}
    assert rows["ship_to"]["regressed"] and rows["ship_to"]["support"] == 5
    assert rows["ship_to"]["new"]["recall"] < 0.5 <= rows["ship_to"]["old"]["recall"]
    assert not rows["order_status"]["regressed"]
    assert report["overall"]["accuracy"]["delta"] < -0.02
    # Only intents with enough held-out examples are gated; the overall scores still are.
    status, out, _ = _compare(capsys, str(good), str(worse), str(bot), "--json",
                              "--min-support", "6")
    assert status == 1
    assert not any(r["regressed"] for r in json.loads(out)["intents"])
    assert all(r.startswith(("accuracy", "macro_f1", "weighted_f1"))
               for r in json.loads(out)["regressions"])


def test_the_same_model_passes_on_the_file_and_retrained_on_folds(
        good: Path, bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _compare(capsys, str(good), str(good), str(bot))
    assert status == 0 and "PASS" in out
    status, out, _ = _compare(capsys, str(good), str(good), str(bot), "--folds", "2",
                              "--json")
    report = json.loads(out)
    assert status == 0 and report["method"] == "2-fold cross-validation"
    assert report["examples"] == 40 and report["regressions"] == []
    assert any("same config" in note for note in report["notes"])


def test_a_pipeline_that_cannot_learn_is_refused_on_a_retrained_split(
        good: Path, bot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The split mode retrains each model's recorded config on the same part of the data."""
    weak = _train(bot, tmp_path / "weak", NluConfig(classifier_c=0.001, ner_epochs=1))
    status, out, _ = _compare(capsys, str(good), str(weak), str(bot), "--test-split", "0.5",
                              "--json")
    report = json.loads(out)
    assert status == 1 and report["method"] == "hold-out split, 50% tested"
    assert report["examples"] == 20 and report["overall"]["macro_f1"]["delta"] < -0.1


def test_user_errors_exit_2_with_one_line(
        good: Path, bot: Path, tiny_bot: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "no Parley model at": (str(tmp_path / "missing.tar.gz"), str(good), str(bot)),
        "has no NLU data": (str(good), str(good), str(tmp_path), "--folds", "2"),
        "fewer than 11 examples": (str(good), str(good), str(bot), "--folds", "11"),
        "no held-out data": (str(good), str(good), str(tiny_bot)),
    }
    for expected, args in cases.items():
        status, out, err = _compare(capsys, *args)
        assert status == 2, (expected, out, err)
        assert err.startswith("parley: error: ") and expected in err, err
        assert len(err.strip().splitlines()) == 1 and out == ""


def test_a_model_that_may_have_seen_the_test_data_is_refused(
        bot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model from before training digests were recorded, trained on other data than the
    bot's today: nothing proves the test file is held out from it."""
    copy = tmp_path / "bot"
    shutil.copytree(bot, copy)
    (copy / "data" / "nlu.yml").write_text((copy / "data" / "nlu.yml").read_text()
                                           + "    - hello again\n")
    old = _train(copy, tmp_path / "old")          # a folder: its meta.json is editable
    meta = json.loads((old / "meta.json").read_text())
    del meta["example_digests"]
    (old / "meta.json").write_text(json.dumps(meta))
    status, _, err = _compare(capsys, str(old), str(old), str(bot))
    assert status == 2 and "cannot be shown to be held out" in err
    status, _, err = _compare(capsys, str(old), str(old), str(copy), "--data",
                              str(bot / "train_test_split" / "test_data.yml"))
    assert status == 0, err  # trained on exactly copy's data: its texts are known
