from __future__ import annotations

from pathlib import Path

import pytest

from brain.nlu import NluModel, load_nlu_config, load_training_data, train_model


@pytest.fixture(scope="session")
def tiny_model(tiny_bot: Path) -> NluModel:
    """The tiny fixture bot, trained once for the whole session (a few seconds)."""
    return train_model(load_training_data(tiny_bot), load_nlu_config(tiny_bot), seed=7)
