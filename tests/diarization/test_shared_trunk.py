"""The fast embedding path: one trunk pass per block of chunks instead of one per chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diarization.audio import load_audio
from diarization.embedding import chunk_embeddings, load_embedding_model
from diarization.models.pyannet import load_segmentation_model
from diarization.segmentation import Segmenter
from diarization.shared_trunk import _active_groups, shared_trunk_embeddings, supports_shared_trunk
from diarization.windows import SlidingWindow


@pytest.fixture(scope="module")
def setup(models_dir: Path, artifacts_dir: Path):
    torch.manual_seed(0)
    embedder = load_embedding_model(models_dir / "campplus-sv-zh-en-common")
    segmenter = Segmenter(load_segmentation_model(models_dir / "segmentation-3.0"), step=2.5)
    audio = load_audio(artifacts_dir / "test.wav")
    return embedder, audio, segmenter(audio.waveform)


def test_one_chunk_per_block_is_the_exact_computation(setup) -> None:
    embedder, audio, segmentations = setup
    exact = chunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True)
    shared = shared_trunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True,
                                     block_seconds=10.0)
    assert np.array_equal(np.isnan(exact), np.isnan(shared))
    valid = ~np.isnan(exact)
    assert np.allclose(exact[valid], shared[valid], atol=1e-4)


def test_shared_blocks_stay_close_to_exact(setup) -> None:
    embedder, audio, segmentations = setup
    exact = chunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True)
    shared = shared_trunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True)
    active = ~np.isnan(exact[:, :, 0])
    assert np.array_equal(active, ~np.isnan(shared[:, :, 0]))
    a, b = exact[active], shared[active]
    cosine = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    # context beyond the chunk (CAM++'s global context gate, feature normalisation over the block) moves
    # embeddings a little; speakers with few active frames move most (measured: median 0.95, min 0.65)
    assert np.median(cosine) > 0.93 and cosine.min() > 0.5, cosine


def test_grid_alignment_and_grouping(setup) -> None:
    embedder, _, _ = setup
    assert supports_shared_trunk(embedder, SlidingWindow(0.0, 10.0, 1.0))
    assert not supports_shared_trunk(embedder, SlidingWindow(0.0, 10.0, 0.33))
    active = np.array([0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0], dtype=bool)
    groups = _active_groups(active, per_block=3)
    covered = sorted(c for first, last in groups for c in range(first, last))
    assert set(np.flatnonzero(active)) <= set(covered) and len(covered) == len(set(covered))
    assert all(last - first <= 3 for first, last in groups)
