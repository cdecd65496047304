"""Remote work: CPU tasks (decode, cluster, commit) and the long-lived model actors (segmentation,
embedding), plus a small driver-side pool that spreads batches over the actors.

A model actor loads the pipeline once and keeps it on its GPU (or CPU). One call takes a batch of
files; the engine batches their chunks together. Each call returns ``1 + n`` objects: a small summary
first (what the driver awaits), then one object per file (which flows on to the next stage without
passing through the driver).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

import ray

from .manifest import BadRow, FileTask
from .output import Output
from .schema import table_of

OK, ERROR = "ok", "error"
WORKER_CRASHED = "worker_crashed"


@dataclass(frozen=True)
class EngineSpec:
    """What every worker needs to build the same pipeline."""

    models: str | None
    fingerprint: str
    versions_json: str
    segmentation_batch_size: int | None = None
    embedding_batch_size: int | None = None
    mode: str | None = None


@dataclass
class Loaded:
    """The small half of a decode task's result (the waveform is the other, separate object)."""

    ok: bool
    duration: float = 0.0
    source_sample_rate: int | None = None
    source_channels: int | None = None
    error_type: str | None = None
    message: str | None = None
    seconds: float = 0.0


@dataclass
class FileResult:
    """Every row one input produces, ready for the four tables."""

    status: dict[str, Any]
    segments: list[dict[str, Any]] = field(default_factory=list)
    exclusive: list[dict[str, Any]] = field(default_factory=list)
    embeddings: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, this file's share


_PIPELINES: dict[tuple, Any] = {}


def build_pipeline(spec: EngineSpec, device: str = "cpu") -> Any:
    """The pipeline of ``spec`` on ``device``, loaded once per process."""
    key = (spec.models, spec.mode, device, spec.segmentation_batch_size, spec.embedding_batch_size)
    if key not in _PIPELINES:
        from diarization.pipeline import Pipeline

        pipeline = Pipeline.from_pretrained(spec.models, device=device, mode=spec.mode)
        if pipeline.fingerprint != spec.fingerprint:
            raise RuntimeError(f"models on {os.uname().nodename} ({pipeline.fingerprint}) differ from the "
                               f"driver's ({spec.fingerprint}): install the same models on every node")
        if spec.segmentation_batch_size:
            pipeline.segmenter.batch_size = spec.segmentation_batch_size
        if spec.embedding_batch_size:
            pipeline.embedding_batch_size = spec.embedding_batch_size
        _PIPELINES[key] = pipeline
    return _PIPELINES[key]


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


READ_ATTEMPTS = 3  # tries of a file whose bytes could not be fetched (read_error), per run
READ_BACKOFF_SECONDS = 1.0  # wait before the second try; doubled before each further one

T = TypeVar("T")


def with_read_retries(load: Callable[[], T], attempts: int = READ_ATTEMPTS,
                      backoff: float = READ_BACKOFF_SECONDS, sleep: Callable[[float], None] = time.sleep) -> T:
    """``load()``, tried again after a transient storage failure (``AudioReadError``) with exponential
    backoff; the last failure propagates, its message saying how many tries were made. Other errors
    (a missing or corrupt file) propagate at once: retrying cannot change them."""
    from diarization.errors import AudioReadError

    for attempt in range(1, attempts + 1):
        try:
            return load()
        except AudioReadError as error:
            if attempt == attempts:
                raise AudioReadError(error.source, f"{error.reason}; gave up after {attempts} tries") from error
            sleep(backoff * 2 ** (attempt - 1))
    raise ValueError(f"attempts must be >= 1, got {attempts}")


@ray.remote(num_returns=2)
def decode(spec: EngineSpec, task: FileTask, storage_options: dict, max_duration: float | None
           ) -> tuple[Loaded, Any]:
    """Decode one file on a CPU worker: (small Loaded summary, Audio or None)."""
    from diarization.errors import AudioError

    pipeline = build_pipeline(spec)  # once per worker process, not timed
    start = time.perf_counter()
    try:
        audio = with_read_retries(lambda: pipeline.load(task.path, channel=task.channel, max_duration=max_duration,
                                                         storage_options=storage_options or None))
    except AudioError as error:
        return Loaded(False, error_type=error.code, message=str(error), seconds=time.perf_counter() - start), None
    except Exception as error:  # noqa: BLE001 - any other decoding failure is this file's error
        return Loaded(False, error_type="load_error", message=f"{task.path}: {type(error).__name__}: {error}",
                      seconds=time.perf_counter() - start), None
    return Loaded(True, audio.duration, audio.source_sample_rate, audio.source_channels,
                  seconds=time.perf_counter() - start), audio


@ray.remote
def finish(spec: EngineSpec, run_id: str, task: FileTask, loaded: Loaded, seconds: dict[str, float],
           segmentations: Any, embeddings: Any) -> FileResult:
    """Cluster one file on a CPU worker and turn the result into table rows."""
    pipeline = build_pipeline(spec)
    start = time.perf_counter()
    try:
        result = pipeline.finish(task.file_id, loaded.duration, segmentations, embeddings,
                                 num_speakers=task.num_speakers, min_speakers=task.min_speakers,
                                 max_speakers=task.max_speakers)
    except Exception as error:  # noqa: BLE001 - e.g. an impossible speaker constraint for this file
        seconds = {**seconds, "clustering": time.perf_counter() - start}
        return failure(spec, run_id, task, "clustering_error", f"{task.path}: {type(error).__name__}: {error}",
                       loaded, seconds)
    seconds = {**seconds, "clustering": time.perf_counter() - start}
    segments = [segment_row(r, task.file_id, run_id) for r in result.records(file=task.file_id)]
    exclusive = [segment_row(r, task.file_id, run_id) for r in result.records(exclusive=True, file=task.file_id)]
    embeddings_rows = [{"file_id": task.file_id, "speaker": speaker, "embedding": vector.astype("float32"),
                        "run_id": run_id} for speaker, vector in result.embeddings_by_speaker().items()]
    status = status_row(spec, run_id, task, status=OK, duration=loaded.duration,
                        num_speakers=len({r["speaker"] for r in segments}), num_segments=len(segments),
                        processing_time=sum(seconds.values()), source_sample_rate=loaded.source_sample_rate,
                        source_channels=loaded.source_channels)
    return FileResult(status, segments, exclusive, embeddings_rows, seconds)


def segment_row(record: dict[str, Any], file_id: str, run_id: str) -> dict[str, Any]:
    """An engine record ``{file, speaker, start, end, duration}`` as a segments-table row."""
    return {"file_id": file_id, "speaker": record["speaker"], "start": record["start"], "end": record["end"],
            "duration": record["duration"], "run_id": run_id}


@ray.remote(retry_exceptions=True, max_retries=3)
def commit(output: Output, shard_key: str, results: list[FileResult]) -> dict[str, Any]:
    """Write one shard's rows as four Parquet files and commit them (status last)."""
    start = time.perf_counter()
    tables = {name: table_of(name, [row for r in results for row in getattr(r, name)])
              for name in ("segments", "exclusive", "embeddings")}
    tables["status"] = table_of("status", [r.status for r in results])
    output.commit_shard(shard_key, tables)
    return {"files": len(results), "ok": sum(r.status["status"] == OK for r in results),
            "audio_seconds": sum(r.status.get("duration") or 0.0 for r in results),
            "errors": [r.status["error_type"] for r in results if r.status["status"] != OK],
            "commit_seconds": time.perf_counter() - start}


class ModelActor:
    """Holds the pipeline's models on one device for the whole job; serves one stage."""

    def __init__(self, spec: EngineSpec, stage: str, device: str, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.stage = stage
        self.pipeline = build_pipeline(spec, device)
        self.current: list[str] = []  # uris of the batch being processed

    @ray.method(concurrency_group="control")
    def info(self) -> dict[str, Any]:
        """Who and where this actor is and what it works on; answered at once, even during a batch."""
        return {"pid": os.getpid(), "stage": self.stage, "device": str(self.pipeline.device),
                "node": os.uname().nodename, "current": list(self.current)}

    def segment(self, *audios: Any) -> tuple:
        """(summary, Windowed per file); summary['files'][i] = {"needs_embeddings"} or {"error"}."""
        self.current = [audio.uri for audio in audios]
        return self._run(lambda batch: self.pipeline.segment_many(batch), list(audios),
                         lambda segs: {"needs_embeddings": self.pipeline.needs_embeddings(segs)})

    def embed(self, count: int, *audios_then_segmentations: Any) -> tuple:
        """(summary, embeddings per file) for ``count`` audios followed by their ``count`` segmentations."""
        pairs = list(zip(audios_then_segmentations[:count], audios_then_segmentations[count:]))
        self.current = [audio.uri for audio, _ in pairs]
        return self._run(lambda batch: self.pipeline.embed_many(batch), pairs, lambda _: {})

    def _run(self, many: Any, items: list, describe: Any) -> tuple:
        start = time.perf_counter()
        try:
            outputs = list(many(items))
            files = [describe(o) for o in outputs]
        except Exception:  # noqa: BLE001 - find which file fails: run them one by one
            outputs, files = [], []
            for item in items:
                try:
                    [one] = many([item])
                    outputs.append(one)
                    files.append(describe(one))
                except Exception as error:  # noqa: BLE001
                    outputs.append(None)
                    files.append({"error": f"{type(error).__name__}: {error}"})
        self.current = []
        summary = {"pid": os.getpid(), "seconds": time.perf_counter() - start, "files": files}
        return (summary, *outputs) if len(items) != 0 else (summary,)


class ActorPool:
    """The actors of one stage; each batch goes to the actor with the fewest calls in flight."""

    def __init__(self, stage: str, count: int, spec: EngineSpec, device: str, num_cpus: float, num_gpus: float,
                 threads: int, max_restarts: int, max_task_retries: int, name_prefix: str) -> None:
        remote = ray.remote(concurrency_groups={"control": 1})(ModelActor)  # model calls stay one at a time
        self.stage = stage
        self.names = [f"{name_prefix}-{stage}-{i}" for i in range(count)]
        self.actors = [remote.options(name=name, num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=max_restarts,
                                      max_task_retries=max_task_retries).remote(spec, stage, device, threads)
                       for name in self.names]
        self.in_flight = [0] * count
        self.pids: list[set[int]] = [set() for _ in range(count)]

    async def start(self) -> list[dict[str, Any]]:
        """Wait until every actor has loaded its models (fails fast on a broken model or device)."""
        infos = [await actor.info.remote() for actor in self.actors]
        for i, info in enumerate(infos):
            self.pids[i].add(info["pid"])
        return infos

    @property
    def restarts(self) -> int:
        """Actor restarts seen so far (a restarted actor answers from a new process id)."""
        return sum(max(0, len(p) - 1) for p in self.pids)

    async def call(self, method: str, args: Sequence[Any], files: int) -> tuple[dict[str, Any], list[Any]]:
        """Run ``method(*args)`` for a batch of ``files`` files: (summary, one object ref per file).

        Raises a ``ray.exceptions.RayError`` when the actor died on every try (Ray restarts it and
        retries the call ``max_task_retries`` times first).
        """
        index = min(range(len(self.actors)), key=self.in_flight.__getitem__)
        self.in_flight[index] += 1
        try:
            refs = getattr(self.actors[index], method).options(num_returns=1 + files).remote(*args)
            refs = refs if isinstance(refs, list) else [refs]
            summary = await refs[0]
        finally:
            self.in_flight[index] -= 1
        self.pids[index].add(summary["pid"])
        return summary, refs[1:]

    def shutdown(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)


def versions_json(versions: dict[str, str]) -> str:
    return json.dumps(versions, sort_keys=True)
