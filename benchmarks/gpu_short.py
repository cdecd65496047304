"""The many-short-files case of ``benchmarks.gpu``: an archive of N calls of M minutes, run as the Ray job's
staged GPU path runs a batch of files.

The calls are cut from the dev speech pool at different offsets; ``DISTINCT_FILES`` of them are written
once as 16 kHz PCM16 WAVs and the N calls cycle through them (each call is decoded from disk on its own;
N x 3 min would otherwise take ~6 GB of temp disk). Batches of ``batch_files`` calls go through the stages
the job's actors run: decode every file (CPU tasks in the job), ``segment_many`` over the batch (the
segmentation actor), ``embed_many`` over the batch's files with speech (the embedding actor: their trunk
tiles share network passes), then clustering + reconstruction per file (CPU tasks), each GPU stage timed
with a device sync. Here the stages run one after another; the job overlaps the CPU stages with the GPU
ones, so the GPU stages' share is what one GPU's throughput depends on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.compare.inputs import RATE, write_tiled
from diarization import Pipeline

DISTINCT_FILES = 32
STAGES = ("decode", "segmentation", "embeddings", "clustering")


@dataclass(frozen=True)
class ShortRun:
    """Seconds per stage over the whole archive, and the embedding trunk's passes."""

    seconds: tuple[float, ...]  # one per ``STAGES`` entry
    trunk_passes: int
    trunk_tiles: int  # tiles (inputs) over all passes

    @property
    def total(self) -> float:
        return float(sum(self.seconds))

    @property
    def gpu_stages(self) -> float:
        """Segmentation + embeddings: the stages on the GPU."""
        return self.seconds[STAGES.index("segmentation")] + self.seconds[STAGES.index("embeddings")]

    def breakdown(self) -> str:
        return ", ".join(f"{name} {value:.2f}" for name, value in zip(STAGES, self.seconds))


def write_calls(work: Path, pool: np.ndarray, count: int, seconds: float) -> list[Path]:
    """``count`` call paths: up to ``DISTINCT_FILES`` WAVs of ``seconds`` cut from the pool at spread-out
    offsets, written once, repeated in turn."""
    distinct = min(count, DISTINCT_FILES)
    offsets = (np.arange(distinct) * len(pool) // distinct).tolist()
    files = [write_tiled(work / f"call{k:02d}.wav", np.roll(pool, -offset), seconds)
             for k, offset in enumerate(offsets)]
    return [files[k % distinct] for k in range(count)]


@contextmanager
def counted_trunk_passes(pipeline: Pipeline) -> Iterator[list[int]]:
    """The batch size of every embedding trunk pass made while the block runs."""
    network = pipeline.embedder.network
    trunk = network.trunk
    sizes: list[int] = []

    def counted(audio: torch.Tensor) -> torch.Tensor:
        sizes.append(int(audio.shape[0]))
        return trunk(audio)

    network.trunk = counted
    try:
        yield sizes
    finally:
        del network.trunk


def run_batch(pipeline: Pipeline, paths: Sequence[Path]) -> np.ndarray:
    """One batch of files through the job's stages; (len(STAGES),) seconds."""
    sync = torch.cuda.synchronize if pipeline.device.type == "cuda" else (lambda: None)
    times = np.zeros(len(STAGES))
    mark = time.perf_counter()
    audios = [pipeline.load(path) for path in paths]
    times[0] = time.perf_counter() - mark
    mark = time.perf_counter()
    audios = [pipeline.on_device(audio) for audio in audios]
    segmentations = pipeline.segment_many(audios)
    sync()
    times[1] = time.perf_counter() - mark
    mark = time.perf_counter()
    talking = [k for k, segmentation in enumerate(segmentations) if pipeline.needs_embeddings(segmentation)]
    embedded = pipeline.embed_many([(audios[k], segmentations[k]) for k in talking])
    sync()
    times[2] = time.perf_counter() - mark
    mark = time.perf_counter()
    embeddings = dict(zip(talking, embedded))
    for k, (audio, segmentation) in enumerate(zip(audios, segmentations)):
        pipeline.finish(audio.uri, audio.duration, segmentation, embeddings.get(k),
                        telephone=audio.telephone)
    times[3] = time.perf_counter() - mark
    return times


def run_short_files(pipeline: Pipeline, paths: Sequence[Path], batch_files: int) -> ShortRun:
    """Every path through ``run_batch``, ``batch_files`` at a time."""
    times = np.zeros(len(STAGES))
    with counted_trunk_passes(pipeline) as sizes:
        for at in range(0, len(paths), batch_files):
            times += run_batch(pipeline, paths[at:at + batch_files])
    return ShortRun(tuple(float(t) for t in times), len(sizes), sum(sizes))
