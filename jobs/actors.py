"""The long-lived model actors and the driver-side pools that spread calls over them.

A model actor loads the pipeline once and keeps it on its GPU (or CPU). The staged path (GPUs) has one
pool per model stage (segmentation, embedding): one call takes a batch of files; the engine batches their
chunks together. Each call returns ``1 + n`` objects: a :class:`BatchSummary` first (what the driver
awaits), then one object per file (which flows on to the next stage without passing through the driver).
The fused path (CPU only) has one pool of :class:`FileActor`, one per CPU: one call does the whole work of
its files (decode, both models, clustering) in the actor's process and returns their table rows.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ray

from .engine import EngineSpec, build_pipeline
from .manifest import FileTask
from .plan import Plan
from .records import BatchSummary, DiarizedBatch, FileOutcome, Worker
from .work import diarize_file

SEGMENTATION, EMBEDDING = "segmentation", "embedding"
DIARIZATION = "diarization"  # the fused path's one stage: the whole work of a file
READY_TIMEOUT = 300.0  # seconds to wait for a restarting actor (its node lost: detected, rescheduled, models loaded)


class ModelActor:
    """Holds the pipeline's models on one device for the whole job; serves one stage."""

    def __init__(self, spec: EngineSpec, stage: str, device: str, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.spec = spec
        self.stage = stage
        self.pipeline = build_pipeline(spec, device)
        self.current: list[str] = []  # uris of the batch being processed

    @ray.method(concurrency_group="control")
    def info(self) -> dict[str, Any]:
        """Who and where this actor is and what it works on; answered at once, even during a batch."""
        return {"pid": os.getpid(), "stage": self.stage, "device": str(self.pipeline.device),
                "node": os.uname().nodename, "current": list(self.current)}

    def segment(self, *audios: Any) -> tuple:
        """(BatchSummary, one segmentation per file); each outcome says whether the file needs embeddings."""
        self.current = [audio.uri for audio in audios]
        return self._run(self.pipeline.segment_many, list(audios), lambda segmentation: FileOutcome(
            needs_embeddings=self.pipeline.needs_embeddings(segmentation)))

    def embed(self, count: int, *audios_then_segmentations: Any) -> tuple:
        """(BatchSummary, embeddings per file) for ``count`` audios followed by their ``count`` segmentations."""
        pairs = list(zip(audios_then_segmentations[:count], audios_then_segmentations[count:]))
        self.current = [audio.uri for audio, _ in pairs]
        return self._run(self.pipeline.embed_many, pairs, lambda _: FileOutcome())

    def _run(self, many: Callable[[list], Any], items: list, outcome_of: Callable[[Any], FileOutcome]) -> tuple:
        """``many(items)`` in one go; when that raises, item by item, so that only the failing files fail."""
        start = time.perf_counter()
        try:
            outputs = list(many(items))
            outcomes = [outcome_of(output) for output in outputs]
        except Exception:  # noqa: BLE001 - find which file fails: run them one by one
            outputs, outcomes = [], []
            for item in items:
                try:
                    [output] = many([item])
                    outcome = outcome_of(output)
                except Exception as error:  # noqa: BLE001
                    output, outcome = None, FileOutcome(error=f"{type(error).__name__}: {error}")
                outputs.append(output)
                outcomes.append(outcome)
        self.current = []
        return (BatchSummary(os.getpid(), time.perf_counter() - start, outcomes, Worker.here()), *outputs)


class FileActor(ModelActor):
    """The fused CPU path: one actor per CPU, one torch thread, both models; each call diarizes its files one
    after another in this process (no waveform or model output crosses processes), into their table rows."""

    def diarize(self, run_id: str, tasks: list[FileTask], storage_options: dict, max_duration: float | None
                ) -> DiarizedBatch:
        start = time.perf_counter()
        results = []
        for task in tasks:
            self.current = [task.path]
            results.append(diarize_file(self.pipeline, self.spec, run_id, task, storage_options, max_duration))
        self.current = []
        return DiarizedBatch(os.getpid(), time.perf_counter() - start, results)


@dataclass(frozen=True)
class ModelCall:
    """A finished model call: its summary and one object ref per file (the file's output)."""

    summary: BatchSummary
    outputs: list[ray.ObjectRef]


class ActorPool:
    """The actors of one stage; each batch goes to the actor with the fewest calls in flight."""

    def __init__(self, stage: str, count: int, spec: EngineSpec, device: str, num_cpus: float, num_gpus: float,
                 threads: int, max_restarts: int, max_task_retries: int, name_prefix: str) -> None:
        actor_class = FileActor if stage == DIARIZATION else ModelActor
        remote = ray.remote(concurrency_groups={"control": 1})(actor_class)  # model calls stay one at a time
        self.stage = stage
        self.names = [f"{name_prefix}-{stage}-{i}" for i in range(count)]
        self.actors = [remote.options(name=name, num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=max_restarts,
                                      max_task_retries=max_task_retries).remote(spec, stage, device, threads)
                       for name in self.names]
        self.in_flight = [0] * count
        self.max_restarts = max_restarts
        self.max_task_retries = max_task_retries
        self.pids: list[set[int]] = [set() for _ in range(count)]

    async def start(self) -> list[dict[str, Any]]:
        """Wait until every actor has loaded its models (fails fast on a broken model or device)."""
        infos = [await actor.info.remote() for actor in self.actors]
        for i, info in enumerate(infos):
            self.pids[i].add(info["pid"])
        return infos

    async def ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until every actor answers: one being restarted (say, elsewhere after its node was lost) answers
        once it is up again with its models loaded. Until Ray knows the old one is gone, calls fail at once
        (``ActorUnavailableError``) and would use up their retries, so a file retried alone after a node
        loss would be blamed for the crash. Gives up quietly at ``timeout`` or when an actor cannot load
        its models (the call then fails as it would), and does not wait at all without restarts or retries
        (``max_restarts=0`` or ``max_task_retries=0``: calls are at most once, a file sent to an actor
        that is not up fails at once)."""
        deadline = time.monotonic() + timeout
        waits = self.max_restarts != 0 and self.max_task_retries != 0
        for index, actor in enumerate(self.actors):
            while waits and time.monotonic() < deadline:
                try:
                    info = await asyncio.wait_for(actor.info.remote(), max(0.1, deadline - time.monotonic()))
                except (ray.exceptions.RayError, asyncio.TimeoutError) as error:
                    if getattr(error, "actor_init_failed", False):  # RayActorError: it can never come up
                        break
                    await asyncio.sleep(0.5)  # restarting, or unreachable until Ray knows it is gone
                    continue
                self.pids[index].add(info["pid"])
                break

    @property
    def restarts(self) -> int:
        """Actor restarts seen so far (a restarted actor answers from a new process id)."""
        return sum(max(0, len(p) - 1) for p in self.pids)

    async def segment(self, audios: Sequence[ray.ObjectRef]) -> ModelCall:
        """``ModelActor.segment`` on one or more decoded files."""
        return await self._call(lambda actor: actor.segment, list(audios), len(audios))

    async def embed(self, audios: Sequence[ray.ObjectRef], segmentations: Sequence[ray.ObjectRef]) -> ModelCall:
        """``ModelActor.embed`` on one or more files and their segmentations."""
        return await self._call(lambda actor: actor.embed, [len(audios), *audios, *segmentations], len(audios))

    async def diarize(self, run_id: str, tasks: Sequence[FileTask], storage_options: dict,
                      max_duration: float | None) -> DiarizedBatch:
        """``FileActor.diarize``: the whole work of one or more files."""
        [batch] = await self._refs(lambda actor: actor.diarize, [run_id, list(tasks), storage_options, max_duration],
                                   returns=1)
        return batch

    async def _call(self, method_of: Callable[[Any], Any], args: list[Any], files: int) -> ModelCall:
        """``method_of(actor)(*args)`` on the least busy actor, for a batch of ``files`` files."""
        summary, *outputs = await self._refs(method_of, args, returns=1 + files)
        return ModelCall(summary, outputs)

    async def _refs(self, method_of: Callable[[Any], Any], args: list[Any], returns: int) -> list[Any]:
        """``method_of(actor)(*args)`` on the least busy actor: its ``returns`` objects, the first awaited
        (a summary with the actor's ``pid``), the others as refs.

        Raises a ``ray.exceptions.RayError`` when the actor died on every try (Ray restarts it and
        retries the call ``max_task_retries`` times first).
        """
        index = min(range(len(self.actors)), key=self.in_flight.__getitem__)
        self.in_flight[index] += 1
        try:
            refs = method_of(self.actors[index]).options(num_returns=returns).remote(*args)
            refs = refs if returns > 1 else [refs]
            first = await refs[0]
        finally:
            self.in_flight[index] -= 1
        self.pids[index].add(first.pid)
        return [first, *refs[1:]]

    def shutdown(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)


class Actors:
    """The job's model actors: one pool per model stage (or the fused path's one pool of file actors), all
    created and started on first use (a run with nothing to diarize starts none)."""

    def __init__(self, spec: EngineSpec, plan: Plan, max_restarts: int, max_task_retries: int,
                 name_prefix: str) -> None:
        self.spec = spec
        self.plan = plan
        self.max_restarts = max_restarts
        self.max_task_retries = max_task_retries
        self.max_task_retries = max_task_retries
        self.name_prefix = name_prefix
        self.pools: dict[str, ActorPool] = {}
        self.start_seconds = 0.0
        self._lock = asyncio.Lock()

    async def pool(self, stage: str) -> ActorPool:
        """The pool of ``stage``, once every actor of every stage has loaded its models."""
        async with self._lock:
            if not self.pools:
                await self._start()
        return self.pools[stage]

    async def _start(self) -> None:
        plan = self.plan
        stages = ((DIARIZATION, plan.file_actors),) if plan.fused else \
            ((SEGMENTATION, plan.segmentation_actors), (EMBEDDING, plan.embedding_actors))
        for stage, count in stages:
            self.pools[stage] = ActorPool(stage, count, self.spec, plan.device, plan.actor_cpus, plan.actor_gpus,
                                          plan.actor_threads, self.max_restarts, self.max_task_retries,
                                          self.name_prefix)
        started = time.monotonic()
        for pool in self.pools.values():
            await pool.start()
        self.start_seconds = time.monotonic() - started

    @property
    def started(self) -> int:
        return sum(len(pool.actors) for pool in self.pools.values())

    @property
    def restarts(self) -> int:
        return sum(pool.restarts for pool in self.pools.values())

    def shutdown(self) -> None:
        for pool in self.pools.values():
            pool.shutdown()
