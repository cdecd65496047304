"""The embedding interface: model loading, trunk-once-per-chunk pooling, pyannote's get_embeddings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from diarization.embedding import (
    EmbeddingModel,
    SpeakerEmbedding,
    chunk_embeddings,
    crop_chunks,
    load_embedding_model,
    speaker_masks,
)
from diarization.errors import ModelLoadError
from diarization.windows import SlidingWindow, Windowed

from .wespeaker_fixture import GOLDEN, build_checkpoint, centered_cosine, cosine, read_clip

MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def wespeaker_dir(tmp_path_factory) -> Path:
    """A community-1 style folder: embedding/pytorch_model.bin in the rebuilt format."""
    root = tmp_path_factory.mktemp("community-1")
    (root / "embedding").mkdir()
    build_checkpoint(root / "embedding" / "pytorch_model.bin")
    return root


@pytest.fixture(scope="module")
def wespeaker(wespeaker_dir) -> SpeakerEmbedding:
    return load_embedding_model(wespeaker_dir)


@pytest.fixture(scope="module")
def campplus(models_dir) -> SpeakerEmbedding:
    return load_embedding_model(models_dir / "campplus-sv-zh-en-common")


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    return dict(np.load(GOLDEN / "wespeaker.npz"))


def test_loader_recognises_both_models(wespeaker, campplus, wespeaker_dir, models_dir) -> None:
    assert isinstance(wespeaker, EmbeddingModel) and isinstance(campplus, EmbeddingModel)
    assert (wespeaker.name, wespeaker.dimension, wespeaker.sample_rate) == ("WeSpeakerResNet34", 256, 16000)
    assert (campplus.name, campplus.dimension, campplus.min_num_samples) == ("CAMPPlus", 192, 400)
    for path in (wespeaker_dir / "embedding", wespeaker_dir / "embedding" / "pytorch_model.bin"):
        assert load_embedding_model(path).name == "WeSpeakerResNet34"
    cam_file = models_dir / "campplus-sv-zh-en-common" / "campplus_cn_en_common.pt"
    assert load_embedding_model(cam_file).name == "CAMPPlus"


def test_loader_errors(tmp_path, models_dir) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        load_embedding_model(tmp_path / "nothing")
    with pytest.raises(ModelLoadError, match="no embedding checkpoint"):
        load_embedding_model(tmp_path)
    torch.save({"conv.weight": torch.zeros(2)}, tmp_path / "other.bin")
    with pytest.raises(ModelLoadError, match="unknown embedding model"):
        load_embedding_model(tmp_path / "other.bin")
    with pytest.raises(ModelLoadError):  # the segmentation model is not an embedding model
        load_embedding_model(models_dir / "segmentation-3.0")


@pytest.mark.parametrize("which", ["wespeaker", "campplus"])
def test_trunk_once_equals_one_forward_per_speaker(request, dev_dir, which: str) -> None:
    model = request.getfixturevalue(which)
    audio = read_clip(dev_dir / "ami_debug_train" / "trn02.wav", 0, 3 * 24000)
    chunks = torch.from_numpy(audio).reshape(3, 1, 24000)
    masks = torch.zeros(3, 3, 88)
    masks[0, 0, :40] = masks[0, 1, 30:] = masks[1, 2] = 1.0
    masks[2, 1, 10:20] = 0.5
    got = model.embed_chunks(chunks, masks, batch_size=2)
    assert got.shape == (3, 3, model.dimension)
    active = (masks != 0).any(dim=2).numpy()
    assert np.array_equal(~np.isnan(got).any(axis=2), active)
    for c, s in zip(*np.nonzero(active)):
        single = model(chunks[c : c + 1], masks[c : c + 1, s])
        assert cosine(got[c, s][None], single).min() >= 0.99999


class _CountingNetwork(torch.nn.Module):
    """Trunk = the waveform itself; pool = weighted mean; counts trunk calls."""

    sample_rate, dimension, min_num_samples = 16000, 1, 400

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def trunk(self, waveforms: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(waveforms))
        return waveforms

    def pool(self, frames: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is None:
            return frames.mean(dim=-1)
        weights = torch.nn.functional.interpolate(weights, size=frames.shape[-1], mode="nearest")
        return (frames * weights).sum(-1, keepdim=True) / weights.sum(-1, keepdim=True)


def test_silent_chunks_are_skipped_and_hook_reports() -> None:
    network = _CountingNetwork()
    model = SpeakerEmbedding(network)
    segmentation = np.zeros((5, 10, 3), dtype=np.float32)
    segmentation[1, :, 0] = segmentation[3, 2:5, 2] = 1.0
    windows = Windowed(segmentation, SlidingWindow(start=0.0, duration=1.0, step=0.5))
    events = []
    out = chunk_embeddings(
        model,
        torch.ones(1, 40000),
        windows,
        exclude_overlap=True,
        batch_size=1,
        hook=lambda *a, **k: events.append(k),
    )
    assert network.calls == [1, 1]
    assert np.array_equal(~np.isnan(out[..., 0]), segmentation.any(axis=1))
    assert events[0] == {"total": 2, "completed": 0} and events[-1] == {"total": 2, "completed": 2}
    empty = Windowed(np.zeros((0, 10, 3), np.float32), windows.window)
    assert chunk_embeddings(model, torch.ones(1, 100), empty, exclude_overlap=True).shape == (0, 3, 1)


def test_speaker_masks_overlap_rule() -> None:
    seg = np.zeros((1, 8, 3), dtype=np.float32)
    seg[0, 0:6, 0] = 1  # speaker 0: 6 frames, 2 of them overlapped -> 4 clean frames (> 2): clean mask
    seg[0, 4:6, 1] = 1  # speaker 1: only overlapped -> 0 clean frames: falls back to its full mask
    seg[0, 6, 2], seg[0, 7, 2] = 1, np.nan  # speaker 2: NaN counts as inactive, and makes frame 7 unclean
    masks = speaker_masks(seg, exclude_overlap=True, min_num_frames=2)
    assert masks.shape == (1, 3, 8) and masks.dtype == np.float32
    assert masks[0, 0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert masks[0, 1].tolist() == [0, 0, 0, 0, 1, 1, 0, 0]
    assert masks[0, 2].tolist() == [0, 0, 0, 0, 0, 0, 1, 0]
    assert speaker_masks(seg, exclude_overlap=False, min_num_frames=-1)[0, 0].tolist() == [1] * 6 + [0, 0]


def test_crop_chunks_pads_like_pyannote() -> None:
    waveform = torch.arange(1, 23, dtype=torch.float32)[None]  # 2.2 s at 10 Hz
    windows = Windowed(np.zeros((3, 1, 1)), SlidingWindow(start=-0.5, duration=1.0, step=1.0))
    chunks = crop_chunks(waveform, windows, sample_rate=10)
    assert chunks.shape == (3, 1, 10)
    assert chunks[0, 0].tolist() == [0] * 5 + [1, 2, 3, 4, 5]
    assert chunks[1, 0].tolist() == list(range(6, 16))
    assert chunks[2, 0].tolist() == list(range(16, 23)) + [0] * 3


@pytest.mark.parametrize("prefix,audio", [("pipeline", "test.wav"), ("short", "test_short.wav")])
@pytest.mark.parametrize("exclude_overlap", [True, False])
def test_chunk_embeddings_match_get_embeddings(
    wespeaker, golden, artifacts_dir, prefix: str, audio: str, exclude_overlap: bool
) -> None:
    start, duration, step = golden[f"window_{prefix}"]
    segmentation = Windowed(golden[f"segmentation_{prefix}"], SlidingWindow(start, duration, step))
    waveform = torch.from_numpy(read_clip(artifacts_dir / audio))[None]
    got = chunk_embeddings(wespeaker, waveform, segmentation, exclude_overlap=exclude_overlap, batch_size=32)
    expected = golden[f"get_embeddings_{prefix}_{int(exclude_overlap)}"]
    active = np.nan_to_num(segmentation.data).any(axis=1)  # (C, S)
    assert np.array_equal(~np.isnan(got).any(axis=2), active)
    assert cosine(got[active], expected[active]).min() >= MIN_COSINE
    assert centered_cosine(got[active], expected[active]).min() >= MIN_COSINE


def test_to_device_roundtrip(wespeaker) -> None:
    assert wespeaker.to("cpu") is wespeaker and wespeaker.device == torch.device("cpu")


def test_community1_folder_copy(wespeaker_dir, models_dir, tmp_path) -> None:
    """A user's community-1 folder (shared copy + generated embedding/) is accepted as is."""
    root = tmp_path / "community-1"
    shutil.copytree(models_dir / "community-1", root)
    shutil.copytree(wespeaker_dir / "embedding", root / "embedding")
    assert load_embedding_model(root).name == "WeSpeakerResNet34"
