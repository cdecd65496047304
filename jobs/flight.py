"""One manifest row in flight through a shard's stages, and what every stage of a run shares."""

from __future__ import annotations

from dataclasses import dataclass, field

import ray

from .engine import EngineSpec
from .manifest import BadRow, FileTask, Item
from .plan import JobOptions, Plan
from .records import FileResult, Loaded, failure
from .stats import RunStats


@dataclass(eq=False)
class FileState:
    """A manifest row on its way through the stages: what its file has so far, then its result.

    A stage works on the files still running and leaves the others as they are, so a file that fails
    (a bad row from the start) carries its error row to the end, and a shard's states give one result
    per manifest row, in manifest order. The refs to large objects (waveform, segmentation, embeddings)
    are let go once the file has its result or its finish task, so the object store can free them.
    """

    item: Item
    loaded: Loaded | None = None  # the decode task's summary
    audio: ray.ObjectRef | None = None  # the decoded waveform (an Audio)
    segmentation: ray.ObjectRef | None = None
    needs_embeddings: bool = False
    embeddings: ray.ObjectRef | None = None
    finishing: ray.ObjectRef | None = None  # the finish task's FileResult
    seconds: dict[str, float] = field(default_factory=dict)  # worker seconds per stage, this file's share
    result: FileResult | None = None

    @property
    def running(self) -> bool:
        """Still on its way: no result yet, and not handed to a finish task."""
        return self.result is None and self.finishing is None

    @property
    def duration(self) -> float:
        """Seconds of decoded audio (0 before decoding)."""
        return self.loaded.duration if self.loaded else 0.0

    @property
    def task(self) -> FileTask:
        """The file to diarize (a running state always has one: a bad row starts with its result)."""
        if not isinstance(self.item, FileTask):
            raise TypeError(f"manifest row {self.item.row} is not a file to run")
        return self.item

    def finish_with(self, finishing: ray.ObjectRef) -> None:
        """The file's finish task is under way; it holds the refs it needs."""
        self.finishing = finishing
        self._let_go()

    def end(self, result: FileResult) -> None:
        self.result = result
        self.finishing = None
        self._let_go()

    def final(self) -> FileResult:
        """The file's result, once every stage has run."""
        if self.result is None:
            raise RuntimeError(f"{self.item.file_id}: the stages ended without a result")
        return self.result

    def _let_go(self) -> None:
        self.audio = self.segmentation = self.embeddings = None


@dataclass(frozen=True)
class RunContext:
    """What every stage of one run shares: the engine, the run id, the options and plan, the accounting."""

    spec: EngineSpec
    run_id: str
    options: JobOptions
    plan: Plan
    stats: RunStats

    def state_of(self, item: Item) -> FileState:
        """A manifest row's state: a bad row starts (and ends) with its error row."""
        if isinstance(item, BadRow):
            return FileState(item, result=failure(self.spec, self.run_id, item, item.error_type, item.message))
        return FileState(item)

    def fail(self, file: FileState, error_type: str, message: str) -> None:
        """End ``file`` with an error row (what it had decoded and the seconds it took are kept)."""
        file.end(failure(self.spec, self.run_id, file.item, error_type, message, file.loaded, file.seconds))
