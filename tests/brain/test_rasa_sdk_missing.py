"""Without the ``rasa`` extra: bots without Rasa actions load as before, and an actions
package that imports rasa_sdk is one line saying what to install (run in a subprocess
whose import system hides rasa_sdk; nothing is uninstalled)."""

from __future__ import annotations

import subprocess
import sys

from tests.brain.rasa_bot import RASA_BOT
from tests.conftest import FIXTURES, REPO

_HIDDEN = '''
import sys
from importlib.abc import MetaPathFinder


class HideRasaSdk(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "rasa_sdk" or name.startswith("rasa_sdk."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, HideRasaSdk())
from pathlib import Path

from brain.actions import load_actions
from brain.errors import BotDataError

print(sorted(load_actions(Path(sys.argv[1]))))
try:
    load_actions(Path(sys.argv[2]))
except BotDataError as error:
    print(error)
print("rasa_sdk" in sys.modules)
'''


def test_an_actions_package_importing_rasa_sdk_without_the_extra_is_one_line() -> None:
    done = subprocess.run([sys.executable, "-c", _HIDDEN, str(FIXTURES / "bots" / "dialogue_bot"),
                           str(RASA_BOT)], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=True)
    source = (RASA_BOT / "actions" / "actions.py").read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if text.startswith("from rasa_sdk "))
    assert done.stdout.splitlines() == [
        "['action_book', 'action_crash', 'action_slow', 'validate_name']",
        f"{RASA_BOT / 'actions' / 'actions.py'}:{line}: imports rasa_sdk, which is not "
        'installed: pip install "parley[rasa]"',
        "False"]
