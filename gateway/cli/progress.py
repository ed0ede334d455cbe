"""A rich progress bar for training: one bar per stage, with epoch and loss."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from brain.nlu.training import TrainingEvent

__all__ = ["TrainingProgress"]


class TrainingProgress:
    """Context manager whose instances are training progress callbacks."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<18}"), BarColumn(),
            TextColumn("epoch {task.completed:>3.0f}/{task.total:<3.0f}"),
            TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
            console=console, transient=False)
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> TrainingProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def __call__(self, event: TrainingEvent) -> None:
        loss = "-" if event.loss is None else f"{event.loss:.4f}"
        task = self._tasks.get(event.stage)
        if task is None:
            task = self._progress.add_task(event.stage, total=event.epochs, loss=loss)
            self._tasks[event.stage] = task
        self._progress.update(task, completed=event.epoch, loss=loss)
