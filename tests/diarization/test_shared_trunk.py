"""The fast embedding path: one trunk pass over the file, in tiles, instead of one per chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diarization.audio import load_audio
from diarization.embedding import chunk_embeddings, load_embedding_model
from diarization.models.pyannet import load_segmentation_model
from diarization.segmentation import Segmenter
from diarization.shared_trunk import (shared_trunk_embeddings, supports_shared_trunk, tile_frames, tiles_frames,
                                      trunk_grid, trunk_masks)
from diarization.windows import SlidingWindow


@pytest.fixture(scope="module")
def setup(models_dir: Path, artifacts_dir: Path):
    torch.manual_seed(0)
    embedder = load_embedding_model(models_dir / "campplus-sv-zh-en-common")
    segmenter = Segmenter(load_segmentation_model(models_dir / "segmentation-3.0"), step=2.5)
    audio = load_audio(artifacts_dir / "test.wav")
    return embedder, audio, segmenter(audio.waveform)


def test_a_lone_chunk_is_the_exact_computation(setup) -> None:
    """A file of one chunk: the tile holds exactly the chunk's audio plus zero context past its end."""
    embedder, audio, _ = setup
    waveform = audio.waveform[:, :16000 * 10]
    segmentations = setup[2]
    one = type(segmentations)(segmentations.data[:1], segmentations.window)
    exact = chunk_embeddings(embedder, waveform, one, exclude_overlap=True)
    shared = shared_trunk_embeddings(embedder, waveform, one, exclude_overlap=True, centre_weighted=False)
    assert np.array_equal(np.isnan(exact), np.isnan(shared))
    valid = ~np.isnan(exact)
    cosine = np.sum(exact * shared, axis=-1)[valid[..., 0]] / np.linalg.norm(exact, axis=-1)[valid[..., 0]] \
        / np.linalg.norm(shared, axis=-1)[valid[..., 0]]
    assert cosine.min() > 0.999, cosine


def test_shared_blocks_stay_close_to_exact(setup) -> None:
    embedder, audio, segmentations = setup
    exact = chunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True)
    shared = shared_trunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True,
                                     centre_weighted=False)
    active = ~np.isnan(exact[:, :, 0])
    assert active.sum() > 10
    assert np.array_equal(active, ~np.isnan(shared[:, :, 0]))
    a, b = exact[active], shared[active]
    cosine = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    # context beyond the chunk (CAM++'s global context gate, feature normalisation over the block) moves
    # embeddings a little; speakers with few active frames move most (measured: median 0.95, min 0.65)
    assert np.median(cosine) > 0.93 and cosine.min() > 0.5, cosine


def test_grid_alignment_and_tiles(setup) -> None:
    embedder, audio, segmentations = setup
    assert supports_shared_trunk(embedder, SlidingWindow(0.0, 10.0, 1.0))
    assert not supports_shared_trunk(embedder, SlidingWindow(0.0, 10.0, 0.33))
    grid = trunk_grid(embedder, segmentations.window, len(segmentations), tile_seconds=20.0)
    assert (grid.hop, grid.tile, grid.chunk_step, grid.chunk_width) == (320, 1000, 125, 499)
    assert grid.chunk_frames(0, 3) == (0, 2 * 125 + 499)
    assert grid.num_tiles == -(-grid.num_frames // 1000)
    assert grid.chunks_ending_by(498) == 0 and grid.chunks_ending_by(499) == 1 and grid.chunks_ending_by(624) == 2
    assert list(grid.tiles_of(990, 1001)) == [0, 1]


def test_tile_size_changes_little(setup) -> None:
    """Tiles of 20 s or 60 s: the same embeddings but for context far from each chunk."""
    embedder, audio, segmentations = setup
    a = shared_trunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True, tile_seconds=20.0)
    b = shared_trunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True)
    active = ~np.isnan(a[:, :, 0])
    assert np.array_equal(active, ~np.isnan(b[:, :, 0]))
    cosine = np.sum(a * b, axis=-1)[active] / np.linalg.norm(a, axis=-1)[active] / np.linalg.norm(b, axis=-1)[active]
    assert np.median(cosine) > 0.99, cosine


def test_tiles_batched_per_trunk_pass_equal_one_by_one(setup) -> None:
    """The GPU path runs several equal-length tiles per trunk pass: each tile's frames equal its own pass
    (first and last tiles are shorter and run apart)."""
    embedder, audio, segmentations = setup
    grid = trunk_grid(embedder, segmentations.window, len(segmentations), tile_seconds=6.0)
    assert grid.num_tiles >= 4
    indices = list(range(grid.num_tiles))
    batched = tiles_frames(embedder, audio.waveform, grid, indices, batch=3)
    assert sorted(batched) == indices
    for index in indices:
        torch.testing.assert_close(batched[index], tile_frames(embedder, audio.waveform, grid, index),
                                   rtol=1e-4, atol=1e-4)


def test_centre_weighting_is_a_hamming_window_over_each_chunk(setup) -> None:
    """The default pooling weights are the plain masks times a Hamming window over the chunk's frames: the
    same speakers are active (no weight reaches 0), and the embeddings stay close to the unweighted ones."""
    embedder, audio, segmentations = setup
    plain = trunk_masks(embedder, segmentations, exclude_overlap=True, centre_weighted=False)
    weighted = trunk_masks(embedder, segmentations, exclude_overlap=True)
    window = torch.from_numpy(np.hamming(plain.shape[-1]).astype(np.float32))
    torch.testing.assert_close(weighted, plain * window)
    assert torch.equal(weighted != 0, plain != 0)
    a = shared_trunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True)
    b = shared_trunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True, centre_weighted=False)
    active = ~np.isnan(b[:, :, 0])
    assert np.array_equal(active, ~np.isnan(a[:, :, 0]))
    cosine = np.sum(a * b, axis=-1)[active] / np.linalg.norm(a, axis=-1)[active] / np.linalg.norm(b, axis=-1)[active]
    assert 0.8 < np.median(cosine) < 0.9999, cosine
