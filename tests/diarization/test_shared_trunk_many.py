"""Trunk tiles of many files in shared passes: each file's embeddings equal its single-file ones."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from diarization.audio import Audio
from diarization.config import engine_config
from diarization.embedding_paths import EmbeddingPath
from diarization.pipeline import Pipeline
from diarization.shared_trunk import equal_length_batches, shared_trunk_embeddings
from diarization.shared_trunk_many import shared_trunk_embeddings_many, waves
from diarization.split_calls import channel_parts, is_split

RATE = 16000
SECONDS = (20.0, 47.0, 75.0, 75.0, 130.0)  # the two 75 s files, cut at different places, batch all their tiles


@pytest.fixture(scope="module")
def pipeline(models_dir: Path) -> Pipeline:
    """The default (fast, CAM++) model set on CPU."""
    return Pipeline(dataclasses.replace(engine_config(models_dir), device="cpu"))


@pytest.fixture(scope="module")
def files(pipeline: Pipeline, dev_dir: Path, shared_dir: Path) -> list[tuple[Audio, object]]:
    """(audio, segmentation) of short mono files of different lengths cut from the joined LibriSpeech
    conversations, then a stereo call split by channel."""
    pool = torch.cat([pipeline.load(path).waveform[0]
                      for path in sorted((dev_dir / "libri_conversations").glob("*.wav"))[:12]])
    audios, at = [], 0
    for number, seconds in enumerate(SECONDS):
        audios.append(Audio(pool[at:at + int(seconds * RATE)][None], RATE, f"cut{number}", RATE, 1))
        at += int(seconds * RATE) // 2
    call = pipeline.load(shared_dir / "data" / "dev-calls" / "stereo" / "devcall_01.wav", channels="split")
    assert is_split(call)
    audios.append(call)
    return list(zip(audios, pipeline.segment_many(audios)))


@pytest.fixture(scope="module")
def items(files) -> list[tuple[torch.Tensor, object]]:
    """(waveform (1, samples), segmentation) of each mono file and of each talking channel of the call."""
    out = [(audio.waveform, segmentation) for audio, segmentation in files if not is_split(audio)]
    call, segmentation = files[-1]
    return out + [(part.waveform, part.segmentation) for part in channel_parts(call, segmentation)]


def assert_same_embeddings(got: np.ndarray, expected: np.ndarray) -> None:
    """Same NaN positions; unit-normalised embeddings within 1e-4 of each other. (Batched and single trunk
    passes differ by float rounding, ~1e-6 of the frames; a speaker whose pooling weights sum to ~1 frame
    amplifies it: 2e-4 was seen on 8 x 90 s files, median 2e-7. These files have no such row.)"""
    assert got.shape == expected.shape
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    valid = ~np.isnan(expected[..., 0])
    assert valid.any()
    unit = lambda x: x[valid] / np.linalg.norm(x[valid], axis=-1, keepdims=True)
    assert np.abs(unit(got) - unit(expected)).max() < 1e-4


def test_files_batched_together_equal_each_file_alone(pipeline: Pipeline, items) -> None:
    embedder = pipeline.embedder
    alone = [shared_trunk_embeddings(embedder, waveform, segmentation, pipeline.exclude_overlap)
             for waveform, segmentation in items]  # first: the chunk-width probe pass is cached then
    passes: list[int] = []
    trunk = embedder.network.trunk

    def counted(audio: torch.Tensor) -> torch.Tensor:
        passes.append(audio.shape[0])
        return trunk(audio)

    embedder.network.trunk = counted
    try:
        batched = shared_trunk_embeddings_many(embedder, items, pipeline.exclude_overlap, tile_batch=4)
    finally:
        del embedder.network.trunk
    # 1 + 1 + 2 + 2 + 3 tiles, plus the call's two 41 s channels: first tiles of the 75 and 130 s files
    # share a pass, and so do the two 75 s files' last tiles and the two channels
    assert max(passes) > 1 and sum(passes) == 11
    assert len(batched) == len(items)
    for got, expected in zip(batched, alone):
        assert_same_embeddings(got, expected)


def test_embed_many_batches_across_files_and_channels(pipeline: Pipeline, files, monkeypatch) -> None:
    """``Pipeline.embed_many`` on the shared-trunk path (CPU with one torch thread) with 4 tiles per pass
    equals each file embedded alone, the split call's columns put back in place."""
    files = [files[0], files[3], files[-1]]  # 20 s, 75 s and the call
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert pipeline.embedding_path is EmbeddingPath.SHARED_TRUNK
        monkeypatch.setattr("diarization.shared_trunk_many.device_groups", lambda model: (32, 4))
        batched = pipeline.embed_many(files)
        monkeypatch.undo()
        alone = [pipeline.embed_many([file])[0] for file in files]
    finally:
        torch.set_num_threads(threads)
    assert batched[-1].shape[1] == files[-1][1].data.shape[2]  # the call: every column of both channels
    for got, expected in zip(batched, alone):
        assert_same_embeddings(got, expected)


def test_equal_length_batches_group_in_order() -> None:
    assert equal_length_batches([5, 7, 5, 5, 7, 3], batch=2) == [[0, 2], [3], [1, 4], [5]]
    assert equal_length_batches([4, 4], batch=1) == [[0], [1]]
    assert equal_length_batches([], batch=8) == []


def test_waves_bound_the_tiles_held_and_keep_long_files_alone() -> None:
    assert waves([3, 3, 3, 3], limit=7, alone=8) == [[0, 1], [2, 3]]
    assert waves([3, 9, 2, 2], limit=64, alone=8) == [[0], [1], [2, 3]]
    assert waves([9], limit=64, alone=8) == [[0]]
    assert waves([], limit=64) == []
    assert waves([0, 0, 2], limit=2, alone=8) == [[0, 1, 2]]
