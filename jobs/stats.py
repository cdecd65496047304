"""A run's accounting: files and audio committed, worker time per stage, errors by type, crashes; and the
run report built from it (its keys are what ``diarize report``, the tests and the README read)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .progress import Counters
from .records import CommitSummary, Worker

STAGES = ("decode", "segmentation", "embedding", "clustering", "commit")


class JobAborted(RuntimeError):
    """The job stopped on purpose (e.g. workers keep crashing); what was committed stays."""


@dataclass
class StageTotals:
    """Worker seconds spent in one stage, and the files it took."""

    seconds: float = 0.0
    files: int = 0


@dataclass
class NodeTotals:
    """What one node did: files per stage that its tasks and actor calls finished (a file retried on another
    node counts on both)."""

    host: str
    files: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))

    def report(self) -> dict[str, Any]:
        return {"host": self.host, **self.files}


@dataclass(frozen=True)
class ActorTotals:
    """The model actors of a run, as the report gives them."""

    started: int
    start_seconds: float
    restarts: int


class RunStats:
    """Running totals of one run; the stages and the commits add to them, the report reads them."""

    def __init__(self, max_crashed_files: int) -> None:
        self.counters = Counters()
        self.stages = {name: StageTotals() for name in STAGES}
        self.errors: Counter[str] = Counter()
        self.crashed_files = 0  # files that killed a worker on every try
        self.isolated_files = 0  # files retried one by one after their batch's worker died
        self.failed_shards: list[str] = []
        self.max_crashed_files = max_crashed_files
        self.nodes: dict[str, NodeTotals] = {}  # by Ray node id
        self.retried: Counter[str] = Counter()  # per stage: tasks or actor calls that finished on a retry

    def add(self, stage: str, seconds: float = 0.0, files: int = 0) -> None:
        totals = self.stages[stage]
        totals.seconds += seconds
        totals.files += files

    def ran(self, stage: str, worker: Worker | None, files: int = 1) -> None:
        """Count ``files`` that ``stage`` finished on ``worker``'s node; a finished retry (after its worker or
        node died) counts as retried."""
        if worker is None:
            return
        node = self.nodes.get(worker.node)
        if node is None:
            node = self.nodes[worker.node] = NodeTotals(worker.host)
        node.files[stage] += files
        if worker.attempt > 0:
            self.retried[stage] += 1

    def crashed(self, stage: str, error: BaseException) -> None:
        """Count a file that killed its ``stage`` worker on every try; past the budget, stop the job."""
        self.crashed_files += 1
        if self.crashed_files > self.max_crashed_files:
            raise JobAborted(f"{self.crashed_files} files crashed the workers (last: {stage}); "
                             "giving up") from error

    def committed(self, summary: CommitSummary) -> None:
        self.counters.files_ok += summary.ok
        self.counters.files_failed += summary.files - summary.ok
        self.counters.audio_seconds += summary.audio_seconds
        self.errors.update(summary.errors)
        self.add("commit", summary.seconds, summary.files)
        self.ran("commit", summary.worker, summary.files)

    def report(self, identity: Mapping[str, Any], started: datetime, wall: float, actors: ActorTotals,
               resume: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
        """The run report: ``identity`` (run id, date, manifest, output, models) first, then the totals."""
        c = self.counters
        return {
            **identity, "started_at": started.isoformat(),
            "finished_at": datetime.now(timezone.utc).isoformat(), "wall_seconds": wall,
            "files": {"rows": c.rows_read, "ok": c.files_ok, "failed": c.files_failed, "skipped": c.files_skipped},
            "audio_hours": c.audio_seconds / 3600,
            "real_time_factor": wall / c.audio_seconds if c.audio_seconds else None,
            "files_per_second": c.files_done / wall if wall else None,
            "errors": dict(sorted(self.errors.items())),
            "stages": {name: {"seconds": s.seconds, "files": s.files} for name, s in self.stages.items()},
            "actors": {"started": actors.started, "start_seconds": actors.start_seconds,
                       "restarts": actors.restarts, "isolated_files": self.isolated_files,
                       "crashed_files": self.crashed_files},
            "shards": {"failed": self.failed_shards},
            "nodes": {node: totals.report() for node, totals in sorted(self.nodes.items())},
            "retried": {name: self.retried[name] for name in STAGES},
            "resume": dict(resume),
            "plan": dict(plan),
        }
