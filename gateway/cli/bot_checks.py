"""The checks of ``parley data validate``, run before ``parley train`` and ``parley run``.

One gate, so the commands agree on what stops a bot: errors stop it before any slow work
(training, starting processes), warnings are printed and stop nothing (the split is
``brain.validation``'s).
"""

from __future__ import annotations

import sys
from pathlib import Path

from brain.errors import BotDataError
from brain.validation import format_warning, validate_bot

__all__ = ["check_bot"]


def check_bot(bot_dir: Path, *, require_domain: bool = True) -> None:
    """Print the warnings of ``bot_dir`` on stderr; raise ``BotDataError`` with its errors.

    ``require_domain=False``: a folder of NLU data only is fine (``parley train``).
    """
    report = validate_bot(bot_dir, require_domain=require_domain)
    for problem in report.warnings:
        print(format_warning(problem), file=sys.stderr)
    if report.errors:
        raise BotDataError(report.errors)
