"""The worker's health file check (``python -m workers.liveness``) and its setting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from workers.liveness import main, touch
from workers.settings import WorkerSettings, WorkerSettingsError


def test_a_fresh_file_passes_a_stale_or_missing_one_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    health = tmp_path / "alive"
    assert main([str(health)]) == 1
    assert "no worker process has loaded the bot yet" in capsys.readouterr().err
    touch(health)
    assert main([str(health), "--max-age", "30"]) == 0
    long_ago = time.time() - 45
    os.utime(health, (long_ago, long_ago))
    assert main([str(health), "--max-age", "30"]) == 1
    assert "last touched 45 s ago (more than 30 s)" in capsys.readouterr().err
    assert main([str(health), "--max-age", "60"]) == 0


def test_the_probe_command_imports_nothing_heavy(tmp_path: Path) -> None:
    """An exec probe runs every few seconds: it must not import Parley's stack."""
    touch(tmp_path / "alive")
    code = ("import sys, runpy; sys.argv = ['liveness', sys.argv[1]]\n"
            "try:\n    runpy.run_module('workers.liveness', run_name='__main__')\n"
            "except SystemExit as end:\n"
            "    heavy = sorted(m for m in ('celery', 'redis', 'spacy', 'brain', 'sklearn')"
            " if m in sys.modules)\n"
            "    print(end.code, heavy)\n")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "alive")], cwd=REPO,
                         capture_output=True, text=True, timeout=30, check=True)
    assert run.stdout.strip() == "0 []", run.stdout + run.stderr


def test_the_setting_names_a_file_in_an_existing_folder(tmp_path: Path) -> None:
    env = {"PARLEY_REDIS_URL": "redis://127.0.0.1:6379/0",
           "PARLEY_BOT_DIR": str(REPO / "examples" / "support_bot")}
    assert WorkerSettings.from_env(env).health_file is None
    given = WorkerSettings.from_env({**env, "PARLEY_WORKER_HEALTH_PATH": str(tmp_path / "a")})
    assert given.health_file == tmp_path / "a"
    with pytest.raises(WorkerSettingsError, match="PARLEY_WORKER_HEALTH_PATH must be a file"):
        WorkerSettings.from_env({**env, "PARLEY_WORKER_HEALTH_PATH": str(tmp_path / "x" / "a")})
