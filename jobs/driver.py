"""The job driver: streams the manifest into shards, runs them through the stages and commits them.

Flow of one shard (a few hundred manifest rows, committed as one unit), staged path (GPUs)::

    rows --batches of batch_files--> decode tasks (CPU) --> segmentation actor --> embedding actor
         --> finish tasks (CPU clustering) --> commit task (4 Parquet files, status last)

and fused path (the default on CPU, ``jobs.plan``)::

    rows --batches of batch_files--> file actor (one per CPU: decode, both models, clustering)
         --> commit task (4 Parquet files, status last)

Each row is a :class:`~jobs.flight.FileState` that the stages (``jobs.stages``) fill in or end with its
error row. Bounded memory: the manifest is read batch by batch, at most ``inflight_batches`` batches
(hence a bounded number of waveforms) and a few shards are in flight, and the resume set is 8 bytes
per id. Exactly once: a shard's status file is its commit marker (``jobs.store``); a run first cleans
what crashed runs left, skips what is done and retires the error rows of the files it retries.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import ray

from .actors import Actors
from .engine import EngineSpec
from .flight import FileState, RunContext
from .keys import id_hash
from .manifest import BadRow, FileTask, Item, Manifest, ManifestError
from .plan import JobOptions, Plan, plan_resources
from .progress import JobProgress
from .records import CommitSummary, FileResult
from .stages import DecodeStage, EmbeddingStage, FinishStage, FusedStage, SegmentationStage
from .stats import ActorTotals, RunStats
from .store import Previous, Store
from .tasks import commit

log = logging.getLogger("jobs")


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def run_job(options: JobOptions) -> dict[str, Any]:
    """Run one job on the Ray cluster this process is connected to (``ray.init`` first); return the
    run report (also written to ``OUTPUT/_runs/``)."""
    if not ray.is_initialized():
        ray.init()
    return asyncio.run(Job(options).run())


@dataclass
class Resume:
    """What the run found in its output before starting: the done set, and what it cleaned and retired."""

    previous: Previous = field(default_factory=Previous)
    cleanup: dict[str, int] = field(default_factory=dict)
    retired: int = 0


class Job:
    """One run of a manifest into an output partition."""

    def __init__(self, options: JobOptions) -> None:
        self.options = options
        self.run_id = options.run_id or new_run_id()
        self.run_date = options.run_date or datetime.now(timezone.utc).date().isoformat()
        self.store = Store(options.output, self.run_date, options.storage_options)
        self.plan: Plan = plan_resources(ray.cluster_resources(), options)
        self.spec = EngineSpec.resolve(options.models, options.mode, self.plan.segmentation_batch_size,
                                       self.plan.embedding_batch_size, options.channels)
        self.stats = RunStats(options.max_crashed_files)
        self.run_context = RunContext(self.spec, self.run_id, options, self.plan, self.stats)
        self.actors = Actors(self.spec, self.plan, options.max_restarts, options.max_task_retries,
                             f"diarize-{self.run_id}")
        self.decode = DecodeStage(self.run_context)
        self.segment = SegmentationStage(self.run_context, self.actors)
        self.embed = EmbeddingStage(self.run_context, self.actors)
        self.finish = FinishStage(self.run_context)
        self.fused = FusedStage(self.run_context, self.actors)
        self.committing: set[ray.ObjectRef] = set()  # commit tasks in flight

    # -- the run ------------------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        started, clock = datetime.now(timezone.utc), time.monotonic()
        manifest = Manifest(self.options.manifest, self.options.storage_options, self.options.manifest_format,
                            input_root=self.options.input_root)
        if not self.options.allow_empty and manifest.is_empty():  # before anything is deleted or started
            what = "glob matches no audio file" if manifest.format == "glob" else "manifest has no rows"
            raise ManifestError(f"{self.options.manifest}: the {what}; nothing to do (--allow-empty makes "
                                "that a successful run)")
        resume = self._prepare(manifest)
        enabled = sys.stderr.isatty() if self.options.progress is None else self.options.progress
        self.progress = JobProgress(enabled, manifest.total_rows)
        self.batch_slots = asyncio.Semaphore(self.plan.inflight_batches)
        try:
            await self._run_shards(self._shards(manifest, resume.previous))
        finally:
            self.progress.close()
            self.actors.shutdown()
        tidied = self._tidy()
        report = self._report(started, time.monotonic() - clock, resume)
        report["shards"]["cleanup"] = tidied
        self._save_report(report)
        return report

    def _prepare(self, manifest: Manifest) -> Resume:
        """Start the partition over (``--no-resume``) or resume it: clean what crashed runs left, read the
        done set, retire the error rows of the files this run retries."""
        if not self.options.resume:
            self.store.drop_partition()
        cleanup = self.store.clean_partition()
        if not self.options.resume:
            return Resume(cleanup=cleanup)
        previous = self.store.read_previous(self.spec.fingerprint)
        retired = self._retire_errors(manifest, previous) if previous.errors_here else 0
        return Resume(previous, cleanup, retired)

    async def _run_shards(self, shards: Iterable[list[Item]]) -> None:
        """Run the shards, a bounded number at a time; the first shard to fail (e.g. ``JobAborted``) stops
        the run, once the commits under way have landed."""
        plan = self.plan
        shard_slots = asyncio.Semaphore(2 + plan.inflight_batches * plan.batch_files // plan.shard_size)
        running: set[asyncio.Task] = set()
        failures: list[BaseException] = []

        def finished(task: asyncio.Task) -> None:
            running.discard(task)
            shard_slots.release()
            if not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())  # type: ignore[arg-type]

        try:
            for index, items in enumerate(shards):
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

    @staticmethod
    def _raise_first(failures: list[BaseException]) -> None:
        if failures:
            raise failures[0]

    def _tidy(self) -> dict[str, int]:
        """After the last commit: delete the temporary files of commit tasks killed mid-write and the data
        files of shards that could not be committed, so that readers see committed shards only."""
        try:
            return self.store.clean_partition()
        except Exception as error:  # noqa: BLE001 - e.g. the store is failing; the next run cleans up
            log.warning("could not clean up the partition after the run (the next run will): %s", error)
            return {}

    def _save_report(self, report: dict[str, Any]) -> None:
        try:
            self.store.write_run_report(self.run_id, report)
        except Exception as error:  # noqa: BLE001 - e.g. a full disk: the run's outcome is still returned
            log.error("could not write the run report to %s/_runs: %s", self.options.output, error)

    def _shards(self, manifest: Manifest, previous: Previous) -> Iterator[list[Item]]:
        """Manifest rows still to do, in shards of ``shard_size``; done files are counted as skipped."""
        counters = self.stats.counters
        shard: list[Item] = []
        for batch in manifest:
            counters.rows_read += len(batch)
            tasks = [item for item in batch if isinstance(item, FileTask)]
            done = previous.done.contains([id_hash(t.file_id) for t in tasks]) if len(previous.done) else \
                [False] * len(tasks)
            skip = {id(t) for t, d in zip(tasks, done) if d}
            counters.files_skipped += len(skip)
            for item in batch:
                if id(item) in skip:
                    continue
                shard.append(item)
                if len(shard) >= self.plan.shard_size:
                    yield shard
                    shard = []
            self.progress.update(counters)
        if shard:
            yield shard
        self.progress.update(counters, total=counters.rows_read)

    def _retire_errors(self, manifest: Manifest, previous: Previous) -> int:
        """Before retrying failed files of this partition, remove their old error rows (one outcome each)."""
        retire: set[int] = set()
        for batch in manifest:
            for item in batch:
                h = id_hash(item.file_id)
                if h in previous.errors_here and (isinstance(item, BadRow) or h not in previous.done):
                    retire.add(h)
        removed = self.store.retire_errors(retire, previous.errors_here)
        log.info("retired %d error rows of earlier runs before retrying them", removed)
        return removed

    # -- one shard, one batch -----------------------------------------------------------------------------

    async def _shard(self, key: str, items: list[Item]) -> None:
        """Every row of the shard to its result, batch by batch, then the shard's commit."""
        files = [self.run_context.state_of(item) for item in items]
        running = [file for file in files if file.running]
        size = self.plan.batch_files
        await asyncio.gather(*(self._batch(running[s:s + size]) for s in range(0, len(running), size)))
        await self._commit(key, [file.final() for file in files])

    async def _batch(self, files: list[FileState]) -> list[FileState]:
        """A batch of files through the stages; a file that fails at one carries its error row to the end."""
        async with self.batch_slots:  # bounds the waveforms in flight
            if self.plan.fused:  # the whole work of each file in one file actor
                return await self.fused(files)
            decoded = await self.decode(files)
            segmented = await self.segment(decoded)
            embedded = await self.embed(segmented)
            finishing = self.finish.submit(embedded)  # the finish tasks hold what they need: the waveforms go
        return await self.finish.collect(finishing)

    async def _commit(self, key: str, results: list[FileResult]) -> None:
        ref = commit.options(num_cpus=self.plan.task_cpus).remote(self.store, key, results)
        self.committing.add(ref)
        try:
            summary: CommitSummary = await ref
        except asyncio.CancelledError:  # the run stops: the commit goes on, see _drain_commits
            raise
        except ray.exceptions.RayError as error:
            self.committing.discard(ref)
            log.error("shard %s could not be committed (a rerun will redo it): %s", key, error)
            self.stats.failed_shards.append(key)
            return
        self.committing.discard(ref)
        self.stats.committed(summary)
        self.progress.update(self.stats.counters)

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

    # -- the report -----------------------------------------------------------------------------------------

    def _report(self, started: datetime, wall: float, resume: Resume) -> dict[str, Any]:
        identity = {"run_id": self.run_id, "run_date": self.run_date, "manifest": self.options.manifest,
                    "output": self.options.output, "fingerprint": self.spec.fingerprint,
                    "model_versions": self.spec.versions_json}
        actors = ActorTotals(self.actors.started, self.actors.start_seconds, self.actors.restarts)
        resumed = {"done_before": len(resume.previous.done), "retired_error_rows": resume.retired,
                   "cleanup": resume.cleanup}
        return self.stats.report(identity, started, wall, actors, resumed, self.plan.describe())
