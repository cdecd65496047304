"""Both models side by side on CPU threads give the sequential fast mode's result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from diarization.audio import load_audio
from diarization.side_by_side import segment_and_embed, single_threaded_ops
from diarization.embedding import load_embedding_model
from diarization.models.pyannet import load_segmentation_model
from diarization.segmentation import Segmenter
from diarization.shared_trunk import shared_trunk_embeddings


def test_concurrent_equals_sequential(models_dir: Path, artifacts_dir: Path) -> None:
    embedder = load_embedding_model(models_dir / "campplus-sv-zh-en-common")
    segmenter = Segmenter(load_segmentation_model(models_dir / "segmentation-3.0"), step=2.5, batch_size=4)
    audio = load_audio(artifacts_dir / "test.wav")
    segmentations = segmenter(audio.waveform)
    embeddings = shared_trunk_embeddings(embedder, audio.waveform, segmentations, exclude_overlap=True,
                                         tile_seconds=4.0)
    calls = []
    together, together_embeddings = segment_and_embed(
        segmenter, embedder, audio.waveform, exclude_overlap=True, workers=2, tile_seconds=4.0,
        hook=lambda *args, **kwargs: calls.append(kwargs))
    assert together.window == segmentations.window
    assert np.array_equal(together.data, segmentations.data)
    assert np.array_equal(np.isnan(embeddings), np.isnan(together_embeddings))
    valid = ~np.isnan(embeddings)
    assert np.allclose(embeddings[valid], together_embeddings[valid], atol=1e-4)
    assert calls[-1]["completed"] == calls[-1]["total"] == len(segmentations)


def test_single_threaded_ops_restores_the_thread_count() -> None:
    before = torch.get_num_threads()
    with single_threaded_ops():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
