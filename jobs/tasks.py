"""The job's CPU tasks: decode one file, finish one file (clustering into table rows), commit one shard.

Each is a plain Ray task: Ray reruns it on another worker when its worker dies. A file's own failure is
returned as its error, never raised, so that it becomes the file's error row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import ray

from .engine import EngineSpec, worker_config, worker_finisher
from .error_types import CLUSTERING_ERROR, LOAD_ERROR
from .manifest import FileTask
from .records import OK, CommitSummary, FileResult, Loaded, Worker, failure, segment_row, status_row
from .schema import table_of
from .store import Store

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
    from diarization.pipeline import load_call

    config = worker_config(spec)  # once per worker process, not timed
    start = time.perf_counter()
    try:
        audio = with_read_retries(lambda: load_call(task.path, config, channel=task.channel,
                                                    max_duration=max_duration, channels=task.channels,
                                                    storage_options=storage_options or None))
    except AudioError as error:
        return Loaded(False, error_type=error.code, message=str(error), seconds=time.perf_counter() - start,
                      worker=Worker.here()), None
    except Exception as error:  # noqa: BLE001 - any other decoding failure is this file's error
        return Loaded(False, error_type=LOAD_ERROR, message=f"{task.path}: {type(error).__name__}: {error}",
                      seconds=time.perf_counter() - start, worker=Worker.here()), None
    return Loaded(True, audio.duration, audio.source_sample_rate, audio.source_channels,
                  channel_mode=audio.channel_mode, seconds=time.perf_counter() - start, worker=Worker.here()), audio


@ray.remote
def finish(spec: EngineSpec, run_id: str, task: FileTask, loaded: Loaded, seconds: dict[str, float],
           segmentations: Any, embeddings: Any) -> FileResult:
    """Cluster one file on a CPU worker and turn the result into table rows."""
    finisher = worker_finisher(spec)
    start = time.perf_counter()
    try:
        result = finisher(task.file_id, loaded.duration, segmentations, embeddings,
                                 num_speakers=task.num_speakers, min_speakers=task.min_speakers,
                                 max_speakers=task.max_speakers)
    except Exception as error:  # noqa: BLE001 - e.g. an impossible speaker constraint for this file
        seconds = {**seconds, "clustering": time.perf_counter() - start}
        result = failure(spec, run_id, task, CLUSTERING_ERROR, f"{task.path}: {type(error).__name__}: {error}",
                         loaded, seconds)
        result.worker = Worker.here()
        return result
    seconds = {**seconds, "clustering": time.perf_counter() - start}
    segments = [segment_row(r, task.file_id, run_id) for r in result.records(file=task.file_id)]
    exclusive = [segment_row(r, task.file_id, run_id) for r in result.records(exclusive=True, file=task.file_id)]
    embeddings_rows = [{"file_id": task.file_id, "speaker": speaker, "embedding": vector.astype("float32"),
                        "run_id": run_id} for speaker, vector in result.embeddings_by_speaker().items()]
    status = status_row(spec, run_id, task, status=OK, duration=loaded.duration,
                        num_speakers=len({r["speaker"] for r in segments}), num_segments=len(segments),
                        processing_time=sum(seconds.values()), source_sample_rate=loaded.source_sample_rate,
                        source_channels=loaded.source_channels, channel_mode=loaded.channel_mode)
    return FileResult(status, segments, exclusive, embeddings_rows, seconds, Worker.here())


@ray.remote(retry_exceptions=True, max_retries=3)
def commit(store: Store, shard_key: str, results: list[FileResult]) -> CommitSummary:
    """Write one shard's rows as four Parquet files and commit them (status last)."""
    start = time.perf_counter()
    tables = {name: table_of(name, [row for r in results for row in getattr(r, name)])
              for name in ("segments", "exclusive", "embeddings")}
    tables["status"] = table_of("status", [r.status for r in results])
    store.commit_shard(shard_key, tables)
    return CommitSummary.of(results, time.perf_counter() - start, Worker.here())
