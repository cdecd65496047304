"""The job driver: streams the manifest into shards, runs them through the actors and commits them.

Flow of one shard (a few hundred manifest rows, committed as one unit)::

    rows --batches of batch_files--> decode tasks (CPU) --> segmentation actor --> embedding actor
         --> finish tasks (CPU clustering) --> commit task (4 Parquet files, status last)

Bounded memory: the manifest is read batch by batch, at most ``inflight_batches`` batches (hence a
bounded number of waveforms) and a few shards are in flight, and the resume set is 8 bytes per id.
Failures: a file's own error becomes its error row; an actor that dies is restarted by Ray and its
call retried ``max_task_retries`` times; if the call still fails, its files are retried one by one, and
a file that kills the actor on its own is marked ``worker_crashed``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import ray

from .actors import (
    WORKER_CRASHED,
    ActorPool,
    EngineSpec,
    FileResult,
    Loaded,
    commit,
    decode,
    failure,
    finish,
    versions_json,
)
from .keys import id_hash
from .manifest import BadRow, FileTask, Item, Manifest
from .output import Output, Previous
from .plan import JobOptions, Plan, plan_resources
from .progress import Counters, JobProgress

log = logging.getLogger("jobs")
STAGES = ("decode", "segmentation", "embedding", "clustering", "commit")


class JobAborted(RuntimeError):
    """The job stopped on purpose (e.g. workers keep crashing); what was committed stays."""


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def run_job(options: JobOptions) -> dict[str, Any]:
    """Run one job on the Ray cluster this process is connected to (``ray.init`` first); return the
    run report (also written to ``OUTPUT/_runs/``)."""
    if not ray.is_initialized():
        ray.init()
    return asyncio.run(Job(options).run())


class Job:
    """One run of a manifest into an output partition."""

    def __init__(self, options: JobOptions) -> None:
        from diarization.pipeline import Pipeline

        self.options = options
        self.run_id = options.run_id or new_run_id()
        self.run_date = options.run_date or datetime.now(timezone.utc).date().isoformat()
        self.output = Output(options.output, self.run_date, options.storage_options)
        self.plan: Plan = plan_resources(ray.cluster_resources(), options)
        pipeline = Pipeline.from_pretrained(options.models, device="cpu", mode=options.mode)
        self.spec = EngineSpec(options.models, pipeline.fingerprint, versions_json(pipeline.versions),
                               self.plan.segmentation_batch_size, self.plan.embedding_batch_size, options.mode)
        self.counters = Counters()
        self.stage_seconds = dict.fromkeys(STAGES, 0.0)
        self.stage_files = dict.fromkeys(STAGES, 0)
        self.errors: dict[str, int] = {}
        self.crashed_files = 0
        self.isolated_files = 0
        self.failed_shards: list[str] = []
        self.committing: set[ray.ObjectRef] = set()  # commit tasks in flight
        self.pools: dict[str, ActorPool] = {}
        self._actors_lock = asyncio.Lock()
        self.isolation = {"segmentation": asyncio.Lock(), "embedding": asyncio.Lock()}
        self.actor_start_seconds = 0.0

    # -- the run ------------------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        started = datetime.now(timezone.utc)
        clock = time.monotonic()
        manifest = Manifest(self.options.manifest, self.options.storage_options, self.options.manifest_format,
                            input_root=self.options.input_root)
        if not self.options.resume:
            self.output.drop_partition()
        cleanup = self.output.clean_partition()
        previous = self.output.read_previous(self.spec.fingerprint) if self.options.resume else Previous()
        retired = self._retire_errors(manifest, previous) if previous.errors_here else 0
        enabled = sys.stderr.isatty() if self.options.progress is None else self.options.progress
        self.progress = JobProgress(enabled, manifest.total_rows)
        self.batch_slots = asyncio.Semaphore(self.plan.inflight_batches)
        shard_slots = asyncio.Semaphore(2 + self.plan.inflight_batches * self.plan.batch_files // self.plan.shard_size)
        running: set[asyncio.Task] = set()
        failures: list[BaseException] = []  # a shard's own exception (e.g. JobAborted) stops the job

        def finished(task: asyncio.Task) -> None:
            running.discard(task)
            shard_slots.release()
            if not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())  # type: ignore[arg-type]

        try:
            for index, items in enumerate(self._shards(manifest, previous)):
                await shard_slots.acquire()
                self._raise_first(failures)
                task = asyncio.create_task(self._shard(f"{self.run_id}-{index:06d}", items))
                running.add(task)
                task.add_done_callback(finished)
            while running:
                await asyncio.wait(set(running), return_when=asyncio.FIRST_EXCEPTION)
                self._raise_first(failures)
            self._raise_first(failures)
        except BaseException:
            for task in running:
                task.cancel()
            self._drain_commits()
            raise
        finally:
            self.progress.close()
            for pool in self.pools.values():
                pool.shutdown()
        tidied = self._tidy()
        report = self._report(started, time.monotonic() - clock, cleanup, retired, previous)
        report["shards"]["cleanup"] = tidied
        self._save_report(report)
        return report

    @staticmethod
    def _raise_first(failures: list[BaseException]) -> None:
        if failures:
            raise failures[0]

    def _tidy(self) -> dict[str, int]:
        """After the last commit: delete the temporary files of commit tasks killed mid-write and the data
        files of shards that could not be committed, so that readers see committed shards only."""
        try:
            return self.output.clean_partition()
        except Exception as error:  # noqa: BLE001 - e.g. the store is failing; the next run cleans up
            log.warning("could not clean up the partition after the run (the next run will): %s", error)
            return {}

    def _save_report(self, report: dict[str, Any]) -> None:
        try:
            self.output.write_run_report(self.run_id, report)
        except Exception as error:  # noqa: BLE001 - e.g. a full disk: the run's outcome is still returned
            log.error("could not write the run report to %s/_runs: %s", self.options.output, error)

    def _shards(self, manifest: Manifest, previous: Previous) -> Iterator[list[Item]]:
        """Manifest rows still to do, in shards of ``shard_size``; done files are counted as skipped."""
        shard: list[Item] = []
        for batch in manifest:
            self.counters.rows_read += len(batch)
            tasks = [item for item in batch if isinstance(item, FileTask)]
            done = previous.done.contains([id_hash(t.file_id) for t in tasks]) if len(previous.done) else \
                [False] * len(tasks)
            skip = {id(t) for t, d in zip(tasks, done) if d}
            self.counters.files_skipped += len(skip)
            for item in batch:
                if id(item) in skip:
                    continue
                shard.append(item)
                if len(shard) >= self.plan.shard_size:
                    yield shard
                    shard = []
            self.progress.update(self.counters)
        if shard:
            yield shard
        self.progress.update(self.counters, total=self.counters.rows_read)

    def _retire_errors(self, manifest: Manifest, previous: Previous) -> int:
        """Before retrying failed files of this partition, remove their old error rows (one outcome each)."""
        retire: set[int] = set()
        for batch in manifest:
            for item in batch:
                h = id_hash(item.file_id)
                if h in previous.errors_here and (isinstance(item, BadRow) or h not in previous.done):
                    retire.add(h)
        removed = self.output.retire_errors(retire, previous.errors_here)
        log.info("retired %d error rows of earlier runs before retrying them", removed)
        return removed

    # -- one shard ------------------------------------------------------------------------------------------

    async def _shard(self, key: str, items: list[Item]) -> None:
        results: list[Any] = [None] * len(items)
        todo: list[int] = []
        for i, item in enumerate(items):
            if isinstance(item, BadRow):
                results[i] = failure(self.spec, self.run_id, item, item.error_type, item.message)
            else:
                todo.append(i)
        size = self.plan.batch_files
        batches = [todo[s:s + size] for s in range(0, len(todo), size)]
        outcomes = await asyncio.gather(*(self._batch([items[i] for i in b]) for b in batches))
        for batch, outcome in zip(batches, outcomes):
            for i, result in zip(batch, outcome):
                results[i] = result
        ref = commit.options(num_cpus=self.plan.task_cpus).remote(self.output, key, results)
        self.committing.add(ref)
        try:
            summary = await ref
        except asyncio.CancelledError:  # the run stops: the commit goes on, see _drain_commits
            raise
        except ray.exceptions.RayError as error:
            self.committing.discard(ref)
            log.error("shard %s could not be committed (a rerun will redo it): %s", key, error)
            self.failed_shards.append(key)
            return
        self.committing.discard(ref)
        self._account(summary)

    def _drain_commits(self, timeout: float = 300.0) -> None:
        """When the run stops early: wait for the commits already under way (cancelling the driver's wait
        does not stop a Ray task), so that nothing of this run is still writing when it returns and an
        immediate rerun reads the partition as it stays."""
        pending = list(self.committing)
        if pending:
            log.info("waiting for %d commits under way before stopping", len(pending))
            try:
                ray.wait(pending, num_returns=len(pending), timeout=timeout)
            except Exception as error:  # noqa: BLE001 - keep the run's own error, not this one
                log.warning("could not wait for the commits under way: %s", error)

    def _account(self, summary: dict[str, Any]) -> None:
        self.counters.files_ok += summary["ok"]
        self.counters.files_failed += summary["files"] - summary["ok"]
        self.counters.audio_seconds += summary["audio_seconds"]
        for error_type in summary["errors"]:
            self.errors[error_type] = self.errors.get(error_type, 0) + 1
        self.stage_seconds["commit"] += summary["commit_seconds"]
        self.stage_files["commit"] += summary["files"]
        self.progress.update(self.counters)

    # -- one batch of files through the models ------------------------------------------------------

    async def _batch(self, tasks: list[FileTask]) -> list[FileResult]:
        """Every file of the batch through decoding, both models and clustering: one result each."""
        async with self.batch_slots:  # bounds the waveforms in flight
            pending = await self._through_models(tasks)
        return list(await asyncio.gather(*(self._finished(task, item) for task, item in zip(tasks, pending))))

    async def _through_models(self, tasks: list[FileTask]) -> list[Any]:
        """Per file: its FileResult when it failed, else (finish-task ref, Loaded, seconds)."""
        options = self.options
        decoding = [decode.options(num_cpus=self.plan.task_cpus).remote(
            self.spec, t, options.storage_options, options.max_duration) for t in tasks]
        loaded: list[Loaded] = await asyncio.gather(*(self._decoded(t, meta) for t, (meta, _) in zip(tasks, decoding)))
        self.stage_files["decode"] += len(tasks)
        self.stage_seconds["decode"] += sum(meta.seconds for meta in loaded)
        seconds = [{"decode": meta.seconds} for meta in loaded]
        good = [i for i, meta in enumerate(loaded) if meta.ok]
        results: list[Any] = [None if meta.ok else failure(self.spec, self.run_id, t, meta.error_type or "",
                                                             meta.message or "", meta, seconds[i])
                              for i, (t, meta) in enumerate(zip(tasks, loaded))]
        if not good:
            return results
        await self._start_actors()
        audio = {i: decoding[i][1] for i in good}
        segmented = await self._stage("segmentation", "segment", [[audio[i]] for i in good],
                                      [loaded[i].duration for i in good])
        need = [(i, seg) for i, seg in zip(good, segmented) if "error" not in seg[0]]
        embed = [(i, seg) for i, seg in need if seg[0]["needs_embeddings"]]
        embedded = await self._stage("embedding", "embed", [[audio[i], seg[1]] for i, seg in embed],
                                     [loaded[i].duration for i, _ in embed])
        embeddings: dict[int, tuple[dict, Any, float]] = {i: e for (i, _), e in zip(embed, embedded)}
        for i, (info, seg_ref, seg_seconds) in zip(good, segmented):
            seconds[i]["segmentation"] = seg_seconds
            if "error" in info:
                results[i] = self._model_failure(tasks[i], "segmentation", info, loaded[i], seconds[i])
                continue
            emb_info, emb_ref, emb_seconds = embeddings.get(i, ({}, None, 0.0))
            seconds[i]["embedding"] = emb_seconds
            if "error" in emb_info:
                results[i] = self._model_failure(tasks[i], "embedding", emb_info, loaded[i], seconds[i])
                continue
            ref = finish.options(num_cpus=self.plan.task_cpus).remote(
                self.spec, self.run_id, tasks[i], loaded[i], seconds[i], seg_ref, emb_ref)
            results[i] = (ref, loaded[i], seconds[i])
            self.stage_files["clustering"] += 1
        return results

    async def _decoded(self, task: FileTask, meta: ray.ObjectRef) -> Loaded:
        try:
            return await meta
        except ray.exceptions.RayTaskError as error:  # not the file: the worker could not load the pipeline
            raise JobAborted(f"a decoding worker failed: {error}") from error
        except ray.exceptions.RayError as error:  # the decoding worker died on every try (Ray retries tasks)
            self._count_crash("decode", error)
            return Loaded(False, error_type=WORKER_CRASHED,
                          message=f"{task.path}: crashed the decoding worker on every try ({type(error).__name__})")

    async def _finished(self, task: FileTask, item: Any) -> FileResult:
        if isinstance(item, FileResult):
            return item
        ref, loaded, seconds = item
        try:
            result: FileResult = await ref
            self.stage_seconds["clustering"] += result.seconds.get("clustering", 0.0)
            return result
        except ray.exceptions.RayTaskError as error:
            raise JobAborted(f"a clustering worker failed: {error}") from error
        except ray.exceptions.RayError as error:  # the clustering worker died on every try
            self._count_crash("clustering", error)
            return failure(self.spec, self.run_id, task, WORKER_CRASHED,
                           f"{task.path}: crashed the clustering worker on every try ({type(error).__name__})",
                           loaded, seconds)

    def _count_crash(self, stage: str, error: BaseException) -> None:
        self.crashed_files += 1
        if self.crashed_files > self.options.max_crashed_files:
            raise JobAborted(f"{self.crashed_files} files crashed the workers (last: {stage}); giving up") from error

    def _model_failure(self, task: FileTask, stage: str, info: dict, loaded: Loaded,
                       seconds: dict[str, float]) -> FileResult:
        error_type = WORKER_CRASHED if info.get("crashed") else f"{stage}_error"
        return failure(self.spec, self.run_id, task, error_type, f"{task.path}: {info['error']}", loaded, seconds)

    async def _stage(self, stage: str, method: str, per_file: list[list[Any]], durations: list[float]
                     ) -> list[tuple[dict, Any, float]]:
        """Run a batch through a pool: per file (info, object ref, seconds attributed to the file)."""
        if not per_file:
            return []
        pool = self.pools[stage]
        args = [ref for one in per_file for ref in one] if method == "segment" else \
            [len(per_file), *(one[0] for one in per_file), *(one[1] for one in per_file)]
        try:
            summary, refs = await pool.call(method, args, len(per_file))
        except ray.exceptions.RayError as error:
            if len(per_file) == 1:
                self._count_crash(stage, error)
                return [({"error": f"crashed the {stage} worker on every try ({type(error).__name__})",
                          "crashed": True}, None, 0.0)]
            self.isolated_files += len(per_file)
            log.warning("%s batch of %d files failed (%s); retrying them one by one", stage, len(per_file),
                        type(error).__name__)
            # one file at a time, so that a file that kills the worker takes no other file down with it
            async with self.isolation[stage]:
                return [(await self._stage(stage, method, [one], [d]))[0] for one, d in zip(per_file, durations)]
        self.stage_seconds[stage] += summary["seconds"]
        self.stage_files[stage] += len(per_file)
        total = sum(durations) or 1.0
        return [(info, ref, summary["seconds"] * d / total) for info, ref, d in zip(summary["files"], refs, durations)]

    async def _start_actors(self) -> None:
        async with self._actors_lock:
            if self.pools:
                return
            plan = self.plan
            for stage, count in (("segmentation", plan.segmentation_actors), ("embedding", plan.embedding_actors)):
                self.pools[stage] = ActorPool(stage, count, self.spec, plan.device, plan.actor_cpus, plan.actor_gpus,
                                              plan.actor_threads, self.options.max_restarts,
                                              self.options.max_task_retries, f"diarize-{self.run_id}")
            started = time.monotonic()
            for pool in self.pools.values():
                await pool.start()
            self.actor_start_seconds = time.monotonic() - started

    # -- the report -----------------------------------------------------------------------------------------

    def _report(self, started: datetime, wall: float, cleanup: dict[str, int], retired: int,
                previous: Previous) -> dict[str, Any]:
        c = self.counters
        return {
            "run_id": self.run_id, "run_date": self.run_date, "manifest": self.options.manifest,
            "output": self.options.output, "fingerprint": self.spec.fingerprint,
            "model_versions": self.spec.versions_json, "started_at": started.isoformat(),
            "finished_at": datetime.now(timezone.utc).isoformat(), "wall_seconds": wall,
            "files": {"rows": c.rows_read, "ok": c.files_ok, "failed": c.files_failed, "skipped": c.files_skipped},
            "audio_hours": c.audio_seconds / 3600,
            "real_time_factor": wall / c.audio_seconds if c.audio_seconds else None,
            "files_per_second": c.files_done / wall if wall else None,
            "errors": dict(sorted(self.errors.items())),
            "stages": {s: {"seconds": self.stage_seconds.get(s, 0.0), "files": self.stage_files.get(s, 0)}
                       for s in STAGES},
            "actors": {"started": sum(len(p.actors) for p in self.pools.values()),
                       "start_seconds": self.actor_start_seconds,
                       "restarts": sum(p.restarts for p in self.pools.values()),
                       "isolated_files": self.isolated_files, "crashed_files": self.crashed_files},
            "shards": {"failed": self.failed_shards},
            "resume": {"done_before": len(previous.done), "retired_error_rows": retired, "cleanup": cleanup},
            "plan": self.plan.describe(),
        }
