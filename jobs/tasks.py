"""The job's CPU tasks: decode one file, finish one file (clustering into table rows), commit one shard (the
work on a file itself is ``jobs.work``).

Each is a plain Ray task: Ray reruns it on another worker when its worker dies. A file's own failure is
returned as its error, never raised, so that it becomes the file's error row.
"""

from __future__ import annotations

import time
from typing import Any

import ray

from .engine import EngineSpec, worker_config, worker_finisher
from .manifest import FileTask
from .records import CommitSummary, FileResult, Loaded, Worker
from .schema import table_of
from .store import Store
from .work import READ_ATTEMPTS, READ_BACKOFF_SECONDS, decode_file, finish_file, with_read_retries

__all__ = ["READ_ATTEMPTS", "READ_BACKOFF_SECONDS", "commit", "decode", "finish", "with_read_retries"]


@ray.remote(num_returns=2)
def decode(spec: EngineSpec, task: FileTask, storage_options: dict, max_duration: float | None
           ) -> tuple[Loaded, Any]:
    """Decode one file on a CPU worker: (small Loaded summary, Audio or None)."""
    config = worker_config(spec)  # once per worker process, not timed
    return decode_file(config, task, storage_options, max_duration)


@ray.remote
def finish(spec: EngineSpec, run_id: str, task: FileTask, loaded: Loaded, seconds: dict[str, float],
           segmentations: Any, embeddings: Any) -> FileResult:
    """Cluster one file on a CPU worker and turn the result into table rows."""
    return finish_file(worker_finisher(spec), spec, run_id, task, loaded, seconds, segmentations, embeddings)


@ray.remote(retry_exceptions=True, max_retries=3)
def commit(store: Store, shard_key: str, results: list[FileResult]) -> CommitSummary:
    """Write one shard's rows as four Parquet files and commit them (status last)."""
    start = time.perf_counter()
    tables = {name: table_of(name, [row for r in results for row in getattr(r, name)])
              for name in ("segments", "exclusive", "embeddings")}
    tables["status"] = table_of("status", [r.status for r in results])
    store.commit_shard(shard_key, tables)
    return CommitSummary.of(results, time.perf_counter() - start, Worker.here())
