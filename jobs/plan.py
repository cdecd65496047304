"""Job options, and the resource plan derived from them and from the cluster (``ray.cluster_resources()``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .dates import fill_run_date, resolve_run_date

PIPELINES = (None, "auto", "fused", "staged")
FUSED_CPU_SHARE = 0.9  # of the CPUs, reserved by the fused path's file actors (the rest: commit tasks)
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # becomes part of file names: no '/', no '..'


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is safe inside an output file name, else ValueError."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise ValueError(f"run id {run_id!r}: use 1-128 letters, digits, '.', '_' or '-' "
                         "(starting with a letter or digit, no '..')")
    return run_id


@dataclass
class JobOptions:
    """Everything ``diarize run`` accepts (see ``jobs.cli`` for the help text of each option)."""

    manifest: str  # "{run_date}" in it becomes the run date
    output: str
    run_date: str | None = None  # partition: YYYY-MM-DD, "today" (the default) or "yesterday", in UTC
    run_id: str | None = None  # default: a new time-based id; letters, digits, '.', '_', '-'
    models: str | None = None
    mode: str | None = None  # "exact" or "fast" (default: the model set's)
    channels: str | None = None  # mix, split or auto: how files' channels are diarized (default: auto)
    device: str | None = None  # "cuda" / "cpu"; default: cuda when the cluster has GPUs
    storage_options: dict[str, Any] = field(default_factory=dict)
    manifest_format: str | None = None
    resume: bool = True
    shard_size: int = 256
    batch_files: int | None = None
    pipeline: str | None = None  # "fused", "staged" or "auto" (the default): see plan_resources
    actors: int | None = None  # file actors (fused) or actors per model stage (staged)
    segmentation_actors: int | None = None
    embedding_actors: int | None = None
    gpus_per_actor: float | None = None
    cpus_per_actor: float | None = None
    cpus_per_task: float | None = None  # CPUs of each decode, clustering and commit task
    segmentation_batch_size: int | None = None
    embedding_batch_size: int | None = None
    max_inflight_batches: int | None = None
    max_duration: float | None = None
    max_restarts: int = -1
    max_task_retries: int = 2
    max_crashed_files: int = 100
    progress: bool | None = None  # default: when standard error is a terminal
    input_root: str | None = None  # folder or URL prefix every manifest path must lie under
    allow_empty: bool = False  # an empty manifest (or a glob matching nothing) is a run of 0 files, not an error

    def __post_init__(self) -> None:
        """Resolve the run date and fill it into the manifest and input root; refuse a run id or run date
        that could place files outside the output, and a bad input root."""
        if self.run_id is not None:
            check_run_id(self.run_id)
        if self.pipeline not in PIPELINES:
            raise ValueError(f"pipeline {self.pipeline!r}: use one of {', '.join(p for p in PIPELINES if p)}")
        self.run_date = resolve_run_date(self.run_date)
        self.manifest = fill_run_date(self.manifest, self.run_date)
        if self.input_root:
            self.input_root = fill_run_date(self.input_root, self.run_date)
            from .manifest import InputRoot

            InputRoot(self.input_root)


@dataclass(frozen=True)
class Plan:
    """How the job uses the cluster."""

    device: str
    segmentation_actors: int  # staged path (0 on the fused path)
    embedding_actors: int  # staged path (0 on the fused path)
    actor_gpus: float
    actor_cpus: float
    actor_threads: int
    task_cpus: float
    batch_files: int
    inflight_batches: int
    shard_size: int
    segmentation_batch_size: int | None
    embedding_batch_size: int | None
    file_actors: int = 0  # fused path: actors doing the whole work of a file (0 on the staged path)

    @property
    def fused(self) -> bool:
        """One pool of file actors (CPU) instead of a segmentation and an embedding stage."""
        return self.file_actors > 0

    def describe(self) -> dict[str, Any]:
        return dict(self.__dict__)


def uses_fused_path(options: JobOptions, on_gpu: bool) -> bool:
    """``pipeline="auto"`` (the default): fused on CPU, unless actors per model stage were asked for."""
    if options.pipeline in ("fused", "staged"):
        return options.pipeline == "fused"
    return not on_gpu and not options.segmentation_actors and not options.embedding_actors


def plan_resources(resources: dict[str, float], options: JobOptions) -> Plan:
    """Defaults from the cluster's resources, overridden by any option given.

    Fused path (the default on CPU): one file actor per CPU (``actors``), one torch thread each, doing the
    whole work of a file (decode, both models, clustering) in its own process, so every core runs model
    work all the time and no waveform crosses processes; the actors reserve 90% of the CPUs, the commit
    tasks the rest; one file per call, two calls in flight per actor (a short tail at the end of a run).
    Staged path (the default with GPUs): separate segmentation and embedding actors, decode and finish tasks.
    With GPUs: one segmentation and one embedding actor per GPU, sharing it (0.5 GPU each), bigger
    model batches. On an autoscaling cluster whose GPU nodes are not up yet (no GPU in the cluster's
    resources), ask for them: ``device="cuda"`` and ``segmentation_actors``/``embedding_actors``; the
    actors' pending GPU demand makes the autoscaler add nodes. CPU only: actors together reserve at most half of the cluster's CPUs (the other
    half decodes and clusters), one actor of each stage per 8 CPUs, one torch thread per reserved CPU.
    """
    cpus = max(float(resources.get("CPU", 1.0)), 0.5)
    gpus = float(resources.get("GPU", 0.0))
    device = options.device or ("cuda" if gpus > 0 else "cpu")
    on_gpu = device.startswith("cuda")
    if uses_fused_path(options, on_gpu):
        return _fused_plan(cpus, device, options)
    if on_gpu:
        per_stage = max(1, int(gpus))
    else:
        per_stage = max(1, int(cpus // 8))
    seg = options.segmentation_actors or options.actors or per_stage
    emb = options.embedding_actors or options.actors or per_stage
    actors = seg + emb
    if on_gpu:
        actor_gpus = options.gpus_per_actor or 0.5
        actor_cpus = options.cpus_per_actor if options.cpus_per_actor is not None else 1.0
        task_cpus = 1.0
    else:
        actor_gpus = 0.0
        actor_cpus = options.cpus_per_actor if options.cpus_per_actor is not None else \
            min(2.0, round(cpus / 2 / actors, 3))
        task_cpus = min(1.0, max(cpus - actor_cpus * actors, 0.01))
    if options.cpus_per_task is not None:
        task_cpus = options.cpus_per_task
    threads = max(1, math.floor(actor_cpus))
    batch_files = options.batch_files or (32 if on_gpu else 8)
    inflight = options.max_inflight_batches or max(4, 3 * actors)
    return Plan(device=device, segmentation_actors=seg, embedding_actors=emb, actor_gpus=actor_gpus,
                actor_cpus=actor_cpus, actor_threads=threads, task_cpus=task_cpus, batch_files=batch_files,
                inflight_batches=inflight, shard_size=max(1, options.shard_size),
                segmentation_batch_size=options.segmentation_batch_size or (128 if on_gpu else None),
                embedding_batch_size=options.embedding_batch_size or (128 if on_gpu else None))


def _fused_plan(cpus: float, device: str, options: JobOptions) -> Plan:
    actors = options.actors or max(1, int(cpus))
    actor_cpus = options.cpus_per_actor if options.cpus_per_actor is not None else \
        round(cpus * FUSED_CPU_SHARE / actors, 3)
    on_gpu = device.startswith("cuda")
    return Plan(device=device, segmentation_actors=0, embedding_actors=0, file_actors=actors,
                actor_gpus=(options.gpus_per_actor or 0.5) if on_gpu else 0.0, actor_cpus=actor_cpus,
                actor_threads=max(1, math.floor(actor_cpus)),
                task_cpus=options.cpus_per_task if options.cpus_per_task is not None
                else round(min(1.0, max(cpus - actor_cpus * actors, 0.01)), 3),
                batch_files=options.batch_files or 1,
                inflight_batches=options.max_inflight_batches or 2 * actors, shard_size=max(1, options.shard_size),
                segmentation_batch_size=options.segmentation_batch_size,
                embedding_batch_size=options.embedding_batch_size)
