"""Progress reporting for pipeline hooks: ``hook(step, artifact, total=None, completed=None)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Hook = Callable[..., None]


def no_hook(step: str, artifact: Any = None, total: int | None = None, completed: int | None = None) -> None:
    """A hook that does nothing."""


@contextmanager
def progress_hook(enabled: bool = True) -> Iterator[Hook]:
    """A hook drawing one rich progress bar per pipeline step (a no-op when ``enabled`` is false)."""
    if not enabled:
        yield no_hook
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<20}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), transient=False) as progress:
        tasks: dict[str, Any] = {}

        def hook(step: str, artifact: Any = None, total: int | None = None, completed: int | None = None,
                 **_: Any) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total or 1)
            task = tasks[step]
            if total is not None:
                progress.update(task, total=total, completed=completed or 0)
            else:
                progress.update(task, completed=progress.tasks[task].total)

        yield hook
