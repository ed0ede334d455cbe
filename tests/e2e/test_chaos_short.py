"""The chaos benchmark's short schedule, kept in the suite: under load, a worker child, the
whole worker, Redis (SIGKILL and SIGTERM, with its append-only file fsynced always) and the
gateway are killed in turn; every accepted message must be answered once, in order."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from brain.nlu import load_nlu_config, load_training_data, save_model, train_model
from tests.conftest import REPO

pytestmark = [pytest.mark.timeout(480),
              pytest.mark.skipif(shutil.which("redis-server") is None,
                                 reason="the chaos run needs redis-server (.ci/run installs it)")]
EXAMPLE = REPO / "examples" / "support_bot"


@pytest.fixture(scope="module")
def example_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = train_model(load_training_data(EXAMPLE), load_nlu_config(EXAMPLE), seed=1)
    return save_model(model, tmp_path_factory.mktemp("model") / "model.tar.gz")


def test_nothing_is_lost_doubled_or_reordered_when_every_part_is_killed(
        example_model: Path) -> None:
    run = subprocess.run(
        [sys.executable, "bench/chaos.py", "--schedule", "short", "--rate", "15",
         "--conversations", "40", "--drain", "90", "--model", str(example_model)],
        cwd=REPO, capture_output=True, text=True, timeout=450)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    faults = [stall["fault"] for stall in result["stalls"]]
    assert faults == ["worker-child", "worker-group", "redis-kill", "gateway", "redis-term"]
    assert result["accepted"] > 500
    figures = {key: result[key] for key in ("lost", "wedged", "doubled", "out_of_order", "500")}
    assert figures == {"lost": 0, "wedged": 0, "doubled": 0, "out_of_order": 0, "500": 0}, (
        run.stdout[-3000:])
    assert result["answered"] == result["accepted"]
