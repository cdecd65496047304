"""Typed records that tasks and actors hand back to the driver, and the table rows a file ends as.

Everything here crosses process boundaries (Ray pickles it), so it holds plain values only, never
object refs: a model call's per-file outputs travel as separate objects beside its summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .engine import EngineSpec
from .manifest import BadRow, FileTask

OK, ERROR = "ok", "error"


@dataclass(frozen=True)
class Worker:
    """Where a task or an actor call ran, and on which try: what the report's per-node counters and retry
    counts are made of."""

    node: str  # the Ray node id
    host: str  # the node's host name (a pod's name on Kubernetes)
    attempt: int = 0  # 0: the first try; n: the n-th retry (its worker or node died before)

    @classmethod
    def here(cls) -> Worker:
        """The worker running this code (inside a Ray task or actor call)."""
        import os

        import ray

        return cls(ray.get_runtime_context().get_node_id(), os.uname().nodename, _attempt())


def _attempt() -> int:
    """Which try of the current task this is; 0 when Ray does not say (it has no public call for it)."""
    try:
        from ray._private.worker import global_worker

        return int(global_worker.core_worker.get_current_task_attempt_number())
    except Exception:  # noqa: BLE001 - a private API: never let it fail a task
        return 0


@dataclass
class Loaded:
    """The small half of a decode task's result (the waveform is the other, separate object)."""

    ok: bool
    duration: float = 0.0
    source_sample_rate: int | None = None
    source_channels: int | None = None
    channel_mode: str | None = None  # how its channels were used: mix, split or channel (one picked)
    telephone: bool | None = None  # telephone audio (diarization.band): diarized with the telephone settings
    error_type: str | None = None
    message: str | None = None
    seconds: float = 0.0
    worker: Worker | None = None  # None: made by the driver (the decoding worker died on every try)


@dataclass(frozen=True)
class FileOutcome:
    """How one file of a model call went (its output is a separate object)."""

    error: str | None = None  # "<exception type>: <message>" when the model failed on this file
    needs_embeddings: bool = False  # segmentation only: whether the file has speech to embed


@dataclass(frozen=True)
class BatchSummary:
    """What a model actor's call returns first: the small part the driver waits for."""

    pid: int  # the actor's process (a new one after a restart)
    seconds: float  # the whole call
    files: list[FileOutcome]  # one per file, in call order
    worker: Worker | None = None


@dataclass
class FileResult:
    """Every row one input produces, ready for the four tables."""

    status: dict[str, Any]
    segments: list[dict[str, Any]] = field(default_factory=list)
    exclusive: list[dict[str, Any]] = field(default_factory=list)
    embeddings: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, this file's share
    worker: Worker | None = None  # the finish task's (None: an error row made by the driver)

    @property
    def ok(self) -> bool:
        return self.status["status"] == OK


@dataclass(frozen=True)
class DiarizedBatch:
    """What a file actor's call returns (the fused CPU path): every file of the batch to its result."""

    pid: int  # the actor's process (a new one after a restart)
    seconds: float  # the whole call
    results: list[FileResult]  # one per file, in call order


@dataclass(frozen=True)
class CommitSummary:
    """What a commit task returns once its shard is committed."""

    files: int
    ok: int
    audio_seconds: float  # of the files that were decoded
    errors: list[str]  # the error type of each failed file
    seconds: float
    worker: Worker | None = None

    @classmethod
    def of(cls, results: list[FileResult], seconds: float, worker: Worker | None = None) -> CommitSummary:
        return cls(files=len(results), ok=sum(r.ok for r in results),
                   audio_seconds=sum(r.status.get("duration") or 0.0 for r in results),
                   errors=[r.status["error_type"] for r in results if not r.ok], seconds=seconds, worker=worker)


def status_row(spec: EngineSpec, run_id: str, item: FileTask | BadRow, **values: Any) -> dict[str, Any]:
    """A status-table row for ``item``; ``values`` fill the outcome columns."""
    row = {"file_id": item.file_id, "path": item.path, "manifest_row": item.row,
           "channel": getattr(item, "channel", None), "fingerprint": spec.fingerprint,
           "model_versions": spec.versions_json, "run_id": run_id,
           "finished_at": datetime.now(timezone.utc)}
    row.update(values)
    return row


def failure(spec: EngineSpec, run_id: str, item: FileTask | BadRow, error_type: str, message: str,
            loaded: Loaded | None = None, seconds: dict[str, float] | None = None) -> FileResult:
    """The result of an input that failed before producing a diarization."""
    seconds = seconds or {}
    return FileResult(status_row(
        spec, run_id, item, status=ERROR, error_type=error_type, error_message=message,
        duration=loaded.duration if loaded and loaded.ok else None,
        source_sample_rate=loaded.source_sample_rate if loaded else None,
        source_channels=loaded.source_channels if loaded else None,
        processing_time=sum(seconds.values())), seconds=seconds)


def segment_row(record: dict[str, Any], file_id: str, run_id: str) -> dict[str, Any]:
    """An engine record ``{file, speaker, start, end, duration}`` as a segments-table row."""
    return {"file_id": file_id, "speaker": record["speaker"], "channel": record["channel"],
            "start": record["start"], "end": record["end"], "duration": record["duration"], "run_id": run_id}
