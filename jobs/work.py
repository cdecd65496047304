"""The work on one file, shared by both paths of a job: the staged path's decode and finish tasks
(``jobs.tasks``) and the fused CPU path's file actors (``jobs.actors.FileActor``), which run all of it in one
process. A file's own failure is returned as its error row, never raised."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from .engine import EngineSpec
from .manifest import FileTask
from .error_types import CLUSTERING_ERROR, EMBEDDING_ERROR, LOAD_ERROR, SEGMENTATION_ERROR
from .records import OK, FileResult, Loaded, Worker, failure, segment_row, status_row

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


def decode_file(config: Any, task: FileTask, storage_options: dict | None, max_duration: float | None
                ) -> tuple[Loaded, Any]:
    """(small Loaded summary, Audio or None) of one file decoded for the engine ``config``: mono, or one
    row per channel of a call split by channel (``diarization.channels``)."""
    from diarization.errors import AudioError
    from diarization.pipeline import load_call

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
                  channel_mode=audio.channel_mode, telephone=audio.telephone, seconds=time.perf_counter() - start,
                  worker=Worker.here()), audio


def finish_file(finisher: Any, spec: EngineSpec, run_id: str, task: FileTask, loaded: Loaded,
                seconds: dict[str, float], segmentations: Any, embeddings: Any) -> FileResult:
    """Cluster one file (``diarization.finish.Finisher``) and turn the result into table rows."""
    start = time.perf_counter()
    try:
        result = finisher(task.file_id, loaded.duration, segmentations, embeddings,
                          num_speakers=task.num_speakers, min_speakers=task.min_speakers,
                          max_speakers=task.max_speakers, telephone=bool(loaded.telephone))
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
                        source_channels=loaded.source_channels, channel_mode=loaded.channel_mode,
                        telephone=loaded.telephone)
    return FileResult(status, segments, exclusive, embeddings_rows, seconds, Worker.here())


def diarize_file(pipeline: Any, spec: EngineSpec, run_id: str, task: FileTask, storage_options: dict | None,
                 max_duration: float | None) -> FileResult:
    """The whole work on one file in this process, as the staged path does it stage by stage: decode,
    segmentation, embeddings (when someone speaks), clustering; each stage's failure is the error row the
    staged path gives (``segmentation_error``, ``embedding_error``, ...), worker seconds per stage kept."""
    loaded, audio = decode_file(pipeline.config, task, storage_options, max_duration)
    seconds = {"decode": loaded.seconds}
    if not loaded.ok:
        return failure(spec, run_id, task, loaded.error_type or "", loaded.message or "", loaded, seconds)
    start = time.perf_counter()
    try:
        [segmentations] = pipeline.segment_many([audio])
        needs_embeddings = pipeline.needs_embeddings(segmentations)
    except Exception as error:  # noqa: BLE001 - this file's segmentation failed
        seconds["segmentation"] = time.perf_counter() - start
        return failure(spec, run_id, task, SEGMENTATION_ERROR, f"{task.path}: {type(error).__name__}: {error}",
                       loaded, seconds)
    seconds["segmentation"] = time.perf_counter() - start
    embeddings = None
    if needs_embeddings:
        start = time.perf_counter()
        try:
            [embeddings] = pipeline.embed_many([(audio, segmentations)])
        except Exception as error:  # noqa: BLE001 - this file's embeddings failed
            seconds["embedding"] = time.perf_counter() - start
            return failure(spec, run_id, task, EMBEDDING_ERROR, f"{task.path}: {type(error).__name__}: {error}",
                           loaded, seconds)
        seconds["embedding"] = time.perf_counter() - start
    del audio
    return finish_file(pipeline.finisher, spec, run_id, task, loaded, seconds, segmentations, embeddings)
