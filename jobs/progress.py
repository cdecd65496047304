"""Progress of a running job: a rich progress bar on a terminal, a log line every minute elsewhere."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("jobs")


@dataclass
class Counters:
    """Running totals of a job, updated as shards commit."""

    files_ok: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    audio_seconds: float = 0.0
    rows_read: int = 0

    @property
    def files_done(self) -> int:
        return self.files_ok + self.files_failed


class JobProgress:
    """``update()`` after every change; ``close()`` at the end."""

    def __init__(self, enabled: bool, total: int | None = None, log_every: float = 60.0) -> None:
        self.enabled = enabled
        self.total = total
        self.started = time.monotonic()
        self.log_every = log_every
        self._last_log = self.started
        self._bar: Any = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("files"), BarColumn(bar_width=24), MofNCompleteColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("files", total=total, detail="")

    def line(self, counters: Counters) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (f"{counters.audio_seconds / 3600:.2f} h | {counters.files_failed} err | "
                f"{counters.files_skipped} skip | {counters.files_done / elapsed:.2f} files/s | "
                f"{counters.audio_seconds / elapsed:.1f}x RT")

    def update(self, counters: Counters, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if self._bar is not None:
            self._bar.update(self._task, completed=counters.files_done + counters.files_skipped,
                             total=self.total, detail=self.line(counters))
        elif time.monotonic() - self._last_log >= self.log_every:
            self._last_log = time.monotonic()
            log.info("%d files done: %s", counters.files_done, self.line(counters))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
