"""Whole-number settings and arguments accept ASCII digits only: ``str.isdigit`` also says
yes to "²" and "①", which ``int()`` refuses (the web webhook's timestamp 500 came from the
same pair); a setting so written must be the one-line error, not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.env_values import GatewaySettingsError, integer
from gateway.settings import GatewaySettings
from tests.conftest import REPO


@pytest.mark.parametrize("raw", ["²", "①", "8O80", "-1", "", "1e3"])
def test_a_whole_number_setting_refuses_what_int_cannot_read(raw: str) -> None:
    with pytest.raises(GatewaySettingsError, match="PARLEY_PORT must be a whole number"):
        GatewaySettings.from_env({"PARLEY_REDIS_URL": "redis://127.0.0.1:6379/0",
                                  "PARLEY_PORT": raw})


def test_a_whole_number_setting_takes_ascii_digits() -> None:
    assert integer({"N": " 8081 "}, "N", 1, 1, 65535) == 8081
    assert integer({}, "N", 7, 1, 10) == 7


def test_folds_of_a_superscript_are_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "nlu", "evaluate",
                             str(REPO / "examples" / "support_bot"), "--folds", "²"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "expected a whole number of at least 2, got '²'" in result.stderr
    assert "Traceback" not in result.stderr
