"""Errors raised by the brain, for bad bot data, bad models and failed turns.

    BrainError
    ├── BotDataError        a bot folder's YAML or config is invalid; names file and line
    └── ModelError          a trained model cannot be used
        └── ModelVersionError   it was made by an incompatible version of Parley or its libraries

Every error pickles (Celery sends them between processes) and its ``str`` is a message a
user can act on, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BotDataError", "BrainError", "ModelError", "ModelVersionError", "Problem"]


class BrainError(Exception):
    """Root of the brain's errors."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One defect in a bot file: where it is and what is wrong."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class BotDataError(BrainError):
    """The bot folder has one or more defects; all are reported at once."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[BotDataError], tuple[tuple[Problem, ...]]]:
        return (type(self), (self.problems,))


class ModelError(BrainError):
    """A model path that does not hold a usable Parley model."""


class ModelVersionError(ModelError):
    """A model made by a version this installation cannot load."""
