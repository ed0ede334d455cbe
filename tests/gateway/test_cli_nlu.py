"""The ``parley`` command end to end, as a user runs it: train, parse, evaluate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _parley(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=240, check=False)


@pytest.fixture(scope="module")
def trained(tiny_bot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "tiny.tar.gz"
    result = _parley("train", str(tiny_bot), "--out", str(out), "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "entity recogniser" in result.stderr and "loss" in result.stderr
    return out


def test_parse_writes_one_json_line_per_input_line(trained: Path) -> None:
    result = _parley("nlu", "parse", "--model", str(trained), "--reference-time",
                     "2026-11-25T10:00:00+01:00", stdin="hi\n\nwhere is ORD-55821\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["text"] for p in lines] == ["hi", "", "where is ORD-55821"]
    assert lines[0]["intent"]["name"] == "greet"
    assert lines[1]["fallback_reason"] == "empty"
    assert lines[2]["entities"][0]["value"] == "ORD-55821"


def test_evaluate_writes_a_report_folder(tiny_bot: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = _parley("nlu", "evaluate", str(tiny_bot), "--folds", "2", "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "2-fold cross-validation" in result.stdout and "order_status" in result.stdout
    summary = json.loads((report / "report.json").read_text())
    assert summary["examples_tested"] == 40
    assert 0.5 <= summary["accuracy"] <= 1.0
    assert set(summary["per_intent"]) == {"goodbye", "greet", "order_status", "ship_to"}
    assert set(summary["per_entity"]) == {"carrier", "country", "order_id"}
    assert summary["per_entity"]["order_id"]["recall"] > 0.5
    assert (report / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    assert (report / "errors.csv").read_text().startswith("text,intent,predicted,confidence")
    assert (report / "errors.yml").exists()


def test_bad_bot_data_is_one_clear_message(tiny_bot: Path, tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    shutil.copytree(tiny_bot, bot)
    nlu = bot / "data" / "nlu.yml"
    nlu.write_text(nlu.read_text().replace("  examples: |\n    - hi\n", "  exmples: |\n    - hi\n"))
    result = _parley("train", str(bot))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "bot/data/nlu.yml:4: unknown key 'exmples' in intent 'greet'" in result.stderr


def test_incompatible_or_missing_model_is_one_clear_message(tmp_path: Path) -> None:
    result = _parley("nlu", "parse", "--model", str(tmp_path), stdin="hi\n")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no Parley model at" in result.stderr


def test_bad_arguments_are_rejected(tiny_bot: Path) -> None:
    result = _parley("nlu", "evaluate", str(tiny_bot), "--folds", "1")
    assert result.returncode == 2 and "at least 2" in result.stderr
