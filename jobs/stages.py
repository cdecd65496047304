"""The stages a batch of files goes through. Staged path: decode (CPU tasks), segmentation and embedding
(model actors), finish (CPU tasks: clustering into table rows). Fused path (CPU): one stage, the file
actors doing all of it (:class:`FusedStage`).

Every stage is called with the batch's file states and returns them, having worked on the files still
running; a file that fails at a stage ends there with its error row. Failures of the workers
themselves: a task or actor call that dies is retried by Ray; when it died on every try, a model batch
is retried one file at a time (:class:`ModelStage`) and a file that still kills its worker ends as
``worker_crashed``; a task whose code fails (not its file: e.g. the worker cannot load the models)
stops the job.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import ray

from .actors import DIARIZATION, EMBEDDING, SEGMENTATION, ActorPool, Actors, ModelCall
from .error_types import EMBEDDING_ERROR, SEGMENTATION_ERROR, WORKER_CRASHED
from .flight import FileState, RunContext
from .records import DiarizedBatch, FileOutcome, FileResult, Loaded
from .stats import JobAborted
from .tasks import decode, finish

log = logging.getLogger("jobs")


class DecodeStage:
    """One decode task per file; the waveforms stay in the object store for the model stages."""

    def __init__(self, run: RunContext) -> None:
        self.run = run

    async def __call__(self, files: list[FileState]) -> list[FileState]:
        running = [file for file in files if file.running]
        options, cpus = self.run.options, self.run.plan.task_cpus
        refs = [decode.options(num_cpus=cpus).remote(self.run.spec, file.task, options.storage_options,
                                                     options.max_duration) for file in running]
        loaded = await asyncio.gather(*(self._loaded(file, summary) for file, (summary, _) in zip(running, refs)))
        self.run.stats.add("decode", sum(summary.seconds for summary in loaded), len(running))
        for file, summary, (_, audio) in zip(running, loaded, refs):
            self.run.stats.ran("decode", summary.worker)
            file.loaded = summary
            file.seconds["decode"] = summary.seconds
            if summary.ok:
                file.audio = audio
            else:
                self.run.fail(file, summary.error_type or "", summary.message or "")
        return files

    async def _loaded(self, file: FileState, summary: ray.ObjectRef) -> Loaded:
        try:
            return await summary
        except ray.exceptions.RayTaskError as error:  # not the file: the worker could not load the pipeline
            raise JobAborted(f"a decoding worker failed: {error}") from error
        except ray.exceptions.RayError as error:  # the decoding worker died on every try (Ray retries tasks)
            self.run.stats.crashed("decode", error)
            return Loaded(False, error_type=WORKER_CRASHED,
                          message=f"{file.task.path}: crashed the decoding worker on every try "
                                  f"({type(error).__name__})")


class Isolation:
    """Batches share a stage's actors; a file retried after a crash has them to itself. Waiting retries go
    first (new batches wait for them), so a file is only called ``worker_crashed`` when it killed the
    worker with nothing else running there."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._batches = 0  # calls in flight that share the actors
        self._alone = False  # a file has the actors to itself
        self._waiting = 0  # files waiting to be retried alone

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._alone and not self._waiting)
            self._batches += 1
        try:
            yield
        finally:
            async with self._changed:
                self._batches -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def alone(self) -> AsyncIterator[None]:
        async with self._changed:
            self._waiting += 1
            await self._changed.wait_for(lambda: not self._alone and not self._batches)
            self._waiting -= 1
            self._alone = True
        try:
            yield
        finally:
            async with self._changed:
                self._alone = False
                self._changed.notify_all()


class ModelStage(ABC):
    """A model stage: a batch of files through one actor call.

    Owns the isolation of crashes: a batch whose actor died on every try is retried one file at a time,
    each with the stage's actors to itself (:class:`Isolation`) once they are up again (an actor lost with its
    node is restarted elsewhere first), so that a file that kills the worker takes no other file down with
    it; a file that kills it on its own ends as ``worker_crashed``.
    """

    name: ClassVar[str]

    def __init__(self, run: RunContext, actors: Actors) -> None:
        self.run = run
        self.actors = actors
        self.isolation = Isolation()

    def wants(self, file: FileState) -> bool:
        return file.running

    @abstractmethod
    async def call(self, pool: ActorPool, files: list[FileState]) -> Any:
        """The stage's actor call on ``files`` (one or more)."""

    @abstractmethod
    def took(self, files: list[FileState], call: Any) -> None:
        """Account for a finished call and keep what it made of ``files``."""

    async def __call__(self, files: list[FileState]) -> list[FileState]:
        wanted = [file for file in files if self.wants(file)]
        if wanted:
            await self._through(wanted)
        return files

    async def _through(self, files: list[FileState], alone: bool = False) -> None:
        pool = await self.actors.pool(self.name)
        try:
            async with self.isolation.alone() if alone else self.isolation.shared():
                if alone:  # a file is only blamed for a crash of actors that were up when it was sent
                    await pool.ready()
                call = await self.call(pool, files)
        except ray.exceptions.RayError as error:
            if alone:
                self._crashed(files[0], error)
            else:
                await self._one_by_one(files, error)
            return
        self.took(files, call)

    async def _one_by_one(self, files: list[FileState], error: BaseException) -> None:
        self.run.stats.isolated_files += len(files)
        log.warning("%s batch of %d files failed (%s); retrying them one by one", self.name, len(files),
                    type(error).__name__)
        for file in files:
            await self._through([file], alone=True)

    def _crashed(self, file: FileState, error: BaseException) -> None:
        self.run.stats.crashed(self.name, error)
        file.seconds[self.name] = 0.0
        self.run.fail(file, WORKER_CRASHED,
                      f"{file.task.path}: crashed the {self.name} worker on every try ({type(error).__name__})")


class OneModelStage(ModelStage):
    """A stage of the staged path: one model on a batch of files, the call's seconds shared out by duration."""

    error_type: ClassVar[str]  # of a file the model failed on

    @abstractmethod
    def accept(self, file: FileState, outcome: FileOutcome, output: ray.ObjectRef) -> None:
        """Keep what the model made of ``file`` for the next stages."""

    def took(self, files: list[FileState], call: ModelCall) -> None:
        seconds = call.summary.seconds
        self.run.stats.add(self.name, seconds, len(files))
        self.run.stats.ran(self.name, call.summary.worker, len(files))
        total = sum(file.duration for file in files) or 1.0
        for file, outcome, output in zip(files, call.summary.files, call.outputs):
            file.seconds[self.name] = seconds * file.duration / total
            if outcome.error is None:
                self.accept(file, outcome, output)
            else:
                self.run.fail(file, self.error_type, f"{file.task.path}: {outcome.error}")


class SegmentationStage(OneModelStage):
    name = SEGMENTATION
    error_type = SEGMENTATION_ERROR

    async def call(self, pool: ActorPool, files: list[FileState]) -> ModelCall:
        return await pool.segment([file.audio for file in files])

    def accept(self, file: FileState, outcome: FileOutcome, output: ray.ObjectRef) -> None:
        file.segmentation = output
        file.needs_embeddings = outcome.needs_embeddings


class EmbeddingStage(OneModelStage):
    """Only files with speech to embed (a silent file goes on to finish without embeddings)."""

    name = EMBEDDING
    error_type = EMBEDDING_ERROR

    def wants(self, file: FileState) -> bool:
        return file.running and file.needs_embeddings

    async def call(self, pool: ActorPool, files: list[FileState]) -> ModelCall:
        return await pool.embed([file.audio for file in files], [file.segmentation for file in files])

    def accept(self, file: FileState, outcome: FileOutcome, output: ray.ObjectRef) -> None:
        file.embeddings = output


class FusedStage(ModelStage):
    """The fused path's one stage: file actors take a batch of file tasks and return their results (the
    same rows the staged path gives); worker seconds are counted per stage as the actor measured them."""

    name = DIARIZATION

    async def call(self, pool: ActorPool, files: list[FileState]) -> DiarizedBatch:
        options = self.run.options
        return await pool.diarize(self.run.run_id, [file.task for file in files], options.storage_options,
                                  options.max_duration)

    def took(self, files: list[FileState], call: DiarizedBatch) -> None:
        stats = self.run.stats
        for file, result in zip(files, call.results):
            for stage, seconds in result.seconds.items():
                stats.add(stage, seconds, 1)
                stats.ran(stage, result.worker)  # the file actor's node did each of the file's stages
            file.end(result)


class FinishStage:
    """One finish task per file (clustering, reconstruction, table rows): ``submit`` starts them and lets
    the waveforms go, ``collect`` waits for their results."""

    def __init__(self, run: RunContext) -> None:
        self.run = run

    def submit(self, files: list[FileState]) -> list[FileState]:
        run, task = self.run, finish.options(num_cpus=self.run.plan.task_cpus)
        for file in files:
            if file.running:
                file.finish_with(task.remote(run.spec, run.run_id, file.task, file.loaded, file.seconds,
                                             file.segmentation, file.embeddings))
                run.stats.add("clustering", files=1)
        return files

    async def collect(self, files: list[FileState]) -> list[FileState]:
        await asyncio.gather(*(self._collect(file) for file in files if file.finishing is not None))
        return files

    async def _collect(self, file: FileState) -> None:
        try:
            result: FileResult = await file.finishing
        except ray.exceptions.RayTaskError as error:
            raise JobAborted(f"a clustering worker failed: {error}") from error
        except ray.exceptions.RayError as error:  # the clustering worker died on every try
            self.run.stats.crashed("clustering", error)
            self.run.fail(file, WORKER_CRASHED, f"{file.task.path}: crashed the clustering worker on every try "
                                                f"({type(error).__name__})")
            return
        self.run.stats.add("clustering", result.seconds.get("clustering", 0.0))
        self.run.stats.ran("clustering", result.worker)
        file.end(result)
